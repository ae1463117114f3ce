/*
 * Seal and open a vTPM record (OpenSSL 3 EVP only).
 *
 * Seal: a fresh X25519 key pair, agreement with the recipient's static X25519
 * key, HKDF-SHA256 over the shared secret with the whole clear header as
 * info, AES-256-GCM over the blobs with the header as AAD, and an Ed25519
 * signature by this host over header and ciphertext.
 *
 * Open checks, before decrypting anything: layout, lengths, version and
 * suite; recipient is this host; sender is trusted; signature. Then the tag.
 * The caller checks the binding (vrec_check_binding) and the generation.
 */
#ifndef VTPM_MIG_SEAL_H
#define VTPM_MIG_SEAL_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "hostkey.h"
#include "record.h"
#include "swtpm_ctrl.h"

/*
 * h: the caller fills tpm_version, flags, domain_uuid, vtpm_uuid, generation
 * and time; seal fills the rest. On success *rec (malloc'd) holds the record.
 */
int vrec_seal(const struct host_key *me, const struct host_pub *to, struct vrec_header *h,
	      const struct swtpm_state *st, uint8_t **rec, size_t *len, struct mig_err *e) MIG_MUST;

/*
 * Open a whole record. trusted: the peers this host accepts (this host itself
 * is always accepted). On success h and st are filled; st's blobs must be
 * cleared with swtpm_state_clear(). The code of a failure says why
 * (MIG_E_FORGED, MIG_E_RECIPIENT, MIG_E_UNTRUSTED).
 */
int vrec_open(const struct host_key *me, const struct peer_set *trusted, const uint8_t *rec,
	      size_t len, struct vrec_header *h, struct swtpm_state *st,
	      struct mig_err *e) MIG_MUST;

/* Sign an announcement of the record about to be written (VANN_LEN bytes). */
int vann_sign(const struct host_key *me, const struct vann *a, uint8_t out[VANN_LEN],
	      struct mig_err *e) MIG_MUST;
/* Decode an announcement and check it as vrec_open checks a record: for
 * this host, from a trusted sender (or this host), signed by it. */
int vann_verify(const struct host_key *me, const struct peer_set *trusted, const uint8_t *p,
		size_t len, struct vann *a, struct mig_err *e) MIG_MUST;

#endif
