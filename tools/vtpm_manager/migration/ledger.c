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

static void digest_hex(const char *text, size_t len, char out[65])
{
	uint8_t md[32];
	unsigned int mdlen = sizeof(md);

	EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL);
	hex_encode(md, sizeof(md), out);
}

/*
 * Format: the magic line, one "UUID SENT ACCEPTED" line per vTPM, then
 * "sha256 HEX" over everything before it. The checksum catches a damaged
 * file; atomic replacement rules out a torn one.
 */
char *ledger_format(const struct ledger_entry *ent, size_t n)
{
	size_t cap = sizeof(LEDGER_MAGIC) + n * 80 + 80, off, i;
	char *s = malloc(cap), u[UUID_STR_LEN], sum[65];

	if (!s)
		return NULL;
	off = (size_t)snprintf(s, cap, LEDGER_MAGIC "\n");
	for (i = 0; i < n; i++) {
		uuid_format(ent[i].uuid, u);
		off += (size_t)snprintf(s + off, cap - off, "%s %" PRIu64 " %" PRIu64 "\n", u,
					ent[i].sent, ent[i].accepted);
	}
	digest_hex(s, off, sum);
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

/* One "UUID SENT ACCEPTED" line of ll bytes at p. */
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

static int starts(const char *p, size_t ll, const char *s)
{
	return ll >= strlen(s) && !memcmp(p, s, strlen(s));
}

/*
 * The entries of text: strict (a ledger as written: the magic line, each
 * vTPM once, then the checksum of all before it and nothing after), or
 * salvaging (every line that still reads as an entry; a vTPM listed twice
 * keeps its higher marks, since lower ones would re-open replays).
 */
static int scan(const char *text, size_t len, int strict, struct ledger_entry **ent, size_t *n,
		size_t *dropped, struct mig_err *e)
{
	const char *pos = text, *end = text + len, *nl = NULL;
	struct ledger_entry one, *v = NULL, *grown;
	size_t cnt = 0, lineno = 0, ll = 0, i;
	char sum[65];
	int bad;

	*ent = NULL;
	*n = *dropped = 0;
	for (; pos < end; pos = nl + 1) {
		nl = memchr(pos, '\n', (size_t)(end - pos));
		if (!nl && strict)
			break;
		nl = nl ? nl : end;
		ll = (size_t)(nl - pos);
		if (++lineno == 1 && ll == strlen(LEDGER_MAGIC) && starts(pos, ll, LEDGER_MAGIC))
			continue;
		if (strict && lineno == 1)
			return mig_fail(e, "not a ledger file (bad first line)");
		if (starts(pos, ll, "sha256 ") && strict)
			goto check;
		if (starts(pos, ll, "sha256 ") || (!ll && !strict))
			continue;
		bad = parse_entry(pos, ll, &one);
		for (i = 0; !bad && i < cnt && memcmp(v[i].uuid, one.uuid, 16); i++)
			;
		if (strict && (bad || i < cnt)) {
			free(v);
			return mig_fail(e, "line %zu: %s", lineno, bad ? "malformed" : "vTPM listed twice");
		}
		if (bad) {
			(*dropped)++;
		} else if (i < cnt) {
			v[i].sent = v[i].sent > one.sent ? v[i].sent : one.sent;
			v[i].accepted = v[i].accepted > one.accepted ? v[i].accepted : one.accepted;
		} else if ((grown = realloc(v, (cnt + 1) * sizeof(*v)))) {
			v = grown;
			v[cnt++] = one;
		} else {
			free(v);
			return mig_fail(e, "out of memory for the ledger");
		}
	}
	if (strict) {
		free(v);
		return mig_fail(e, "line %zu: truncated (no checksum line)", lineno + 1);
	}
	goto done;
check:
	digest_hex(text, (size_t)(pos - text), sum);
	if (ll != 7 + 64 || memcmp(pos + 7, sum, 64) || nl + 1 != end) {
		free(v);
		return mig_fail(e, "checksum mismatch or trailing data");
	}
done:
	*ent = v;
	*n = cnt;
	return 0;
}

int ledger_parse(const char *text, size_t len, struct ledger_entry **ent, size_t *n,
		 struct mig_err *e)
{
	size_t dropped;

	return scan(text, len, 1, ent, n, &dropped, e);
}

int ledger_salvage(const char *text, size_t len, struct ledger_entry **ent, size_t *n,
		   size_t *dropped)
{
	return scan(text, len, 0, ent, n, dropped, NULL);
}

/* The ledger file's bytes; *buf NULL (and 0 returned) when there is none. */
static int ledger_read(const struct ledger *l, char *path, size_t plen, char **buf, size_t *len,
		       struct mig_err *e)
{
	struct stat st;
	int fd, r;

	*buf = NULL;
	snprintf(path, plen, "%s/ledger", l->dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : mig_fail(e, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > LEDGER_MAX_FILE)
		r = mig_fail(e, "%s: not a regular file of sane size", path);
	else if (safe_check_stat(&st, "ledger", path, e))
		r = -1;
	else if (!(*buf = malloc((size_t)st.st_size + 1)))
		r = mig_fail(e, "%s: out of memory", path);
	else if (read(fd, *buf, (size_t)st.st_size) != st.st_size)
		r = mig_fail(e, "%s: short read", path);
	else
		r = 0, *len = (size_t)st.st_size;
	close(fd);
	if (r) {
		free(*buf);
		*buf = NULL;
	}
	return r;
}

/* Check DIR, open and check the lock file, and take the lock. */
static int ledger_lock(struct ledger *l, const char *dir, struct mig_err *e)
{
	char path[4200];
	struct stat st;

	memset(l, 0, sizeof(*l));
	l->lockfd = -1;
	if (strlen(dir) >= sizeof(l->dir))
		return mig_fail(e, "ledger directory name too long");
	strcpy(l->dir, dir);
	if (safe_check_dir(dir, "key directory", e))
		return -1;
	snprintf(path, sizeof(path), "%s/ledger.lock", dir);
	l->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (l->lockfd < 0)
		return mig_fail(e, "%s: %s", path, strerror(errno));
	if (fstat(l->lockfd, &st) || safe_check_stat(&st, "ledger lock", path, e) ||
	    (flock(l->lockfd, LOCK_EX) && mig_fail(e, "%s: lock: %s", path, strerror(errno)))) {
		ledger_close(l);
		return -1;
	}
	return 0;
}

int ledger_open(struct ledger *l, const char *dir, struct mig_err *e)
{
	char path[4200], *buf;
	struct mig_err why;
	size_t len = 0;
	int r;

	if (ledger_lock(l, dir, e))
		return -1;
	if (ledger_read(l, path, sizeof(path), &buf, &len, e)) {
		ledger_close(l);
		return -1;
	}
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

/*
 * Write ent[] as the new ledger, atomically; with durable, the directory is
 * synced too so the rename itself survives a crash. Without it a crash
 * leaves the old ledger or the new one, never a torn one.
 */
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

	if (ledger_lock(&l, dir, e))
		return -1;
	if (ledger_read(&l, path, sizeof(path), &buf, &len, e))
		goto out;
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
out:
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

	if (!old)
		return 1;
	return (old->sent > old->accepted ? old->sent : old->accepted) + 1;
}

int ledger_take_send(struct ledger *l, const uint8_t uuid[16], uint64_t *gen, struct mig_err *e)
{
	const struct ledger_entry *old = ledger_get(l, uuid);

	*gen = ledger_next_send(l, uuid);
	if (*gen == 0)
		return mig_fail(e, "the generation counter of this vTPM is exhausted");
	/*
	 * The sent mark only keeps this host from numbering two records alike;
	 * losing the last rename to a crash costs no safety (the receiver's
	 * accepted mark decides), so it skips the directory sync.
	 */
	return ledger_update(l, uuid, *gen, old ? old->accepted : 0, 0, e);
}

int ledger_check_accept(const struct ledger *l, const uint8_t uuid[16], uint64_t gen,
			int allow_rollback, struct mig_err *e)
{
	const struct ledger_entry *old = ledger_get(l, uuid);
	char u[UUID_STR_LEN];

	if (old && gen <= old->accepted && !allow_rollback) {
		uuid_format(uuid, u);
		return mig_failc(e, MIG_E_REPLAY, "generation %" PRIu64 " of vTPM %s is not newer than the last accepted (%" PRIu64 "): replay or rollback refused",
				 gen, u, old->accepted);
	}
	return 0;
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
