/*
 * The staged helpers (DESIGN §6, --staged): started early by xend, they do
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
int mig_recv_staged(const char *dir, const struct vtpm_instance *inst, int stream,
		    int allow_rollback, int timeout_ms, int in, int out, struct mig_err *e) MIG_MUST;

#endif
