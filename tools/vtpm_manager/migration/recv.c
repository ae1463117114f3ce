/*
 * The destination side. Order matters: every check of the record comes
 * first; then the blobs are pushed while the generation is written durably
 * (pushed blobs do not run); INIT only once the generation is on disk. A
 * failure anywhere leaves the TPM not started, and a refused whole record is
 * kept (it may be the only copy of the vTPM).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"
#include "io.h"
#include "ledger.h"
#include "migrate.h"
#include "refused.h"
#include "seal.h"
#include "util.h"

/* Milliseconds left before deadline (< 0: none). */
static int time_left(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - io_now_ms();
	return left > 0 ? (int)left : 0;
}

int mig_read_record(int fd, int timeout_ms, uint8_t **rec, size_t *len, struct mig_err *e)
{
	int64_t deadline = timeout_ms < 0 ? -1 : io_now_ms() + timeout_ms;
	uint8_t hdr[VREC_HDR_LEN], *buf;
	struct vrec_header h;
	size_t body;

	*rec = NULL;
	if (mig_read_start(fd, hdr, VREC_PREFIX_LEN, time_left(deadline), e))
		goto fail;
	if (vrec_prefix_check(hdr, VREC_PREFIX_LEN, e))
		return -1;
	if (io_read_full(fd, hdr + VREC_PREFIX_LEN, VREC_HDR_LEN - VREC_PREFIX_LEN,
			 time_left(deadline), "migration stream", e))
		goto fail;
	if (vrec_header_decode(hdr, sizeof(hdr), &h, e))
		return -1;
	fault_point("recv-mid-read");
	body = vrec_body_len(&h); /* bounded by vrec_header_decode */
	buf = malloc(VREC_HDR_LEN + body);
	if (!buf)
		return mig_fail(e, "out of memory for a %zu-byte record", VREC_HDR_LEN + body);
	memcpy(buf, hdr, VREC_HDR_LEN);
	if (io_read_full(fd, buf + VREC_HDR_LEN, body, time_left(deadline), "migration stream", e)) {
		free(buf);
		goto fail;
	}
	*rec = buf;
	*len = VREC_HDR_LEN + body;
	return 0;
fail:
	if (deadline >= 0 && io_now_ms() >= deadline)
		return mig_fail(e, "no vTPM record within %d s on the migration stream (the source's send failed, or the source is not patched); TPM not started",
			       (timeout_ms + 999) / 1000);
	return -1;
}

int mig_recv_prepare(struct mig_receiver *r, const char *dir, const struct vtpm_instance *inst,
		     int allow_rollback, int timeout_ms, struct mig_err *e)
{
	memset(r, 0, sizeof(*r));
	r->dir = dir;
	r->inst = *inst;
	r->allow_rollback = allow_rollback;
	r->timeout_ms = timeout_ms;
	if (hostkey_load(dir, &r->me, e))
		return mig_wrap(e, "recv: ");
	if (peers_load(dir, &r->peers, e)) {
		hostkey_wipe(&r->me);
		return mig_wrap(e, "recv: ");
	}
	if ((r->inst.domid >= 0 && xen_wait_instance(&r->inst, timeout_ms, e)) ||
	    swtpm_ctrl_init(&r->ctrl, r->inst.ctrl, e)) {
		mig_recv_end(r);
		return mig_wrap(e, "recv: ");
	}
	return 0;
}

int mig_recv_probe(struct mig_receiver *r, struct mig_err *e)
{
	int running;

	if (swtpm_get_version(&r->ctrl, &r->dest_ver, e))
		return -1;
	running = swtpm_is_running(&r->ctrl, e);
	if (running < 0)
		return -1;
	if (running)
		return mig_fail(e, "destination TPM %s is already running; it must wait for state",
			       r->ctrl.path);
	r->probed = 1;
	return 0;
}

/* The durable ledger write, on its own thread while the blobs are pushed. */
struct accept_job {
	struct ledger *led;
	const struct vrec_header *h;
	int allow_rollback;
	int result;
	struct mig_err err;
};

static void *accept_thread(void *arg)
{
	struct accept_job *j = arg;

	j->result = ledger_accept(j->led, j->h->vtpm_uuid, j->h->generation, j->allow_rollback,
				  &j->err);
	return NULL;
}

void mig_recv_reserve(struct mig_receiver *r, const uint8_t sender[VREC_KEYID_LEN], uint64_t gen)
{
	const struct ledger_entry *cur;
	struct mig_err ignore;
	struct ledger led;

	if (r->allow_rollback || !gen || !memcmp(sender, r->me.pub.id, VREC_KEYID_LEN) ||
	    !peers_find_id(&r->peers, sender) || ledger_open(&led, r->dir, &ignore))
		return;
	cur = ledger_get(&led, r->inst.vtpm_uuid);
	r->reserved_prev = cur ? cur->accepted : 0;
	if (ledger_accept(&led, r->inst.vtpm_uuid, gen, 0, &ignore) == 0)
		r->reserved = gen;
	ledger_close(&led);
}

/* Take the accept made in advance back (the ledger is open and locked). */
static void unreserve_locked(struct mig_receiver *r, struct ledger *led)
{
	struct mig_err ignore;

	if (r->reserved &&
	    ledger_unaccept(led, r->inst.vtpm_uuid, r->reserved, r->reserved_prev, &ignore))
		r->rollback_needed = 1;
	r->reserved = 0;
}

static void unreserve(struct mig_receiver *r)
{
	struct mig_err ignore;
	struct ledger led;

	if (!r->reserved)
		return;
	if (ledger_open(&led, r->dir, &ignore)) {
		r->rollback_needed = 1;
		r->reserved = 0;
		return;
	}
	unreserve_locked(r, &led);
	ledger_close(&led);
}

/* The generation is on disk before INIT: accepted in advance, or written on
 * a thread while the blobs are pushed. If the TPM never runs, the accept is
 * taken back so that a plain re-load of the record works. */
static int load_state(struct mig_receiver *r, struct ledger *led, const struct vrec_header *h,
		      const struct swtpm_state *st, struct mig_err *e)
{
	struct accept_job job = { .led = led, .h = h, .allow_rollback = r->allow_rollback };
	const struct ledger_entry *cur = ledger_get(led, h->vtpm_uuid);
	uint64_t prev = cur ? cur->accepted : 0;
	struct mig_err ignore;
	pthread_t th;
	int pushed, threaded = 0;

	if (r->reserved) {
		prev = r->reserved_prev;
		r->reserved = 0; /* the undo is ours from here */
	} else {
		threaded = pthread_create(&th, NULL, accept_thread, &job) == 0;
		if (!threaded)
			accept_thread(&job);
	}
	pushed = swtpm_set_blobs(&r->ctrl, st, e);
	if (threaded)
		pthread_join(th, NULL);
	if (job.result) {
		*e = job.err;
		return -1; /* pushed blobs do not run: nothing to undo */
	}
	fault_point("recv-after-ledger");
	if (pushed == 0) {
		fault_point("push-before-init");
		pushed = swtpm_init_or_stop(&r->ctrl, e);
	}
	if (pushed == 0)
		return 0;
	if (ledger_unaccept(led, h->vtpm_uuid, h->generation, prev, &ignore))
		r->rollback_needed = 1;
	return -1;
}

/* Everything after the record is read: open, check, accept, load, publish. */
static int take_record(struct mig_receiver *r, const uint8_t *rec, size_t len,
		       struct vrec_header *h, struct mig_err *e)
{
	const struct ledger_entry *cur;
	struct swtpm_state st;
	struct ledger led;
	int res = -1;

	memset(&st, 0, sizeof(st));
	if (vrec_open(&r->me, &r->peers, rec, len, h, NULL, &st, e))
		goto out;
	if (!r->probed && mig_recv_probe(r, e))
		goto out;
	if (vrec_check_binding(h, r->inst.domain_uuid, r->inst.vtpm_uuid,
			       r->dest_ver, e))
		goto out;
	if (ledger_open(&led, r->dir, e))
		goto out;
	/* Not the record announced, or the advance accept was undone since. */
	cur = ledger_get(&led, h->vtpm_uuid);
	if (r->reserved && (h->generation != r->reserved || !cur || cur->accepted != r->reserved))
		unreserve_locked(r, &led);
	if (r->reserved ||
	    ledger_check_accept(&led, h->vtpm_uuid, h->generation, r->allow_rollback, e) == 0)
		res = load_state(r, &led, h, &st, e);
	ledger_close(&led);
	if (res)
		goto out;
	res = -1;
	fault_point("recv-after-init");
	if (r->inst.domid >= 0 && xen_publish_instance(&r->inst, e)) {
		struct mig_err ignore;

		/* Unpublished means unusable: do not leave it running. It ran,
		 * so its generation stays accepted. */
		if (swtpm_stop(&r->ctrl, &ignore)) {
			/* already reported: the publish failure is the cause */
		}
		r->rollback_needed = 1;
		goto out;
	}
	res = 0;
out:
	swtpm_state_clear(&st);
	return res;
}

int mig_recv_go(struct mig_receiver *r, int fd, struct mig_report *rep, struct mig_err *e)
{
	struct vrec_header h;
	uint8_t *rec = NULL;
	size_t len = 0;
	int64_t t0 = io_now_us();
	int res;

	memset(rep, 0, sizeof(*rep));
	if (mig_read_record(fd, r->timeout_ms, &rec, &len, e)) {
		unreserve(r);
		return mig_wrap(e, "recv: ");
	}
	res = take_record(r, rec, len, &h, e);
	if (res) {
		unreserve(r);
		mig_wrap(e, "recv: ");
		refused_keep(r->dir, rec, len, r->rollback_needed, e);
	} else {
		mig_report_fill(rep, &h, len);
	}
	rep->usec_total = io_now_us() - t0;
	free(rec);
	return res;
}

void mig_recv_end(struct mig_receiver *r)
{
	unreserve(r); /* no go, or go never got to the record */
	peers_free(&r->peers);
	hostkey_wipe(&r->me);
}

int mig_recv_check(const char *dir, const uint8_t sender_id[VREC_KEYID_LEN],
		   const uint8_t vtpm_uuid[16], uint64_t generation, int allow_rollback,
		   struct mig_err *e)
{
	struct host_key me;
	struct peer_set peers;
	struct ledger led;
	char id[2 * VREC_KEYID_LEN + 1];
	int r = -1;

	memset(&peers, 0, sizeof(peers));
	if (hostkey_load(dir, &me, e))
		return mig_wrap(e, "recv: ");
	if (memcmp(sender_id, me.pub.id, VREC_KEYID_LEN)) {
		if (peers_load(dir, &peers, e))
			goto out;
		if (!peers_find_id(&peers, sender_id)) {
			hex_encode(sender_id, VREC_KEYID_LEN, id);
			mig_fail(e, "record sender key %s is not a trusted peer", id);
			goto out;
		}
	}
	if (ledger_open(&led, dir, e))
		goto out;
	r = ledger_check_accept(&led, vtpm_uuid, generation, allow_rollback, e);
	ledger_close(&led);
out:
	peers_free(&peers);
	hostkey_wipe(&me);
	return r ? mig_wrap(e, "recv: ") : 0;
}

/* recv failed before reading: read the record anyway, and keep it if it
 * arrives whole. */
static void keep_unread(const char *dir, int fd, int timeout_ms, struct mig_err *e)
{
	struct mig_err ignore;
	uint8_t *rec;
	size_t len;

	if (mig_read_record(fd, timeout_ms, &rec, &len, &ignore))
		return;
	refused_keep(dir, rec, len, 0, e);
	free(rec);
}

int mig_recv(const char *dir, const struct vtpm_instance *inst, int fd, int allow_rollback,
	     int timeout_ms, struct mig_report *rep, struct mig_err *e)
{
	struct mig_receiver r;
	int res;

	memset(rep, 0, sizeof(*rep));
	if (mig_recv_prepare(&r, dir, inst, allow_rollback, timeout_ms, e)) {
		/* The record may be the only copy of the vTPM: keep it. */
		keep_unread(dir, fd, timeout_ms, e);
		return -1;
	}
	res = mig_recv_go(&r, fd, rep, e);
	mig_recv_end(&r);
	return res;
}
