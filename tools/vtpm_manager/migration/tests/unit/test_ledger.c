/* SPDX-License-Identifier: BSD-3-Clause */
/* The replay ledger (R5): generations, durability, damage, locking. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "io.h"
#include "ledger.h"
#include "unit.h"

static char *dir;
static const uint8_t U1[16] = { 1 }, U2[16] = { 2 };

static void dir_setup(void) { dir = make_tmpdir(); }
static void dir_teardown(void) { rm_tree(dir); free(dir); }

START_TEST(send_takes_a_generation_above_sent_and_accepted)
{
	struct ledger l;
	uint64_t g;

	ck_assert_int_eq(ledger_open(&l, dir, NULL), 0);
	ck_assert_int_eq(ledger_take_send(&l, U1, &g, NULL), 0);
	ck_assert_uint_eq(g, 1);
	ck_assert_int_eq(ledger_take_send(&l, U1, &g, NULL), 0);
	ck_assert_uint_eq(g, 2);
	ck_assert_int_eq(ledger_accept(&l, U1, 10, 0, NULL), 0);
	ck_assert_int_eq(ledger_take_send(&l, U1, &g, NULL), 0);
	ck_assert_uint_eq(g, 11);
	ck_assert_int_eq(ledger_take_send(&l, U2, &g, NULL), 0);
	ck_assert_uint_eq(g, 1);
	ledger_close(&l);
}
END_TEST

START_TEST(recv_refuses_replayed_generation)
{
	struct ledger l;
	struct mig_err e;

	ck_assert_int_eq(ledger_open(&l, dir, NULL), 0);
	ck_assert_int_eq(ledger_accept(&l, U1, 3, 0, &e), 0);
	ck_assert_int_eq(ledger_accept(&l, U1, 3, 0, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "replay or rollback refused"));
	ck_assert_int_eq(ledger_accept(&l, U1, 2, 0, &e), -1);
	ck_assert_int_eq(ledger_accept(&l, U1, 4, 0, &e), 0);
	ck_assert_int_eq(ledger_accept(&l, U2, 1, 0, &e), 0); /* per vTPM */
	ledger_close(&l);
}
END_TEST

START_TEST(unaccept_gives_back_only_its_own_mark)
{
	struct ledger l;
	uint64_t g;

	ck_assert_int_eq(ledger_open(&l, dir, NULL), 0);
	ck_assert_int_eq(ledger_accept(&l, U1, 3, 0, NULL), 0);
	ck_assert_int_eq(ledger_accept(&l, U1, 5, 0, NULL), 0);
	ck_assert_int_eq(ledger_take_send(&l, U1, &g, NULL), 0); /* sent 6 meanwhile */
	ck_assert_int_eq(ledger_unaccept(&l, U1, 5, 3, NULL), 0);
	ck_assert_uint_eq(ledger_get(&l, U1)->accepted, 3);
	ck_assert_uint_eq(ledger_get(&l, U1)->sent, 6);   /* the sent mark stays */
	ck_assert_int_eq(ledger_accept(&l, U1, 5, 0, NULL), 0); /* 5 loads again */
	ck_assert_int_eq(ledger_accept(&l, U1, 7, 0, NULL), 0);
	ck_assert_int_eq(ledger_unaccept(&l, U1, 5, 3, NULL), 0); /* moved on: kept */
	ck_assert_uint_eq(ledger_get(&l, U1)->accepted, 7);
	ledger_close(&l);
	ck_assert_int_eq(ledger_open(&l, dir, NULL), 0);  /* and on disk */
	ck_assert_uint_eq(ledger_get(&l, U1)->accepted, 7);
	ledger_close(&l);
}
END_TEST

START_TEST(allow_rollback_accepts_older_without_lowering_the_mark)
{
	struct ledger l;

	ck_assert_int_eq(ledger_open(&l, dir, NULL), 0);
	ck_assert_int_eq(ledger_accept(&l, U1, 5, 0, NULL), 0);
	ck_assert_int_eq(ledger_accept(&l, U1, 2, 1, NULL), 0);
	ck_assert_uint_eq(ledger_get(&l, U1)->accepted, 5);
	ledger_close(&l);
}
END_TEST

START_TEST(accepted_generation_survives_reopen)
{
	struct ledger l;
	struct mig_err e;

	ck_assert_int_eq(ledger_open(&l, dir, NULL), 0);
	ck_assert_int_eq(ledger_accept(&l, U1, 7, 0, NULL), 0);
	ledger_close(&l);
	ck_assert_int_eq(ledger_open(&l, dir, NULL), 0);
	ck_assert_uint_eq(ledger_get(&l, U1)->accepted, 7);
	ck_assert_int_eq(ledger_accept(&l, U1, 7, 0, &e), -1);
	ledger_close(&l);
}
END_TEST

static void damage(const char *how)
{
	char path[512], buf[4096];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/ledger", dir);
	f = fopen(path, "r+");
	n = fread(buf, 1, sizeof(buf), f);
	rewind(f);
	if (!strcmp(how, "flip")) {
		buf[strlen("vtpm-migration-ledger v1\n") + 40] ^= 1;
		fwrite(buf, 1, n, f);
	} else if (!strcmp(how, "truncate")) {
		ck_assert_int_eq(ftruncate(fileno(f), (off_t)n - 10), 0);
	} else if (!strcmp(how, "empty")) {
		ck_assert_int_eq(ftruncate(fileno(f), 0), 0);
	}
	fclose(f);
}

START_TEST(damaged_ledger_is_refused_never_reset)
{
	static const char *const hows[] = { "flip", "truncate", "empty" };
	struct ledger l;
	struct mig_err e;
	size_t i;

	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(ledger_open(&l, dir, NULL), 0);
		ck_assert_int_eq(ledger_accept(&l, U1, 7 + i * 10, 0, NULL), 0);
		ledger_close(&l);
		damage(hows[i]);
		ck_assert_msg(ledger_open(&l, dir, &e) == -1, "%s ledger accepted", hows[i]);
		ck_assert_ptr_nonnull(strstr(e.msg, "ledger"));
		ck_assert_ptr_null(strchr(e.msg, '\n'));
		{
			char path[512];
			snprintf(path, sizeof(path), "%s/ledger", dir);
			unlink(path);
		}
	}
}
END_TEST

START_TEST(ledger_text_round_trips)
{
	struct ledger_entry in[2] = { { { 1 }, 3, 4 }, { { 2 }, 0, 18446744073709551615ull } }, *out;
	char *text = ledger_format(in, 2);
	size_t n;

	ck_assert_int_eq(ledger_parse(text, strlen(text), &out, &n, NULL), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_mem_eq(in, out, sizeof(in));
	free(out);
	free(text);
}
END_TEST

/* Found by the fuzzer: numbers with blanks and a sign, a NUL in the sum line. */
START_TEST(ledger_numbers_are_digits_only)
{
	static const char *const bad[] = { " -1", "\t2", "+3", "01", "", "1x" };
	struct ledger_entry in = { { 9 }, 1, 2 }, *out;
	char *text, buf[1024];
	size_t n, i;

	text = ledger_format(&in, 1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ledger_entry *v = NULL;
		char sum[80];
		/* Rebuild a ledger whose accepted field is bad[i], with a valid checksum. */
		snprintf(buf, sizeof(buf), "vtpm-migration-ledger v1\n"
			 "09000000-0000-0000-0000-000000000000 1 %s\n", bad[i]);
		{
			unsigned char md[32];
			unsigned int mdlen = sizeof(md);
			size_t k;
			EVP_Digest(buf, strlen(buf), md, &mdlen, EVP_sha256(), NULL);
			for (k = 0; k < 32; k++)
				sprintf(sum + 2 * k, "%02x", md[k]);
		}
		strcat(buf, "sha256 ");
		strcat(buf, sum);
		strcat(buf, "\n");
		ck_assert_msg(ledger_parse(buf, strlen(buf), &v, &n, NULL) == -1, "accepted '%s'", bad[i]);
	}
	/* The sum line with a NUL and junk after the checksum. */
	n = strlen(text);
	memcpy(buf, text, n);
	buf[n - 1] = '\0';
	memcpy(buf + n, "junk\n", 5);
	ck_assert_int_eq(ledger_parse(buf, n + 5, &out, &n, NULL), -1);
	free(text);
}
END_TEST

START_TEST(concurrent_users_are_serialised)
{
	struct ledger l;
	int64_t t0;
	pid_t pid;
	int st, ready[2];
	uint64_t g;
	char byte;

	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	if (pid == 0) {
		struct ledger c;
		close(ready[0]);
		if (ledger_open(&c, dir, NULL))
			_exit(1);
		/* Tell the parent we hold the lock, then keep it a while. */
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		usleep(300000);
		if (ledger_take_send(&c, U1, &g, NULL))
			_exit(1);
		ledger_close(&c);
		_exit(0);
	}
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &byte, 1), 1);
	close(ready[0]);
	t0 = io_now_ms();
	ck_assert_int_eq(ledger_open(&l, dir, NULL), 0);
	/* We waited for the child's lock and see its write. */
	ck_assert_int_ge(io_now_ms() - t0, 100);
	ck_assert_uint_eq(ledger_get(&l, U1)->sent, 1);
	ck_assert_int_eq(ledger_take_send(&l, U1, &g, NULL), 0);
	ck_assert_uint_eq(g, 2);
	ledger_close(&l);
	waitpid(pid, &st, 0);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
END_TEST

START_TEST(unwritable_ledger_directory_fails_cleanly)
{
	struct ledger l;
	struct mig_err e;
	char path[512];

	snprintf(path, sizeof(path), "%s/missing", dir);
	ck_assert_int_eq(ledger_open(&l, path, &e), -1);
	ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, "No such file"), "%s", e.msg);
}
END_TEST

/* 11.3: the ledger, its lock and DIR are refused when another user could
 * change them; a planted .ledger.tmp held open never gets the new ledger. */
START_TEST(ledger_others_can_write_is_refused)
{
	char path[512], tmp[512];
	struct ledger l;
	struct mig_err e;
	struct stat st;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/.ledger.tmp", dir);
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL, 0666);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ledger_open(&l, dir, NULL), 0);
	ck_assert_int_eq(ledger_accept(&l, U1, 3, 0, NULL), 0);
	ledger_close(&l);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/ledger", dir);
	ck_assert_int_eq(chmod(path, 0620), 0);
	ck_assert_int_eq(ledger_open(&l, dir, &e), -1);
	ck_assert_msg(strstr(e.msg, "chmod go-w") && strstr(e.msg, path), "%s", e.msg);
	ck_assert_int_eq(chmod(path, 0600), 0);
	snprintf(path, sizeof(path), "%s/ledger.lock", dir);
	ck_assert_int_eq(chmod(path, 0602), 0);
	ck_assert_int_eq(ledger_open(&l, dir, &e), -1);
	ck_assert_msg(strstr(e.msg, "chmod go-w") && strstr(e.msg, path), "%s", e.msg);
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_int_eq(chmod(dir, 0777), 0);
	ck_assert_int_eq(ledger_open(&l, dir, &e), -1);
	ck_assert_msg(strstr(e.msg, "key directory") && strstr(e.msg, "chmod go-w"), "%s", e.msg);
	ck_assert_int_eq(chmod(dir, 01777), 0);
	ck_assert_int_eq(ledger_open(&l, dir, &e), -1);
	ck_assert_msg(strstr(e.msg, "key directory") && strstr(e.msg, "shared directory"), "%s",
		      e.msg);
	ck_assert_int_eq(chmod(dir, 0700), 0);
	ck_assert_int_eq(ledger_open(&l, dir, &e), 0);
	ck_assert_uint_eq(ledger_get(&l, U1)->accepted, 3);
	ledger_close(&l);
}
END_TEST

/* 15.4: a damaged ledger's error says what to do next. */
START_TEST(damaged_ledger_error_says_restore_or_rebuild)
{
	struct ledger l;
	struct mig_err e;

	ck_assert_int_eq(ledger_open(&l, dir, NULL), 0);
	ck_assert_int_eq(ledger_accept(&l, U1, 7, 0, NULL), 0);
	ledger_close(&l);
	damage("flip");
	ck_assert_int_eq(ledger_open(&l, dir, &e), -1);
	ck_assert_msg(strstr(e.msg, "damaged") && strstr(e.msg, "restore it from backup") &&
		      strstr(e.msg, "ledger-rebuild") && strstr(e.msg, "replay"), "%s", e.msg);
}
END_TEST

/* 15.4: salvage keeps every line that still reads, the higher marks of a
 * vTPM listed twice, and counts what it dropped. */
START_TEST(ledger_salvage_keeps_what_still_reads)
{
	static const char text[] =
		"vtpm-migration-ledger v1\n"
		"01000000-0000-0000-0000-000000000000 3 9\n"
		"02000000-0000-0000-0000-00000000000X 1 1\n"
		"garbage\n"
		"01000000-0000-0000-0000-000000000000 5 2\n"
		"02000000-0000-0000-0000-000000000000 0 4\n"
		"sha256 0000\n"
		"03000000-0000-0000-0000-000000000000 1 ";
	struct ledger_entry *ent;
	size_t n, dropped;

	ck_assert_int_eq(ledger_salvage(text, sizeof(text) - 1, &ent, &n, &dropped), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(dropped, 3);
	ck_assert_mem_eq(ent[0].uuid, U1, 16);
	ck_assert_uint_eq(ent[0].sent, 5);
	ck_assert_uint_eq(ent[0].accepted, 9);
	ck_assert_mem_eq(ent[1].uuid, U2, 16);
	ck_assert_uint_eq(ent[1].accepted, 4);
	free(ent);
}
END_TEST

/* 15.4: rebuild replaces only a damaged ledger, keeps the damaged bytes
 * aside, and the rebuilt ledger still refuses what it remembers. */
START_TEST(ledger_rebuild_only_when_damaged)
{
	char path[512];
	struct ledger l;
	struct mig_err e;
	size_t kept, dropped;

	ck_assert_int_eq(ledger_rebuild(dir, &kept, &dropped, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "no ledger"));
	ck_assert_int_eq(ledger_open(&l, dir, NULL), 0);
	ck_assert_int_eq(ledger_accept(&l, U1, 7, 0, NULL), 0);
	ck_assert_int_eq(ledger_accept(&l, U2, 4, 0, NULL), 0);
	ledger_close(&l);
	ck_assert_int_eq(ledger_rebuild(dir, &kept, &dropped, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "not damaged"));
	damage("truncate");
	ck_assert_int_eq(ledger_rebuild(dir, &kept, &dropped, &e), 0);
	ck_assert_uint_eq(kept, 2);
	snprintf(path, sizeof(path), "%s/ledger.damaged", dir);
	ck_assert_int_eq(access(path, F_OK), 0);
	ck_assert_int_eq(ledger_open(&l, dir, &e), 0);
	ck_assert_int_eq(ledger_accept(&l, U1, 7, 0, &e), -1);
	ck_assert_int_eq(ledger_accept(&l, U1, 8, 0, &e), 0);
	ledger_close(&l);
}
END_TEST

Suite *ledger_suite(void)
{
	Suite *s = suite_create("ledger");
	TCase *t = tcase_create("ledger");

	tcase_add_checked_fixture(t, dir_setup, dir_teardown);
	tcase_add_test(t, send_takes_a_generation_above_sent_and_accepted);
	tcase_add_test(t, recv_refuses_replayed_generation);
	tcase_add_test(t, unaccept_gives_back_only_its_own_mark);
	tcase_add_test(t, allow_rollback_accepts_older_without_lowering_the_mark);
	tcase_add_test(t, accepted_generation_survives_reopen);
	tcase_add_test(t, damaged_ledger_is_refused_never_reset);
	tcase_add_test(t, ledger_text_round_trips);
	tcase_add_test(t, ledger_numbers_are_digits_only);
	tcase_add_test(t, concurrent_users_are_serialised);
	tcase_add_test(t, unwritable_ledger_directory_fails_cleanly);
	tcase_add_test(t, ledger_others_can_write_is_refused);
	tcase_add_test(t, damaged_ledger_error_says_restore_or_rebuild);
	tcase_add_test(t, ledger_salvage_keeps_what_still_reads);
	tcase_add_test(t, ledger_rebuild_only_when_damaged);
	suite_add_tcase(s, t);
	return s;
}
