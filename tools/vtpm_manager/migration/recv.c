/*
 * The destination side. Order matters: every check of the record comes
 * first, then the generation is stored durably, and only then is anything
 * pushed into the TPM. A failure anywhere leaves the TPM not started.
 */
#include <stdlib.h>
#include <string.h>

#include "fault.h"
#include "hostkey.h"
#include "io.h"
#include "ledger.h"
#include "migrate.h"
#include "seal.h"
#include "swtpm_ctrl.h"

int mig_read_record(int fd, uint8_t **rec, size_t *len, struct vm_err *e)
{
	uint8_t hdr[VREC_HDR_LEN], *buf;
	struct vrec_header h;
	size_t body;

	*rec = NULL;
	if (mig_read_start(fd, hdr, VREC_PREFIX_LEN, e) ||
	    vrec_prefix_check(hdr, VREC_PREFIX_LEN, e) ||
	    io_read_full(fd, hdr + VREC_PREFIX_LEN, VREC_HDR_LEN - VREC_PREFIX_LEN, -1,
			 "migration stream", e) ||
	    vrec_header_decode(hdr, sizeof(hdr), &h, e))
		return -1;
	fault_point("recv-mid-read");
	body = vrec_body_len(&h); /* bounded by vrec_header_decode */
	buf = malloc(VREC_HDR_LEN + body);
	if (!buf)
		return vm_fail(e, "out of memory for a %zu-byte record", VREC_HDR_LEN + body);
	memcpy(buf, hdr, VREC_HDR_LEN);
	if (io_read_full(fd, buf + VREC_HDR_LEN, body, -1, "migration stream", e)) {
		free(buf);
		return -1;
	}
	*rec = buf;
	*len = VREC_HDR_LEN + body;
	return 0;
}

static int open_checked(const char *dir, const struct host_key *me, const uint8_t *rec,
			size_t len, struct vrec_header *h, struct swtpm_state *st,
			struct vm_err *e)
{
	struct peer_set peers;
	int r;

	if (peers_load(dir, &peers, e))
		return -1;
	r = vrec_open(me, &peers, rec, len, h, NULL, st, e);
	peers_free(&peers);
	return r;
}

int mig_recv(const char *dir, struct vtpm_instance *inst, int fd, int allow_rollback,
	     struct mig_report *rep, struct vm_err *e)
{
	struct host_key me;
	struct swtpm_ctrl ctrl;
	struct swtpm_state st;
	struct vrec_header h;
	struct ledger led;
	enum tpm_version dest_ver;
	uint8_t *rec = NULL;
	size_t len = 0;
	int64_t t0 = io_now_us();
	int running, r = -1;

	memset(rep, 0, sizeof(*rep));
	memset(&st, 0, sizeof(st));
	if (hostkey_load(dir, &me, e))
		return vm_wrap(e, "recv: ");
	if (mig_resolve(inst, 1, e) || swtpm_ctrl_init(&ctrl, inst->ctrl, e))
		goto out;
	if (mig_read_record(fd, &rec, &len, e) ||
	    open_checked(dir, &me, rec, len, &h, &st, e))
		goto out;
	if (swtpm_get_version(&ctrl, &dest_ver, e) ||
	    vrec_check_binding(&h, inst->domain_uuid, inst->vtpm_uuid, dest_ver, e))
		goto out;
	running = swtpm_is_running(&ctrl, e);
	if (running < 0)
		goto out;
	if (running) {
		vm_fail(e, "destination TPM %s is already running; it must wait for state", ctrl.path);
		goto out;
	}
	if (ledger_open(&led, dir, e))
		goto out;
	r = ledger_accept(&led, h.vtpm_uuid, h.generation, allow_rollback, e);
	ledger_close(&led);
	if (r) {
		r = -1;
		goto out;
	}
	r = -1;
	fault_point("recv-after-ledger");
	/* The version was checked against the record above. */
	if (swtpm_push_blobs(&ctrl, &st, e))
		goto out;
	fault_point("recv-after-init");
	if (inst->domid >= 0 && xen_publish_instance(inst, e)) {
		struct vm_err ignore;

		/* Unpublished means unusable: do not leave it running. */
		if (swtpm_stop(&ctrl, &ignore)) {
			/* already reported: the publish failure is the cause */
		}
		goto out;
	}
	mig_report_fill(rep, &h, len);
	r = 0;
out:
	rep->usec_total = io_now_us() - t0;
	free(rec);
	swtpm_state_clear(&st);
	hostkey_wipe(&me);
	return r ? vm_wrap(e, "recv: ") : 0;
}
