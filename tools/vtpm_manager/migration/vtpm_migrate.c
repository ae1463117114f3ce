/*
 * vtpm_migrate: the command xend runs on its migration stream, and the tool
 * an administrator uses to set up host keys. DESIGN §6 and vtpm_migrate(8)
 * are its contract: exit 0 on success, 1 with one line on stderr on any
 * refusal or failure, 2 on a usage error.
 */
#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "hostkey.h"
#include "migrate.h"
#include "staged.h"
#include "util.h"

static const char usage_text[] =
	"usage: vtpm_migrate keygen  [-d DIR] [-n NAME]\n"
	"       vtpm_migrate pubkey  [-d DIR]\n"
	"       vtpm_migrate trust   [-d DIR] FILE [NAME]\n"
	"       vtpm_migrate send    [-d DIR] --to NAME INSTANCE [--fd N]\n"
	"       vtpm_migrate send    [-d DIR] --to NAME INSTANCE --fd N --staged\n"
	"       vtpm_migrate send    [-d DIR] --to NAME INSTANCE --check\n"
	"       vtpm_migrate recv    [-d DIR] INSTANCE [--fd N] [--allow-rollback] [--timeout SECONDS]\n"
	"       vtpm_migrate recv    [-d DIR] INSTANCE --fd N [--allow-rollback] [--timeout SECONDS] --staged\n"
	"       vtpm_migrate recv    [-d DIR] --check --sender KEYID-HEX --uuid VTPM-UUID --generation G\n"
	"                            [--tpm-version 2|1.2] [--allow-rollback]\n"
	"       vtpm_migrate recover INSTANCE [--force]\n"
	"       vtpm_migrate finish  INSTANCE\n"
	"       vtpm_migrate inspect [--fd N]\n"
	"INSTANCE is --domid ID [--domain-uuid UUID]  or  --ctrl SOCKET --uuid VTPM-UUID [--domain-uuid UUID]\n"
	"           (send and recv with --domid need --domain-uuid)\n";

enum opt_bit {
	O_DIR = 1 << 0, O_NAME = 1 << 1, O_TO = 1 << 2, O_FD = 1 << 3,
	O_DOMID = 1 << 4, O_CTRL = 1 << 5, O_UUID = 1 << 6, O_DOMUUID = 1 << 7,
	O_ROLLBACK = 1 << 8, O_FORCE = 1 << 9, O_TIMEOUT = 1 << 10, O_CHECK = 1 << 11,
	O_SENDER = 1 << 12, O_GEN = 1 << 13, O_TPMVER = 1 << 14, O_STAGED = 1 << 15,
};
#define O_RECV_CHECK (O_CHECK | O_SENDER | O_GEN | O_TPMVER)
#define O_INSTANCE (O_DOMID | O_CTRL | O_UUID | O_DOMUUID)

struct args {
	unsigned seen;
	const char *dir, *name, *to, *ctrl, *uuid, *domuuid, *sender, *gen, *tpmver;
	int fd, domid, timeout;
	char **pos;
	int npos;
};

static int usage(const char *why)
{
	if (why)
		fprintf(stderr, "vtpm_migrate: %s\n", why);
	fputs(usage_text, stderr);
	return 2;
}

static int fail(const struct vm_err *e)
{
	fprintf(stderr, "vtpm_migrate: %s\n", e->msg);
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

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "name", required_argument, NULL, 'n' },
		{ "to", required_argument, NULL, 't' },
		{ "fd", required_argument, NULL, 'f' },
		{ "domid", required_argument, NULL, 'D' },
		{ "ctrl", required_argument, NULL, 'c' },
		{ "uuid", required_argument, NULL, 'u' },
		{ "domain-uuid", required_argument, NULL, 'U' },
		{ "allow-rollback", no_argument, NULL, 'R' },
		{ "force", no_argument, NULL, 'F' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "check", no_argument, NULL, 'K' },
		{ "staged", no_argument, NULL, 'P' },
		{ "sender", required_argument, NULL, 'S' },
		{ "generation", required_argument, NULL, 'G' },
		{ "tpm-version", required_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(a, 0, sizeof(*a));
	a->fd = -1;
	a->domid = -1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "d:n:", opts, NULL)) != -1) {
		switch (c) {
		case 'd': a->seen |= O_DIR; a->dir = optarg; break;
		case 'n': a->seen |= O_NAME; a->name = optarg; break;
		case 't': a->seen |= O_TO; a->to = optarg; break;
		case 'c': a->seen |= O_CTRL; a->ctrl = optarg; break;
		case 'u': a->seen |= O_UUID; a->uuid = optarg; break;
		case 'U': a->seen |= O_DOMUUID; a->domuuid = optarg; break;
		case 'R': a->seen |= O_ROLLBACK; break;
		case 'F': a->seen |= O_FORCE; break;
		case 'K': a->seen |= O_CHECK; break;
		case 'P': a->seen |= O_STAGED; break;
		case 'S': a->seen |= O_SENDER; a->sender = optarg; break;
		case 'G': a->seen |= O_GEN; a->gen = optarg; break;
		case 'V': a->seen |= O_TPMVER; a->tpmver = optarg; break;
		case 'f':
			a->seen |= O_FD;
			if (parse_int(optarg, 0, &a->fd))
				return usage("--fd needs a file descriptor number");
			break;
		case 'T':
			a->seen |= O_TIMEOUT;
			if (parse_int(optarg, 1, &a->timeout) || a->timeout > 86400)
				return usage("--timeout needs a number of seconds (1-86400)");
			break;
		case 'D':
			a->seen |= O_DOMID;
			if (parse_int(optarg, 0, &a->domid))
				return usage("--domid needs a domain id");
			break;
		default:
			return usage("unknown option or missing argument");
		}
	}
	for (; optind < argc; optind++) {
		a->pos = realloc(a->pos, sizeof(char *) * (size_t)(a->npos + 1));
		if (!a->pos)
			return usage("out of memory");
		a->pos[a->npos++] = argv[optind];
	}
	return 0;
}

static const char *key_dir(const struct args *a)
{
	const char *env = getenv("VTPM_MIGRATION_DIR");

	if (a->dir)
		return a->dir;
	return env && *env ? env : DEFAULT_KEY_DIR;
}

/* INSTANCE: --domid (with --domain-uuid from xend where the record is bound),
 * or --ctrl with --uuid (and maybe --domain-uuid). */
static int get_instance(const struct args *a, struct vtpm_instance *inst, int binds)
{
	memset(inst, 0, sizeof(*inst));
	inst->domid = -1;
	if (a->seen & O_DOMID) {
		if (a->seen & (O_CTRL | O_UUID))
			return usage("give either --domid or --ctrl/--uuid, not both");
		/* The guest can write /local/domain/D/vm: the UUID the record is
		 * bound to comes from xend, which holds it. */
		if (binds && !(a->seen & O_DOMUUID))
			return usage("--domid needs --domain-uuid UUID (the domain's UUID as xend holds it)");
		if (a->domuuid && uuid_parse(a->domuuid, inst->domain_uuid))
			return usage("--domain-uuid is not a UUID");
		inst->domid = a->domid;
		return 0;
	}
	if (!(a->seen & O_CTRL) || !(a->seen & O_UUID))
		return usage("INSTANCE needs --domid ID, or --ctrl SOCKET and --uuid UUID");
	if (strlen(a->ctrl) >= sizeof(inst->ctrl))
		return usage("--ctrl path too long");
	strcpy(inst->ctrl, a->ctrl);
	if (uuid_parse(a->uuid, inst->vtpm_uuid))
		return usage("--uuid is not a UUID");
	if (a->domuuid && uuid_parse(a->domuuid, inst->domain_uuid))
		return usage("--domain-uuid is not a UUID");
	return 0;
}

static int cmd_keygen(const struct args *a)
{
	char host[HOST_NAME_MAX_LEN + 2] = "";
	const char *dir = key_dir(a), *name = a->name;
	struct host_key k;
	struct vm_err e;

	if (!name) {
		if (gethostname(host, sizeof(host) - 1))
			strcpy(host, "localhost");
		host[strcspn(host, ".")] = '\0';
		name = host;
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		vm_fail(&e, "keygen: cannot create key directory %s: %s", dir, strerror(errno));
		return fail(&e);
	}
	if (hostkey_generate(&k, name, &e) || hostkey_save(dir, &k, &e)) {
		hostkey_wipe(&k);
		vm_wrap(&e, "keygen: ");
		return fail(&e);
	}
	hostkey_wipe(&k);
	printf("%s/host.pub\n", dir);
	return 0;
}

static int cmd_pubkey(const struct args *a)
{
	char path[4096], text[512];
	struct host_pub p;
	struct vm_err e;

	snprintf(path, sizeof(path), "%s/host.pub", key_dir(a));
	if (pubkey_read_file(path, &p, &e)) {
		vm_wrap(&e, "pubkey: ");
		return fail(&e);
	}
	pubkey_format(&p, text, sizeof(text));
	fputs(text, stdout);
	return 0;
}

static int cmd_trust(const struct args *a)
{
	struct host_pub p;
	struct vm_err e;

	if (a->npos < 1 || a->npos > 2)
		return usage("trust needs FILE [NAME]");
	if (pubkey_read_file(a->pos[0], &p, &e)) {
		vm_wrap(&e, "trust: ");
		return fail(&e);
	}
	if (a->npos == 2) {
		if (!host_name_valid(a->pos[1]))
			return usage("peer NAME must be 1-63 of A-Z a-z 0-9 . _ - (and not 'self')");
		strcpy(p.name, a->pos[1]);
	}
	if (trust_add(key_dir(a), &p, &e)) {
		vm_wrap(&e, "trust: ");
		return fail(&e);
	}
	return 0;
}

/* send --check: what the xend module parses, one "key value" a line. */
static int send_check(const struct args *a, const struct vtpm_instance *inst)
{
	struct mig_send_check c;
	struct mig_sender s;
	struct vm_err e;
	char u[UUID_STR_LEN], id[2 * VREC_KEYID_LEN + 1];
	int r;

	if (mig_send_prepare(&s, key_dir(a), a->to, inst, &e))
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

static int cmd_send(const struct args *a)
{
	struct vtpm_instance inst;
	struct mig_report rep;
	struct vm_err e;
	int fd = a->fd >= 0 ? a->fd : 1, r;

	if (!a->to)
		return usage("send needs --to NAME");
	if ((a->seen & O_RECV_CHECK) & ~O_CHECK)
		return usage("--sender, --generation and --tpm-version are for recv --check");
	if ((r = get_instance(a, &inst, 1)))
		return r;
	if (a->seen & O_CHECK)
		return (a->seen & O_STAGED) ? usage("--check and --staged do not go together") :
					      send_check(a, &inst);
	if ((a->seen & O_STAGED) && !(a->seen & O_FD))
		return usage("--staged needs --fd N for the stream (stdin and stdout carry the words)");
	if (isatty(fd)) {
		vm_fail(&e, "send: refusing to write a record to a terminal");
		return fail(&e);
	}
	if (a->seen & O_STAGED)
		r = mig_send_staged(key_dir(a), a->to, &inst, fd, 0, 1, &e);
	else
		r = mig_send(key_dir(a), a->to, &inst, fd, &rep, &e);
	return r ? fail(&e) : 0;
}

/* recv --check: no INSTANCE, the destination domain does not exist yet. */
static int recv_check(const struct args *a)
{
	uint8_t sender[VREC_KEYID_LEN], uuid[16];
	unsigned long long gen;
	struct vm_err e;
	char *end;

	if (a->seen & (O_DOMID | O_CTRL | O_DOMUUID | O_FD | O_TIMEOUT))
		return usage("recv --check takes no INSTANCE, --fd or --timeout (the domain does not exist yet)");
	if (!(a->seen & O_SENDER) || !(a->seen & O_UUID) || !(a->seen & O_GEN))
		return usage("recv --check needs --sender KEYID-HEX --uuid VTPM-UUID --generation G");
	if (hex_decode(a->sender, sender, VREC_KEYID_LEN))
		return usage("--sender needs a key id of 32 hex digits");
	if (uuid_parse(a->uuid, uuid))
		return usage("--uuid is not a UUID");
	errno = 0;
	gen = strtoull(a->gen, &end, 10);
	if (errno || *a->gen < '1' || *a->gen > '9' || *end)
		return usage("--generation needs a positive number");
	/* The destination instance, and so its TPM version, exists only once
	 * the domain is restored; the version is checked then. */
	if (a->tpmver && strcmp(a->tpmver, "2") && strcmp(a->tpmver, "1.2"))
		return usage("--tpm-version is 2 or 1.2");
	if (mig_recv_check(key_dir(a), sender, uuid, (uint64_t)gen, !!(a->seen & O_ROLLBACK), &e))
		return fail(&e);
	return 0;
}

static int cmd_recv(const struct args *a)
{
	struct vtpm_instance inst;
	struct mig_report rep;
	struct vm_err e;
	int r;

	if (a->seen & O_CHECK)
		return (a->seen & O_STAGED) ? usage("--check and --staged do not go together") :
					      recv_check(a);
	if (a->seen & O_RECV_CHECK)
		return usage("--sender, --generation and --tpm-version go with --check");
	if ((r = get_instance(a, &inst, 1)))
		return r;
	if (a->seen & O_STAGED) {
		if (!(a->seen & O_FD))
			return usage("--staged needs --fd N for the stream (stdin and stdout carry the words)");
		r = mig_recv_staged(key_dir(a), &inst, a->fd, !!(a->seen & O_ROLLBACK),
				    (a->seen & O_TIMEOUT) ? a->timeout * 1000 : -1, 0, 1, &e);
	} else {
		r = mig_recv(key_dir(a), &inst, a->fd >= 0 ? a->fd : 0, !!(a->seen & O_ROLLBACK),
			     (a->seen & O_TIMEOUT) ? a->timeout * 1000 : -1, &rep, &e);
	}
	return r ? fail(&e) : 0;
}

static int cmd_end(const struct args *a, int finish)
{
	struct vtpm_instance inst;
	struct vm_err e;
	char note[512];
	int r;

	if ((r = get_instance(a, &inst, 0)))
		return r;

	if (finish ? mig_finish(&inst, &e) :
		     mig_recover(&inst, !!(a->seen & O_FORCE), note, sizeof(note), &e))
		return fail(&e);
	if (!finish && *note)
		printf("%s\n", note);
	return 0;
}

static int cmd_inspect(const struct args *a)
{
	struct vm_err e;

	if (mig_inspect(a->fd >= 0 ? a->fd : 0, stdout, &e)) {
		fflush(stdout);
		return fail(&e);
	}
	return 0;
}

static const struct command {
	const char *name;
	unsigned allowed;
	int max_pos;
} commands[] = {
	{ "keygen", O_DIR | O_NAME, 0 },
	{ "pubkey", O_DIR, 0 },
	{ "trust", O_DIR, 2 },
	{ "send", O_DIR | O_TO | O_FD | O_INSTANCE | O_CHECK | O_STAGED, 0 },
	{ "recv", O_DIR | O_FD | O_ROLLBACK | O_TIMEOUT | O_INSTANCE | O_RECV_CHECK | O_STAGED, 0 },
	{ "recover", O_INSTANCE | O_FORCE, 0 },
	{ "finish", O_INSTANCE, 0 },
	{ "inspect", O_FD, 0 },
};

static int run(const struct command *c, const struct args *a)
{
	if (!strcmp(c->name, "keygen")) return cmd_keygen(a);
	if (!strcmp(c->name, "pubkey")) return cmd_pubkey(a);
	if (!strcmp(c->name, "trust")) return cmd_trust(a);
	if (!strcmp(c->name, "send")) return cmd_send(a);
	if (!strcmp(c->name, "recv")) return cmd_recv(a);
	if (!strcmp(c->name, "recover")) return cmd_end(a, 0);
	if (!strcmp(c->name, "finish")) return cmd_end(a, 1);
	return cmd_inspect(a);
}

int main(int argc, char **argv)
{
	const struct command *c = NULL;
	struct args a;
	size_t i;
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
	if (argc < 2)
		return usage(NULL);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			c = &commands[i];
	if (!c)
		return usage("unknown command");
	r = parse_args(argc - 1, argv + 1, &a);
	if (r)
		goto out;
	if (a.seen & ~c->allowed) {
		r = usage("option not valid for this command");
		goto out;
	}
	if (a.npos > c->max_pos) {
		r = usage("unexpected argument");
		goto out;
	}
	r = run(c, &a);
out:
	free(a.pos);
	return r;
}
