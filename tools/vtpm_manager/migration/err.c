#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

void mig_set(struct mig_err *e, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

void mig_prefix(struct mig_err *e, const char *fmt, ...)
{
	char prefix[MIG_ERR_MAX], old[MIG_ERR_MAX];
	va_list ap;
	size_t n;

	if (!e)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	/* Truncation keeps the prefix and as much of the cause as fits. */
	n = strnlen(prefix, sizeof(e->msg) - 1);
	memcpy(e->msg, prefix, n);
	memcpy(e->msg + n, old, sizeof(e->msg) - 1 - n);
	e->msg[sizeof(e->msg) - 1] = '\0';
}

void mig_print_line(FILE *f, const char *prefix, const char *msg)
{
	const unsigned char *p;

	fputs(prefix, f);
	for (p = (const unsigned char *)msg; *p; p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '\\')
			fputc(*p, f);
		else
			fprintf(f, "\\x%02x", *p);
	}
	fputc('\n', f);
}
