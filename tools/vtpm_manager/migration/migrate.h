/*
 * The migration routines xend runs on its stream (CONTRACT.md,
 * docs/misc/vtpm-migration.txt). Each returns 0 or -1 with the reason in *e;
 * none exits or prints.
 */
#ifndef VTPM_MIG_MIGRATE_H
#define VTPM_MIG_MIGRATE_H

#include <stdint.h>
#include <stdio.h>
#include "err.h"
#include "instance.h"

struct mig_report {
	uint64_t generation;
	size_t record_len;    /* bytes written or read on the stream */
	size_t blob_len;      /* plaintext state bytes */
	int64_t usec_total;   /* inside the routine */
};

struct vrec_header;
/* What a finished send or recv moved. */
void mig_report_fill(struct mig_report *rep, const struct vrec_header *h, size_t len);

/* Resolve a Xen-mode instance (inst->domid >= 0) through xenstore; the
 * domain's UUID only when binding needs it (send, recv). */
int mig_resolve(struct vtpm_instance *inst, int domain_uuid, struct vm_err *e) VM_MUST;

/* Pull the running source TPM's state, seal it to peer `to` ("self" for this
 * host) and write one record to fd. The source TPM keeps running. */
int mig_send(const char *dir, const char *to, struct vtpm_instance *inst, int fd,
	     struct mig_report *rep, struct vm_err *e) VM_MUST;

/* Read one record from fd, check it, record its generation, push it into the
 * waiting TPM and start it. On failure the TPM is not started. */
int mig_recv(const char *dir, struct vtpm_instance *inst, int fd, int allow_rollback,
	     struct mig_report *rep, struct vm_err *e) VM_MUST;

/* After a failed migration: the source TPM must still run with its state. */
int mig_recover(struct vtpm_instance *inst, struct vm_err *e) VM_MUST;

/* After a successful migration: shut the source TPM down, delete its state. */
int mig_finish(struct vtpm_instance *inst, struct vm_err *e) VM_MUST;

/* Read one record from fd and print its clear header to out, naming the
 * sender and recipient keys found in dir (host.pub, peers/) when dir. */
int mig_inspect(const char *dir, int fd, FILE *out, struct vm_err *e) VM_MUST;

/* Print one vTPM's ledger generations (dir) and, when its state directory
 * is known (inst->ctrl), its "left this host" mark (CONTRACT.md). */
int mig_status(const char *dir, const struct vtpm_instance *inst, FILE *out,
	       struct vm_err *e) VM_MUST;

/* Read the first len (> 0) bytes of a record from the stream; a stream that
 * ends before its first byte says no vTPM record arrived. */
int mig_read_start(int fd, uint8_t *buf, size_t len, struct vm_err *e) VM_MUST;

/* Read a whole record from fd (header checked before the body is allocated). */
int mig_read_record(int fd, uint8_t **rec, size_t *len, struct vm_err *e) VM_MUST;

#endif
