/*
 * The Xen side: find a domain's vTPM through xenstore and ask libxenctrl what
 * state the domain is in. Node names are in CONTRACT.md. Nothing that binds
 * the record is read from a node the guest can write: the domain's UUID
 * comes from xend (--domain-uuid), never from /local/domain/D/vm.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xenctrl.h>
#include <xenstore.h>

#include "instance.h"
#include "io.h"
#include "util.h"

#define BACKEND_ROOT "/local/domain/0/backend/vtpm"

static char *xs_read_str(struct xs_handle *xs, const char *path, struct mig_err *e)
{
	unsigned int len;
	char *v = xs_read(xs, XBT_NULL, path, &len);

	if (!v)
		mig_fail(e, "xenstore: cannot read %s: %s", path, strerror(errno));
	return v;
}

static struct xs_handle *xs_connect(struct mig_err *e)
{
	struct xs_handle *xs = xs_open(0);

	if (!xs)
		mig_fail(e, "xenstore: cannot connect to xenstored: %s", strerror(errno));
	return xs;
}

static int read_backend(struct xs_handle *xs, int domid, struct vtpm_instance *inst,
			struct mig_err *e)
{
	char dir[64], path[192], **devs, *v;
	unsigned int n;

	snprintf(dir, sizeof(dir), BACKEND_ROOT "/%d", domid);
	devs = xs_directory(xs, XBT_NULL, dir, &n);
	if (!devs || n == 0) {
		free(devs);
		return mig_fail(e, "domain %d has no vTPM (nothing under %s)", domid, dir);
	}
	if (n != 1) {
		free(devs);
		return mig_fail(e, "domain %d has %u vTPMs under %s; expected one", domid, n, dir);
	}
	snprintf(inst->backend, sizeof(inst->backend), "%s/%s", dir, devs[0]);
	free(devs);

	snprintf(path, sizeof(path), "%s/uuid", inst->backend);
	v = xs_read_str(xs, path, e);
	if (!v)
		return -1;
	if (uuid_parse(v, inst->vtpm_uuid)) {
		free(v);
		return mig_fail(e, "xenstore: %s is not a UUID", path);
	}
	free(v);

	snprintf(path, sizeof(path), "%s/swtpm-ctrl", inst->backend);
	v = xs_read_str(xs, path, e);
	if (!v)
		return mig_wrap(e, "vTPM of domain %d has no control socket yet (hotplug not run?): ",
			       domid);
	if (!*v || strlen(v) >= sizeof(inst->ctrl) || v[0] != '/') {
		free(v);
		return mig_fail(e, "xenstore: %s is not an absolute socket path", path);
	}
	strcpy(inst->ctrl, v);
	free(v);
	return 0;
}

int xen_find_instance(struct vtpm_instance *inst, struct mig_err *e)
{
	struct xs_handle *xs;
	int r;

	xs = xs_connect(e);
	if (!xs)
		return -1;
	r = read_backend(xs, inst->domid, inst, e);
	xs_close(xs);
	return r;
}

/* The hotplug script's verdict on the vTPM's one backend device: 1 if it
 * wrote hotplug-status "error" (reason in e, from hotplug-error), else 0. */
static int hotplug_failed(struct xs_handle *xs, int domid, struct mig_err *e)
{
	char dir[64], path[192], **devs, *status, *why = NULL;
	unsigned int n, len;
	int failed;

	snprintf(dir, sizeof(dir), BACKEND_ROOT "/%d", domid);
	devs = xs_directory(xs, XBT_NULL, dir, &n);
	if (!devs || n != 1) {
		free(devs);
		return 0;
	}
	snprintf(path, sizeof(path), "%s/%s/hotplug-status", dir, devs[0]);
	status = xs_read(xs, XBT_NULL, path, &len);
	failed = status && strcmp(status, "error") == 0;
	if (failed) {
		snprintf(path, sizeof(path), "%s/%s/hotplug-error", dir, devs[0]);
		why = xs_read(xs, XBT_NULL, path, &len);
		mig_fail(e, "the vtpm-swtpm hotplug script failed for domain %d: %s", domid,
			 why ? why : "(no hotplug-error node)");
	}
	free(why);
	free(status);
	free(devs);
	return failed;
}

int xen_wait_instance(struct vtpm_instance *inst, int timeout_ms, struct mig_err *e)
{
	const struct timespec pause = { 0, 50 * 1000 * 1000 };
	int64_t deadline = io_now_ms() + timeout_ms;
	struct xs_handle *xs;
	int r;

	xs = xs_connect(e);
	if (!xs)
		return -1;
	while ((r = read_backend(xs, inst->domid, inst, e)) != 0 &&
	       !hotplug_failed(xs, inst->domid, e) && io_now_ms() < deadline)
		nanosleep(&pause, NULL);
	xs_close(xs);
	if (r && timeout_ms > 0 && io_now_ms() >= deadline)
		return mig_wrap(e, "no vTPM instance for domain %d after %d s (did the vtpm-swtpm hotplug script run?): ",
				inst->domid, (timeout_ms + 999) / 1000);
	return r;
}

int xen_publish_instance(const struct vtpm_instance *inst, struct mig_err *e)
{
	static const char *const nodes[][2] = {
		{ "instance", NULL }, { "hotplug-status", "connected" },
	};
	char path[192], devid[16];
	const char *slash, *val;
	struct xs_handle *xs;
	xs_transaction_t t;
	unsigned int i;
	int ok;

	slash = strrchr(inst->backend, '/');
	if (!slash)
		return mig_fail(e, "no backend directory for the vTPM");
	snprintf(devid, sizeof(devid), "%s", slash + 1);
	xs = xs_connect(e);
	if (!xs)
		return -1;
	for (;;) {
		t = xs_transaction_start(xs);
		if (t == XBT_NULL) {
			xs_close(xs);
			return mig_fail(e, "xenstore: cannot start a transaction: %s", strerror(errno));
		}
		ok = 1;
		for (i = 0; ok && i < sizeof(nodes) / sizeof(nodes[0]); i++) {
			val = nodes[i][1] ? nodes[i][1] : devid;
			snprintf(path, sizeof(path), "%s/%s", inst->backend, nodes[i][0]);
			ok = xs_write(xs, t, path, val, (unsigned int)strlen(val));
		}
		if (!ok) {
			mig_fail(e, "xenstore: cannot write %s: %s", path, strerror(errno));
			xs_transaction_end(xs, t, true);
			xs_close(xs);
			return -1;
		}
		if (xs_transaction_end(xs, t, false))
			break;
		if (errno != EAGAIN) {
			xs_close(xs);
			return mig_fail(e, "xenstore: transaction failed: %s", strerror(errno));
		}
	}
	xs_close(xs);
	return 0;
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
