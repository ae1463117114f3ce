/* SPDX-License-Identifier: BSD-3-Clause */
/* Seal and open a vTPM record (OpenSSL 3 EVP only) as the record spec says
 * ("Sealing", "Checks a receiver makes"): open checks layout, recipient,
 * sender and signature before it decrypts anything. The caller checks the
 * binding (vrec_check_binding) and the generation. */
#ifndef VTPM_MIG_SEAL_H
#define VTPM_MIG_SEAL_H

#include <stddef.h>
#include <stdint.h>
#include "hostkey.h"
#include "swtpm_ctrl.h"

/* The caller fills h's tpm_version, flags, UUIDs, generation and time; seal
 * fills the rest. *rec is malloc'd. */
int vrec_seal(const struct host_key *me, const struct host_pub *to, struct vrec_header *h,
	      const struct swtpm_state *st, uint8_t **rec, size_t *len, struct mig_err *e) MIG_MUST;

/* Open a whole record from this host or a trusted peer; st's blobs are the
 * caller's to clear (swtpm_state_clear). A failure's code says why
 * (MIG_E_FORGED, MIG_E_RECIPIENT, MIG_E_UNTRUSTED). */
int vrec_open(const struct host_key *me, const struct peer_set *trusted, const uint8_t *rec,
	      size_t len, struct vrec_header *h, struct swtpm_state *st,
	      struct mig_err *e) MIG_MUST;

/* An announcement, signed; and checked as vrec_open checks a record. */
int vann_sign(const struct host_key *me, const struct vann *a, uint8_t out[VANN_LEN],
	      struct mig_err *e) MIG_MUST;
int vann_verify(const struct host_key *me, const struct peer_set *trusted, const uint8_t *p,
		size_t len, struct vann *a, struct mig_err *e) MIG_MUST;

#endif
