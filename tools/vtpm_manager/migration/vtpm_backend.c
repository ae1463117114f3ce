/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vtpm_backend: carries one guest's TPM commands to its swtpm.
 *
 *   vtpm_backend --backend PATH --data SOCKET --pidfile FILE
 *                [--ctrl SOCKET] [--on-close SCRIPT] [--localities LIST]
 *
 * One process per vTPM, started by the hotplug script next to the vTPM's
 * swtpm. It follows the frontend through the xenbus states (protocol v2 of
 * Xen's io/tpmif.h, as Linux's xen-tpmfront speaks it), connects only once
 * the TPM runs (backend node hotplug-status = connected, written by the
 * hotplug script for a fresh vTPM and by `vtpm_migrate recv` for an incoming
 * one), and reconnects whenever the frontend comes back with a new ring
 * (resume after save/restore or migration).
 *
 * The guest is untrusted: it gets only the localities of --localities
 * (default 0), no command while the vTPM's left-this-host mark stands in
 * the directory of --data, and every log line it can cause is rate-limited.
 *
 * When the toolstack tears the device down (backend state Closing, or the
 * backend directory gone) it disconnects, writes Closed, removes its pid file
 * and, given --on-close, becomes `SCRIPT remove` with XENBUS_PATH set, as
 * udev would run it: on a dom0 whose kernel sends no remove event for the
 * device, that is what stops the swtpm. SIGTERM (the hotplug script's own
 * remove) ends it without running the script.
 *
 * Exit 0 after SIGTERM or a teardown without script, 1 on a failure (one
 * line on stderr), 2 on a usage error.
 */
#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "io.h"
#include "tpmif.h"
#include "xsnode.h"

/* xenbus states (xen/io/xenbus.h) */
#define XB_INITWAIT 2
#define XB_INITIALISED 3
#define XB_CONNECTED 4
#define XB_CLOSING 5
#define XB_CLOSED 6

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void __attribute__((format(printf, 2, 0)))
log_line(const struct backend *b, const char *fmt, va_list ap)
{
	char msg[MIG_ERR_MAX + 64], prefix[256];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	snprintf(prefix, sizeof(prefix), "vtpm_backend: %s: ", b->path);
	mig_print_line(stderr, prefix, msg);
}

void backend_log(const struct backend *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(b, fmt, ap);
	va_end(ap);
}

static void log_suppressed(const struct backend *b, unsigned long n)
{
	if (n)
		backend_log(b, "%lu lines about the guest suppressed (after %u, one a minute)", n,
			    RATELIMIT_BURST);
}

void backend_guest_log(struct backend *b, const char *fmt, ...)
{
	unsigned long dropped;
	va_list ap;

	if (!ratelimit_allow(&b->guest_lines, io_now_ms(), &dropped))
		return;
	log_suppressed(b, dropped);
	va_start(ap, fmt);
	log_line(b, fmt, ap);
	va_end(ap);
}

/* ---- xenstore ---------------------------------------------------------- */

/* Nodes of the backend directory or the frontend's; a node that is missing
 * or not what it should be reads as absent. */
static int get(struct backend *b, const char *dir, const char *node, char *buf, size_t size)
{
	return xsnode_get(b->xs, dir, node, buf, size, NULL);
}

static int get_uint(struct backend *b, const char *dir, const char *node, uint32_t *val)
{
	return xsnode_get_uint(b->xs, dir, node, val, NULL);
}

/* Our state node, unless it says so already: 1 if written, 0 if it did,
 * -1 (e says why) if it cannot be written. */
static int set_state(struct backend *b, uint32_t state, struct mig_err *e)
{
	char want[4];
	uint32_t now;

	if (!get_uint(b, b->path, "state", &now) && now == state)
		return 0;
	snprintf(want, sizeof(want), "%u", state);
	return xsnode_put(b->xs, XBT_NULL, b->path, "state", want, e) ? -1 : 1;
}

/* A state change the guest caused. */
static void guest_state(struct backend *b, uint32_t state)
{
	struct mig_err e = { "", 0 };
	int r = set_state(b, state, &e);

	if (r < 0)
		backend_guest_log(b, "%s", e.msg);
	else if (r > 0)
		backend_guest_log(b, "state %u", state);
}

static int backend_gone(struct backend *b)
{
	unsigned int n;
	char **d = xs_directory(b->xs, XBT_NULL, b->path, &n);

	if (d) {
		free(d);
		return 0;
	}
	return errno == ENOENT;
}

/* The frontend directory, from the toolstack's nodes in our directory; it
 * must lie in the frontend domain's own tree. */
#define FRONTEND_PATH_CHARS "abcdefghijklmnopqrstuvwxyz0123456789-_/"

static int find_frontend(struct backend *b)
{
	char fe[sizeof(b->fe_path)], prefix[40];
	uint32_t domid;
	size_t n;

	if (b->fe_path[0])
		return 0;
	if (get_uint(b, b->path, "frontend-id", &domid) || get(b, b->path, "frontend", fe, sizeof(fe)))
		return -1;
	n = (size_t)snprintf(prefix, sizeof(prefix), "/local/domain/%u/", domid);
	if (strncmp(fe, prefix, n) || strstr(fe, "/..") ||
	    strspn(fe + n, FRONTEND_PATH_CHARS) != strlen(fe + n)) {
		backend_guest_log(b, "frontend path '%s' is not in domain %u's tree; waiting", fe, domid);
		return -1;
	}
	strcpy(b->fe_path, fe);
	b->fe_domid = domid;
	if (!xs_watch(b->xs, b->fe_path, "fe")) {
		backend_guest_log(b, "cannot watch %s: %s", b->fe_path, strerror(errno));
		b->fe_path[0] = '\0';
		return -1;
	}
	backend_log(b, "frontend %s (domain %u)", b->fe_path, domid);
	return 0;
}

/* ---- following the frontend ------------------------------------------- */

struct frontend_view {
	uint32_t state, ref, port;
	int up; /* Initialised or Connected, with a ring and an event channel */
};

static void read_frontend(struct backend *b, struct frontend_view *f)
{
	memset(f, 0, sizeof(*f));
	if (get_uint(b, b->fe_path, "state", &f->state))
		f->state = 0;
	f->up = (f->state == XB_INITIALISED || f->state == XB_CONNECTED) &&
		!get_uint(b, b->fe_path, "ring-ref", &f->ref) &&
		!get_uint(b, b->fe_path, "event-channel", &f->port);
}

static int tpm_started(struct backend *b)
{
	char v[16];

	return !get(b, b->path, "hotplug-status", v, sizeof(v)) && !strcmp(v, "connected");
}

/* A refused ring is not tried again until the frontend offers another. */
struct refused_ring {
	int set;
	uint32_t ref, port;
};

static void try_connect(struct backend *b, const struct frontend_view *f,
			struct refused_ring *no)
{
	struct mig_err e = { "", 0 };
	uint32_t v2 = 0;

	if (no->set && no->ref == f->ref && no->port == f->port)
		return;
	if (get_uint(b, b->fe_path, "feature-protocol-v2", &v2) || v2 != 1)
		mig_set(&e, "the frontend does not offer feature-protocol-v2");
	else if (!ring_connect(b, f->ref, f->port, &e)) {
		backend_guest_log(b, "connected: ring-ref %u, event channel %u", f->ref, f->port);
		guest_state(b, XB_CONNECTED);
		return;
	}
	backend_guest_log(b, "frontend refused: %s", e.msg);
	no->set = 1;
	no->ref = f->ref;
	no->port = f->port;
	guest_state(b, XB_CLOSED);
}

static void follow_frontend(struct backend *b, struct refused_ring *no)
{
	struct frontend_view f;

	if (find_frontend(b)) {
		guest_state(b, XB_INITWAIT);
		return;
	}
	read_frontend(b, &f);
	if (b->connected && !(f.up && f.ref == b->ref && f.port == b->remote_port)) {
		backend_guest_log(b, "frontend at state %u, ring-ref %u, event channel %u: disconnected",
				  f.state, f.ref, f.port);
		ring_disconnect(b);
	}
	if (b->connected)
		return;
	if (!f.up)
		no->set = 0;
	if (f.state == XB_CLOSING || f.state == XB_CLOSED)
		guest_state(b, XB_CLOSED);
	else if (!f.up)
		guest_state(b, XB_INITWAIT);
	else if (!tpm_started(b))
		guest_state(b, XB_INITWAIT); /* recv has not started the TPM yet */
	else
		try_connect(b, &f, no);
}

/* Has the toolstack taken the device away? */
static int torn_down(struct backend *b)
{
	uint32_t state;

	if (backend_gone(b)) {
		backend_log(b, "backend directory removed");
		return 1;
	}
	if (!get_uint(b, b->path, "state", &state) && state == XB_CLOSING) {
		backend_log(b, "toolstack closes the device");
		return 1;
	}
	return 0;
}

/* ---- the process ------------------------------------------------------- */

/* Wait for xenstore or the guest; 1 if a xenstore watch fired. */
static int wait_events(struct backend *b, const sigset_t *run_mask)
{
	struct pollfd p[2] = { { .fd = xs_fileno(b->xs), .events = POLLIN } };
	unsigned int num;
	char **w;
	int n = 1;

	if (b->connected) {
		p[1].fd = xen_ring_fd(&b->xr);
		p[1].events = POLLIN;
		n = 2;
	}
	if (ppoll(p, (nfds_t)n, NULL, run_mask) <= 0)
		return 0;
	if (n == 2 && p[1].revents)
		ring_event(b);
	if (!p[0].revents)
		return 0;
	w = xs_read_watch(b->xs, &num);
	free(w);
	return 1;
}

/* Returns 1 if the toolstack tore the device down, 0 after a signal. */
static int run(struct backend *b, const sigset_t *run_mask)
{
	struct refused_ring no = { 0 };
	int changed = 1;

	/* xenstore is read only when a watch fired: a TPM command costs no
	 * xenstore round trip. */
	while (!stop_signal) {
		if (changed && torn_down(b))
			return 1;
		if (changed)
			follow_frontend(b, &no);
		changed = wait_events(b, run_mask);
	}
	backend_log(b, "stopped by signal %d", (int)stop_signal);
	return 0;
}

static void finish(struct backend *b)
{
	struct mig_err e = { "", 0 };
	int r = 0;

	ring_disconnect(b);
	log_suppressed(b, ratelimit_take_suppressed(&b->guest_lines));
	if (!backend_gone(b))
		r = set_state(b, XB_CLOSED, &e);
	if (r < 0)
		backend_log(b, "%s", e.msg);
	else if (r > 0)
		backend_log(b, "state %u", XB_CLOSED);
	unlink(b->pidfile);
	if (b->xr_open)
		xen_ring_close(&b->xr);
	xs_close(b->xs);
	b->xs = NULL;
}

/* Become `SCRIPT remove`, as udev would have run it. */
static int run_on_close(struct backend *b)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (setenv("XENBUS_PATH", b->path, 1))
		return 1;
	execl(b->on_close, b->on_close, "remove", (char *)NULL);
	backend_log(b, "cannot run %s: %s", b->on_close, strerror(errno));
	return 1;
}

static int write_pidfile(struct backend *b)
{
	char buf[24];
	int fd, n, ok;

	fd = open(b->pidfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		backend_log(b, "cannot write %s: %s", b->pidfile, strerror(errno));
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	ok = write(fd, buf, (size_t)n) == n;
	if (close(fd) || !ok) {
		backend_log(b, "cannot write %s", b->pidfile);
		return -1;
	}
	return 0;
}

static void usage(FILE *f)
{
	fputs("usage: vtpm_backend --backend PATH --data SOCKET --pidfile FILE\n"
	      "                    [--ctrl SOCKET] [--on-close SCRIPT] [--localities LIST]\n", f);
}

static int parse_args(int argc, char **argv, struct backend *b, const char **ctrl,
		      const char **localities)
{
	static const struct option opts[] = {
		{ "backend", required_argument, NULL, 'b' }, { "data", required_argument, NULL, 'd' },
		{ "pidfile", required_argument, NULL, 'p' }, { "ctrl", required_argument, NULL, 'c' },
		{ "on-close", required_argument, NULL, 'o' },
		{ "localities", required_argument, NULL, 'l' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b': b->path = optarg; break;
		case 'd': b->data = optarg; break;
		case 'p': b->pidfile = optarg; break;
		case 'c': *ctrl = optarg; break;
		case 'o': b->on_close = optarg; break;
		case 'l': *localities = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind != argc || !b->path || !b->data || !b->pidfile) {
		usage(stderr);
		return -1;
	}
	return 0;
}

/* The options' values; the data socket lies in the vTPM's state
 * directory, where the left-this-host mark is. */
static int check_args(struct backend *b, const char *localities)
{
	struct mig_err e = { "", 0 };
	int n;

	if (b->path[0] != '/' || strlen(b->path) > 200 || b->data[0] != '/' ||
	    (b->on_close && b->on_close[0] != '/')) {
		fputs("vtpm_backend: --backend, --data and --on-close must be absolute paths\n", stderr);
		return -1;
	}
	b->localities = 1u; /* locality 0 only */
	if (localities && tpmif_parse_localities(localities, &b->localities, &e)) {
		mig_print_line(stderr, "vtpm_backend: --", e.msg);
		return -1;
	}
	n = snprintf(b->statedir, sizeof(b->statedir), "%.*s",
		     (int)(strrchr(b->data, '/') - b->data), b->data);
	if (n < 0 || n >= (int)sizeof(b->statedir)) {
		fputs("vtpm_backend: --data: path too long\n", stderr);
		return -1;
	}
	return 0;
}

/* Signals are blocked except while waiting, so none interrupts a command. */
static void setup_signals(sigset_t *run_mask)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, run_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
	struct backend b = { .port = -1, .data_fd = -1 };
	const char *ctrl = NULL, *localities = NULL;
	char ctrl_default[128];
	struct mig_err e = { "", 0 };
	sigset_t run_mask;
	int torn;

	if (parse_args(argc, argv, &b, &ctrl, &localities) || check_args(&b, localities))
		return 2;
	/* One write per line (mig_print_line writes a byte at a time). */
	setvbuf(stderr, NULL, _IOLBF, BUFSIZ);
	snprintf(ctrl_default, sizeof(ctrl_default), "%s.ctrl", b.data);
	if (swtpm_ctrl_init(&b.ctrl, ctrl ? ctrl : ctrl_default, &e)) {
		backend_log(&b, "%s", e.msg);
		return 1;
	}
	setup_signals(&run_mask);
	b.xs = xsnode_open(&e);
	if (!b.xs) {
		backend_log(&b, "%s", e.msg);
		return 1;
	}
	if (write_pidfile(&b) || xsnode_put(b.xs, XBT_NULL, b.path, "feature-protocol-v2", "1", &e) ||
	    !xs_watch(b.xs, b.path, "be")) {
		backend_log(&b, "cannot start%s%s", e.msg[0] ? ": " : "", e.msg);
		unlink(b.pidfile);
		xs_close(b.xs);
		return 1;
	}
	torn = run(&b, &run_mask);
	finish(&b);
	if (torn && b.on_close)
		return run_on_close(&b);
	return 0;
}
