/*
 * vtpm_migrate: the command xend runs on its migration stream, and the tool
 * an administrator uses to set up host keys; vtpm_migrate(8) is its contract.
 * Exit 0 on success, 1 with one line on stderr on any refusal or failure, 2
 * on a usage error. A table of commands; each parses its own options.
 */
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

#include "hostkey.h"
#include "ledger.h"
#include "migrate.h"
#include "util.h"

#ifndef VTPM_MIGRATE_VERSION
#define VTPM_MIGRATE_VERSION "1.0"
#endif

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *synopsis;    /* after "vtpm_migrate NAME " */
	const char *description; /* one line */
	const char *options;     /* the command's own options, for NAME --help */
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

static void command_help(const struct command *c)
{
	synopsis(stdout, c, "usage: ");
	printf("%s.\n\n  -d, --dir DIR     key directory (default " DEFAULT_KEY_DIR ")\n%s"
	       "  -h, --help        this help\n%s", c->description, c->options,
	       strstr(c->synopsis, "INSTANCE") ? instance_help : "");
}

static void general_help(FILE *f)
{
	size_t i;

	fputs("usage:\n", f);
	for (i = 0; i < ncommands; i++)
		synopsis(f, &commands[i], "  ");
	fputs(instance_help, f);
	fputs("\nCommands:\n", f);
	for (i = 0; i < ncommands; i++)
		fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].description);
	fputs("\nEvery command takes -d DIR and --help. Also: --help, --version.\n"
	      "Exit status: 0 success, 1 failure (one line on stderr), 2 usage error.\n", f);
}

/* A usage error: one line saying which word was wrong, then how it goes. */
static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage(const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (!cmd) {
		mig_print_line(stderr, "vtpm_migrate: ", why);
		fputs("('vtpm_migrate --help' lists the commands)\n", stderr);
		return 2;
	}
	fprintf(stderr, "vtpm_migrate: %s: ", cmd->name);
	mig_print_line(stderr, "", why);
	synopsis(stderr, cmd, "usage: ");
	fprintf(stderr, "('vtpm_migrate %s --help' says more)\n", cmd->name);
	return 2;
}

static int fail(const struct mig_err *e)
{
	fprintf(stderr, "vtpm_migrate: %s: ", cmd->name);
	mig_print_line(stderr, "", e->msg);
	return 1;
}

/*
 * What getopt_long returned that the command itself does not take: -d, help,
 * or a usage error naming the word. -1: carry on; else the exit status.
 */
static int common_option(int c, char **argv)
{
	const char *w = argv[optind - 1];
	char word[128];

	switch (c) {
	case 'd':
		dir = optarg;
		return -1;
	case 'h':
		command_help(cmd);
		return 0;
	case ':':
	case '?':
		if (optopt > 0 && strncmp(w, "--", 2))
			snprintf(word, sizeof(word), "-%c", optopt);
		else
			snprintf(word, sizeof(word), "%.*s", (int)strcspn(w, "="), w);
		return usage(c == ':' ? "option '%s' needs an argument" : "unknown option '%s'", word);
	default:
		return usage("internal error: option %d has no handler", c);
	}
}

#define COMMON_OPTIONS { "dir", required_argument, NULL, 'd' }, { "help", no_argument, NULL, 'h' }
#define INSTANCE_OPTIONS                                                                       \
	{ "domid", required_argument, NULL, 'D' }, { "ctrl", required_argument, NULL, 'C' },  \
	{ "uuid", required_argument, NULL, 'U' }, { "domain-uuid", required_argument, NULL, 'M' }
#define END_OPTIONS { NULL, 0, NULL, 0 }

/* Options through getopt_long; the loop in each command stops at -1. */
#define each_option(c, argc, argv, shortopts, opts) \
	while (((c) = getopt_long((argc), (argv), ":d:h" shortopts, (opts), NULL)) != -1)

/* Between min and max arguments after the options. */
static int positional(int argc, char **argv, int min, int max)
{
	if (argc - optind > max)
		return usage("unexpected argument '%s'", argv[optind + max]);
	if (argc - optind < min)
		return usage("missing %s", min - (argc - optind) == 1 ? "an argument" : "arguments");
	return 0;
}

static int parse_int(const char *s, int min, int max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || !*s || *end || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

/* The INSTANCE options, as given. */
struct instance_args {
	const char *domid, *ctrl, *uuid, *domuuid;
};

static int instance_option(int c, struct instance_args *a)
{
	switch (c) {
	case 'D': a->domid = optarg; return 1;
	case 'C': a->ctrl = optarg; return 1;
	case 'U': a->uuid = optarg; return 1;
	case 'M': a->domuuid = optarg; return 1;
	default: return 0;
	}
}

/*
 * INSTANCE: --domid, or --ctrl with --uuid. With bound (send, recv), Xen mode
 * needs the domain UUID from xend, which holds it: never from
 * /local/domain/D/vm, which the guest can write. With uuid_alone, --uuid by
 * itself will do (no control socket: inst->ctrl empty).
 */
static int get_instance(const struct instance_args *a, struct vtpm_instance *inst, int bound,
			int uuid_alone)
{
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
	if (a->ctrl && strlen(a->ctrl) >= sizeof(inst->ctrl))
		return usage("--ctrl path too long");
	if (a->ctrl)
		strcpy(inst->ctrl, a->ctrl);
	if (uuid_parse(a->uuid, inst->vtpm_uuid))
		return usage("--uuid is not a UUID: '%s'", a->uuid);
	return 0;
}

static int parse_fd(const char *arg, int *fd)
{
	return parse_int(arg, 0, INT_MAX, fd) ? usage("--fd needs a file descriptor number, not '%s'", arg)
					      : 0;
}

static int parse_timeout(const char *arg, int *ms)
{
	int s;

	if (parse_int(arg, 1, 86400, &s))
		return usage("--timeout needs a number of seconds (1-86400), not '%s'", arg);
	*ms = s * 1000;
	return 0;
}

/*
 * The options of a command that takes at most one flag (--FLAG) and maybe
 * INSTANCE (ia). -1: carry on; else the exit status.
 */
static int few_options(int argc, char **argv, const char *flag, int *set,
		       struct instance_args *ia)
{
	static const struct option inst[] = { INSTANCE_OPTIONS };
	struct option opts[8] = { COMMON_OPTIONS };
	int n = 2, c, r;

	if (flag)
		opts[n++] = (struct option){ flag, no_argument, NULL, 'F' };
	if (ia) {
		memcpy(opts + n, inst, sizeof(inst));
		n += 4;
	}
	each_option(c, argc, argv, "", opts) {
		if (c == 'F')
			*set = 1;
		else if (!(ia && instance_option(c, ia)) && (r = common_option(c, argv)) >= 0)
			return r;
	}
	return -1;
}

/* A command that takes only -d, --help and min to max arguments. */
static int no_options(int argc, char **argv, int min, int max)
{
	int r = few_options(argc, argv, NULL, NULL, NULL);

	return r >= 0 ? r : positional(argc, argv, min, max) ? 2 : -1;
}

static int cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTIONS, { "name", required_argument, NULL, 'n' },
		{ "replace", no_argument, NULL, 'R' }, END_OPTIONS,
	};
	char host[HOST_NAME_MAX_LEN + 2] = "", id[2 * VREC_KEYID_LEN + 1];
	const char *name = NULL;
	struct host_key k;
	struct mig_err e;
	int replace = 0, c, r;

	each_option(c, argc, argv, "n:", opts) {
		if (c == 'n')
			name = optarg;
		else if (c == 'R')
			replace = 1;
		else if ((r = common_option(c, argv)) >= 0)
			return r;
	}
	if (positional(argc, argv, 0, 0))
		return 2;
	if (replace) {
		/* Key rotation: a new key, under the old name unless -n. */
		if (hostkey_load(dir, &k, &e))
			return fail(&e);
		strcpy(host, k.pub.name);
		hostkey_wipe(&k);
	} else {
		if (!name && gethostname(host, sizeof(host) - 1))
			strcpy(host, "localhost");
		host[strcspn(host, ".")] = '\0';
		if (mkdir(dir, 0700) && errno != EEXIST) {
			mig_fail(&e, "cannot create key directory %s: %s", dir, strerror(errno));
			return fail(&e);
		}
	}
	r = hostkey_generate(&k, name ? name : host, &e) ||
	    (replace ? hostkey_replace(dir, &k, &e) : hostkey_save(dir, &k, &e));
	hex_encode(k.pub.id, VREC_KEYID_LEN, id);
	hostkey_wipe(&k);
	if (r)
		return fail(&e);
	printf("%s/host.pub\n", dir);
	if (replace)
		printf("new key id %s; the old key is kept as %s/host.key.old\n"
		       "on every peer, trust this host.pub with: vtpm_migrate trust --replace FILE\n",
		       id, dir);
	return 0;
}

static int cmd_pubkey(int argc, char **argv)
{
	char path[4096], text[512];
	struct host_pub p;
	struct mig_err e;
	int r = no_options(argc, argv, 0, 0);

	if (r >= 0)
		return r;
	snprintf(path, sizeof(path), "%s/host.pub", dir);
	if (pubkey_read_file(path, &p, &e))
		return fail(&e);
	pubkey_format(&p, text, sizeof(text));
	fputs(text, stdout);
	return 0;
}

static int cmd_trust(int argc, char **argv)
{
	char id[2 * VREC_KEYID_LEN + 1], oldid[2 * VREC_KEYID_LEN + 1] = "", fpr[HOSTKEY_FPR_LEN];
	struct host_pub p, old;
	enum trust_result res;
	struct mig_err e;
	int replace = 0, r = few_options(argc, argv, "replace", &replace, NULL);

	if (r >= 0 || positional(argc, argv, 1, 2))
		return r >= 0 ? r : 2;
	if (pubkey_read_file(argv[optind], &p, &e))
		return fail(&e);
	if (argc - optind == 2) {
		if (!host_name_valid(argv[optind + 1]))
			return usage("peer NAME must be 1-63 of A-Z a-z 0-9 . _ - (and not 'self')");
		strcpy(p.name, argv[optind + 1]);
	}
	memset(&old, 0, sizeof(old));
	if (trust_add(dir, &p, replace, &res, &old, &e))
		return fail(&e);
	hex_encode(p.id, VREC_KEYID_LEN, id);
	hostkey_fingerprint(&p, fpr);
	if (res == TRUST_SAME) {
		printf("peer %s already trusted with key id %s (%s)\n", p.name, id, fpr);
		return 0;
	}
	printf("trusted peer %s: key id %s (%s)", p.name, id, fpr);
	if (res == TRUST_REPLACED && old.name[0])
		hex_encode(old.id, VREC_KEYID_LEN, oldid);
	if (res == TRUST_REPLACED)
		printf(", replacing %s%s", old.name[0] ? "key id " : "a broken file", oldid);
	putchar('\n');
	return 0;
}

static int cmd_untrust(int argc, char **argv)
{
	struct mig_err e;
	int r = no_options(argc, argv, 1, 1);

	if (r >= 0)
		return r;
	if (trust_remove(dir, argv[optind], &e))
		return fail(&e);
	printf("removed peer %s\n", argv[optind]);
	return 0;
}

/* Trusted peers, then the files in peers/ that are not used, with why. */
static int cmd_peers(int argc, char **argv)
{
	char id[2 * VREC_KEYID_LEN + 1], fpr[HOSTKEY_FPR_LEN], line[MIG_ERR_MAX + 300];
	struct peer_set s;
	struct mig_err e;
	int r = no_options(argc, argv, 0, 0);
	size_t i;

	if (r >= 0)
		return r;
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

static int cmd_ledger_rebuild(int argc, char **argv)
{
	size_t kept = 0, dropped = 0;
	struct mig_err e;
	int yes = 0, r = few_options(argc, argv, "yes", &yes, NULL);

	if (r >= 0 || positional(argc, argv, 0, 0))
		return r >= 0 ? r : 2;
	if (!yes)
		return usage("needs --yes: a rebuilt ledger may accept an old record again (restore it from backup if you can)");
	if (ledger_rebuild(dir, &kept, &dropped, &e))
		return fail(&e);
	printf("rebuilt %s/ledger: kept %zu vTPM entries, dropped %zu damaged lines; the damaged file is %s/ledger.damaged\n",
	       dir, kept, dropped, dir);
	return 0;
}

/* send --check: what the xend module parses, one "key value" a line. */
static int send_check(const char *to, const struct vtpm_instance *inst)
{
	char u[UUID_STR_LEN], id[2 * VREC_KEYID_LEN + 1], ann[2 * VANN_LEN + 1];
	struct mig_send_check c;
	struct mig_err e;

	if (mig_send_check(dir, to, inst, &c, &e))
		return fail(&e);
	uuid_format(c.ann.vtpm_uuid, u);
	hex_encode(c.ann.sender_id, VREC_KEYID_LEN, id);
	hex_encode(c.signed_ann, VANN_LEN, ann);
	printf("vtpm-uuid %s\ngeneration %" PRIu64 "\ntpm-version %s\nsender %s\nrecipient %s\nannounce %s\n",
	       u, c.ann.generation, c.ann.tpm_version == TPM_VERSION_12 ? "1.2" : "2", id,
	       c.recipient, ann);
	return 0;
}

static int cmd_send(int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTIONS, INSTANCE_OPTIONS,
		{ "to", required_argument, NULL, 't' }, { "fd", required_argument, NULL, 'f' },
		{ "check", no_argument, NULL, 'c' }, { "staged", no_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 'T' }, END_OPTIONS,
	};
	struct mig_words w = { -1, -1, -1 };
	struct instance_args ia = { NULL, NULL, NULL, NULL };
	struct vtpm_instance inst;
	const char *to = NULL;
	struct mig_err e;
	int fd = 1, have_fd = 0, check = 0, staged = 0, c, r;

	each_option(c, argc, argv, "", opts) {
		switch (c) {
		case 't': to = optarg; break;
		case 'c': check = 1; break;
		case 's': staged = 1; break;
		case 'f':
			have_fd = 1;
			if (parse_fd(optarg, &fd))
				return 2;
			break;
		case 'T':
			if (parse_timeout(optarg, &w.timeout_ms))
				return 2;
			break;
		default:
			if (!instance_option(c, &ia) && (r = common_option(c, argv)) >= 0)
				return r;
		}
	}
	if (positional(argc, argv, 0, 0))
		return 2;
	if (!to)
		return usage("needs --to NAME");
	if (check && (staged || have_fd))
		return usage("--check writes no record: no --fd or --staged");
	if (staged && !have_fd)
		return usage("--staged needs --fd N for the stream (stdin and stdout carry the words)");
	if (get_instance(&ia, &inst, 1, 0))
		return 2;
	if (check)
		return send_check(to, &inst);
	if (isatty(fd)) {
		mig_fail(&e, "refusing to write a record to a terminal");
		return fail(&e);
	}
	if (staged)
		w.in = 0, w.out = 1;
	return mig_send(dir, to, &inst, fd, &w, &e) ? fail(&e) : 0;
}

/* recv --check: would this host accept the announced record? The detail
 * goes to stderr (xend.log), a reason for the asking client to stdout. */
static int recv_check(const struct instance_args *ia, const uint8_t *ann, int rollback)
{
	const char *public = NULL;
	struct mig_err e;

	if (ia->domid || ia->ctrl || ia->uuid || ia->domuuid)
		return usage("--check takes no INSTANCE (the destination domain does not exist yet)");
	if (!ann)
		return usage("--check needs --announce HEX (from the source's send --check)");
	if (mig_recv_check(dir, ann, rollback, &public, &e) == 0)
		return 0;
	printf("%s\n", public);
	return fail(&e);
}

static int cmd_recv(int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTIONS, INSTANCE_OPTIONS,
		{ "fd", required_argument, NULL, 'f' }, { "allow-rollback", no_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 'T' }, { "staged", no_argument, NULL, 's' },
		{ "check", no_argument, NULL, 'c' }, { "announce", required_argument, NULL, 'a' },
		END_OPTIONS,
	};
	struct mig_recv_opts o = { 0, -1, NULL };
	struct mig_words w = { -1, -1, -1 };
	struct instance_args ia = { NULL, NULL, NULL, NULL };
	struct vtpm_instance inst;
	uint8_t ann[VANN_LEN];
	struct mig_err e;
	int fd = 0, have_fd = 0, staged = 0, check = 0, c, r;

	each_option(c, argc, argv, "", opts) {
		switch (c) {
		case 'r': o.allow_rollback = 1; break;
		case 's': staged = 1; break;
		case 'c': check = 1; break;
		case 'f':
			have_fd = 1;
			if (parse_fd(optarg, &fd))
				return 2;
			break;
		case 'T':
			if (parse_timeout(optarg, &o.timeout_ms))
				return 2;
			break;
		case 'a':
			if (hex_decode(optarg, ann, sizeof(ann)))
				return usage("--announce needs the %d hex digits of send --check's announce line",
					     2 * VANN_LEN);
			o.announce = ann;
			break;
		default:
			if (!instance_option(c, &ia) && (r = common_option(c, argv)) >= 0)
				return r;
		}
	}
	if (positional(argc, argv, 0, 0))
		return 2;
	if (check && (staged || have_fd || o.timeout_ms >= 0))
		return usage("--check reads no record: no --fd, --timeout or --staged");
	if (check)
		return recv_check(&ia, o.announce, o.allow_rollback);
	if (staged && !have_fd)
		return usage("--staged needs --fd N for the stream (stdin and stdout carry the words)");
	if (get_instance(&ia, &inst, 1, 0))
		return 2;
	if (staged)
		w = (struct mig_words){ 0, 1, o.timeout_ms };
	return mig_recv(dir, &inst, fd, &o, &w, &e) ? fail(&e) : 0;
}

static int cmd_recover(int argc, char **argv)
{
	struct instance_args ia = { NULL, NULL, NULL, NULL };
	struct vtpm_instance inst;
	struct mig_err e;
	char note[512] = "";
	int force = 0, r = few_options(argc, argv, "force", &force, &ia);

	if (r >= 0 || positional(argc, argv, 0, 0) || get_instance(&ia, &inst, 0, 0))
		return r >= 0 ? r : 2;
	if (mig_recover(&inst, force, note, sizeof(note), &e))
		return fail(&e);
	if (*note)
		printf("%s\n", note);
	return 0;
}

/* finish and status: INSTANCE and nothing else. */
static int instance_only(int argc, char **argv, struct vtpm_instance *inst, int uuid_alone)
{
	struct instance_args ia = { NULL, NULL, NULL, NULL };
	int r = few_options(argc, argv, NULL, NULL, &ia);

	if (r >= 0 || positional(argc, argv, 0, 0) || get_instance(&ia, inst, 0, uuid_alone))
		return r >= 0 ? r : 2;
	return -1;
}

static int cmd_finish(int argc, char **argv)
{
	struct vtpm_instance inst;
	struct mig_err e;
	int r = instance_only(argc, argv, &inst, 0);

	if (r >= 0)
		return r;
	return mig_finish(&inst, &e) ? fail(&e) : 0;
}

static int cmd_status(int argc, char **argv)
{
	struct vtpm_instance inst;
	struct mig_err e;
	int r = instance_only(argc, argv, &inst, 1);

	if (r >= 0)
		return r;
	if ((inst.domid >= 0 && xen_find_instance(&inst, &e)) ||
	    mig_status(dir, &inst, stdout, &e)) {
		fflush(stdout);
		return fail(&e);
	}
	return 0;
}

static int cmd_inspect(int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTIONS, { "fd", required_argument, NULL, 'f' }, END_OPTIONS,
	};
	struct mig_err e;
	int fd = 0, c, r;

	each_option(c, argc, argv, "", opts) {
		if (c != 'f' && (r = common_option(c, argv)) >= 0)
			return r;
		if (c == 'f' && parse_fd(optarg, &fd))
			return 2;
	}
	if (positional(argc, argv, 0, 0))
		return 2;
	if (mig_inspect(dir, fd, stdout, &e)) {
		fflush(stdout);
		return fail(&e);
	}
	return 0;
}

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < ncommands; i++)
		if (!strcmp(name, commands[i].name))
			return &commands[i];
	return NULL;
}

static int cmd_help(int argc, char **argv)
{
	const struct command *c;
	int r = no_options(argc, argv, 0, 1);

	if (r >= 0)
		return r;
	if (optind == argc) {
		general_help(stdout);
		return 0;
	}
	c = find_command(argv[optind]);
	if (!c)
		return usage("unknown command '%s'", argv[optind]);
	command_help(c);
	return 0;
}

static const struct command commands[] = {
	{ "keygen", cmd_keygen, "[-d DIR] [-n NAME] [--replace]", "Create this host's key pair",
	  "  -n, --name NAME   the name the key carries (default: the host name up to its first dot)\n"
	  "  --replace         replace this host's key (rotation): the old one is kept as\n"
	  "                    host.key.old, peers/ and the ledger stay; -n defaults to the old name\n" },
	{ "pubkey", cmd_pubkey, "[-d DIR]", "Print this host's public key file, to copy to the peers",
	  "" },
	{ "trust", cmd_trust, "[-d DIR] [--replace] FILE [NAME]",
	  "Add a peer's public key FILE to the trusted peers, as NAME (default: the name in FILE)",
	  "  --replace         replace the key already trusted under NAME (key rotation)\n" },
	{ "peers", cmd_peers, "[-d DIR]",
	  "List the trusted peers (name, key id, fingerprint) and any broken file in peers/", "" },
	{ "untrust", cmd_untrust, "[-d DIR] NAME", "Remove the trusted peer NAME", "" },
	{ "send", cmd_send,
	  "[-d DIR] --to NAME INSTANCE [--fd N] [--staged] [--timeout SECONDS]\n"
	  "       vtpm_migrate send [-d DIR] --to NAME INSTANCE --check",
	  "Seal a running vTPM's state to peer NAME and write one record; the vTPM keeps running",
	  "  --to NAME         the trusted peer to seal to; 'self' for this host\n"
	  "  --fd N            write the record to fd N (default 1)\n"
	  "  --staged          say 'ready'; on 'pull' pull and seal, say 'sealed'; on 'write'\n"
	  "                    write the record, say 'done' (words on stdin/stdout)\n"
	  "  --timeout SECONDS how long to wait for 'write' and on the stream\n"
	  "  --check           make every check send makes, touch nothing, and print vtpm-uuid,\n"
	  "                    generation, tpm-version, sender, recipient and the signed\n"
	  "                    announcement of the record (announce HEX)\n" },
	{ "recv", cmd_recv,
	  "[-d DIR] INSTANCE [--fd N] [--allow-rollback] [--timeout SECONDS]\n"
	  "                         [--staged] [--announce HEX]\n"
	  "       vtpm_migrate recv [-d DIR] --check --announce HEX [--allow-rollback]",
	  "Read one record, check it, and load it into the waiting vTPM, then start it",
	  "  --fd N            read the record from fd N (default 0)\n"
	  "  --allow-rollback  accept a generation not newer than the last accepted\n"
	  "  --timeout SECONDS wait that long for the vTPM instance to appear (Xen mode),\n"
	  "                    then as long for the whole record\n"
	  "  --staged          say 'ready'; on 'go' read, check, load, start, say 'done'\n"
	  "                    (words on stdin/stdout; the record on --fd)\n"
	  "  --announce HEX    the source's signed announcement of this record: its generation\n"
	  "                    is accepted before 'ready', taken back if it does not come or run\n"
	  "  --check           say whether this host would accept the announced record (exit 0)\n"
	  "                    or why not (exit 1: a reason for the source on stdout, the\n"
	  "                    detail on stderr); reads nothing\n" },
	{ "recover", cmd_recover, "[-d DIR] INSTANCE [--force]",
	  "After a failed migration: the source vTPM goes on with its state (refused once a whole record left)",
	  "  --force           the vTPM left this host but runs nowhere else (checked by you):\n"
	  "                    remove the 'left this host' mark and let it run here again\n" },
	{ "finish", cmd_finish, "[-d DIR] INSTANCE",
	  "After a successful migration (a whole record left): stop the source vTPM and delete its state",
	  "" },
	{ "inspect", cmd_inspect, "[-d DIR] [--fd N]",
	  "Print a record's clear header (nothing is decrypted)",
	  "  --fd N            read the record from fd N (default 0)\n" },
	{ "status", cmd_status, "[-d DIR] INSTANCE | --uuid VTPM-UUID",
	  "Print one vTPM's ledger generations (last sent, last accepted) and its 'left this host' mark",
	  "" },
	{ "ledger-rebuild", cmd_ledger_rebuild, "[-d DIR] --yes",
	  "Rebuild a damaged ledger from what still reads in it (weakens replay protection)",
	  "  --yes             rebuild: entries lost from the ledger re-open replays of older records\n" },
	{ "help", cmd_help, "[COMMAND]", "Say what the commands, or one COMMAND, do", "" },
};
static const size_t ncommands = sizeof(commands) / sizeof(commands[0]);

int main(int argc, char **argv)
{
	/* A reader that goes away is an error on write, not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	/*
	 * The suite is fixed by the record format, not by openssl.cnf, and
	 * secrets are wiped where they are used: skip loading the system
	 * configuration and OpenSSL's clean-up at exit (each costs about a
	 * millisecond on every run, and every run is on the migration path).
	 */
	OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ATEXIT, NULL);
	if (argc < 2) {
		general_help(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		general_help(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("vtpm_migrate %s (record format version %u)\n", VTPM_MIGRATE_VERSION,
		       VREC_VERSION);
		return 0;
	}
	cmd = find_command(argv[1]);
	if (!cmd)
		return usage("unknown command '%s'", argv[1]);
	opterr = 0;
	optind = 1;
	return cmd->run(argc - 1, argv + 1);
}
