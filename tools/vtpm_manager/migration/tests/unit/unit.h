/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared helpers of the C unit tests (check). */
#ifndef VTPM_MIG_UNIT_H
#define VTPM_MIG_UNIT_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "swtpm_ctrl.h"

/* Weak: main.c runs the suites that are linked in (see there). */
#define UNIT_SUITE(name) Suite *name(void) __attribute__((weak))
UNIT_SUITE(record_suite);
UNIT_SUITE(seal_suite);
UNIT_SUITE(hostkey_suite);
UNIT_SUITE(ledger_suite);
UNIT_SUITE(ctrl_suite);
UNIT_SUITE(cli_suite);
UNIT_SUITE(io_suite);
UNIT_SUITE(tpmif_suite);

/* A fresh private directory, removed by rm_tree. */
char *make_tmpdir(void);
void rm_tree(const char *dir);

/* Deterministic keys: byte pattern `seed` for both private keys.  A macro
 * for the files that include hostkey.h, so that main.c builds without it. */
#define fixed_key(k, who, seed)                                                \
	do {                                                                   \
		struct host_key *key_ = (k);                                   \
		memset(key_, 0, sizeof(*key_));                                \
		strcpy(key_->pub.name, (who));                                 \
		memset(key_->ed_priv, (seed), 32);                             \
		memset(key_->x_priv, (seed) ^ 0x5a, 32);                       \
		ck_assert_int_eq(hostkey_derive_public(key_, NULL), 0);        \
	} while (0)

/* A state with recognisable blobs of the given sizes (0 = absent). */
void fake_state(struct swtpm_state *s, enum tpm_version v, uint32_t perm, uint32_t vol,
		uint32_t save);

/* Does needle occur in hay? */
int mem_contains(const uint8_t *hay, size_t hlen, const uint8_t *needle, size_t nlen);

#endif
