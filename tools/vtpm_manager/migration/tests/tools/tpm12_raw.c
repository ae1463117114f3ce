/*
 * tpm12_raw: send raw TPM 1.2 commands to a swtpm data socket (Unix).
 *
 *   tpm12_raw SOCKET extend PCR HEX20     TPM_Extend; prints the new PCR value
 *   tpm12_raw SOCKET read PCR             TPM_PCRRead; prints the value
 *   tpm12_raw SOCKET startup clear|state  TPM_Startup
 *   tpm12_raw SOCKET savestate            TPM_SaveState
 *   tpm12_raw SOCKET raw HEX              any command; prints the reply in hex
 *
 * Values are printed as 40 lowercase hex digits and a newline. Exit 0 on
 * success, 1 on any failure (one line on stderr), 2 on a usage error. Every
 * step gives up after TPM12_RAW_TIMEOUT_MS milliseconds (default 5000).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define TAG_RQU_COMMAND 0x00c1u
#define TAG_RSP_COMMAND 0x00c4u
#define ORD_EXTEND      0x00000014u
#define ORD_PCRREAD     0x00000015u
#define ORD_STARTUP     0x00000099u
#define ORD_SAVESTATE   0x00000098u
#define ST_CLEAR        0x0001u
#define ST_STATE        0x0002u
#define DIGEST_LEN      20
#define HDR_LEN         10
#define MAX_MSG         4096

static const char *prog = "tpm12_raw";

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
	fprintf(stderr,
		"usage: %s SOCKET extend PCR HEX20\n"
		"       %s SOCKET read PCR\n"
		"       %s SOCKET startup clear|state\n"
		"       %s SOCKET savestate\n"
		"       %s SOCKET raw HEX\n", prog, prog, prog, prog, prog);
	exit(2);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(((unsigned)p[0] << 8) | (unsigned)p[1]);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t deadline;

/* Wait for fd to become ready for `events` before the deadline. */
static void wait_fd(int fd, short events, const char *what)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int64_t left = deadline - now_ms();
		int rc;

		if (left <= 0)
			die("timed out %s", what);
		rc = poll(&p, 1, (int)left);
		if (rc > 0)
			return;
		if (rc < 0 && errno != EINTR)
			die("poll while %s: %s", what, strerror(errno));
	}
}

static int connect_socket(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		die("socket path too long: %s", path);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno != EINPROGRESS && errno != EAGAIN)
			die("connect %s: %s", path, strerror(errno));
		wait_fd(fd, POLLOUT, "connecting");
	}
	return fd;
}

static void write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				wait_fd(fd, POLLOUT, "sending the command");
				continue;
			}
			die("send: %s", strerror(errno));
		}
		buf += n;
		len -= (size_t)n;
	}
}

static void read_exact(int fd, uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = recv(fd, buf, len, 0);

		if (n == 0)
			die("bad reply: connection closed by the TPM");
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				wait_fd(fd, POLLIN, "waiting for the reply");
				continue;
			}
			die("recv: %s", strerror(errno));
		}
		buf += n;
		len -= (size_t)n;
	}
}

static const char *rc_name(uint32_t rc)
{
	switch (rc) {
	case 0x01: return "TPM_AUTHFAIL";
	case 0x02: return "TPM_BADINDEX";
	case 0x03: return "TPM_BAD_PARAMETER";
	case 0x06: return "TPM_DEACTIVATED";
	case 0x07: return "TPM_DISABLED";
	case 0x09: return "TPM_FAIL";
	case 0x0a: return "TPM_BAD_ORDINAL";
	case 0x15: return "TPM_BAD_PARAM_SIZE";
	case 0x26: return "TPM_INVALID_POSTINIT";
	case 0x800: return "TPM_RETRY";
	default: return "";
	}
}

/* Send one command, return the reply length; reply is checked for tag,
 * size and a zero return code. */
static size_t transact(const char *path, const uint8_t *cmd, size_t cmdlen,
		       uint8_t *rsp, size_t rspmax)
{
	int fd = connect_socket(path);
	uint32_t size, rc;

	write_all(fd, cmd, cmdlen);
	read_exact(fd, rsp, HDR_LEN);
	size = get32(rsp + 2);
	if (get16(rsp) != TAG_RSP_COMMAND)
		die("bad reply: tag 0x%04x, expected 0x%04x", get16(rsp), TAG_RSP_COMMAND);
	if (size < HDR_LEN || size > rspmax)
		die("bad reply: size %u", size);
	read_exact(fd, rsp + HDR_LEN, size - HDR_LEN);
	close(fd);
	rc = get32(rsp + 6);
	if (rc != 0)
		die("TPM error 0x%x %s", rc, rc_name(rc));
	return size;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parse hex (optionally 0x-prefixed) into buf; returns the byte count. */
static size_t parse_hex(const char *s, uint8_t *buf, size_t max)
{
	size_t n = 0, len;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	len = strlen(s);
	if (len == 0 || len % 2 != 0 || len / 2 > max)
		die("bad hex string (need an even number of digits, at most %zu bytes)", max);
	for (; *s; s += 2) {
		int hi = hexval(s[0]), lo = hexval(s[1]);

		if (hi < 0 || lo < 0)
			die("bad hex digit in argument");
		buf[n++] = (uint8_t)(hi << 4 | lo);
	}
	return n;
}

static uint32_t parse_pcr(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *s == '\0' || *end != '\0' || v > 23)
		die("bad PCR index '%s' (0..23)", s);
	return (uint32_t)v;
}

static void print_hex(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
	putchar('\n');
}

static void build_header(uint8_t *cmd, uint32_t size, uint32_t ordinal)
{
	put16(cmd, TAG_RQU_COMMAND);
	put32(cmd + 2, size);
	put32(cmd + 6, ordinal);
}

int main(int argc, char **argv)
{
	uint8_t cmd[MAX_MSG], rsp[MAX_MSG];
	const char *sock, *op, *env;
	long timeout_ms = 5000;
	size_t n;

	if (argc < 3)
		usage();
	sock = argv[1];
	op = argv[2];
	env = getenv("TPM12_RAW_TIMEOUT_MS");
	if (env && *env) {
		char *end;

		timeout_ms = strtol(env, &end, 10);
		if (*end != '\0' || timeout_ms <= 0 || timeout_ms > 600000)
			die("bad TPM12_RAW_TIMEOUT_MS '%s'", env);
	}
	deadline = now_ms() + timeout_ms;

	if (strcmp(op, "extend") == 0) {
		uint8_t digest[DIGEST_LEN];

		if (argc != 5)
			usage();
		if (parse_hex(argv[4], digest, sizeof(digest)) != DIGEST_LEN)
			die("extend needs exactly 20 bytes (40 hex digits)");
		build_header(cmd, HDR_LEN + 4 + DIGEST_LEN, ORD_EXTEND);
		put32(cmd + HDR_LEN, parse_pcr(argv[3]));
		memcpy(cmd + HDR_LEN + 4, digest, DIGEST_LEN);
		n = transact(sock, cmd, HDR_LEN + 4 + DIGEST_LEN, rsp, sizeof(rsp));
		if (n != HDR_LEN + DIGEST_LEN)
			die("bad reply: %zu bytes for TPM_Extend, expected %d", n,
			    HDR_LEN + DIGEST_LEN);
		print_hex(rsp + HDR_LEN, DIGEST_LEN);
	} else if (strcmp(op, "read") == 0) {
		if (argc != 4)
			usage();
		build_header(cmd, HDR_LEN + 4, ORD_PCRREAD);
		put32(cmd + HDR_LEN, parse_pcr(argv[3]));
		n = transact(sock, cmd, HDR_LEN + 4, rsp, sizeof(rsp));
		if (n != HDR_LEN + DIGEST_LEN)
			die("bad reply: %zu bytes for TPM_PCRRead, expected %d", n,
			    HDR_LEN + DIGEST_LEN);
		print_hex(rsp + HDR_LEN, DIGEST_LEN);
	} else if (strcmp(op, "startup") == 0) {
		uint16_t type;

		if (argc != 4)
			usage();
		if (strcmp(argv[3], "clear") == 0)
			type = ST_CLEAR;
		else if (strcmp(argv[3], "state") == 0)
			type = ST_STATE;
		else
			usage();
		build_header(cmd, HDR_LEN + 2, ORD_STARTUP);
		put16(cmd + HDR_LEN, type);
		transact(sock, cmd, HDR_LEN + 2, rsp, sizeof(rsp));
	} else if (strcmp(op, "savestate") == 0) {
		if (argc != 3)
			usage();
		build_header(cmd, HDR_LEN, ORD_SAVESTATE);
		transact(sock, cmd, HDR_LEN, rsp, sizeof(rsp));
	} else if (strcmp(op, "raw") == 0) {
		if (argc != 4)
			usage();
		n = parse_hex(argv[3], cmd, sizeof(cmd));
		if (n < HDR_LEN || get32(cmd + 2) != n)
			die("raw command: paramSize field does not match the length");
		n = transact(sock, cmd, n, rsp, sizeof(rsp));
		print_hex(rsp, n);
	} else {
		usage();
	}
	if (fflush(stdout) != 0)
		die("writing output: %s", strerror(errno));
	return 0;
}
