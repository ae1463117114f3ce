#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "migrate.h"
#include "seal.h"
#include "staged.h"

#define WORD_MAX 16

/* Read one line of at most WORD_MAX bytes from in, byte by byte (no read
 * ahead: the next word is not ours yet). 1: a line, 0: end of input. */
static int read_word(int in, char *w, struct mig_err *e)
{
	size_t n = 0;
	ssize_t r;
	char c;

	for (;;) {
		r = read(in, &c, 1);
		if (r == 0)
			return n ? mig_fail(e, "input ended inside a line") : 0;
		if (r < 0)
			return mig_fail(e, "reading the control input failed");
		if (c == '\n')
			break;
		if (n == WORD_MAX)
			return mig_fail(e, "control line longer than %d bytes", WORD_MAX);
		w[n++] = (c >= 0x21 && c <= 0x7e) ? c : '?';
	}
	w[n] = '\0';
	return 1;
}

/* Wait for the word want; anything else fails, saying what was left undone. */
static int expect_word(int in, const char *want, const char *undone, struct mig_err *e)
{
	char w[WORD_MAX + 1];
	int r = read_word(in, w, e);

	if (r < 0)
		return mig_wrap(e, "%s: ", undone);
	if (r == 0)
		return mig_fail(e, "input ended before '%s': %s", want, undone);
	if (strcmp(w, want))
		return mig_fail(e, "expected '%s', got '%s': %s", want, w, undone);
	return 0;
}

static int say(int out, const char *word, struct mig_err *e)
{
	char line[WORD_MAX + 2];
	size_t n = strlen(word);

	memcpy(line, word, n);
	line[n] = '\n';
	return io_write_full(out, line, n + 1, -1, "control output", e);
}

/*
 * OpenSSL fetches each algorithm on its first use: seal and open one small
 * record to this host now, so that none of that happens while the guest waits.
 */
static void warm_crypto(const struct host_key *me)
{
	struct swtpm_state st, back;
	struct vrec_header h;
	struct peer_set none;
	struct mig_err ignore;
	uint8_t blob[32] = { 0 }, *rec = NULL;
	size_t len = 0;

	memset(&st, 0, sizeof(st));
	memset(&h, 0, sizeof(h));
	memset(&none, 0, sizeof(none));
	st.version = TPM_VERSION_20;
	st.blob[0].type = 1;
	st.blob[0].data = blob;
	st.blob[0].len = sizeof(blob);
	h.tpm_version = TPM_VERSION_20;
	h.flags = VREC_FLAG_TO_SELF;
	h.generation = 1;
	if (vrec_seal(me, &me->pub, &h, &st, &rec, &len, &ignore) == 0 &&
	    vrec_open(me, &none, rec, len, &h, NULL, &back, &ignore) == 0)
		swtpm_state_clear(&back);
	free(rec);
}

int mig_send_staged(const char *dir, const char *to, const struct vtpm_instance *inst,
		    int stream, int in, int out, struct mig_err *e)
{
	struct mig_report rep;
	struct mig_sender s;
	enum tpm_version v;
	int r = -1;

	if (mig_send_prepare(&s, dir, to, inst, e))
		return -1;
	if (mig_send_probe(&s, &v, e))
		goto out;
	warm_crypto(&s.me);
	if (say(out, "ready", e) ||
	    expect_word(in, "pull", "nothing pulled or written", e) ||
	    mig_send_pull(&s, e) ||
	    /* The mark's syncs here, while xc_save still streams, not after. */
	    mig_send_mark(&s, e) ||
	    say(out, "sealed", e) ||
	    expect_word(in, "write", "nothing written", e) ||
	    mig_send_write(&s, stream, &rep, e) ||
	    say(out, "done", e))
		goto out;
	r = 0;
out:
	mig_send_end(&s);
	return r ? mig_wrap(e, "send: ") : 0;
}

int mig_recv_staged(const char *dir, const struct vtpm_instance *inst, int stream,
		    int allow_rollback, int timeout_ms, const struct mig_announced *announced,
		    int in, int out, struct mig_err *e)
{
	struct mig_receiver r;
	struct mig_report rep;
	int res = -1;

	if (mig_recv_prepare(&r, dir, inst, allow_rollback, timeout_ms, e))
		return -1;
	if (mig_recv_probe(&r, e)) {
		mig_wrap(e, "recv: ");
		goto out;
	}
	warm_crypto(&r.me);
	if (announced)
		mig_recv_reserve(&r, announced->sender, announced->generation);
	if (say(out, "ready", e) || expect_word(in, "go", "nothing read or loaded", e)) {
		mig_wrap(e, "recv: ");
		goto out;
	}
	if (mig_recv_go(&r, stream, &rep, e))
		goto out;
	if (say(out, "done", e)) {
		mig_wrap(e, "recv: ");
		goto out;
	}
	res = 0;
out:
	mig_recv_end(&r);
	return res;
}
