/* SPDX-License-Identifier: BSD-3-Clause */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "swtpm_ctrl.h"

/* How long each signal gets before the next step. */
#define TERM_WAIT_MS 2000
#define KILL_WAIT_MS 3000

int instance_state_dir(const char *ctrl, char *dir, size_t len, struct mig_err *e)
{
	const char *slash = strrchr(ctrl, '/');
	size_t n;

	if (!slash)
		return mig_fail(e, "cannot tell the state directory of %s (not an absolute path)", ctrl);
	n = slash == ctrl ? 1 : (size_t)(slash - ctrl);
	if (n >= len)
		return mig_fail(e, "state directory of %s: path too long", ctrl);
	snprintf(dir, len, "%.*s", (int)n, ctrl);
	return 0;
}

/* The program is swtpm and one argument names dir as its state ("dir=S",
 * alone or followed by more ",key=value"), as vtpm-swtpm's swtpm_alive checks. */
static int cmdline_is_swtpm_on(const char *cmd, size_t len, const char *dir)
{
	const char *arg = cmd, *end = cmd + len, *base = strrchr(cmd, '/'), *hit;
	size_t dl = strlen(dir);

	if (strcmp(base ? base + 1 : cmd, "swtpm"))
		return 0;
	for (arg += strlen(arg) + 1; arg < end; arg += strlen(arg) + 1)
		for (hit = strstr(arg, "dir="); hit; hit = strstr(hit + 1, "dir="))
			if ((hit == arg || hit[-1] == ',' || hit[-1] == '=') &&
			    !strncmp(hit + 4, dir, dl) && (hit[4 + dl] == '\0' || hit[4 + dl] == ','))
				return 1;
	return 0;
}

static int swtpm_proc_is(pid_t pid, const char *dir)
{
	char path[64], cmd[4096];
	ssize_t n;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	n = io_read_file(path, cmd, sizeof(cmd));
	/* A zombie has an empty command line: it holds no state. */
	return n > 0 && cmdline_is_swtpm_on(cmd, (size_t)n, dir);
}

pid_t swtpm_proc_find(const char *dir)
{
	char path[4200], buf[32], *end;
	struct dirent *d;
	pid_t found = 0;
	long v;
	DIR *dp;

	snprintf(path, sizeof(path), "%s/pid", dir);
	if (io_read_file(path, buf, sizeof(buf)) > 0) {
		v = strtol(buf, &end, 10);
		if (v > 0 && v <= 0x3fffffff && (!*end || *end == '\n') && swtpm_proc_is((pid_t)v, dir))
			return (pid_t)v;
	}
	/* The pid file may be missing or stale: any swtpm on dir counts. */
	if (!(dp = opendir("/proc")))
		return 0;
	while (!found && (d = readdir(dp)))
		if (isdigit((unsigned char)d->d_name[0]) && swtpm_proc_is(atoi(d->d_name), dir))
			found = (pid_t)atoi(d->d_name);
	closedir(dp);
	return found;
}

int swtpm_proc_wait_gone(pid_t pid, const char *dir, int wait_ms)
{
	int64_t deadline = io_now_ms() + wait_ms;

	while (swtpm_proc_is(pid, dir)) {
		if (io_now_ms() >= deadline)
			return -1;
		usleep(2000);
	}
	return 0;
}

int swtpm_proc_terminate(pid_t pid, const char *dir, struct mig_err *e)
{
	if (!swtpm_proc_is(pid, dir))
		return 0;
	if (kill(pid, SIGTERM) && errno != ESRCH)
		return mig_fail(e, "cannot end swtpm (pid %d) on %s: %s", (int)pid, dir, strerror(errno));
	if (!swtpm_proc_wait_gone(pid, dir, TERM_WAIT_MS))
		return 0;
	/* Stopped (SIGSTOP) or stuck: SIGTERM stays pending, SIGKILL does not. */
	if (kill(pid, SIGKILL) && errno != ESRCH)
		return mig_fail(e, "cannot kill swtpm (pid %d) on %s: %s", (int)pid, dir, strerror(errno));
	if (!swtpm_proc_wait_gone(pid, dir, KILL_WAIT_MS))
		return 0;
	return mig_fail(e, "swtpm (pid %d) on %s is still there after SIGKILL", (int)pid, dir);
}
