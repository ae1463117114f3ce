/* SPDX-License-Identifier: BSD-3-Clause */
/* Host keys and trusted peers (R11 key files, R3/R4 trust). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostkey.h"
#include "unit.h"

static char *dir;

static void dir_setup(void) { dir = make_tmpdir(); }
static void dir_teardown(void) { rm_tree(dir); free(dir); }

static void write_text(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	fchmod(fd, mode);
	close(fd);
}

START_TEST(keygen_writes_private_key_0600_and_loads_back)
{
	struct host_key k, l;
	struct stat st;
	char path[512];

	ck_assert_int_eq(hostkey_generate(&k, "hosta", NULL), 0);
	ck_assert_int_eq(hostkey_save(dir, &k, NULL), 0);
	snprintf(path, sizeof(path), "%s/host.key", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(hostkey_load(dir, &l, NULL), 0);
	ck_assert_mem_eq(&k, &l, sizeof(k));
	hostkey_wipe(&l);
	for (size_t i = 0; i < sizeof(l); i++)
		ck_assert_uint_eq(((uint8_t *)&l)[i], 0);
	hostkey_wipe(&k);
}
END_TEST

START_TEST(keygen_never_overwrites_a_key)
{
	struct host_key k;
	struct mig_err e;

	ck_assert_int_eq(hostkey_generate(&k, "hosta", NULL), 0);
	ck_assert_int_eq(hostkey_save(dir, &k, NULL), 0);
	ck_assert_int_eq(hostkey_save(dir, &k, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "already exists"));
	hostkey_wipe(&k);
}
END_TEST

START_TEST(group_readable_private_key_is_refused)
{
	struct host_key k;
	struct mig_err e;
	char path[512];

	ck_assert_int_eq(hostkey_generate(&k, "hosta", NULL), 0);
	ck_assert_int_eq(hostkey_save(dir, &k, NULL), 0);
	snprintf(path, sizeof(path), "%s/host.key", dir);
	chmod(path, 0640);
	ck_assert_int_eq(hostkey_load(dir, &k, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "lets others read"));
	chmod(path, 0604);
	ck_assert_int_eq(hostkey_load(dir, &k, &e), -1);
}
END_TEST

START_TEST(missing_directory_and_key_have_clear_errors)
{
	struct host_key k;
	struct mig_err e;
	char path[512];

	snprintf(path, sizeof(path), "%s/nope", dir);
	ck_assert_int_eq(hostkey_load(path, &k, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "key directory"));
	ck_assert_int_eq(hostkey_load(dir, &k, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "no host key"));
}
END_TEST

START_TEST(malformed_private_key_is_refused)
{
	struct host_key k;
	struct mig_err e;
	char path[512];

	snprintf(path, sizeof(path), "%s/host.key", dir);
	write_text(path, "vtpm-migration-private-key v1\nname a\ned25519 zz\nx25519 00\n", 0600);
	ck_assert_int_eq(hostkey_load(dir, &k, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "host.key"));
	ck_assert_ptr_nonnull(strstr(e.msg, "ed25519"));
}
END_TEST

START_TEST(pubkey_parse_is_strict)
{
	struct host_key k;
	struct host_pub p;
	struct mig_err e;
	char text[512], bad[600];

	fixed_key(&k, "hosta", 3);
	pubkey_format(&k.pub, text, sizeof(text));
	ck_assert_int_eq(pubkey_parse(text, strlen(text), &p, &e), 0);
	ck_assert_mem_eq(&p, &k.pub, sizeof(p));
	/* trailing garbage */
	snprintf(bad, sizeof(bad), "%sextra\n", text);
	ck_assert_int_eq(pubkey_parse(bad, strlen(bad), &p, &e), -1);
	/* id that does not match the keys */
	strcpy(bad, text);
	bad[strstr(bad, "id ") - bad + 3] ^= 1;
	ck_assert_int_eq(pubkey_parse(bad, strlen(bad), &p, &e), -1);
	/* a key byte changed: the id no longer matches */
	strcpy(bad, text);
	*strstr(bad, "ed25519 ") = 'E';
	ck_assert_int_eq(pubkey_parse(bad, strlen(bad), &p, &e), -1);
	/* missing final newline */
	ck_assert_int_eq(pubkey_parse(text, strlen(text) - 1, &p, &e), -1);
	/* invalid name */
	ck_assert_int_eq(pubkey_parse("vtpm-migration-public-key v1\nname ../x\n", 39, &p, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "not valid"));
}
END_TEST

START_TEST(trust_adds_peer_and_refuses_a_different_key_under_its_name)
{
	struct host_key a, b;
	struct peer_set s;
	enum trust_result res;
	struct mig_err e;

	fixed_key(&a, "peer1", 1);
	fixed_key(&b, "peer1", 2);
	ck_assert_int_eq(trust_add(dir, &a.pub, 0, &res, NULL, &e), 0);
	ck_assert_int_eq(res, TRUST_ADDED);
	ck_assert_int_eq(trust_add(dir, &a.pub, 0, &res, NULL, &e), 0); /* same key: no-op */
	ck_assert_int_eq(res, TRUST_SAME);
	ck_assert_int_eq(trust_add(dir, &b.pub, 0, &res, NULL, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "different key"));
	ck_assert_ptr_nonnull(strstr(e.msg, "--replace"));
	ck_assert_int_eq(peers_load(dir, &s, &e), 0);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_ptr_nonnull(peers_find_name(&s, "peer1"));
	ck_assert_ptr_nonnull(peers_find_id(&s, a.pub.id));
	ck_assert_ptr_null(peers_find_id(&s, b.pub.id));
	peers_free(&s);
}
END_TEST

START_TEST(host_names_are_restricted)
{
	ck_assert(host_name_valid("host-1.example_a"));
	ck_assert(!host_name_valid(""));
	ck_assert(!host_name_valid("self"));
	ck_assert(!host_name_valid(".hidden"));
	ck_assert(!host_name_valid("a/b"));
	ck_assert(!host_name_valid("a b"));
	ck_assert(!host_name_valid("$(reboot)"));
}
END_TEST

/* 11.3: a temporary file planted in DIR (and held open) never receives the
 * private key; a planted symlink is not followed. */
START_TEST(planted_tmp_file_never_receives_the_private_key)
{
	char tmp[512], link_[512], target[512], buf[64];
	struct host_key k, l;
	struct stat st;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/.host.key.tmp", dir);
	snprintf(link_, sizeof(link_), "%s/.host.pub.tmp", dir);
	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(symlink(target, link_), 0);
	ck_assert_int_eq(hostkey_generate(&k, "hosta", NULL), 0);
	ck_assert_int_eq(hostkey_save(dir, &k, NULL), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 0);
	ck_assert_int_eq(pread(fd, buf, sizeof(buf), 0), 0);
	close(fd);
	ck_assert_int_ne(lstat(target, &st), 0);
	ck_assert_int_ne(lstat(tmp, &st), 0);
	ck_assert_int_ne(lstat(link_, &st), 0);
	ck_assert_int_eq(hostkey_load(dir, &l, NULL), 0);
	ck_assert_mem_eq(&k, &l, sizeof(k));
	hostkey_wipe(&k);
	hostkey_wipe(&l);
}
END_TEST

/* 11.3: a host.key owned by another user is refused, naming the fix. */
START_TEST(host_key_owned_by_another_user_is_refused)
{
	struct host_key k;
	struct mig_err e;
	char path[512];

	if (geteuid() != 0)
		return; /* only root can give a file away */
	ck_assert_int_eq(hostkey_generate(&k, "hosta", NULL), 0);
	ck_assert_int_eq(hostkey_save(dir, &k, NULL), 0);
	snprintf(path, sizeof(path), "%s/host.key", dir);
	ck_assert_int_eq(chown(path, 65534, 65534), 0);
	ck_assert_int_eq(hostkey_load(dir, &k, &e), -1);
	ck_assert_msg(strstr(e.msg, "owned by uid 65534") && strstr(e.msg, "chown 0 ") &&
		      strstr(e.msg, path), "%s", e.msg);
	ck_assert_int_eq(chown(dir, 65534, 65534), 0);
	ck_assert_int_eq(hostkey_load(dir, &k, &e), -1);
	ck_assert_msg(strstr(e.msg, "key directory") && strstr(e.msg, "owned by uid 65534"),
		      "%s", e.msg);
}
END_TEST

/* 11.3: DIR writable by others (mode 1777 or 0777) is refused, for reading
 * the key, writing it, trusting and loading peers. */
START_TEST(key_directory_writable_by_others_is_refused)
{
	static const mode_t modes[] = { 01777, 0777, 0770 };
	enum trust_result res;
	struct host_key k, l;
	struct peer_set ps;
	struct mig_err e;
	size_t i;

	ck_assert_int_eq(hostkey_generate(&k, "hosta", NULL), 0);
	ck_assert_int_eq(hostkey_save(dir, &k, NULL), 0);
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		/* The fix named: its own directory for a shared one, else chmod. */
		const char *fix = modes[i] & 01000 ? "use a directory of its own" : "chmod go-w ";

		ck_assert_int_eq(chmod(dir, modes[i]), 0);
		ck_assert_int_eq(hostkey_load(dir, &l, &e), -1);
		ck_assert_msg(strstr(e.msg, "refusing it") && strstr(e.msg, fix) &&
			      strstr(e.msg, dir), "%s", e.msg);
		ck_assert_int_eq(hostkey_save(dir, &k, &e), -1);
		ck_assert_ptr_nonnull(strstr(e.msg, fix));
		ck_assert_int_eq(trust_add(dir, &k.pub, 0, &res, NULL, &e), -1);
		ck_assert_ptr_nonnull(strstr(e.msg, fix));
		ck_assert_int_eq(peers_load(dir, &ps, &e), -1);
		ck_assert_ptr_nonnull(strstr(e.msg, fix));
	}
	chmod(dir, 0700);
	hostkey_wipe(&k);
}
END_TEST

/* 11.3: peers/ writable by the group is refused: anyone in it could add a peer. */
START_TEST(group_writable_peers_directory_is_refused)
{
	struct host_key k;
	struct peer_set ps;
	struct mig_err e;
	char peers[512], pub[600];
	enum trust_result res;

	fixed_key(&k, "hostb", 3);
	ck_assert_int_eq(trust_add(dir, &k.pub, 0, &res, NULL, NULL), 0);
	snprintf(peers, sizeof(peers), "%s/peers", dir);
	ck_assert_int_eq(chmod(peers, 0775), 0);
	ck_assert_int_eq(peers_load(dir, &ps, &e), -1);
	ck_assert_msg(strstr(e.msg, "peers directory") && strstr(e.msg, "chmod go-w") &&
		      strstr(e.msg, peers), "%s", e.msg);
	ck_assert_int_eq(chmod(peers, 0755), 0);
	ck_assert_int_eq(peers_load(dir, &ps, &e), 0);
	ck_assert_uint_eq(ps.n, 1);
	peers_free(&ps);
	snprintf(pub, sizeof(pub), "%s/hostb.pub", peers);
	/* A peer key others can write is not used, and reported as broken. */
	ck_assert_int_eq(chmod(pub, 0666), 0);
	ck_assert_int_eq(peers_load(dir, &ps, &e), 0);
	ck_assert_uint_eq(ps.n, 0);
	ck_assert_uint_eq(ps.nbroken, 1);
	ck_assert_str_eq(ps.broken[0].file, "hostb.pub");
	ck_assert_msg(strstr(ps.broken[0].why.msg, "chmod go-w") &&
		      strstr(ps.broken[0].why.msg, pub), "%s", ps.broken[0].why.msg);
	peers_free(&ps);
	hostkey_wipe(&k);
}
END_TEST

/* 15.3: a broken or misnamed file in peers/ is skipped, not fatal: the other
 * peers still load, and the broken files are listed with their reason. */
START_TEST(broken_peer_file_does_not_block_the_other_peers)
{
	struct host_key a, b;
	struct peer_set s;
	enum trust_result res;
	char path[512], text[512];
	int n;

	fixed_key(&a, "hosta", 1);
	fixed_key(&b, "hostb", 2);
	ck_assert_int_eq(trust_add(dir, &a.pub, 0, &res, NULL, NULL), 0);
	snprintf(path, sizeof(path), "%s/peers/hostb-old.pub", dir);
	n = pubkey_format(&b.pub, text, sizeof(text));
	ck_assert_int_gt(n, 0);
	write_text(path, text, 0644);
	snprintf(path, sizeof(path), "%s/peers/junk.pub", dir);
	write_text(path, "not a key\n", 0644);
	snprintf(path, sizeof(path), "%s/peers/notes.txt", dir);
	write_text(path, "hostc is coming\n", 0644);
	ck_assert_int_eq(peers_load(dir, &s, NULL), 0);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_ptr_nonnull(peers_find_name(&s, "hosta"));
	ck_assert_ptr_null(peers_find_name(&s, "hostb"));
	ck_assert_uint_eq(s.nbroken, 3);
	ck_assert_str_eq(s.broken[0].file, "hostb-old.pub");
	ck_assert_ptr_nonnull(strstr(s.broken[0].why.msg, "does not match the peer name 'hostb'"));
	ck_assert_str_eq(s.broken[1].file, "junk.pub");
	ck_assert_ptr_nonnull(strstr(s.broken[1].why.msg, "not a"));
	ck_assert_str_eq(s.broken[2].file, "notes.txt");
	peers_free(&s);
}
END_TEST

/* 15.5: --replace swaps a peer's key; untrust removes a peer. */
START_TEST(trust_replace_and_untrust)
{
	struct host_key a, a2;
	struct host_pub old;
	struct peer_set s;
	enum trust_result res;
	struct mig_err e;

	fixed_key(&a, "hosta", 1);
	fixed_key(&a2, "hosta", 7);
	ck_assert_int_eq(trust_add(dir, &a.pub, 0, &res, NULL, NULL), 0);
	ck_assert_int_eq(trust_add(dir, &a2.pub, 1, &res, &old, &e), 0);
	ck_assert_int_eq(res, TRUST_REPLACED);
	ck_assert_mem_eq(old.id, a.pub.id, VREC_KEYID_LEN);
	ck_assert_int_eq(peers_load(dir, &s, NULL), 0);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_mem_eq(peers_find_name(&s, "hosta")->id, a2.pub.id, VREC_KEYID_LEN);
	peers_free(&s);
	ck_assert_int_eq(trust_remove(dir, "hosta", &e), 0);
	ck_assert_int_eq(peers_load(dir, &s, NULL), 0);
	ck_assert_uint_eq(s.n, 0);
	peers_free(&s);
	ck_assert_int_eq(trust_remove(dir, "hosta", &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "'hosta' is not a trusted peer"));
	ck_assert_int_eq(trust_remove(dir, "../host", &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "not valid"));
}
END_TEST

/* 15.5: keygen --replace: a new key in place, the old one kept as
 * host.key.old, peers/ and the ledger untouched; a missing key is not
 * "replaced". */
START_TEST(hostkey_replace_keeps_old_key_and_peers)
{
	struct host_key k, k2, l, old, p;
	struct peer_set ps;
	enum trust_result res;
	struct mig_err e;
	char path[600], *oldd;

	ck_assert_int_eq(hostkey_generate(&k2, "hosta", NULL), 0);
	ck_assert_int_eq(hostkey_replace(dir, &k2, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "no host key"));
	ck_assert_int_eq(hostkey_generate(&k, "hosta", NULL), 0);
	ck_assert_int_eq(hostkey_save(dir, &k, NULL), 0);
	fixed_key(&p, "hostb", 5);
	ck_assert_int_eq(trust_add(dir, &p.pub, 0, &res, NULL, NULL), 0);
	ck_assert_int_eq(hostkey_replace(dir, &k2, &e), 0);
	ck_assert_int_eq(hostkey_load(dir, &l, NULL), 0);
	ck_assert_mem_eq(&l, &k2, sizeof(l));
	oldd = make_tmpdir();
	snprintf(path, sizeof(path), "%s/host.key", oldd);
	ck_assert_int_eq(chmod(oldd, 0700), 0);
	{
		char from[600];

		snprintf(from, sizeof(from), "%s/host.key.old", dir);
		ck_assert_int_eq(link(from, path), 0);
	}
	ck_assert_int_eq(hostkey_load(oldd, &old, NULL), 0);
	ck_assert_mem_eq(&old, &k, sizeof(old));
	rm_tree(oldd);
	free(oldd);
	ck_assert_int_eq(peers_load(dir, &ps, NULL), 0);
	ck_assert_uint_eq(ps.n, 1);
	peers_free(&ps);
	hostkey_wipe(&k);
	hostkey_wipe(&k2);
	hostkey_wipe(&l);
	hostkey_wipe(&old);
}
END_TEST

Suite *hostkey_suite(void)
{
	Suite *s = suite_create("hostkey");
	TCase *t = tcase_create("hostkey");

	tcase_add_checked_fixture(t, dir_setup, dir_teardown);
	tcase_add_test(t, keygen_writes_private_key_0600_and_loads_back);
	tcase_add_test(t, keygen_never_overwrites_a_key);
	tcase_add_test(t, group_readable_private_key_is_refused);
	tcase_add_test(t, missing_directory_and_key_have_clear_errors);
	tcase_add_test(t, malformed_private_key_is_refused);
	tcase_add_test(t, pubkey_parse_is_strict);
	tcase_add_test(t, trust_adds_peer_and_refuses_a_different_key_under_its_name);
	tcase_add_test(t, host_names_are_restricted);
	tcase_add_test(t, planted_tmp_file_never_receives_the_private_key);
	tcase_add_test(t, host_key_owned_by_another_user_is_refused);
	tcase_add_test(t, key_directory_writable_by_others_is_refused);
	tcase_add_test(t, group_writable_peers_directory_is_refused);
	tcase_add_test(t, broken_peer_file_does_not_block_the_other_peers);
	tcase_add_test(t, trust_replace_and_untrust);
	tcase_add_test(t, hostkey_replace_keeps_old_key_and_peers);
	suite_add_tcase(s, t);
	return s;
}
