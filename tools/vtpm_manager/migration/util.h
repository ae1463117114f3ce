/* SPDX-License-Identifier: BSD-3-Clause */
/* Small pure helpers: hex and UUID text. */
#ifndef VTPM_MIG_UTIL_H
#define VTPM_MIG_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Write 2*len hex digits and a NUL to out. */
void hex_encode(const uint8_t *in, size_t len, char *out);
/* Exactly 2*len hex digits; 0 on success, -1 otherwise. */
int hex_decode(const char *in, uint8_t *out, size_t len);

#define UUID_STR_LEN 37 /* 36 characters and a NUL */
int uuid_parse(const char *s, uint8_t out[16]);
void uuid_format(const uint8_t u[16], char out[UUID_STR_LEN]);

#endif
