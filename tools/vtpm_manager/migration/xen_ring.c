/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Grant table and event channel access for the vTPM back end (see
 * xen_ring.h). The two Xen generations differ only in names and handle
 * types; each function below is the same call in both.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "xen_ring.h"

#ifdef VTPM_XEN_LIBXC
#include <xenctrl.h>
typedef xc_gnttab gnt_t;
typedef xc_evtchn evt_t;
#define gnt_open() xc_gnttab_open(NULL, 0)
#define gnt_close(h) xc_gnttab_close(h)
#define gnt_map(h, n, dom, refs, prot) \
	xc_gnttab_map_domain_grant_refs((h), (n), (dom), (refs), (prot))
#define gnt_unmap(h, a, n) xc_gnttab_munmap((h), (a), (n))
#define evt_open() xc_evtchn_open(NULL, 0)
#define evt_close(h) xc_evtchn_close(h)
#define evt_fd(h) xc_evtchn_fd(h)
#define evt_bind(h, dom, port) xc_evtchn_bind_interdomain((h), (int)(dom), (port))
#define evt_unbind(h, port) xc_evtchn_unbind((h), (port))
#define evt_pending(h) xc_evtchn_pending(h)
#define evt_unmask(h, port) xc_evtchn_unmask((h), (port))
#define evt_notify(h, port) xc_evtchn_notify((h), (port))
#else
#include <xenevtchn.h>
#include <xengnttab.h>
typedef xengnttab_handle gnt_t;
typedef xenevtchn_handle evt_t;
#define gnt_open() xengnttab_open(NULL, 0)
#define gnt_close(h) xengnttab_close(h)
#define gnt_map(h, n, dom, refs, prot) \
	xengnttab_map_domain_grant_refs((h), (n), (dom), (refs), (prot))
#define gnt_unmap(h, a, n) xengnttab_unmap((h), (a), (n))
#define evt_open() xenevtchn_open(NULL, 0)
#define evt_close(h) xenevtchn_close(h)
#define evt_fd(h) xenevtchn_fd(h)
#define evt_bind(h, dom, port) xenevtchn_bind_interdomain((h), (dom), (port))
#define evt_unbind(h, port) xenevtchn_unbind((h), (port))
#define evt_pending(h) xenevtchn_pending(h)
#define evt_unmask(h, port) xenevtchn_unmask((h), (port))
#define evt_notify(h, port) xenevtchn_notify((h), (port))
#endif

int xen_ring_open(struct xen_ring *x, struct mig_err *e)
{
	x->gnt = gnt_open();
	if (!x->gnt)
		return mig_fail(e, "cannot open the grant table device: %s", strerror(errno));
	x->evt = evt_open();
	if (!x->evt) {
		int err = errno;

		gnt_close((gnt_t *)x->gnt);
		x->gnt = NULL;
		return mig_fail(e, "cannot open the event channel device: %s", strerror(err));
	}
	return 0;
}

void xen_ring_close(struct xen_ring *x)
{
	if (x->evt)
		evt_close((evt_t *)x->evt);
	if (x->gnt)
		gnt_close((gnt_t *)x->gnt);
	x->evt = x->gnt = NULL;
}

void *xen_ring_map(struct xen_ring *x, uint32_t domid, const uint32_t *refs, unsigned int n,
		   struct mig_err *e)
{
	uint32_t copy[16];
	void *p;

	/* The old interface takes a non-const array. */
	if (n == 0 || n > sizeof(copy) / sizeof(copy[0])) {
		mig_set(e, "cannot map %u grant refs at once", n);
		return NULL;
	}
	memcpy(copy, refs, n * sizeof(copy[0]));
	p = gnt_map((gnt_t *)x->gnt, n, domid, copy, PROT_READ | PROT_WRITE);
	if (!p)
		mig_set(e, "cannot map grant ref %u (%u page%s) of domain %u: %s", refs[0], n,
		       n == 1 ? "" : "s", domid, strerror(errno));
	return p;
}

void xen_ring_unmap(struct xen_ring *x, void *addr, unsigned int n)
{
	if (addr)
		gnt_unmap((gnt_t *)x->gnt, addr, n);
}

int xen_ring_bind(struct xen_ring *x, uint32_t domid, uint32_t remote_port, struct mig_err *e)
{
	int port = evt_bind((evt_t *)x->evt, domid, remote_port);

	if (port < 0)
		return mig_fail(e, "cannot bind event channel %u of domain %u: %s", remote_port,
			       domid, strerror(errno));
	return port;
}

void xen_ring_unbind(struct xen_ring *x, int port)
{
	if (port >= 0)
		evt_unbind((evt_t *)x->evt, (uint32_t)port);
}

int xen_ring_fd(const struct xen_ring *x)
{
	return evt_fd((evt_t *)x->evt);
}

int xen_ring_pending(struct xen_ring *x)
{
	int port = evt_pending((evt_t *)x->evt);

	if (port >= 0)
		evt_unmask((evt_t *)x->evt, (uint32_t)port);
	return port;
}

int xen_ring_notify(struct xen_ring *x, int port)
{
	return evt_notify((evt_t *)x->evt, (uint32_t)port);
}
