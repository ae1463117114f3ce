/* SPDX-License-Identifier: BSD-3-Clause */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

void hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static int nibble(char c)
{
	const char *digits = "0123456789abcdef", *p = c ? strchr(digits, tolower((unsigned char)c)) : NULL;

	return p ? (int)(p - digits) : -1;
}

int hex_decode(const char *in, uint8_t *out, size_t len)
{
	size_t i;
	int hi, lo;

	if (strlen(in) != 2 * len)
		return -1;
	for (i = 0; i < len; i++) {
		hi = nibble(in[2 * i]);
		lo = nibble(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int uuid_parse(const char *s, uint8_t out[16])
{
	char hex[33];
	size_t i, j = 0;

	if (strlen(s) != 36)
		return -1;
	for (i = 0; i < 36; i++) { /* a dash exactly where a UUID has one */
		if ((i == 8 || i == 13 || i == 18 || i == 23) != (s[i] == '-'))
			return -1;
		if (s[i] != '-')
			hex[j++] = s[i];
	}
	hex[32] = '\0';
	return hex_decode(hex, out, 16);
}

void uuid_format(const uint8_t u[16], char out[UUID_STR_LEN])
{
	char h[33];

	hex_encode(u, 16, h);
	snprintf(out, UUID_STR_LEN, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}
