/* SPDX-License-Identifier: BSD-3-Clause */
/* The migration routines xend runs on its stream (docs/misc/vtpm-migration.txt,
 * vtpm_migrate(8)). Each returns 0 or -1 with the reason in *e; none exits. */
#ifndef VTPM_MIG_MIGRATE_H
#define VTPM_MIG_MIGRATE_H

#include <stdint.h>
#include <stdio.h>
#include "hostkey.h"

/* One vTPM instance, named directly (standalone) or found through xenstore;
 * xen.c finds it, and the domain's state. */
struct vtpm_instance {
	int domid;                 /* -1: standalone */
	char ctrl[108];            /* swtpm control socket */
	uint8_t vtpm_uuid[16];
	uint8_t domain_uuid[16];   /* from --domain-uuid; all zero when not given */
	char backend[128];         /* Xen mode: the vTPM backend directory */
};

/* Xen mode: the vTPM's UUID, control socket and backend directory from the
 * backend nodes of inst->domid (CONTRACT.md); the domain UUID is the caller's.
 * Waits until the hotplug script started the instance or failed, or
 * timeout_ms passed (<= 0: one look). */
int xen_find_instance(struct vtpm_instance *inst, int timeout_ms, struct mig_err *e) MIG_MUST;
/* Refuse unless libxenctrl says domid is paused or shut down for suspend. */
int xen_check_quiesced(int domid, struct mig_err *e) MIG_MUST;
/* Write instance and hotplug-status once the TPM runs, so the backend connects. */
int xen_publish_instance(const struct vtpm_instance *inst, struct mig_err *e) MIG_MUST;

/* The staged helpers' words (vtpm_migrate(8), --staged), like xc_save's
 * "suspend": sender -> ready <- pull -> sealed <- write -> done; receiver
 * -> ready <- go -> done. in < 0: the one-shot command, the same steps with no
 * words. The first word may take as long as xc_save or xc_restore take; every
 * wait after it ends after timeout_ms. A waiting helper holds no lock. */
struct mig_words {
	int in, out, timeout_ms; /* timeout_ms < 0: none */
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
 * the waiting TPM and start it. An announcement (send --check's) of this
 * vTPM is accepted before 'ready', so that no disk write falls between the
 * image's end and the TPM's start, and taken back if its record does not
 * come or run. On failure the TPM is not started and the record is kept. */
struct mig_recv_opts {
	int allow_rollback;
	int timeout_ms;           /* for the instance, then for the record; < 0: none */
	const uint8_t *announce;  /* VANN_LEN bytes, or NULL */
};
int mig_recv(const char *dir, const struct vtpm_instance *inst, int stream,
	     const struct mig_recv_opts *o, const struct mig_words *w, struct mig_err *e) MIG_MUST;

/* recv --check: would this host accept the announced record? Nothing is
 * written. A refusal prints on out a reason fit for the unauthenticated
 * client who asked (no key ids, no generations). */
int mig_recv_check(const char *dir, const uint8_t announce[VANN_LEN], int allow_rollback,
		   FILE *out, struct mig_err *e) MIG_MUST;

/* After a failed migration the source TPM runs on. While the left-this-host
 * mark stands it refuses and stops the source TPM, state kept; with force it
 * removes the mark and brings the TPM back, saying so on out. */
int mig_recover(struct vtpm_instance *inst, int force, FILE *out, struct mig_err *e) MIG_MUST;

/* After a successful migration (the mark stands): end the source swtpm
 * process, then delete its state and the mark. */
int mig_finish(struct vtpm_instance *inst, struct mig_err *e) MIG_MUST;

/* Print the clear header of the record on fd, naming the keys in dir. */
int mig_inspect(const char *dir, int fd, FILE *out, struct mig_err *e) MIG_MUST;

/* Print one vTPM's ledger generations and, given its instance, its left mark. */
int mig_status(const char *dir, struct vtpm_instance *inst, FILE *out, struct mig_err *e) MIG_MUST;

/* The clear header of the record on fd, its prefix checked; MIG_E_EOF before
 * its first byte means no record came at all. */
int mig_read_header(int fd, uint8_t hdr[VREC_HDR_LEN], int timeout_ms,
		    struct mig_err *e) MIG_MUST;

/* staged.c */
int mig_say(const struct mig_words *w, const char *word, struct mig_err *e) MIG_MUST;
int mig_await(const struct mig_words *w, const char *word, int timeout_ms, const char *undone,
	      struct mig_err *e) MIG_MUST;
void mig_warm_crypto(const struct host_key *me);

#endif
