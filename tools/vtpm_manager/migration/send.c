/* SPDX-License-Identifier: BSD-3-Clause */
/* The source side: pull, take a generation, seal, write one record. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io.h"
#include "ledger.h"
#include "leftmark.h"
#include "migrate.h"
#include "seal.h"
#include "swtpm_ctrl.h"

struct sender {
	const char *dir;
	struct vtpm_instance inst;
	struct host_key me;
	struct host_pub dest;
	struct swtpm_ctrl ctrl;
	enum tpm_version version;
	char statedir[sizeof(((struct vtpm_instance *)0)->ctrl)];
	struct vrec_header h;
	uint8_t *rec;          /* the sealed record, after pull */
	size_t len;
	int pending;           /* a pending mark is on disk, no whole record left yet */
};

static int find_recipient(struct sender *s, const char *to, struct mig_err *e)
{
	const struct host_pub *p;
	struct peer_set peers;

	if (!strcmp(to, "self") || !strcmp(to, s->me.pub.name)) {
		s->dest = s->me.pub;
		return 0;
	}
	if (!host_name_valid(to))
		return mig_fail(e, "destination '%s' is not usable as a peer key name (1-63 of A-Z a-z 0-9 . _ -): migrate to a host name",
				to);
	if (peers_load(s->dir, &peers, e))
		return -1;
	if ((p = peers_find_name(&peers, to)))
		s->dest = *p;
	peers_free(&peers);
	return p ? 0 : mig_fail(e, "destination '%s' is not a trusted peer (run 'vtpm_migrate trust' with its public key)",
				to);
}

static void end(struct sender *s)
{
	struct mig_err ignore;

	/* No whole record left: nothing may run at a destination. If the mark
	 * cannot be removed it stays, recover refuses, the administrator decides. */
	if (s->pending && left_mark_remove(s->statedir, &ignore)) {
	}
	free(s->rec);
	hostkey_wipe(&s->me);
}

/* Refused unless the TPM runs and has not left this host. */
static int prepare(struct sender *s, const char *dir, const char *to,
		   const struct vtpm_instance *inst, struct mig_err *e)
{
	uint64_t gen;
	int r;

	memset(s, 0, sizeof(*s));
	s->dir = dir;
	s->inst = *inst;
	if (hostkey_load(dir, &s->me, e) || find_recipient(s, to, e) ||
	    (s->inst.domid >= 0 && xen_find_instance(&s->inst, 0, e)) ||
	    swtpm_ctrl_init(&s->ctrl, s->inst.ctrl, e) ||
	    instance_state_dir(s->inst.ctrl, s->statedir, sizeof(s->statedir), e))
		return -1;
	if ((r = left_mark_read(s->statedir, &gen, e)) > 0)
		return mig_fail(e, "this vTPM left this host at generation %" PRIu64 " (mark %s/" LEFT_MARK_NAME "); it may run at the destination: see 'vtpm_migrate recover --force'",
				gen, s->statedir);
	if (r < 0 || swtpm_get_version(&s->ctrl, &s->version, e))
		return -1;
	if ((r = swtpm_is_running(&s->ctrl, e)) == 0)
		return mig_fail(e, "source TPM %s is not running: there is no state to send",
				s->ctrl.path);
	return r < 0 ? -1 : 0;
}

/* Guest quiesced (Xen mode): pull, take the generation, seal in memory, and
 * put the pending mark on disk (while xc_save still streams). */
static int pull(struct sender *s, struct mig_err *e)
{
	struct swtpm_state st = { 0 };
	struct ledger led;
	int r = -1;

	if ((s->inst.domid >= 0 && xen_check_quiesced(s->inst.domid, e)) ||
	    swtpm_pull_state(&s->ctrl, &st, e) || ledger_open(&led, s->dir, e))
		goto out;
	r = ledger_take_send(&led, s->inst.vtpm_uuid, &s->h.generation, e);
	ledger_close(&led);
	s->h.tpm_version = st.version;
	s->h.flags = !memcmp(s->dest.id, s->me.pub.id, VREC_KEYID_LEN) ? VREC_FLAG_TO_SELF : 0;
	memcpy(s->h.domain_uuid, s->inst.domain_uuid, 16);
	memcpy(s->h.vtpm_uuid, s->inst.vtpm_uuid, 16);
	s->h.time = (uint64_t)time(NULL);
	if (r || vrec_seal(&s->me, &s->dest, &s->h, &st, &s->rec, &s->len, e) ||
	    left_mark_prepare(s->statedir, s->h.generation, e))
		r = -1;
	else
		s->pending = 1;
out:
	swtpm_state_clear(&st);
	return r;
}

/* Once the receiver has the whole record it may run the vTPM: the mark that
 * stops this host from running it again stands before the last byte. */
static int write_record(struct sender *s, int fd, int timeout_ms, struct mig_err *e)
{
	if (io_write_full(fd, s->rec, s->len - 1, timeout_ms, "migration stream", e) ||
	    left_mark_commit(s->statedir, e) ||
	    io_write_full(fd, s->rec + s->len - 1, 1, timeout_ms, "migration stream", e))
		return -1;
	s->pending = 0;
	return 0;
}

int mig_send(const char *dir, const char *to, const struct vtpm_instance *inst, int stream,
	     const struct mig_words *w, struct mig_err *e)
{
	struct sender s;
	int r = -1;

	if (prepare(&s, dir, to, inst, e))
		goto out;
	if (w->in >= 0)
		mig_warm_crypto(&s.me);
	if (mig_say(w, "ready", e) ||
	    mig_await(w, "pull", -1, "nothing pulled or written", e) || pull(&s, e) ||
	    mig_say(w, "sealed", e) ||
	    mig_await(w, "write", w->timeout_ms, "nothing written", e) ||
	    write_record(&s, stream, w->timeout_ms, e) || mig_say(w, "done", e))
		goto out;
	r = 0;
out:
	end(&s);
	return r;
}

int mig_send_check(const char *dir, const char *to, const struct vtpm_instance *inst,
		   struct mig_send_check *out, struct mig_err *e)
{
	struct vann *a = &out->ann;
	struct sender s;
	struct ledger led;
	int r = -1;

	memset(out, 0, sizeof(*out));
	if (prepare(&s, dir, to, inst, e) || ledger_open(&led, dir, e))
		goto out;
	a->generation = ledger_next_send(&led, s.inst.vtpm_uuid);
	ledger_close(&led);
	a->tpm_version = (uint8_t)s.version;
	memcpy(a->sender_id, s.me.pub.id, VREC_KEYID_LEN);
	memcpy(a->recipient_id, s.dest.id, VREC_KEYID_LEN);
	memcpy(a->domain_uuid, s.inst.domain_uuid, 16);
	memcpy(a->vtpm_uuid, s.inst.vtpm_uuid, 16);
	a->time = (uint64_t)time(NULL);
	strcpy(out->recipient, s.dest.name);
	r = vann_sign(&s.me, a, out->signed_ann, e);
out:
	end(&s);
	return r;
}
