/*
 * xc_domstate: an LD_PRELOAD library for tests of vtpm_migrate in Xen mode.
 * The production code calls the real libxenctrl; under this preload it sees
 * the domain states named by the environment instead of a hypervisor:
 *
 *   VTPM_TEST_DOMSTATE="DOMID:STATE[,DOMID:STATE...]"
 *   STATE: running | blocked | paused | suspended (shut down, reason suspend)
 *          | shutdown (reason poweroff) | crashed | dying
 *
 * A domid that is not listed does not exist. Like libxenctrl,
 * xc_domain_getinfo(first, max) fills in the existing domains with
 * domid >= first in ascending order (so a caller asking for a missing domain
 * gets the next one, and must check info.domid). xc_domain_getinfolist
 * answers the same in the hypercall's format.
 *
 * Without VTPM_TEST_DOMSTATE, xc_interface_open fails with ENOENT, as the
 * real library does on a machine without a hypervisor. A malformed value
 * makes every query fail with EINVAL and one line on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xenctrl.h>

#define MAX_DOMS 64

enum dstate { D_RUNNING, D_BLOCKED, D_PAUSED, D_SUSPENDED, D_SHUTDOWN, D_CRASHED, D_DYING };

struct dom {
	uint32_t domid;
	enum dstate state;
};

static char xc_dummy;

static const struct {
	const char *name;
	enum dstate state;
} state_names[] = {
	{ "running", D_RUNNING },
	{ "blocked", D_BLOCKED },
	{ "paused", D_PAUSED },
	{ "suspended", D_SUSPENDED },
	{ "shutdown", D_SHUTDOWN },
	{ "crashed", D_CRASHED },
	{ "dying", D_DYING },
};

static int parse_state(const char *s, size_t len, enum dstate *out)
{
	for (size_t i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++) {
		if (strlen(state_names[i].name) == len &&
		    strncmp(state_names[i].name, s, len) == 0) {
			*out = state_names[i].state;
			return 0;
		}
	}
	return -1;
}

/* Parse VTPM_TEST_DOMSTATE into doms[], sorted by domid. Returns the count,
 * or -1 (errno EINVAL) if the variable is malformed. */
static int load_doms(struct dom *doms)
{
	const char *env = getenv("VTPM_TEST_DOMSTATE");
	const char *p = env;
	int n = 0;

	if (env == NULL)
		return 0;
	while (*p) {
		char *end;
		unsigned long id;
		const char *st;
		size_t stlen;
		struct dom d;
		int i;

		if (*p == ',') {
			p++;
			continue;
		}
		errno = 0;
		id = strtoul(p, &end, 10);
		if (errno || end == p || *end != ':' || id >= DOMID_FIRST_RESERVED)
			goto bad;
		st = end + 1;
		stlen = strcspn(st, ",");
		if (parse_state(st, stlen, &d.state) != 0)
			goto bad;
		d.domid = (uint32_t)id;
		p = st + stlen;

		for (i = 0; i < n && doms[i].domid != d.domid; i++)
			;
		if (i < n) { /* listed twice: the last one counts */
			doms[i] = d;
			continue;
		}
		if (n == MAX_DOMS)
			goto bad;
		/* insertion sort by domid */
		for (i = n; i > 0 && doms[i - 1].domid > d.domid; i--)
			doms[i] = doms[i - 1];
		doms[i] = d;
		n++;
	}
	return n;
bad:
	fprintf(stderr, "xc_domstate: bad VTPM_TEST_DOMSTATE '%s' "
		"(want DOMID:running|blocked|paused|suspended|shutdown|crashed|dying,...)\n",
		env);
	errno = EINVAL;
	return -1;
}

xc_interface *xc_interface_open(xentoollog_logger *logger,
				xentoollog_logger *dombuild_logger,
				unsigned open_flags)
{
	(void)logger;
	(void)dombuild_logger;
	(void)open_flags;
	if (getenv("VTPM_TEST_DOMSTATE") == NULL) {
		errno = ENOENT;
		return NULL;
	}
	return (xc_interface *)&xc_dummy;
}

int xc_interface_close(xc_interface *xch)
{
	(void)xch;
	return 0;
}

static void fill_info(const struct dom *d, xc_dominfo_t *info)
{
	memset(info, 0, sizeof(*info));
	info->domid = d->domid;
	info->nr_online_vcpus = 1;
	info->max_vcpu_id = 0;
	info->nr_pages = 65536;
	info->max_memkb = 262144;
	switch (d->state) {
	case D_RUNNING:
		info->running = 1;
		break;
	case D_BLOCKED:
		info->blocked = 1;
		break;
	case D_PAUSED:
		info->paused = 1;
		break;
	case D_SUSPENDED:
		info->shutdown = 1;
		info->shutdown_reason = SHUTDOWN_suspend;
		break;
	case D_SHUTDOWN:
		info->shutdown = 1;
		info->shutdown_reason = SHUTDOWN_poweroff;
		break;
	case D_CRASHED:
		info->crashed = 1;
		info->shutdown = 1;
		info->shutdown_reason = SHUTDOWN_crash;
		break;
	case D_DYING:
		info->dying = 1;
		break;
	}
}

int xc_domain_getinfo(xc_interface *xch, uint32_t first_domid,
		      unsigned int max_doms, xc_dominfo_t *info)
{
	struct dom doms[MAX_DOMS];
	unsigned int got = 0;
	int n;

	if (xch == NULL) {
		errno = EBADF;
		return -1;
	}
	n = load_doms(doms);
	if (n < 0)
		return -1;
	for (int i = 0; i < n && got < max_doms; i++) {
		if (doms[i].domid < first_domid)
			continue;
		fill_info(&doms[i], &info[got]);
		got++;
	}
	return (int)got;
}

int xc_domain_getinfolist(xc_interface *xch, uint32_t first_domain,
			  unsigned int max_domains, xc_domaininfo_t *info)
{
	struct dom doms[MAX_DOMS];
	unsigned int got = 0;
	int n;

	if (xch == NULL) {
		errno = EBADF;
		return -1;
	}
	n = load_doms(doms);
	if (n < 0)
		return -1;
	for (int i = 0; i < n && got < max_domains; i++) {
		xc_domaininfo_t *di = &info[got];

		if (doms[i].domid < first_domain)
			continue;
		memset(di, 0, sizeof(*di));
		di->domain = (domid_t)doms[i].domid;
		di->nr_online_vcpus = 1;
		di->tot_pages = 65536;
		di->max_pages = 65536;
		switch (doms[i].state) {
		case D_RUNNING:
			di->flags = XEN_DOMINF_running;
			break;
		case D_BLOCKED:
			di->flags = XEN_DOMINF_blocked;
			break;
		case D_PAUSED:
			di->flags = XEN_DOMINF_paused;
			break;
		case D_SUSPENDED:
			di->flags = XEN_DOMINF_shutdown |
				    ((uint32_t)SHUTDOWN_suspend << XEN_DOMINF_shutdownshift);
			break;
		case D_SHUTDOWN:
			di->flags = XEN_DOMINF_shutdown |
				    ((uint32_t)SHUTDOWN_poweroff << XEN_DOMINF_shutdownshift);
			break;
		case D_CRASHED:
			di->flags = XEN_DOMINF_shutdown |
				    ((uint32_t)SHUTDOWN_crash << XEN_DOMINF_shutdownshift);
			break;
		case D_DYING:
			di->flags = XEN_DOMINF_dying;
			break;
		}
		got++;
	}
	return (int)got;
}
