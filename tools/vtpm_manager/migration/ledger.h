/*
 * The replay ledger: per vTPM UUID, the last generation this host sent and
 * the last it accepted. Kept in DIR/ledger, replaced atomically and fsync'd;
 * DIR/ledger.lock (flock) serialises its users. A ledger that does not parse
 * or whose checksum is wrong is refused, never reset behind the
 * administrator's back: only ledger_rebuild (vtpm_migrate ledger-rebuild).
 */
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
	char dir[4096];
	int lockfd;
	struct ledger_entry *ent;
	size_t n;
};

/* Lock and load (a missing ledger is an empty one). */
int ledger_open(struct ledger *l, const char *dir, struct mig_err *e) MIG_MUST;
void ledger_close(struct ledger *l);

/* Pure: parse and format the file's text. */
int ledger_parse(const char *text, size_t len, struct ledger_entry **ent, size_t *n,
		 struct mig_err *e) MIG_MUST;
char *ledger_format(const struct ledger_entry *ent, size_t n);

/* Pure: every line of a damaged ledger's text that still reads as an entry
 * (checksum ignored; a vTPM listed twice keeps its higher marks). -1 only
 * when out of memory. */
int ledger_salvage(const char *text, size_t len, struct ledger_entry **ent, size_t *n,
		   size_t *dropped) MIG_MUST;

/* Replace a damaged DIR/ledger by what ledger_salvage keeps of it (the old
 * bytes go to DIR/ledger.damaged). Refuses a ledger that is not damaged.
 * What is lost re-opens replays: a record older than a lost mark could be
 * accepted again. */
int ledger_rebuild(const char *dir, size_t *kept, size_t *dropped, struct mig_err *e) MIG_MUST;

const struct ledger_entry *ledger_get(const struct ledger *l, const uint8_t uuid[16]);

/* The generation the next send would take (above sent and accepted); 0 when
 * the counter is exhausted. */
uint64_t ledger_next_send(const struct ledger *l, const uint8_t uuid[16]);
/* Take the next generation to send (above sent and accepted) and store it
 * (atomically; the directory is not synced, see ledger.c). */
int ledger_take_send(struct ledger *l, const uint8_t uuid[16], uint64_t *gen,
		     struct mig_err *e) MIG_MUST;
/* Would gen be accepted? (Pure: the check ledger_accept makes.) */
int ledger_check_accept(const struct ledger *l, const uint8_t uuid[16], uint64_t gen,
			int allow_rollback, struct mig_err *e) MIG_MUST;
/* Accept gen only above the last accepted (unless allow_rollback) and store it
 * durably before returning. */
int ledger_accept(struct ledger *l, const uint8_t uuid[16], uint64_t gen, int allow_rollback,
		  struct mig_err *e) MIG_MUST;

/* Take back an accept whose record never ran (the push was refused, or the
 * record announced to a staged receiver never came): if uuid's accepted mark
 * is still gen, it becomes prev again, durably, and a plain re-load of that
 * record works again. A mark that moved on since is left alone. */
int ledger_unaccept(struct ledger *l, const uint8_t uuid[16], uint64_t gen, uint64_t prev,
		    struct mig_err *e) MIG_MUST;

#endif
