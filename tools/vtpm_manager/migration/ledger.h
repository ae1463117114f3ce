/* SPDX-License-Identifier: BSD-3-Clause */
/* The replay ledger: per vTPM UUID, the last generation this host sent and
 * the last it accepted. Kept in DIR/ledger, replaced atomically and fsync'd;
 * DIR/ledger.lock (flock) serialises its users. A ledger that does not parse
 * or whose checksum is wrong is refused, never reset behind the
 * administrator's back: only ledger_rebuild (vtpm_migrate ledger-rebuild). */
#ifndef VTPM_MIG_LEDGER_H
#define VTPM_MIG_LEDGER_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"

struct ledger_entry {
	uint8_t uuid[16];
	uint64_t sent;
	uint64_t accepted;
};

struct ledger {
	const char *dir; /* the caller's, for as long as the ledger is open */
	int lockfd;
	struct ledger_entry *ent;
	size_t n;
};

/* Lock and load (a missing ledger is an empty one). */
int ledger_open(struct ledger *l, const char *dir, struct mig_err *e) MIG_MUST;
void ledger_close(struct ledger *l);

/* Pure: the file's text. Parse takes only what format writes; salvage keeps
 * every line that still reads as an entry (a vTPM listed twice keeps its
 * higher marks) and fails only when out of memory. */
int ledger_parse(const char *text, size_t len, struct ledger_entry **ent, size_t *n,
		 struct mig_err *e) MIG_MUST;
char *ledger_format(const struct ledger_entry *ent, size_t n);
int ledger_salvage(const char *text, size_t len, struct ledger_entry **ent, size_t *n,
		   size_t *dropped) MIG_MUST;

/* Replace a damaged DIR/ledger by what salvage keeps of it (the old bytes go
 * to DIR/ledger.damaged); what is lost re-opens replays. */
int ledger_rebuild(const char *dir, size_t *kept, size_t *dropped, struct mig_err *e) MIG_MUST;

const struct ledger_entry *ledger_get(const struct ledger *l, const uint8_t uuid[16]);

/* The generation the next send takes (above sent and accepted; 0 when the
 * counter is exhausted), and taking it (stored, the directory not synced). */
uint64_t ledger_next_send(const struct ledger *l, const uint8_t uuid[16]);
int ledger_take_send(struct ledger *l, const uint8_t uuid[16], uint64_t *gen,
		     struct mig_err *e) MIG_MUST;
/* Accept gen only above the last accepted (unless allow_rollback), stored
 * durably; check_accept is the same check, pure. */
int ledger_check_accept(const struct ledger *l, const uint8_t uuid[16], uint64_t gen,
			int allow_rollback, struct mig_err *e) MIG_MUST;
int ledger_accept(struct ledger *l, const uint8_t uuid[16], uint64_t gen, int allow_rollback,
		  struct mig_err *e) MIG_MUST;
/* Take back an accept whose record never ran: if uuid's accepted mark is
 * still gen it becomes prev again, durably; a mark that moved on is left. */
int ledger_unaccept(struct ledger *l, const uint8_t uuid[16], uint64_t gen, uint64_t prev,
		    struct mig_err *e) MIG_MUST;

#endif
