/* SPDX-License-Identifier: BSD-3-Clause */
/* This host's key pair and the key files (hostkey.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "hostkey.h"
#include "safefile.h"
#include "util.h"

#define PUB_MAGIC  "vtpm-migration-public-key v1"
#define PRIV_MAGIC "vtpm-migration-private-key v1"
#define KEYFILE_MAX 4096

int host_name_valid(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n <= HOST_NAME_MAX_LEN && name[0] != '.' && strcmp(name, "self") &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* SHA-256 over both public keys: the id is its first 16 bytes. */
static void digest_keys(const uint8_t ed_pub[32], const uint8_t x_pub[32], uint8_t md[32])
{
	uint8_t both[64];
	unsigned int mdlen = 32;

	memcpy(both, ed_pub, 32);
	memcpy(both + 32, x_pub, 32);
	EVP_Digest(both, sizeof(both), md, &mdlen, EVP_sha256(), NULL);
}

void hostkey_id(const uint8_t ed_pub[32], const uint8_t x_pub[32], uint8_t id[VREC_KEYID_LEN])
{
	uint8_t md[32];

	digest_keys(ed_pub, x_pub, md);
	memcpy(id, md, VREC_KEYID_LEN);
}

int hostkey_raw_public(int type, const uint8_t priv[32], uint8_t pub[32], struct mig_err *e)
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(type, NULL, priv, 32);
	size_t len = 32;
	int ok = k && EVP_PKEY_get_raw_public_key(k, pub, &len) == 1 && len == 32;

	EVP_PKEY_free(k);
	return ok ? 0 : mig_fail(e, "cannot derive a public key");
}

int hostkey_derive_public(struct host_key *k, struct mig_err *e)
{
	if (hostkey_raw_public(EVP_PKEY_ED25519, k->ed_priv, k->pub.ed_pub, e) ||
	    hostkey_raw_public(EVP_PKEY_X25519, k->x_priv, k->pub.x_pub, e))
		return -1;
	hostkey_id(k->pub.ed_pub, k->pub.x_pub, k->pub.id);
	return 0;
}

int hostkey_generate(struct host_key *k, const char *name, struct mig_err *e)
{
	memset(k, 0, sizeof(*k));
	if (!host_name_valid(name))
		return mig_fail(e, "host name '%s' is not valid (1-63 of A-Z a-z 0-9 . _ -)", name);
	strcpy(k->pub.name, name);
	if (RAND_priv_bytes(k->ed_priv, 32) != 1 || RAND_priv_bytes(k->x_priv, 32) != 1)
		mig_fail(e, "no randomness for a host key");
	else if (hostkey_derive_public(k, e) == 0)
		return 0;
	hostkey_wipe(k);
	return -1;
}

void hostkey_wipe(struct host_key *k)
{
	OPENSSL_cleanse(k, sizeof(*k));
}

int pubkey_format(const struct host_pub *p, char *buf, size_t len)
{
	char id[2 * VREC_KEYID_LEN + 1], ed[65], x[65];

	hex_encode(p->id, VREC_KEYID_LEN, id);
	hex_encode(p->ed_pub, 32, ed);
	hex_encode(p->x_pub, 32, x);
	return snprintf(buf, len, "%s\nname %s\nid %s\ned25519 %s\nx25519 %s\n",
			PUB_MAGIC, p->name, id, ed, x);
}

/* A key file: its magic line, then one "KEY VALUE" line for each of keys[],
 * exactly once and in order, and nothing else. The values are hex of
 * lens[i] bytes into outs[i], but for "name", a valid host name. */
static int parse_keyfile(const char *text, size_t len, const char *magic, const char *const *keys,
			 const size_t *lens, uint8_t *const *outs, char name[HOST_NAME_MAX_LEN + 1],
			 struct mig_err *e)
{
	const char *pos = text, *end = text + len, *nl;
	char val[80];
	size_t i, n, kl;

	if (len < strlen(magic) + 1 || memcmp(pos, magic, strlen(magic)) || pos[strlen(magic)] != '\n')
		return mig_fail(e, "not a '%s' file", magic);
	pos += strlen(magic) + 1;
	for (i = 0; keys[i]; i++, pos = nl + 1) {
		kl = strlen(keys[i]);
		if (!(nl = memchr(pos, '\n', (size_t)(end - pos))))
			return mig_fail(e, "line '%s' missing or not terminated", keys[i]);
		n = (size_t)(nl - pos);
		if (n <= kl + 1 || memcmp(pos, keys[i], kl) || pos[kl] != ' ')
			return mig_fail(e, "expected a '%s' line", keys[i]);
		n -= kl + 1;
		if (n >= sizeof(val) || memchr(pos + kl + 1, '\0', n))
			return mig_fail(e, "'%s' value too long or with a NUL byte", keys[i]);
		memcpy(val, pos + kl + 1, n);
		val[n] = '\0';
		if (!outs[i] && !host_name_valid(val))
			return mig_fail(e, "host name '%.63s' is not valid", val);
		if (!outs[i])
			strcpy(name, val);
		else if (hex_decode(val, outs[i], lens[i]))
			break; /* val may hold a private key: wiped below */
	}
	OPENSSL_cleanse(val, sizeof(val));
	if (keys[i])
		return mig_fail(e, "%s is not %zu hex digits", keys[i], 2 * lens[i]);
	return pos == end ? 0 : mig_fail(e, "trailing data after the %s line", keys[i - 1]);
}

int pubkey_parse(const char *text, size_t len, struct host_pub *p, struct mig_err *e)
{
	static const char *const keys[] = { "name", "id", "ed25519", "x25519", NULL };
	static const size_t lens[] = { 0, VREC_KEYID_LEN, 32, 32 };
	uint8_t id[VREC_KEYID_LEN];
	uint8_t *const outs[] = { NULL, id, p->ed_pub, p->x_pub };

	memset(p, 0, sizeof(*p));
	if (parse_keyfile(text, len, PUB_MAGIC, keys, lens, outs, p->name, e))
		return -1;
	hostkey_id(p->ed_pub, p->x_pub, p->id);
	return memcmp(id, p->id, sizeof(id)) ? mig_fail(e, "key id does not match the keys") : 0;
}

int pubkey_read(const char *path, const char *what, struct host_pub *p, struct mig_err *e)
{
	char *buf;
	size_t len;
	int r;

	if (safe_read_file(path, what, KEYFILE_MAX, &buf, &len, NULL, e))
		return -1;
	if (!buf)
		return mig_fail(e, "%s: %s", path, strerror(ENOENT));
	r = pubkey_parse(buf, len, p, e) ? mig_wrap(e, "%s: ", path) : 0;
	free(buf);
	return r;
}

static int save_files(const char *dir, const struct host_key *k, unsigned flags,
		      struct mig_err *e)
{
	char priv[512], pub[512], ed[65], x[65];
	int n, r;

	if (safe_check_dir(dir, "key directory", e))
		return -1;
	hex_encode(k->ed_priv, 32, ed);
	hex_encode(k->x_priv, 32, x);
	n = snprintf(priv, sizeof(priv), "%s\nname %s\ned25519 %s\nx25519 %s\n", PRIV_MAGIC,
		     k->pub.name, ed, x);
	OPENSSL_cleanse(ed, sizeof(ed));
	OPENSSL_cleanse(x, sizeof(x));
	r = safe_write_file(dir, "host.key", priv, (size_t)n, 0600, flags | SAFE_SYNC_DIR, e);
	OPENSSL_cleanse(priv, sizeof(priv));
	n = pubkey_format(&k->pub, pub, sizeof(pub));
	return r ? -1 : safe_write_file(dir, "host.pub", pub, (size_t)n, 0644, SAFE_SYNC_DIR, e);
}

int hostkey_save(const char *dir, const struct host_key *k, struct mig_err *e)
{
	return save_files(dir, k, SAFE_NEW, e);
}

int hostkey_replace(const char *dir, const struct host_key *k, struct mig_err *e)
{
	char path[4200], old[4200];
	struct host_key was;

	/* Only a key this host could use is replaced: the checks of a load. */
	if (hostkey_load(dir, &was, e))
		return -1;
	hostkey_wipe(&was);
	snprintf(path, sizeof(path), "%s/host.key", dir);
	snprintf(old, sizeof(old), "%s/host.key.old", dir);
	/* host.key is the old key or the new one at every moment; the old one
	 * stays as host.key.old (a second link, written by no one). */
	if (unlink(old) && errno != ENOENT)
		return mig_fail(e, "cannot remove %s: %s", old, strerror(errno));
	if (link(path, old))
		return mig_fail(e, "cannot keep the old key as %s: %s", old, strerror(errno));
	return save_files(dir, k, 0, e);
}

int hostkey_load(const char *dir, struct host_key *k, struct mig_err *e)
{
	static const char *const keys[] = { "name", "ed25519", "x25519", NULL };
	static const size_t lens[] = { 0, 32, 32 };
	uint8_t *const outs[] = { NULL, k->ed_priv, k->x_priv };
	char path[4096], *buf;
	size_t len;
	mode_t mode;
	int r = -1;

	memset(k, 0, sizeof(*k));
	if (safe_check_dir(dir, "key directory", e))
		return -1;
	snprintf(path, sizeof(path), "%s/host.key", dir);
	if (safe_read_file(path, "host key", KEYFILE_MAX, &buf, &len, &mode, e))
		return -1;
	if (!buf)
		return mig_fail(e, "%s: no host key (run 'vtpm_migrate keygen' first)", path);
	if (mode & 077)
		mig_fail(e, "%s: mode %03o lets others read the private key; refusing it (chmod 600)",
			 path, (unsigned)(mode & 0777));
	else if (parse_keyfile(buf, len, PRIV_MAGIC, keys, lens, outs, k->pub.name, e) ||
		 hostkey_derive_public(k, e))
		mig_wrap(e, "%s: ", path);
	else
		r = 0;
	if (r)
		hostkey_wipe(k);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return r;
}

void hostkey_fingerprint(const struct host_pub *p, char out[HOSTKEY_FPR_LEN])
{
	uint8_t md[32], b64[45];

	digest_keys(p->ed_pub, p->x_pub, md);
	EVP_EncodeBlock(b64, md, sizeof(md)); /* 43 characters, a '=' and a NUL */
	snprintf(out, HOSTKEY_FPR_LEN, "SHA256:%.43s", b64);
}
