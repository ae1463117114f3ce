/* SPDX-License-Identifier: BSD-3-Clause */
/* swtpm's control channel over its Unix socket: pull and push the state
 * blobs, INIT/STOP/SHUTDOWN, and learn the TPM version and whether it runs.
 * Every call opens its own connection (swtpm serves one at a time) and gives
 * up after the timeout instead of hanging on a dead or stuck swtpm. */
#ifndef VTPM_MIG_SWTPM_CTRL_H
#define VTPM_MIG_SWTPM_CTRL_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include "err.h"
#include "tpm.h"

#define SWTPM_BLOB_MAX (1024u * 1024u) /* refused before allocation */
#define SWTPM_CTRL_TIMEOUT_MS 5000
/* INIT loads the state and, for a TPM 1.2, runs libtpms' self-test: about
 * 150 ms on a host here, over 5 s in a dom0 under software emulation. */
#define SWTPM_CTRL_INIT_TIMEOUT_MS 60000

struct swtpm_blob {
	uint32_t type;   /* enum swtpm_blob_type */
	uint32_t flags;  /* as swtpm returned them; pushed back unchanged */
	uint8_t *data;   /* NULL and len 0: the TPM has no such blob */
	uint32_t len;
};

/* The three blobs of one vTPM, in push order (slot i holds type i + 1). */
struct swtpm_state {
	enum tpm_version version;
	struct swtpm_blob blob[3];
};

struct swtpm_ctrl {
	char path[108];
};

int swtpm_ctrl_init(struct swtpm_ctrl *c, const char *path, struct mig_err *e) MIG_MUST;

/* From GET_INFO, whether or not the TPM runs. */
int swtpm_get_version(const struct swtpm_ctrl *c, enum tpm_version *v, struct mig_err *e) MIG_MUST;
/* 1 if the TPM has been initialised and runs, 0 if not, -1 on error. */
int swtpm_is_running(const struct swtpm_ctrl *c, struct mig_err *e) MIG_MUST;

/* Pull one blob from a running TPM (none: len 0; over SWTPM_BLOB_MAX:
 * refused); push one into a TPM that does not run. */
int swtpm_get_blob(const struct swtpm_ctrl *c, uint32_t type, struct swtpm_blob *b,
		   struct mig_err *e) MIG_MUST;
int swtpm_set_blob(const struct swtpm_ctrl *c, const struct swtpm_blob *b,
		   struct mig_err *e) MIG_MUST;
int swtpm_pull_state(const struct swtpm_ctrl *c, struct swtpm_state *s, struct mig_err *e) MIG_MUST;
/* The two halves of a push: the blobs, then INIT (STOP after a failed one). */
int swtpm_set_blobs(const struct swtpm_ctrl *c, const struct swtpm_state *s,
		    struct mig_err *e) MIG_MUST;
int swtpm_init_or_stop(const struct swtpm_ctrl *c, struct mig_err *e) MIG_MUST;

int swtpm_init(const struct swtpm_ctrl *c, uint32_t init_flags, struct mig_err *e) MIG_MUST;
/* Not MIG_MUST: it is the clean-up after a failure, whose cause is the one told. */
int swtpm_stop(const struct swtpm_ctrl *c, struct mig_err *e);
/* The volatile state to disk, so that a later INIT without DELETE_VOLATILE
 * resumes it (STOP alone would lose it). */
int swtpm_store_volatile(const struct swtpm_ctrl *c, struct mig_err *e) MIG_MUST;
/* Ends the swtpm process; success once swtpm acknowledged. */
int swtpm_shutdown(const struct swtpm_ctrl *c, struct mig_err *e) MIG_MUST;
/* For the guest's back end. */
int swtpm_set_locality(const struct swtpm_ctrl *c, uint8_t locality, struct mig_err *e) MIG_MUST;
int swtpm_cancel_cmd(const struct swtpm_ctrl *c, struct mig_err *e) MIG_MUST;

/* Wipe and free the blobs. */
void swtpm_blob_clear(struct swtpm_blob *b);
void swtpm_state_clear(struct swtpm_state *s);

/* The swtpm process of one instance (swtpm_proc.c), found by its pid file
 * (S/pid beside the control socket) and checked against /proc, so that
 * "gone" means the process is gone, not merely that its channel is silent.
 * The state directory S of an instance is the directory of its control socket. */
int instance_state_dir(const char *ctrl, char *dir, size_t len, struct mig_err *e) MIG_MUST;

/* The swtpm serving dir: the pid in dir/pid if it is that swtpm, else any
 * swtpm process on dir; 0 if there is none. */
pid_t swtpm_proc_find(const char *dir);

/* Wait up to wait_ms for pid to stop being that swtpm; 0 once it has. */
int swtpm_proc_wait_gone(pid_t pid, const char *dir, int wait_ms);

/* Terminate pid (SIGTERM, then SIGKILL, which also ends a stopped process)
 * and wait until it is gone. */
int swtpm_proc_terminate(pid_t pid, const char *dir, struct mig_err *e) MIG_MUST;

#endif
