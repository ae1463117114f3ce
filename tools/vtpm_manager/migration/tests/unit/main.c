/* SPDX-License-Identifier: BSD-3-Clause */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ftw.h>

#include "unit.h"

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st; (void)flag; (void)f;
	return remove(path);
}

void rm_tree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *make_tmpdir(void)
{
	char tmpl[] = "/tmp/vtpm-unit.XXXXXX";
	char *d = mkdtemp(tmpl);

	ck_assert_ptr_nonnull(d);
	return strdup(d);
}

void fake_state(struct swtpm_state *s, enum tpm_version v, uint32_t perm, uint32_t vol,
		uint32_t save)
{
	uint32_t lens[3] = { perm, vol, save }, i, j;

	memset(s, 0, sizeof(*s));
	s->version = v;
	for (i = 0; i < 3; i++) {
		s->blob[i].type = i + 1;
		s->blob[i].len = lens[i];
		if (!lens[i])
			continue;
		s->blob[i].data = malloc(lens[i]);
		ck_assert_ptr_nonnull(s->blob[i].data);
		for (j = 0; j < lens[i]; j++)
			s->blob[i].data[j] = (uint8_t)("SECRET-NV-DATA-"[j % 15] + i);
	}
}

int mem_contains(const uint8_t *hay, size_t hlen, const uint8_t *needle, size_t nlen)
{
	size_t i;

	for (i = 0; i + nlen <= hlen; i++)
		if (!memcmp(hay + i, needle, nlen))
			return 1;
	return 0;
}

/* The suites are weak references (unit.h): one whose test file is not
 * linked in is skipped, so that the tests build and run with only some of
 * their files (the back end's alone, say). */
static Suite *(*const suites[])(void) = {
	record_suite, seal_suite, hostkey_suite, ledger_suite,
	ctrl_suite, cli_suite, io_suite, tpmif_suite,
};

int main(void)
{
	SRunner *sr = srunner_create(NULL);
	size_t i;
	int failed;

	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (suites[i])
			srunner_add_suite(sr, suites[i]());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
