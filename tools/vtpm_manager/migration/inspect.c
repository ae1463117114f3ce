/* Reading a record's clear header for an administrator: nothing is decrypted. */
#include <inttypes.h>
#include <stdlib.h>

#include "io.h"
#include "migrate.h"
#include "record.h"
#include "util.h"

static void print_id(FILE *out, const char *label, const uint8_t *id, size_t n)
{
	char hex[65];

	hex_encode(id, n, hex);
	fprintf(out, "%-14s %s\n", label, hex);
}

int mig_inspect(int fd, FILE *out, struct vm_err *e)
{
	uint8_t hdr[VREC_HDR_LEN], *body;
	struct vrec_header h;
	struct vm_err err = { "" };
	char u[UUID_STR_LEN];
	size_t n;
	int i, bad;

	if (io_read_full(fd, hdr, VREC_PREFIX_LEN, -1, "record", e) ||
	    vrec_prefix_check(hdr, VREC_PREFIX_LEN, e))
		return vm_wrap(e, "inspect: ");
	fprintf(out, "%-14s %s\n%-14s %u\n", "marker", VREC_MARKER, "version", VREC_VERSION);
	if (io_read_full(fd, hdr + VREC_PREFIX_LEN, VREC_HDR_LEN - VREC_PREFIX_LEN, -1, "record", e))
		return vm_wrap(e, "inspect: ");
	/* The fields are decoded before they are judged: print them, then say
	 * which one makes no sense. */
	bad = vrec_header_decode(hdr, sizeof(hdr), &h, &err);
	fprintf(out, "%-14s %u\n%-14s %u\n", "suite", h.suite, "tpm-version", h.tpm_version);
	fprintf(out, "%-14s 0x%02x\n", "flags", h.flags);
	print_id(out, "sender-id", h.sender_id, VREC_KEYID_LEN);
	print_id(out, "recipient-id", h.recipient_id, VREC_KEYID_LEN);
	uuid_format(h.domain_uuid, u);
	fprintf(out, "%-14s %s\n", "domain-uuid", u);
	uuid_format(h.vtpm_uuid, u);
	fprintf(out, "%-14s %s\n", "vtpm-uuid", u);
	fprintf(out, "%-14s %" PRIu64 "\n%-14s %" PRIu64 "\n", "generation", h.generation, "time",
		h.time);
	for (i = 0; i < VREC_NBLOBS; i++)
		fprintf(out, "blob-%d         type %u (%s) flags 0x%x length %u\n", i, h.blob[i].type,
			vrec_blob_name(h.blob[i].type), h.blob[i].flags, h.blob[i].len);
	fprintf(out, "%-14s %u\n", "ciphertext", h.ct_len);
	if (bad)
		return vm_fail(e, "inspect: header: %s", err.msg);
	n = vrec_body_len(&h);
	body = malloc(n);
	if (!body)
		return vm_fail(e, "inspect: out of memory");
	if (io_read_full(fd, body, n, -1, "record body", e)) {
		free(body);
		return vm_wrap(e, "inspect: ");
	}
	free(body);
	fprintf(out, "%-14s %zu bytes (complete; contents sealed)\n", "record", VREC_HDR_LEN + n);
	return 0;
}
