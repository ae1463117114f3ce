/*
 * ctrl_copy: integration test tool for swtpm_ctrl.
 *
 *   ctrl_copy SRC_CTRL DST_CTRL   pull the state of the running TPM at
 *                                 SRC_CTRL, push it into the TPM at DST_CTRL
 *                                 (which must not be running), INIT it
 *   ctrl_copy --status CTRL       print the TPM version and whether it runs
 *
 * Prints the versions and blob sizes on stdout. On failure prints the
 * library's one-line message on stderr and exits 1; usage errors exit 2.
 */
#include <stdio.h>
#include <string.h>

#include "swtpm_ctrl.h"

static int fail(const char *what, const struct mig_err *e)
{
	fprintf(stderr, "ctrl_copy: %s: %s\n", what, e->msg[0] ? e->msg : "(no message)");
	return 1;
}

static int status(const char *path)
{
	struct swtpm_ctrl c;
	struct mig_err e;
	enum tpm_version v = TPM_VERSION_UNKNOWN;
	int running;

	memset(&e, 0, sizeof(e));
	if (swtpm_ctrl_init(&c, path, &e) != 0)
		return fail(path, &e);
	if (swtpm_get_version(&c, &v, &e) != 0)
		return fail("version", &e);
	running = swtpm_is_running(&c, &e);
	if (running < 0)
		return fail("running", &e);
	printf("TPM %s %s\n", tpm_version_name(v), running ? "running" : "not running");
	return 0;
}

int main(int argc, char **argv)
{
	struct swtpm_ctrl src, dst;
	struct swtpm_state st;
	struct mig_err e;
	enum tpm_version dv = TPM_VERSION_UNKNOWN;
	int rc = 1;

	if (argc == 3 && strcmp(argv[1], "--status") == 0)
		return status(argv[2]);
	if (argc != 3 || argv[1][0] == '-' || argv[2][0] == '-') {
		fprintf(stderr, "usage: ctrl_copy SRC_CTRL DST_CTRL\n"
				"       ctrl_copy --status CTRL\n");
		return 2;
	}

	memset(&e, 0, sizeof(e));
	memset(&st, 0, sizeof(st));
	if (swtpm_ctrl_init(&src, argv[1], &e) != 0)
		return fail("source", &e);
	if (swtpm_ctrl_init(&dst, argv[2], &e) != 0)
		return fail("destination", &e);

	if (swtpm_pull_state(&src, &st, &e) != 0) {
		fail("pull", &e);
		goto out;
	}
	printf("source: TPM %s", tpm_version_name(st.version));
	for (int i = 0; i < 3; i++)
		printf(", %s %u bytes", tpm_blob_name((uint32_t)i + 1), (unsigned)st.blob[i].len);
	printf("\n");

	if (swtpm_get_version(&dst, &dv, &e) != 0) {
		fail("destination version", &e);
		goto out;
	}
	printf("destination: TPM %s\n", tpm_version_name(dv));
	fflush(stdout);

	if (dv != st.version) {
		mig_set(&e, "destination is a TPM %s, the state is for a TPM %s",
		       tpm_version_name(dv), tpm_version_name(st.version));
		fail("push", &e);
		goto out;
	}
	if (swtpm_set_blobs(&dst, &st, &e) || swtpm_init_or_stop(&dst, &e)) {
		fail("push", &e);
		goto out;
	}
	printf("pushed and initialised\n");
	rc = 0;
out:
	swtpm_state_clear(&st);
	return rc;
}
