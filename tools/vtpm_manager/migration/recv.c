/*
 * The destination side. Order matters: every check of the record comes
 * first; then the blobs are pushed while the generation is written durably
 * (pushed blobs do not run); INIT only once the generation is on disk. A
 * failure anywhere leaves the TPM not started, and a refused record is kept
 * as refused.h says.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "ledger.h"
#include "migrate.h"
#include "refused.h"
#include "seal.h"
#include "swtpm_ctrl.h"

/* An announced generation further above the last accepted than this is not
 * accepted in advance (its record is accepted as usual when it comes). */
#define ANNOUNCE_STEP_MAX 1024

struct receiver {
	const char *dir;
	struct vtpm_instance inst;
	struct host_key me;
	struct peer_set peers;
	struct swtpm_ctrl ctrl;
	enum tpm_version dest_ver;
	const struct mig_recv_opts *o;
	int rollback_needed;   /* a refused record's generation stays accepted */
	uint64_t reserved;     /* generation accepted before go (0: none) */
	uint64_t reserved_prev; /* the accepted mark before that */
};

int mig_read_header(int fd, uint8_t hdr[VREC_HDR_LEN], int timeout_ms, struct mig_err *e)
{
	int64_t deadline = timeout_ms < 0 ? -1 : io_now_ms() + timeout_ms;

	/* A stream that ends before its first byte carried no record at all:
	 * most likely the sending host does not migrate vTPMs. */
	if (io_read_full(fd, hdr, 1, timeout_ms, "migration stream", e))
		return e->code != MIG_E_EOF ? -1 :
			mig_failc(e, MIG_E_EOF, "no vTPM record arrived: the stream ended before its first byte (is the source host's Xen patched for vTPM migration, and enabled?)");
	if (io_read_full(fd, hdr + 1, VREC_PREFIX_LEN - 1, io_left_ms(deadline),
			 "migration stream", e) ||
	    vrec_prefix_check(hdr, VREC_PREFIX_LEN, e))
		return -1;
	return io_read_full(fd, hdr + VREC_PREFIX_LEN, VREC_HDR_LEN - VREC_PREFIX_LEN,
			    io_left_ms(deadline), "migration stream", e);
}

/* A whole record from fd (header checked before the body is allocated). */
static int read_record(int fd, int timeout_ms, uint8_t **rec, size_t *len, struct mig_err *e)
{
	int64_t deadline = timeout_ms < 0 ? -1 : io_now_ms() + timeout_ms;
	uint8_t hdr[VREC_HDR_LEN];
	struct vrec_header h;

	*rec = NULL;
	if (mig_read_header(fd, hdr, timeout_ms, e) || vrec_header_decode(hdr, sizeof(hdr), &h, e))
		goto fail;
	*len = VREC_HDR_LEN + vrec_body_len(&h); /* bounded by vrec_header_decode */
	*rec = malloc(*len);
	if (!*rec)
		return mig_fail(e, "out of memory for a %zu-byte record", *len);
	memcpy(*rec, hdr, VREC_HDR_LEN);
	if (io_read_full(fd, *rec + VREC_HDR_LEN, *len - VREC_HDR_LEN, io_left_ms(deadline),
			 "migration stream", e) == 0)
		return 0;
	free(*rec);
	*rec = NULL;
fail:
	if (e->code == MIG_E_TIMEOUT)
		return mig_fail(e, "no vTPM record within %d s on the migration stream (the source's send failed, or the source is not patched); TPM not started",
				(timeout_ms + 999) / 1000);
	return -1;
}

/* Host key, trusted peers, the instance (waiting for the hotplug script),
 * its control channel, and its TPM waiting for state. No lock is taken: a
 * waiting receiver stops no other migration. */
static int prepare(struct receiver *r, const char *dir, const struct vtpm_instance *inst,
		   const struct mig_recv_opts *o, struct mig_err *e)
{
	int running;

	memset(r, 0, sizeof(*r));
	r->dir = dir;
	r->inst = *inst;
	r->o = o;
	if (hostkey_load(dir, &r->me, e) || peers_load(dir, &r->peers, e) ||
	    (r->inst.domid >= 0 && xen_wait_instance(&r->inst, o->timeout_ms, e)) ||
	    swtpm_ctrl_init(&r->ctrl, r->inst.ctrl, e) ||
	    swtpm_get_version(&r->ctrl, &r->dest_ver, e))
		return -1;
	running = swtpm_is_running(&r->ctrl, e);
	if (running > 0)
		return mig_failc(e, MIG_E_NOT_WAITING, "destination TPM %s is already running; it must wait for state",
				 r->ctrl.path);
	return running;
}

/* Accept the announced generation now, durably, if the announcement is a
 * trusted sender's, for this host, this vTPM and this domain, newer than the
 * last accepted and not too far above it. A record from this host (a local
 * migration) gains nothing: its sender already took a generation above this
 * host's marks. */
static int reserve(struct receiver *r, struct mig_err *e)
{
	const struct ledger_entry *cur;
	struct ledger led;
	struct vann a;

	if (!r->o->announce)
		return 0;
	if (vann_verify(&r->me, &r->peers, r->o->announce, VANN_LEN, &a, e))
		return -1;
	if (memcmp(a.vtpm_uuid, r->inst.vtpm_uuid, 16) || memcmp(a.domain_uuid, r->inst.domain_uuid, 16))
		return mig_failc(e, MIG_E_BINDING, "the announcement is for another vTPM or domain than this instance's");
	if (r->o->allow_rollback || !memcmp(a.sender_id, r->me.pub.id, VREC_KEYID_LEN) ||
	    ledger_open(&led, r->dir, e))
		return 0;
	cur = ledger_get(&led, a.vtpm_uuid);
	r->reserved_prev = cur ? cur->accepted : 0;
	if (a.generation - r->reserved_prev <= ANNOUNCE_STEP_MAX &&
	    ledger_accept(&led, a.vtpm_uuid, a.generation, 0, e) == 0)
		r->reserved = a.generation;
	ledger_close(&led);
	return 0;
}

/* Take an accept made in advance back (the ledger is open and locked). */
static void unreserve_locked(struct receiver *r, struct ledger *led)
{
	struct mig_err ignore;

	if (r->reserved &&
	    ledger_unaccept(led, r->inst.vtpm_uuid, r->reserved, r->reserved_prev, &ignore))
		r->rollback_needed = 1;
	r->reserved = 0;
}

static void unreserve(struct receiver *r)
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

/* The durable ledger write, on its own thread while the blobs are pushed. */
struct accept_job {
	struct ledger *led;
	const struct vrec_header *h;
	int allow_rollback, result;
	struct mig_err err;
};

static void *accept_thread(void *arg)
{
	struct accept_job *j = arg;

	j->result = ledger_accept(j->led, j->h->vtpm_uuid, j->h->generation, j->allow_rollback,
				  &j->err);
	return NULL;
}

/* The generation is on disk before INIT: accepted in advance, or written on
 * a thread while the blobs are pushed. If the TPM never runs, the accept is
 * taken back so that a plain re-load of the record works. */
static int load_state(struct receiver *r, struct ledger *led, const struct vrec_header *h,
		      const struct swtpm_state *st, struct mig_err *e)
{
	struct accept_job job = { .led = led, .h = h, .allow_rollback = r->o->allow_rollback };
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
	if (pushed == 0 && swtpm_init_or_stop(&r->ctrl, e) == 0)
		return 0;
	if (ledger_unaccept(led, h->vtpm_uuid, h->generation, prev, &ignore))
		r->rollback_needed = 1;
	return -1;
}

/* Everything after the record is read: check, accept, load, publish. */
static int take_record(struct receiver *r, const uint8_t *rec, size_t len, int *verified,
		       struct mig_err *e)
{
	const struct ledger_entry *cur;
	struct vrec_header h;
	struct swtpm_state st;
	struct ledger led;
	int res = -1;

	if (vrec_open(&r->me, &r->peers, rec, len, &h, &st, e))
		return -1;
	*verified = 1;
	if (vrec_check_binding(&h, r->inst.domain_uuid, r->inst.vtpm_uuid, r->dest_ver, e) ||
	    ledger_open(&led, r->dir, e))
		goto out;
	/* Not the record announced, or the advance accept was undone since. */
	cur = ledger_get(&led, h.vtpm_uuid);
	if (r->reserved && (h.generation != r->reserved || !cur || cur->accepted != r->reserved))
		unreserve_locked(r, &led);
	if (r->reserved ||
	    ledger_check_accept(&led, h.vtpm_uuid, h.generation, r->o->allow_rollback, e) == 0)
		res = load_state(r, &led, &h, &st, e);
	ledger_close(&led);
	if (res == 0 && r->inst.domid >= 0 && xen_publish_instance(&r->inst, e)) {
		struct mig_err ignore;

		/* Unpublished means unusable: do not leave it running. It ran,
		 * so its generation stays accepted. */
		if (swtpm_stop(&r->ctrl, &ignore)) {
			/* the publish failure is the cause reported */
		}
		r->rollback_needed = 1;
		res = -1;
	}
out:
	swtpm_state_clear(&st);
	return res;
}

static int go(struct receiver *r, int fd, struct mig_err *e)
{
	uint8_t *rec = NULL;
	size_t len = 0;
	int res, verified = 0;

	if (read_record(fd, r->o->timeout_ms, &rec, &len, e)) {
		unreserve(r);
		return -1;
	}
	res = take_record(r, rec, len, &verified, e);
	if (res) {
		unreserve(r);
		refused_keep(r->dir, rec, len, verified, r->rollback_needed, e);
	}
	free(rec);
	return res;
}

/* The one-shot receiver failed before its record (the instance is not
 * ready): the record may be the only copy of the vTPM, so it is read and kept
 * like a refused one. */
static void keep_unread(struct receiver *r, int fd, struct mig_err *e)
{
	struct vrec_header h;
	struct swtpm_state st;
	struct mig_err ignore;
	uint8_t *rec;
	size_t len;
	int verified;

	if (!r->me.pub.name[0] || read_record(fd, r->o->timeout_ms, &rec, &len, &ignore))
		return;
	verified = vrec_open(&r->me, &r->peers, rec, len, &h, &st, &ignore) == 0;
	if (verified)
		swtpm_state_clear(&st);
	refused_keep(r->dir, rec, len, verified, 0, e);
	free(rec);
}

int mig_recv(const char *dir, const struct vtpm_instance *inst, int stream,
	     const struct mig_recv_opts *o, const struct mig_words *w, struct mig_err *e)
{
	struct receiver r;
	int res = -1;

	if (prepare(&r, dir, inst, o, e)) {
		if (w->in < 0)
			keep_unread(&r, stream, e);
		goto out;
	}
	if (reserve(&r, e))
		goto out;
	if (w->in >= 0)
		mig_warm_crypto(&r.me);
	if (mig_say(w, "ready", e) || mig_await(w, "go", -1, "nothing read or loaded", e) ||
	    go(&r, stream, e) || mig_say(w, "done", e))
		goto out;
	res = 0;
out:
	unreserve(&r); /* no go, or go never got to the record */
	peers_free(&r.peers);
	hostkey_wipe(&r.me);
	return res;
}

/* What the client of a relocation connection learns of a refusal. */
static const char *public_reason(enum mig_code c)
{
	switch (c) {
	case MIG_E_FORGED: case MIG_E_RECIPIENT: case MIG_E_UNTRUSTED:
		return "that host does not accept this vTPM from this host (its xend.log says why)";
	case MIG_E_REPLAY:
		return "that host already had this or a newer state of this vTPM (replay or rollback refused)";
	default:
		return "that host cannot take this vTPM now (its xend.log says why)";
	}
}

int mig_recv_check(const char *dir, const uint8_t announce[VANN_LEN], int allow_rollback,
		   const char **public, struct mig_err *e)
{
	struct host_key me;
	struct peer_set peers;
	struct ledger led;
	struct vann a;
	int r = -1;

	memset(&peers, 0, sizeof(peers));
	if (hostkey_load(dir, &me, e))
		goto out;
	if (peers_load(dir, &peers, e) || vann_verify(&me, &peers, announce, VANN_LEN, &a, e) ||
	    ledger_open(&led, dir, e))
		goto out;
	r = ledger_check_accept(&led, a.vtpm_uuid, a.generation, allow_rollback, e);
	ledger_close(&led);
out:
	if (r)
		*public = public_reason(e->code);
	peers_free(&peers);
	hostkey_wipe(&me);
	return r;
}
