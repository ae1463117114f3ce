/* Ending a migration on the source: recover (it failed) or finish (it worked). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "migrate.h"
#include "record.h"
#include "swtpm_ctrl.h"
#include "util.h"

int mig_recover(struct vtpm_instance *inst, struct vm_err *e)
{
	struct swtpm_ctrl ctrl;
	int running;

	if (mig_resolve(inst, 0, e) || swtpm_ctrl_init(&ctrl, inst->ctrl, e))
		return vm_wrap(e, "recover: ");
	/* send never stops the source TPM, so there is nothing to undo; make
	 * sure it is so, since the guest resumes against it. */
	running = swtpm_is_running(&ctrl, e);
	if (running < 0)
		return vm_wrap(e, "recover: ");
	if (!running)
		return vm_fail(e, "recover: source TPM %s is not running; its state is still on disk, restart the vTPM",
			       ctrl.path);
	return 0;
}

/* swtpm's own state file names: tpm-00.* (TPM 1.2) and tpm2-00.* (TPM 2.0). */
static int is_state_file(const char *name)
{
	return !strncmp(name, "tpm-00.", 7) || !strncmp(name, "tpm2-00.", 8);
}

static int delete_state(const char *ctrl_path, struct vm_err *e)
{
	char dir[sizeof(((struct vtpm_instance *)0)->ctrl)], *slash;
	struct dirent *d;
	DIR *dp;
	int dfd, r = 0;

	strcpy(dir, ctrl_path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return vm_fail(e, "cannot tell the state directory of %s", ctrl_path);
	*slash = '\0';
	dp = opendir(dir);
	if (!dp)
		return vm_fail(e, "state directory %s: %s", dir, strerror(errno));
	dfd = dirfd(dp);
	while ((d = readdir(dp))) {
		if (!is_state_file(d->d_name))
			continue;
		if (unlinkat(dfd, d->d_name, 0) && errno != ENOENT && !r)
			r = vm_fail(e, "cannot delete %s/%s: %s", dir, d->d_name, strerror(errno));
	}
	if (!r)
		fsync(dfd);
	closedir(dp);
	return r;
}

/* After SHUTDOWN, wait until swtpm no longer answers, so it cannot write state
 * after we delete it. */
static int wait_gone(const struct swtpm_ctrl *c, struct vm_err *e)
{
	int64_t deadline = io_now_ms() + SWTPM_CTRL_TIMEOUT_MS;
	struct vm_err ignore;
	enum tpm_version v;

	while (io_now_ms() < deadline) {
		if (swtpm_get_version(c, &v, &ignore))
			return 0;
		usleep(2000);
	}
	return vm_fail(e, "swtpm %s still answers after SHUTDOWN", c->path);
}

int mig_finish(struct vtpm_instance *inst, struct vm_err *e)
{
	struct swtpm_ctrl ctrl;
	enum tpm_version v;
	struct vm_err probe;

	/* The domain may be gone by now (xl/xend destroy it): only the
	 * backend's control-socket node is needed. */
	if (mig_resolve(inst, 0, e) || swtpm_ctrl_init(&ctrl, inst->ctrl, e))
		return vm_wrap(e, "finish: ");
	/* A swtpm that is already gone needs no shutdown; its state still goes. */
	if (swtpm_get_version(&ctrl, &v, &probe) == 0 &&
	    (swtpm_shutdown(&ctrl, e) || wait_gone(&ctrl, e)))
		return vm_wrap(e, "finish: ");
	if (delete_state(inst->ctrl, e))
		return vm_wrap(e, "finish: ");
	return 0;
}
