/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "seal.h"
#include "util.h"

#define HKDF_SALT "xen-vtpm-migration-record-v1"

/* X25519(priv, peer_pub), then HKDF-SHA256 with the clear header as info. */
static int derive_key(const uint8_t priv[32], const uint8_t peer_pub[32],
		      const uint8_t hdr[VREC_HDR_LEN], uint8_t key[32], struct mig_err *e)
{
	EVP_PKEY *mine = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
	EVP_PKEY *theirs = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer_pub, 32);
	EVP_PKEY_CTX *dctx = NULL;
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[5];
	uint8_t shared[32];
	size_t slen = sizeof(shared);
	int r = -1;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, shared, sizeof(shared));
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)HKDF_SALT,
						      sizeof(HKDF_SALT) - 1);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)hdr,
						      VREC_HDR_LEN);
	params[4] = OSSL_PARAM_construct_end();
	if (!mine || !theirs)
		mig_fail(e, "cannot load X25519 keys");
	else if (!(dctx = EVP_PKEY_CTX_new(mine, NULL)) || EVP_PKEY_derive_init(dctx) != 1 ||
		 EVP_PKEY_derive_set_peer(dctx, theirs) != 1 ||
		 EVP_PKEY_derive(dctx, shared, &slen) != 1 || slen != sizeof(shared))
		mig_fail(e, "X25519 key agreement failed");
	else if (!(kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) || !(kctx = EVP_KDF_CTX_new(kdf)) ||
		 EVP_KDF_derive(kctx, key, 32, params) != 1)
		mig_fail(e, "HKDF-SHA256 failed");
	else
		r = 0;
	OPENSSL_cleanse(shared, sizeof(shared));
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	EVP_PKEY_CTX_free(dctx);
	EVP_PKEY_free(mine);
	EVP_PKEY_free(theirs);
	return r;
}

/* AES-256-GCM over the blobs with the clear header hdr as AAD and the tag
 * after the ciphertext ct: seal the blobs in into ct, or (in NULL) open ct
 * into the blobs out, each allocated here (the caller wipes them on failure). */
static int gcm(const uint8_t key[32], const struct vrec_header *h, const uint8_t *hdr,
	       const struct swtpm_blob *in, struct swtpm_blob *out, uint8_t *ct,
	       struct mig_err *e)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int i, n, enc = in != NULL, ok, final;
	uint8_t last[16];

	ok = c && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, VREC_NONCE_LEN, NULL) == 1 &&
	     EVP_CipherInit_ex(c, NULL, NULL, key, h->nonce, enc) == 1 &&
	     EVP_CipherUpdate(c, NULL, &n, hdr, VREC_HDR_LEN) == 1;
	for (i = 0; ok && i < VREC_NBLOBS; ct += h->blob[i++].len) {
		if (!h->blob[i].len)
			continue;
		if (!enc && !(out[i].data = malloc(h->blob[i].len))) {
			EVP_CIPHER_CTX_free(c);
			return mig_fail(e, "out of memory for the %s blob", tpm_blob_name(i + 1));
		}
		if (!enc)
			out[i].len = h->blob[i].len;
		ok = EVP_CipherUpdate(c, enc ? ct : out[i].data, &n, enc ? in[i].data : ct,
				      (int)h->blob[i].len) == 1;
	}
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, VREC_TAG_LEN, ct) == 1;
	final = ok && EVP_CipherFinal_ex(c, last, &n) == 1;
	if (final && enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, VREC_TAG_LEN, ct) == 1;
	EVP_CIPHER_CTX_free(c);
	if (ok && !final && !enc)
		return mig_failc(e, MIG_E_FORGED, "record fails its AES-GCM tag check (damaged or forged)");
	return ok && final ? 0 : mig_fail(e, "AES-256-GCM failed");
}

/* Sign msg, or (sign 0) verify its signature; what names msg in an error. */
static int ed25519(int sign, const uint8_t key[32], const uint8_t *msg, size_t len,
		   uint8_t sig[VREC_SIG_LEN], const char *what, struct mig_err *e)
{
	EVP_PKEY *k = sign ? EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, key, 32)
			   : EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key, 32);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	size_t slen = VREC_SIG_LEN;
	int ok = k && m;

	if (ok && sign)
		ok = EVP_DigestSignInit(m, NULL, NULL, NULL, k) == 1 &&
		     EVP_DigestSign(m, sig, &slen, msg, len) == 1 && slen == VREC_SIG_LEN;
	else if (ok)
		ok = EVP_DigestVerifyInit(m, NULL, NULL, NULL, k) == 1 &&
		     EVP_DigestVerify(m, sig, VREC_SIG_LEN, msg, len) == 1;
	EVP_MD_CTX_free(m);
	EVP_PKEY_free(k);
	if (!ok && sign)
		return mig_fail(e, "Ed25519 signing failed");
	return ok ? 0 : mig_failc(e, MIG_E_FORGED, "%s signature does not verify (damaged or forged)",
				  what);
}

static int seal_header(const struct host_key *me, const struct host_pub *to,
		       struct vrec_header *h, const struct swtpm_state *st, const uint8_t eph[32],
		       const uint8_t nonce[VREC_NONCE_LEN], struct mig_err *e)
{
	size_t plen;
	int i;

	if (hostkey_raw_public(EVP_PKEY_X25519, eph, h->eph_pub, e))
		return -1;
	h->version = VREC_VERSION;
	h->suite = VREC_SUITE_X25519_HKDF_SHA256_AES256GCM_ED25519;
	memcpy(h->sender_id, me->pub.id, VREC_KEYID_LEN);
	memcpy(h->recipient_id, to->id, VREC_KEYID_LEN);
	memcpy(h->nonce, nonce, VREC_NONCE_LEN);
	for (i = 0; i < VREC_NBLOBS; i++) {
		h->blob[i].type = (uint32_t)i + 1;
		h->blob[i].flags = st->blob[i].flags;
		h->blob[i].len = st->blob[i].len;
	}
	plen = vrec_plain_len(h);
	if (VREC_HDR_LEN + plen + VREC_TAG_LEN + VREC_SIG_LEN > VREC_MAX_LEN)
		return mig_fail(e, "vTPM state of %zu bytes is over the %u-byte record limit", plen,
				VREC_MAX_LEN);
	h->ct_len = (uint32_t)plen + VREC_TAG_LEN;
	return 0;
}

int vrec_seal(const struct host_key *me, const struct host_pub *to, struct vrec_header *h,
	      const struct swtpm_state *st, uint8_t **rec, size_t *len, struct mig_err *e)
{
	uint8_t eph[32], nonce[VREC_NONCE_LEN], key[32], *out = NULL;
	size_t total;
	int r = -1;

	*rec = NULL;
	if (RAND_priv_bytes(eph, sizeof(eph)) != 1 || RAND_bytes(nonce, sizeof(nonce)) != 1) {
		mig_fail(e, "no randomness for the ephemeral key");
		goto done;
	}
	if (seal_header(me, to, h, st, eph, nonce, e))
		goto done;
	total = VREC_HDR_LEN + vrec_body_len(h);
	if (!(out = malloc(total))) {
		mig_fail(e, "out of memory for a %zu-byte record", total);
		goto done;
	}
	vrec_header_encode(h, out);
	if (derive_key(eph, to->x_pub, out, key, e) ||
	    gcm(key, h, out, st->blob, NULL, out + VREC_HDR_LEN, e) ||
	    ed25519(1, me->ed_priv, out, VREC_HDR_LEN + h->ct_len,
		    out + VREC_HDR_LEN + h->ct_len, "record", e))
		goto done;
	*rec = out;
	*len = total;
	out = NULL;
	r = 0;
done:
	OPENSSL_cleanse(eph, sizeof(eph));
	OPENSSL_cleanse(key, sizeof(key));
	free(out);
	return r;
}

/* The sender of a record or announcement addressed to this host: this host
 * itself, or a trusted peer. */
static const struct host_pub *check_parties(const struct host_key *me,
					    const struct peer_set *trusted,
					    const uint8_t recipient[VREC_KEYID_LEN],
					    const uint8_t sender[VREC_KEYID_LEN], struct mig_err *e)
{
	const struct host_pub *from;
	char got[2 * VREC_KEYID_LEN + 1], want[2 * VREC_KEYID_LEN + 1];

	if (memcmp(recipient, me->pub.id, VREC_KEYID_LEN)) {
		hex_encode(recipient, VREC_KEYID_LEN, got);
		hex_encode(me->pub.id, VREC_KEYID_LEN, want);
		mig_setc(e, MIG_E_RECIPIENT, "addressed to key %s, this host '%s' is key %s", got,
			 me->pub.name, want);
		return NULL;
	}
	if (!memcmp(sender, me->pub.id, VREC_KEYID_LEN))
		return &me->pub;
	from = trusted ? peers_find_id(trusted, sender) : NULL;
	if (!from) {
		hex_encode(sender, VREC_KEYID_LEN, got);
		mig_setc(e, MIG_E_UNTRUSTED, "sender key %s is not a trusted peer", got);
	}
	return from;
}

int vrec_open(const struct host_key *me, const struct peer_set *trusted, const uint8_t *rec,
	      size_t len, struct vrec_header *h, struct swtpm_state *st, struct mig_err *e)
{
	const struct host_pub *from;
	const uint8_t *ct, *sig;
	uint8_t key[32];
	int i, r;

	memset(st, 0, sizeof(*st));
	if (vrec_split(rec, len, h, &ct, &sig, e))
		return -1;
	if (!(from = check_parties(me, trusted, h->recipient_id, h->sender_id, e)))
		return mig_wrap(e, "record ");
	if (ed25519(0, from->ed_pub, rec, VREC_HDR_LEN + h->ct_len, (uint8_t *)sig, "record", e))
		return -1;
	st->version = h->tpm_version;
	for (i = 0; i < VREC_NBLOBS; i++) {
		st->blob[i].type = h->blob[i].type;
		st->blob[i].flags = h->blob[i].flags;
	}
	r = derive_key(me->x_priv, h->eph_pub, rec, key, e) ||
	    gcm(key, h, rec, NULL, st->blob, (uint8_t *)ct, e) ? -1 : 0;
	OPENSSL_cleanse(key, sizeof(key));
	if (r)
		swtpm_state_clear(st); /* blobs that did not authenticate */
	return r;
}

int vann_sign(const struct host_key *me, const struct vann *a, uint8_t out[VANN_LEN],
	      struct mig_err *e)
{
	vann_encode(a, out);
	return ed25519(1, me->ed_priv, out, VANN_SIGNED_LEN, out + VANN_SIGNED_LEN, "announcement", e);
}

int vann_verify(const struct host_key *me, const struct peer_set *trusted, const uint8_t *p,
		size_t len, struct vann *a, struct mig_err *e)
{
	const struct host_pub *from;

	if (vann_decode(p, len, a, e))
		return -1;
	if (!(from = check_parties(me, trusted, a->recipient_id, a->sender_id, e)))
		return mig_wrap(e, "announcement ");
	return ed25519(0, from->ed_pub, p, VANN_SIGNED_LEN, (uint8_t *)p + VANN_SIGNED_LEN,
		       "announcement", e);
}
