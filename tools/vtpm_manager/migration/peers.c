/* SPDX-License-Identifier: BSD-3-Clause */
/* Trusted peers: DIR/peers/NAME.pub, one file per peer (hostkey.h). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostkey.h"
#include "safefile.h"
#include "util.h"

static int peers_dir(const char *dir, int create, char *peers, size_t len, struct mig_err *e)
{
	if (safe_check_dir(dir, "key directory", e))
		return -1;
	snprintf(peers, len, "%s/peers", dir);
	if (create && mkdir(peers, 0755) && errno != EEXIST)
		return mig_fail(e, "%s: %s", peers, strerror(errno));
	return safe_check_dir(peers, "peers directory", e);
}

int trust_add(const char *dir, const struct host_pub *p, int replace, enum trust_result *res,
	      struct host_pub *old, struct mig_err *e)
{
	char peers[4096], name[HOST_NAME_MAX_LEN + 8], path[4200], text[512];
	char oldid[2 * VREC_KEYID_LEN + 1] = "broken"; /* unless it reads */
	struct host_pub was;
	struct mig_err why;
	int n, had;

	if (!host_name_valid(p->name))
		return mig_fail(e, "peer name '%s' is not valid", p->name);
	if (peers_dir(dir, 1, peers, sizeof(peers), e))
		return -1;
	snprintf(name, sizeof(name), "%s.pub", p->name);
	snprintf(path, sizeof(path), "%s/%s", peers, name);
	had = access(path, F_OK) == 0;
	if (had && pubkey_read(path, "peer key", &was, &why) == 0) {
		if (!memcmp(was.ed_pub, p->ed_pub, 32) && !memcmp(was.x_pub, p->x_pub, 32)) {
			*res = TRUST_SAME;
			return 0;
		}
		hex_encode(was.id, VREC_KEYID_LEN, oldid);
		if (old)
			*old = was;
	}
	if (had && !replace)
		return mig_fail(e, "peer '%s' is already trusted with a different key (%s, key id %s); give --replace to replace it",
			       p->name, path, oldid);
	n = pubkey_format(p, text, sizeof(text));
	*res = had ? TRUST_REPLACED : TRUST_ADDED;
	return safe_write_file(peers, name, text, (size_t)n, 0644, (had ? 0 : SAFE_NEW) | SAFE_SYNC_DIR,
			       e);
}

int trust_remove(const char *dir, const char *name, struct mig_err *e)
{
	char peers[4096], path[4200];

	if (!host_name_valid(name))
		return mig_fail(e, "peer name '%s' is not valid", name);
	if (peers_dir(dir, 0, peers, sizeof(peers), e))
		return -1;
	snprintf(path, sizeof(path), "%s/%s.pub", peers, name);
	if (unlink(path))
		return errno == ENOENT ? mig_fail(e, "'%s' is not a trusted peer (no %s)", name, path)
				       : mig_fail(e, "cannot remove %s: %s", path, strerror(errno));
	return safe_sync_dir(peers, e);
}

static int add_broken(struct peer_set *s, const char *file, const struct mig_err *why)
{
	struct peer_broken *grown = realloc(s->broken, (s->nbroken + 1) * sizeof(*s->broken));

	if (!grown)
		return -1;
	s->broken = grown;
	snprintf(grown[s->nbroken].file, sizeof(grown[s->nbroken].file), "%s", file);
	grown[s->nbroken].why = *why;
	s->nbroken++;
	return 0;
}

static int load_one(struct peer_set *s, const char *peers, const char *file)
{
	char path[4400];
	struct host_pub *grown, p;
	struct mig_err why;
	size_t len = strlen(file);

	if (len < 5 || strcmp(file + len - 4, ".pub")) {
		mig_fail(&why, "not a NAME.pub file; ignored");
		return add_broken(s, file, &why);
	}
	snprintf(path, sizeof(path), "%s/%s", peers, file);
	if (pubkey_read(path, "peer key", &p, &why))
		return add_broken(s, file, &why);
	if (strlen(p.name) != len - 4 || strncmp(p.name, file, len - 4)) {
		mig_fail(&why, "%s: file name does not match the peer name '%s' in it", path, p.name);
		return add_broken(s, file, &why);
	}
	if (!(grown = realloc(s->peer, (s->n + 1) * sizeof(*s->peer))))
		return -1;
	s->peer = grown;
	s->peer[s->n++] = p;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct host_pub *)a)->name, ((const struct host_pub *)b)->name);
}

static int broken_by_file(const void *a, const void *b)
{
	return strcmp(((const struct peer_broken *)a)->file, ((const struct peer_broken *)b)->file);
}

int peers_load(const char *dir, struct peer_set *s, struct mig_err *e)
{
	char peers[4096];
	struct dirent *d;
	DIR *dp;
	int r;

	memset(s, 0, sizeof(*s));
	if (safe_check_dir(dir, "key directory", e))
		return -1;
	snprintf(peers, sizeof(peers), "%s/peers", dir);
	if (!(dp = opendir(peers)))
		return errno == ENOENT ? 0 : mig_fail(e, "%s: %s", peers, strerror(errno));
	r = safe_check_dir(peers, "peers directory", e);
	/* Dot files are ours (a writer's temporaries) or hidden on purpose. */
	while (!r && (d = readdir(dp)))
		if (d->d_name[0] != '.' && load_one(s, peers, d->d_name))
			r = mig_fail(e, "out of memory loading peers");
	closedir(dp);
	if (r) {
		peers_free(s);
		return -1;
	}
	if (s->n)
		qsort(s->peer, s->n, sizeof(*s->peer), by_name);
	if (s->nbroken)
		qsort(s->broken, s->nbroken, sizeof(*s->broken), broken_by_file);
	return 0;
}

const struct host_pub *peers_find_name(const struct peer_set *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->peer[i].name, name))
			return &s->peer[i];
	return NULL;
}

const struct host_pub *peers_find_id(const struct peer_set *s, const uint8_t id[VREC_KEYID_LEN])
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!memcmp(s->peer[i].id, id, VREC_KEYID_LEN))
			return &s->peer[i];
	return NULL;
}

void peers_free(struct peer_set *s)
{
	free(s->peer);
	free(s->broken);
	memset(s, 0, sizeof(*s));
}
