/* Shared helpers of the C unit tests (check). */
#ifndef VTPM_MIG_UNIT_H
#define VTPM_MIG_UNIT_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "hostkey.h"
#include "swtpm_ctrl.h"

Suite *record_suite(void);
Suite *seal_suite(void);
Suite *hostkey_suite(void);
Suite *ledger_suite(void);
Suite *ctrl_suite(void);
Suite *cli_suite(void);
Suite *io_suite(void);
Suite *tpmif_suite(void);

/* A fresh private directory, removed by rm_tree. */
char *make_tmpdir(void);
void rm_tree(const char *dir);

/* Deterministic keys: byte pattern `seed` for both private keys. */
void fixed_key(struct host_key *k, const char *name, uint8_t seed);

/* A state with recognisable blobs of the given sizes (0 = absent). */
void fake_state(struct swtpm_state *s, enum tpm_version v, uint32_t perm, uint32_t vol,
		uint32_t save);

/* Does needle occur in hay? */
int mem_contains(const uint8_t *hay, size_t hlen, const uint8_t *needle, size_t nlen);

#endif
