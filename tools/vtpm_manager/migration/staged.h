/*
 * The staged helpers (--staged; docs/misc/vtpm-migration.txt, section 5):
 * started early by xend, they do
 * all they can before the guest is suspended and the image is complete, then
 * take one-word lines on one descriptor and answer on another, like xc_save's
 * "suspend"/"done":
 *
 *   sender:   -> ready   <- pull  -> sealed   <- write  -> done
 *   receiver: -> ready   <- go    -> done
 *
 * End of input or any other line before the last step: nothing written or
 * loaded, -1 with one line in *e. A waiting helper holds no lock.
 */
#ifndef VTPM_MIG_STAGED_H
#define VTPM_MIG_STAGED_H

#include "err.h"
#include "instance.h"

int mig_send_staged(const char *dir, const char *to, const struct vtpm_instance *inst,
		    int stream, int in, int out, struct mig_err *e) MIG_MUST;
/* announced: NULL, or the sender key id and generation xend's vtpm_check was
 * told of, accepted before 'ready' (mig_recv_reserve). */
struct mig_announced {
	uint8_t sender[VREC_KEYID_LEN];
	uint64_t generation;
};
int mig_recv_staged(const char *dir, const struct vtpm_instance *inst, int stream,
		    int allow_rollback, int timeout_ms, const struct mig_announced *announced,
		    int in, int out, struct mig_err *e) MIG_MUST;

#endif
