/*
 * vtpm_migrate: the command xend runs on its migration stream, and the tool
 * an administrator uses to set up host keys. CONTRACT.md and vtpm_migrate(8)
 * are its contract: exit 0 on success, 1 with one line on stderr on any
 * refusal or failure, 2 on a usage error.
 *
 * A table of commands {name, function, synopsis, description}; each command
 * parses its own options (getopt_long) after the ones every command shares,
 * so help says what each does and an error names the word it did not take.
 */
#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
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
#include "record.h"
#include "staged.h"
#include "util.h"

#ifndef VTPM_MIGRATE_VERSION
#define VTPM_MIGRATE_VERSION "1.0"
#endif

struct cli;
struct command {
	const char *name;
	int (*run)(struct cli *cl, int argc, char **argv);
	const char *synopsis;    /* after "vtpm_migrate NAME " */
	const char *description; /* one line */
	const char *options;     /* the command's own options, for CMD --help */
};

/* What the options every command shares leave behind. */
struct cli {
	const struct command *cmd;
	const char *dir;
	struct {
		unsigned seen;
		int domid;
		const char *ctrl, *uuid, *domuuid;
	} inst;
	int status; /* exit status once parsing stopped early */
};

/* Options without a short form; above any char so errors can tell them apart. */
enum {
	OPT_STOP = -2,
	OPT_DOMID = 0x100, OPT_CTRL, OPT_UUID, OPT_DOMUUID,
	OPT_TO, OPT_FD, OPT_ROLLBACK, OPT_REPLACE, OPT_YES, OPT_FORCE,
	OPT_CHECK, OPT_STAGED, OPT_TIMEOUT, OPT_SENDER, OPT_GENERATION, OPT_TPMVER,
};

#define INST_DOMID (1u << 0)
#define INST_CTRL (1u << 1)
#define INST_UUID (1u << 2)
#define INST_DOMUUID (1u << 3)

/* Every command takes these. */
#define COMMON_OPTIONS                                   \
	{ "dir", required_argument, NULL, 'd' },         \
	{ "help", no_argument, NULL, 'h' }
#define COMMON_SHORT ":d:h"
/* Every command that names one vTPM takes these: see get_instance(). */
#define INSTANCE_OPTIONS                                        \
	{ "domid", required_argument, NULL, OPT_DOMID },        \
	{ "ctrl", required_argument, NULL, OPT_CTRL },          \
	{ "uuid", required_argument, NULL, OPT_UUID },          \
	{ "domain-uuid", required_argument, NULL, OPT_DOMUUID }
#define OPTIONS_END { NULL, 0, NULL, 0 }

static const char instance_help[] =
	"INSTANCE is  --domid ID   (Xen mode: found through xenstore)\n"
	"         or  --ctrl SOCKET --uuid VTPM-UUID [--domain-uuid UUID]\n";
static const char dir_help[] =
	"  -d, --dir DIR     key directory (default $VTPM_MIGRATION_DIR, else " DEFAULT_KEY_DIR ")\n";

static const struct command commands[];
static const size_t ncommands;

static void print_synopsis(FILE *f, const struct command *c, const char *lead)
{
	fprintf(f, "%svtpm_migrate %s%s%s\n", lead, c->name, *c->synopsis ? " " : "", c->synopsis);
}

static void command_help(FILE *f, const struct command *c)
{
	print_synopsis(f, c, "usage: ");
	fprintf(f, "%s.\n\n%s%s", c->description, dir_help, c->options);
	fputs("  -h, --help        this help\n", f);
	if (strstr(c->synopsis, "INSTANCE"))
		fputs(instance_help, f);
}

static void general_help(FILE *f)
{
	size_t i;

	fputs("usage:\n", f);
	for (i = 0; i < ncommands; i++)
		print_synopsis(f, &commands[i], "  ");
	fputs(instance_help, f);
	fputs("\nCommands:\n", f);
	for (i = 0; i < ncommands; i++)
		fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].description);
	fputs("\nEvery command takes -d DIR and --help. Also: --help, --version.\n"
	      "Exit status: 0 success, 1 failure (one line on stderr), 2 usage error.\n", f);
}

/* A usage error: one line saying which word was wrong, then how it goes. */
static int usage(struct cli *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage(struct cli *cl, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (cl && cl->cmd) {
		fprintf(stderr, "vtpm_migrate: %s: ", cl->cmd->name);
		mig_print_line(stderr, "", why);
		print_synopsis(stderr, cl->cmd, "usage: ");
		fprintf(stderr, "('vtpm_migrate %s --help' says more)\n", cl->cmd->name);
	} else {
		mig_print_line(stderr, "vtpm_migrate: ", why);
		fputs("('vtpm_migrate --help' lists the commands)\n", stderr);
	}
	if (cl)
		cl->status = 2;
	return 2;
}

static int fail(const struct mig_err *e)
{
	mig_print_line(stderr, "vtpm_migrate: ", e->msg);
	return 1;
}

static int parse_int(const char *s, int min, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || !*s || *end || v < min || v > INT_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

/* The word getopt stopped at: "--long" (without "=value") or "-c". */
static void bad_word(char **argv, char *buf, size_t len)
{
	const char *w = optind > 0 ? argv[optind - 1] : "";

	if ((optopt > 0 && optopt < 0x100) && strncmp(w, "--", 2)) {
		snprintf(buf, len, "-%c", optopt);
		return;
	}
	snprintf(buf, len, "%.*s", (int)strcspn(w, "="), w);
}

/*
 * The next option of the running command. The options every command shares
 * (-d, --help) and INSTANCE are taken here; the command's own are returned.
 * -1 at the end of the options; OPT_STOP when the command must return
 * cl->status (help given, or a usage error).
 */
static int next_opt(struct cli *cl, int argc, char **argv, const char *shortopts,
		    const struct option *opts)
{
	char word[128];
	int c;

	for (;;) {
		c = getopt_long(argc, argv, shortopts, opts, NULL);
		switch (c) {
		case 'd':
			cl->dir = optarg;
			continue;
		case 'h':
			command_help(stdout, cl->cmd);
			cl->status = 0;
			return OPT_STOP;
		case OPT_DOMID:
			cl->inst.seen |= INST_DOMID;
			if (parse_int(optarg, 0, &cl->inst.domid)) {
				usage(cl, "--domid needs a domain id, not '%s'", optarg);
				return OPT_STOP;
			}
			continue;
		case OPT_CTRL:
			cl->inst.seen |= INST_CTRL;
			cl->inst.ctrl = optarg;
			continue;
		case OPT_UUID:
			cl->inst.seen |= INST_UUID;
			cl->inst.uuid = optarg;
			continue;
		case OPT_DOMUUID:
			cl->inst.seen |= INST_DOMUUID;
			cl->inst.domuuid = optarg;
			continue;
		case ':':
			bad_word(argv, word, sizeof(word));
			usage(cl, "option '%s' needs an argument", word);
			return OPT_STOP;
		case '?':
			bad_word(argv, word, sizeof(word));
			usage(cl, "unknown option '%s'", word);
			return OPT_STOP;
		default:
			return c;
		}
	}
}

/* The arguments left after the options: between min and max of them. */
static int positional(struct cli *cl, int argc, char **argv, int min, int max)
{
	int n = argc - optind;

	if (n > max) {
		usage(cl, "unexpected argument '%s'", argv[optind + max]);
		return -1;
	}
	if (n < min) {
		usage(cl, "missing %s", min - n == 1 ? "an argument" : "arguments");
		return -1;
	}
	return 0;
}

static int parse_fd(struct cli *cl, const char *arg, int *fd)
{
	if (parse_int(arg, 0, fd))
		return usage(cl, "--fd needs a file descriptor number, not '%s'", arg);
	return 0;
}

static const char *key_dir(const struct cli *cl)
{
	const char *env = getenv("VTPM_MIGRATION_DIR");

	if (cl->dir)
		return cl->dir;
	return env && *env ? env : DEFAULT_KEY_DIR;
}

/* INSTANCE: --domid, or --ctrl with --uuid (and maybe --domain-uuid); with
 * uuid_alone, --uuid by itself too (no control socket: inst->ctrl empty). */
static int get_instance(struct cli *cl, struct vtpm_instance *inst, int uuid_alone)
{
	unsigned seen = cl->inst.seen;

	memset(inst, 0, sizeof(*inst));
	inst->domid = -1;
	if (seen & INST_DOMID) {
		if (seen & (INST_CTRL | INST_UUID))
			return usage(cl, "give either --domid or --ctrl/--uuid, not both");
		inst->domid = cl->inst.domid;
		if (cl->inst.domuuid && uuid_parse(cl->inst.domuuid, inst->domain_uuid))
			return usage(cl, "--domain-uuid is not a UUID: '%s'", cl->inst.domuuid);
		return 0;
	}
	if (!(seen & INST_UUID) || (!(seen & INST_CTRL) && !uuid_alone))
		return usage(cl, "INSTANCE needs --domid ID, or --ctrl SOCKET and --uuid UUID");
	if (seen & INST_CTRL) {
		if (strlen(cl->inst.ctrl) >= sizeof(inst->ctrl))
			return usage(cl, "--ctrl path too long");
		strcpy(inst->ctrl, cl->inst.ctrl);
	}
	if (uuid_parse(cl->inst.uuid, inst->vtpm_uuid))
		return usage(cl, "--uuid is not a UUID: '%s'", cl->inst.uuid);
	if (cl->inst.domuuid && uuid_parse(cl->inst.domuuid, inst->domain_uuid))
		return usage(cl, "--domain-uuid is not a UUID: '%s'", cl->inst.domuuid);
	return 0;
}

/* send and recv bind the record to the domain: in Xen mode its UUID comes
 * from xend, which holds it, never from /local/domain/D/vm (the guest can
 * write that node). */
static int get_bound_instance(struct cli *cl, struct vtpm_instance *inst)
{
	if (get_instance(cl, inst, 0))
		return -1;
	if (inst->domid >= 0 && !(cl->inst.seen & INST_DOMUUID))
		return usage(cl, "--domid needs --domain-uuid UUID (the domain's UUID as xend holds it)");
	return 0;
}

/* The option loop of a command whose one own option is a flag. */
static int flag_option(struct cli *cl, int argc, char **argv, const struct option *opts,
		       int flag, int *set)
{
	int c;

	while ((c = next_opt(cl, argc, argv, COMMON_SHORT, opts)) != -1) {
		if (c != flag)
			return -1;
		*set = 1;
	}
	return 0;
}

/* Commands that take only the shared options (and INSTANCE when listed).
 * Nonzero: stop and return cl->status (help given or a usage error). */
static int no_own_options(struct cli *cl, int argc, char **argv, const struct option *opts,
			  int min, int max)
{
	int c = next_opt(cl, argc, argv, COMMON_SHORT, opts);

	if (c == OPT_STOP)
		return -1;
	if (c != -1)
		return usage(cl, "internal: option %d has no handler", c);
	return positional(cl, argc, argv, min, max);
}

/* Key rotation on this host: a new key under the old name (unless -n). */
static int keygen_replace(const char *dir, const char *name)
{
	struct host_key k;
	struct mig_err e;
	char id[2 * VREC_KEYID_LEN + 1], was[HOST_NAME_MAX_LEN + 1];
	int r;

	if (hostkey_load(dir, &k, &e)) {
		mig_wrap(&e, "keygen --replace: ");
		return fail(&e);
	}
	strcpy(was, k.pub.name);
	hostkey_wipe(&k);
	r = hostkey_generate(&k, name ? name : was, &e) || hostkey_replace(dir, &k, &e);
	hex_encode(k.pub.id, VREC_KEYID_LEN, id);
	hostkey_wipe(&k);
	if (r) {
		mig_wrap(&e, "keygen --replace: ");
		return fail(&e);
	}
	printf("%s/host.pub\n", dir);
	printf("new key id %s; the old key is kept as %s/host.key.old\n"
	       "on every peer, trust this host.pub with: vtpm_migrate trust --replace FILE\n", id, dir);
	return 0;
}

static int cmd_keygen(struct cli *cl, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTIONS,
		{ "name", required_argument, NULL, 'n' },
		{ "replace", no_argument, NULL, OPT_REPLACE },
		OPTIONS_END,
	};
	char host[HOST_NAME_MAX_LEN + 2] = "";
	const char *dir, *name = NULL;
	struct host_key k;
	struct mig_err e;
	int replace = 0, c;

	while ((c = next_opt(cl, argc, argv, COMMON_SHORT "n:", opts)) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case OPT_REPLACE: replace = 1; break;
		default: return cl->status;
		}
	}
	if (positional(cl, argc, argv, 0, 0))
		return cl->status;
	dir = key_dir(cl);
	if (replace)
		return keygen_replace(dir, name);
	if (!name) {
		if (gethostname(host, sizeof(host) - 1))
			strcpy(host, "localhost");
		host[strcspn(host, ".")] = '\0';
		name = host;
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		mig_fail(&e, "keygen: cannot create key directory %s: %s", dir, strerror(errno));
		return fail(&e);
	}
	if (hostkey_generate(&k, name, &e) || hostkey_save(dir, &k, &e)) {
		hostkey_wipe(&k);
		mig_wrap(&e, "keygen: ");
		return fail(&e);
	}
	hostkey_wipe(&k);
	printf("%s/host.pub\n", dir);
	return 0;
}

static int cmd_pubkey(struct cli *cl, int argc, char **argv)
{
	static const struct option opts[] = { COMMON_OPTIONS, OPTIONS_END };
	char path[4096], text[512];
	struct host_pub p;
	struct mig_err e;

	if (no_own_options(cl, argc, argv, opts, 0, 0))
		return cl->status;
	snprintf(path, sizeof(path), "%s/host.pub", key_dir(cl));
	if (pubkey_read_file(path, &p, &e)) {
		mig_wrap(&e, "pubkey: ");
		return fail(&e);
	}
	pubkey_format(&p, text, sizeof(text));
	fputs(text, stdout);
	return 0;
}

static int cmd_trust(struct cli *cl, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTIONS,
		{ "replace", no_argument, NULL, OPT_REPLACE },
		OPTIONS_END,
	};
	char id[2 * VREC_KEYID_LEN + 1], oldid[2 * VREC_KEYID_LEN + 1], fpr[HOSTKEY_FPR_LEN];
	struct host_pub p, old;
	enum trust_result res;
	struct mig_err e;
	int replace = 0;

	if (flag_option(cl, argc, argv, opts, OPT_REPLACE, &replace))
		return cl->status;
	if (positional(cl, argc, argv, 1, 2))
		return cl->status;
	if (pubkey_read_file(argv[optind], &p, &e)) {
		mig_wrap(&e, "trust: ");
		return fail(&e);
	}
	if (argc - optind == 2) {
		if (!host_name_valid(argv[optind + 1]))
			return usage(cl, "peer NAME must be 1-63 of A-Z a-z 0-9 . _ - (and not 'self')");
		strcpy(p.name, argv[optind + 1]);
	}
	memset(&old, 0, sizeof(old));
	if (trust_add(key_dir(cl), &p, replace, &res, &old, &e)) {
		mig_wrap(&e, "trust: ");
		return fail(&e);
	}
	hex_encode(p.id, VREC_KEYID_LEN, id);
	hostkey_fingerprint(&p, fpr);
	if (res == TRUST_SAME)
		printf("peer %s already trusted with key id %s (%s)\n", p.name, id, fpr);
	else if (res == TRUST_ADDED)
		printf("trusted peer %s: key id %s (%s)\n", p.name, id, fpr);
	else if (old.name[0]) {
		hex_encode(old.id, VREC_KEYID_LEN, oldid);
		printf("trusted peer %s: key id %s (%s), replacing key id %s\n", p.name, id, fpr,
		       oldid);
	} else {
		printf("trusted peer %s: key id %s (%s), replacing a broken file\n", p.name, id,
		       fpr);
	}
	return 0;
}

static int cmd_untrust(struct cli *cl, int argc, char **argv)
{
	static const struct option opts[] = { COMMON_OPTIONS, OPTIONS_END };
	struct mig_err e;

	if (no_own_options(cl, argc, argv, opts, 1, 1))
		return cl->status;
	if (trust_remove(key_dir(cl), argv[optind], &e)) {
		mig_wrap(&e, "untrust: ");
		return fail(&e);
	}
	printf("removed peer %s\n", argv[optind]);
	return 0;
}

/* Trusted peers, then the files in peers/ that are not used, with why. */
static int cmd_peers(struct cli *cl, int argc, char **argv)
{
	static const struct option opts[] = { COMMON_OPTIONS, OPTIONS_END };
	char id[2 * VREC_KEYID_LEN + 1], fpr[HOSTKEY_FPR_LEN], line[MIG_ERR_MAX + 300];
	struct peer_set s;
	struct mig_err e;
	size_t i;

	if (no_own_options(cl, argc, argv, opts, 0, 0))
		return cl->status;
	if (peers_load(key_dir(cl), &s, &e)) {
		mig_wrap(&e, "peers: ");
		return fail(&e);
	}
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

static int cmd_ledger_rebuild(struct cli *cl, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTIONS,
		{ "yes", no_argument, NULL, OPT_YES },
		OPTIONS_END,
	};
	size_t kept = 0, dropped = 0;
	struct mig_err e;
	int yes = 0;

	if (flag_option(cl, argc, argv, opts, OPT_YES, &yes))
		return cl->status;
	if (positional(cl, argc, argv, 0, 0))
		return cl->status;
	if (!yes)
		return usage(cl, "needs --yes: a rebuilt ledger may accept an old record again (restore it from backup if you can)");
	if (ledger_rebuild(key_dir(cl), &kept, &dropped, &e)) {
		mig_wrap(&e, "ledger-rebuild: ");
		return fail(&e);
	}
	printf("rebuilt %s/ledger: kept %zu vTPM entries, dropped %zu damaged lines; the damaged file is %s/ledger.damaged\n",
	       key_dir(cl), kept, dropped, key_dir(cl));
	return 0;
}

/* send --check: what the xend module parses, one "key value" a line. */
static int send_check(const struct cli *cl, const char *to, const struct vtpm_instance *inst)
{
	char u[UUID_STR_LEN], id[2 * VREC_KEYID_LEN + 1];
	struct mig_send_check c;
	struct mig_sender s;
	struct mig_err e;
	int r;

	if (mig_send_prepare(&s, key_dir(cl), to, inst, &e))
		return fail(&e);
	r = mig_send_check(&s, &c, &e);
	mig_send_end(&s);
	if (r)
		return fail(&e);
	uuid_format(c.vtpm_uuid, u);
	hex_encode(c.sender_id, VREC_KEYID_LEN, id);
	printf("vtpm-uuid %s\ngeneration %" PRIu64 "\ntpm-version %s\nsender %s\nrecipient %s\n", u,
	       c.generation, c.version == TPM_VERSION_12 ? "1.2" : "2", id, c.recipient);
	return 0;
}

static int cmd_send(struct cli *cl, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTIONS, INSTANCE_OPTIONS,
		{ "to", required_argument, NULL, OPT_TO },
		{ "fd", required_argument, NULL, OPT_FD },
		{ "check", no_argument, NULL, OPT_CHECK },
		{ "staged", no_argument, NULL, OPT_STAGED },
		OPTIONS_END,
	};
	struct vtpm_instance inst;
	struct mig_report rep;
	const char *to = NULL;
	struct mig_err e;
	int fd = 1, have_fd = 0, check = 0, staged = 0, c, r;

	while ((c = next_opt(cl, argc, argv, COMMON_SHORT, opts)) != -1) {
		switch (c) {
		case OPT_TO: to = optarg; break;
		case OPT_FD: if (parse_fd(cl, optarg, &fd)) return cl->status; have_fd = 1; break;
		case OPT_CHECK: check = 1; break;
		case OPT_STAGED: staged = 1; break;
		default: return cl->status;
		}
	}
	if (positional(cl, argc, argv, 0, 0))
		return cl->status;
	if (!to)
		return usage(cl, "needs --to NAME");
	if (check && staged)
		return usage(cl, "--check and --staged do not go together");
	if (staged && !have_fd)
		return usage(cl, "--staged needs --fd N for the stream (stdin and stdout carry the words)");
	if (get_bound_instance(cl, &inst))
		return cl->status;
	if (check)
		return send_check(cl, to, &inst);
	if (isatty(fd)) {
		mig_fail(&e, "send: refusing to write a record to a terminal");
		return fail(&e);
	}
	if (staged)
		r = mig_send_staged(key_dir(cl), to, &inst, fd, 0, 1, &e);
	else
		r = mig_send(key_dir(cl), to, &inst, fd, &rep, &e);
	return r ? fail(&e) : 0;
}

/* recv --check's own options. */
struct recv_check_args {
	const char *sender, *generation, *tpm_version;
};

/* recv --check: no INSTANCE, the destination domain does not exist yet. */
/* --sender KEYID-HEX --generation G: the record xend's vtpm_check asks about. */
static int parse_announced(struct cli *cl, const struct recv_check_args *k,
			   uint8_t sender[VREC_KEYID_LEN], uint64_t *gen)
{
	unsigned long long g;
	char *end;

	if (hex_decode(k->sender, sender, VREC_KEYID_LEN))
		return usage(cl, "--sender needs a key id of 32 hex digits, not '%s'", k->sender);
	errno = 0;
	g = strtoull(k->generation, &end, 10);
	if (errno || *k->generation < '1' || *k->generation > '9' || *end)
		return usage(cl, "--generation needs a positive number, not '%s'", k->generation);
	*gen = (uint64_t)g;
	return 0;
}

static int recv_check(struct cli *cl, const struct recv_check_args *k, int rollback)
{
	uint8_t sender[VREC_KEYID_LEN], uuid[16];
	uint64_t gen;
	struct mig_err e;

	if (cl->inst.seen & (INST_DOMID | INST_CTRL | INST_DOMUUID))
		return usage(cl, "--check takes no INSTANCE (the destination domain does not exist yet)");
	if (!k->sender || !(cl->inst.seen & INST_UUID) || !k->generation)
		return usage(cl, "--check needs --sender KEYID-HEX --uuid VTPM-UUID --generation G");
	if (parse_announced(cl, k, sender, &gen))
		return cl->status;
	if (uuid_parse(cl->inst.uuid, uuid))
		return usage(cl, "--uuid is not a UUID: '%s'", cl->inst.uuid);
	/* The destination instance, and so its TPM version, exists only once
	 * the domain is restored; recv checks the version then. */
	if (k->tpm_version && strcmp(k->tpm_version, "2") && strcmp(k->tpm_version, "1.2"))
		return usage(cl, "--tpm-version is 2 or 1.2, not '%s'", k->tpm_version);
	if (mig_recv_check(key_dir(cl), sender, uuid, gen, rollback, &e))
		return fail(&e);
	return 0;
}

static int cmd_recv(struct cli *cl, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTIONS, INSTANCE_OPTIONS,
		{ "fd", required_argument, NULL, OPT_FD },
		{ "allow-rollback", no_argument, NULL, OPT_ROLLBACK },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "staged", no_argument, NULL, OPT_STAGED },
		{ "check", no_argument, NULL, OPT_CHECK },
		{ "sender", required_argument, NULL, OPT_SENDER },
		{ "generation", required_argument, NULL, OPT_GENERATION },
		{ "tpm-version", required_argument, NULL, OPT_TPMVER },
		OPTIONS_END,
	};
	struct recv_check_args k = { NULL, NULL, NULL };
	struct mig_announced ann;
	struct vtpm_instance inst;
	struct mig_report rep;
	struct mig_err e;
	int fd = 0, have_fd = 0, rollback = 0, timeout_s = -1, staged = 0, check = 0, c, r;

	while ((c = next_opt(cl, argc, argv, COMMON_SHORT, opts)) != -1) {
		switch (c) {
		case OPT_FD: if (parse_fd(cl, optarg, &fd)) return cl->status; have_fd = 1; break;
		case OPT_ROLLBACK: rollback = 1; break;
		case OPT_TIMEOUT:
			if (parse_int(optarg, 1, &timeout_s) || timeout_s > 86400)
				return usage(cl, "--timeout needs a number of seconds (1-86400), not '%s'",
					     optarg);
			break;
		case OPT_STAGED: staged = 1; break;
		case OPT_CHECK: check = 1; break;
		case OPT_SENDER: k.sender = optarg; break;
		case OPT_GENERATION: k.generation = optarg; break;
		case OPT_TPMVER: k.tpm_version = optarg; break;
		default: return cl->status;
		}
	}
	if (positional(cl, argc, argv, 0, 0))
		return cl->status;
	if (check) {
		if (staged || have_fd || timeout_s > 0)
			return usage(cl, "--check reads no record: no --fd, --timeout or --staged");
		return recv_check(cl, &k, rollback);
	}
	if (k.tpm_version || (!staged && (k.sender || k.generation)))
		return usage(cl, "--sender and --generation go with --check or --staged, --tpm-version with --check");
	if (!k.sender != !k.generation)
		return usage(cl, "--sender and --generation go together");
	if (k.sender && parse_announced(cl, &k, ann.sender, &ann.generation))
		return cl->status;
	if (staged && !have_fd)
		return usage(cl, "--staged needs --fd N for the stream (stdin and stdout carry the words)");
	if (get_bound_instance(cl, &inst))
		return cl->status;
	if (staged)
		r = mig_recv_staged(key_dir(cl), &inst, fd, rollback,
				    timeout_s > 0 ? timeout_s * 1000 : -1, k.sender ? &ann : NULL,
				    0, 1, &e);
	else
		r = mig_recv(key_dir(cl), &inst, fd, rollback, timeout_s > 0 ? timeout_s * 1000 : -1,
			     &rep, &e);
	return r ? fail(&e) : 0;
}

static int cmd_recover(struct cli *cl, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTIONS, INSTANCE_OPTIONS,
		{ "force", no_argument, NULL, OPT_FORCE },
		OPTIONS_END,
	};
	struct vtpm_instance inst;
	struct mig_err e;
	char note[512] = "";
	int force = 0;

	if (flag_option(cl, argc, argv, opts, OPT_FORCE, &force))
		return cl->status;
	if (positional(cl, argc, argv, 0, 0) || get_instance(cl, &inst, 0))
		return cl->status;
	if (mig_recover(&inst, force, note, sizeof(note), &e))
		return fail(&e);
	if (*note)
		printf("%s\n", note);
	return 0;
}

static int cmd_finish(struct cli *cl, int argc, char **argv)
{
	static const struct option opts[] = { COMMON_OPTIONS, INSTANCE_OPTIONS, OPTIONS_END };
	struct vtpm_instance inst;
	struct mig_err e;

	if (no_own_options(cl, argc, argv, opts, 0, 0) || get_instance(cl, &inst, 0))
		return cl->status;
	if (mig_finish(&inst, &e))
		return fail(&e);
	return 0;
}

static int cmd_inspect(struct cli *cl, int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTIONS,
		{ "fd", required_argument, NULL, OPT_FD },
		OPTIONS_END,
	};
	struct mig_err e;
	int fd = 0, c;

	while ((c = next_opt(cl, argc, argv, COMMON_SHORT, opts)) != -1) {
		if (c != OPT_FD)
			return cl->status;
		if (parse_fd(cl, optarg, &fd))
			return cl->status;
	}
	if (positional(cl, argc, argv, 0, 0))
		return cl->status;
	if (mig_inspect(key_dir(cl), fd, stdout, &e)) {
		fflush(stdout);
		return fail(&e);
	}
	return 0;
}

static int cmd_status(struct cli *cl, int argc, char **argv)
{
	static const struct option opts[] = { COMMON_OPTIONS, INSTANCE_OPTIONS, OPTIONS_END };
	struct vtpm_instance inst;
	struct mig_err e;

	if (no_own_options(cl, argc, argv, opts, 0, 0) || get_instance(cl, &inst, 1))
		return cl->status;
	if ((inst.domid >= 0 && xen_find_instance(&inst, &e)) ||
	    mig_status(key_dir(cl), &inst, stdout, &e)) {
		fflush(stdout);
		return fail(&e);
	}
	return 0;
}

static int cmd_help(struct cli *cl, int argc, char **argv);

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
	{ "send", cmd_send, "[-d DIR] --to NAME INSTANCE [--fd N] [--staged | --check]",
	  "Seal a running vTPM's state to peer NAME and write one record; the vTPM keeps running",
	  "  --to NAME         the trusted peer to seal to; 'self' for this host\n"
	  "  --fd N            write the record to fd N (default 1)\n"
	  "  --staged          prepare, say 'ready'; on 'pull' pull and seal, say 'sealed';\n"
	  "                    on 'write' write the record, say 'done' (words on stdin/stdout)\n"
	  "  --check           make every check send makes, touch nothing, and print\n"
	  "                    vtpm-uuid, generation, tpm-version, sender, recipient\n" },
	{ "recv", cmd_recv,
	  "[-d DIR] INSTANCE [--fd N] [--allow-rollback] [--timeout SECONDS]\n"
	  "                         [--staged [--sender KEYID-HEX --generation G]]\n"
	  "       vtpm_migrate recv [-d DIR] --check --sender KEYID-HEX --uuid VTPM-UUID --generation G\n"
	  "                         [--tpm-version 2|1.2] [--allow-rollback]",
	  "Read one record, check it, and load it into the waiting vTPM, then start it",
	  "  --fd N            read the record from fd N (default 0)\n"
	  "  --allow-rollback  accept a generation not newer than the last accepted\n"
	  "  --timeout SECONDS wait that long for the vTPM instance to appear (Xen mode),\n"
	  "                    then as long for the whole record\n"
	  "  --staged          prepare, say 'ready'; on 'go' read, check, load, start, say 'done'\n"
	  "                    (words on stdin/stdout; the record on --fd)\n"
	  "  --sender, --generation  with --staged: the record announced (xend's vtpm_check);\n"
	  "                    its generation is accepted before 'ready', taken back if it\n"
	  "                    does not come or does not run\n"
	  "  --check           say whether this host would accept a record from --sender for\n"
	  "                    --uuid at --generation (exit 0) or why not (exit 1); reads nothing\n" },
	{ "recover", cmd_recover, "[-d DIR] INSTANCE [--force]",
	  "After a failed migration: the source vTPM goes on with its state (refused once a whole record left)",
	  "  --force           the vTPM left this host but runs nowhere else (checked by you):\n"
	  "                    remove the 'left this host' mark and let it run here again\n" },
	{ "finish", cmd_finish, "[-d DIR] INSTANCE",
	  "After a successful migration: stop the source vTPM and delete its state", "" },
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

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < ncommands; i++)
		if (!strcmp(name, commands[i].name))
			return &commands[i];
	return NULL;
}

static int cmd_help(struct cli *cl, int argc, char **argv)
{
	static const struct option opts[] = { COMMON_OPTIONS, OPTIONS_END };
	const struct command *c;

	if (no_own_options(cl, argc, argv, opts, 0, 1))
		return cl->status;
	if (optind == argc) {
		general_help(stdout);
		return 0;
	}
	c = find_command(argv[optind]);
	if (!c)
		return usage(cl, "unknown command '%s'", argv[optind]);
	command_help(stdout, c);
	return 0;
}

int main(int argc, char **argv)
{
	struct cli cl = { .status = -1 };
	int r;

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
	cl.cmd = find_command(argv[1]);
	if (!cl.cmd)
		return usage(NULL, "unknown command '%s'", argv[1]);
	opterr = 0;
	optind = 1;
	r = cl.cmd->run(&cl, argc - 1, argv + 1);
	/* An option in a command's table that its loop does not handle. */
	if (r < 0)
		return usage(&cl, "internal error: option without a handler");
	return r;
}
