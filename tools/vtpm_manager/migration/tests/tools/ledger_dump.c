/*
 * ledger_dump DIR: print the ledger ("UUID SENT ACCEPTED" per vTPM) through
 * the library's own reader; exit 1 with its one-line error if the ledger is
 * damaged or unreadable. The fault suite uses it to prove the ledger stays
 * consistent whatever happens.
 */
#include <inttypes.h>
#include <stdio.h>

#include "ledger.h"
#include "util.h"

int main(int argc, char **argv)
{
	struct ledger l;
	struct mig_err e;
	char u[UUID_STR_LEN];
	size_t i;

	if (argc != 2) {
		fprintf(stderr, "usage: ledger_dump DIR\n");
		return 2;
	}
	if (ledger_open(&l, argv[1], &e)) {
		fprintf(stderr, "ledger_dump: %s\n", e.msg);
		return 1;
	}
	for (i = 0; i < l.n; i++) {
		uuid_format(l.ent[i].uuid, u);
		printf("%s %" PRIu64 " %" PRIu64 "\n", u, l.ent[i].sent, l.ent[i].accepted);
	}
	ledger_close(&l);
	return 0;
}
