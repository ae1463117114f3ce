/* The swtpm process of one instance, found by its pid file (S/pid beside the
 * control socket) and checked against /proc, so that "gone" means the
 * process is gone, not merely that its control channel is silent. */
#ifndef VTPM_MIG_SWTPM_PROC_H
#define VTPM_MIG_SWTPM_PROC_H

#include <stddef.h>
#include <sys/types.h>
#include "err.h"

/* The state directory S of an instance: the directory of its control socket. */
int instance_state_dir(const char *ctrl, char *dir, size_t len, struct mig_err *e) MIG_MUST;

/* The swtpm serving dir: the pid in dir/pid if it is that swtpm, else any
 * swtpm process on dir; 0 if there is none. */
pid_t swtpm_proc_find(const char *dir);

/* Wait up to wait_ms for pid to stop being that swtpm; 0 once it has. */
int swtpm_proc_wait_gone(pid_t pid, const char *dir, int wait_ms);

/* Terminate pid (SIGTERM, then SIGKILL, which also ends a stopped process)
 * and wait until it is gone. */
int swtpm_proc_terminate(pid_t pid, const char *dir, struct mig_err *e) MIG_MUST;

#endif
