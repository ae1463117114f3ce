/*
 * swtpm's control channel over its Unix socket: pull and push the state
 * blobs, INIT/STOP/SHUTDOWN, and learn the TPM version and whether it runs.
 * Every call opens its own connection (swtpm serves one at a time) and gives
 * up after the timeout instead of hanging on a dead or stuck swtpm.
 */
#ifndef VTPM_MIG_SWTPM_CTRL_H
#define VTPM_MIG_SWTPM_CTRL_H

#include <stdint.h>
#include <stddef.h>
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

struct swtpm_ctrl {
	char path[108];
};

int swtpm_ctrl_init(struct swtpm_ctrl *c, const char *path, struct mig_err *e) MIG_MUST;

/* Version from GET_INFO (works whether or not the TPM runs). */
int swtpm_get_version(const struct swtpm_ctrl *c, enum tpm_version *v, struct mig_err *e) MIG_MUST;
/* 1 if the TPM has been initialised and runs, 0 if not, -1 on error. */
int swtpm_is_running(const struct swtpm_ctrl *c, struct mig_err *e) MIG_MUST;

/* Pull one blob from a running TPM. A missing blob (0x800) gives len 0. */
int swtpm_get_blob(const struct swtpm_ctrl *c, uint32_t type, struct swtpm_blob *b,
		   struct mig_err *e) MIG_MUST;
/* Push one blob into a TPM that is not running. */
int swtpm_set_blob(const struct swtpm_ctrl *c, const struct swtpm_blob *b,
		   struct mig_err *e) MIG_MUST;

int swtpm_init(const struct swtpm_ctrl *c, uint32_t init_flags, struct mig_err *e) MIG_MUST;
int swtpm_stop(const struct swtpm_ctrl *c, struct mig_err *e) MIG_MUST;
/* Write the running TPM's volatile state to its state directory, so that a
 * later INIT without DELETE_VOLATILE resumes it (STOP alone would lose it). */
int swtpm_store_volatile(const struct swtpm_ctrl *c, struct mig_err *e) MIG_MUST;
/* Ends the swtpm process; success once swtpm acknowledged. */
int swtpm_shutdown(const struct swtpm_ctrl *c, struct mig_err *e) MIG_MUST;
/* For the guest's back end: the locality of the next data-socket commands,
 * and cancelling the command that runs. */
int swtpm_set_locality(const struct swtpm_ctrl *c, uint8_t locality, struct mig_err *e) MIG_MUST;
int swtpm_cancel_cmd(const struct swtpm_ctrl *c, struct mig_err *e) MIG_MUST;

/* The three blobs of one vTPM, in push order. */
struct swtpm_state {
	enum tpm_version version;
	struct swtpm_blob blob[3]; /* permanent, volatile, savestate */
};

/* Pull all blobs from a running TPM. */
int swtpm_pull_state(const struct swtpm_ctrl *c, struct swtpm_state *s, struct mig_err *e) MIG_MUST;
/* The two halves of a push: the blobs (no INIT), then INIT, with STOP after
 * a failed or timed-out INIT. */
int swtpm_set_blobs(const struct swtpm_ctrl *c, const struct swtpm_state *s,
		    struct mig_err *e) MIG_MUST;
int swtpm_init_or_stop(const struct swtpm_ctrl *c, struct mig_err *e) MIG_MUST;

/* Wipe and free the blobs. */
void swtpm_blob_clear(struct swtpm_blob *b);
void swtpm_state_clear(struct swtpm_state *s);

#endif
