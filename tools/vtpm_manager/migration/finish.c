/* SPDX-License-Identifier: BSD-3-Clause */
/* Ending a migration on the source: recover (it failed) or finish (it worked). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "leftmark.h"
#include "migrate.h"
#include "swtpm_ctrl.h"

/* The mark stands: the vTPM may run at the destination. Leave this one not
 * running with its state kept, so that the same process can be brought back
 * by recover --force without losing PCRs or sessions. */
static int hold_source(const struct swtpm_ctrl *c, const char *dir, uint64_t gen,
		       struct mig_err *e)
{
	struct mig_err why;

	if (swtpm_is_running(c, &why) > 0 && (swtpm_store_volatile(c, &why) || swtpm_stop(c, &why)))
		return mig_fail(e, "this vTPM left this host at generation %" PRIu64 " (mark %s/" LEFT_MARK_NAME ") and may already run at the destination, but stopping the source failed: %s",
				gen, dir, why.msg);
	return mig_fail(e, "refused: this vTPM left this host at generation %" PRIu64 " (mark %s/" LEFT_MARK_NAME ") and may already run at the destination; source TPM stopped, state kept; after checking the destination, 'vtpm_migrate recover --force' brings it back here",
			gen, dir);
}

/* recover --force: the administrator checked the destination. */
static int bring_back(const struct swtpm_ctrl *c, const char *dir, FILE *out, struct mig_err *e)
{
	struct mig_err probe;
	int running;

	if (left_mark_remove(dir, e))
		return -1;
	if ((running = swtpm_is_running(c, &probe)) < 0 && !swtpm_proc_find(dir)) {
		fprintf(out, "no swtpm runs for %s: the mark is removed and the next vTPM start will use the state\n",
			dir);
		return 0;
	}
	if (running < 0)
		return *e = probe, -1;
	/* INIT without DELETE_VOLATILE: resume what STORE_VOLATILE kept. */
	if (!running && swtpm_init(c, 0, e))
		return -1;
	fprintf(out, "the mark is removed and the TPM at %s runs again\n", c->path);
	return 0;
}

/* The instance's control channel, state directory and left mark (as
 * left_mark_read). The domain may be gone by now (xl/xend destroy it): only
 * the backend's nodes are needed. */
static int find(struct vtpm_instance *inst, struct swtpm_ctrl *c, char *dir, uint64_t *gen,
		struct mig_err *e)
{
	if ((inst->domid >= 0 && xen_find_instance(inst, 0, e)) ||
	    swtpm_ctrl_init(c, inst->ctrl, e) ||
	    instance_state_dir(inst->ctrl, dir, sizeof(inst->ctrl), e))
		return -1;
	return left_mark_read(dir, gen, e);
}

int mig_recover(struct vtpm_instance *inst, int force, FILE *out, struct mig_err *e)
{
	char dir[sizeof(inst->ctrl)];
	struct swtpm_ctrl ctrl;
	uint64_t gen;
	int running, left = find(inst, &ctrl, dir, &gen, e);

	if (left < 0)
		return -1;
	if (left)
		return force ? bring_back(&ctrl, dir, out, e) : hold_source(&ctrl, dir, gen, e);
	/* No whole record left: send never stops the source TPM, so only a dead
	 * sender's pending mark is undone; the guest resumes against the TPM. */
	if (left_mark_remove(dir, e))
		return -1;
	if ((running = swtpm_is_running(&ctrl, e)) > 0)
		return 0;
	if (running == 0 || e->code == MIG_E_CONNECT)
		return mig_fail(e, "source TPM %s is not running; its state is on disk: shut the guest down and start it again",
				ctrl.path);
	return -1;
}

static int delete_state(const char *dir, struct mig_err *e)
{
	DIR *dp = opendir(dir);
	struct dirent *d;
	int dfd, r = 0;

	if (!dp)
		return mig_fail(e, "state directory %s: %s", dir, strerror(errno));
	dfd = dirfd(dp);
	/* swtpm's own state files: tpm-00.* (TPM 1.2) and tpm2-00.* (TPM 2.0). */
	while ((d = readdir(dp)))
		if ((!strncmp(d->d_name, "tpm-00.", 7) || !strncmp(d->d_name, "tpm2-00.", 8)) &&
		    unlinkat(dfd, d->d_name, 0) && errno != ENOENT && !r)
			r = mig_fail(e, "cannot delete %s/%s: %s", dir, d->d_name, strerror(errno));
	if (!r)
		fsync(dfd);
	closedir(dp);
	return r;
}

/* Does anything accept connections on the control socket? A timeout counts
 * as yes: a stopped or busy swtpm still holds its state. */
static int ctrl_answers(const struct swtpm_ctrl *c)
{
	struct mig_err probe;
	enum tpm_version v;

	return swtpm_get_version(c, &v, &probe) == 0 || probe.code != MIG_E_CONNECT;
}

/* SHUTDOWN, or if swtpm does not answer (another client holds its one control
 * connection, or it is stopped), terminate it. Success only once the process
 * is gone: a silent swtpm still holds the state and would write it back. */
static int end_swtpm(const struct swtpm_ctrl *c, const char *dir, struct mig_err *e)
{
	pid_t pid = swtpm_proc_find(dir);
	struct mig_err ignore;

	if (!pid) {
		/* No swtpm process on dir: nothing may answer either. */
		int64_t deadline = io_now_ms() + SWTPM_CTRL_TIMEOUT_MS;

		if (ctrl_answers(c) && swtpm_shutdown(c, &ignore) == 0)
			while (io_now_ms() < deadline && ctrl_answers(c))
				usleep(2000);
		if (!ctrl_answers(c))
			return 0;
		return mig_fail(e, "%s still answers but no swtpm process on %s was found (pid file %s/pid); state kept",
				c->path, dir, dir);
	}
	if (swtpm_shutdown(c, &ignore) == 0 && !swtpm_proc_wait_gone(pid, dir, SWTPM_CTRL_TIMEOUT_MS))
		return 0;
	return swtpm_proc_terminate(pid, dir, &ignore) ? mig_fail(e, "%s; state kept", ignore.msg) : 0;
}

int mig_finish(struct vtpm_instance *inst, struct mig_err *e)
{
	char dir[sizeof(inst->ctrl)];
	struct swtpm_ctrl ctrl;
	uint64_t gen;
	int left = find(inst, &ctrl, dir, &gen, e);

	if (left < 0)
		return -1;
	/* A vTPM that never left is no one's to delete here. */
	if (!left)
		return mig_fail(e, "refused: no whole record of this vTPM left this host (no mark %s/" LEFT_MARK_NAME "); TPM and state untouched",
				dir);
	return end_swtpm(&ctrl, dir, e) || delete_state(dir, e) || left_mark_remove(dir, e) ? -1 : 0;
}
