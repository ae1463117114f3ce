/* SPDX-License-Identifier: BSD-3-Clause */
/* Host keys and trusted peers. A host has one Ed25519 key (signs records) and
 * one X25519 key (receives them), a name, and a key id: the first 16 bytes of
 * SHA-256 over both public keys. Peers are trusted explicitly, like SSH known
 * hosts: `trust` copies a peer's public key file into DIR/peers/NAME.pub. */
#ifndef VTPM_MIG_HOSTKEY_H
#define VTPM_MIG_HOSTKEY_H

#include <stddef.h>
#include <stdint.h>
#include "record.h"

#define HOST_NAME_MAX_LEN 63
#define DEFAULT_KEY_DIR "/var/lib/xen/vtpm-migration"

struct host_pub {
	char name[HOST_NAME_MAX_LEN + 1];
	uint8_t id[VREC_KEYID_LEN];
	uint8_t ed_pub[32];
	uint8_t x_pub[32];
};

/* The private half lives only here; hostkey_wipe() clears it. */
struct host_key {
	struct host_pub pub;
	uint8_t ed_priv[32];
	uint8_t x_priv[32];
};

/* A file in peers/ that is not a usable peer key, and why. */
struct peer_broken {
	char file[256];
	struct mig_err why;
};

/* The usable peers, and the files skipped as broken: one bad file must not
 * stop migrations with the other peers; `peers` reports it. */
struct peer_set {
	struct host_pub *peer;
	size_t n;
	struct peer_broken *broken;
	size_t nbroken;
};

/* A host or peer name: 1-63 of [A-Za-z0-9._-], not starting with '.', not "self". */
int host_name_valid(const char *name);

void hostkey_id(const uint8_t ed_pub[32], const uint8_t x_pub[32], uint8_t id[VREC_KEYID_LEN]);
/* Fill the public half (keys and id) from the private keys; one public key
 * of an EVP_PKEY type from its private key. */
int hostkey_derive_public(struct host_key *k, struct mig_err *e) MIG_MUST;
int hostkey_raw_public(int type, const uint8_t priv[32], uint8_t pub[32], struct mig_err *e) MIG_MUST;
int hostkey_generate(struct host_key *k, const char *name, struct mig_err *e) MIG_MUST;
void hostkey_wipe(struct host_key *k);

/* DIR/host.key (0600, never overwritten) and DIR/host.pub. */
int hostkey_save(const char *dir, const struct host_key *k, struct mig_err *e) MIG_MUST;
int hostkey_load(const char *dir, struct host_key *k, struct mig_err *e) MIG_MUST;
/* Key rotation: replace DIR/host.key and host.pub by k; the old key is kept
 * as DIR/host.key.old; peers/ and the ledger are untouched. */
int hostkey_replace(const char *dir, const struct host_key *k, struct mig_err *e) MIG_MUST;

/* The public key file: text, parsed strictly. */
int pubkey_format(const struct host_pub *p, char *buf, size_t len);
int pubkey_parse(const char *text, size_t len, struct host_pub *p, struct mig_err *e) MIG_MUST;
/* Read one; with what, it is a file of the key directory, refused (named as
 * what) when another user owns it or could write it (safefile.h). */
int pubkey_read(const char *path, const char *what, struct host_pub *p, struct mig_err *e) MIG_MUST;

/* The full SHA-256 over both public keys (the id is its first 16 bytes), as
 * "SHA256:" and unpadded base64, for comparing keys by eye. */
#define HOSTKEY_FPR_LEN 51
void hostkey_fingerprint(const struct host_pub *p, char out[HOSTKEY_FPR_LEN]);

/* peers.c: the trusted peers. */
enum trust_result { TRUST_ADDED, TRUST_SAME, TRUST_REPLACED };
/* Add a peer as DIR/peers/NAME.pub. The same name with the same key is a
 * no-op; with a different key (or a broken file) it is refused unless
 * replace. *old gets the replaced key when there was a readable one. */
int trust_add(const char *dir, const struct host_pub *p, int replace, enum trust_result *res,
	      struct host_pub *old, struct mig_err *e) MIG_MUST;
int trust_remove(const char *dir, const char *name, struct mig_err *e) MIG_MUST;
/* Load the usable peers, sorted by name; broken files go to s->broken. Only
 * an unsafe DIR or peers/ (or no memory) is an error. */
int peers_load(const char *dir, struct peer_set *s, struct mig_err *e) MIG_MUST;
const struct host_pub *peers_find_name(const struct peer_set *s, const char *name);
const struct host_pub *peers_find_id(const struct peer_set *s, const uint8_t id[VREC_KEYID_LEN]);
void peers_free(struct peer_set *s);

#endif
