/* The source side: pull, take a generation, seal, write one record. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "fault.h"
#include "hostkey.h"
#include "io.h"
#include "ledger.h"
#include "migrate.h"
#include "seal.h"
#include "swtpm_ctrl.h"

int mig_resolve(struct vtpm_instance *inst, int domain_uuid, struct vm_err *e)
{
	if (inst->domid < 0)
		return 0;
	return xen_find_instance(inst->domid, inst, domain_uuid, e);
}

void mig_report_fill(struct mig_report *rep, const struct vrec_header *h, size_t len)
{
	rep->generation = h->generation;
	rep->record_len = len;
	rep->blob_len = vrec_plain_len(h);
}

/* The recipient: this host for "self", else a trusted peer (R3). */
static int find_recipient(const char *dir, const char *to, const struct host_key *me,
			  struct host_pub *out, struct vm_err *e)
{
	const struct host_pub *p;
	struct peer_set peers;

	if (!strcmp(to, "self") || !strcmp(to, me->pub.name)) {
		*out = me->pub;
		return 0;
	}
	if (peers_load(dir, &peers, e))
		return -1;
	p = peers_find_name(&peers, to);
	if (p)
		*out = *p;
	peers_free(&peers);
	if (!p)
		return vm_fail(e, "destination '%s' is not a trusted peer (run 'vtpm_migrate trust' with its public key)",
			       to);
	return 0;
}

int mig_send(const char *dir, const char *to, struct vtpm_instance *inst, int fd,
	     struct mig_report *rep, struct vm_err *e)
{
	struct host_key me;
	struct host_pub dest;
	struct swtpm_ctrl ctrl;
	struct swtpm_state st;
	struct vrec_header h;
	struct ledger led;
	uint8_t *rec = NULL;
	size_t len = 0;
	int64_t t0 = io_now_us();
	int r = -1;

	memset(rep, 0, sizeof(*rep));
	memset(&st, 0, sizeof(st));
	if (hostkey_load(dir, &me, e))
		return vm_wrap(e, "send: ");
	if (find_recipient(dir, to, &me, &dest, e))
		goto out;
	if (mig_resolve(inst, 1, e))
		goto out;
	if (inst->domid >= 0 && xen_check_quiesced(inst->domid, e))
		goto out;
	fault_point("send-before-pull");
	if (swtpm_ctrl_init(&ctrl, inst->ctrl, e) || swtpm_pull_state(&ctrl, &st, e))
		goto out;
	fault_point("send-after-pull");

	memset(&h, 0, sizeof(h));
	h.tpm_version = st.version;
	h.flags = !memcmp(dest.id, me.pub.id, VREC_KEYID_LEN) ? VREC_FLAG_TO_SELF : 0;
	memcpy(h.domain_uuid, inst->domain_uuid, 16);
	memcpy(h.vtpm_uuid, inst->vtpm_uuid, 16);
	h.time = (uint64_t)time(NULL);
	if (ledger_open(&led, dir, e))
		goto out;
	r = ledger_take_send(&led, inst->vtpm_uuid, &h.generation, e);
	ledger_close(&led);
	if (r)
		goto out;
	r = -1;
	fault_point("send-after-ledger");
	if (vrec_seal(&me, &dest, &h, &st, &rec, &len, e))
		goto out;
	if (fault_on("send-mid-write")) {
		if (io_write_full(fd, rec, len / 2, -1, "migration stream", e) == 0)
			fault_die();
	}
	if (io_write_full(fd, rec, len, -1, "migration stream", e))
		goto out;
	mig_report_fill(rep, &h, len);
	r = 0;
out:
	rep->usec_total = io_now_us() - t0;
	free(rec);
	swtpm_state_clear(&st);
	hostkey_wipe(&me);
	return r ? vm_wrap(e, "send: ") : 0;
}
