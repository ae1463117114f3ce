/*
 * vtpm_bench: the measuring half of `make bench`. bench.sh makes the host
 * keys and the populated source vTPMs; this harness times the vTPM step of a
 * migration through the command, as xend runs it, against the floor of the
 * swtpm control channel and against a swtpm_ioctl script, and prints one
 * table and the project's targets.
 *
 *   vtpm_bench [options] LABEL:CTRL:VTPM-UUID...   (running TPM 2.0 sources)
 *     -n N        measured iterations per state (default 200)
 *     -w DIR      private work directory (destination instances, files)
 *     -m PATH     vtpm_migrate     -s PATH  swtpm     -i PATH  swtpm_ioctl
 *     -a DIR      key directory of the sending host
 *     -b DIR      key directory of the receiving host
 *     -p NAME     the receiving host's name, as the sender trusts it
 *     -K TEXT     where the key directories are, for the report
 *   vtpm_bench --raw SRC_CTRL DST_CTRL
 *     one "raw" copy (below) from a running TPM into a waiting one; prints
 *     "MS PERMANENT VOLATILE SAVESTATE" (time, blob bytes): make demo's floor
 *
 * Each iteration starts one fresh destination swtpm per method, waiting for
 * state, and waits until each answers on its control socket; none of that is
 * timed. The methods then run one after the other, in an order that rotates
 * with the iteration, so that noise on this machine hits all of them alike:
 *
 *   raw      the floor: GET_STATEBLOB x3 from the source, SET_STATEBLOB of
 *            the present blobs and INIT on the destination, the library's
 *            control-channel calls in this process (no record, no crypto, no
 *            ledger, no process start)
 *   xend     the staged helpers as the xend module drives them: `send
 *            --staged` and `recv --staged --announce` (the announcement from
 *            `send --check`, as xend's vtpm_check passes it) started, both
 *            `ready`, `pull` answered `sealed`, all untimed (xend does it
 *            while xc_save and xc_restore run); timed from writing `write`
 *            and `go` (the image is complete) to the receiver's `done` (the
 *            destination TPM runs): the vTPM's share of the downtime
 *   ioctl    what a shell script does with swtpm_ioctl: --save of each blob
 *            type into files, --load of the non-empty ones, -i
 *   oneshot  `vtpm_migrate send | vtpm_migrate recv` as processes, from the
 *            first fork to both exits (information: xend does not run it)
 *
 * One part of the xend view is timed on its own, in this process, because
 * the floor has nothing like it: opening the record (verifying the
 * signature, X25519, HKDF, AES-GCM) between its last byte and the first
 * SET_STATEBLOB. The floor instead pulls the state, which the xend view
 * did at `pull`.
 *
 * After each migration the source's left-this-host mark is removed, as an
 * administrator's `recover --force` would, so that the same source moves
 * again. Every destination must run afterwards; on the warm-up iterations
 * its permanent state must equal the source's.
 *
 * Exit 0 when the benchmark ran (targets missed or not: it reports), 1 when
 * it could not run or a migration failed, 2 on a usage error.
 */
#define _GNU_SOURCE /* pipe2, F_SETPIPE_SZ */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <swtpm/tpm_ioctl.h>

#include "hostkey.h"
#include "seal.h"
#include "swtpm_ctrl.h"

#define MAX_STATES 8
#define WARMUP 2
#define DEST_READY_MS 5000
#define WORD_MS 10000

/* The targets the project holds itself to (the xend view, issue 14). */
#define T_XEND_P50 1.25 /* xend view p50 <= 1.25 x raw floor p50 */
#define T_XEND_P99 2.5  /* xend view p99 <= 2.5 x raw floor p50 */
#define T_IOCTL 3.0     /* swtpm_ioctl path p50 >= 3 x xend view p50 */
#define T_RSS_KIB 8192  /* peak RSS of each staged helper */

enum method { M_RAW, M_XEND, M_IOCTL, M_ONESHOT, M_COUNT };
static const char *const method_tag[M_COUNT] = { "raw", "xend", "ioctl", "oneshot" };
enum { R_SEND, R_RECV, R_XSEND, R_XRECV, R_COUNT }; /* peak RSS series */
enum { P_OPEN, P_COUNT }; /* parts timed on their own */

struct series {
	double *v;
	size_t n;
};

struct state {
	char label[32];
	char ctrl[108];
	char uuid[40];
	char dir[108]; /* the source's state directory (its left-this-host mark) */
	struct series t[M_COUNT];
	struct series rss[R_COUNT]; /* KiB */
	struct series part[P_COUNT];
	size_t blob_len[3];
	uint8_t *record; /* one record of this state, as send wrote it */
	size_t record_len;
};

struct dest {
	pid_t pid;
	char dir[PATH_MAX];
	char ctrl[108];
};

static struct {
	int n;
	const char *work, *vm, *swtpm, *ioctl, *keys_a, *keys_b, *peer, *keys_where;
	struct state st[MAX_STATES];
	int nstates;
	struct host_key key_b; /* the receiving host's, to open records */
	struct peer_set peers_b;
	int errfd[3]; /* send, recv, swtpm_ioctl */
	long rss_floor_kib;
} B;

/* Destination swtpm processes alive, for the signal handler and die(). */
static volatile pid_t live_pid[M_COUNT];

static void kill_live(void)
{
	int i;

	for (i = 0; i < M_COUNT; i++)
		if (live_pid[i] > 0)
			kill(live_pid[i], SIGKILL);
}

static void on_signal(int sig)
{
	kill_live();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("vtpm_bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	kill_live();
	exit(1);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void series_init(struct series *s, size_t cap)
{
	s->v = calloc(cap, sizeof(double));
	if (!s->v)
		die("out of memory");
	s->n = 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile (p in 0..1); NAN for an empty series. */
static double pct(const struct series *s, double p)
{
	double *c, r;
	size_t k;

	if (!s->n)
		return NAN;
	c = malloc(s->n * sizeof(double));
	if (!c)
		die("out of memory");
	memcpy(c, s->v, s->n * sizeof(double));
	qsort(c, s->n, sizeof(double), cmp_double);
	k = (size_t)ceil(p * (double)s->n);
	k = k < 1 ? 1 : k > s->n ? s->n : k;
	r = c[k - 1];
	free(c);
	return r;
}

/* ---- files and processes ------------------------------------------------ */

static void clear_dir(const char *dir)
{
	char path[PATH_MAX + 256];
	struct dirent *d;
	DIR *dp = opendir(dir);

	if (!dp)
		return;
	while ((d = readdir(dp)))
		if (strcmp(d->d_name, ".") && strcmp(d->d_name, "..")) {
			snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
			unlink(path);
		}
	closedir(dp);
}

static void make_dir(const char *dir)
{
	if (mkdir(dir, 0700) && errno != EEXIST)
		die("cannot create %s: %s", dir, strerror(errno));
}

/* The last line a child wrote to errfd, for an error message. */
static const char *last_line(int errfd)
{
	static char buf[512];
	off_t end = lseek(errfd, 0, SEEK_END), from;
	ssize_t n;
	char *p;

	from = end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0;
	n = pread(errfd, buf, sizeof(buf) - 1, from);
	if (n <= 0)
		return "(no message)";
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	p = strrchr(buf, '\n');
	return p ? p + 1 : buf;
}

static void reset_errfd(int fd)
{
	if (ftruncate(fd, 0) || lseek(fd, 0, SEEK_SET) < 0)
		die("cannot reset an error file: %s", strerror(errno));
}

/*
 * fork + exec with stdin, stdout, stderr and fd 3 from in, out, errfd and
 * fd3 (-1: /dev/null, for fd 3: none). A plain fork, not vfork/posix_spawn:
 * with a shared address space the child's ru_maxrss would start from this
 * process's peak. The child dies with this process.
 */
static pid_t spawn(char *const argv[], int in, int out, int errfd, int fd3)
{
	int fd[4] = { in, out, errfd, fd3 }, null, i;
	pid_t parent = getpid(), p = fork();

	if (p < 0)
		die("fork: %s", strerror(errno));
	if (p)
		return p;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
		_exit(127);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	/* Out of the way of 0..3 first, then into place (dup2 clears CLOEXEC). */
	for (i = 0; i < 4; i++)
		if (fd[i] >= 0 && (fd[i] = fcntl(fd[i], F_DUPFD_CLOEXEC, 10)) < 0)
			_exit(127);
	for (i = 0; i < 4; i++)
		if ((fd[i] >= 0 || i < 3) && dup2(fd[i] >= 0 ? fd[i] : null, i) < 0)
			_exit(127);
	execv(argv[0], argv);
	_exit(127);
}

/* Wait for pid; its exit status (or 128 + signal) and rusage. */
static int reap(pid_t pid, struct rusage *ru)
{
	struct rusage dummy;
	int status;

	while (wait4(pid, &status, 0, ru ? ru : &dummy) < 0)
		if (errno != EINTR)
			die("wait4: %s", strerror(errno));
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static void pipe_or_die(int p[2])
{
	if (pipe2(p, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
}

/* The next line from a helper must be want. */
static void expect_word(int fd, const char *want, const char *who, const struct state *s,
			int errfd)
{
	char line[32];
	size_t n = 0;
	struct pollfd pfd = { fd, POLLIN, 0 };

	for (;;) {
		if (poll(&pfd, 1, WORD_MS) != 1 || read(fd, line + n, 1) != 1)
			die("%s: %s said no '%s': %s", s->label, who, want, last_line(errfd));
		if (line[n] == '\n')
			break;
		if (++n == sizeof(line) - 1)
			die("%s: %s: line too long", s->label, who);
	}
	line[n] = '\0';
	if (strcmp(line, want))
		die("%s: %s said '%s', expected '%s': %s", s->label, who, line, want,
		    last_line(errfd));
}

static void say_word(int fd, const char *word, const char *who, const struct state *s)
{
	char line[16];
	size_t n = (size_t)snprintf(line, sizeof(line), "%s\n", word);

	if (write(fd, line, n) != (ssize_t)n)
		die("%s: cannot tell %s '%s': %s", s->label, who, word, strerror(errno));
}

/* ---- destination instances ---------------------------------------------- */

static void ctrl_or_die(struct swtpm_ctrl *c, const char *path)
{
	struct mig_err e;

	if (swtpm_ctrl_init(c, path, &e))
		die("%s", e.msg);
}

static void dest_start(struct dest *d, int slot)
{
	char ts[PATH_MAX + 16], ca[PATH_MAX + 32], sa[PATH_MAX + 32], pa[PATH_MAX + 16];
	char log[PATH_MAX + 16];
	char *argv[] = { (char *)B.swtpm, "socket", "--tpm2", "--tpmstate", ts, "--ctrl", ca,
			 "--server", sa, "--pid", pa, NULL };
	int logfd;

	snprintf(d->dir, sizeof(d->dir), "%s/dst-%s", B.work, method_tag[slot]);
	make_dir(d->dir);
	clear_dir(d->dir);
	if ((size_t)snprintf(d->ctrl, sizeof(d->ctrl), "%s/data.ctrl", d->dir) >= sizeof(d->ctrl))
		die("work directory path too long for a Unix socket");
	snprintf(ts, sizeof(ts), "dir=%s", d->dir);
	snprintf(ca, sizeof(ca), "type=unixio,path=%s/data.ctrl", d->dir);
	snprintf(sa, sizeof(sa), "type=unixio,path=%s/data", d->dir);
	snprintf(pa, sizeof(pa), "file=%s/pid", d->dir);
	snprintf(log, sizeof(log), "%s/stderr", d->dir);
	logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0)
		die("%s: %s", log, strerror(errno));
	d->pid = spawn(argv, -1, logfd, logfd, -1);
	live_pid[slot] = d->pid;
	close(logfd);
}

/* Until both sockets exist (swtpm makes the data socket after the control
 * socket listens) and the control channel answers: not running yet. */
static void dest_wait_ready(struct dest *d)
{
	char data[PATH_MAX + 8];
	struct swtpm_ctrl c;
	struct mig_err e;
	struct stat sb;
	double t0 = now_ms();
	int status, r;

	snprintf(data, sizeof(data), "%s/data", d->dir);
	while (stat(data, &sb) || !S_ISSOCK(sb.st_mode)) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = -1;
			die("destination swtpm in %s exited at start-up", d->dir);
		}
		if (now_ms() - t0 > DEST_READY_MS)
			die("destination swtpm: no control socket after %d ms", DEST_READY_MS);
		usleep(200);
	}
	ctrl_or_die(&c, d->ctrl);
	r = swtpm_is_running(&c, &e);
	if (r < 0)
		die("destination swtpm does not answer: %s", e.msg);
	if (r)
		die("destination swtpm runs before it got any state");
}

static void dest_stop(struct dest *d, int slot)
{
	struct swtpm_ctrl c;
	struct mig_err e;
	int status, i;

	if (d->pid <= 0)
		return;
	if (swtpm_ctrl_init(&c, d->ctrl, &e) || swtpm_shutdown(&c, &e))
		kill(d->pid, SIGTERM);
	for (i = 0; waitpid(d->pid, &status, WNOHANG) != d->pid; i++) {
		if (i == 1000)
			kill(d->pid, SIGKILL);
		if (i == 2000)
			die("destination swtpm %d does not end", (int)d->pid);
		usleep(1000);
	}
	d->pid = -1;
	live_pid[slot] = 0;
	clear_dir(d->dir);
}

/* ---- the methods -------------------------------------------------------- */

/* The floor: the control-channel calls alone. */
static double raw_copy(const char *src_ctrl, const char *dst_ctrl, size_t len[3])
{
	struct swtpm_ctrl src, dst;
	struct swtpm_blob b[3];
	struct mig_err e;
	double t0, t1;
	int i, bad = 0;

	ctrl_or_die(&src, src_ctrl);
	ctrl_or_die(&dst, dst_ctrl);
	memset(b, 0, sizeof(b));
	t0 = now_ms();
	for (i = 0; i < 3 && !bad; i++)
		bad = swtpm_get_blob(&src, PTM_BLOB_TYPE_PERMANENT + (uint32_t)i, &b[i], &e);
	for (i = 0; i < 3 && !bad; i++)
		if (b[i].len)
			bad = swtpm_set_blob(&dst, &b[i], &e);
	if (!bad)
		bad = swtpm_init(&dst, PTM_INIT_FLAG_DELETE_VOLATILE, &e);
	t1 = now_ms();
	for (i = 0; i < 3; i++) {
		len[i] = b[i].len;
		swtpm_blob_clear(&b[i]);
	}
	if (bad)
		die("raw copy failed: %s", e.msg);
	return t1 - t0;
}

/* What xend's vtpm_check passes to the destination: the signed
 * announcement `send --check` prints (untimed). */
static void announce(const struct state *s, char *ann, size_t size)
{
	char *argv[] = { (char *)B.vm, "send", "-d", (char *)B.keys_a, "--to", (char *)B.peer,
			 "--ctrl", (char *)s->ctrl, "--uuid", (char *)s->uuid, "--check", NULL };
	char out[4096], *p;
	size_t n = 0;
	ssize_t r;
	int pfd[2], rc;

	pipe_or_die(pfd);
	reset_errfd(B.errfd[0]);
	rc = reap(spawn(argv, -1, pfd[1], B.errfd[0], -1), NULL);
	close(pfd[1]);
	while (n < sizeof(out) - 1 && (r = read(pfd[0], out + n, sizeof(out) - 1 - n)) > 0)
		n += (size_t)r;
	close(pfd[0]);
	out[n] = '\0';
	if (rc)
		die("%s: send --check exited %d: %s", s->label, rc, last_line(B.errfd[0]));
	p = strstr(out, "\nannounce ");
	if (!p || (n = strcspn(p + 10, "\n")) >= size)
		die("%s: send --check printed no announcement", s->label);
	memcpy(ann, p + 10, n);
	ann[n] = '\0';
}

static double run_xend(struct state *s, struct dest *d, int record)
{
	char ann[1024], three[] = "3";
	char *send_argv[] = { (char *)B.vm, "send", "-d", (char *)B.keys_a, "--to",
			      (char *)B.peer, "--ctrl", s->ctrl, "--uuid", s->uuid, "--fd", three,
			      "--staged", NULL };
	char *recv_argv[] = { (char *)B.vm, "recv", "-d", (char *)B.keys_b, "--ctrl", d->ctrl,
			      "--uuid", s->uuid, "--fd", three, "--staged", "--announce", ann,
			      NULL };
	int stream[2], sin[2], sout[2], rin[2], rout[2], rs, rr;
	struct rusage ru_s, ru_r;
	double t0, t1;
	pid_t ps, pr;

	announce(s, ann, sizeof(ann));
	reset_errfd(B.errfd[0]);
	reset_errfd(B.errfd[1]);
	pipe_or_die(stream);
	/* As much room as a TCP connection's buffers give: the record is written
	 * whole while the receiver reads (the default 64 KiB holds less than
	 * the larger states). */
	if (fcntl(stream[1], F_SETPIPE_SZ, 1024 * 1024) < 0)
		die("cannot enlarge the stream pipe: %s", strerror(errno));
	pipe_or_die(sin);
	pipe_or_die(sout);
	pipe_or_die(rin);
	pipe_or_die(rout);
	ps = spawn(send_argv, sin[0], sout[1], B.errfd[0], stream[1]);
	pr = spawn(recv_argv, rin[0], rout[1], B.errfd[1], stream[0]);
	close(sin[0]);
	close(sout[1]);
	close(rin[0]);
	close(rout[1]);
	close(stream[0]);
	close(stream[1]);
	/* While xc_save and xc_restore run: started, prepared, pulled, sealed. */
	expect_word(sout[0], "ready", "staged send", s, B.errfd[0]);
	expect_word(rout[0], "ready", "staged recv", s, B.errfd[1]);
	say_word(sin[1], "pull", "staged send", s);
	expect_word(sout[0], "sealed", "staged send", s, B.errfd[0]);
	t0 = now_ms();
	say_word(sin[1], "write", "staged send", s);
	say_word(rin[1], "go", "staged recv", s);
	expect_word(rout[0], "done", "staged recv", s, B.errfd[1]);
	t1 = now_ms();
	expect_word(sout[0], "done", "staged send", s, B.errfd[0]);
	close(sin[1]);
	close(sout[0]);
	close(rin[1]);
	close(rout[0]);
	rs = reap(ps, &ru_s);
	rr = reap(pr, &ru_r);
	if (rs)
		die("%s: staged send exited %d: %s", s->label, rs, last_line(B.errfd[0]));
	if (rr)
		die("%s: staged recv exited %d: %s", s->label, rr, last_line(B.errfd[1]));
	if (record) {
		s->rss[R_XSEND].v[s->rss[R_XSEND].n++] = (double)ru_s.ru_maxrss;
		s->rss[R_XRECV].v[s->rss[R_XRECV].n++] = (double)ru_r.ru_maxrss;
	}
	return t1 - t0;
}

/* The one-shot command: send | recv, two processes joined by a pipe. */
static double run_oneshot(struct state *s, struct dest *d, int record)
{
	char *send_argv[] = { (char *)B.vm, "send", "-d", (char *)B.keys_a, "--to",
			      (char *)B.peer, "--ctrl", s->ctrl, "--uuid", s->uuid, NULL };
	char *recv_argv[] = { (char *)B.vm, "recv", "-d", (char *)B.keys_b, "--ctrl", d->ctrl,
			      "--uuid", s->uuid, NULL };
	struct rusage ru_s, ru_r;
	pid_t ps, pr;
	int p[2], rs, rr;
	double t0, t1;

	reset_errfd(B.errfd[0]);
	reset_errfd(B.errfd[1]);
	t0 = now_ms();
	pipe_or_die(p);
	ps = spawn(send_argv, -1, p[1], B.errfd[0], -1);
	pr = spawn(recv_argv, p[0], -1, B.errfd[1], -1);
	close(p[0]);
	close(p[1]);
	rs = reap(ps, &ru_s);
	rr = reap(pr, &ru_r);
	t1 = now_ms();
	if (rs)
		die("%s: vtpm_migrate send exited %d: %s", s->label, rs, last_line(B.errfd[0]));
	if (rr)
		die("%s: vtpm_migrate recv exited %d: %s", s->label, rr, last_line(B.errfd[1]));
	if (record) {
		s->rss[R_SEND].v[s->rss[R_SEND].n++] = (double)ru_s.ru_maxrss;
		s->rss[R_RECV].v[s->rss[R_RECV].n++] = (double)ru_r.ru_maxrss;
	}
	return t1 - t0;
}

/* What a shell script would do with swtpm_ioctl, one process a step. */
static double run_ioctl(struct state *s, struct dest *d)
{
	static const char *const type[3] = { "permanent", "volatile", "savestate" };
	char dir[PATH_MAX], op[8], ty[16], file[PATH_MAX + 32];
	char *argv[] = { (char *)B.ioctl, "--unix", NULL, op, ty, file, NULL };
	struct stat sb;
	double t0, t1;
	int i, rc = 0;

	snprintf(dir, sizeof(dir), "%s/ioctl-files", B.work);
	make_dir(dir);
	clear_dir(dir);
	reset_errfd(B.errfd[2]);
	t0 = now_ms();
	for (i = 0; i < 6 && !rc; i++) { /* --save x3, then --load */
		snprintf(file, sizeof(file), "%s/%s.bin", dir, type[i % 3]);
		if (i >= 3 && (stat(file, &sb) || !sb.st_size))
			continue; /* [ -s FILE ] || continue */
		argv[2] = i >= 3 ? d->ctrl : s->ctrl;
		snprintf(op, sizeof(op), "%s", i >= 3 ? "--load" : "--save");
		snprintf(ty, sizeof(ty), "%s", type[i % 3]);
		rc = reap(spawn(argv, -1, -1, B.errfd[2], -1), NULL);
	}
	if (!rc) {
		argv[2] = d->ctrl;
		snprintf(op, sizeof(op), "-i");
		argv[4] = NULL;
		rc = reap(spawn(argv, -1, -1, B.errfd[2], -1), NULL);
	}
	t1 = now_ms();
	if (rc)
		die("%s: swtpm_ioctl %s %s exited %d: %s", s->label, op, argv[4] ? ty : "", rc,
		    last_line(B.errfd[2]));
	clear_dir(dir);
	return t1 - t0;
}

/* A whole record left the source: its left-this-host mark stands. The
 * benchmark moves the same source again, as after `recover --force`. */
static void clear_mark(const struct state *s)
{
	char mark[sizeof(s->dir) + 16];

	snprintf(mark, sizeof(mark), "%s/vtpm-left", s->dir);
	if (unlink(mark))
		die("%s: no left-this-host mark after a send (%s): %s", s->label, mark,
		    strerror(errno));
}

/* After a method the destination runs; on warm-up, with the source's
 * permanent state. */
static void check_dest(const struct state *s, struct dest *d, int method, int compare)
{
	struct swtpm_ctrl src, dst;
	struct swtpm_blob a, b;
	struct mig_err e;
	int r;

	ctrl_or_die(&dst, d->ctrl);
	r = swtpm_is_running(&dst, &e);
	if (r != 1)
		die("%s/%s: destination TPM %s after the step", s->label, method_tag[method],
		    r < 0 ? e.msg : "is not running");
	if (!compare)
		return;
	ctrl_or_die(&src, s->ctrl);
	if (swtpm_get_blob(&src, PTM_BLOB_TYPE_PERMANENT, &a, &e) ||
	    swtpm_get_blob(&dst, PTM_BLOB_TYPE_PERMANENT, &b, &e))
		die("%s/%s: cannot compare the states: %s", s->label, method_tag[method], e.msg);
	r = a.len == b.len && a.len && !memcmp(a.data, b.data, a.len);
	swtpm_blob_clear(&a);
	swtpm_blob_clear(&b);
	if (!r)
		die("%s/%s: destination's permanent state differs from the source's", s->label,
		    method_tag[method]);
}

/* The bytes of one record of this state (untimed, once), kept. */
static void measure_record(struct state *s)
{
	char *argv[] = { (char *)B.vm, "send", "-d", (char *)B.keys_a, "--to", (char *)B.peer,
			 "--ctrl", s->ctrl, "--uuid", s->uuid, NULL };
	char path[PATH_MAX];
	struct stat sb;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/record-%s", B.work, s->label);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	reset_errfd(B.errfd[0]);
	rc = reap(spawn(argv, -1, fd, B.errfd[0], -1), NULL);
	if (rc || fstat(fd, &sb))
		die("%s: vtpm_migrate send exited %d: %s", s->label, rc, last_line(B.errfd[0]));
	s->record_len = (size_t)sb.st_size;
	s->record = malloc(s->record_len);
	if (!s->record || pread(fd, s->record, s->record_len, 0) != (ssize_t)s->record_len)
		die("%s: cannot read back %s", s->label, path);
	close(fd);
	unlink(path);
	clear_mark(s);
}

/* What recv does between the record's last byte and its first push: open
 * it (verify the signature, X25519, HKDF, AES-GCM), in this process. */
static double time_open(const struct state *s)
{
	struct vrec_header h;
	struct swtpm_state st;
	struct mig_err e;
	double t0 = now_ms(), t;

	if (vrec_open(&B.key_b, &B.peers_b, s->record, s->record_len, &h, &st, &e))
		die("%s: cannot open the record: %s", s->label, e.msg);
	t = now_ms() - t0;
	swtpm_state_clear(&st);
	return t;
}

/* ---- the loop ----------------------------------------------------------- */

static void iteration(struct state *s, int si, int it, int record)
{
	struct dest d[M_COUNT];
	double t = 0;
	int k, m;

	memset(d, 0, sizeof(d));
	for (m = 0; m < M_COUNT; m++)
		dest_start(&d[m], m);
	for (m = 0; m < M_COUNT; m++)
		dest_wait_ready(&d[m]);
	for (k = 0; k < M_COUNT; k++) {
		m = (k + it + si) % M_COUNT;
		switch (m) {
		case M_RAW: t = raw_copy(s->ctrl, d[m].ctrl, s->blob_len); break;
		case M_XEND: t = run_xend(s, &d[m], record); break;
		case M_IOCTL: t = run_ioctl(s, &d[m]); break;
		default: t = run_oneshot(s, &d[m], record); break;
		}
		if (m == M_XEND || m == M_ONESHOT)
			clear_mark(s);
		if (record)
			s->t[m].v[s->t[m].n++] = t;
	}
	for (m = 0; m < M_COUNT; m++)
		check_dest(s, &d[m], m, !record);
	for (m = 0; m < M_COUNT; m++)
		dest_stop(&d[m], m);
	if (record)
		s->part[P_OPEN].v[s->part[P_OPEN].n++] = time_open(s);
}

/* The ru_maxrss a child of this process shows before it does anything. */
static long rss_floor(void)
{
	char *argv[] = { "/bin/true", NULL };
	struct rusage ru;
	long m = 0;
	int i;

	if (access(argv[0], X_OK))
		return 0;
	for (i = 0; i < 5; i++)
		if (reap(spawn(argv, -1, -1, -1, -1), &ru) == 0 && ru.ru_maxrss > m)
			m = ru.ru_maxrss;
	return m;
}

/* ---- the report --------------------------------------------------------- */

static void row_label(const char *name)
{
	printf("%-38s", name);
}

static void cell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void cell(const char *fmt, ...)
{
	char buf[48];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printf(" %16s", buf);
}

static void row_ms(const char *name, int m)
{
	int i;

	row_label(name);
	for (i = 0; i < B.nstates; i++)
		cell("%.2f / %.2f", pct(&B.st[i].t[m], 0.5), pct(&B.st[i].t[m], 0.99));
	putchar('\n');
}

/* pct(a, pa) / pct(b, pb) per state. */
static void row_ratio(const char *name, int a, double pa, int b, double pb)
{
	int i;

	row_label(name);
	for (i = 0; i < B.nstates; i++)
		cell("%.2fx", pct(&B.st[i].t[a], pa) / pct(&B.st[i].t[b], pb));
	putchar('\n');
}

static void row_rss(const char *name, int a, int b)
{
	int i;

	row_label(name);
	for (i = 0; i < B.nstates; i++)
		cell("%.0f / %.0f", pct(&B.st[i].rss[a], 1.0), pct(&B.st[i].rss[b], 1.0));
	putchar('\n');
}

/* The worst state for pct(a, pa) / pct(b, pb): the highest ratio (high)
 * or the lowest. */
static int worst(int a, double pa, int b, double pb, int high, double *val)
{
	int i, w = 0;
	double x;

	for (i = 0; i < B.nstates; i++) {
		x = pct(&B.st[i].t[a], pa) / pct(&B.st[i].t[b], pb);
		if (!i || (high ? x > *val : x < *val)) {
			*val = x;
			w = i;
		}
	}
	return w;
}

static const char *verdict(int ok)
{
	return ok ? "HOLDS" : "MISSED";
}

static void report_targets(void)
{
	double x = 0, v;
	const char *who = "";
	int i, r;

	i = worst(M_XEND, 0.5, M_RAW, 0.5, 1, &x);
	printf("target: xend view p50 <= %.2fx the raw floor p50: %s (worst %s: %.2fx, %.2f ms vs %.2f ms)\n",
	       T_XEND_P50, verdict(x <= T_XEND_P50), B.st[i].label, x,
	       pct(&B.st[i].t[M_XEND], 0.5), pct(&B.st[i].t[M_RAW], 0.5));
	i = worst(M_XEND, 0.99, M_RAW, 0.5, 1, &x);
	printf("target: xend view p99 <= %.1fx the raw floor p50: %s (worst %s: %.2fx, %.2f ms)\n",
	       T_XEND_P99, verdict(x <= T_XEND_P99), B.st[i].label, x,
	       pct(&B.st[i].t[M_XEND], 0.99));
	i = worst(M_IOCTL, 0.5, M_XEND, 0.5, 0, &x);
	printf("target: xend view >= %.0fx faster than the swtpm_ioctl path at p50: %s (worst %s: %.2fx)\n",
	       T_IOCTL, verdict(x >= T_IOCTL), B.st[i].label, x);
	x = 0;
	for (i = 0; i < B.nstates; i++)
		for (r = R_XSEND; r <= R_XRECV; r++) {
			v = pct(&B.st[i].rss[r], 1.0);
			if (v > x) {
				x = v;
				who = r == R_XSEND ? "send --staged" : "recv --staged";
			}
		}
	printf("target: peak RSS per staged helper <= %d MiB: %s (max %s: %.0f KiB = %.1f MiB)\n",
	       T_RSS_KIB / 1024, verdict(x <= T_RSS_KIB), who, x, x / 1024);
}

static void report(void)
{
	char la[64] = "?\n";
	FILE *f;
	int i;

	printf("\n");
	row_label("");
	for (i = 0; i < B.nstates; i++)
		cell("%s", B.st[i].label);
	printf("\n");
	row_label("state bytes (permanent+volatile)");
	for (i = 0; i < B.nstates; i++)
		cell("%zu+%zu", B.st[i].blob_len[0], B.st[i].blob_len[1]);
	printf("\ntimes in ms, p50 / p99\n");
	row_ms("xend view (write+go -> done)", M_XEND);
	row_label("  in it: recv opens the record (p50)");
	for (i = 0; i < B.nstates; i++)
		cell("%.2f", pct(&B.st[i].part[P_OPEN], 0.5));
	printf("\n");
	row_ms("raw floor (ctrl pull+push+INIT)", M_RAW);
	row_ms("swtpm_ioctl path (a process a step)", M_IOCTL);
	row_ratio("xend view p50 / raw floor p50", M_XEND, 0.5, M_RAW, 0.5);
	row_ratio("xend view p99 / raw floor p50", M_XEND, 0.99, M_RAW, 0.5);
	row_ratio("swtpm_ioctl p50 / xend view p50", M_IOCTL, 0.5, M_XEND, 0.5);
	row_rss("peak RSS staged send / recv (KiB)", R_XSEND, R_XRECV);
	row_label("record bytes (state + overhead)");
	for (i = 0; i < B.nstates; i++)
		cell("%zu+%zd", B.st[i].blob_len[0] + B.st[i].blob_len[1] + B.st[i].blob_len[2],
		     (ssize_t)B.st[i].record_len -
			     (ssize_t)(B.st[i].blob_len[0] + B.st[i].blob_len[1] + B.st[i].blob_len[2]));
	printf("\ninformation only (the one-shot command; xend does not run it):\n");
	row_ms("  send | recv, 2 processes (ms)", M_ONESHOT);
	row_rss("  peak RSS send / recv (KiB)", R_SEND, R_RECV);
	f = fopen("/proc/loadavg", "r");
	if (f) {
		if (!fgets(la, sizeof(la), f))
			snprintf(la, sizeof(la), "?\n");
		fclose(f);
	}
	printf("\nkey directories: %s; a child forked by this harness starts at %ld KiB "
	       "ru_maxrss; load average at the end: %s\n", B.keys_where, B.rss_floor_kib, la);
	report_targets();
}

/* ---- set-up ------------------------------------------------------------- */

static int usage(const char *why)
{
	fprintf(stderr, "vtpm_bench: %s\n"
		"usage: vtpm_bench -n N -w WORKDIR -m VTPM_MIGRATE -s SWTPM -i SWTPM_IOCTL\n"
		"                  -a KEYDIR -b KEYDIR -p PEER [-K TEXT] LABEL:CTRL:VTPM-UUID...\n"
		"       vtpm_bench --raw SRC_CTRL DST_CTRL\n", why);
	return 2;
}

static int add_state(const char *arg)
{
	struct state *s = &B.st[B.nstates];
	const char *c1 = strchr(arg, ':'), *c2 = strrchr(arg, ':'), *slash;
	int i;

	if (B.nstates == MAX_STATES || !c1 || c1 == c2 || c1 == arg ||
	    (size_t)(c1 - arg) >= sizeof(s->label) || (size_t)(c2 - c1 - 1) >= sizeof(s->ctrl) ||
	    strlen(c2 + 1) != 36)
		return -1;
	memset(s, 0, sizeof(*s));
	memcpy(s->label, arg, (size_t)(c1 - arg));
	memcpy(s->ctrl, c1 + 1, (size_t)(c2 - c1 - 1));
	strcpy(s->uuid, c2 + 1);
	slash = strrchr(s->ctrl, '/');
	if (!slash)
		return -1;
	memcpy(s->dir, s->ctrl, (size_t)(slash - s->ctrl));
	for (i = 0; i < M_COUNT; i++)
		series_init(&s->t[i], (size_t)B.n);
	for (i = 0; i < R_COUNT; i++)
		series_init(&s->rss[i], (size_t)B.n);
	for (i = 0; i < P_COUNT; i++)
		series_init(&s->part[i], (size_t)B.n);
	B.nstates++;
	return 0;
}

static int open_errfile(const char *name)
{
	char path[PATH_MAX + 32];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", B.work, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	return fd;
}

/* vtpm_bench --raw SRC_CTRL DST_CTRL */
static int raw_once(const char *src, const char *dst)
{
	size_t len[3];
	double ms = raw_copy(src, dst, len);

	printf("%.3f %zu %zu %zu\n", ms, len[0], len[1], len[2]);
	return 0;
}

int main(int argc, char **argv)
{
	struct swtpm_ctrl c;
	struct mig_err e;
	enum tpm_version v;
	char *end;
	double t0;
	int opt, i, it;

	if (argc == 4 && !strcmp(argv[1], "--raw"))
		return raw_once(argv[2], argv[3]);
	B.n = 200;
	B.keys_where = "?";
	while ((opt = getopt(argc, argv, "n:w:m:s:i:a:b:p:K:")) != -1) {
		switch (opt) {
		case 'n':
			B.n = (int)strtol(optarg, &end, 10);
			if (*end || B.n < 1 || B.n > 100000)
				return usage("-n needs a number of iterations (1..100000)");
			break;
		case 'w': B.work = optarg; break;
		case 'm': B.vm = optarg; break;
		case 's': B.swtpm = optarg; break;
		case 'i': B.ioctl = optarg; break;
		case 'a': B.keys_a = optarg; break;
		case 'b': B.keys_b = optarg; break;
		case 'p': B.peer = optarg; break;
		case 'K': B.keys_where = optarg; break;
		default: return usage("unknown option");
		}
	}
	if (!B.work || !B.vm || !B.swtpm || !B.ioctl || !B.keys_a || !B.keys_b || !B.peer)
		return usage("missing option");
	for (; optind < argc; optind++)
		if (add_state(argv[optind]))
			return usage("bad STATE (LABEL:CTRL:VTPM-UUID)");
	if (!B.nstates)
		return usage("no STATE given");

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);
	make_dir(B.work);
	B.errfd[0] = open_errfile("send.err");
	B.errfd[1] = open_errfile("recv.err");
	B.errfd[2] = open_errfile("ioctl.err");
	if (hostkey_load(B.keys_b, &B.key_b, &e) || peers_load(B.keys_b, &B.peers_b, &e))
		die("%s", e.msg);

	for (i = 0; i < B.nstates; i++) {
		ctrl_or_die(&c, B.st[i].ctrl);
		if (swtpm_get_version(&c, &v, &e))
			die("%s: source does not answer: %s", B.st[i].label, e.msg);
		if (v != TPM_VERSION_20)
			die("%s: source is not a TPM 2.0", B.st[i].label);
		measure_record(&B.st[i]);
	}
	printf("vTPM migration benchmark: TPM 2.0, %d states, N=%d per state (+%d warm-up), "
	       "methods interleaved\n", B.nstates, B.n, WARMUP);
	fflush(stdout);
	B.rss_floor_kib = rss_floor();
	t0 = now_ms();
	for (it = -WARMUP; it < B.n; it++)
		for (i = 0; i < B.nstates; i++)
			iteration(&B.st[i], i, it < 0 ? it + WARMUP : it, it >= 0);
	printf("measured in %.1f s\n", (now_ms() - t0) / 1000);
	report();
	hostkey_wipe(&B.key_b);
	peers_free(&B.peers_b);
	return 0;
}
