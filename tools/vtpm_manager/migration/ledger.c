/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ledger.h"
#include "safefile.h"
#include "util.h"

#define LEDGER_MAGIC "vtpm-migration-ledger v1"
#define LEDGER_MAX_FILE (4u * 1024 * 1024)

/* Format: the magic line, one "UUID SENT ACCEPTED" line per vTPM, then
 * "sha256 HEX" over everything before it. The checksum catches a damaged
 * file; atomic replacement rules out a torn one. */
char *ledger_format(const struct ledger_entry *ent, size_t n)
{
	size_t cap = sizeof(LEDGER_MAGIC) + n * 80 + 80, off, i;
	char *s = malloc(cap), u[UUID_STR_LEN], sum[65];
	unsigned int mdlen = 32;
	uint8_t md[32];

	if (!s)
		return NULL;
	off = (size_t)snprintf(s, cap, LEDGER_MAGIC "\n");
	for (i = 0; i < n; i++) {
		uuid_format(ent[i].uuid, u);
		off += (size_t)snprintf(s + off, cap - off, "%s %" PRIu64 " %" PRIu64 "\n", u,
					ent[i].sent, ent[i].accepted);
	}
	EVP_Digest(s, off, md, &mdlen, EVP_sha256(), NULL);
	hex_encode(md, sizeof(md), sum);
	snprintf(s + off, cap - off, "sha256 %s\n", sum);
	return s;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	/* Digits only: strtoull alone would take blanks and a sign. */
	if (*s < '0' || *s > '9' || (s[0] == '0' && s[1]))
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return (errno || *end) ? -1 : 0;
}

static int parse_entry(const char *p, size_t ll, struct ledger_entry *ent)
{
	char line[128], *sp1, *sp2;

	if (ll >= sizeof(line) || memchr(p, '\0', ll))
		return -1;
	memcpy(line, p, ll);
	line[ll] = '\0';
	sp1 = strchr(line, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp2)
		return -1;
	*sp1 = *sp2 = '\0';
	return uuid_parse(line, ent->uuid) || parse_u64(sp1 + 1, &ent->sent) ||
	       parse_u64(sp2 + 1, &ent->accepted) ? -1 : 0;
}

/* Every line of text that still reads as an entry, the magic line, blank and
 * checksum lines aside; a vTPM listed twice keeps its higher marks, since
 * lower ones would re-open replays. */
int ledger_salvage(const char *text, size_t len, struct ledger_entry **ent, size_t *n,
		   size_t *dropped)
{
	const char *pos = text, *end = text + len, *nl;
	struct ledger_entry one, *v = NULL, *grown;
	size_t cnt = 0, ll, i;

	*ent = NULL;
	*n = *dropped = 0;
	for (; pos < end; pos = nl + 1) {
		nl = memchr(pos, '\n', (size_t)(end - pos));
		nl = nl ? nl : end;
		ll = (size_t)(nl - pos);
		if ((pos == text && ll == strlen(LEDGER_MAGIC) && !memcmp(pos, LEDGER_MAGIC, ll)) ||
		    !ll || (ll >= 7 && !memcmp(pos, "sha256 ", 7)))
			continue;
		if (parse_entry(pos, ll, &one)) {
			(*dropped)++;
			continue;
		}
		for (i = 0; i < cnt && memcmp(v[i].uuid, one.uuid, 16); i++)
			;
		if (i < cnt) {
			v[i].sent = v[i].sent > one.sent ? v[i].sent : one.sent;
			v[i].accepted = v[i].accepted > one.accepted ? v[i].accepted : one.accepted;
		} else if ((grown = realloc(v, (cnt + 1) * sizeof(*v)))) {
			v = grown;
			v[cnt++] = one;
		} else {
			free(v);
			return -1;
		}
	}
	*ent = v;
	*n = cnt;
	return 0;
}

/* A ledger as written is one that ledger_format writes back byte for byte:
 * the magic line, each vTPM once, the checksum of all before it, nothing
 * after. So the reader cannot accept more than the writer writes. */
int ledger_parse(const char *text, size_t len, struct ledger_entry **ent, size_t *n,
		 struct mig_err *e)
{
	size_t dropped, i, line = 1, alen = 0;
	char *again = NULL;
	int r;

	if (ledger_salvage(text, len, ent, n, &dropped) == 0 && (again = ledger_format(*ent, *n)))
		alen = strlen(again);
	for (i = 0; i < len && i < alen && again[i] == text[i]; i++)
		line += text[i] == '\n';
	r = !again ? mig_fail(e, "out of memory for the ledger") :
	    i < len || i < alen ? mig_fail(e, "line %zu is not as written (damaged or cut short, a vTPM listed twice, or a wrong checksum)",
					   line) : 0;
	free(again);
	if (r) {
		free(*ent);
		*ent = NULL;
		*n = 0;
	}
	return r;
}

/* Check DIR, take the lock (DIR/ledger.lock) and read DIR/ledger, named in
 * path: *buf NULL when there is none yet. */
static int ledger_lock(struct ledger *l, const char *dir, char path[4200], char **buf,
		       size_t *len, struct mig_err *e)
{
	struct stat st;

	memset(l, 0, sizeof(*l));
	l->lockfd = -1;
	l->dir = dir;
	if (safe_check_dir(dir, "key directory", e))
		return -1;
	snprintf(path, 4200, "%s/ledger.lock", dir);
	if ((l->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return mig_fail(e, "%s: %s", path, strerror(errno));
	if (fstat(l->lockfd, &st) || safe_check_stat(&st, "ledger lock", path, e) ||
	    (flock(l->lockfd, LOCK_EX) && mig_fail(e, "%s: lock: %s", path, strerror(errno))))
		goto fail;
	snprintf(path, 4200, "%s/ledger", dir);
	if (safe_read_file(path, "ledger", LEDGER_MAX_FILE, buf, len, NULL, e) == 0)
		return 0;
fail:
	ledger_close(l);
	return -1;
}

int ledger_open(struct ledger *l, const char *dir, struct mig_err *e)
{
	char path[4200], *buf;
	struct mig_err why;
	size_t len = 0;
	int r;

	if (ledger_lock(l, dir, path, &buf, &len, e))
		return -1;
	if (!buf)
		return 0; /* no ledger yet: an empty one */
	r = ledger_parse(buf, len, &l->ent, &l->n, &why);
	free(buf);
	if (r == 0)
		return 0;
	ledger_close(l);
	/* Damaged: say what to do (docs/misc/vtpm-migration.txt, "The ledger"). */
	return mig_fail(e, "%s is damaged (%s); restore it from backup, or run 'vtpm_migrate ledger-rebuild' (what it cannot recover re-opens replays)",
			path, why.msg);
}

void ledger_close(struct ledger *l)
{
	free(l->ent);
	l->ent = NULL;
	l->n = 0;
	if (l->lockfd >= 0)
		close(l->lockfd); /* releases the flock */
	l->lockfd = -1;
}

/* Write ent[] as the new ledger, atomically; durable: the rename survives a
 * crash too (without, a crash leaves the old ledger or the new one). */
static int ledger_store(const struct ledger *l, const struct ledger_entry *ent, size_t n,
			int durable, struct mig_err *e)
{
	char *text = ledger_format(ent, n);
	int r;

	if (!text)
		return mig_fail(e, "out of memory for the ledger");
	r = safe_write_file(l->dir, "ledger", text, strlen(text), 0600,
			    durable ? SAFE_SYNC_DIR : 0, e);
	free(text);
	return r;
}

int ledger_rebuild(const char *dir, size_t *kept, size_t *dropped, struct mig_err *e)
{
	struct ledger_entry *ent = NULL;
	struct ledger l;
	char path[4200], *buf;
	size_t len = 0, n;
	int r = -1;

	if (ledger_lock(&l, dir, path, &buf, &len, e))
		return -1;
	if (!buf)
		mig_fail(e, "%s: no ledger; nothing to rebuild", path);
	else if (ledger_parse(buf, len, &ent, &n, NULL) == 0)
		mig_fail(e, "%s is not damaged; nothing rebuilt", path);
	else if (ledger_salvage(buf, len, &ent, &n, dropped))
		mig_fail(e, "out of memory for the ledger");
	/* The damaged bytes stay beside it, for a closer look. */
	else if (safe_write_file(dir, "ledger.damaged", buf, len, 0600, 0, e) == 0 &&
		 ledger_store(&l, ent, n, 1, e) == 0) {
		*kept = n;
		r = 0;
	}
	free(ent);
	free(buf);
	ledger_close(&l);
	return r;
}

const struct ledger_entry *ledger_get(const struct ledger *l, const uint8_t uuid[16])
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!memcmp(l->ent[i].uuid, uuid, 16))
			return &l->ent[i];
	return NULL;
}

/* Store a copy of the ledger with uuid's entry changed; memory follows disk. */
static int ledger_update(struct ledger *l, const uint8_t uuid[16], uint64_t sent,
			 uint64_t accepted, int durable, struct mig_err *e)
{
	struct ledger_entry *v = malloc((l->n + 1) * sizeof(*v));
	size_t i, n = l->n;

	if (!v)
		return mig_fail(e, "out of memory for the ledger");
	if (n)
		memcpy(v, l->ent, n * sizeof(*v));
	for (i = 0; i < n && memcmp(v[i].uuid, uuid, 16); i++)
		;
	memcpy(v[i].uuid, uuid, 16);
	v[i].sent = sent;
	v[i].accepted = accepted;
	if (ledger_store(l, v, n + (i == n), durable, e)) {
		free(v);
		return -1;
	}
	free(l->ent);
	l->ent = v;
	l->n = n + (i == n);
	return 0;
}

uint64_t ledger_next_send(const struct ledger *l, const uint8_t uuid[16])
{
	const struct ledger_entry *old = ledger_get(l, uuid);

	return old ? (old->sent > old->accepted ? old->sent : old->accepted) + 1 : 1;
}

int ledger_take_send(struct ledger *l, const uint8_t uuid[16], uint64_t *gen, struct mig_err *e)
{
	const struct ledger_entry *old = ledger_get(l, uuid);

	if ((*gen = ledger_next_send(l, uuid)) == 0)
		return mig_fail(e, "the generation counter of this vTPM is exhausted");
	/* The sent mark only keeps this host from numbering two records alike;
	 * losing it to a crash costs no safety (the receiver's mark decides). */
	return ledger_update(l, uuid, *gen, old ? old->accepted : 0, 0, e);
}

int ledger_check_accept(const struct ledger *l, const uint8_t uuid[16], uint64_t gen,
			int allow_rollback, struct mig_err *e)
{
	const struct ledger_entry *old = ledger_get(l, uuid);
	char u[UUID_STR_LEN];

	if (!old || gen > old->accepted || allow_rollback)
		return 0;
	uuid_format(uuid, u);
	return mig_failc(e, MIG_E_REPLAY, "generation %" PRIu64 " of vTPM %s is not newer than the last accepted (%" PRIu64 "): replay or rollback refused",
			 gen, u, old->accepted);
}

int ledger_accept(struct ledger *l, const uint8_t uuid[16], uint64_t gen, int allow_rollback,
		  struct mig_err *e)
{
	const struct ledger_entry *old = ledger_get(l, uuid);
	uint64_t acc = old ? old->accepted : 0;

	if (ledger_check_accept(l, uuid, gen, allow_rollback, e))
		return -1;
	return ledger_update(l, uuid, old ? old->sent : 0, gen > acc ? gen : acc, 1, e);
}

int ledger_unaccept(struct ledger *l, const uint8_t uuid[16], uint64_t gen, uint64_t prev,
		    struct mig_err *e)
{
	const struct ledger_entry *cur = ledger_get(l, uuid);

	if (!cur || cur->accepted != gen || gen == prev)
		return 0;
	return ledger_update(l, uuid, cur->sent, prev, 1, e);
}
