/* SPDX-License-Identifier: BSD-3-Clause */
/* vtpm_migrate: the command xend runs on its migration stream, and the tool
 * an administrator sets up host keys with; vtpm_migrate(8) is its contract.
 * One table of commands: each names the options it takes, so help says what
 * each does and an error names the word it did not take. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ledger.h"
#include "migrate.h"
#include "util.h"

#ifndef VTPM_MIGRATE_VERSION
#define VTPM_MIGRATE_VERSION "1.0"
#endif

/* Every option of every command; a command takes those its `takes` names. */
static const struct option options[] = {
	{ "domid", required_argument, NULL, 'D' }, { "ctrl", required_argument, NULL, 'C' },
	{ "uuid", required_argument, NULL, 'U' }, { "domain-uuid", required_argument, NULL, 'M' },
	{ "name", required_argument, NULL, 'n' }, { "replace", no_argument, NULL, 'R' },
	{ "to", required_argument, NULL, 't' }, { "fd", required_argument, NULL, 'f' },
	{ "check", no_argument, NULL, 'c' }, { "staged", no_argument, NULL, 's' },
	{ "timeout", required_argument, NULL, 'T' }, { "announce", required_argument, NULL, 'a' },
	{ "allow-rollback", no_argument, NULL, 'r' }, { "force", no_argument, NULL, 'F' },
	{ "yes", no_argument, NULL, 'y' },
};
#define NOPTIONS (sizeof(options) / sizeof(options[0]))
#define INSTANCE "DCUM"

struct args {
	const char *domid, *ctrl, *uuid, *domuuid, *name, *to;
	int fd, have_fd, check, staged, timeout_ms, rollback, replace, force, yes;
	uint8_t announce[VANN_LEN];
	int have_announce;
	struct mig_words w; /* --staged: words on stdin and stdout */
	struct vtpm_instance inst; /* INSTANCE, once get_instance read it */
	char **pos;         /* the arguments after the options */
	int npos;
};

struct command {
	const char *name;
	int (*run)(struct args *a);
	const char *takes;       /* its options, as the val letters of options[] */
	int min, max;            /* how many arguments */
	const char *synopsis;    /* after "vtpm_migrate NAME " */
	const char *description; /* one line; vtpm_migrate(8) describes the options */
};

static const struct command commands[];
static const size_t ncommands;
static const struct command *cmd; /* the one running */
static const char *dir = DEFAULT_KEY_DIR;

static const char instance_help[] =
	"INSTANCE is  --domid ID --domain-uuid UUID   (Xen mode: found through xenstore)\n"
	"         or  --ctrl SOCKET --uuid VTPM-UUID [--domain-uuid UUID]\n";

static void synopsis(FILE *f, const struct command *c, const char *lead)
{
	fprintf(f, "%svtpm_migrate %s%s%s\n", lead, c->name, *c->synopsis ? " " : "", c->synopsis);
}

/* CMD --help and help CMD; the exit status. */
static int command_help(const struct command *c)
{
	synopsis(stdout, c, "usage: ");
	printf("%s.\n\n  -d, --dir DIR     key directory (default " DEFAULT_KEY_DIR ")\n"
	       "  -h, --help        this help\n%s(vtpm_migrate(8) describes every option)\n",
	       c->description, strchr(c->takes, 'D') ? instance_help : "");
	return 0;
}

static void general_help(FILE *f)
{
	size_t i;

	fputs("usage:\n", f);
	for (i = 0; i < ncommands; i++)
		synopsis(f, &commands[i], "  ");
	fprintf(f, "%s\nCommands:\n", instance_help);
	for (i = 0; i < ncommands; i++)
		fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].description);
	fputs("\nEvery command takes -d DIR and --help. Also: --help, --version.\n"
	      "Exit status: 0 success, 1 failure (one line on stderr), 2 usage error.\n", f);
}

static int fail(const struct mig_err *e)
{
	fflush(stdout); /* what was printed comes before the error line */
	fprintf(stderr, "vtpm_migrate: %s: ", cmd->name);
	mig_print_line(stderr, "", e->msg);
	return 1;
}

/* A usage error: one line saying which word was wrong, then how it goes. */
static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage(const char *fmt, ...)
{
	struct mig_err e;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	fail(&e);
	synopsis(stderr, cmd, "usage: ");
	fprintf(stderr, "('vtpm_migrate %s --help' says more)\n", cmd->name);
	return 2;
}

static int parse_int(const char *s, int min, int max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	*out = (int)v;
	return errno || !*s || *end || v < min || v > max ? -1 : 0;
}

/* The word getopt stopped at, for an error: "--long" or "-c". */
static const char *bad_word(char **argv, char *buf, size_t len)
{
	const char *w = argv[optind - 1];

	if (optopt > 0 && strncmp(w, "--", 2))
		snprintf(buf, len, "-%c", optopt);
	else
		snprintf(buf, len, "%.*s", (int)strcspn(w, "="), w);
	return buf;
}

/* One option's value into a; 2 on a usage error. */
static int take(int c, struct args *a)
{
	int s;

	switch (c) {
	case 'd': dir = optarg; break;
	case 'D': a->domid = optarg; break;
	case 'C': a->ctrl = optarg; break;
	case 'U': a->uuid = optarg; break;
	case 'M': a->domuuid = optarg; break;
	case 'n': a->name = optarg; break;
	case 't': a->to = optarg; break;
	case 'R': a->replace = 1; break;
	case 'c': a->check = 1; break;
	case 's': a->staged = 1; break;
	case 'r': a->rollback = 1; break;
	case 'F': a->force = 1; break;
	case 'y': a->yes = 1; break;
	case 'f':
		a->have_fd = 1;
		if (parse_int(optarg, 0, INT_MAX, &a->fd))
			return usage("--fd needs a file descriptor number, not '%s'", optarg);
		break;
	case 'T':
		if (parse_int(optarg, 1, 86400, &s))
			return usage("--timeout needs a number of seconds (1-86400), not '%s'", optarg);
		a->timeout_ms = s * 1000;
		break;
	case 'a':
		if (hex_decode(optarg, a->announce, VANN_LEN))
			return usage("--announce needs the %d hex digits of send --check's announce line",
				     2 * VANN_LEN);
		a->have_announce = 1;
		break;
	}
	return 0;
}

/* The command's options (getopt_long over those it takes) and arguments;
 * -1 to go on, else the exit status. */
static int parse(int argc, char **argv, struct args *a)
{
	struct option opts[NOPTIONS + 3] = { { "dir", required_argument, NULL, 'd' },
					     { "help", no_argument, NULL, 'h' } };
	char word[128];
	size_t i, n = 2;
	int c;

	for (i = 0; i < NOPTIONS; i++)
		if (strchr(cmd->takes, options[i].val))
			opts[n++] = options[i];
	opterr = 0;
	while ((c = getopt_long(argc, argv, strchr(cmd->takes, 'n') ? ":d:hn:" : ":d:h", opts,
				NULL)) != -1) {
		if (c == 'h')
			return command_help(cmd);
		if (c == ':' || c == '?')
			return usage(c == ':' ? "option '%s' needs an argument" : "unknown option '%s'",
				     bad_word(argv, word, sizeof(word)));
		if (take(c, a))
			return 2;
	}
	a->pos = argv + optind;
	a->npos = argc - optind;
	if (a->npos > cmd->max)
		return usage("unexpected argument '%s'", a->pos[cmd->max]);
	if (a->npos < cmd->min)
		return usage("missing %s", cmd->min - a->npos == 1 ? "an argument" : "arguments");
	if (a->staged && !a->have_fd)
		return usage("--staged needs --fd N for the stream (stdin and stdout carry the words)");
	a->w = (struct mig_words){ a->staged ? 0 : -1, 1, a->timeout_ms };
	return -1;
}

/* INSTANCE: --domid, or --ctrl with --uuid. With bound (send, recv), Xen mode
 * needs the domain UUID from xend (xen.c says why); with uuid_alone, --uuid
 * by itself will do (inst->ctrl empty). */
static int get_instance(struct args *a, int bound, int uuid_alone)
{
	struct vtpm_instance *inst = &a->inst;

	memset(inst, 0, sizeof(*inst));
	inst->domid = -1;
	if (a->domuuid && uuid_parse(a->domuuid, inst->domain_uuid))
		return usage("--domain-uuid is not a UUID: '%s'", a->domuuid);
	if (a->domid) {
		if (a->ctrl || a->uuid)
			return usage("give either --domid or --ctrl/--uuid, not both");
		if (parse_int(a->domid, 0, INT_MAX, &inst->domid))
			return usage("--domid needs a domain id, not '%s'", a->domid);
		if (bound && !a->domuuid)
			return usage("--domid needs --domain-uuid UUID (the domain's UUID as xend holds it)");
		return 0;
	}
	if (!a->uuid || (!a->ctrl && !uuid_alone))
		return usage("INSTANCE needs --domid ID, or --ctrl SOCKET and --uuid UUID");
	if (a->ctrl && snprintf(inst->ctrl, sizeof(inst->ctrl), "%s", a->ctrl) >= (int)sizeof(inst->ctrl))
		return usage("--ctrl path too long");
	if (uuid_parse(a->uuid, inst->vtpm_uuid))
		return usage("--uuid is not a UUID: '%s'", a->uuid);
	return 0;
}

static int cmd_keygen(struct args *a)
{
	char host[HOST_NAME_MAX_LEN + 2] = "localhost", id[2 * VREC_KEYID_LEN + 1];
	struct host_key k;
	struct mig_err e;
	int r;

	if (a->replace) {
		/* Key rotation: a new key, under the old name unless -n. */
		if (hostkey_load(dir, &k, &e))
			return fail(&e);
		strcpy(host, k.pub.name);
		hostkey_wipe(&k);
	} else if (mkdir(dir, 0700) && errno != EEXIST) {
		mig_fail(&e, "cannot create key directory %s: %s", dir, strerror(errno));
		return fail(&e);
	} else if (!a->name && gethostname(host, sizeof(host) - 1)) {
		strcpy(host, "localhost");
	} else {
		host[strcspn(host, ".")] = '\0';
	}
	r = hostkey_generate(&k, a->name ? a->name : host, &e) ||
	    (a->replace ? hostkey_replace(dir, &k, &e) : hostkey_save(dir, &k, &e));
	hex_encode(k.pub.id, VREC_KEYID_LEN, id);
	hostkey_wipe(&k);
	if (r)
		return fail(&e);
	printf("%s/host.pub\n", dir);
	if (a->replace)
		printf("new key id %s; the old key is kept as %s/host.key.old\n"
		       "on every peer, trust this host.pub with: vtpm_migrate trust --replace FILE\n",
		       id, dir);
	return 0;
}

static int cmd_pubkey(struct args *a)
{
	char path[4096], text[512];
	struct host_pub p;
	struct mig_err e;

	(void)a;
	snprintf(path, sizeof(path), "%s/host.pub", dir);
	if (pubkey_read(path, NULL, &p, &e))
		return fail(&e);
	pubkey_format(&p, text, sizeof(text));
	fputs(text, stdout);
	return 0;
}

static int cmd_trust(struct args *a)
{
	char id[2 * VREC_KEYID_LEN + 1], oldid[2 * VREC_KEYID_LEN + 1] = "", fpr[HOSTKEY_FPR_LEN];
	struct host_pub p, old = { .name = "" };
	enum trust_result res;
	struct mig_err e;

	if (pubkey_read(a->pos[0], NULL, &p, &e))
		return fail(&e);
	if (a->npos == 2) {
		if (!host_name_valid(a->pos[1]))
			return usage("peer NAME must be 1-63 of A-Z a-z 0-9 . _ - (and not 'self')");
		strcpy(p.name, a->pos[1]);
	}
	if (trust_add(dir, &p, a->replace, &res, &old, &e))
		return fail(&e);
	hex_encode(p.id, VREC_KEYID_LEN, id);
	hostkey_fingerprint(&p, fpr);
	if (res == TRUST_SAME) {
		printf("peer %s already trusted with key id %s (%s)\n", p.name, id, fpr);
		return 0;
	}
	if (res == TRUST_REPLACED && old.name[0])
		hex_encode(old.id, VREC_KEYID_LEN, oldid);
	printf("trusted peer %s: key id %s (%s)%s%s%s\n", p.name, id, fpr,
	       res == TRUST_REPLACED ? ", replacing " : "",
	       res != TRUST_REPLACED ? "" : old.name[0] ? "key id " : "a broken file", oldid);
	return 0;
}

static int cmd_untrust(struct args *a)
{
	struct mig_err e;

	if (trust_remove(dir, a->pos[0], &e))
		return fail(&e);
	printf("removed peer %s\n", a->pos[0]);
	return 0;
}

static int cmd_peers(struct args *a)
{
	char id[2 * VREC_KEYID_LEN + 1], fpr[HOSTKEY_FPR_LEN], line[MIG_ERR_MAX + 300];
	struct peer_set s;
	struct mig_err e;
	size_t i;

	(void)a;
	if (peers_load(dir, &s, &e))
		return fail(&e);
	for (i = 0; i < s.n; i++) {
		hex_encode(s.peer[i].id, VREC_KEYID_LEN, id);
		hostkey_fingerprint(&s.peer[i], fpr);
		printf("%-20s id %s  %s\n", s.peer[i].name, id, fpr);
	}
	for (i = 0; i < s.nbroken; i++) {
		snprintf(line, sizeof(line), "peers/%s: %s", s.broken[i].file, s.broken[i].why.msg);
		mig_print_line(stdout, "broken: ", line);
	}
	peers_free(&s);
	return 0;
}

static int cmd_ledger_rebuild(struct args *a)
{
	size_t kept = 0, dropped = 0;
	struct mig_err e;

	if (!a->yes)
		return usage("needs --yes: a rebuilt ledger may accept an old record again (restore it from backup if you can)");
	if (ledger_rebuild(dir, &kept, &dropped, &e))
		return fail(&e);
	printf("rebuilt %s/ledger: kept %zu vTPM entries, dropped %zu damaged lines; the damaged file is %s/ledger.damaged\n",
	       dir, kept, dropped, dir);
	return 0;
}

/* send --check prints what the xend module parses, one "key value" a line. */
static int cmd_send(struct args *a)
{
	char u[UUID_STR_LEN], id[2 * VREC_KEYID_LEN + 1], ann[2 * VANN_LEN + 1];
	struct mig_send_check c;
	struct mig_err e;

	if (!a->to)
		return usage("needs --to NAME");
	if (a->check && (a->staged || a->have_fd))
		return usage("--check writes no record: no --fd or --staged");
	if (get_instance(a, 1, 0))
		return 2;
	if (a->check) {
		if (mig_send_check(dir, a->to, &a->inst, &c, &e))
			return fail(&e);
		uuid_format(c.ann.vtpm_uuid, u);
		hex_encode(c.ann.sender_id, VREC_KEYID_LEN, id);
		hex_encode(c.signed_ann, VANN_LEN, ann);
		printf("vtpm-uuid %s\ngeneration %" PRIu64 "\ntpm-version %s\nsender %s\nrecipient %s\nannounce %s\n",
		       u, c.ann.generation, c.ann.tpm_version == TPM_VERSION_12 ? "1.2" : "2", id,
		       c.recipient, ann);
		return 0;
	}
	if (!a->have_fd)
		a->fd = 1;
	if (isatty(a->fd)) {
		mig_fail(&e, "refusing to write a record to a terminal");
		return fail(&e);
	}
	return mig_send(dir, a->to, &a->inst, a->fd, &a->w, &e) ? fail(&e) : 0;
}

static int cmd_recv(struct args *a)
{
	struct mig_recv_opts o = { a->rollback, a->timeout_ms, a->have_announce ? a->announce : NULL };
	struct mig_err e;

	if (a->check) {
		/* The detail goes to stderr (xend.log), a reason fit for the
		 * relocation client that asked to stdout. */
		if (a->staged || a->have_fd || a->timeout_ms >= 0)
			return usage("--check reads no record: no --fd, --timeout or --staged");
		if (a->domid || a->ctrl || a->uuid || a->domuuid)
			return usage("--check takes no INSTANCE (the destination domain does not exist yet)");
		if (!a->have_announce)
			return usage("--check needs --announce HEX (from the source's send --check)");
		return mig_recv_check(dir, a->announce, a->rollback, stdout, &e) ? fail(&e) : 0;
	}
	if (get_instance(a, 1, 0))
		return 2;
	return mig_recv(dir, &a->inst, a->fd, &o, &a->w, &e) ? fail(&e) : 0;
}

static int cmd_recover(struct args *a)
{
	struct mig_err e;

	if (get_instance(a, 0, 0))
		return 2;
	return mig_recover(&a->inst, a->force, stdout, &e) ? fail(&e) : 0;
}

static int cmd_finish(struct args *a)
{
	struct mig_err e;

	if (get_instance(a, 0, 0))
		return 2;
	return mig_finish(&a->inst, &e) ? fail(&e) : 0;
}

static int cmd_status(struct args *a)
{
	struct mig_err e;

	if (get_instance(a, 0, 1))
		return 2;
	return mig_status(dir, &a->inst, stdout, &e) ? fail(&e) : 0;
}

static int cmd_inspect(struct args *a)
{
	struct mig_err e;

	return mig_inspect(dir, a->fd, stdout, &e) ? fail(&e) : 0;
}

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < ncommands; i++)
		if (!strcmp(name, commands[i].name))
			return &commands[i];
	return NULL;
}

static int cmd_help(struct args *a)
{
	const struct command *c = a->npos ? find_command(a->pos[0]) : NULL;

	if (a->npos)
		return c ? command_help(c) : usage("unknown command '%s'", a->pos[0]);
	general_help(stdout);
	return 0;
}

static const struct command commands[] = {
	{ "keygen", cmd_keygen, "nR", 0, 0, "[-d DIR] [-n NAME] [--replace]",
	  "Create this host's key pair" },
	{ "pubkey", cmd_pubkey, "", 0, 0, "[-d DIR]",
	  "Print this host's public key file, to copy to the peers" },
	{ "trust", cmd_trust, "R", 1, 2, "[-d DIR] [--replace] FILE [NAME]",
	  "Add a peer's public key FILE to the trusted peers, as NAME (default: the name in FILE)" },
	{ "peers", cmd_peers, "", 0, 0, "[-d DIR]",
	  "List the trusted peers (name, key id, fingerprint) and any broken file in peers/" },
	{ "untrust", cmd_untrust, "", 1, 1, "[-d DIR] NAME", "Remove the trusted peer NAME" },
	{ "send", cmd_send, INSTANCE "tfcsT", 0, 0,
	  "[-d DIR] --to NAME INSTANCE [--fd N] [--staged] [--timeout SECONDS]\n"
	  "       vtpm_migrate send [-d DIR] --to NAME INSTANCE --check",
	  "Seal a running vTPM's state to peer NAME and write one record; the vTPM keeps running" },
	{ "recv", cmd_recv, INSTANCE "frTsca", 0, 0,
	  "[-d DIR] INSTANCE [--fd N] [--allow-rollback] [--timeout SECONDS]\n"
	  "                         [--staged] [--announce HEX]\n"
	  "       vtpm_migrate recv [-d DIR] --check --announce HEX [--allow-rollback]",
	  "Read one record, check it, and load it into the waiting vTPM, then start it" },
	{ "recover", cmd_recover, INSTANCE "F", 0, 0, "[-d DIR] INSTANCE [--force]",
	  "After a failed migration: the source vTPM goes on with its state (refused once a whole record left)" },
	{ "finish", cmd_finish, INSTANCE, 0, 0, "[-d DIR] INSTANCE",
	  "After a successful migration (a whole record left): stop the source vTPM and delete its state" },
	{ "inspect", cmd_inspect, "f", 0, 0, "[-d DIR] [--fd N]",
	  "Print a record's clear header (nothing is decrypted)" },
	{ "status", cmd_status, INSTANCE, 0, 0, "[-d DIR] INSTANCE | --uuid VTPM-UUID",
	  "Print one vTPM's ledger generations (last sent, last accepted) and its 'left this host' mark" },
	{ "ledger-rebuild", cmd_ledger_rebuild, "y", 0, 0, "[-d DIR] --yes",
	  "Rebuild a damaged ledger from what still reads in it (weakens replay protection)" },
	{ "help", cmd_help, "", 0, 1, "[COMMAND]", "Say what the commands, or one COMMAND, do" },
};
static const size_t ncommands = sizeof(commands) / sizeof(commands[0]);

int main(int argc, char **argv)
{
	struct args a = { .timeout_ms = -1 };
	char line[512];
	int r;

	/* A reader that goes away is an error on write, not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	/* The suite is fixed by the record format, not by openssl.cnf, and secrets
	 * are wiped where they are used: skip openssl.cnf and the clean-up at exit
	 * (each costs about a millisecond, and every run is on the migration path). */
	OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ATEXIT, NULL);
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		general_help(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("vtpm_migrate %s (record format version %u)\n", VTPM_MIGRATE_VERSION,
		       VREC_VERSION);
		return 0;
	}
	if (!(cmd = find_command(argv[1]))) {
		snprintf(line, sizeof(line), "unknown command '%s'", argv[1]);
		mig_print_line(stderr, "vtpm_migrate: ", line);
		fputs("('vtpm_migrate --help' lists the commands)\n", stderr);
		return 2;
	}
	r = parse(argc - 1, argv + 1, &a);
	return r >= 0 ? r : cmd->run(&a);
}
