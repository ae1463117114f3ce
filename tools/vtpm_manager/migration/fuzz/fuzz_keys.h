/*
 * The fixed key set shared by the record_open target and the seed
 * generator: the seeds are sealed with these keys so that they pass the
 * signature and tag checks of the target. Test keys, public on purpose; the
 * bytes are SHA-256 of "vtpm-migration fuzz <host|peer> <ed25519|x25519>".
 */
#ifndef VTPM_MIG_FUZZ_KEYS_H
#define VTPM_MIG_FUZZ_KEYS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostkey.h"

#define FUZZ_HOST_NAME "fuzz-host"
#define FUZZ_PEER_NAME "fuzz-peer"

/* The receiving host: records are addressed to it. */
static const uint8_t fuzz_host_ed[32] = {
	0x59, 0xb5, 0x4f, 0x1f, 0x72, 0x4a, 0xdd, 0x62, 0xbc, 0x45, 0xe0, 0x9d, 0xc2, 0xc9, 0xaa, 0x77,
	0x16, 0x52, 0x50, 0x9e, 0x10, 0x03, 0xf6, 0xe8, 0xdc, 0x57, 0x82, 0xcd, 0xea, 0xf6, 0x01, 0x2b,
};
static const uint8_t fuzz_host_x[32] = {
	0x1a, 0x1d, 0x17, 0xbd, 0x82, 0xe3, 0xa5, 0xb4, 0xf6, 0x62, 0x2a, 0x03, 0x82, 0x9c, 0x68, 0xa4,
	0x51, 0x61, 0x1e, 0x4b, 0x4d, 0x19, 0x2e, 0x65, 0xe7, 0x20, 0xca, 0x85, 0x20, 0xc4, 0x9d, 0x25,
};

/* The one peer the host trusts: it signs the records. */
static const uint8_t fuzz_peer_ed[32] = {
	0xed, 0xf1, 0x4c, 0xbd, 0x42, 0x9c, 0x10, 0x0d, 0xd2, 0x51, 0xaa, 0xca, 0xb7, 0x98, 0x7c, 0x73,
	0x16, 0xcc, 0x29, 0xef, 0xb8, 0x76, 0xdc, 0x56, 0x4f, 0x73, 0xc9, 0x2a, 0xb9, 0x8c, 0x28, 0xa0,
};
static const uint8_t fuzz_peer_x[32] = {
	0x36, 0xfe, 0xcd, 0xaf, 0xd2, 0x0e, 0x25, 0x2c, 0x75, 0xb9, 0x1e, 0x1e, 0x89, 0x2a, 0x6f, 0x23,
	0xac, 0x8d, 0xa0, 0xbd, 0xec, 0x39, 0x29, 0x3f, 0x2e, 0x79, 0xb7, 0x9f, 0xef, 0x3d, 0x2a, 0xa9,
};

static inline int fuzz_key(struct host_key *k, const char *name, const uint8_t ed[32],
			   const uint8_t x[32], struct mig_err *e)
{
	memset(k, 0, sizeof(*k));
	strncpy(k->pub.name, name, HOST_NAME_MAX_LEN);
	memcpy(k->ed_priv, ed, 32);
	memcpy(k->x_priv, x, 32);
	return hostkey_derive_public(k, e);
}

/* Both halves of both keys; the host trusts the peer's public key only. */
static inline int fuzz_keys_load(struct host_key *host, struct host_key *peer, struct mig_err *e)
{
	if (fuzz_key(host, FUZZ_HOST_NAME, fuzz_host_ed, fuzz_host_x, e) ||
	    fuzz_key(peer, FUZZ_PEER_NAME, fuzz_peer_ed, fuzz_peer_x, e))
		return -1;
	return 0;
}

/* A target's start: the keys, and the peer's public key in pub, which the
 * target's peer set trusts; without them there is nothing to fuzz. */
static inline void fuzz_keys_init(const char *target, struct host_key *host, struct host_key *peer,
				  struct host_pub *pub)
{
	struct mig_err e = { "", 0 };

	if (fuzz_keys_load(host, peer, &e)) {
		fprintf(stderr, "%s: fixed keys: %s\n", target, e.msg);
		abort();
	}
	*pub = peer->pub;
}

#endif
