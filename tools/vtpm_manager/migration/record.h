/* SPDX-License-Identifier: BSD-3-Clause */
/* The vTPM record (clear header, AES-256-GCM ciphertext of the blobs with the
 * tag last, Ed25519 signature over both) and its announcement (the record a
 * sender is about to write, signed): layouts and the checks that need no
 * key. Pure code, no I/O; docs/misc/vtpm-migration-record.txt is normative. */
#ifndef VTPM_MIG_RECORD_H
#define VTPM_MIG_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "tpm.h"

#define VREC_MARKER       "XenvTPMr"
#define VREC_MARKER_LEN   8
#define VREC_VERSION      1u
#define VREC_PREFIX_LEN   16   /* marker, version, header length */
#define VREC_HDR_LEN      192
#define VREC_TAG_LEN      16
#define VREC_SIG_LEN      64
#define VREC_KEYID_LEN    16
#define VREC_NONCE_LEN    12
#define VREC_NBLOBS       3
#define VREC_MAX_LEN      (1024u * 1024u) /* a whole record */

#define VREC_SUITE_X25519_HKDF_SHA256_AES256GCM_ED25519 1

#define VREC_FLAG_TO_SELF   0x01 /* sealed to the sending host itself */
#define VREC_FLAGS_KNOWN    VREC_FLAG_TO_SELF

#define VREC_BLOB_FLAGS_KNOWN 0x3 /* swtpm's DECRYPTED | ENCRYPTED */

struct vrec_blob_desc {
	uint32_t type;   /* enum swtpm_blob_type: slot i holds type i+1 */
	uint32_t flags;  /* swtpm's state flags */
	uint32_t len;    /* plaintext length; 0 = absent */
};

struct vrec_header {
	uint32_t version;
	uint16_t suite;
	uint8_t tpm_version;     /* enum tpm_version */
	uint8_t flags;
	uint8_t sender_id[VREC_KEYID_LEN];
	uint8_t recipient_id[VREC_KEYID_LEN];
	uint8_t domain_uuid[16];
	uint8_t vtpm_uuid[16];
	uint64_t generation;
	uint64_t time;
	uint8_t eph_pub[32];
	uint8_t nonce[VREC_NONCE_LEN];
	struct vrec_blob_desc blob[VREC_NBLOBS];
	uint32_t ct_len;
};

void vrec_header_encode(const struct vrec_header *h, uint8_t out[VREC_HDR_LEN]);
/* The first VREC_PREFIX_LEN bytes: marker, version, header length. */
int vrec_prefix_check(const uint8_t *p, size_t len, struct mig_err *e) MIG_MUST;
/* Every field known, every length consistent and under the limits. */
int vrec_header_decode(const uint8_t *p, size_t len, struct vrec_header *h,
		       struct mig_err *e) MIG_MUST;

/* What follows the header (ciphertext and signature); the blobs' total. */
size_t vrec_body_len(const struct vrec_header *h);
size_t vrec_plain_len(const struct vrec_header *h);

/* Split a whole in-memory record of exactly the right length. */
int vrec_split(const uint8_t *rec, size_t len, struct vrec_header *h,
	       const uint8_t **ct, const uint8_t **sig, struct mig_err *e) MIG_MUST;

/* The record is for this vTPM, this domain and a TPM of this version. */
int vrec_check_binding(const struct vrec_header *h, const uint8_t domain_uuid[16],
		       const uint8_t vtpm_uuid[16], enum tpm_version tpm_version,
		       struct mig_err *e) MIG_MUST;

#define VANN_MARKER       "XenvTPMa"
#define VANN_SIGNED_LEN   96
#define VANN_LEN          (VANN_SIGNED_LEN + VREC_SIG_LEN)

/* An announcement: what the destination may accept before the record comes. */
struct vann {
	uint8_t tpm_version;
	uint8_t sender_id[VREC_KEYID_LEN];
	uint8_t recipient_id[VREC_KEYID_LEN];
	uint8_t domain_uuid[16];
	uint8_t vtpm_uuid[16];
	uint64_t generation;
	uint64_t time;
};

/* The VANN_SIGNED_LEN bytes the signature covers, and back (len VANN_LEN). */
void vann_encode(const struct vann *a, uint8_t out[VANN_SIGNED_LEN]);
int vann_decode(const uint8_t *p, size_t len, struct vann *a, struct mig_err *e) MIG_MUST;

#endif
