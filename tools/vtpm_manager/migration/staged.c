/* SPDX-License-Identifier: BSD-3-Clause */
/* The staged helpers' words (migrate.h), and OpenSSL made ready early. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "migrate.h"
#include "seal.h"

#define WORD_MAX 16

int mig_say(const struct mig_words *w, const char *word, struct mig_err *e)
{
	char line[WORD_MAX + 2];
	int n = snprintf(line, sizeof(line), "%s\n", word);

	return w->in < 0 ? 0 : io_write_full(w->out, line, (size_t)n, w->timeout_ms,
					     "xend's word pipe", e);
}

/* Read a line byte by byte (no read-ahead: the next word is not ours yet);
 * anything but the word expected fails, saying what was left undone. */
int mig_await(const struct mig_words *w, const char *word, int timeout_ms, const char *undone,
	      struct mig_err *e)
{
	int64_t deadline = timeout_ms < 0 ? -1 : io_now_ms() + timeout_ms;
	char got[WORD_MAX + 1], c = 0;
	size_t n = 0;

	if (w->in < 0)
		return 0;
	while (n <= WORD_MAX) {
		if (io_read_full(w->in, &c, 1, io_left_ms(deadline), "xend's word pipe", e)) {
			if (e->code == MIG_E_EOF && !n)
				return mig_fail(e, "input ended before '%s': %s", word, undone);
			return mig_wrap(e, "%s: waiting for '%s': ", undone, word);
		}
		if (c == '\n')
			break;
		got[n++] = (c >= 0x21 && c <= 0x7e) ? c : '?';
	}
	got[n < WORD_MAX ? n : WORD_MAX] = '\0';
	if (c != '\n' || strcmp(got, word))
		return mig_fail(e, "expected '%s', got '%s': %s", word, got, undone);
	return 0;
}

/* OpenSSL fetches each algorithm on its first use: seal and open one small
 * record now, so that none of that happens while the guest waits. */
void mig_warm_crypto(const struct host_key *me)
{
	uint8_t blob[32] = { 0 }, *rec = NULL;
	struct swtpm_state back, st = { .version = TPM_VERSION_20, .blob = {
		{ .type = SWTPM_BLOB_PERMANENT, .data = blob, .len = sizeof(blob) } } };
	struct vrec_header h = { .tpm_version = TPM_VERSION_20, .flags = VREC_FLAG_TO_SELF,
				 .generation = 1 };
	struct mig_err ignore;
	size_t len = 0;

	if (vrec_seal(me, &me->pub, &h, &st, &rec, &len, &ignore) == 0 &&
	    vrec_open(me, NULL, rec, len, &h, &back, &ignore) == 0)
		swtpm_state_clear(&back);
	free(rec);
}
