/*
 * The source side: pull, take a generation, seal, write one record. In three
 * steps, so that the staged helper (--staged, staged.h) does all it can before the
 * guest is suspended: prepare (keys, recipient, instance, control channel),
 * pull (pull, generation, seal, in memory), write (the record and the
 * left-this-host mark).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "fault.h"
#include "io.h"
#include "ledger.h"
#include "leftmark.h"
#include "migrate.h"
#include "seal.h"
#include "swtpm_proc.h"

void mig_report_fill(struct mig_report *rep, const struct vrec_header *h, size_t len)
{
	rep->generation = h->generation;
	rep->record_len = len;
	rep->blob_len = vrec_plain_len(h);
}

/* The recipient: this host for "self", else a trusted peer (R3, tests/SECURITY.md). */
static int find_recipient(const char *dir, const char *to, const struct host_key *me,
			  struct host_pub *out, struct mig_err *e)
{
	const struct host_pub *p;
	struct peer_set peers;

	if (!strcmp(to, "self") || !strcmp(to, me->pub.name)) {
		*out = me->pub;
		return 0;
	}
	if (!host_name_valid(to))
		return mig_fail(e, "destination '%s' is not usable as a peer key name (1-63 of A-Z a-z 0-9 . _ -): migrate to a host name",
			       to);
	if (peers_load(dir, &peers, e))
		return -1;
	p = peers_find_name(&peers, to);
	if (p)
		*out = *p;
	peers_free(&peers);
	if (!p)
		return mig_fail(e, "destination '%s' is not a trusted peer (run 'vtpm_migrate trust' with its public key)",
			       to);
	return 0;
}

/* A vTPM that has left this host is not sent again from here. */
static int check_not_left(const char *statedir, struct mig_err *e)
{
	uint64_t gen;
	int r = left_mark_read(statedir, &gen, e);

	if (r < 0)
		return -1;
	if (r)
		return mig_fail(e, "this vTPM left this host at generation %" PRIu64 " (mark %s/" LEFT_MARK_NAME "); it may run at the destination: see 'vtpm_migrate recover --force'",
			       gen, statedir);
	return 0;
}

int mig_send_prepare(struct mig_sender *s, const char *dir, const char *to,
		     const struct vtpm_instance *inst, struct mig_err *e)
{
	memset(s, 0, sizeof(*s));
	s->dir = dir;
	s->inst = *inst;
	if (hostkey_load(dir, &s->me, e))
		return mig_wrap(e, "send: ");
	if (find_recipient(dir, to, &s->me, &s->dest, e) ||
	    (s->inst.domid >= 0 && xen_find_instance(&s->inst, e)) ||
	    swtpm_ctrl_init(&s->ctrl, s->inst.ctrl, e) ||
	    instance_state_dir(s->inst.ctrl, s->statedir, sizeof(s->statedir), e) ||
	    check_not_left(s->statedir, e)) {
		mig_send_end(s);
		return mig_wrap(e, "send: ");
	}
	return 0;
}

int mig_send_probe(const struct mig_sender *s, enum tpm_version *v, struct mig_err *e)
{
	int running;

	if (swtpm_get_version(&s->ctrl, v, e))
		return mig_wrap(e, "send: ");
	running = swtpm_is_running(&s->ctrl, e);
	if (running < 0)
		return mig_wrap(e, "send: ");
	if (!running)
		return mig_fail(e, "send: source TPM %s is not running: there is no state to send",
			       s->ctrl.path);
	return 0;
}

int mig_send_check(const struct mig_sender *s, struct mig_send_check *out, struct mig_err *e)
{
	struct ledger led;

	memset(out, 0, sizeof(*out));
	memcpy(out->vtpm_uuid, s->inst.vtpm_uuid, 16);
	memcpy(out->sender_id, s->me.pub.id, VREC_KEYID_LEN);
	strcpy(out->recipient, s->dest.name);
	if (mig_send_probe(s, &out->version, e))
		return -1;
	if (ledger_open(&led, s->dir, e))
		return mig_wrap(e, "send: ");
	out->generation = ledger_next_send(&led, s->inst.vtpm_uuid);
	ledger_close(&led);
	return 0;
}

int mig_send_pull(struct mig_sender *s, struct mig_err *e)
{
	struct swtpm_state st;
	struct ledger led;
	int r = -1;

	memset(&st, 0, sizeof(st));
	if (s->inst.domid >= 0 && xen_check_quiesced(s->inst.domid, e))
		goto out;
	fault_point("send-before-pull");
	if (swtpm_pull_state(&s->ctrl, &st, e))
		goto out;
	fault_point("send-after-pull");

	memset(&s->h, 0, sizeof(s->h));
	s->h.tpm_version = st.version;
	s->h.flags = !memcmp(s->dest.id, s->me.pub.id, VREC_KEYID_LEN) ? VREC_FLAG_TO_SELF : 0;
	memcpy(s->h.domain_uuid, s->inst.domain_uuid, 16);
	memcpy(s->h.vtpm_uuid, s->inst.vtpm_uuid, 16);
	s->h.time = (uint64_t)time(NULL);
	if (ledger_open(&led, s->dir, e))
		goto out;
	r = ledger_take_send(&led, s->inst.vtpm_uuid, &s->h.generation, e);
	ledger_close(&led);
	if (r)
		goto out;
	r = -1;
	fault_point("send-after-ledger");
	if (vrec_seal(&s->me, &s->dest, &s->h, &st, &s->rec, &s->len, e))
		goto out;
	r = 0;
out:
	swtpm_state_clear(&st);
	return r ? mig_wrap(e, "send: ") : 0;
}

#ifdef VTPM_FAULT_INJECTION
/* The fault suite's broken stream: half a record, then the sender dies. */
static void fault_mid_write(const struct mig_sender *s, int fd)
{
	struct mig_err ignore;

	if (fault_on("send-mid-write") &&
	    io_write_full(fd, s->rec, s->len / 2, -1, "migration stream", &ignore) == 0)
		fault_die();
}
#else
static inline void fault_mid_write(const struct mig_sender *s, int fd) { (void)s; (void)fd; }
#endif

int mig_send_mark(struct mig_sender *s, struct mig_err *e)
{
	if (left_mark_write(s->statedir, s->h.generation, e))
		return mig_wrap(e, "send: ");
	s->marked = 1;
	return 0;
}

/*
 * Once the receiver has the whole record it may run the vTPM: the mark that
 * stops this host from running it again must be on disk before the last
 * byte goes out (unless mig_send_mark put it there already), and is taken
 * back if that byte could not be written (by mig_send_end).
 */
int mig_send_write(struct mig_sender *s, int fd, struct mig_report *rep, struct mig_err *e)
{
	memset(rep, 0, sizeof(*rep));
	fault_mid_write(s, fd);
	if (io_write_full(fd, s->rec, s->len - 1, -1, "migration stream", e) ||
	    (!s->marked && mig_send_mark(s, e)))
		return mig_wrap(e, "send: ");
	fault_point("send-before-last-byte");
	if (io_write_full(fd, s->rec + s->len - 1, 1, -1, "migration stream", e))
		return mig_wrap(e, "send: ");
	s->whole = 1;
	fault_point("send-after-last-byte");
	mig_report_fill(rep, &s->h, s->len);
	return 0;
}

void mig_send_end(struct mig_sender *s)
{
	struct mig_err ignore;

	/* No whole record left: nothing may run at a destination. */
	if (s->marked && !s->whole && left_mark_remove(s->statedir, &ignore)) {
		/* the mark stays: recover refuses, the administrator decides */
	}
	s->marked = 0;
	free(s->rec);
	s->rec = NULL;
	hostkey_wipe(&s->me);
}

int mig_send(const char *dir, const char *to, const struct vtpm_instance *inst, int fd,
	     struct mig_report *rep, struct mig_err *e)
{
	struct mig_sender s;
	int64_t t0 = io_now_us();
	int r;

	memset(rep, 0, sizeof(*rep));
	if (mig_send_prepare(&s, dir, to, inst, e))
		return -1;
	r = mig_send_pull(&s, e) || mig_send_write(&s, fd, rep, e) ? -1 : 0;
	rep->usec_total = io_now_us() - t0;
	mig_send_end(&s);
	return r;
}
