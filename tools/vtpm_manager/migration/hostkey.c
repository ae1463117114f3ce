/*
 * This host's key pair and the key files: generation, the private key file
 * (saved once, replaced only by keygen --replace), and the strict parser of
 * public key files.
 */
#include <errno.h>
#include <fcntl.h>
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
	size_t i, n = strlen(name);

	if (n == 0 || n > HOST_NAME_MAX_LEN || name[0] == '.' || !strcmp(name, "self"))
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

void hostkey_id(const uint8_t ed_pub[32], const uint8_t x_pub[32], uint8_t id[VREC_KEYID_LEN])
{
	uint8_t both[64], md[32];
	unsigned int mdlen = sizeof(md);

	memcpy(both, ed_pub, 32);
	memcpy(both + 32, x_pub, 32);
	EVP_Digest(both, sizeof(both), md, &mdlen, EVP_sha256(), NULL);
	memcpy(id, md, VREC_KEYID_LEN);
}

static int raw_public(int type, const uint8_t priv[32], uint8_t pub[32], struct mig_err *e)
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(type, NULL, priv, 32);
	size_t len = 32;
	int ok;

	if (!k)
		return mig_fail(e, "cannot load a private key");
	ok = EVP_PKEY_get_raw_public_key(k, pub, &len) == 1 && len == 32;
	EVP_PKEY_free(k);
	return ok ? 0 : mig_fail(e, "cannot derive a public key");
}

int hostkey_derive_public(struct host_key *k, struct mig_err *e)
{
	if (raw_public(EVP_PKEY_ED25519, k->ed_priv, k->pub.ed_pub, e) ||
	    raw_public(EVP_PKEY_X25519, k->x_priv, k->pub.x_pub, e))
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
	if (RAND_priv_bytes(k->ed_priv, 32) != 1 || RAND_priv_bytes(k->x_priv, 32) != 1) {
		hostkey_wipe(k);
		return mig_fail(e, "no randomness for a host key");
	}
	if (hostkey_derive_public(k, e)) {
		hostkey_wipe(k);
		return -1;
	}
	return 0;
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

/*
 * Split "key value\n" lines. Each expected key must appear exactly once, in
 * order; anything else is refused.
 */
static int next_line(const char **pos, const char *end, const char *key, char *val,
		     size_t vlen, struct mig_err *e)
{
	const char *nl = memchr(*pos, '\n', (size_t)(end - *pos));
	size_t klen = strlen(key), n;

	if (!nl)
		return mig_fail(e, "line '%s' missing or not terminated", key);
	n = (size_t)(nl - *pos);
	if (n <= klen + 1 || memcmp(*pos, key, klen) || (*pos)[klen] != ' ')
		return mig_fail(e, "expected a '%s' line", key);
	n -= klen + 1;
	if (n >= vlen)
		return mig_fail(e, "'%s' value too long", key);
	memcpy(val, *pos + klen + 1, n);
	val[n] = '\0';
	if (memchr(val, '\0', n))
		return mig_fail(e, "'%s' value has a NUL byte", key);
	*pos = nl + 1;
	return 0;
}

static int expect_magic(const char **pos, const char *end, const char *magic, struct mig_err *e)
{
	size_t n = strlen(magic);

	if ((size_t)(end - *pos) < n + 1 || memcmp(*pos, magic, n) || (*pos)[n] != '\n')
		return mig_fail(e, "not a '%s' file", magic);
	*pos += n + 1;
	return 0;
}

int pubkey_parse(const char *text, size_t len, struct host_pub *p, struct mig_err *e)
{
	const char *pos = text, *end = text + len;
	char val[80];
	uint8_t id[VREC_KEYID_LEN];

	memset(p, 0, sizeof(*p));
	if (expect_magic(&pos, end, PUB_MAGIC, e) ||
	    next_line(&pos, end, "name", val, sizeof(val), e))
		return -1;
	if (!host_name_valid(val))
		return mig_fail(e, "host name '%.63s' is not valid", val);
	strcpy(p->name, val);
	if (next_line(&pos, end, "id", val, sizeof(val), e))
		return -1;
	if (hex_decode(val, id, sizeof(id)))
		return mig_fail(e, "key id is not %d hex digits", 2 * VREC_KEYID_LEN);
	if (next_line(&pos, end, "ed25519", val, sizeof(val), e))
		return -1;
	if (hex_decode(val, p->ed_pub, 32))
		return mig_fail(e, "ed25519 key is not 64 hex digits");
	if (next_line(&pos, end, "x25519", val, sizeof(val), e))
		return -1;
	if (hex_decode(val, p->x_pub, 32))
		return mig_fail(e, "x25519 key is not 64 hex digits");
	if (pos != end)
		return mig_fail(e, "trailing data after the x25519 line");
	hostkey_id(p->ed_pub, p->x_pub, p->id);
	if (memcmp(id, p->id, sizeof(id)))
		return mig_fail(e, "key id does not match the keys");
	return 0;
}

/*
 * Read a whole small file; *buf is NUL-terminated and must be wiped by the
 * caller. With what, the file is one of the key directory's own and must be
 * safe from other users (safefile.h).
 */
static int read_small(const char *path, const char *what, char *buf, size_t cap, size_t *len,
		      mode_t *mode, struct mig_err *e)
{
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return mig_fail(e, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return mig_fail(e, "%s: not a regular file", path);
	}
	if (what && safe_check_stat(&st, what, path, e)) {
		close(fd);
		return -1;
	}
	if (st.st_size >= (off_t)cap) {
		close(fd);
		return mig_fail(e, "%s: too large for a key file", path);
	}
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return mig_fail(e, "%s: %s", path, strerror(errno));
	buf[n] = '\0';
	*len = (size_t)n;
	if (mode)
		*mode = st.st_mode;
	return 0;
}

int pubkey_read(const char *path, const char *what, struct host_pub *p, struct mig_err *e)
{
	char buf[KEYFILE_MAX];
	size_t len;

	if (read_small(path, what, buf, sizeof(buf), &len, NULL, e))
		return -1;
	if (pubkey_parse(buf, len, p, e))
		return mig_wrap(e, "%s: ", path);
	return 0;
}

int pubkey_read_file(const char *path, struct host_pub *p, struct mig_err *e)
{
	return pubkey_read(path, NULL, p, e);
}

static int check_dir(const char *dir, struct mig_err *e)
{
	return safe_check_dir(dir, "key directory", e);
}

/* host.key (with flags for safe_write_file), then host.pub. */
static int save_files(const char *dir, const struct host_key *k, unsigned flags,
		      struct mig_err *e)
{
	char priv[512], pub[512], ed[65], x[65];
	int n, r;

	hex_encode(k->ed_priv, 32, ed);
	hex_encode(k->x_priv, 32, x);
	n = snprintf(priv, sizeof(priv), "%s\nname %s\ned25519 %s\nx25519 %s\n", PRIV_MAGIC,
		     k->pub.name, ed, x);
	OPENSSL_cleanse(ed, sizeof(ed));
	OPENSSL_cleanse(x, sizeof(x));
	r = safe_write_file(dir, "host.key", priv, (size_t)n, 0600, flags | SAFE_SYNC_DIR, e);
	OPENSSL_cleanse(priv, sizeof(priv));
	if (r)
		return -1;
	n = pubkey_format(&k->pub, pub, sizeof(pub));
	return safe_write_file(dir, "host.pub", pub, (size_t)n, 0644, SAFE_SYNC_DIR, e);
}

int hostkey_save(const char *dir, const struct host_key *k, struct mig_err *e)
{
	if (check_dir(dir, e))
		return -1;
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
	char path[4096], buf[KEYFILE_MAX], val[80];
	const char *pos, *end;
	size_t len;
	mode_t mode;
	int r = -1;

	memset(k, 0, sizeof(*k));
	if (check_dir(dir, e))
		return -1;
	snprintf(path, sizeof(path), "%s/host.key", dir);
	if (read_small(path, "host key", buf, sizeof(buf), &len, &mode, e)) {
		if (errno == ENOENT)
			mig_fail(e, "%s: no host key (run 'vtpm_migrate keygen' first)", path);
		return -1;
	}
	if (mode & 077) {
		mig_fail(e, "%s: mode %03o lets others read the private key; refusing it (chmod 600)",
			path, (unsigned)(mode & 0777));
		goto out;
	}
	pos = buf;
	end = buf + len;
	if (expect_magic(&pos, end, PRIV_MAGIC, e) ||
	    next_line(&pos, end, "name", val, sizeof(val), e))
		goto bad;
	if (!host_name_valid(val)) {
		mig_fail(e, "host name '%.63s' is not valid", val);
		goto bad;
	}
	strcpy(k->pub.name, val);
	if (next_line(&pos, end, "ed25519", val, sizeof(val), e))
		goto bad;
	if (hex_decode(val, k->ed_priv, 32)) {
		mig_fail(e, "ed25519 key is not 64 hex digits");
		goto bad;
	}
	if (next_line(&pos, end, "x25519", val, sizeof(val), e))
		goto bad;
	if (hex_decode(val, k->x_priv, 32)) {
		mig_fail(e, "x25519 key is not 64 hex digits");
		goto bad;
	}
	if (pos != end) {
		mig_fail(e, "trailing data after the x25519 line");
		goto bad;
	}
	if (hostkey_derive_public(k, e))
		goto bad;
	r = 0;
	goto out;
bad:
	mig_wrap(e, "%s: ", path);
	hostkey_wipe(k);
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	OPENSSL_cleanse(val, sizeof(val));
	return r;
}

void hostkey_fingerprint(const struct host_pub *p, char out[HOSTKEY_FPR_LEN])
{
	uint8_t both[64], md[32];
	unsigned int mdlen = sizeof(md);
	int n;

	memcpy(both, p->ed_pub, 32);
	memcpy(both + 32, p->x_pub, 32);
	EVP_Digest(both, sizeof(both), md, &mdlen, EVP_sha256(), NULL);
	memcpy(out, "SHA256:", 7);
	n = EVP_EncodeBlock((unsigned char *)out + 7, md, sizeof(md)); /* 44 with one '=' */
	while (n > 0 && out[7 + n - 1] == '=')
		n--;
	out[7 + n] = '\0';
}
