/* SPDX-License-Identifier: BSD-3-Clause */
/* The wire format is the "non-CUSE" one of <swtpm/tpm_ioctl.h>: a 4-byte
 * big-endian command code, the request fields, and a reply that starts with a
 * 4-byte result, the only part a refused request is sure to answer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <swtpm/tpm_ioctl.h>

#include "io.h"
#include "swtpm_ctrl.h"

#define TPM_RETRY      0x800 /* GET_STATEBLOB: no such blob */
#define TPM_BAD_STATE  0x0a  /* TPM running (SET) or not running (GET) */

int swtpm_ctrl_init(struct swtpm_ctrl *c, const char *path, struct mig_err *e)
{
	if (!path || !*path)
		return mig_fail(e, "swtpm control socket path is empty");
	if (strlen(path) >= sizeof(c->path))
		return mig_fail(e, "swtpm control socket path too long: %s", path);
	memset(c, 0, sizeof(*c));
	strcpy(c->path, path);
	return 0;
}

static int ctrl_connect(const struct swtpm_ctrl *c, struct mig_err *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return mig_fail(e, "swtpm %s: socket: %s", c->path, strerror(errno));
	memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	mig_setc(e, MIG_E_CONNECT, "swtpm %s: cannot connect: %s", c->path, strerror(errno));
	close(fd);
	return -1;
}

/* Header and data in one sendmsg; whatever the socket did not take goes after. */
static int write_request(int fd, const uint8_t *hdr, size_t hlen, const uint8_t *data,
			 size_t dlen, int timeout_ms, struct mig_err *e)
{
	struct iovec iov[2] = { { (void *)hdr, hlen }, { (void *)data, dlen } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = dlen ? 2 : 1 };
	size_t h, d;
	ssize_t n;

	do
		n = sendmsg(fd, &m, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return mig_fail(e, "swtpm control socket: write: %s", strerror(errno));
	h = (size_t)n < hlen ? (size_t)n : hlen; /* of the header, then of the data */
	d = (size_t)n - h;
	return (h < hlen && io_write_full(fd, hdr + h, hlen - h, timeout_ms,
					  "swtpm control socket", e)) ||
	       (d < dlen && io_write_full(fd, data + d, dlen - d, timeout_ms,
					  "swtpm control socket", e)) ? -1 : 0;
}

/* One request (code + body), and its 4-byte result. With fdp and a result of
 * 0, the connection stays open in *fdp for the rest of the reply. */
static int ctrl_call(const struct swtpm_ctrl *c, uint32_t cmd,
		     const void *body, size_t len, const uint8_t *data, size_t dlen,
		     uint32_t *result, int *fdp, struct mig_err *e)
{
	/* INIT runs a TPM 1.2's self-test: it gets its own, longer deadline. */
	int timeout = cmd == CMD_INIT ? SWTPM_CTRL_INIT_TIMEOUT_MS : SWTPM_CTRL_TIMEOUT_MS;
	uint8_t msg[64], res[4];
	int fd;

	/* swtpm takes a request from a single read: code and fields must
	 * arrive in one message, so they are written together. */
	if (len > sizeof(msg) - 4)
		return mig_fail(e, "swtpm request too long");
	be32_put(msg, cmd);
	if (len)
		memcpy(msg + 4, body, len);
	if ((fd = ctrl_connect(c, e)) < 0)
		return -1;
	if (write_request(fd, msg, 4 + len, data, dlen, timeout, e) ||
	    io_read_full(fd, res, 4, timeout, "swtpm control socket", e)) {
		close(fd);
		return mig_wrap(e, "swtpm %s: command 0x%02x: ", c->path, cmd);
	}
	*result = be32_get(res);
	if (fdp && !*result)
		*fdp = fd;
	else
		close(fd);
	return 0;
}

static int ctrl_simple(const struct swtpm_ctrl *c, uint32_t cmd, const void *body,
		       size_t len, const char *name, struct mig_err *e)
{
	uint32_t r;

	if (ctrl_call(c, cmd, body, len, NULL, 0, &r, NULL, e))
		return -1;
	return r ? mig_fail(e, "swtpm %s: %s refused (TPM result 0x%x)", c->path, name, r) : 0;
}

/* The rest of a reply on fd: len bytes into buf; fd is closed on failure. */
static int reply(int fd, void *buf, size_t len, const struct swtpm_ctrl *c, const char *what,
		 struct mig_err *e)
{
	if (io_read_full(fd, buf, len, SWTPM_CTRL_TIMEOUT_MS, "swtpm control socket", e) == 0)
		return 0;
	close(fd);
	return mig_wrap(e, "swtpm %s: %s: ", c->path, what);
}

int swtpm_get_version(const struct swtpm_ctrl *c, enum tpm_version *v, struct mig_err *e)
{
	uint8_t req[16] = { 0 }, head[8];
	char buf[512];
	uint32_t r, len;
	int fd;

	be64_put(req, SWTPM_INFO_TPMSPECIFICATION);
	if (ctrl_call(c, CMD_GET_INFO, req, sizeof(req), NULL, 0, &r, &fd, e))
		return -1;
	if (r)
		return mig_fail(e, "swtpm %s: GET_INFO refused (TPM result 0x%x)", c->path, r);
	if (reply(fd, head, 8, c, "GET_INFO", e))
		return -1;
	/* The family comes first: what does not fit is not needed. */
	len = be32_get(head + 4) < sizeof(buf) ? be32_get(head + 4) : sizeof(buf) - 1;
	if (reply(fd, buf, len, c, "GET_INFO", e))
		return -1;
	close(fd);
	buf[len] = '\0';
	/* The JSON's "family" names the TPM version. */
	*v = strstr(buf, "\"family\":\"2.0\"") ? TPM_VERSION_20 :
	     strstr(buf, "\"family\":\"1.2\"") ? TPM_VERSION_12 : TPM_VERSION_UNKNOWN;
	return *v ? 0 : mig_fail(e, "swtpm %s: GET_INFO names no TPM family I know", c->path);
}

int swtpm_is_running(const struct swtpm_ctrl *c, struct mig_err *e)
{
	uint32_t r;

	/* GET_TPMESTABLISHED succeeds only once the TPM is initialised. */
	if (ctrl_call(c, CMD_GET_TPMESTABLISHED, NULL, 0, NULL, 0, &r, NULL, e))
		return -1;
	if (r == 0)
		return 1;
	if (r == TPM_BAD_STATE)
		return 0;
	return mig_fail(e, "swtpm %s: GET_TPMESTABLISHED answered 0x%x", c->path, r);
}

int swtpm_get_blob(const struct swtpm_ctrl *c, uint32_t type, struct swtpm_blob *b,
		   struct mig_err *e)
{
	const char *name = tpm_blob_name(type);
	uint8_t req[12] = { 0 }, head[12];
	uint32_t r, tot;
	int fd;

	memset(b, 0, sizeof(*b));
	b->type = type;
	be32_put(req, PTM_STATE_FLAG_DECRYPTED);
	be32_put(req + 4, type);
	if (ctrl_call(c, CMD_GET_STATEBLOB, req, sizeof(req), NULL, 0, &r, &fd, e))
		return -1;
	if (r == TPM_RETRY) /* no such blob */
		return 0;
	if (r == TPM_BAD_STATE)
		return mig_fail(e, "swtpm %s: cannot pull %s state: TPM is not running", c->path, name);
	if (r)
		return mig_fail(e, "swtpm %s: pulling %s state refused (TPM result 0x%x)", c->path,
				name, r);
	if (reply(fd, head, sizeof(head), c, name, e))
		return -1;
	b->flags = be32_get(head);
	tot = be32_get(head + 4);
	b->len = be32_get(head + 8);
	if (b->len > SWTPM_BLOB_MAX || tot != b->len || (b->len && !(b->data = malloc(b->len)))) {
		close(fd);
		mig_fail(e, "swtpm %s: %s state of %u bytes (total %u) is over the %u-byte limit, chunked, or out of memory",
			 c->path, name, b->len, tot, SWTPM_BLOB_MAX);
		b->len = 0;
		return -1;
	}
	if (b->len && reply(fd, b->data, b->len, c, name, e)) {
		swtpm_blob_clear(b);
		return -1;
	}
	close(fd);
	return 0;
}

int swtpm_set_blob(const struct swtpm_ctrl *c, const struct swtpm_blob *b, struct mig_err *e)
{
	uint8_t req[12];
	uint32_t r;

	be32_put(req, b->flags & PTM_STATE_FLAG_ENCRYPTED);
	be32_put(req + 4, b->type);
	be32_put(req + 8, b->len);
	if (ctrl_call(c, CMD_SET_STATEBLOB, req, sizeof(req), b->data, b->len, &r, NULL, e))
		return -1;
	if (r == TPM_BAD_STATE)
		return mig_failc(e, MIG_E_NOT_WAITING, "swtpm %s: pushing %s state refused: TPM is already running",
			       c->path, tpm_blob_name(b->type));
	if (r)
		return mig_fail(e, "swtpm %s: pushing %s state refused (TPM result 0x%x)",
			       c->path, tpm_blob_name(b->type), r);
	return 0;
}

int swtpm_init(const struct swtpm_ctrl *c, uint32_t init_flags, struct mig_err *e)
{
	uint8_t req[4];

	be32_put(req, init_flags);
	return ctrl_simple(c, CMD_INIT, req, sizeof(req), "INIT", e);
}

int swtpm_stop(const struct swtpm_ctrl *c, struct mig_err *e)
{
	return ctrl_simple(c, CMD_STOP, NULL, 0, "STOP", e);
}

int swtpm_store_volatile(const struct swtpm_ctrl *c, struct mig_err *e)
{
	return ctrl_simple(c, CMD_STORE_VOLATILE, NULL, 0, "STORE_VOLATILE", e);
}

int swtpm_shutdown(const struct swtpm_ctrl *c, struct mig_err *e)
{
	return ctrl_simple(c, CMD_SHUTDOWN, NULL, 0, "SHUTDOWN", e);
}

int swtpm_set_locality(const struct swtpm_ctrl *c, uint8_t locality, struct mig_err *e)
{
	return ctrl_simple(c, CMD_SET_LOCALITY, &locality, 1, "SET_LOCALITY", e);
}

int swtpm_cancel_cmd(const struct swtpm_ctrl *c, struct mig_err *e)
{
	return ctrl_simple(c, CMD_CANCEL_TPM_CMD, NULL, 0, "CANCEL_TPM_CMD", e);
}

int swtpm_pull_state(const struct swtpm_ctrl *c, struct swtpm_state *s, struct mig_err *e)
{
	int i;

	memset(s, 0, sizeof(*s));
	if (swtpm_get_version(c, &s->version, e))
		return -1;
	for (i = 0; i < 3; i++) /* slot i holds type i + 1 (tpm.h) */
		if (swtpm_get_blob(c, (uint32_t)i + 1, &s->blob[i], e))
			break;
	if (i == 3 && s->blob[0].len)
		return 0;
	if (i == 3)
		mig_fail(e, "swtpm %s: the TPM has no permanent state", c->path);
	swtpm_state_clear(s);
	return -1;
}

int swtpm_set_blobs(const struct swtpm_ctrl *c, const struct swtpm_state *s,
		    struct mig_err *e)
{
	int i;

	if (!s->blob[0].len)
		return mig_fail(e, "no permanent state to push");
	for (i = 0; i < 3; i++)
		if (s->blob[i].len && swtpm_set_blob(c, &s->blob[i], e))
			return -1;
	return 0;
}

int swtpm_init_or_stop(const struct swtpm_ctrl *c, struct mig_err *e)
{
	struct mig_err ignore;

	if (swtpm_init(c, PTM_INIT_FLAG_DELETE_VOLATILE, e) == 0)
		return 0;
	/* A failed or timed-out INIT may still complete inside swtpm, which serves
	 * one request at a time: this STOP after it leaves no TPM running. */
	swtpm_stop(c, &ignore);
	return -1;
}

void swtpm_blob_clear(struct swtpm_blob *b)
{
	if (b->data)
		OPENSSL_cleanse(b->data, b->len);
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

void swtpm_state_clear(struct swtpm_state *s)
{
	int i;

	for (i = 0; i < 3; i++)
		swtpm_blob_clear(&s->blob[i]);
}
