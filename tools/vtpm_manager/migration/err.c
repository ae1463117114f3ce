/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdarg.h>
#include <string.h>

#include "err.h"

void mig_setc(struct mig_err *e, enum mig_code code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

void mig_prefix(struct mig_err *e, const char *fmt, ...)
{
	char old[MIG_ERR_MAX];
	va_list ap;
	size_t n;

	if (!e)
		return;
	memcpy(old, e->msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	/* Truncation keeps the prefix and as much of the cause as fits. */
	n = strlen(e->msg);
	snprintf(e->msg + n, sizeof(e->msg) - n, "%s", old);
}

void mig_print_line(FILE *f, const char *prefix, const char *msg)
{
	const unsigned char *p;

	fputs(prefix, f);
	for (p = (const unsigned char *)msg; *p; p++)
		fprintf(f, *p >= 0x20 && *p < 0x7f && *p != '\\' ? "%c" : "\\x%02x", *p);
	fputc('\n', f);
}
