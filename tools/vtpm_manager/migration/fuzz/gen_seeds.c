/*
 * Seeds for the fuzz targets, made with the library itself so they are real:
 * records sealed with vrec_seal under the key set of fuzz_keys.h (each
 * one is opened again here, so the record_open target starts past the
 * signature and tag checks), public key files from pubkey_format, and
 * ledgers from ledger_format.
 *
 * usage: gen_seeds DIR  (writes DIR/<target>/<seed>)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_keys.h"
#include "hostkey.h"
#include "ledger.h"
#include "seal.h"

static const char *outdir;

static void die(const char *what, const char *why)
{
	fprintf(stderr, "gen_seeds: %s: %s\n", what, why);
	exit(1);
}

static void make_dir(const char *sub)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s%s%s", outdir, sub ? "/" : "", sub ? sub : "");
	if (mkdir(path, 0755) && errno != EEXIST)
		die(path, strerror(errno));
}

static void put(const char *target, const char *name, const void *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	f = fopen(path, "wb");
	if (!f)
		die(path, strerror(errno));
	if (fwrite(buf, 1, len, f) != len || fclose(f))
		die(path, "write failed");
}

/* Blob bytes a reader recognises in a dump: a label, then a counting pattern. */
static void fill_blob(struct swtpm_blob *b, uint32_t type, uint32_t flags, uint32_t len,
		      const char *label)
{
	size_t llen = strlen(label), i;

	b->type = type;
	b->flags = flags;
	b->len = len;
	b->data = NULL;
	if (!len)
		return;
	b->data = malloc(len);
	if (!b->data)
		die(label, "out of memory");
	for (i = 0; i < len; i++)
		b->data[i] = i < llen ? (uint8_t)label[i] : (uint8_t)(i * 7 + type);
}

struct record_seed {
	const char *name;
	uint8_t tpm_version;
	int to_self;        /* sealed by the host to itself, else peer to host */
	int to_other;       /* addressed to the peer: the host cannot open it */
	uint64_t generation;
	uint32_t len[VREC_NBLOBS];
	uint32_t flags[VREC_NBLOBS];
};

/* TPM 2.0 has permanent and volatile state; TPM 1.2 may add a savestate. */
static const struct record_seed records[] = {
	{ "tpm20-perm-vol", TPM_VERSION_20, 0, 0, 1, { 2048, 1536, 0 }, { 0, 0, 0 } },
	{ "tpm20-perm-only", TPM_VERSION_20, 0, 0, 2, { 600, 0, 0 }, { 0, 0, 0 } },
	{ "tpm20-decrypted", TPM_VERSION_20, 0, 0, 42, { 3800, 700, 0 }, { 1, 1, 0 } },
	{ "tpm20-small-self", TPM_VERSION_20, 1, 0, 7, { 300, 120, 0 }, { 0, 0, 0 } },
	{ "tpm12-all-three", TPM_VERSION_12, 0, 0, 3, { 1200, 350, 420 }, { 0, 0, 0 } },
	{ "tpm12-perm-save", TPM_VERSION_12, 0, 0, UINT64_MAX, { 900, 0, 256 }, { 2, 0, 2 } },
	{ "tpm12-self", TPM_VERSION_12, 1, 0, 5, { 700, 200, 180 }, { 0, 0, 0 } },
	{ "tpm20-for-peer", TPM_VERSION_20, 0, 1, 9, { 1024, 512, 0 }, { 0, 0, 0 } },
};

static void seal_one(const struct record_seed *s, int idx, const struct host_key *host,
		     const struct host_key *peer)
{
	static const char *const labels[2][VREC_NBLOBS] = {
		{ "TPM1.2 permanent state ", "TPM1.2 volatile state ", "TPM1.2 savestate " },
		{ "TPM2.0 permanent state ", "TPM2.0 volatile state ", "TPM2.0 savestate " },
	};
	const struct host_key *from = s->to_self ? host : peer;
	const struct host_pub *to = s->to_other ? &peer->pub : &host->pub;
	struct host_pub peer_pub = peer->pub;
	struct peer_set trusted = { .peer = &peer_pub, .n = 1 };
	struct swtpm_state st, got;
	struct vrec_header h, oh;
	struct mig_err e = { "", 0 };
	uint8_t *rec;
	size_t len;
	int i;

	memset(&st, 0, sizeof(st));
	st.version = s->tpm_version;
	for (i = 0; i < VREC_NBLOBS; i++)
		fill_blob(&st.blob[i], (uint32_t)i + 1, s->flags[i], s->len[i],
			  labels[s->tpm_version == TPM_VERSION_20][i]);

	memset(&h, 0, sizeof(h));
	h.tpm_version = s->tpm_version;
	h.flags = s->to_self ? VREC_FLAG_TO_SELF : 0;
	memset(h.domain_uuid, 0xd0 + idx, sizeof(h.domain_uuid));
	memset(h.vtpm_uuid, 0xa0 + idx, sizeof(h.vtpm_uuid));
	h.generation = s->generation;
	h.time = 1700000000u + (uint64_t)idx * 3600;

	if (vrec_seal(from, to, &h, &st, &rec, &len, &e))
		die(s->name, e.msg);
	put("record_decode", s->name, rec, len);
	if (!s->to_other) {
		/* The target's key set must open it, blob for blob. */
		if (vrec_open(host, &trusted, rec, len, &oh, &got, &e))
			die(s->name, e.msg);
		for (i = 0; i < VREC_NBLOBS; i++)
			if (got.blob[i].len != st.blob[i].len ||
			    (st.blob[i].len &&
			     memcmp(got.blob[i].data, st.blob[i].data, st.blob[i].len)))
				die(s->name, "opened blobs differ from the sealed ones");
		swtpm_state_clear(&got);
		put("record_open", s->name, rec, len);
	}
	free(rec);
	swtpm_state_clear(&st);
}

/* Hex digits in capitals on the id and key lines. */
static void hex_upper(char *text)
{
	char *line, *end, *c;

	for (line = text; *line; line = end + (*end == '\n')) {
		end = line + strcspn(line, "\n");
		if (strncmp(line, "id ", 3) && strncmp(line, "ed25519 ", 8) &&
		    strncmp(line, "x25519 ", 7))
			continue;
		for (c = strchr(line, ' '); c < end; c++)
			if (*c >= 'a' && *c <= 'f')
				*c = (char)(*c - 'a' + 'A');
	}
}

static void pubkey_seeds(const struct host_key *host, const struct host_key *peer)
{
	char text[512];
	struct host_pub p;
	struct mig_err e = { "", 0 };
	int n;

	n = pubkey_format(&host->pub, text, sizeof(text));
	put("pubkey_parse", "host.pub", text, (size_t)n);
	n = pubkey_format(&peer->pub, text, sizeof(text));
	if (pubkey_parse(text, (size_t)n, &p, &e))
		die("peer.pub", e.msg);
	put("pubkey_parse", "peer.pub", text, (size_t)n);
	/* The same key in capitals: hex is accepted in either case. */
	hex_upper(text);
	if (pubkey_parse(text, (size_t)n, &p, &e))
		die("peer-upper.pub", e.msg);
	put("pubkey_parse", "peer-upper.pub", text, (size_t)n);
}

static void ledger_seed(const char *name, const struct ledger_entry *ent, size_t n)
{
	struct ledger_entry *back;
	struct mig_err e = { "", 0 };
	size_t nb;
	char *text = ledger_format(ent, n);

	if (!text)
		die(name, "out of memory");
	if (ledger_parse(text, strlen(text), &back, &nb, &e))
		die(name, e.msg);
	free(back);
	put("ledger_parse", name, text, strlen(text));
	free(text);
}

static void ledger_seeds(void)
{
	struct ledger_entry ent[4];
	size_t i;

	for (i = 0; i < 4; i++) {
		memset(ent[i].uuid, 0xa0 + (int)i, 16);
		ent[i].sent = 10 * i + 1;
		ent[i].accepted = 10 * i;
	}
	ent[3].sent = 0;
	ent[3].accepted = UINT64_MAX;
	ledger_seed("empty", ent, 0);
	ledger_seed("one", ent, 1);
	ledger_seed("four", ent, 4);
}

/* Announcements of generation 1 and 2^64-1, by the peer and by this host. */
static void announce_seeds(const struct host_key *host, const struct host_key *peer)
{
	static const uint64_t gens[] = { 1, UINT64_MAX };
	const struct host_key *by[] = { peer, host };
	uint8_t out[VANN_LEN];
	struct mig_err e = { "", 0 };
	struct vann a;
	char name[32];
	int i, j;

	for (i = 0; i < 2; i++) {
		for (j = 0; j < 2; j++) {
			memset(&a, 0, sizeof(a));
			a.tpm_version = j ? TPM_VERSION_12 : TPM_VERSION_20;
			memcpy(a.sender_id, by[i]->pub.id, VREC_KEYID_LEN);
			memcpy(a.recipient_id, host->pub.id, VREC_KEYID_LEN);
			memset(a.vtpm_uuid, 0x5a, 16);
			a.generation = gens[j];
			a.time = 1700000000;
			if (vann_sign(by[i], &a, out, &e))
				die("announcement", e.msg);
			snprintf(name, sizeof(name), "ann-%d-%d", i, j);
			put("announce", name, out, sizeof(out));
		}
	}
}

int main(int argc, char **argv)
{
	struct host_key host, peer;
	struct mig_err e = { "", 0 };
	size_t i;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_seeds DIR\n");
		return 2;
	}
	outdir = argv[1];
	make_dir(NULL);
	make_dir("record_decode");
	make_dir("record_open");
	make_dir("announce");
	make_dir("pubkey_parse");
	make_dir("ledger_parse");
	if (fuzz_keys_load(&host, &peer, &e))
		die("fixed keys", e.msg);
	for (i = 0; i < sizeof(records) / sizeof(records[0]); i++)
		seal_one(&records[i], (int)i, &host, &peer);
	pubkey_seeds(&host, &peer);
	announce_seeds(&host, &peer);
	ledger_seeds();
	hostkey_wipe(&host);
	hostkey_wipe(&peer);
	return 0;
}
