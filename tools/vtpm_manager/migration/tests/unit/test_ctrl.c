/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The swtpm control module: against a scripted fake swtpm for every way a
 * peer can misbehave, and against real swtpm for the TPM's own refusals.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io.h"
#include "ledger.h"
#include "migrate.h"
#include "swtpm_ctrl.h"
#include "unit.h"
#include "util.h"

/* ---- a fake swtpm on a Unix socket, one behaviour per test ---- */

enum fake_mode {
	FAKE_SHORT, FAKE_REFUSE4, FAKE_SILENT, FAKE_HUGE, FAKE_REFUSE_SET, FAKE_GARBAGE_INFO,
	FAKE_INIT_SLOW,     /* a TPM 2.0 waiting for state; INIT answers 1 s after
			       the ordinary timeout */
	FAKE_INIT_REFUSED,  /* a TPM 2.0 waiting for state; INIT refused */
};

struct fake {
	char path[108];
	int lfd;
	enum fake_mode mode;
	pthread_t th;
	uint32_t seen[32];
	int nseen;
};

static char *dir;
static const struct mig_words oneshot = { -1, -1, -1 };
/* swtpm processes a test started: ended in teardown even when it failed. */
static pid_t started[4];
static int nstarted;

static void dir_setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	dir = make_tmpdir();
	nstarted = 0;
}

static void dir_teardown(void)
{
	while (nstarted > 0) {
		pid_t pid = started[--nstarted];

		if (pid > 0 && kill(pid, SIGTERM) == 0)
			waitpid(pid, NULL, 0);
	}
	rm_tree(dir);
	free(dir);
}

static void put_info(int fd, const char *json)
{
	uint8_t head[12];

	be32_put(head, 0);
	be32_put(head + 4, (uint32_t)strlen(json));
	be32_put(head + 8, (uint32_t)strlen(json));
	if (write(fd, head, 12) != 12 || write(fd, json, strlen(json)) < 0)
		return;
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	uint8_t buf[65536], out[16];
	ssize_t n;
	uint32_t cmd;
	int c;

	while ((c = accept(f->lfd, NULL, NULL)) >= 0) {
		n = read(c, buf, sizeof(buf));
		if (n < 4) {
			close(c);
			continue;
		}
		cmd = be32_get(buf);
		if (f->nseen < 32)
			f->seen[f->nseen++] = cmd;
		switch (f->mode) {
		case FAKE_SHORT:
			if (write(c, "\0\0", 2) < 0)
				break;
			break;
		case FAKE_REFUSE4:
			be32_put(out, 0x9);
			if (write(c, out, 4) < 0)
				break;
			break;
		case FAKE_SILENT:
			usleep((SWTPM_CTRL_TIMEOUT_MS + 1500) * 1000);
			break;
		case FAKE_HUGE:
			be32_put(out, 0);
			be32_put(out + 4, 0);
			be32_put(out + 8, 0xffffffffu);
			be32_put(out + 12, 0xffffffffu);
			if (write(c, out, 16) < 0)
				break;
			break;
		case FAKE_GARBAGE_INFO:
			put_info(c, "{\"TPMSpecification\":{\"family\":\"9.9\"}}");
			break;
		case FAKE_INIT_SLOW:
		case FAKE_INIT_REFUSED:
			if (cmd == 0x12) { /* GET_INFO */
				put_info(c, "{\"TPMSpecification\":{\"family\":\"2.0\"}}");
				break;
			}
			if (cmd == 0x02 && f->mode == FAKE_INIT_SLOW)
				usleep((SWTPM_CTRL_TIMEOUT_MS + 1000) * 1000);
			/* GET_TPMESTABLISHED: not initialised (0xa); INIT as the mode says */
			be32_put(out, cmd == 0x04 ? 0xa : cmd == 0x02 && f->mode == FAKE_INIT_REFUSED ? 0x9 : 0);
			if (write(c, out, 4) < 0)
				break;
			break;
		case FAKE_REFUSE_SET:
			if (cmd == 0x12) {
				put_info(c, "{\"TPMSpecification\":{\"family\":\"2.0\"}}");
				break;
			}
			/* not initialised (GET_TPMESTABLISHED 0xa), pushes refused */
			be32_put(out, cmd == 0x04 ? 0xa : cmd == 0x0d ? 0x9 : 0);
			if (write(c, out, 4) < 0)
				break;
			break;
		}
		close(c);
	}
	return NULL;
}

static void fake_start(struct fake *f, enum fake_mode mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(f, 0, sizeof(*f));
	f->mode = mode;
	snprintf(f->path, sizeof(f->path), "%s/fake.ctrl", dir);
	strcpy(sa.sun_path, f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(f->lfd, 4), 0);
	ck_assert_int_eq(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
	shutdown(f->lfd, SHUT_RDWR);
	close(f->lfd);
	pthread_join(f->th, NULL);
}

static void ctrl_for(struct swtpm_ctrl *c, const char *path)
{
	ck_assert_int_eq(swtpm_ctrl_init(c, path, NULL), 0);
}

START_TEST(missing_socket_is_a_clear_error)
{
	struct swtpm_ctrl c;
	struct swtpm_blob b;
	struct mig_err e;
	char path[300];

	snprintf(path, sizeof(path), "%s/nothing.ctrl", dir);
	ctrl_for(&c, path);
	ck_assert_int_eq(swtpm_get_blob(&c, SWTPM_BLOB_PERMANENT, &b, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "cannot connect"));
	ck_assert_ptr_nonnull(strstr(e.msg, "nothing.ctrl"));
}
END_TEST

/* Pulling one blob from a fake swtpm in `mode` fails, saying `words`, with
 * nothing allocated; returns how long it took (ms). */
static int64_t pull_refused(enum fake_mode mode, uint32_t type, const char *words)
{
	struct swtpm_ctrl c;
	struct swtpm_blob b;
	struct fake f;
	struct mig_err e;
	int64_t t0 = io_now_ms(), took;

	fake_start(&f, mode);
	ctrl_for(&c, f.path);
	ck_assert_int_eq(swtpm_get_blob(&c, type, &b, &e), -1);
	took = io_now_ms() - t0;
	ck_assert_msg(strstr(e.msg, words), "error '%s' does not say '%s'", e.msg, words);
	ck_assert_ptr_null(b.data);
	fake_stop(&f);
	return took;
}

START_TEST(closed_connection_is_a_clear_error)
{
	pull_refused(FAKE_SHORT, SWTPM_BLOB_PERMANENT, "closed early");
}
END_TEST

START_TEST(four_byte_refusal_is_reported)
{
	pull_refused(FAKE_REFUSE4, SWTPM_BLOB_VOLATILE,
		     "pulling volatile state refused (TPM result 0x9)");
}
END_TEST

START_TEST(stuck_swtpm_times_out)
{
	/* The fake answers nothing for 1.5 s past the timeout; the client gives
	 * up at the timeout. */
	int64_t took = pull_refused(FAKE_SILENT, SWTPM_BLOB_PERMANENT, "timed out");

	ck_assert_int_ge(took, SWTPM_CTRL_TIMEOUT_MS - 50);
	ck_assert_int_lt(took, SWTPM_CTRL_TIMEOUT_MS + 1000);
}
END_TEST

START_TEST(oversized_blob_is_refused_before_allocation)
{
	pull_refused(FAKE_HUGE, SWTPM_BLOB_PERMANENT, "over the");
}
END_TEST

START_TEST(unknown_tpm_family_is_refused)
{
	struct swtpm_ctrl c;
	enum tpm_version v;
	struct fake f;
	struct mig_err e;

	fake_start(&f, FAKE_GARBAGE_INFO);
	ctrl_for(&c, f.path);
	ck_assert_int_eq(swtpm_get_version(&c, &v, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "no TPM family"));
	fake_stop(&f);
}
END_TEST

START_TEST(a_refused_push_stops_at_that_blob)
{
	struct swtpm_ctrl c;
	struct swtpm_state s;
	struct fake f;
	struct mig_err e;

	fake_start(&f, FAKE_REFUSE_SET);
	ctrl_for(&c, f.path);
	fake_state(&s, TPM_VERSION_20, 100, 50, 0);
	ck_assert_int_eq(swtpm_set_blobs(&c, &s, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "pushing permanent state refused"));
	fake_stop(&f);
	ck_assert_int_eq(f.nseen, 1); /* SET_STATEBLOB: nothing after */
	swtpm_state_clear(&s);
}
END_TEST

START_TEST(init_has_its_own_longer_timeout)
{
	struct swtpm_ctrl c;
	struct fake f;
	struct mig_err e;

	int64_t t0 = io_now_ms();

	fake_start(&f, FAKE_INIT_SLOW);
	ctrl_for(&c, f.path);
	/* A TPM 1.2 self-test at INIT outlasts the ordinary timeout (which
	 * stuck_swtpm_times_out shows is kept): INIT still succeeds. */
	ck_assert_msg(swtpm_init(&c, 1, &e) == 0, "slow INIT failed: %s", e.msg);
	ck_assert_int_gt(io_now_ms() - t0, SWTPM_CTRL_TIMEOUT_MS);
	fake_stop(&f);
}
END_TEST

/* ---- real swtpm ---- */

static int accepts_connections(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd, ok;

	if (strlen(path) >= sizeof(a.sun_path))
		return 0;
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static pid_t swtpm_start(const char *name, int tpm2, int running, char *ctrl, size_t clen)
{
	char sd[300], data[340], pidf[340], tpmstate[340], ctrlarg[360], srvarg[360];
	int i;
	pid_t pid;

	snprintf(sd, sizeof(sd), "%s/%s", dir, name);
	mkdir(sd, 0700);
	snprintf(ctrl, clen, "%s/data.ctrl", sd);
	snprintf(data, sizeof(data), "%s/data", sd);
	snprintf(pidf, sizeof(pidf), "%s/pid", sd);
	snprintf(tpmstate, sizeof(tpmstate), "dir=%s", sd);
	snprintf(ctrlarg, sizeof(ctrlarg), "type=unixio,path=%s", ctrl);
	snprintf(srvarg, sizeof(srvarg), "type=unixio,path=%s", data);
	pid = fork();
	if (pid == 0) {
		const char *argv[16] = { "swtpm", "socket", "--tpmstate", tpmstate, "--ctrl", ctrlarg,
					 "--server", srvarg };
		int n = 8;
		if (tpm2)
			argv[n++] = "--tpm2";
		if (running) {
			argv[n++] = "--flags";
			argv[n++] = "startup-clear";
		}
		argv[n] = NULL;
		execvp("swtpm", (char **)argv);
		_exit(127);
	}
	if (pid > 0 && nstarted < 4)
		started[nstarted++] = pid;
	/* The socket file appears at bind(), before listen(): a connect in
	 * between is refused. Ready means a connection is accepted. */
	for (i = 0; i < 500 && !accepts_connections(ctrl); i++)
		usleep(10000);
	ck_assert_msg(accepts_connections(ctrl), "swtpm did not start listening on %s", ctrl);
	return pid;
}

/* A real swtpm NAME (TPM 2.0 or 1.2, running or waiting) and a control
 * client for it; teardown ends the process. */
static void real_tpm(const char *name, int tpm2, int running, struct swtpm_ctrl *c)
{
	char ctrl[340];

	swtpm_start(name, tpm2, running, ctrl, sizeof(ctrl));
	ck_assert_int_eq(swtpm_ctrl_init(c, ctrl, NULL), 0);
}

/* What recv does to a waiting TPM: the blobs, then INIT (STOP if it fails). */
static int push(const struct swtpm_ctrl *c, const struct swtpm_state *s, struct mig_err *e)
{
	return swtpm_set_blobs(c, s, e) || swtpm_init_or_stop(c, e) ? -1 : 0;
}

START_TEST(real_swtpm_state_moves_into_a_waiting_tpm)
{
	struct swtpm_ctrl ca, cb;
	struct swtpm_state s;
	struct mig_err e;
	enum tpm_version v;

	real_tpm("a", _i, 1, &ca);
	real_tpm("b", _i, 0, &cb);
	ck_assert_int_eq(swtpm_get_version(&cb, &v, &e), 0);
	ck_assert_int_eq(v, _i ? TPM_VERSION_20 : TPM_VERSION_12);
	ck_assert_int_eq(swtpm_is_running(&ca, &e), 1);
	ck_assert_int_eq(swtpm_is_running(&cb, &e), 0);
	ck_assert_msg(swtpm_pull_state(&ca, &s, &e) == 0, "%s", e.msg);
	ck_assert_uint_gt(s.blob[0].len, 0);
	ck_assert_uint_gt(s.blob[1].len, 0);
	ck_assert_int_eq(swtpm_is_running(&ca, &e), 1); /* pulling never stops the source */
	ck_assert_msg(push(&cb, &s, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(swtpm_is_running(&cb, &e), 1);
	swtpm_state_clear(&s);
}
END_TEST

START_TEST(real_swtpm_refuses_push_into_running_tpm)
{
	struct swtpm_ctrl ca, cb;
	struct swtpm_state s;
	struct mig_err e;

	real_tpm("a", 1, 1, &ca);
	real_tpm("b", 1, 1, &cb);
	ck_assert_int_eq(swtpm_pull_state(&ca, &s, &e), 0);
	ck_assert_int_eq(push(&cb, &s, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "already running"));
	swtpm_state_clear(&s);
}
END_TEST

/* Callers compare the versions first (recv: vrec_check_binding); were a
 * TPM 2.0 state pushed into a TPM 1.2 anyway, swtpm refuses it and the TPM
 * stays down. */
START_TEST(real_swtpm_refuses_other_tpm_version_and_stays_down)
{
	struct swtpm_ctrl ca, cb;
	struct swtpm_state s;
	enum tpm_version v;
	struct mig_err e;

	real_tpm("a", 1, 1, &ca);
	real_tpm("b", 0, 0, &cb);
	ck_assert_int_eq(swtpm_pull_state(&ca, &s, &e), 0);
	ck_assert_int_eq(swtpm_get_version(&cb, &v, &e), 0);
	ck_assert_int_eq(v, TPM_VERSION_12);
	ck_assert_int_ne(v, s.version);
	ck_assert_int_eq(push(&cb, &s, &e), -1);
	ck_assert_int_eq(swtpm_is_running(&cb, &e), 0);
	swtpm_state_clear(&s);
}
END_TEST

START_TEST(real_swtpm_garbage_state_is_refused_and_stays_down)
{
	struct swtpm_ctrl cb;
	struct swtpm_state s;
	struct mig_err e;

	int r;

	real_tpm("b", 1, 0, &cb);
	fake_state(&s, TPM_VERSION_20, 1500, 0, 0);
	ck_assert_int_eq(push(&cb, &s, &e), -1);
	ck_assert_msg(strstr(e.msg, "refused (TPM result") != NULL, "push failed otherwise: %s", e.msg);
	r = swtpm_is_running(&cb, &e);
	ck_assert_msg(r == 0, "is_running=%d: %s", r, e.msg);
	swtpm_state_clear(&s);
}
END_TEST

START_TEST(real_swtpm_pull_from_waiting_tpm_is_refused)
{
	struct swtpm_ctrl cb;
	struct swtpm_state s;
	struct mig_err e;

	real_tpm("b", 1, 0, &cb);
	ck_assert_int_eq(swtpm_pull_state(&cb, &s, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "not running"));
}
END_TEST

/* recv into a destination whose INIT fails: recv fails and stops the TPM
 * afterwards (an INIT that timed out may still complete inside swtpm). */
START_TEST(recv_stops_the_destination_after_a_failed_init)
{
	static const char *uuid = "6a1f3c2e-0b4d-4e5f-8a9b-0c1d2e3f4a5b";
	struct vtpm_instance src = { .domid = -1 }, dst = { .domid = -1 };
	struct mig_recv_opts o = { 0, -1, NULL };
	struct host_key k;
	struct swtpm_ctrl ca;
	struct fake f;
	struct mig_err e;
	char keys[300], rec[300];
	int fd, i, init_at = -1, stop_at = -1;

	snprintf(keys, sizeof(keys), "%s/keys", dir);
	ck_assert_int_eq(mkdir(keys, 0700), 0);
	ck_assert_int_eq(hostkey_generate(&k, "unit-host", &e), 0);
	ck_assert_int_eq(hostkey_save(keys, &k, &e), 0);
	hostkey_wipe(&k);

	real_tpm("a", 1, 1, &ca);
	strcpy(src.ctrl, ca.path);
	ck_assert_int_eq(uuid_parse(uuid, src.vtpm_uuid), 0);
	snprintf(rec, sizeof(rec), "%s/record", dir);
	fd = open(rec, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_msg(mig_send(keys, "self", &src, fd, &oneshot, &e) == 0, "send: %s", e.msg);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);

	fake_start(&f, FAKE_INIT_REFUSED);
	strcpy(dst.ctrl, f.path);
	memcpy(dst.vtpm_uuid, src.vtpm_uuid, 16);
	ck_assert_int_eq(mig_recv(keys, &dst, fd, &o, &oneshot, &e), -1);
	close(fd);
	fake_stop(&f);
	ck_assert_msg(strstr(e.msg, "INIT refused") != NULL, "recv failed otherwise: %s", e.msg);
	for (i = 0; i < f.nseen; i++) {
		if (f.seen[i] == 0x02)
			init_at = i;
		if (f.seen[i] == 0x0e)
			stop_at = i;
	}
	ck_assert_int_ge(init_at, 0);
	ck_assert_msg(stop_at > init_at, "no STOP after the failed INIT");
	ck_assert_int_eq(f.nseen, stop_at + 1); /* and nothing after it */
}
END_TEST

/* The same failed INIT: the TPM never ran, so the generation is put back in
 * the ledger and the kept record loads again with a plain recv. */
START_TEST(recv_puts_the_ledger_back_when_the_tpm_never_ran)
{
	static const char *uuid = "6a1f3c2e-0b4d-4e5f-8a9b-0c1d2e3f4a5c";
	struct vtpm_instance src = { .domid = -1 }, dst = { .domid = -1 };
	const struct ledger_entry *le;
	struct mig_recv_opts o = { 0, -1, NULL };
	struct host_key k;
	struct swtpm_ctrl ca, cb;
	struct ledger led;
	struct fake f;
	struct mig_err e;
	char keys[300], rec[300], kept[600], *at, *end;
	int fd;

	snprintf(keys, sizeof(keys), "%s/keys", dir);
	ck_assert_int_eq(mkdir(keys, 0700), 0);
	ck_assert_int_eq(hostkey_generate(&k, "unit-host", &e), 0);
	ck_assert_int_eq(hostkey_save(keys, &k, &e), 0);
	hostkey_wipe(&k);

	real_tpm("a", 1, 1, &ca);
	strcpy(src.ctrl, ca.path);
	ck_assert_int_eq(uuid_parse(uuid, src.vtpm_uuid), 0);
	snprintf(rec, sizeof(rec), "%s/record", dir);
	fd = open(rec, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_msg(mig_send(keys, "self", &src, fd, &oneshot, &e) == 0, "send: %s", e.msg);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);

	fake_start(&f, FAKE_INIT_REFUSED);
	strcpy(dst.ctrl, f.path);
	memcpy(dst.vtpm_uuid, src.vtpm_uuid, 16);
	ck_assert_int_eq(mig_recv(keys, &dst, fd, &o, &oneshot, &e), -1);
	close(fd);
	fake_stop(&f);
	ck_assert_msg(strstr(e.msg, "INIT refused") != NULL, "recv failed otherwise: %s", e.msg);
	ck_assert_msg(strstr(e.msg, "--allow-rollback") == NULL, "asks for rollback: %s", e.msg);

	ck_assert_int_eq(ledger_open(&led, keys, &e), 0);
	le = ledger_get(&led, src.vtpm_uuid);
	ck_assert_msg(!le || le->accepted == 0, "generation still accepted after the TPM never ran");
	ledger_close(&led);

	at = strstr(e.msg, "record kept in ");
	ck_assert_ptr_nonnull(at);
	at += strlen("record kept in ");
	end = strchr(at, ':');
	ck_assert_ptr_nonnull(end);
	snprintf(kept, sizeof(kept), "%.*s", (int)(end - at), at);
	fd = open(kept, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	real_tpm("b", 1, 0, &cb);
	strcpy(dst.ctrl, cb.path);
	ck_assert_msg(mig_recv(keys, &dst, fd, &o, &oneshot, &e) == 0, "re-load: %s", e.msg);
	close(fd);
	ck_assert_int_eq(swtpm_is_running(&cb, &e), 1);
}
END_TEST

Suite *ctrl_suite(void)
{
	Suite *s = suite_create("swtpm_ctrl");
	TCase *t = tcase_create("fake");
	TCase *r = tcase_create("real");

	tcase_add_checked_fixture(t, dir_setup, dir_teardown);
	tcase_add_test(t, missing_socket_is_a_clear_error);
	tcase_add_test(t, closed_connection_is_a_clear_error);
	tcase_add_test(t, four_byte_refusal_is_reported);
	tcase_add_test(t, stuck_swtpm_times_out);
	tcase_add_test(t, oversized_blob_is_refused_before_allocation);
	tcase_add_test(t, unknown_tpm_family_is_refused);
	tcase_add_test(t, a_refused_push_stops_at_that_blob);
	tcase_add_test(t, init_has_its_own_longer_timeout);
	tcase_set_timeout(t, 40);
	suite_add_tcase(s, t);

	tcase_add_checked_fixture(r, dir_setup, dir_teardown);
	tcase_set_timeout(r, 30);
	tcase_add_loop_test(r, real_swtpm_state_moves_into_a_waiting_tpm, 0, 2);
	tcase_add_test(r, real_swtpm_refuses_push_into_running_tpm);
	tcase_add_test(r, real_swtpm_refuses_other_tpm_version_and_stays_down);
	tcase_add_test(r, real_swtpm_garbage_state_is_refused_and_stays_down);
	tcase_add_test(r, real_swtpm_pull_from_waiting_tpm_is_refused);
	tcase_add_test(r, recv_stops_the_destination_after_a_failed_init);
	tcase_add_test(r, recv_puts_the_ledger_back_when_the_tpm_never_ran);
	suite_add_tcase(s, r);
	return s;
}
