/* SPDX-License-Identifier: BSD-3-Clause */
/* The destination side. Every check of the record comes first; then the
 * generation is written durably, and only then is the state pushed and the
 * TPM started. A failure anywhere leaves the TPM not started, and a refused
 * record is kept. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "ledger.h"
#include "migrate.h"
#include "safefile.h"
#include "seal.h"
#include "util.h"

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
	if (!(*rec = malloc(*len)))
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

/* Refused records are kept, within a bound, for an administrator who can fix
 * the cause: in DIR/refused/, as received (sealed), named as vtpm_migrate(8)
 * says (FILES). One that did not verify goes first when room is needed; a
 * malformed, forged or misaddressed record is not kept. */
#define REFUSED_MAX_FILES 32
#define REFUSED_MAX_BYTES (16u * 1024 * 1024)
#define SUFFIX ".vtpmrec"
#define UNVERIFIED "unverified"

/* Causes an administrator of this host can remove: a sender not trusted
 * yet, a vTPM not waiting or of the other TPM version, a local failure. A
 * forgery, a record for another host or vTPM, a replay: never. */
static int fixable(enum mig_code c)
{
	return c != MIG_E_FORGED && c != MIG_E_RECIPIENT && c != MIG_E_REPLAY &&
	       c != MIG_E_BINDING;
}

struct usage {
	size_t files, bytes;
	char oldest[256]; /* the oldest unverified record, "" if none */
	time_t oldest_time;
};

static void scan(const char *sub, struct usage *u)
{
	struct dirent *d;
	struct stat st;
	DIR *dp = opendir(sub);
	size_t n;

	memset(u, 0, sizeof(*u));
	while (dp && (d = readdir(dp))) {
		n = strlen(d->d_name);
		if (n <= strlen(SUFFIX) || strcmp(d->d_name + n - strlen(SUFFIX), SUFFIX) ||
		    fstatat(dirfd(dp), d->d_name, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		u->files++;
		u->bytes += (size_t)st.st_size;
		if (!strncmp(d->d_name, UNVERIFIED ".", strlen(UNVERIFIED) + 1) &&
		    (!u->oldest[0] || st.st_mtime < u->oldest_time) && n < sizeof(u->oldest)) {
			strcpy(u->oldest, d->d_name);
			u->oldest_time = st.st_mtime;
		}
	}
	if (dp)
		closedir(dp);
}

/* Unverified records go until len more bytes fit; 0 if they do. */
static int make_room(const char *sub, size_t len)
{
	struct usage u;
	char path[4200 + sizeof(u.oldest)];

	for (;;) {
		scan(sub, &u);
		if (u.files < REFUSED_MAX_FILES && u.bytes + len <= REFUSED_MAX_BYTES)
			return 0;
		snprintf(path, sizeof(path), "%s/%s", sub, u.oldest);
		if (!u.oldest[0] || unlink(path))
			return -1;
	}
}

static int keep(const char *dir, const uint8_t *rec, size_t len, int verified, char *path,
		size_t plen, struct mig_err *e)
{
	char sub[4200], name[128], u[UUID_STR_LEN] = UNVERIFIED;
	struct vrec_header h;
	long now = (long)time(NULL);
	int i;

	if (verified && vrec_header_decode(rec, len, &h, NULL) == 0)
		uuid_format(h.vtpm_uuid, u);
	snprintf(sub, sizeof(sub), "%s/refused", dir);
	if (mkdir(sub, 0700) && errno != EEXIST)
		return mig_fail(e, "cannot create %s: %s", sub, strerror(errno));
	if (safe_check_dir(sub, "refused-record directory", e))
		return -1;
	if (make_room(sub, len))
		return mig_fail(e, "%s holds %d records or %u MiB already", sub, REFUSED_MAX_FILES,
				REFUSED_MAX_BYTES >> 20);
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), i ? "%s.%ld.%d" SUFFIX : "%s.%ld" SUFFIX, u, now, i);
		snprintf(path, plen, "%s/%s", sub, name);
		/* It may be the only copy: synced, and its name with it. A
		 * name taken meanwhile is refused (SAFE_NEW), never replaced. */
		if (access(path, F_OK))
			return safe_write_file(sub, name, rec, len, 0600, SAFE_NEW | SAFE_SYNC_DIR, e);
	}
	return mig_fail(e, "too many refused records named %s/%s.%ld.*", sub, u, now);
}

/* Keep rec as its refusal (e->code) allows and end e's message with what
 * became of it and, only for a cause this host can fix, how to load it. */
static void refused_keep(const char *dir, const uint8_t *rec, size_t len, int verified,
			 int rollback_needed, struct mig_err *e)
{
	char why[MIG_ERR_MAX], path[4400];
	struct mig_err err;
	enum mig_code c = e->code;

	memcpy(why, e->msg, sizeof(why));
	if (!verified && c != MIG_E_UNTRUSTED)
		mig_setc(e, c, "%s; record not kept (not a valid record for this host)", why);
	else if (keep(dir, rec, len, verified, path, sizeof(path), &err))
		mig_setc(e, c, "%s; record not kept: %s", why, err.msg);
	else if (!fixable(c))
		mig_setc(e, c, "%s; record kept in %s", why, path);
	else
		mig_setc(e, c, "%s; record kept in %s: once the cause is fixed, and only if the source did not resume the guest, load it with 'vtpm_migrate recv -d %s INSTANCE%s < %s'",
			 why, path, dir, rollback_needed ? " --allow-rollback" : "", path);
}

/* Keys, the instance (waiting for the hotplug script) and its TPM waiting for
 * state. No lock is taken: a waiting receiver stops no other migration. */
static int prepare(struct receiver *r, const char *dir, const struct vtpm_instance *inst,
		   const struct mig_recv_opts *o, struct mig_err *e)
{
	int running;

	memset(r, 0, sizeof(*r));
	r->dir = dir;
	r->inst = *inst;
	r->o = o;
	if (hostkey_load(dir, &r->me, e) || peers_load(dir, &r->peers, e) ||
	    (r->inst.domid >= 0 && xen_find_instance(&r->inst, o->timeout_ms, e)) ||
	    swtpm_ctrl_init(&r->ctrl, r->inst.ctrl, e) ||
	    swtpm_get_version(&r->ctrl, &r->dest_ver, e))
		return -1;
	if ((running = swtpm_is_running(&r->ctrl, e)) > 0)
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

/* Take an accept made in advance back, in led (open and locked) or in the ledger opened here. */
static void unreserve(struct receiver *r, struct ledger *led)
{
	struct mig_err ignore;
	struct ledger own;

	if (!r->reserved)
		return;
	if (!led && ledger_open(&own, r->dir, &ignore))
		r->rollback_needed = 1;
	else if (ledger_unaccept(led ? led : &own, r->inst.vtpm_uuid, r->reserved,
				 r->reserved_prev, &ignore))
		r->rollback_needed = 1;
	if (!led)
		ledger_close(&own);
	r->reserved = 0;
}

/* The generation is on disk before anything is pushed: accepted in advance
 * (reserve), or now. If the TPM never runs, the accept is taken back, so
 * that a plain re-load of the record works. */
static int load_state(struct receiver *r, struct ledger *led, const struct vrec_header *h,
		      const struct swtpm_state *st, struct mig_err *e)
{
	const struct ledger_entry *cur = ledger_get(led, h->vtpm_uuid);
	uint64_t prev = r->reserved ? r->reserved_prev : cur ? cur->accepted : 0;
	struct mig_err ignore;

	if (r->reserved)
		r->reserved = 0; /* the undo is ours from here */
	else if (ledger_accept(led, h->vtpm_uuid, h->generation, r->o->allow_rollback, e))
		return -1;
	if (swtpm_set_blobs(&r->ctrl, st, e) == 0 && swtpm_init_or_stop(&r->ctrl, e) == 0)
		return 0;
	if (ledger_unaccept(led, h->vtpm_uuid, h->generation, prev, &ignore))
		r->rollback_needed = 1;
	return -1;
}

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
		unreserve(r, &led);
	res = load_state(r, &led, &h, &st, e);
	ledger_close(&led);
	if (res == 0 && r->inst.domid >= 0 && xen_publish_instance(&r->inst, e)) {
		struct mig_err ignore;

		/* Unpublished means unusable: do not leave it running. It ran,
		 * so its generation stays accepted. */
		swtpm_stop(&r->ctrl, &ignore);
		r->rollback_needed = 1;
		res = -1;
	}
out:
	swtpm_state_clear(&st);
	return res;
}

/* Read the record and take it, or keep it as refused. A receiver that is not
 * ready (the one-shot command failed before its record, e says why) still
 * reads and keeps it: it may be the only copy of the vTPM. */
static int go(struct receiver *r, int fd, int ready, struct mig_err *e)
{
	struct vrec_header h;
	struct swtpm_state st;
	struct mig_err ignore;
	uint8_t *rec = NULL;
	size_t len = 0;
	int res = -1, verified = 0;

	if (read_record(fd, r->o->timeout_ms, &rec, &len, ready ? e : &ignore))
		return -1;
	if (ready)
		res = take_record(r, rec, len, &verified, e);
	else if ((verified = vrec_open(&r->me, &r->peers, rec, len, &h, &st, &ignore) == 0))
		swtpm_state_clear(&st);
	if (res) {
		unreserve(r, NULL); /* before refused_keep reads rollback_needed */
		refused_keep(r->dir, rec, len, verified, r->rollback_needed, e);
	}
	free(rec);
	return res;
}

int mig_recv(const char *dir, const struct vtpm_instance *inst, int stream,
	     const struct mig_recv_opts *o, const struct mig_words *w, struct mig_err *e)
{
	struct receiver r;
	int res = -1;

	if (prepare(&r, dir, inst, o, e)) {
		if (w->in < 0 && r.me.pub.name[0])
			go(&r, stream, 0, e);
		goto out;
	}
	if (w->in >= 0)
		mig_warm_crypto(&r.me);
	if (reserve(&r, e) || mig_say(w, "ready", e) || mig_await(w, "go", -1, "nothing read or loaded", e) ||
	    go(&r, stream, 1, e) || mig_say(w, "done", e))
		goto out;
	res = 0;
out:
	unreserve(&r, NULL); /* no go, or go never got to the record */
	peers_free(&r.peers);
	hostkey_wipe(&r.me);
	return res;
}

/* For the unauthenticated client of a relocation connection. */
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
		   FILE *out, struct mig_err *e)
{
	struct host_key me;
	struct peer_set peers = { 0 };
	struct ledger led;
	struct vann a;
	int r = -1;

	if (hostkey_load(dir, &me, e) == 0 && peers_load(dir, &peers, e) == 0 &&
	    vann_verify(&me, &peers, announce, VANN_LEN, &a, e) == 0 && ledger_open(&led, dir, e) == 0) {
		r = ledger_check_accept(&led, a.vtpm_uuid, a.generation, allow_rollback, e);
		ledger_close(&led);
	}
	if (r)
		fprintf(out, "%s\n", public_reason(e->code));
	peers_free(&peers);
	hostkey_wipe(&me);
	return r;
}
