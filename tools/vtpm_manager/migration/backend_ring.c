/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The back end's side of the shared page: each command the guest submits
 * goes to swtpm's data socket and the answer comes back; anything the page
 * holds that is not a command the TPM can take, or may not take now (a
 * locality the vTPM's policy refuses, a vTPM that left this host), is
 * answered with a TPM error (and a rate-limited log line), so the guest
 * never waits for nothing and the back end never touches memory outside the
 * pages it mapped.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "backend.h"
#include "io.h"
#include "leftmark.h"
#include "tpmif.h"

static int data_connect(struct backend *b, struct mig_err *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(b->data) >= sizeof(sa.sun_path))
		return mig_fail(e, "swtpm data socket path too long: %s", b->data);
	memcpy(sa.sun_path, b->data, strlen(b->data) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return mig_fail(e, "swtpm data socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		mig_fail(e, "cannot connect to swtpm at %s: %s", b->data, strerror(errno));
		close(fd);
		return -1;
	}
	b->data_fd = fd;
	return 0;
}

static void data_close(struct backend *b)
{
	if (b->data_fd >= 0)
		close(b->data_fd);
	b->data_fd = -1;
}

/* A cancel arriving while swtpm works: pass it on, once. */
static void watch_cancel(struct backend *b, int *cancelled)
{
	struct tpmif_req r;
	struct mig_err e = { "", 0 };

	if (xen_ring_pending(&b->xr) < 0)
		return;
	tpmif_read_req(b->page, &r);
	if (r.state != TPMIF_CANCEL || *cancelled)
		return;
	*cancelled = 1;
	if (swtpm_cancel_cmd(&b->ctrl, &e))
		backend_guest_log(b, "guest cancelled the running command; %s", e.msg);
	else
		backend_guest_log(b, "guest cancelled the running command; passed to swtpm");
}

/* Wait for swtpm's answer; meanwhile the guest may cancel. */
static int wait_answer(struct backend *b, struct mig_err *e)
{
	int64_t deadline = io_now_ms() + BACKEND_CMD_TIMEOUT_MS;
	struct pollfd p[2] = {
		{ .fd = b->data_fd, .events = POLLIN },
		{ .fd = xen_ring_fd(&b->xr), .events = POLLIN },
	};
	int cancelled = 0, left, n;

	for (;;) {
		left = (int)(deadline - io_now_ms());
		if (left <= 0)
			return mig_fail(e, "swtpm did not answer within %d s",
				       BACKEND_CMD_TIMEOUT_MS / 1000);
		n = poll(p, 2, left);
		if (n < 0 && errno != EINTR)
			return mig_fail(e, "poll: %s", strerror(errno));
		if (n > 0 && p[1].revents)
			watch_cancel(b, &cancelled);
		if (n > 0 && p[0].revents)
			return 0;
	}
}

/* One command through swtpm; the answer in rsp (TPMIF_CMD_MAX bytes).
 * A connection per command: swtpm serves one data client at a time, and
 * dom0's own tools (tpm2-tools' swtpm TCTI) must still reach the TPM while
 * the guest is connected. swtpm keeps no per-connection TPM state. */
static int tpm_call(struct backend *b, uint8_t locality, const uint8_t *cmd, size_t len,
		    uint8_t *rsp, size_t *rlen, struct mig_err *e)
{
	uint32_t size;
	int r = -1;

	/* Linux's frontend always asks for 0, swtpm's default. */
	if (locality != b->locality) {
		if (swtpm_set_locality(&b->ctrl, locality, e))
			return -1;
		backend_guest_log(b, "locality %u set in swtpm", locality);
		b->locality = locality;
	}
	if (data_connect(b, e))
		return -1;
	if (io_write_full(b->data_fd, cmd, len, BACKEND_CMD_TIMEOUT_MS, "swtpm data socket", e) ||
	    wait_answer(b, e) ||
	    io_read_full(b->data_fd, rsp, 6, BACKEND_CMD_TIMEOUT_MS, "swtpm data socket", e))
		goto out;
	size = be32_get(rsp + 2);
	if (size < TPMIF_TPM_HDR_LEN || size > TPMIF_CMD_MAX) {
		mig_fail(e, "swtpm answered with a %u-byte response", size);
		goto out;
	}
	if (io_read_full(b->data_fd, rsp + 6, size - 6, BACKEND_CMD_TIMEOUT_MS,
			 "swtpm data socket", e))
		goto out;
	*rlen = size;
	r = 0;
out:
	data_close(b);
	return r;
}

static void notify(struct backend *b)
{
	if (xen_ring_notify(&b->xr, b->port))
		backend_guest_log(b, "cannot notify the guest: %s", strerror(errno));
}

/* Answer r with a TPM error, so the guest's command fails now. */
static void refuse(struct backend *b, struct tpmif_map *map, const struct tpmif_req *r,
		   enum tpmif_refusal why, const struct mig_err *e)
{
	uint8_t out[TPMIF_REFUSAL_LEN];

	backend_guest_log(b, "refused a command: %s", e->msg);
	tpmif_refusal(map->page, r, why, out);
	tpmif_put_rsp(map, r, out, sizeof(out));
	notify(b);
}

/* Is there no mark file at all? Two stats (about 3 us): the common case
 * costs a command that much, not a read of the boot id (left_mark_read
 * reads it for every look at a pending mark). */
static int no_mark_file(const struct backend *b)
{
	static const char *const names[] = { LEFT_MARK_NAME, LEFT_PENDING_NAME };
	char path[sizeof(b->statedir) + 32];
	struct stat st;
	unsigned int i;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", b->statedir, names[i]);
		if (!stat(path, &st) || errno != ENOENT)
			return 0;
	}
	return 1;
}

/* May a well-formed command go to swtpm now? Not while the vTPM's
 * left-this-host mark stands (leftmark.h says when it does): its record
 * left whole, and the destination may already run this TPM; a guest
 * resumed here after that, by a crashed xend or by hand, must not get a
 * second live copy. Looked for before each command, as the mark may appear
 * at any time. Then only at a locality the vTPM's policy allows: 3 and 4
 * belong to the platform. */
static int may_serve(struct backend *b, const struct tpmif_req *r, enum tpmif_refusal *why,
		     struct mig_err *e)
{
	uint64_t gen;
	int left;

	*why = TPMIF_REFUSE_FAILURE;
	left = no_mark_file(b) ? 0 : left_mark_read(b->statedir, &gen, e);
	if (left < 0) /* cannot tell: fail closed, e says why */
		return -1;
	if (left > 0)
		return mig_fail(e, "the vTPM left this host (generation %" PRIu64 ", mark in %s): it may run elsewhere",
			       gen, b->statedir);
	if (!tpmif_locality_allowed(b->localities, r->locality)) {
		*why = TPMIF_REFUSE_LOCALITY;
		return mig_fail(e, "locality %u is not allowed for this vTPM", r->locality);
	}
	return 0;
}

static int map_extra(struct backend *b, struct tpmif_map *map, const struct tpmif_req *r,
		     struct mig_err *e)
{
	uint32_t refs[TPMIF_MAX_EXTRA_PAGES];

	if (!r->nr_extra)
		return 0;
	if (tpmif_extra_refs(b->page, r, refs, e))
		return -1;
	map->extra = xen_ring_map(&b->xr, b->fe_domid, refs, r->nr_extra, e);
	if (!map->extra)
		return mig_wrap(e, "extra pages: ");
	map->nr_extra = r->nr_extra;
	return 0;
}

static void answer(struct backend *b, struct tpmif_map *map, const struct tpmif_req *r,
		   const uint8_t *rsp, size_t rlen)
{
	size_t put = tpmif_put_rsp(map, r, rsp, rlen);

	if (put < rlen)
		backend_guest_log(b, "response of %zu bytes cut to the %zu the guest's pages hold",
				  rlen, put);
	notify(b);
}

static void serve_command(struct backend *b, const struct tpmif_req *r)
{
	static uint8_t cmd[TPMIF_CMD_MAX], rsp[TPMIF_CMD_MAX];
	struct tpmif_map map = { .page = b->page };
	struct mig_err e = { "", 0 };
	enum tpmif_refusal why = TPMIF_REFUSE_FAILURE;
	size_t rlen = 0;

	if (map_extra(b, &map, r, &e) || tpmif_check_req(&map, r, &e) ||
	    may_serve(b, r, &why, &e)) {
		refuse(b, &map, r, why, &e);
	} else {
		tpmif_get_cmd(&map, r, cmd);
		if (tpm_call(b, r->locality, cmd, r->length, rsp, &rlen, &e))
			refuse(b, &map, r, TPMIF_REFUSE_FAILURE, &e);
		else
			answer(b, &map, r, rsp, rlen);
	}
	xen_ring_unmap(&b->xr, map.extra, map.nr_extra);
}

/* Look at the page and do what its state asks. */
static void serve(struct backend *b)
{
	struct tpmif_req r;

	tpmif_read_req(b->page, &r);
	switch (r.state) {
	case TPMIF_SUBMIT:
		serve_command(b, &r);
		break;
	case TPMIF_CANCEL:
		/* Nothing runs (commands are served whole): cancel done. */
		tpmif_set_state(b->page, TPMIF_IDLE);
		notify(b);
		break;
	case TPMIF_IDLE:
	case TPMIF_FINISH:
		break;
	default:
		backend_guest_log(b, "page state %u is none of idle, submit, finish, cancel; ignored",
				  r.state);
	}
}

void ring_event(struct backend *b)
{
	if (xen_ring_pending(&b->xr) < 0 && errno != EAGAIN)
		backend_guest_log(b, "event channel: %s", strerror(errno));
	serve(b);
}

int ring_connect(struct backend *b, uint32_t ref, uint32_t remote_port, struct mig_err *e)
{
	if (!b->xr_open) {
		if (xen_ring_open(&b->xr, e))
			return -1;
		b->xr_open = 1;
	}
	b->page = xen_ring_map(&b->xr, b->fe_domid, &ref, 1, e);
	if (!b->page)
		return -1;
	b->port = xen_ring_bind(&b->xr, b->fe_domid, remote_port, e);
	if (b->port < 0) {
		xen_ring_unmap(&b->xr, b->page, 1);
		b->page = NULL;
		return -1;
	}
	b->ref = ref;
	b->remote_port = remote_port;
	b->connected = 1;
	serve(b);
	return 0;
}

void ring_disconnect(struct backend *b)
{
	if (!b->connected)
		return;
	data_close(b);
	xen_ring_unbind(&b->xr, b->port);
	xen_ring_unmap(&b->xr, b->page, 1);
	b->page = NULL;
	b->port = -1;
	b->connected = 0;
}
