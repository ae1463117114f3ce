/* SPDX-License-Identifier: BSD-3-Clause */
/* The command's contract (CONTRACT.md, vtpm_migrate(8)): exit codes,
 * one-line errors, help. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ledger.h"
#include "unit.h"

static char *dir;
static char err[4096], out[4096];

static void dir_setup(void) { dir = make_tmpdir(); }
static void dir_teardown(void) { rm_tree(dir); free(dir); }

static void slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, cap - 1) : 0;

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

/* Run vtpm_migrate with the given arguments (NULL-terminated); stdin from
 * in (or /dev/null); returns the exit status, stdout in out, stderr in err. */
static int run(const char *in, ...)
{
	const char *bin = getenv("VTPM_TEST_BIN");
	char exe[512], o[512], e[512];
	const char *argv[32];
	va_list ap;
	int n = 1, st;
	pid_t pid;

	snprintf(exe, sizeof(exe), "%s/vtpm_migrate", bin ? bin : "build");
	snprintf(o, sizeof(o), "%s/out", dir);
	snprintf(e, sizeof(e), "%s/err", dir);
	argv[0] = exe;
	va_start(ap, in);
	while ((argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	pid = fork();
	if (pid == 0) {
		int i = open(in ? in : "/dev/null", O_RDONLY);
		int fo = open(o, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int fe = open(e, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(i, 0);
		dup2(fo, 1);
		dup2(fe, 2);
		execv(exe, (char **)argv);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	slurp(o, out, sizeof(out));
	slurp(e, err, sizeof(err));
	ck_assert_msg(WIFEXITED(st), "vtpm_migrate died");
	return WEXITSTATUS(st);
}

static void one_line_error(const char *words)
{
	char *nl = strchr(err, '\n');

	ck_assert_msg(nl && nl[1] == '\0', "stderr is not exactly one line: '%s'", err);
	ck_assert_msg(strstr(err, words), "stderr '%s' does not say '%s'", err, words);
}

START_TEST(usage_errors_exit_2)
{
	ck_assert_int_eq(run(NULL, NULL), 2);
	ck_assert_int_eq(run(NULL, "frobnicate", NULL), 2);
	ck_assert_int_eq(run(NULL, "keygen", "--bogus", NULL), 2);
	ck_assert_int_eq(run(NULL, "keygen", "--to", "x", NULL), 2);
	ck_assert_int_eq(run(NULL, "send", "--ctrl", "/x", "--uuid",
			     "11111111-2222-3333-4444-555555555555", NULL), 2);
	ck_assert_int_eq(run(NULL, "recv", "--domid", "3", "--ctrl", "/x", NULL), 2);
	ck_assert_int_eq(run(NULL, "recv", "--ctrl", "/x", NULL), 2);
	ck_assert_int_eq(run(NULL, "recv", "--ctrl", "/x", "--uuid", "not-a-uuid", NULL), 2);
	ck_assert_int_eq(run(NULL, "send", "--to", "b", "--domid", "x", NULL), 2);
	ck_assert_int_eq(run(NULL, "inspect", "--fd", "-1", NULL), 2);
	ck_assert_int_eq(run(NULL, "trust", NULL), 2);
	ck_assert_int_eq(run(NULL, "finish", "--domid", "1", "extra", NULL), 2);
	ck_assert_ptr_nonnull(strstr(err, "usage:"));
}
END_TEST

START_TEST(keygen_pubkey_trust_round_trip)
{
	char a[256], b[256], pub[512];

	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	ck_assert_int_eq(run(NULL, "keygen", "-d", a, "-n", "hosta", NULL), 0);
	ck_assert_int_eq(run(NULL, "keygen", "-d", a, "-n", "hosta", NULL), 1);
	one_line_error("already exists");
	ck_assert_int_eq(run(NULL, "keygen", "-d", b, "-n", "hostb", NULL), 0);
	ck_assert_int_eq(run(NULL, "pubkey", "-d", a, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "name hosta\n"));
	ck_assert_ptr_null(strstr(out, "private"));
	snprintf(pub, sizeof(pub), "%s/host.pub", a);
	ck_assert_int_eq(run(NULL, "trust", "-d", b, pub, NULL), 0);
	ck_assert_int_eq(run(NULL, "trust", pub, "-d", b, "alias-a", NULL), 0);
	snprintf(pub, sizeof(pub), "%s/peers/alias-a.pub", b);
	ck_assert_int_eq(access(pub, F_OK), 0);
	ck_assert_int_eq(run(NULL, "trust", "-d", b, "/nonexistent.pub", NULL), 1);
	one_line_error("/nonexistent.pub");
	ck_assert_int_eq(run(NULL, "pubkey", "-d", "/nonexistent-dir", NULL), 1);
	one_line_error("nonexistent-dir");
}
END_TEST

START_TEST(send_to_untrusted_peer_writes_nothing)
{
	char a[256], ledger[512];

	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(ledger, sizeof(ledger), "%s/ledger", a);
	ck_assert_int_eq(run(NULL, "keygen", "-d", a, "-n", "hosta", NULL), 0);
	ck_assert_int_eq(run(NULL, "send", "-d", a, "--to", "stranger", "--ctrl", "/nonexistent.ctrl",
			     "--uuid", "11111111-2222-3333-4444-555555555555", NULL), 1);
	one_line_error("'stranger' is not a trusted peer");
	ck_assert_str_eq(out, "");
	ck_assert_int_ne(access(ledger, F_OK), 0);
}
END_TEST

START_TEST(failures_exit_1_with_one_line)
{
	char a[256], junk[512];
	int fd;

	snprintf(a, sizeof(a), "%s/a", dir);
	ck_assert_int_eq(run(NULL, "keygen", "-d", a, "-n", "hosta", NULL), 0);
	ck_assert_int_eq(run(NULL, "send", "-d", a, "--to", "self", "--ctrl", "/nonexistent.ctrl",
			     "--uuid", "11111111-2222-3333-4444-555555555555", NULL), 1);
	one_line_error("cannot connect");
	ck_assert_int_eq(run(NULL, "recover", "--ctrl", "/nonexistent.ctrl", "--uuid",
			     "11111111-2222-3333-4444-555555555555", NULL), 1);
	one_line_error("recover:");
	snprintf(junk, sizeof(junk), "%s/junk", dir);
	fd = open(junk, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_eq(write(fd, "this is not a record at all", 27), 27);
	close(fd);
	ck_assert_int_eq(run(junk, "inspect", NULL), 1);
	one_line_error("not a vTPM record");
	ck_assert_int_eq(run(junk, "recv", "-d", a, "--ctrl", "/nonexistent.ctrl", "--uuid",
			     "11111111-2222-3333-4444-555555555555", NULL), 1);
	one_line_error("cannot connect");
}
END_TEST

START_TEST(xen_mode_without_xenstored_says_so)
{
	char a[256], sock[512];

	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(sock, sizeof(sock), "%s/no-xenstored", dir);
	setenv("XENSTORED_PATH", sock, 1);
	ck_assert_int_eq(run(NULL, "keygen", "-d", a, "-n", "hosta", NULL), 0);
	ck_assert_int_eq(run(NULL, "send", "-d", a, "--to", "self", "--domid", "3",
				 "--domain-uuid", "12345678-9abc-4def-8123-456789abcdef", NULL), 1);
	one_line_error("xenstore");
	ck_assert_int_eq(run(NULL, "finish", "--domid", "3", NULL), 1);
	one_line_error("xenstore");
	unsetenv("XENSTORED_PATH");
}
END_TEST

/* Each command says what it does, in CMD --help and help CMD, and exits 0. */
START_TEST(every_command_has_help_that_says_what_it_does)
{
	static const char *const cmds[] = { "keygen", "pubkey", "trust", "peers", "untrust",
					    "send", "recv", "recover", "finish", "inspect",
					    "status", "ledger-rebuild", "help" };
	char line[64];
	size_t i;

	ck_assert_int_eq(run(NULL, "--help", NULL), 0);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		snprintf(line, sizeof(line), "\n  %-14s ", cmds[i]);
		ck_assert_msg(strstr(out, line), "--help does not describe %s: %s", cmds[i], out);
	}
	ck_assert_int_eq(run(NULL, "help", NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "\n  recover "));
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		snprintf(line, sizeof(line), "usage: vtpm_migrate %s", cmds[i]);
		ck_assert_int_eq(run(NULL, cmds[i], "--help", NULL), 0);
		ck_assert_msg(strstr(out, line) && strstr(out, "-d, --dir DIR"),
			      "%s --help: %s", cmds[i], out);
		ck_assert_str_eq(err, "");
		ck_assert_int_eq(run(NULL, "help", cmds[i], NULL), 0);
		ck_assert_msg(strstr(out, line), "help %s: %s", cmds[i], out);
	}
	ck_assert_int_eq(run(NULL, "send", "--help", NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "--to NAME"));
	ck_assert_ptr_nonnull(strstr(out, "INSTANCE is"));
	ck_assert_int_eq(run(NULL, "help", "frobnicate", NULL), 2);
	ck_assert_ptr_nonnull(strstr(err, "'frobnicate'"));
}
END_TEST

START_TEST(version_exits_0)
{
	ck_assert_int_eq(run(NULL, "--version", NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "vtpm_migrate "));
	ck_assert_str_eq(err, "");
}
END_TEST

/* A usage error's first line names the command and the word it did not take. */
START_TEST(usage_error_names_the_bad_word)
{
	ck_assert_int_eq(run(NULL, "recover", "--to", "hostb", NULL), 2);
	ck_assert_ptr_nonnull(strstr(err, "vtpm_migrate: recover: unknown option '--to'\n"));
	ck_assert_int_eq(run(NULL, "keygen", "-z", NULL), 2);
	ck_assert_ptr_nonnull(strstr(err, "keygen: unknown option '-z'\n"));
	ck_assert_int_eq(run(NULL, "recv", "--allow-rollback=yes", NULL), 2);
	ck_assert_ptr_nonnull(strstr(err, "recv: unknown option '--allow-rollback'\n"));
	ck_assert_int_eq(run(NULL, "send", "--to", NULL), 2);
	ck_assert_ptr_nonnull(strstr(err, "send: option '--to' needs an argument\n"));
	ck_assert_int_eq(run(NULL, "finish", "--domid", "1", "extra", NULL), 2);
	ck_assert_ptr_nonnull(strstr(err, "finish: unexpected argument 'extra'\n"));
	ck_assert_int_eq(run(NULL, "send", "--to", "b", "--domid", "x", NULL), 2);
	ck_assert_ptr_nonnull(strstr(err, "'x'"));
	ck_assert_int_eq(run(NULL, "frobnicate", NULL), 2);
	ck_assert_ptr_nonnull(strstr(err, "unknown command 'frobnicate'"));
}
END_TEST

/* -d DIR is taken by every command: none fails with a usage error for it. */
START_TEST(every_command_takes_dir)
{
	char a[256], junk[512];
	int fd;

	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(junk, sizeof(junk), "%s/junk", dir);
	fd = open(junk, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_eq(write(fd, "this is not a record at all", 27), 27);
	close(fd);
	ck_assert_int_eq(run(NULL, "keygen", "-d", a, "-n", "hosta", NULL), 0);
	ck_assert_int_eq(run(NULL, "pubkey", "-d", a, NULL), 0);
	ck_assert_int_eq(run(NULL, "recover", "-d", a, "--ctrl", "/nonexistent.ctrl", "--uuid",
			     "11111111-2222-3333-4444-555555555555", NULL), 1);
	one_line_error("recover:");
	ck_assert_int_eq(run(NULL, "finish", "--dir", a, "--ctrl", "/nonexistent/data.ctrl", "--uuid",
			     "11111111-2222-3333-4444-555555555555", NULL), 1);
	one_line_error("finish:");
	ck_assert_int_eq(run(junk, "inspect", "-d", a, NULL), 1);
	one_line_error("not a vTPM record");
	ck_assert_int_eq(run(NULL, "help", "-d", a, NULL), 0);
}
END_TEST

/* Only printable ASCII (and the final newline) on stderr. */
static void assert_stderr_printable(void)
{
	const unsigned char *p;
	size_t n = strlen(err);

	ck_assert_msg(n > 0 && err[n - 1] == '\n', "no error line");
	for (p = (const unsigned char *)err; p < (const unsigned char *)err + n - 1; p++)
		ck_assert_msg(*p >= 0x20 && *p < 0x7f, "raw byte 0x%02x on stderr", *p);
}

/* 11.4: a .pub file named, or filled, with ESC/CR/BEL sequences cannot
 * rewrite the administrator's terminal: error lines escape such bytes. */
START_TEST(error_lines_escape_terminal_control_bytes)
{
	char a[256], pub[512];
	int fd;

	snprintf(a, sizeof(a), "%s/a", dir);
	ck_assert_int_eq(run(NULL, "keygen", "-d", a, "-n", "hosta", NULL), 0);
	snprintf(pub, sizeof(pub), "%s/\x1b[2J\x1b[H\rtrusted OK\a\x7f\xc3.pub", dir);
	ck_assert_int_eq(run(NULL, "trust", "-d", a, pub, NULL), 1);
	one_line_error("\\x1b[2J\\x1b[H\\x0dtrusted OK\\x07\\x7f\\xc3.pub");
	assert_stderr_printable();
	fd = open(pub, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	dprintf(fd, "vtpm-migration-public-key v1\nname evil\x1b]0;owned\a\rtrusted OK\n");
	close(fd);
	ck_assert_int_eq(run(NULL, "trust", "-d", a, pub, NULL), 1);
	one_line_error("evil\\x1b]0;owned\\x07\\x0dtrusted OK");
	assert_stderr_printable();
	ck_assert_int_eq(run(NULL, "send", "--to", "\x1b[31mx", NULL), 2);
	ck_assert_ptr_null(strchr(err, '\x1b'));
	ck_assert_int_eq(run(NULL, "recover", "--\x1b[1m", NULL), 2);
	ck_assert_ptr_nonnull(strstr(err, "unknown option '--\\x1b[1m'"));
	ck_assert_ptr_null(strchr(err, '\x1b'));
}
END_TEST

/* 11.8, 15.5, 15.7: trust says what it accepted; --replace rotates a key
 * (the refusal names it); peers lists name, key id, fingerprint and broken
 * files; untrust removes a peer. */
START_TEST(trust_peers_untrust_and_key_rotation)
{
	char a[256], b[256], b2[256], pub[512], pub2[512], stray[512], idb[40], idb2[40];
	const char *p;

	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	snprintf(b2, sizeof(b2), "%s/b2", dir);
	ck_assert_int_eq(run(NULL, "keygen", "-d", a, "-n", "hosta", NULL), 0);
	ck_assert_int_eq(run(NULL, "keygen", "-d", b, "-n", "hostb", NULL), 0);
	ck_assert_int_eq(run(NULL, "keygen", "-d", b2, "-n", "hostb", NULL), 0);
	snprintf(pub, sizeof(pub), "%s/host.pub", b);
	snprintf(pub2, sizeof(pub2), "%s/host.pub", b2);
	ck_assert_int_eq(run(NULL, "pubkey", "-d", b, NULL), 0);
	p = strstr(out, "\nid ");
	ck_assert_ptr_nonnull(p);
	snprintf(idb, sizeof(idb), "%.32s", p + 4);
	ck_assert_int_eq(run(NULL, "pubkey", "-d", b2, NULL), 0);
	snprintf(idb2, sizeof(idb2), "%.32s", strstr(out, "\nid ") + 4);

	ck_assert_int_eq(run(NULL, "peers", "-d", a, NULL), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(run(NULL, "trust", "-d", a, pub, NULL), 0);
	ck_assert_msg(strstr(out, "trusted peer hostb: key id ") && strstr(out, idb), "%s", out);
	ck_assert_int_eq(run(NULL, "trust", "-d", a, pub2, NULL), 1);
	one_line_error("--replace");
	ck_assert_int_eq(run(NULL, "peers", "-d", a, NULL), 0);
	ck_assert_msg(!strncmp(out, "hostb ", 6) && strstr(out, idb) && strstr(out, "SHA256:"),
		      "%s", out);
	ck_assert_int_eq(run(NULL, "trust", "-d", a, "--replace", pub2, NULL), 0);
	ck_assert_msg(strstr(out, idb2) && strstr(out, "replacing key id ") && strstr(out, idb),
		      "%s", out);
	ck_assert_int_eq(run(NULL, "peers", "-d", a, NULL), 0);
	ck_assert_msg(strstr(out, idb2) && !strstr(out, idb), "%s", out);

	snprintf(stray, sizeof(stray), "%s/peers/old\x1b[2J.pub", a);
	ck_assert_int_eq(symlink(pub, stray), 0);
	ck_assert_int_eq(run(NULL, "peers", "-d", a, NULL), 0);
	ck_assert_msg(strstr(out, "broken: peers/old\\x1b[2J.pub: ") && !strchr(out, '\x1b'),
		      "%s", out);
	ck_assert_ptr_nonnull(strstr(out, idb2));

	ck_assert_int_eq(run(NULL, "untrust", "-d", a, "hostb", NULL), 0);
	ck_assert_int_eq(run(NULL, "peers", "-d", a, NULL), 0);
	ck_assert_ptr_null(strstr(out, idb2));
	ck_assert_int_eq(run(NULL, "untrust", "-d", a, "hostb", NULL), 1);
	one_line_error("'hostb' is not a trusted peer");
	ck_assert_int_eq(run(NULL, "untrust", "-d", a, NULL), 2);
}
END_TEST

/* 15.4: ledger-rebuild needs --yes, and rebuilds only a damaged ledger. */
START_TEST(ledger_rebuild_needs_yes)
{
	char a[256], ledger[512];
	int fd;

	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(ledger, sizeof(ledger), "%s/ledger", a);
	ck_assert_int_eq(run(NULL, "keygen", "-d", a, "-n", "hosta", NULL), 0);
	fd = open(ledger, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_eq(write(fd, "vtpm-migration-ledger v1\n", 25), 25);
	close(fd);
	ck_assert_int_eq(run(NULL, "ledger-rebuild", "-d", a, NULL), 2);
	ck_assert_ptr_nonnull(strstr(err, "needs --yes"));
	ck_assert_int_eq(run(NULL, "ledger-rebuild", "-d", a, "--yes", NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "kept 0 vTPM entries"));
	ck_assert_int_eq(run(NULL, "ledger-rebuild", "-d", a, "--yes", NULL), 1);
	one_line_error("not damaged");
}
END_TEST

/* 15.8: a stream that ends before its first byte says no record arrived and
 * that the source may be unpatched, for recv and inspect alike; a stream
 * that ends inside the record still says it closed early. */
START_TEST(empty_stream_says_no_vtpm_record_arrived)
{
	char a[256], part[512];
	int fd;

	snprintf(a, sizeof(a), "%s/a", dir);
	ck_assert_int_eq(run(NULL, "keygen", "-d", a, "-n", "hosta", NULL), 0);
	ck_assert_int_eq(run(NULL, "inspect", NULL), 1);
	one_line_error("no vTPM record arrived");
	ck_assert_ptr_nonnull(strstr(err, "patched"));
	snprintf(part, sizeof(part), "%s/part", dir);
	fd = open(part, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_eq(write(fd, "XENVTPM", 7), 7);
	close(fd);
	ck_assert_int_eq(run(part, "inspect", NULL), 1);
	one_line_error("closed early");
}
END_TEST

/* 15.7: status prints one vTPM's ledger generations and its "left this
 * host" mark (the file vtpm-left in its state directory). */
START_TEST(status_prints_generations_and_left_mark)
{
	static const uint8_t U[16] = { 0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x33, 0x33,
				       0x44, 0x44, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55 };
	const char *uuid = "11111111-2222-3333-4444-555555555555";
	char a[256], s[256], ctrl[512], mark[512];
	struct ledger l;
	uint64_t g;
	int fd;

	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(s, sizeof(s), "%s/state", dir);
	snprintf(ctrl, sizeof(ctrl), "%s/data.ctrl", s);
	snprintf(mark, sizeof(mark), "%s/vtpm-left", s);
	ck_assert_int_eq(mkdir(s, 0700), 0);
	ck_assert_int_eq(run(NULL, "keygen", "-d", a, "-n", "hosta", NULL), 0);
	ck_assert_int_eq(run(NULL, "status", "-d", a, "--uuid", uuid, NULL), 0);
	ck_assert_msg(strstr(out, "last-sent      none\n") && strstr(out, "last-accepted  none\n"),
		      "%s", out);
	ck_assert_int_eq(ledger_open(&l, a, NULL), 0);
	ck_assert_int_eq(ledger_accept(&l, U, 3, 0, NULL), 0);
	ck_assert_int_eq(ledger_take_send(&l, U, &g, NULL), 0);
	ledger_close(&l);
	ck_assert_int_eq(run(NULL, "status", "-d", a, "--ctrl", ctrl, "--uuid", uuid, NULL), 0);
	ck_assert_msg(strstr(out, "vtpm-uuid      11111111-2222-3333-4444-555555555555\n") &&
		      strstr(out, "last-sent      4\n") && strstr(out, "last-accepted  3\n") &&
		      strstr(out, "left-host      no\n"), "%s", out);
	fd = open(mark, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_eq(write(fd, "generation 4\n", 13), 13);
	close(fd);
	ck_assert_int_eq(run(NULL, "status", "-d", a, "--ctrl", ctrl, "--uuid", uuid, NULL), 0);
	ck_assert_msg(strstr(out, "left-host      yes, at generation 4 (") && strstr(out, mark),
		      "%s", out);
	/* A mark that does not parse still stands (leftmark.h). */
	fd = open(mark, O_WRONLY | O_TRUNC, 0600);
	ck_assert_int_eq(write(fd, "gen 4\n", 6), 6);
	close(fd);
	ck_assert_int_eq(run(NULL, "status", "-d", a, "--ctrl", ctrl, "--uuid", uuid, NULL), 0);
	ck_assert_msg(strstr(out, "left-host      yes, at generation 0 ("), "%s", out);
	ck_assert_int_eq(run(NULL, "status", "-d", a, NULL), 2);
}
END_TEST

Suite *cli_suite(void)
{
	Suite *s = suite_create("cli");
	TCase *t = tcase_create("cli");

	tcase_add_checked_fixture(t, dir_setup, dir_teardown);
	tcase_set_timeout(t, 30);
	tcase_add_test(t, usage_errors_exit_2);
	tcase_add_test(t, keygen_pubkey_trust_round_trip);
	tcase_add_test(t, send_to_untrusted_peer_writes_nothing);
	tcase_add_test(t, failures_exit_1_with_one_line);
	tcase_add_test(t, xen_mode_without_xenstored_says_so);
	tcase_add_test(t, every_command_has_help_that_says_what_it_does);
	tcase_add_test(t, version_exits_0);
	tcase_add_test(t, usage_error_names_the_bad_word);
	tcase_add_test(t, every_command_takes_dir);
	tcase_add_test(t, error_lines_escape_terminal_control_bytes);
	tcase_add_test(t, trust_peers_untrust_and_key_rotation);
	tcase_add_test(t, ledger_rebuild_needs_yes);
	tcase_add_test(t, empty_stream_says_no_vtpm_record_arrived);
	tcase_add_test(t, status_prints_generations_and_left_mark);
	suite_add_tcase(s, t);
	return s;
}
