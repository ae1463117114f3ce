/* SPDX-License-Identifier: BSD-3-Clause */
/* What an administrator reads: a record's clear header (nothing is
 * decrypted) and where a vTPM stands on this host. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io.h"
#include "ledger.h"
#include "leftmark.h"
#include "migrate.h"
#include "swtpm_ctrl.h"
#include "util.h"

/* The keys this host knows by name, its own and its trusted peers', best
 * effort: a record is worth inspecting on a host without keys too. */
static void known_load(const char *dir, struct host_pub *self, struct peer_set *peers)
{
	char path[4200];
	struct mig_err ignore;

	snprintf(path, sizeof(path), "%s/host.pub", dir);
	if (pubkey_read(path, NULL, self, &ignore))
		self->name[0] = '\0';
	if (peers_load(dir, peers, &ignore))
		memset(peers, 0, sizeof(*peers));
}

static void print_id(FILE *out, const char *label, const uint8_t *id,
		     const struct host_pub *self, const struct peer_set *peers)
{
	const struct host_pub *p = peers_find_id(peers, id);
	char hex[2 * VREC_KEYID_LEN + 1];

	hex_encode(id, VREC_KEYID_LEN, hex);
	if (self->name[0] && !memcmp(id, self->id, VREC_KEYID_LEN))
		fprintf(out, "%-14s %s (this host, %s)\n", label, hex, self->name);
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
	struct host_pub self;
	struct peer_set peers;
	struct mig_err err = { "", 0 };
	char u[UUID_STR_LEN], v[UUID_STR_LEN];
	size_t n;
	int i, bad;

	if (mig_read_header(fd, hdr, -1, e))
		return -1;
	/* The fields are decoded before they are judged: print them, then say
	 * which one makes no sense. */
	bad = vrec_header_decode(hdr, sizeof(hdr), &h, &err);
	fprintf(out, "%-14s %s\n%-14s %u\n", "marker", VREC_MARKER, "version", VREC_VERSION);
	fprintf(out, "%-14s %u\n%-14s %u\n", "suite", h.suite, "tpm-version", h.tpm_version);
	fprintf(out, "%-14s 0x%02x\n", "flags", h.flags);
	known_load(dir, &self, &peers);
	print_id(out, "sender-id", h.sender_id, &self, &peers);
	print_id(out, "recipient-id", h.recipient_id, &self, &peers);
	peers_free(&peers);
	uuid_format(h.domain_uuid, u);
	uuid_format(h.vtpm_uuid, v);
	fprintf(out, "%-14s %s\n%-14s %s\n%-14s %" PRIu64 "\n", "domain-uuid", u, "vtpm-uuid", v,
		"generation", h.generation);
	print_time(out, h.time);
	for (i = 0; i < VREC_NBLOBS; i++)
		fprintf(out, "blob-%d         type %u (%s) flags 0x%x length %u\n", i, h.blob[i].type,
			tpm_blob_name(h.blob[i].type), h.blob[i].flags, h.blob[i].len);
	fprintf(out, "%-14s %u\n", "ciphertext", h.ct_len);
	if (bad)
		return mig_failc(e, err.code, "header: %s", err.msg);
	n = vrec_body_len(&h);
	if (!(body = malloc(n)))
		return mig_fail(e, "out of memory");
	i = io_read_full(fd, body, n, -1, "record body", e);
	free(body);
	if (i)
		return -1;
	fprintf(out, "%-14s %zu bytes (complete; contents sealed)\n", "record", VREC_HDR_LEN + n);
	return 0;
}

static void print_gen(FILE *out, const char *label, uint64_t g)
{
	if (g)
		fprintf(out, "%-14s %" PRIu64 "\n", label, g);
	else
		fprintf(out, "%-14s none\n", label);
}

int mig_status(const char *dir, struct vtpm_instance *inst, FILE *out, struct mig_err *e)
{
	const struct ledger_entry *ent;
	char u[UUID_STR_LEN], sdir[sizeof(inst->ctrl)];
	struct ledger l;
	uint64_t left = 0, sent, accepted;
	int has = 0;

	if ((inst->domid >= 0 && xen_find_instance(inst, 0, e)) || ledger_open(&l, dir, e))
		return -1;
	ent = ledger_get(&l, inst->vtpm_uuid);
	sent = ent ? ent->sent : 0;
	accepted = ent ? ent->accepted : 0;
	ledger_close(&l);
	if (inst->ctrl[0] && (instance_state_dir(inst->ctrl, sdir, sizeof(sdir), e) ||
			      (has = left_mark_read(sdir, &left, e)) < 0))
		return -1;
	uuid_format(inst->vtpm_uuid, u);
	fprintf(out, "%-14s %s\n", "vtpm-uuid", u);
	print_gen(out, "last-sent", sent);
	print_gen(out, "last-accepted", accepted);
	if (!inst->ctrl[0])
		fprintf(out, "%-14s unknown (give INSTANCE to read the state directory)\n", "left-host");
	else if (has)
		fprintf(out, "%-14s yes, at generation %" PRIu64 " (%s/" LEFT_MARK_NAME ")\n",
			"left-host", left, sdir);
	else
		fprintf(out, "%-14s no\n", "left-host");
	return 0;
}
