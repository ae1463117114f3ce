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
#include "hostkey.h"
#include "instance.h"
#include "record.h"
#include "swtpm_ctrl.h"

struct mig_report {
	uint64_t generation;
	size_t record_len;    /* bytes written or read on the stream */
	size_t blob_len;      /* plaintext state bytes */
	int64_t usec_total;   /* inside the routine */
};

struct vrec_header;
/* What a finished send or recv moved. */
void mig_report_fill(struct mig_report *rep, const struct vrec_header *h, size_t len);

/* A send in three steps (prepare, pull, write), for the staged helper. */
struct mig_sender {
	const char *dir;
	struct vtpm_instance inst;
	struct host_key me;
	struct host_pub dest;
	struct swtpm_ctrl ctrl;
	char statedir[sizeof(((struct vtpm_instance *)0)->ctrl)];
	struct vrec_header h;
	uint8_t *rec;          /* the sealed record, after pull */
	size_t len;
	int marked;            /* the left-this-host mark is on disk */
	int whole;             /* the whole record was written */
};

/* Everything that needs neither the guest suspended nor the TPM state: host
 * key, recipient (a trusted peer or "self"), the instance, its control
 * channel, no left-this-host mark. On failure nothing is left to end. */
int mig_send_prepare(struct mig_sender *s, const char *dir, const char *to,
		     const struct vtpm_instance *inst, struct mig_err *e) MIG_MUST;
/* The TPM answers and runs; its version. */
int mig_send_probe(const struct mig_sender *s, enum tpm_version *v, struct mig_err *e) MIG_MUST;
/* Guest quiesced (Xen mode), pull, take the generation, seal in memory. */
int mig_send_pull(struct mig_sender *s, struct mig_err *e) MIG_MUST;
/* Put the left-this-host mark on disk now (the staged sender does it at
 * pull, off the downtime path); mig_send_end removes it unless the whole
 * record was written. */
int mig_send_mark(struct mig_sender *s, struct mig_err *e) MIG_MUST;
/* Write the sealed record to fd; the left-this-host mark goes to disk before
 * its last byte (if it is not there already). */
int mig_send_write(struct mig_sender *s, int fd, struct mig_report *rep, struct mig_err *e) MIG_MUST;
/* Wipe; remove the mark if no whole record was written. */
void mig_send_end(struct mig_sender *s);

/* What send --check reports. */
struct mig_send_check {
	uint8_t vtpm_uuid[16];
	uint64_t generation;       /* the generation send would take now */
	enum tpm_version version;
	uint8_t sender_id[VREC_KEYID_LEN];
	char recipient[HOST_NAME_MAX_LEN + 1];
};
/* After prepare: probe the TPM and read (not take) the next generation. */
int mig_send_check(const struct mig_sender *s, struct mig_send_check *out, struct mig_err *e) MIG_MUST;

/* Pull the running source TPM's state, seal it to peer `to` ("self" for this
 * host) and write one record to fd. The source TPM keeps running. */
int mig_send(const char *dir, const char *to, const struct vtpm_instance *inst, int fd,
	     struct mig_report *rep, struct mig_err *e) MIG_MUST;

/* A receive in two steps (prepare, go), for the staged helper. */
struct mig_receiver {
	const char *dir;
	struct vtpm_instance inst;
	struct host_key me;
	struct peer_set peers;
	struct swtpm_ctrl ctrl;
	enum tpm_version dest_ver;
	int probed;            /* dest_ver known, TPM seen waiting */
	int allow_rollback;
	int timeout_ms;        /* for the whole record; < 0: none */
	int rollback_needed;   /* a refused record's generation stays accepted */
	uint64_t reserved;     /* generation accepted before go (0: none) */
	uint64_t reserved_prev; /* the accepted mark before that */
};

/* Host key, trusted peers, the instance and its control channel. No lock is
 * taken: a waiting receiver stops no other migration. */
int mig_recv_prepare(struct mig_receiver *r, const char *dir, const struct vtpm_instance *inst,
		     int allow_rollback, int timeout_ms, struct mig_err *e) MIG_MUST;
/* The destination TPM answers and waits for state; its version. */
int mig_recv_probe(struct mig_receiver *r, struct mig_err *e) MIG_MUST;
/* Staged receiver told which record comes (xend's vtpm_check: its sender
 * and generation): accept that generation now, durably, so that go writes
 * nothing before the TPM runs. Best effort: if it cannot (rollback allowed,
 * a record from this host, an untrusted sender, not newer, the ledger
 * unwritable) go accepts as usual. A record that does not match, or never
 * comes, or never runs, takes the accept back (ledger_unaccept). */
void mig_recv_reserve(struct mig_receiver *r, const uint8_t sender[VREC_KEYID_LEN], uint64_t gen);
/* Read one record from fd, check it, record its generation, push it into the
 * waiting TPM and start it. On failure the TPM is not started and a whole
 * record is kept in DIR/refused/ (the message says where). */
int mig_recv_go(struct mig_receiver *r, int fd, struct mig_report *rep, struct mig_err *e) MIG_MUST;
void mig_recv_end(struct mig_receiver *r);

/* recv --check: would this host accept a record from sender_id for this vTPM
 * at this generation? Host key loads, sender trusted (or this host), ledger
 * readable, generation newer than the last accepted unless allow_rollback.
 * The same one-line reasons as recv; nothing is written. */
int mig_recv_check(const char *dir, const uint8_t sender_id[VREC_KEYID_LEN],
		   const uint8_t vtpm_uuid[16], uint64_t generation, int allow_rollback,
		   struct mig_err *e) MIG_MUST;

/* prepare, go, end; timeout_ms < 0 waits for the record forever. */
int mig_recv(const char *dir, const struct vtpm_instance *inst, int fd, int allow_rollback,
	     int timeout_ms, struct mig_report *rep, struct mig_err *e) MIG_MUST;

/*
 * After a failed migration: the source TPM must still run with its state.
 * While the left-this-host mark stands it refuses and leaves the source TPM
 * not running, its state kept (STORE_VOLATILE, STOP); with force it removes
 * the mark and brings the TPM back (INIT keeping the volatile state), or,
 * with no swtpm running, says in note that the next start will use the state.
 */
int mig_recover(struct vtpm_instance *inst, int force, char *note, size_t note_len,
		struct mig_err *e) MIG_MUST;

/* After a successful migration: end the source swtpm process, then delete its
 * state and the left-this-host mark. */
int mig_finish(struct vtpm_instance *inst, struct mig_err *e) MIG_MUST;

/* Read one record from fd and print its clear header to out, naming the
 * sender and recipient keys found in dir (host.pub, peers/) when dir. */
int mig_inspect(const char *dir, int fd, FILE *out, struct mig_err *e) MIG_MUST;

/* Print one vTPM's ledger generations (dir) and, when its state directory
 * is known (inst->ctrl), its "left this host" mark (CONTRACT.md). */
int mig_status(const char *dir, const struct vtpm_instance *inst, FILE *out,
	       struct mig_err *e) MIG_MUST;

/* Read the first len (> 0) bytes of a record from the stream; a stream that
 * ends before its first byte says no vTPM record arrived. */
int mig_read_start(int fd, uint8_t *buf, size_t len, int timeout_ms, struct mig_err *e) MIG_MUST;

/* Read a whole record from fd (header checked before the body is allocated)
 * within timeout_ms (< 0: no deadline). */
int mig_read_record(int fd, int timeout_ms, uint8_t **rec, size_t *len, struct mig_err *e) MIG_MUST;

#endif
