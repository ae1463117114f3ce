/*
 * An announcement as a relocation client sends it (xend's vtpm_check), decoded
 * and verified with a fixed key set: this host and one trusted peer
 * (fuzz_keys.h). Each input is checked twice: as given (mutations stop at the
 * layout, the parties or the signature), and signed again by the sender it
 * names, so that mutated fields reach every check after the signature.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "fuzz_keys.h"
#include "seal.h"

static struct host_key host, peer;
static struct host_pub trusted_pub;
static struct peer_set trusted = { .peer = &trusted_pub, .n = 1 };

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_keys_init("fuzz_announce", &host, &peer, &trusted_pub);
	return 0;
}

/* What verifies is what a trusted party signed for this host, and encodes
 * back to the bytes it came in. */
static void check(const uint8_t *data, size_t size)
{
	struct mig_err e = { "", 0 };
	uint8_t again[VANN_SIGNED_LEN];
	struct vann a;

	if (vann_verify(&host, &trusted, data, size, &a, &e)) {
		fuzz_check_refusal(&e);
		FUZZ_ASSERT(e.code == MIG_E_FORGED || e.code == MIG_E_RECIPIENT ||
			    e.code == MIG_E_UNTRUSTED);
		return;
	}
	FUZZ_ASSERT(size == VANN_LEN);
	FUZZ_ASSERT(!memcmp(a.recipient_id, host.pub.id, VREC_KEYID_LEN));
	FUZZ_ASSERT(!memcmp(a.sender_id, host.pub.id, VREC_KEYID_LEN) ||
		    !memcmp(a.sender_id, peer.pub.id, VREC_KEYID_LEN));
	FUZZ_ASSERT(a.generation != 0);
	FUZZ_ASSERT(a.tpm_version == TPM_VERSION_12 || a.tpm_version == TPM_VERSION_20);
	vann_encode(&a, again);
	FUZZ_ASSERT(!memcmp(again, data, VANN_SIGNED_LEN));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mig_err e = { "", 0 };
	uint8_t resigned[VANN_LEN];
	const struct host_key *by;
	struct vann a;

	check(data, size);
	if (vann_decode(data, size, &a, &e)) {
		fuzz_check_refusal(&e);
		return 0;
	}
	by = !memcmp(a.sender_id, peer.pub.id, VREC_KEYID_LEN) ? &peer : &host;
	FUZZ_ASSERT(vann_sign(by, &a, resigned, &e) == 0);
	check(resigned, sizeof(resigned));
	return 0;
}
