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

#define LEDGER_MAGIC "vtpm-migration-ledger v1\n"
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
	size_t cap = sizeof(LEDGER_MAGIC) + n * 80 + 80, off;
	char *s = malloc(cap), u[UUID_STR_LEN], sum[65];
	size_t i;

	if (!s)
		return NULL;
	off = (size_t)snprintf(s, cap, "%s", LEDGER_MAGIC);
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

/* One "UUID SENT ACCEPTED" line (NUL-terminated, changed in place). */
static int parse_entry(char *line, struct ledger_entry *ent)
{
	char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;

	if (!sp2)
		return -1;
	*sp1 = '\0';
	*sp2 = '\0';
	return uuid_parse(line, ent->uuid) || parse_u64(sp1 + 1, &ent->sent) ||
	       parse_u64(sp2 + 1, &ent->accepted) ? -1 : 0;
}

int ledger_parse(const char *text, size_t len, struct ledger_entry **ent, size_t *n,
		 struct mig_err *e)
{
	const char *pos = text, *end = text + len, *nl;
	char line[128], sum[65];
	struct ledger_entry *grown, *v = NULL;
	size_t cnt = 0, ll, lineno = 1, i;

	*ent = NULL;
	*n = 0;
	if (len < sizeof(LEDGER_MAGIC) - 1 || memcmp(text, LEDGER_MAGIC, sizeof(LEDGER_MAGIC) - 1))
		return mig_fail(e, "not a ledger file (bad first line)");
	pos += sizeof(LEDGER_MAGIC) - 1;
	for (;;) {
		lineno++;
		nl = memchr(pos, '\n', (size_t)(end - pos));
		if (!nl) {
			free(v);
			return mig_fail(e, "line %zu: truncated (no checksum line)", lineno);
		}
		ll = (size_t)(nl - pos);
		if (ll >= sizeof(line)) {
			free(v);
			return mig_fail(e, "line %zu: too long", lineno);
		}
		memcpy(line, pos, ll);
		line[ll] = '\0';
		if (memchr(line, '\0', ll)) {
			free(v);
			return mig_fail(e, "line %zu: has a NUL byte", lineno);
		}
		if (!strncmp(line, "sha256 ", 7))
			break;
		grown = realloc(v, (cnt + 1) * sizeof(*v));
		if (!grown) {
			free(v);
			return mig_fail(e, "out of memory for the ledger");
		}
		v = grown;
		if (parse_entry(line, &v[cnt])) {
			free(v);
			return mig_fail(e, "line %zu: malformed", lineno);
		}
		for (i = 0; i < cnt; i++)
			if (!memcmp(v[i].uuid, v[cnt].uuid, 16)) {
				free(v);
				return mig_fail(e, "line %zu: vTPM listed twice", lineno);
			}
		cnt++;
		pos = nl + 1;
	}
	digest_hex(text, (size_t)(pos - text), sum);
	if (strcmp(line + 7, sum) || nl + 1 != end) {
		free(v);
		return mig_fail(e, "checksum mismatch or trailing data");
	}
	*ent = v;
	*n = cnt;
	return 0;
}

int ledger_salvage(const char *text, size_t len, struct ledger_entry **ent, size_t *n,
		   size_t *dropped)
{
	const char *pos = text, *end = text + len, *nl;
	struct ledger_entry *grown, *v = NULL, one;
	char line[128];
	size_t cnt = 0, ll, i;

	*ent = NULL;
	*n = 0;
	*dropped = 0;
	for (; pos < end; pos = nl + 1) {
		nl = memchr(pos, '\n', (size_t)(end - pos));
		if (!nl)
			nl = end;
		ll = (size_t)(nl - pos);
		if (ll == 0 || (pos == text && ll + 1 == sizeof(LEDGER_MAGIC) - 1 &&
				!memcmp(pos, LEDGER_MAGIC, ll)) || (ll > 7 && !memcmp(pos, "sha256 ", 7)))
			continue;
		if (ll >= sizeof(line) || memchr(pos, '\0', ll)) {
			(*dropped)++;
			continue;
		}
		memcpy(line, pos, ll);
		line[ll] = '\0';
		if (parse_entry(line, &one)) {
			(*dropped)++;
			continue;
		}
		/* A vTPM listed twice keeps the higher marks: lower ones re-open replays. */
		for (i = 0; i < cnt && memcmp(v[i].uuid, one.uuid, 16); i++)
			;
		if (i < cnt) {
			v[i].sent = v[i].sent > one.sent ? v[i].sent : one.sent;
			v[i].accepted = v[i].accepted > one.accepted ? v[i].accepted : one.accepted;
			continue;
		}
		grown = realloc(v, (cnt + 1) * sizeof(*v));
		if (!grown) {
			free(v);
			return -1;
		}
		v = grown;
		v[cnt++] = one;
	}
	*ent = v;
	*n = cnt;
	return 0;
}

/* The ledger file's bytes; *buf NULL (and 0 returned) when there is none. */
static int ledger_read(const struct ledger *l, char *path, size_t plen, char **buf, size_t *len,
		       struct mig_err *e)
{
	struct stat st;
	ssize_t got;
	int fd;

	*buf = NULL;
	*len = 0;
	snprintf(path, plen, "%s/ledger", l->dir);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : mig_fail(e, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > LEDGER_MAX_FILE) {
		close(fd);
		return mig_fail(e, "%s: not a regular file of sane size", path);
	}
	if (safe_check_stat(&st, "ledger", path, e)) {
		close(fd);
		return -1;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf) {
		close(fd);
		return mig_fail(e, "%s: out of memory", path);
	}
	got = read(fd, *buf, (size_t)st.st_size);
	close(fd);
	if (got != st.st_size) {
		free(*buf);
		*buf = NULL;
		return mig_fail(e, "%s: short read", path);
	}
	*len = (size_t)got;
	return 0;
}

static int ledger_load(struct ledger *l, struct mig_err *e)
{
	char path[4200], *buf;
	struct mig_err why;
	size_t len;
	int r;

	if (ledger_read(l, path, sizeof(path), &buf, &len, e))
		return -1;
	if (!buf)
		return 0;
	r = ledger_parse(buf, len, &l->ent, &l->n, &why);
	free(buf);
	/* Damaged: say what to do (docs/misc/vtpm-migration.txt, "The ledger"). */
	return r ? mig_fail(e, "%s is damaged (%s); restore it from backup, or run 'vtpm_migrate ledger-rebuild' (what it cannot recover re-opens replays)",
			    path, why.msg) : 0;
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
	if (fstat(l->lockfd, &st) || safe_check_stat(&st, "ledger lock", path, e)) {
		ledger_close(l);
		return -1;
	}
	if (flock(l->lockfd, LOCK_EX)) {
		mig_fail(e, "%s: lock: %s", path, strerror(errno));
		ledger_close(l);
		return -1;
	}
	return 0;
}

int ledger_open(struct ledger *l, const char *dir, struct mig_err *e)
{
	if (ledger_lock(l, dir, e))
		return -1;
	if (ledger_load(l, e)) {
		ledger_close(l);
		return -1;
	}
	return 0;
}

static int ledger_store(const struct ledger *l, const struct ledger_entry *ent, size_t n,
			int durable, struct mig_err *e);

int ledger_rebuild(const char *dir, size_t *kept, size_t *dropped, struct mig_err *e)
{
	struct ledger_entry *ent = NULL;
	struct ledger l;
	char path[4200], *buf;
	size_t len, n;
	int r = -1;

	if (ledger_lock(&l, dir, e))
		return -1;
	if (ledger_read(&l, path, sizeof(path), &buf, &len, e))
		goto out;
	if (!buf) {
		mig_fail(e, "%s: no ledger; nothing to rebuild", path);
		goto out;
	}
	if (ledger_parse(buf, len, &ent, &n, NULL) == 0) {
		mig_fail(e, "%s is not damaged; nothing rebuilt", path);
		goto out;
	}
	if (ledger_salvage(buf, len, &ent, &n, dropped)) {
		mig_fail(e, "out of memory for the ledger");
		goto out;
	}
	/* The damaged bytes stay beside it, for a closer look. */
	if (safe_write_file(dir, "ledger.damaged", buf, len, 0600, 0, e) ||
	    ledger_store(&l, ent, n, 1, e))
		goto out;
	*kept = n;
	r = 0;
out:
	free(ent);
	free(buf);
	ledger_close(&l);
	return r;
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

const struct ledger_entry *ledger_get(const struct ledger *l, const uint8_t uuid[16])
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!memcmp(l->ent[i].uuid, uuid, 16))
			return &l->ent[i];
	return NULL;
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

/* Store a copy of the ledger with one entry changed; memory follows disk. */
static int ledger_update(struct ledger *l, const struct ledger_entry *ne, int durable,
			 struct mig_err *e)
{
	struct ledger_entry *v;
	size_t i, n = l->n;

	v = malloc((n + 1) * sizeof(*v));
	if (!v)
		return mig_fail(e, "out of memory for the ledger");
	if (n)
		memcpy(v, l->ent, n * sizeof(*v));
	for (i = 0; i < n && memcmp(v[i].uuid, ne->uuid, 16); i++)
		;
	v[i] = *ne;
	if (i == n)
		n++;
	if (ledger_store(l, v, n, durable, e)) {
		free(v);
		return -1;
	}
	free(l->ent);
	l->ent = v;
	l->n = n;
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
	struct ledger_entry ne = { .sent = 0, .accepted = 0 };

	memcpy(ne.uuid, uuid, 16);
	if (old)
		ne = *old;
	ne.sent = ledger_next_send(l, uuid);
	if (ne.sent == 0)
		return mig_fail(e, "the generation counter of this vTPM is exhausted");
	/*
	 * The sent mark only keeps this host from numbering two records alike;
	 * losing the last rename to a crash costs no safety (the receiver's
	 * accepted mark decides), so it skips the directory sync.
	 */
	if (ledger_update(l, &ne, 0, e))
		return -1;
	*gen = ne.sent;
	return 0;
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
	struct ledger_entry ne = { .sent = 0, .accepted = 0 };

	if (ledger_check_accept(l, uuid, gen, allow_rollback, e))
		return -1;
	memcpy(ne.uuid, uuid, 16);
	if (old)
		ne = *old;
	if (gen > ne.accepted)
		ne.accepted = gen;
	return ledger_update(l, &ne, 1, e);
}

int ledger_unaccept(struct ledger *l, const uint8_t uuid[16], uint64_t gen, uint64_t prev,
		    struct mig_err *e)
{
	const struct ledger_entry *cur = ledger_get(l, uuid);
	struct ledger_entry ne;

	if (!cur || cur->accepted != gen || gen == prev)
		return 0;
	ne = *cur;
	ne.accepted = prev;
	return ledger_update(l, &ne, 1, e);
}
