#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "record.h"
#include "refused.h"
#include "util.h"

/* Create a new file under DIR/refused for this record; its fd, or -1. */
static int create_kept(const char *dir, const uint8_t *rec, size_t len, char *path,
		       size_t plen, struct vm_err *e)
{
	char sub[4200], u[UUID_STR_LEN] = "unknown-vtpm";
	struct vrec_header h;
	long now = (long)time(NULL);
	int i, fd;

	if (len >= VREC_HDR_LEN && vrec_header_decode(rec, VREC_HDR_LEN, &h, NULL) == 0)
		uuid_format(h.vtpm_uuid, u);
	snprintf(sub, sizeof(sub), "%s/" REFUSED_SUBDIR, dir);
	if (mkdir(sub, 0700) && errno != EEXIST)
		return vm_fail(e, "cannot create %s: %s", sub, strerror(errno));
	for (i = 0; i < 100; i++) {
		if (i == 0)
			snprintf(path, plen, "%s/%s.%ld.vtpmrec", sub, u, now);
		else
			snprintf(path, plen, "%s/%s.%ld.%d.vtpmrec", sub, u, now, i);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return vm_fail(e, "cannot create %s: %s", path, strerror(errno));
	}
	return vm_fail(e, "too many refused records named %s/%s.%ld.*", sub, u, now);
}

static int keep(const char *dir, const uint8_t *rec, size_t len, char *path, size_t plen,
		struct vm_err *e)
{
	int fd = create_kept(dir, rec, len, path, plen, e), dfd;
	char sub[4200];

	if (fd < 0)
		return -1;
	if (io_write_full(fd, rec, len, -1, path, e) ||
	    (fsync(fd) && vm_fail(e, "cannot sync %s: %s", path, strerror(errno)))) {
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	/* It may be the only copy: its name must survive a crash too. */
	snprintf(sub, sizeof(sub), "%s/" REFUSED_SUBDIR, dir);
	dfd = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd)) {
			/* the file itself is synced; the name follows with the next sync */
		}
		close(dfd);
	}
	return 0;
}

void refused_keep(const char *dir, const uint8_t *rec, size_t len, int rollback_needed,
		  struct vm_err *e)
{
	char why[VM_ERR_MAX], path[4300];
	struct vm_err err;

	memcpy(why, e->msg, sizeof(why));
	if (keep(dir, rec, len, path, sizeof(path), &err)) {
		vm_set(e, "%s; the refused record could not be kept: %s", why, err.msg);
		return;
	}
	vm_set(e, "%s; record kept in %s: once the cause is fixed, load it with 'vtpm_migrate recv -d %s INSTANCE%s < %s'",
	       why, path, dir, rollback_needed ? " --allow-rollback" : "", path);
}
