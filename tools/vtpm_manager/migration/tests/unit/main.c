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

void fixed_key(struct host_key *k, const char *name, uint8_t seed)
{
	memset(k, 0, sizeof(*k));
	strcpy(k->pub.name, name);
	memset(k->ed_priv, seed, 32);
	memset(k->x_priv, seed ^ 0x5a, 32);
	ck_assert_int_eq(hostkey_derive_public(k, NULL), 0);
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

int main(void)
{
	SRunner *sr = srunner_create(record_suite());
	int failed;

	srunner_add_suite(sr, seal_suite());
	srunner_add_suite(sr, hostkey_suite());
	srunner_add_suite(sr, ledger_suite());
	srunner_add_suite(sr, ctrl_suite());
	srunner_add_suite(sr, cli_suite());
	srunner_add_suite(sr, io_suite());
	srunner_add_suite(sr, tpmif_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
