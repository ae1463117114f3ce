/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The one seam to the grant table and event channel devices of the Xen the
 * back end is built against: libxengnttab/libxenevtchn (Xen 4.7 and later),
 * or libxenctrl's xc_gnttab_* / xc_evtchn_* (Xen 4.1, 4.2) when built with
 * -DVTPM_XEN_LIBXC. Nothing above this file knows which.
 */
#ifndef VTPM_MIG_XEN_RING_H
#define VTPM_MIG_XEN_RING_H

#include <stdint.h>

#include "err.h"

struct xen_ring {
	void *gnt; /* grant table handle */
	void *evt; /* event channel handle */
};

/* Open both devices; on failure nothing stays open. */
int xen_ring_open(struct xen_ring *x, struct mig_err *e) MIG_MUST;
void xen_ring_close(struct xen_ring *x);

/* Map n grant refs of domain domid, read-write, as contiguous pages. */
void *xen_ring_map(struct xen_ring *x, uint32_t domid, const uint32_t *refs, unsigned int n,
		   struct mig_err *e);
void xen_ring_unmap(struct xen_ring *x, void *addr, unsigned int n);

/* Bind to the guest's event channel; the local port, or -1. */
int xen_ring_bind(struct xen_ring *x, uint32_t domid, uint32_t remote_port, struct mig_err *e);
void xen_ring_unbind(struct xen_ring *x, int port);

/* The fd that turns readable when a bound port fires. */
int xen_ring_fd(const struct xen_ring *x);
/* Collect (and unmask) the port that fired: the port, or -1 if none. */
int xen_ring_pending(struct xen_ring *x);
int xen_ring_notify(struct xen_ring *x, int port);

#endif
