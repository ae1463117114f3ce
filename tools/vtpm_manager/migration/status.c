/*
 * Where a vTPM stands on this host: the generations the ledger holds for it
 * and the "left this host" mark send leaves in its state directory
 * (CONTRACT.md). Only reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger.h"
#include "migrate.h"
#include "util.h"

#define LEFT_MARK "vtpm-left"

/* The mark's first line, "generation N"; *gen 0 when there is no mark. */
static int read_left_mark(const char *ctrl, char *path, size_t plen, uint64_t *gen,
			  struct mig_err *e)
{
	const char *slash = strrchr(ctrl, '/');
	char buf[64], *end;
	ssize_t n;
	int fd;

	*gen = 0;
	if (!slash)
		return mig_fail(e, "cannot tell the state directory of %s", ctrl);
	snprintf(path, plen, "%.*s/%s", (int)(slash - ctrl), ctrl, LEFT_MARK);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : mig_fail(e, "%s: %s", path, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return mig_fail(e, "%s: %s", path, strerror(errno));
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (strncmp(buf, "generation ", 11) || buf[11] < '1' || buf[11] > '9')
		return mig_fail(e, "%s: first line is not 'generation N'", path);
	errno = 0;
	*gen = strtoull(buf + 11, &end, 10);
	if (errno || *end)
		return mig_fail(e, "%s: first line is not 'generation N'", path);
	return 0;
}

static void print_gen(FILE *out, const char *label, uint64_t g)
{
	if (g)
		fprintf(out, "%-14s %" PRIu64 "\n", label, g);
	else
		fprintf(out, "%-14s none\n", label);
}

int mig_status(const char *dir, const struct vtpm_instance *inst, FILE *out, struct mig_err *e)
{
	const struct ledger_entry *ent;
	char u[UUID_STR_LEN], path[sizeof(inst->ctrl) + 16];
	struct ledger l;
	uint64_t left = 0, sent, accepted;

	if (ledger_open(&l, dir, e))
		return mig_wrap(e, "status: ");
	ent = ledger_get(&l, inst->vtpm_uuid);
	sent = ent ? ent->sent : 0;
	accepted = ent ? ent->accepted : 0;
	ledger_close(&l);
	if (inst->ctrl[0] && read_left_mark(inst->ctrl, path, sizeof(path), &left, e))
		return mig_wrap(e, "status: ");
	uuid_format(inst->vtpm_uuid, u);
	fprintf(out, "%-14s %s\n", "vtpm-uuid", u);
	print_gen(out, "last-sent", sent);
	print_gen(out, "last-accepted", accepted);
	if (!inst->ctrl[0])
		fprintf(out, "%-14s unknown (give INSTANCE to read the state directory)\n", "left-host");
	else if (left)
		fprintf(out, "%-14s yes, at generation %" PRIu64 " (%s)\n", "left-host", left, path);
	else
		fprintf(out, "%-14s no\n", "left-host");
	return 0;
}
