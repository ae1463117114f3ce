/* Reading a record's clear header for an administrator: nothing is decrypted. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hostkey.h"
#include "io.h"
#include "migrate.h"
#include "record.h"
#include "util.h"

/* The keys this host knows by name: its own and its trusted peers'. */
struct known_keys {
	int have_self;
	struct host_pub self;
	struct peer_set peers;
};

/* Best effort: a record is worth inspecting on a host without keys too. */
static void known_load(const char *dir, struct known_keys *k)
{
	char path[4200];
	struct mig_err ignore;

	memset(k, 0, sizeof(*k));
	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/host.pub", dir);
	k->have_self = pubkey_read_file(path, &k->self, &ignore) == 0;
	if (peers_load(dir, &k->peers, &ignore))
		memset(&k->peers, 0, sizeof(k->peers));
}

static void print_id(FILE *out, const char *label, const uint8_t *id,
		     const struct known_keys *k, int known)
{
	const struct host_pub *p = known ? peers_find_id(&k->peers, id) : NULL;
	char hex[2 * VREC_KEYID_LEN + 1];

	hex_encode(id, VREC_KEYID_LEN, hex);
	if (!known)
		fprintf(out, "%-14s %s\n", label, hex);
	else if (k->have_self && !memcmp(id, k->self.id, VREC_KEYID_LEN))
		fprintf(out, "%-14s %s (this host, %s)\n", label, hex, k->self.name);
	else if (p)
		fprintf(out, "%-14s %s (peer %s)\n", label, hex, p->name);
	else
		fprintf(out, "%-14s %s (not a key this host knows)\n", label, hex);
}

/* ISO 8601, UTC: what an administrator compares with logs. */
static void print_time(FILE *out, uint64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;
	char buf[40];

	if ((uint64_t)tt != t || !gmtime_r(&tt, &tm) ||
	    !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm))
		fprintf(out, "%-14s %" PRIu64 " (not a date)\n", "time", t);
	else
		fprintf(out, "%-14s %s\n", "time", buf);
}

int mig_inspect(const char *dir, int fd, FILE *out, struct mig_err *e)
{
	uint8_t hdr[VREC_HDR_LEN], *body;
	struct vrec_header h;
	struct known_keys known;
	struct mig_err err = { "" };
	char u[UUID_STR_LEN];
	size_t n;
	int i, bad;

	if (mig_read_start(fd, hdr, VREC_PREFIX_LEN, -1, e) ||
	    vrec_prefix_check(hdr, VREC_PREFIX_LEN, e))
		return mig_wrap(e, "inspect: ");
	fprintf(out, "%-14s %s\n%-14s %u\n", "marker", VREC_MARKER, "version", VREC_VERSION);
	if (io_read_full(fd, hdr + VREC_PREFIX_LEN, VREC_HDR_LEN - VREC_PREFIX_LEN, -1, "record", e))
		return mig_wrap(e, "inspect: ");
	/* The fields are decoded before they are judged: print them, then say
	 * which one makes no sense. */
	bad = vrec_header_decode(hdr, sizeof(hdr), &h, &err);
	fprintf(out, "%-14s %u\n%-14s %u\n", "suite", h.suite, "tpm-version", h.tpm_version);
	fprintf(out, "%-14s 0x%02x\n", "flags", h.flags);
	known_load(dir, &known);
	print_id(out, "sender-id", h.sender_id, &known, dir != NULL);
	print_id(out, "recipient-id", h.recipient_id, &known, dir != NULL);
	peers_free(&known.peers);
	uuid_format(h.domain_uuid, u);
	fprintf(out, "%-14s %s\n", "domain-uuid", u);
	uuid_format(h.vtpm_uuid, u);
	fprintf(out, "%-14s %s\n", "vtpm-uuid", u);
	fprintf(out, "%-14s %" PRIu64 "\n", "generation", h.generation);
	print_time(out, h.time);
	for (i = 0; i < VREC_NBLOBS; i++)
		fprintf(out, "blob-%d         type %u (%s) flags 0x%x length %u\n", i, h.blob[i].type,
			tpm_blob_name(h.blob[i].type), h.blob[i].flags, h.blob[i].len);
	fprintf(out, "%-14s %u\n", "ciphertext", h.ct_len);
	if (bad)
		return mig_fail(e, "inspect: header: %s", err.msg);
	n = vrec_body_len(&h);
	body = malloc(n);
	if (!body)
		return mig_fail(e, "inspect: out of memory");
	if (io_read_full(fd, body, n, -1, "record body", e)) {
		free(body);
		return mig_wrap(e, "inspect: ");
	}
	free(body);
	fprintf(out, "%-14s %zu bytes (complete; contents sealed)\n", "record", VREC_HDR_LEN + n);
	return 0;
}
