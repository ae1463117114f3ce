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
	EVP_PKEY *mine = NULL, *theirs = NULL;
	EVP_PKEY_CTX *dctx = NULL;
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[5];
	uint8_t shared[32];
	size_t slen = sizeof(shared);
	int r = -1;

	mine = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
	theirs = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer_pub, 32);
	if (!mine || !theirs) {
		mig_fail(e, "cannot load X25519 keys");
		goto out;
	}
	dctx = EVP_PKEY_CTX_new(mine, NULL);
	if (!dctx || EVP_PKEY_derive_init(dctx) != 1 ||
	    EVP_PKEY_derive_set_peer(dctx, theirs) != 1 ||
	    EVP_PKEY_derive(dctx, shared, &slen) != 1 || slen != sizeof(shared)) {
		mig_fail(e, "X25519 key agreement failed");
		goto out;
	}
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, shared, slen);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)HKDF_SALT,
						      sizeof(HKDF_SALT) - 1);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)hdr,
						      VREC_HDR_LEN);
	params[4] = OSSL_PARAM_construct_end();
	if (!kctx || EVP_KDF_derive(kctx, key, 32, params) != 1) {
		mig_fail(e, "HKDF-SHA256 failed");
		goto out;
	}
	r = 0;
out:
	OPENSSL_cleanse(shared, sizeof(shared));
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	EVP_PKEY_CTX_free(dctx);
	EVP_PKEY_free(mine);
	EVP_PKEY_free(theirs);
	return r;
}

/* AES-256-GCM in one direction; enc=1 writes the tag after the output. */
static int gcm(int enc, const uint8_t key[32], const uint8_t nonce[VREC_NONCE_LEN],
	       const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t inlen,
	       uint8_t *out, uint8_t tag[VREC_TAG_LEN], struct mig_err *e)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n, ok;

	ok = c && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, VREC_NONCE_LEN, NULL) == 1 &&
	     EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) == 1 &&
	     EVP_CipherUpdate(c, NULL, &n, aad, (int)aadlen) == 1 &&
	     (inlen == 0 || EVP_CipherUpdate(c, out, &n, in, (int)inlen) == 1);
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, VREC_TAG_LEN, tag) == 1;
	if (ok) {
		ok = EVP_CipherFinal_ex(c, out + inlen, &n) == 1;
		if (!ok && !enc) {
			EVP_CIPHER_CTX_free(c);
			return mig_failc(e, MIG_E_FORGED, "record fails its AES-GCM tag check (damaged or forged)");
		}
	}
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, VREC_TAG_LEN, tag) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : mig_fail(e, "AES-256-GCM failed");
}

static int ed25519(int sign, const uint8_t key[32], const uint8_t *msg, size_t len,
		   uint8_t sig[VREC_SIG_LEN], struct mig_err *e)
{
	EVP_PKEY *k;
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	size_t slen = VREC_SIG_LEN;
	int ok;

	k = sign ? EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, key, 32)
		 : EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key, 32);
	ok = k && m;
	if (ok && sign)
		ok = EVP_DigestSignInit(m, NULL, NULL, NULL, k) == 1 &&
		     EVP_DigestSign(m, sig, &slen, msg, len) == 1 && slen == VREC_SIG_LEN;
	else if (ok)
		ok = EVP_DigestVerifyInit(m, NULL, NULL, NULL, k) == 1 &&
		     EVP_DigestVerify(m, sig, VREC_SIG_LEN, msg, len) == 1;
	EVP_MD_CTX_free(m);
	EVP_PKEY_free(k);
	if (!ok)
		return mig_failc(e, sign ? MIG_E_FAIL : MIG_E_FORGED,
				 sign ? "Ed25519 signing failed"
				      : "record signature does not verify (damaged or forged)");
	return 0;
}

static int seal_with(const struct host_key *me, const struct host_pub *to, struct vrec_header *h,
		     const struct swtpm_state *st, const uint8_t eph_priv[32],
		     const uint8_t nonce[VREC_NONCE_LEN], uint8_t **rec, size_t *len,
		     struct mig_err *e)
{
	uint8_t key[32], *out = NULL, *plain = NULL, *p;
	size_t plen = 0, total;
	EVP_PKEY *eph;
	size_t elen = 32;
	int i, r = -1;

	*rec = NULL;
	eph = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, eph_priv, 32);
	if (!eph || EVP_PKEY_get_raw_public_key(eph, h->eph_pub, &elen) != 1) {
		EVP_PKEY_free(eph);
		return mig_fail(e, "cannot make the ephemeral X25519 key");
	}
	EVP_PKEY_free(eph);
	h->version = VREC_VERSION;
	h->suite = VREC_SUITE_X25519_HKDF_SHA256_AES256GCM_ED25519;
	memcpy(h->sender_id, me->pub.id, VREC_KEYID_LEN);
	memcpy(h->recipient_id, to->id, VREC_KEYID_LEN);
	memcpy(h->nonce, nonce, VREC_NONCE_LEN);
	for (i = 0; i < VREC_NBLOBS; i++) {
		h->blob[i].type = (uint32_t)i + 1;
		h->blob[i].flags = st->blob[i].flags;
		h->blob[i].len = st->blob[i].len;
		plen += st->blob[i].len;
	}
	if (plen > VREC_MAX_LEN)
		return mig_fail(e, "vTPM state of %zu bytes is over the record limit", plen);
	h->ct_len = (uint32_t)plen + VREC_TAG_LEN;
	total = VREC_HDR_LEN + h->ct_len + VREC_SIG_LEN;
	if (total > VREC_MAX_LEN)
		return mig_fail(e, "record of %zu bytes would be over the %u-byte limit", total,
			       VREC_MAX_LEN);
	out = malloc(total);
	plain = malloc(plen ? plen : 1);
	if (!out || !plain) {
		mig_fail(e, "out of memory for a %zu-byte record", total);
		goto done;
	}
	vrec_header_encode(h, out);
	for (p = plain, i = 0; i < VREC_NBLOBS; i++) {
		if (st->blob[i].len)
			memcpy(p, st->blob[i].data, st->blob[i].len);
		p += st->blob[i].len;
	}
	if (derive_key(eph_priv, to->x_pub, out, key, e) ||
	    gcm(1, key, nonce, out, VREC_HDR_LEN, plain, plen, out + VREC_HDR_LEN,
		out + VREC_HDR_LEN + plen, e) ||
	    ed25519(1, me->ed_priv, out, VREC_HDR_LEN + h->ct_len,
		    out + VREC_HDR_LEN + h->ct_len, e))
		goto done;
	*rec = out;
	*len = total;
	out = NULL;
	r = 0;
done:
	OPENSSL_cleanse(key, sizeof(key));
	if (plain) {
		OPENSSL_cleanse(plain, plen);
		free(plain);
	}
	free(out);
	return r;
}

int vrec_seal(const struct host_key *me, const struct host_pub *to, struct vrec_header *h,
	      const struct swtpm_state *st, uint8_t **rec, size_t *len, struct mig_err *e)
{
	uint8_t eph[32], nonce[VREC_NONCE_LEN];
	int r;

	if (RAND_priv_bytes(eph, sizeof(eph)) != 1 || RAND_bytes(nonce, sizeof(nonce)) != 1)
		return mig_fail(e, "no randomness for the ephemeral key");
	r = seal_with(me, to, h, st, eph, nonce, rec, len, e);
	OPENSSL_cleanse(eph, sizeof(eph));
	return r;
}

/* Split the plaintext into blobs; they own copies so each can be wiped. */
static int split_blobs(const struct vrec_header *h, const uint8_t *plain,
		       struct swtpm_state *st, struct mig_err *e)
{
	const uint8_t *p = plain;
	int i;

	for (i = 0; i < VREC_NBLOBS; i++) {
		st->blob[i].type = h->blob[i].type;
		st->blob[i].flags = h->blob[i].flags;
		if (!h->blob[i].len)
			continue;
		st->blob[i].data = malloc(h->blob[i].len);
		if (!st->blob[i].data) {
			swtpm_state_clear(st);
			return mig_fail(e, "out of memory for the %s blob", tpm_blob_name(i + 1));
		}
		memcpy(st->blob[i].data, p, h->blob[i].len);
		st->blob[i].len = h->blob[i].len;
		p += h->blob[i].len;
	}
	st->version = h->tpm_version;
	return 0;
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
	uint8_t key[32], *plain = NULL;
	size_t plen;
	int r = -1;

	memset(st, 0, sizeof(*st));
	if (vrec_split(rec, len, h, &ct, &sig, e))
		return -1;
	from = check_parties(me, trusted, h->recipient_id, h->sender_id, e);
	if (!from)
		return mig_wrap(e, "record ");
	if (ed25519(0, from->ed_pub, rec, VREC_HDR_LEN + h->ct_len, (uint8_t *)sig, e))
		return -1;
	plen = vrec_plain_len(h);
	plain = malloc(plen ? plen : 1);
	if (!plain)
		return mig_fail(e, "out of memory for %zu bytes of state", plen);
	if (derive_key(me->x_priv, h->eph_pub, rec, key, e) ||
	    gcm(0, key, h->nonce, rec, VREC_HDR_LEN, ct, plen, plain, (uint8_t *)ct + plen, e) ||
	    split_blobs(h, plain, st, e))
		goto out;
	r = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(plain, plen);
	free(plain);
	return r;
}

int vann_sign(const struct host_key *me, const struct vann *a, uint8_t out[VANN_LEN],
	      struct mig_err *e)
{
	vann_encode(a, out);
	return ed25519(1, me->ed_priv, out, VANN_SIGNED_LEN, out + VANN_SIGNED_LEN, e);
}

int vann_verify(const struct host_key *me, const struct peer_set *trusted, const uint8_t *p,
		size_t len, struct vann *a, struct mig_err *e)
{
	const struct host_pub *from;

	if (vann_decode(p, len, a, e))
		return -1;
	from = check_parties(me, trusted, a->recipient_id, a->sender_id, e);
	if (!from)
		return mig_wrap(e, "announcement ");
	if (ed25519(0, from->ed_pub, p, VANN_SIGNED_LEN, (uint8_t *)p + VANN_SIGNED_LEN, e))
		return mig_failc(e, MIG_E_FORGED, "announcement signature does not verify (damaged or forged)");
	return 0;
}
