/* SPDX-License-Identifier: BSD-3-Clause */
/* A vTPM's state in one vocabulary for swtpm's control channel and the
 * record alike: the TPM version (the record's tpm_version byte holds these
 * values) and the three state blobs (swtpm's blob types; record slot i holds
 * type i + 1). */
#ifndef VTPM_MIG_TPM_H
#define VTPM_MIG_TPM_H

#include <stdint.h>

enum tpm_version { TPM_VERSION_UNKNOWN = 0, TPM_VERSION_12 = 1, TPM_VERSION_20 = 2 };
enum swtpm_blob_type { SWTPM_BLOB_PERMANENT = 1, SWTPM_BLOB_VOLATILE = 2, SWTPM_BLOB_SAVESTATE = 3 };

static inline const char *tpm_version_name(uint32_t v)
{
	static const char *const names[] = { "unknown", "1.2", "2.0" };

	return names[v <= TPM_VERSION_20 ? v : 0];
}

static inline const char *tpm_blob_name(uint32_t type)
{
	static const char *const names[] = { "unknown", "permanent", "volatile", "savestate" };

	return names[type <= SWTPM_BLOB_SAVESTATE ? type : 0];
}

#endif
