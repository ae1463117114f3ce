/*
 * A xenstore node's value as a guest writes it (any bytes, any length),
 * through xsnode_get and xsnode_get_uint. The input is the value xs_read
 * returns: libxenstore is stood in for below, by the three calls xsnode.c
 * makes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xenstore.h>

#include "fuzz.h"
#include "xsnode.h"

static const uint8_t *value;
static size_t value_len;

void *xs_read(struct xs_handle *h, xs_transaction_t t, const char *path, unsigned int *len)
{
	char *v = malloc(value_len + 1);

	(void)h;
	(void)t;
	(void)path;
	FUZZ_ASSERT(v);
	memcpy(v, value, value_len);
	v[value_len] = '\0'; /* as libxenstore does */
	*len = (unsigned int)value_len;
	return v;
}

bool xs_write(struct xs_handle *h, xs_transaction_t t, const char *path, const void *data,
	      unsigned int len)
{
	(void)h;
	(void)t;
	(void)path;
	(void)data;
	(void)len;
	return false;
}

struct xs_handle *xs_open(unsigned long flags)
{
	(void)flags;
	return NULL;
}

/* The value as a number, or -1 if it is not 1-15 digits (what a node
 * holding a number may be) worth less than 2^32. */
static int64_t decimal(void)
{
	int64_t v = 0;
	size_t i;

	if (!value_len || value_len > 15)
		return -1;
	for (i = 0; i < value_len; i++) {
		if (value[i] < '0' || value[i] > '9')
			return -1;
		v = v * 10 + (value[i] - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t sizes[] = { 1, 2, 16, 128, 4097 };
	char buf[4097];
	struct mig_err e = { "", 0 };
	int64_t want = -1;
	uint32_t got = 0;
	size_t i;
	int r;

	value = data;
	value_len = size;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		r = xsnode_get(NULL, "/local/domain/5/device/vtpm/0", "state", buf, sizes[i], &e);
		if (r == 0) {
			FUZZ_ASSERT(size < sizes[i] && !memchr(data, '\0', size));
			FUZZ_ASSERT(strlen(buf) == size && !memcmp(buf, data, size));
		} else {
			fuzz_check_refusal(&e);
			FUZZ_ASSERT(size >= sizes[i] || memchr(data, '\0', size));
		}
	}
	r = xsnode_get_uint(NULL, "/local/domain/5/device/vtpm/0", "state", &got, &e);
	want = decimal();
	if (r == 0)
		FUZZ_ASSERT(want >= 0 && (int64_t)got == want);
	else
		fuzz_check_refusal(&e);
	/* A plain decimal that fits is taken, leading zeros and all. */
	FUZZ_ASSERT(want < 0 || r == 0);
	return 0;
}
