/*
 * Fault injection points for the fault suite. Only a build with
 * -DVTPM_FAULT_INJECTION (make FAULT=1, folder build-fault) has them: there
 * the environment variable VTPM_FAULT names the one point at which the
 * process kills itself. Production builds compile them to nothing.
 */
#ifndef VTPM_MIG_FAULT_H
#define VTPM_MIG_FAULT_H

#ifdef VTPM_FAULT_INJECTION
int fault_on(const char *point);
void fault_die(void) __attribute__((noreturn));
#else
static inline int fault_on(const char *point) { (void)point; return 0; }
static inline void fault_die(void) { }
#endif

static inline void fault_point(const char *point)
{
	if (fault_on(point))
		fault_die();
}

#endif
