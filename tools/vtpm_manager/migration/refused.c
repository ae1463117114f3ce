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

/* Write rec under a new name in DIR/refused; its path in path. */
static int keep(const char *dir, const uint8_t *rec, size_t len, char *path, size_t plen,
		struct mig_err *e)
{
	char sub[4200], name[128], u[UUID_STR_LEN] = "unknown-vtpm";
	struct vrec_header h;
	struct stat st;
	long now = (long)time(NULL);
	int i;

	if (len >= VREC_HDR_LEN && vrec_header_decode(rec, VREC_HDR_LEN, &h, NULL) == 0)
		uuid_format(h.vtpm_uuid, u);
	snprintf(sub, sizeof(sub), "%s/" REFUSED_SUBDIR, dir);
	if (mkdir(sub, 0700) && errno != EEXIST)
		return mig_fail(e, "cannot create %s: %s", sub, strerror(errno));
	if (safe_check_dir(sub, "refused-record directory", e))
		return -1;
	for (i = 0; i < 100; i++) {
		if (i == 0)
			snprintf(name, sizeof(name), "%s.%ld.vtpmrec", u, now);
		else
			snprintf(name, sizeof(name), "%s.%ld.%d.vtpmrec", u, now, i);
		if ((size_t)snprintf(path, plen, "%s/%s", sub, name) >= plen)
			return mig_fail(e, "refused-record path under %s is too long", sub);
		if (lstat(path, &st) == 0)
			continue;
		/* It may be the only copy: synced, and its name with it. A
		 * name taken meanwhile is refused (SAFE_NEW), never replaced. */
		return safe_write_file(sub, name, rec, len, 0600, SAFE_NEW | SAFE_SYNC_DIR, e);
	}
	return mig_fail(e, "too many refused records named %s/%s.%ld.*", sub, u, now);
}

void refused_keep(const char *dir, const uint8_t *rec, size_t len, int rollback_needed,
		  struct mig_err *e)
{
	char why[MIG_ERR_MAX], path[4300];
	struct mig_err err;

	memcpy(why, e->msg, sizeof(why));
	if (keep(dir, rec, len, path, sizeof(path), &err)) {
		mig_set(e, "%s; the refused record could not be kept: %s", why, err.msg);
		return;
	}
	mig_set(e, "%s; record kept in %s: once the cause is fixed, load it with 'vtpm_migrate recv -d %s INSTANCE%s < %s'",
	       why, path, dir, rollback_needed ? " --allow-rollback" : "", path);
}
