/* One vTPM instance, named directly (standalone) or found through xenstore. */
#ifndef VTPM_MIG_INSTANCE_H
#define VTPM_MIG_INSTANCE_H

#include <stdint.h>
#include "err.h"

struct vtpm_instance {
	int domid;                 /* -1: standalone */
	char ctrl[108];            /* swtpm control socket */
	uint8_t vtpm_uuid[16];
	uint8_t domain_uuid[16];   /* all zero when not given (standalone) */
	char backend[128];         /* Xen mode: the vTPM backend directory */
};

/* Xen mode: read the backend nodes of domid (CONTRACT.md) into inst, and
 * with domain_uuid also the domain's UUID (the domain must still exist). */
int xen_find_instance(int domid, struct vtpm_instance *inst, int domain_uuid,
		      struct vm_err *e) VM_MUST;
/* Refuse unless libxenctrl says domid is paused or shut down for suspend. */
int xen_check_quiesced(int domid, struct vm_err *e) VM_MUST;
/* Write instance and hotplug-status once the TPM runs, so the backend connects. */
int xen_publish_instance(const struct vtpm_instance *inst, struct vm_err *e) VM_MUST;

#endif
