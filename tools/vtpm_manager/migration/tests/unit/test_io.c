/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Whole reads and writes: a non-blocking descriptor with nothing to read (or
 * no room to write) is waited for in poll, not spun on.
 */
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "unit.h"

#define DELAY_US 300000

static int64_t thread_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nonblocking_pipe(int p[2])
{
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	ck_assert_int_eq(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
}

static void *late_writer(void *arg)
{
	int fd = *(int *)arg;

	usleep(DELAY_US);
	if (write(fd, "12345678", 8) != 8)
		return (void *)1;
	return NULL;
}

START_TEST(read_without_deadline_waits_in_poll_on_a_nonblocking_pipe)
{
	char buf[8];
	struct mig_err e;
	pthread_t th;
	int p[2];
	int64_t cpu0, wall0;

	nonblocking_pipe(p);
	ck_assert_int_eq(pthread_create(&th, NULL, late_writer, &p[1]), 0);
	cpu0 = thread_cpu_ms();
	wall0 = io_now_ms();
	ck_assert_msg(io_read_full(p[0], buf, 8, -1, "pipe", &e) == 0, "%s", e.msg);
	ck_assert_int_ge(io_now_ms() - wall0, DELAY_US / 1000 - 50);
	/* A spin would burn the whole wait on this thread's CPU. */
	ck_assert_int_lt(thread_cpu_ms() - cpu0, 50);
	ck_assert_int_eq(memcmp(buf, "12345678", 8), 0);
	pthread_join(th, NULL);
	close(p[0]);
	close(p[1]);
}
END_TEST

#define BIG (1 << 18) /* four times a default pipe's room */

static void *late_reader(void *arg)
{
	static char sink[1 << 16];
	int fd = *(int *)arg;
	size_t got = 0;
	ssize_t n;

	usleep(DELAY_US);
	while (got < BIG) {
		n = read(fd, sink, sizeof(sink));
		if (n > 0)
			got += (size_t)n;
		else if (n == 0)
			break;
		else
			usleep(1000); /* non-blocking: not this test's subject */
	}
	return NULL;
}

START_TEST(write_without_deadline_waits_in_poll_on_a_full_nonblocking_pipe)
{
	static char big[BIG];
	struct mig_err e;
	pthread_t th;
	int p[2];
	int64_t cpu0;

	nonblocking_pipe(p);
	ck_assert_int_eq(pthread_create(&th, NULL, late_reader, &p[0]), 0);
	cpu0 = thread_cpu_ms();
	ck_assert_msg(io_write_full(p[1], big, sizeof(big), -1, "pipe", &e) == 0, "%s", e.msg);
	ck_assert_int_lt(thread_cpu_ms() - cpu0, 50);
	close(p[1]);
	pthread_join(th, NULL);
	close(p[0]);
}
END_TEST

START_TEST(read_with_deadline_times_out_on_a_silent_pipe)
{
	char buf[4];
	struct mig_err e;
	int p[2];
	int64_t t0 = io_now_ms();

	nonblocking_pipe(p);
	ck_assert_int_eq(io_read_full(p[0], buf, 4, 200, "pipe", &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "timed out"));
	ck_assert_int_lt(io_now_ms() - t0, 1000);
	close(p[0]);
	close(p[1]);
}
END_TEST

Suite *io_suite(void)
{
	Suite *s = suite_create("io");
	TCase *t = tcase_create("poll");

	tcase_add_test(t, read_without_deadline_waits_in_poll_on_a_nonblocking_pipe);
	tcase_add_test(t, write_without_deadline_waits_in_poll_on_a_full_nonblocking_pipe);
	tcase_add_test(t, read_with_deadline_times_out_on_a_silent_pipe);
	suite_add_tcase(s, t);
	return s;
}
