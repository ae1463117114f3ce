/* One vTPM instance, named directly (standalone) or found through xenstore. */
#ifndef VTPM_MIG_INSTANCE_H
#define VTPM_MIG_INSTANCE_H

#include <stdint.h>
#include "err.h"

struct vtpm_instance {
	int domid;                 /* -1: standalone */
	char ctrl[108];            /* swtpm control socket */
	uint8_t vtpm_uuid[16];
	uint8_t domain_uuid[16];   /* from --domain-uuid; all zero when not given */
	char backend[128];         /* Xen mode: the vTPM backend directory */
};

/* Xen mode: the vTPM's UUID, control socket and backend directory from the
 * backend nodes of inst->domid (CONTRACT.md); the domain UUID is the caller's.
 * Waits until the hotplug script started the instance or failed, or
 * timeout_ms passed (<= 0: one look). */
int xen_find_instance(struct vtpm_instance *inst, int timeout_ms, struct mig_err *e) MIG_MUST;
/* Refuse unless libxenctrl says domid is paused or shut down for suspend. */
int xen_check_quiesced(int domid, struct mig_err *e) MIG_MUST;
/* Write instance and hotplug-status once the TPM runs, so the backend connects. */
int xen_publish_instance(const struct vtpm_instance *inst, struct mig_err *e) MIG_MUST;

#endif
