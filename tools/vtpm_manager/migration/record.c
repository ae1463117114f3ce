/* SPDX-License-Identifier: BSD-3-Clause */
/* Encode and decode the vTPM record's clear header. Field offsets are fixed;
 * the table in docs/misc/vtpm-migration-record.txt is the same one. */
#include <string.h>

#include "io.h"
#include "record.h"
#include "util.h"

enum {
	OFF_MARKER = 0,
	OFF_VERSION = 8,
	OFF_HDRLEN = 12,
	OFF_SUITE = 16,
	OFF_TPMVER = 18,
	OFF_FLAGS = 19,
	OFF_SENDER = 20,
	OFF_RECIPIENT = 36,
	OFF_DOMUUID = 52,
	OFF_VTPMUUID = 68,
	OFF_GENERATION = 84,
	OFF_TIME = 92,
	OFF_EPHPUB = 100,
	OFF_NONCE = 132,
	OFF_BLOBS = 144,  /* 3 x (type, flags, length) */
	OFF_CTLEN = 180,
	OFF_RESERVED = 184, /* 8 bytes, zero */
	OFF_END = 192,
};

_Static_assert(OFF_END == VREC_HDR_LEN, "header layout");

void vrec_header_encode(const struct vrec_header *h, uint8_t out[VREC_HDR_LEN])
{
	int i;

	memset(out, 0, VREC_HDR_LEN);
	memcpy(out + OFF_MARKER, VREC_MARKER, VREC_MARKER_LEN);
	be32_put(out + OFF_VERSION, h->version);
	be32_put(out + OFF_HDRLEN, VREC_HDR_LEN);
	be16_put(out + OFF_SUITE, h->suite);
	out[OFF_TPMVER] = h->tpm_version;
	out[OFF_FLAGS] = h->flags;
	memcpy(out + OFF_SENDER, h->sender_id, VREC_KEYID_LEN);
	memcpy(out + OFF_RECIPIENT, h->recipient_id, VREC_KEYID_LEN);
	memcpy(out + OFF_DOMUUID, h->domain_uuid, 16);
	memcpy(out + OFF_VTPMUUID, h->vtpm_uuid, 16);
	be64_put(out + OFF_GENERATION, h->generation);
	be64_put(out + OFF_TIME, h->time);
	memcpy(out + OFF_EPHPUB, h->eph_pub, 32);
	memcpy(out + OFF_NONCE, h->nonce, VREC_NONCE_LEN);
	for (i = 0; i < VREC_NBLOBS; i++) {
		be32_put(out + OFF_BLOBS + 12 * i, h->blob[i].type);
		be32_put(out + OFF_BLOBS + 12 * i + 4, h->blob[i].flags);
		be32_put(out + OFF_BLOBS + 12 * i + 8, h->blob[i].len);
	}
	be32_put(out + OFF_CTLEN, h->ct_len);
}

int vrec_prefix_check(const uint8_t *p, size_t len, struct mig_err *e)
{
	uint32_t v, hl;

	if (len < VREC_PREFIX_LEN)
		return mig_failc(e, MIG_E_FORGED, "record truncated at byte %zu of its %d-byte prefix", len,
			       VREC_PREFIX_LEN);
	if (memcmp(p + OFF_MARKER, VREC_MARKER, VREC_MARKER_LEN))
		return mig_failc(e, MIG_E_FORGED, "not a vTPM record (bad marker at byte 0)");
	if ((v = be32_get(p + OFF_VERSION)) != VREC_VERSION)
		return mig_failc(e, MIG_E_FORGED, "record format version %u is not supported (this host knows %u)",
			       v, VREC_VERSION);
	if ((hl = be32_get(p + OFF_HDRLEN)) != VREC_HDR_LEN)
		return mig_failc(e, MIG_E_FORGED, "record header length %u, expected %u", hl, VREC_HDR_LEN);
	return 0;
}

size_t vrec_plain_len(const struct vrec_header *h)
{
	size_t n = 0;
	int i;

	for (i = 0; i < VREC_NBLOBS; i++)
		n += h->blob[i].len;
	return n;
}

size_t vrec_body_len(const struct vrec_header *h)
{
	return (size_t)h->ct_len + VREC_SIG_LEN;
}

static int check_fields(const struct vrec_header *h, const uint8_t *reserved,
			struct mig_err *e)
{
	uint64_t plain = 0;
	int i;

	if (h->suite != VREC_SUITE_X25519_HKDF_SHA256_AES256GCM_ED25519)
		return mig_failc(e, MIG_E_FORGED, "record cipher suite %u is not supported", h->suite);
	if (h->tpm_version != TPM_VERSION_12 && h->tpm_version != TPM_VERSION_20)
		return mig_failc(e, MIG_E_FORGED, "record names unknown TPM version %u", h->tpm_version);
	if (h->flags & ~VREC_FLAGS_KNOWN)
		return mig_failc(e, MIG_E_FORGED, "record has unknown flags 0x%02x", h->flags);
	if (memcmp(reserved, "\0\0\0\0\0\0\0\0", 8))
		return mig_failc(e, MIG_E_FORGED, "record reserved bytes are not zero");
	if (h->generation == 0)
		return mig_failc(e, MIG_E_FORGED, "record generation is 0");
	for (i = 0; i < VREC_NBLOBS; i++) {
		if (h->blob[i].type != (uint32_t)i + 1)
			return mig_failc(e, MIG_E_FORGED, "record blob slot %d has type %u, expected %d", i,
				       h->blob[i].type, i + 1);
		if (h->blob[i].flags & ~VREC_BLOB_FLAGS_KNOWN)
			return mig_failc(e, MIG_E_FORGED, "record %s blob has unknown flags 0x%x",
				       tpm_blob_name(h->blob[i].type), h->blob[i].flags);
		if (h->blob[i].len > VREC_MAX_LEN)
			return mig_failc(e, MIG_E_FORGED, "record %s blob length %u is over the limit",
				       tpm_blob_name(h->blob[i].type), h->blob[i].len);
		plain += h->blob[i].len;
	}
	if (h->blob[0].len == 0)
		return mig_failc(e, MIG_E_FORGED, "record has no permanent state");
	if (plain + VREC_TAG_LEN != h->ct_len)
		return mig_failc(e, MIG_E_FORGED, "record ciphertext length %u does not match its blob lengths (%llu)",
			       h->ct_len, (unsigned long long)plain);
	if ((uint64_t)VREC_HDR_LEN + h->ct_len + VREC_SIG_LEN > VREC_MAX_LEN)
		return mig_failc(e, MIG_E_FORGED, "record of %llu bytes is over the %u-byte limit",
			       (unsigned long long)VREC_HDR_LEN + h->ct_len + VREC_SIG_LEN,
			       VREC_MAX_LEN);
	return 0;
}

int vrec_header_decode(const uint8_t *p, size_t len, struct vrec_header *h,
		       struct mig_err *e)
{
	int i;

	if (vrec_prefix_check(p, len, e))
		return -1;
	if (len < VREC_HDR_LEN)
		return mig_failc(e, MIG_E_FORGED, "record truncated at byte %zu of its %d-byte header", len,
			       VREC_HDR_LEN);
	memset(h, 0, sizeof(*h));
	h->version = be32_get(p + OFF_VERSION);
	h->suite = be16_get(p + OFF_SUITE);
	h->tpm_version = p[OFF_TPMVER];
	h->flags = p[OFF_FLAGS];
	memcpy(h->sender_id, p + OFF_SENDER, VREC_KEYID_LEN);
	memcpy(h->recipient_id, p + OFF_RECIPIENT, VREC_KEYID_LEN);
	memcpy(h->domain_uuid, p + OFF_DOMUUID, 16);
	memcpy(h->vtpm_uuid, p + OFF_VTPMUUID, 16);
	h->generation = be64_get(p + OFF_GENERATION);
	h->time = be64_get(p + OFF_TIME);
	memcpy(h->eph_pub, p + OFF_EPHPUB, 32);
	memcpy(h->nonce, p + OFF_NONCE, VREC_NONCE_LEN);
	for (i = 0; i < VREC_NBLOBS; i++) {
		h->blob[i].type = be32_get(p + OFF_BLOBS + 12 * i);
		h->blob[i].flags = be32_get(p + OFF_BLOBS + 12 * i + 4);
		h->blob[i].len = be32_get(p + OFF_BLOBS + 12 * i + 8);
	}
	h->ct_len = be32_get(p + OFF_CTLEN);
	return check_fields(h, p + OFF_RESERVED, e);
}

int vrec_split(const uint8_t *rec, size_t len, struct vrec_header *h,
	       const uint8_t **ct, const uint8_t **sig, struct mig_err *e)
{
	size_t want;

	if (vrec_header_decode(rec, len, h, e))
		return -1;
	want = VREC_HDR_LEN + vrec_body_len(h);
	if (len < want)
		return mig_failc(e, MIG_E_FORGED, "record truncated at byte %zu of %zu", len, want);
	if (len > want)
		return mig_failc(e, MIG_E_FORGED, "record has %zu trailing bytes", len - want);
	*ct = rec + VREC_HDR_LEN;
	*sig = rec + VREC_HDR_LEN + h->ct_len;
	return 0;
}

int vrec_check_binding(const struct vrec_header *h, const uint8_t domain_uuid[16],
		       const uint8_t vtpm_uuid[16], enum tpm_version tpm_version, struct mig_err *e)
{
	char a[UUID_STR_LEN], b[UUID_STR_LEN];

	if (memcmp(h->vtpm_uuid, vtpm_uuid, 16)) {
		uuid_format(h->vtpm_uuid, a);
		uuid_format(vtpm_uuid, b);
		return mig_failc(e, MIG_E_BINDING, "record is for vTPM %s, this instance is vTPM %s", a, b);
	}
	if (memcmp(h->domain_uuid, domain_uuid, 16)) {
		uuid_format(h->domain_uuid, a);
		uuid_format(domain_uuid, b);
		return mig_failc(e, MIG_E_BINDING, "record is for domain %s, this is domain %s", a, b);
	}
	if (h->tpm_version != tpm_version)
		return mig_failc(e, MIG_E_TPM_VERSION, "record holds a TPM %s state, this instance is a TPM %s",
			       tpm_version_name(h->tpm_version), tpm_version_name(tpm_version));
	return 0;
}

/* The announcement: marker, version, TPM version, 3 zero bytes, then the
 * fields at fixed offsets (docs/misc/vtpm-migration-record.txt). */
void vann_encode(const struct vann *a, uint8_t out[VANN_SIGNED_LEN])
{
	memset(out, 0, VANN_SIGNED_LEN);
	memcpy(out, VANN_MARKER, VREC_MARKER_LEN);
	be32_put(out + 8, VREC_VERSION);
	out[12] = a->tpm_version;
	memcpy(out + 16, a->sender_id, VREC_KEYID_LEN);
	memcpy(out + 32, a->recipient_id, VREC_KEYID_LEN);
	memcpy(out + 48, a->domain_uuid, 16);
	memcpy(out + 64, a->vtpm_uuid, 16);
	be64_put(out + 80, a->generation);
	be64_put(out + 88, a->time);
}

int vann_decode(const uint8_t *p, size_t len, struct vann *a, struct mig_err *e)
{
	if (len != VANN_LEN || memcmp(p, VANN_MARKER, VREC_MARKER_LEN))
		return mig_failc(e, MIG_E_FORGED, "not a vTPM record announcement");
	if (be32_get(p + 8) != VREC_VERSION || p[13] || p[14] || p[15])
		return mig_failc(e, MIG_E_FORGED, "announcement version %u is not supported",
				 be32_get(p + 8));
	memset(a, 0, sizeof(*a));
	a->tpm_version = p[12];
	memcpy(a->sender_id, p + 16, VREC_KEYID_LEN);
	memcpy(a->recipient_id, p + 32, VREC_KEYID_LEN);
	memcpy(a->domain_uuid, p + 48, 16);
	memcpy(a->vtpm_uuid, p + 64, 16);
	a->generation = be64_get(p + 80);
	a->time = be64_get(p + 88);
	if (a->tpm_version != TPM_VERSION_12 && a->tpm_version != TPM_VERSION_20)
		return mig_failc(e, MIG_E_FORGED, "announcement names unknown TPM version %u",
				 a->tpm_version);
	if (!a->generation)
		return mig_failc(e, MIG_E_FORGED, "announcement generation is 0");
	return 0;
}
