/*
 * The clear header and the framing of a record, as read from the stream
 * before any key is used: vrec_prefix_check, vrec_header_decode, vrec_split.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "record.h"

/* A header that decodes is one the sender could have written. */
static void check_header(const uint8_t *data, const struct vrec_header *h)
{
	uint8_t again[VREC_HDR_LEN];
	uint64_t plain = 0;
	int i;

	FUZZ_ASSERT(h->version == VREC_VERSION);
	FUZZ_ASSERT(h->suite == VREC_SUITE_X25519_HKDF_SHA256_AES256GCM_ED25519);
	FUZZ_ASSERT(h->tpm_version == TPM_VERSION_12 || h->tpm_version == TPM_VERSION_20);
	FUZZ_ASSERT(!(h->flags & ~VREC_FLAGS_KNOWN));
	FUZZ_ASSERT(h->generation != 0);
	for (i = 0; i < VREC_NBLOBS; i++) {
		FUZZ_ASSERT(h->blob[i].type == (uint32_t)i + 1);
		FUZZ_ASSERT(!(h->blob[i].flags & ~VREC_BLOB_FLAGS_KNOWN));
		FUZZ_ASSERT(h->blob[i].len <= VREC_MAX_LEN);
		plain += h->blob[i].len;
	}
	FUZZ_ASSERT(h->blob[0].len > 0);
	FUZZ_ASSERT(plain == vrec_plain_len(h));
	FUZZ_ASSERT(plain + VREC_TAG_LEN == h->ct_len);
	FUZZ_ASSERT(vrec_body_len(h) == (size_t)h->ct_len + VREC_SIG_LEN);
	FUZZ_ASSERT(vrec_body_len(h) <= VREC_MAX_LEN - VREC_HDR_LEN);
	/* Every byte is a known field or zero: encoding gives the input back. */
	vrec_header_encode(h, again);
	FUZZ_ASSERT(!memcmp(again, data, VREC_HDR_LEN));
	/* A header always binds to its own instance. */
	FUZZ_ASSERT(vrec_check_binding(h, h->domain_uuid, h->vtpm_uuid, h->tpm_version,
				       NULL) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vrec_header h, hs;
	struct mig_err e = { "", 0 }, es = { "", 0 }, ep = { "", 0 };
	const uint8_t *ct = NULL, *sig = NULL;
	int prefix_ok, dec_ok, split_ok;

	prefix_ok = vrec_prefix_check(data, size, &ep) == 0;
	if (!prefix_ok)
		fuzz_check_refusal(&ep);

	dec_ok = vrec_header_decode(data, size, &h, &e) == 0;
	if (dec_ok) {
		FUZZ_ASSERT(prefix_ok);
		FUZZ_ASSERT(size >= VREC_HDR_LEN);
		check_header(data, &h);
	} else {
		fuzz_check_refusal(&e);
	}

	split_ok = vrec_split(data, size, &hs, &ct, &sig, &es) == 0;
	if (split_ok) {
		FUZZ_ASSERT(dec_ok);
		FUZZ_ASSERT(!memcmp(&h, &hs, sizeof(h)));
		FUZZ_ASSERT(size == VREC_HDR_LEN + vrec_body_len(&hs));
		FUZZ_ASSERT(size <= VREC_MAX_LEN);
		FUZZ_ASSERT(ct == data + VREC_HDR_LEN);
		FUZZ_ASSERT(sig == ct + hs.ct_len);
		FUZZ_ASSERT(sig + VREC_SIG_LEN == data + size);
	} else {
		fuzz_check_refusal(&es);
		/* A good header refuses only a wrong total length. */
		FUZZ_ASSERT(!dec_ok || size != VREC_HDR_LEN + vrec_body_len(&h));
	}
	return 0;
}
