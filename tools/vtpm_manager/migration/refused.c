#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "record.h"
#include "refused.h"
#include "safefile.h"
#include "util.h"

#define SUFFIX ".vtpmrec"
#define UNVERIFIED "unverified"

/* Causes an administrator of this host can remove: a sender not trusted
 * yet, a vTPM not waiting or of the other TPM version, a local failure. A
 * forgery, a record for another host or vTPM, a replay: never. */
static int fixable(enum mig_code c)
{
	return c != MIG_E_FORGED && c != MIG_E_RECIPIENT && c != MIG_E_REPLAY &&
	       c != MIG_E_BINDING;
}

struct usage {
	size_t files, bytes;
	char oldest[256]; /* the oldest unverified record, "" if none */
	time_t oldest_time;
};

static void scan(const char *sub, struct usage *u)
{
	struct dirent *d;
	struct stat st;
	DIR *dp = opendir(sub);
	size_t n;

	memset(u, 0, sizeof(*u));
	while (dp && (d = readdir(dp))) {
		n = strlen(d->d_name);
		if (n <= strlen(SUFFIX) || strcmp(d->d_name + n - strlen(SUFFIX), SUFFIX) ||
		    fstatat(dirfd(dp), d->d_name, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		u->files++;
		u->bytes += (size_t)st.st_size;
		if (!strncmp(d->d_name, UNVERIFIED ".", strlen(UNVERIFIED) + 1) &&
		    (!u->oldest[0] || st.st_mtime < u->oldest_time) && n < sizeof(u->oldest)) {
			strcpy(u->oldest, d->d_name);
			u->oldest_time = st.st_mtime;
		}
	}
	if (dp)
		closedir(dp);
}

/* Unverified records go until len more bytes fit; 0 if they do. */
static int make_room(const char *sub, size_t len)
{
	char path[4200 + sizeof(((struct usage *)0)->oldest)];
	struct usage u;

	for (;;) {
		scan(sub, &u);
		if (u.files < REFUSED_MAX_FILES && u.bytes + len <= REFUSED_MAX_BYTES)
			return 0;
		if (!u.oldest[0])
			return -1;
		snprintf(path, sizeof(path), "%s/%s", sub, u.oldest);
		if (unlink(path))
			return -1;
	}
}

/* Write rec under a new name in DIR/refused; its path in path. */
static int keep(const char *dir, const uint8_t *rec, size_t len, int verified, char *path,
		size_t plen, struct mig_err *e)
{
	char sub[4200], name[128], u[UUID_STR_LEN] = UNVERIFIED;
	struct vrec_header h;
	long now = (long)time(NULL);
	int i;

	if (verified && vrec_header_decode(rec, len, &h, NULL) == 0)
		uuid_format(h.vtpm_uuid, u);
	snprintf(sub, sizeof(sub), "%s/" REFUSED_SUBDIR, dir);
	if (mkdir(sub, 0700) && errno != EEXIST)
		return mig_fail(e, "cannot create %s: %s", sub, strerror(errno));
	if (safe_check_dir(sub, "refused-record directory", e))
		return -1;
	if (make_room(sub, len))
		return mig_fail(e, "%s holds %d records or %u MiB already", sub, REFUSED_MAX_FILES,
				REFUSED_MAX_BYTES >> 20);
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), i ? "%s.%ld.%d" SUFFIX : "%s.%ld" SUFFIX, u, now, i);
		snprintf(path, plen, "%s/%s", sub, name);
		/* It may be the only copy: synced, and its name with it. A
		 * name taken meanwhile is refused (SAFE_NEW), never replaced. */
		if (access(path, F_OK))
			return safe_write_file(sub, name, rec, len, 0600, SAFE_NEW | SAFE_SYNC_DIR, e);
	}
	return mig_fail(e, "too many refused records named %s/%s.%ld.*", sub, u, now);
}

void refused_keep(const char *dir, const uint8_t *rec, size_t len, int verified,
		  int rollback_needed, struct mig_err *e)
{
	char why[MIG_ERR_MAX], path[4400];
	struct mig_err err;
	enum mig_code c = e->code;

	memcpy(why, e->msg, sizeof(why));
	if (!verified && c != MIG_E_UNTRUSTED)
		mig_setc(e, c, "%s; record not kept (not a valid record for this host)", why);
	else if (keep(dir, rec, len, verified, path, sizeof(path), &err))
		mig_setc(e, c, "%s; record not kept: %s", why, err.msg);
	else if (!fixable(c))
		mig_setc(e, c, "%s; record kept in %s", why, path);
	else
		mig_setc(e, c, "%s; record kept in %s: once the cause is fixed, and only if the source did not resume the guest, load it with 'vtpm_migrate recv -d %s INSTANCE%s < %s'",
			 why, path, dir, rollback_needed ? " --allow-rollback" : "", path);
}
