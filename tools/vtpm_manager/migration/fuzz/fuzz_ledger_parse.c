/*
 * The replay ledger's text, two ways:
 *
 *  - as given: mutations rarely keep the checksum right, so this mostly
 *    drives the line parser and the refusals;
 *  - with its checksum line made right by the harness (input + "sha256 HEX"),
 *    so that mutated entries reach the accept path.
 *
 * Every input also goes through ledger_salvage (what ledger-rebuild keeps of
 * a damaged ledger): what it keeps must be a ledger ledger_format writes and
 * ledger_parse takes back, one entry per vTPM.
 *
 * A ledger that parses must survive the round trip: ledger_format writes
 * text that parses to the same entries. And since ledger_format is the only
 * writer, an accepted ledger must be what it would have written (hex case
 * aside): anything else was accepted loosely.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "fuzz.h"
#include "ledger.h"
#include "util.h"

#define SUM_LINE_LEN (7 + 64 + 1) /* "sha256 " HEX "\n" */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Parse; on success check the round trip, and that the text was what
 * ledger_format writes for those entries: entry lines equal but for the case
 * of hex digits, then one checksum line.
 */
static void parse_and_check(const char *text, size_t len)
{
	struct ledger_entry *ent = NULL, *again = NULL;
	struct mig_err e = { "", 0 };
	size_t n = 0, n2 = 0, i, j;
	char *out, *out2;

	if (ledger_parse(text, len, &ent, &n, &e)) {
		fuzz_check_refusal(&e);
		FUZZ_ASSERT(ent == NULL && n == 0);
		return;
	}
	FUZZ_ASSERT(n == 0 || ent != NULL);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			FUZZ_ASSERT(memcmp(ent[i].uuid, ent[j].uuid, 16));

	out = ledger_format(ent, n);
	FUZZ_ASSERT(out != NULL);
	if (ledger_parse(out, strlen(out), &again, &n2, &e)) {
		fprintf(stderr, "ledger_format output refused: %s\n", e.msg);
		FUZZ_ASSERT(!"ledger_format output parses");
	}
	FUZZ_ASSERT(n2 == n);
	FUZZ_ASSERT(n == 0 || !memcmp(ent, again, n * sizeof(*ent)));
	out2 = ledger_format(again, n2);
	FUZZ_ASSERT(out2 != NULL && !strcmp(out, out2));

	if (strlen(out) != len || !same_ignoring_case(out, text, len - SUM_LINE_LEN)) {
		fprintf(stderr, "accepted ledger:\n%.*s\nledger_format writes:\n%s", (int)len,
			text, out);
		FUZZ_ASSERT(!"an accepted ledger is in the form ledger_format writes");
	}
	free(out2);
	free(again);
	free(out);
	free(ent);
}

static void salvage_and_check(const char *text, size_t len)
{
	struct ledger_entry *ent = NULL, *again = NULL;
	struct mig_err e = { "", 0 };
	size_t n = 0, n2 = 0, dropped;
	char *out;

	FUZZ_ASSERT(ledger_salvage(text, len, &ent, &n, &dropped) == 0);
	out = ledger_format(ent, n);
	FUZZ_ASSERT(out != NULL);
	if (ledger_parse(out, strlen(out), &again, &n2, &e)) {
		fprintf(stderr, "salvaged ledger refused: %s\n", e.msg);
		FUZZ_ASSERT(!"a salvaged ledger parses");
	}
	FUZZ_ASSERT(n2 == n && (n == 0 || !memcmp(ent, again, n * sizeof(*ent))));
	free(again);
	free(out);
	free(ent);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t md[32];
	unsigned int mdlen = sizeof(md);
	size_t flen = size + SUM_LINE_LEN;
	char *fixed;

	parse_and_check((const char *)data, size);
	salvage_and_check((const char *)data, size);

	fixed = malloc(flen);
	FUZZ_ASSERT(fixed != NULL);
	if (size)
		memcpy(fixed, data, size);
	FUZZ_ASSERT(EVP_Digest(data, size, md, &mdlen, EVP_sha256(), NULL) == 1);
	memcpy(fixed + size, "sha256 ", 7);
	hex_encode(md, sizeof(md), fixed + size + 7); /* its NUL is overwritten next */
	fixed[flen - 1] = '\n';
	parse_and_check(fixed, flen);
	free(fixed);
	return 0;
}
