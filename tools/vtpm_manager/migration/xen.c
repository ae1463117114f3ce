/* SPDX-License-Identifier: BSD-3-Clause */
/* The Xen side: find a domain's vTPM through xenstore and ask libxenctrl what
 * state the domain is in. Nothing that binds the record is read from a node
 * the guest can write: the domain's UUID comes from xend (--domain-uuid),
 * never from /local/domain/D/vm. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xenctrl.h>

#include "io.h"
#include "migrate.h"
#include "util.h"
#include "xsnode.h"

#define BACKEND_ROOT "/local/domain/0/backend/vtpm"

/* The one vTPM device of domid: its backend directory, UUID and control
 * socket (the hotplug script writes swtpm-ctrl once swtpm runs). 1 with the
 * reason in e when the script failed (hotplug-status "error"). */
static int read_backend(struct xs_handle *xs, int domid, struct vtpm_instance *inst,
			struct mig_err *e)
{
	char dir[64], **devs, v[sizeof(inst->ctrl)], why[256];
	struct mig_err ignore;
	unsigned int n;

	snprintf(dir, sizeof(dir), BACKEND_ROOT "/%d", domid);
	if (!(devs = xs_directory(xs, XBT_NULL, dir, &n)))
		return mig_fail(e, "domain %d has no vTPM (nothing under %s)", domid, dir);
	if (n == 1)
		snprintf(inst->backend, sizeof(inst->backend), "%s/%s", dir, devs[0]);
	free(devs);
	if (n != 1)
		return mig_fail(e, "domain %d has %u vTPMs under %s; expected one", domid, n, dir);
	if (xsnode_get(xs, inst->backend, "uuid", v, sizeof(v), &ignore) ||
	    uuid_parse(v, inst->vtpm_uuid))
		return mig_fail(e, "xenstore: %s/uuid is missing or not a UUID", inst->backend);
	if (xsnode_get(xs, inst->backend, "swtpm-ctrl", v, sizeof(v), &ignore) == 0) {
		if (v[0] != '/')
			return mig_fail(e, "xenstore: %s/swtpm-ctrl is not an absolute socket path",
					inst->backend);
		strcpy(inst->ctrl, v);
		return 0;
	}
	if (xsnode_get(xs, inst->backend, "hotplug-status", v, sizeof(v), &ignore) || strcmp(v, "error"))
		return mig_fail(e, "vTPM of domain %d has no control socket yet (hotplug not run?)", domid);
	if (xsnode_get(xs, inst->backend, "hotplug-error", why, sizeof(why), &ignore))
		strcpy(why, "(no hotplug-error node)");
	mig_fail(e, "the vtpm-swtpm hotplug script failed for domain %d: %s", domid, why);
	return 1;
}

int xen_find_instance(struct vtpm_instance *inst, int timeout_ms, struct mig_err *e)
{
	const struct timespec pause = { 0, 50 * 1000 * 1000 };
	int64_t deadline = io_now_ms() + timeout_ms;
	struct xs_handle *xs = xsnode_open(e);
	int r;

	if (!xs)
		return -1;
	while ((r = read_backend(xs, inst->domid, inst, e)) < 0 && io_now_ms() < deadline)
		nanosleep(&pause, NULL);
	xs_close(xs);
	if (r < 0 && timeout_ms > 0)
		return mig_wrap(e, "no vTPM instance for domain %d after %d s (did the vtpm-swtpm hotplug script run?): ",
				inst->domid, (timeout_ms + 999) / 1000);
	return r ? -1 : 0;
}

/* instance and hotplug-status, in one transaction, so the backend connects. */
int xen_publish_instance(const struct vtpm_instance *inst, struct mig_err *e)
{
	const char *devid = strrchr(inst->backend, '/');
	struct xs_handle *xs;
	xs_transaction_t t;
	int r;

	if (!devid)
		return mig_fail(e, "no backend directory for the vTPM");
	if (!(xs = xsnode_open(e)))
		return -1;
	do {
		if ((t = xs_transaction_start(xs)) == XBT_NULL) {
			r = mig_fail(e, "xenstore: cannot start a transaction: %s", strerror(errno));
		} else if (xsnode_put(xs, t, inst->backend, "instance", devid + 1, e) ||
			   xsnode_put(xs, t, inst->backend, "hotplug-status", "connected", e)) {
			xs_transaction_end(xs, t, true);
			r = -1;
		} else if (xs_transaction_end(xs, t, false)) {
			r = 0;
		} else {
			r = errno == EAGAIN ? 1 : mig_fail(e, "xenstore: transaction failed: %s",
							   strerror(errno));
		}
	} while (r > 0); /* another writer came first: again */
	xs_close(xs);
	return r;
}

int xen_check_quiesced(int domid, struct mig_err *e)
{
	xentoollog_logger *log;
	xc_interface *xch;
	xc_dominfo_t info;
	int n, err;

	/* Without a quiet logger libxenctrl prints its own errors to stderr. */
	log = (xentoollog_logger *)xtl_createlogger_stdiostream(stderr, XTL_NUM_LEVELS, 0);
	xch = xc_interface_open(log, log, 0);
	if (!xch) {
		err = errno;
		xtl_logger_destroy(log);
		return mig_fail(e, "cannot reach the hypervisor (libxenctrl: %s); is this a Xen dom0?",
				strerror(err));
	}
	n = xc_domain_getinfo(xch, (uint32_t)domid, 1, &info);
	xc_interface_close(xch);
	xtl_logger_destroy(log);
	if (n != 1 || info.domid != (uint32_t)domid)
		return mig_fail(e, "domain %d does not exist", domid);
	if (info.dying)
		return mig_fail(e, "domain %d is dying", domid);
	if (info.paused || (info.shutdown && info.shutdown_reason == SHUTDOWN_suspend))
		return 0;
	return mig_fail(e, "domain %d is running; its vTPM state is taken only from a paused or suspended domain",
			domid);
}
