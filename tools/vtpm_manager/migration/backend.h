/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vtpm_backend: the guest-facing back end of one vTPM. Shared between the
 * program (vtpm_backend.c: options, xenbus states, lifecycle) and the ring
 * (backend_ring.c: the shared page, the event channel, the swtpm data
 * socket). Not part of the migration library.
 */
#ifndef VTPM_MIG_BACKEND_H
#define VTPM_MIG_BACKEND_H

#include <signal.h>
#include <stdint.h>

#include "err.h"
#include "backend_limit.h"
#include "swtpm_ctrl.h"
#include "xen_ring.h"

/* Longest a TPM command may run in swtpm before the back end gives up on
 * it (a TPM 1.2 key generation under software emulation takes tens of s). */
#define BACKEND_CMD_TIMEOUT_MS 300000

struct backend {
	/* From the command line (the hotplug script). */
	const char *path;     /* backend directory in xenstore */
	const char *data;     /* swtpm data socket */
	const char *pidfile;
	const char *on_close; /* hotplug script run with "remove" at teardown */
	struct swtpm_ctrl ctrl;
	unsigned int localities; /* the guest may use locality n if bit n is set */
	char statedir[256];   /* the vTPM's state directory: that of --data */

	struct xs_handle *xs;
	char fe_path[128];    /* frontend directory, once known and checked */
	uint32_t fe_domid;

	/* The connection to the frontend; gnttab/evtchn opened on first use. */
	struct xen_ring xr;
	int xr_open;
	int connected;
	uint8_t *page;
	uint32_t ref, remote_port;
	int port;             /* local event channel port */
	int data_fd;          /* swtpm data socket while a command runs, else -1 */
	uint8_t locality;     /* last set in swtpm */
	struct ratelimit guest_lines; /* what the guest can make us log */
};

/* One line on stderr, prefixed with the program and backend path, every
 * byte that is not printable ASCII escaped (mig_print_line). For what the
 * guest cannot cause: start, signals, the toolstack's teardown. */
void backend_log(const struct backend *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The same for every line the guest can cause, so that it cannot grow
 * dom0's log without limit: RATELIMIT_BURST lines, then one a minute, each
 * after a gap preceded by a line saying how many were suppressed. */
void backend_guest_log(struct backend *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Map the ring, bind the event channel and serve any command already
 * waiting (its notification went to a port nobody had bound yet). */
int ring_connect(struct backend *b, uint32_t ref, uint32_t remote_port, struct mig_err *e) MIG_MUST;
void ring_disconnect(struct backend *b);
/* The event channel fd is readable: collect the event, look at the page. */
void ring_event(struct backend *b);

#endif
