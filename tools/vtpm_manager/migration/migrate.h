/*
 * The migration routines xend runs on its stream (docs/misc/vtpm-migration.txt,
 * vtpm_migrate(8)). Each returns 0 or -1 with the reason in *e; none exits.
 */
#ifndef VTPM_MIG_MIGRATE_H
#define VTPM_MIG_MIGRATE_H

#include <stdint.h>
#include <stdio.h>
#include "err.h"
#include "hostkey.h"
#include "instance.h"
#include "record.h"

/*
 * The staged helpers (--staged) are started early by xend, do all they can
 * before the guest is suspended and the image is complete, then take
 * one-word lines on `in` and answer on `out`, like xc_save's "suspend":
 *
 *   sender:   -> ready   <- pull  -> sealed   <- write  -> done
 *   receiver: -> ready   <- go    -> done
 *
 * The one-shot command is the same sequence with no words (in < 0). End of
 * input or another line before the last step: nothing written or loaded.
 * The first word comes when xend's xc_save or xc_restore has done its part,
 * however long that takes (end of input ends the wait); every wait after
 * it, and on the stream, ends after timeout_ms. A waiting helper holds no
 * lock.
 */
struct mig_words {
	int in, out;
	int timeout_ms; /* < 0: none */
};

/* Pull the running source TPM's state, seal it to peer `to` ("self" for this
 * host) and write one record to stream. The source TPM keeps running. */
int mig_send(const char *dir, const char *to, const struct vtpm_instance *inst, int stream,
	     const struct mig_words *w, struct mig_err *e) MIG_MUST;

/* send --check: every check send makes, the TPM untouched, nothing written;
 * and the signed announcement of the record send would write now. */
struct mig_send_check {
	struct vann ann;
	uint8_t signed_ann[VANN_LEN];
	char recipient[HOST_NAME_MAX_LEN + 1];
};
int mig_send_check(const char *dir, const char *to, const struct vtpm_instance *inst,
		   struct mig_send_check *out, struct mig_err *e) MIG_MUST;

/* Read one record from stream, check it, record its generation, push it into
 * the waiting TPM and start it. A signed announcement (announce, from the
 * sender's send --check) of this very vTPM lets the receiver accept its
 * generation before 'ready', so that nothing is written to disk between the
 * image's end and the TPM's start; it is taken back if its record does not
 * come or does not run. On failure the TPM is not started and the record is
 * kept as refused.h says. */
struct mig_recv_opts {
	int allow_rollback;
	int timeout_ms;           /* for the instance, then for the record; < 0: none */
	const uint8_t *announce;  /* VANN_LEN bytes, or NULL */
};
int mig_recv(const char *dir, const struct vtpm_instance *inst, int stream,
	     const struct mig_recv_opts *o, const struct mig_words *w, struct mig_err *e) MIG_MUST;

/* recv --check: would this host accept the announced record? Nothing is
 * written. On refusal *public gets a reason fit for the unauthenticated
 * client who asked (no key ids, no generations). */
int mig_recv_check(const char *dir, const uint8_t announce[VANN_LEN], int allow_rollback,
		   const char **public, struct mig_err *e) MIG_MUST;

/*
 * After a failed migration: the source TPM must still run with its state.
 * While the left-this-host mark stands it refuses and leaves the source TPM
 * not running, its state kept (STORE_VOLATILE, STOP); with force it removes
 * the mark and brings the TPM back (INIT keeping the volatile state), or,
 * with no swtpm running, says in note that the next start will use the state.
 */
int mig_recover(struct vtpm_instance *inst, int force, char *note, size_t note_len,
		struct mig_err *e) MIG_MUST;

/* After a successful migration (the mark stands): end the source swtpm
 * process, then delete its state and the mark. */
int mig_finish(struct vtpm_instance *inst, struct mig_err *e) MIG_MUST;

/* Read one record from fd and print its clear header to out, naming the
 * sender and recipient keys found in dir (host.pub, peers/) when dir. */
int mig_inspect(const char *dir, int fd, FILE *out, struct mig_err *e) MIG_MUST;

/* Print one vTPM's ledger generations (dir) and, when its state directory
 * is known (inst->ctrl), its "left this host" mark. */
int mig_status(const char *dir, const struct vtpm_instance *inst, FILE *out,
	       struct mig_err *e) MIG_MUST;

/* The clear header of the record on fd (prefix checked, then decoded):
 * MIG_E_EOF before its first byte means no record came at all. */
int mig_read_header(int fd, uint8_t hdr[VREC_HDR_LEN], int timeout_ms,
		    struct mig_err *e) MIG_MUST;

/* staged.c: the words, and OpenSSL made ready before the guest waits. */
int mig_say(const struct mig_words *w, const char *word, struct mig_err *e) MIG_MUST;
int mig_await(const struct mig_words *w, const char *word, int timeout_ms, const char *undone,
	      struct mig_err *e) MIG_MUST;
void mig_warm_crypto(const struct host_key *me);

#endif
