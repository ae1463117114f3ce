/* SPDX-License-Identifier: BSD-3-Clause */
/* xenstore nodes as checked values (see xsnode.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xsnode.h"

/* Room for a backend directory and a node name. */
#define XSNODE_PATH_MAX 256

static int node_path(char *path, const char *dir, const char *node, struct mig_err *e)
{
	int n = snprintf(path, XSNODE_PATH_MAX, "%s/%s", dir, node);

	if (n < 0 || n >= XSNODE_PATH_MAX)
		return mig_fail(e, "xenstore: path %s/%s is too long", dir, node);
	return 0;
}

struct xs_handle *xsnode_open(struct mig_err *e)
{
	struct xs_handle *xs = xs_open(0);

	if (!xs)
		mig_set(e, "xenstore: cannot connect to xenstored: %s", strerror(errno));
	return xs;
}

int xsnode_get(struct xs_handle *xs, const char *dir, const char *node, char *buf, size_t size,
	       struct mig_err *e)
{
	char path[XSNODE_PATH_MAX];
	unsigned int len;
	char *v;

	if (node_path(path, dir, node, e))
		return -1;
	v = xs_read(xs, XBT_NULL, path, &len);
	if (!v)
		return mig_fail(e, "xenstore: cannot read %s: %s", path, strerror(errno));
	if (len >= size || memchr(v, '\0', len)) {
		free(v);
		return mig_fail(e, "xenstore: %s is longer than %zu bytes or holds a NUL byte",
			       path, size - 1);
	}
	memcpy(buf, v, len);
	buf[len] = '\0';
	free(v);
	return 0;
}

int xsnode_get_uint(struct xs_handle *xs, const char *dir, const char *node, uint32_t *val,
		    struct mig_err *e)
{
	char buf[16], *end;
	unsigned long v;

	if (xsnode_get(xs, dir, node, buf, sizeof(buf), e))
		return -1;
	errno = 0;
	v = strtoul(buf, &end, 10);
	/* strtoul also takes a sign or leading spaces; a node holds digits only. */
	if (buf[0] < '0' || buf[0] > '9' || errno || *end || v > UINT32_MAX)
		return mig_fail(e, "xenstore: %s/%s is not a number", dir, node);
	*val = (uint32_t)v;
	return 0;
}

int xsnode_put(struct xs_handle *xs, xs_transaction_t t, const char *dir, const char *node,
	       const char *val, struct mig_err *e)
{
	char path[XSNODE_PATH_MAX];

	if (node_path(path, dir, node, e))
		return -1;
	if (!xs_write(xs, t, path, val, (unsigned int)strlen(val)))
		return mig_fail(e, "xenstore: cannot write %s: %s", path, strerror(errno));
	return 0;
}
