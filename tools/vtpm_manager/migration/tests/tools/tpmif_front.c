/*
 * tpmif_front: plays a guest's xen-tpmfront against vtpm_backend running
 * under tests/shim/tpmif_front_shim.so. The "grant table" is a file whose
 * page R is grant ref R; notifications are bytes in two FIFOs. Written from
 * the protocol (Xen's io/tpmif.h, as Linux's xen-tpmfront uses it), not from
 * the back end's code, so the two check each other.
 *
 *   tpmif_front GNT IN OUT cmd REF HEX [-l LEN] [-x NR] [-r REF,...] [-o LOC] [-n] [-t MS] [-c MS]
 *       write command HEX into page REF (header: LEN or its length, NR extra
 *       pages with grant refs REF,..., locality LOC), set submit, notify
 *       (not with -n), wait until the page is finish or idle; print the
 *       response in hex. Exit 1 if no answer within MS (default 10000).
 *       -c MS: MS ms after the submit, set the state to cancel and notify.
 *   tpmif_front GNT IN OUT state REF N      set the page state to N, notify
 *   tpmif_front GNT IN OUT peek REF         print "state length" of page REF
 *   tpmif_front GNT IN OUT wait REF [MS]    wait for finish/idle; print the response
 *   tpmif_front GNT IN OUT bench REF N HEX  N commands, each waiting for the
 *       back end's notification; prints "N mean_us min_us"
 *   tpmif_front GNT IN OUT flood REF N HEX LOC,...  N commands as a hostile
 *       guest sends them, the i-th at the i-th locality of the list (over
 *       and over); prints "N ok refused": answers with response code 0 and
 *       the others. Exit 1 if one is not answered.
 *   tpmif_front direct SOCKET N HEX         the same N commands straight to a
 *       swtpm data socket; prints "N mean_us min_us"
 *   tpmif_front direct1 SOCKET N HEX        the same, a new connection per command
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define HDR 8 /* sizeof(struct vtpm_shared_page) */

static void die(const char *what)
{
	fprintf(stderr, "tpmif_front: %s%s%s\n", what, errno ? ": " : "", errno ? strerror(errno) : "");
	exit(1);
}

static long num(const char *s)
{
	char *end;
	long v = strtol(s, &end, 0);

	if (*s == '\0' || *end)
		die("not a number");
	return v;
}

static size_t unhex(const char *hex, uint8_t *out, size_t max)
{
	size_t n = strlen(hex) / 2, i;
	unsigned int b;

	if (n > max || strlen(hex) % 2)
		die("bad hex");
	for (i = 0; i < n; i++) {
		if (sscanf(hex + 2 * i, "%2x", &b) != 1)
			die("bad hex");
		out[i] = (uint8_t)b;
	}
	return n;
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct front {
	uint8_t *page;
	int in, out;
};

static void open_front(struct front *f, const char *gnt, const char *in, const char *out, long ref)
{
	int fd = open(gnt, O_RDWR);

	if (fd < 0)
		die("cannot open the grant file");
	f->page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)ref * PAGE);
	if (f->page == MAP_FAILED)
		die("cannot map the page");
	close(fd);
	f->in = open(in, O_RDWR | O_NONBLOCK);
	f->out = open(out, O_RDWR | O_NONBLOCK);
	if (f->in < 0 || f->out < 0)
		die("cannot open the event FIFOs");
}

static volatile uint8_t *state_of(struct front *f)
{
	return (volatile uint8_t *)f->page + 4;
}

static void notify(struct front *f)
{
	char c = 1;

	if (write(f->in, &c, 1) != 1)
		die("notify");
}

static void drain(int fd)
{
	char buf[64];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* Wait for finish or idle; with events, on the back end's notification. */
static int wait_done(struct front *f, int ms, int events)
{
	int64_t end = now_us() + (int64_t)ms * 1000;
	struct pollfd p = { .fd = f->out, .events = POLLIN };

	for (;;) {
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (*state_of(f) == 2 || *state_of(f) == 0)
			return 0;
		if (now_us() > end)
			return -1;
		if (events)
			poll(&p, 1, 5);
		else
			usleep(200);
		drain(f->out);
	}
}

static void print_rsp(struct front *f)
{
	uint32_t len, i;
	size_t off = HDR + 4u * f->page[7];

	memcpy(&len, f->page, 4);
	if (off + len > PAGE)
		len = (uint32_t)(PAGE - off);
	for (i = 0; i < len; i++)
		printf("%02x", f->page[off + i]);
	printf("\n");
}

static void submit(struct front *f, const uint8_t *cmd, size_t n, uint32_t len, uint8_t nr,
		   const uint32_t *refs, uint8_t loc)
{
	size_t off = HDR + 4u * nr;

	if (off + n > PAGE)
		die("command does not fit the page");
	memcpy(f->page + HDR, refs, 4u * nr);
	memcpy(f->page + off, cmd, n);
	memcpy(f->page, &len, 4);
	f->page[5] = loc;
	f->page[7] = nr;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	f->page[4] = 1; /* submit */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static int do_cmd(struct front *f, int argc, char **argv)
{
	uint8_t cmd[PAGE];
	uint32_t refs[256] = { 0 }, len;
	long ms = 10000, loc = 0, nr = 0, cancel = -1;
	size_t n = unhex(argv[0], cmd, sizeof(cmd));
	int i, quiet = 0, nrefs = 0;
	char *tok;

	len = (uint32_t)n;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-n"))
			quiet = 1;
		else if (i + 1 >= argc)
			die("option without value");
		else if (!strcmp(argv[i], "-l"))
			len = (uint32_t)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "-x"))
			nr = num(argv[++i]);
		else if (!strcmp(argv[i], "-o"))
			loc = num(argv[++i]);
		else if (!strcmp(argv[i], "-t"))
			ms = num(argv[++i]);
		else if (!strcmp(argv[i], "-c"))
			cancel = num(argv[++i]);
		else if (!strcmp(argv[i], "-r"))
			for (tok = strtok(argv[++i], ","); tok && nrefs < 256; tok = strtok(NULL, ","))
				refs[nrefs++] = (uint32_t)num(tok);
		else
			die("unknown option");
	}
	drain(f->out);
	submit(f, cmd, n, len, (uint8_t)nr, refs, (uint8_t)loc);
	if (!quiet)
		notify(f);
	if (cancel >= 0) {
		usleep((useconds_t)cancel * 1000);
		f->page[4] = 3; /* cancel */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		notify(f);
	}
	if (wait_done(f, (int)ms, 0)) {
		errno = 0;
		die("no answer");
	}
	print_rsp(f);
	return 0;
}

static void bench_report(long n, int64_t total, int64_t best)
{
	printf("%ld %.1f %.1f\n", n, (double)total / (double)n, (double)best);
}

static int do_bench(struct front *f, long n, const char *hex)
{
	uint8_t cmd[PAGE];
	uint32_t refs[1] = { 0 };
	size_t len = unhex(hex, cmd, sizeof(cmd));
	int64_t t, total = 0, best = INT64_MAX;
	long i;

	for (i = 0; i < n; i++) {
		drain(f->out);
		t = now_us();
		submit(f, cmd, len, (uint32_t)len, 0, refs, 0);
		notify(f);
		if (wait_done(f, 10000, 1)) {
			errno = 0;
			die("no answer");
		}
		t = now_us() - t;
		total += t;
		best = t < best ? t : best;
	}
	bench_report(n, total, best);
	return 0;
}

static int do_flood(struct front *f, long n, const char *hex, char *list)
{
	uint8_t cmd[PAGE], locs[64];
	uint32_t refs[1] = { 0 }, rc;
	size_t len = unhex(hex, cmd, sizeof(cmd)), nlocs = 0, off;
	long i, ok = 0;
	char *tok;

	for (tok = strtok(list, ","); tok && nlocs < sizeof(locs); tok = strtok(NULL, ","))
		locs[nlocs++] = (uint8_t)num(tok);
	if (!nlocs)
		die("no localities");
	for (i = 0; i < n; i++) {
		drain(f->out);
		submit(f, cmd, len, (uint32_t)len, 0, refs, locs[i % (long)nlocs]);
		notify(f);
		if (wait_done(f, 10000, 1)) {
			errno = 0;
			die("no answer");
		}
		off = HDR + 4u * f->page[7];
		memcpy(&rc, f->page + off + 6, 4);
		ok += rc == 0;
	}
	printf("%ld %ld %ld\n", n, ok, n - ok);
	return 0;
}

static int sock_connect(const char *sock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		die("cannot connect");
	return fd;
}

static int do_direct(const char *sock, long n, const char *hex, int each)
{
	uint8_t cmd[PAGE], rsp[PAGE];
	size_t len = unhex(hex, cmd, sizeof(cmd));
	int64_t t, total = 0, best = INT64_MAX;
	long i;
	int fd = each ? -1 : sock_connect(sock);

	for (i = 0; i < n; i++) {
		t = now_us();
		if (each)
			fd = sock_connect(sock);
		if (write(fd, cmd, len) != (ssize_t)len || read(fd, rsp, sizeof(rsp)) < 10)
			die("swtpm");
		if (each)
			close(fd);
		t = now_us() - t;
		total += t;
		best = t < best ? t : best;
	}
	if (!each)
		close(fd);
	bench_report(n, total, best);
	return 0;
}

int main(int argc, char **argv)
{
	struct front f;
	uint32_t len;

	if (argc >= 5 && (!strcmp(argv[1], "direct") || !strcmp(argv[1], "direct1")))
		return do_direct(argv[2], num(argv[3]), argv[4], !strcmp(argv[1], "direct1"));
	if (argc < 6)
		die("usage: see the comment at the top of tpmif_front.c");
	open_front(&f, argv[1], argv[2], argv[3], num(argv[5]));
	if (!strcmp(argv[4], "cmd") && argc >= 7)
		return do_cmd(&f, argc - 6, argv + 6);
	if (!strcmp(argv[4], "state") && argc == 7) {
		f.page[4] = (uint8_t)num(argv[6]);
		notify(&f);
		return 0;
	}
	if (!strcmp(argv[4], "peek")) {
		memcpy(&len, f.page, 4);
		printf("%u %u\n", f.page[4], len);
		return 0;
	}
	if (!strcmp(argv[4], "wait")) {
		if (wait_done(&f, argc >= 7 ? (int)num(argv[6]) : 10000, 0)) {
			errno = 0;
			die("no answer");
		}
		print_rsp(&f);
		return 0;
	}
	if (!strcmp(argv[4], "bench") && argc == 8)
		return do_bench(&f, num(argv[6]), argv[7]);
	if (!strcmp(argv[4], "flood") && argc == 9)
		return do_flood(&f, num(argv[6]), argv[7], argv[8]);
	errno = 0;
	die("usage: see the comment at the top of tpmif_front.c");
	return 2;
}
