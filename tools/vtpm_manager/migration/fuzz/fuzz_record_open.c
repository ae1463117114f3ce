/*
 * A whole record as the receiver gets it, opened with a fixed key set: this
 * host and one trusted peer (fuzz_keys.h). Each input is opened twice:
 *
 *  - as given: mutations stop at the layout, recipient, sender or signature
 *    check; the seeds go all the way through;
 *  - signed again by the sender it names (the harness holds both private
 *    keys), so that mutated headers and ciphertext reach the key agreement,
 *    the tag check and the split into blobs.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "fuzz.h"
#include "fuzz_keys.h"
#include "seal.h"

static struct host_key host, peer;
static struct host_pub trusted_pub;
static struct peer_set trusted = { .peer = &trusted_pub, .n = 1 };
static EVP_PKEY *host_sign, *peer_sign;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_keys_init("fuzz_record_open", &host, &peer, &trusted_pub);
	host_sign = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, host.ed_priv, 32);
	peer_sign = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, peer.ed_priv, 32);
	FUZZ_ASSERT(host_sign && peer_sign);
	return 0;
}

static void check_opened(const struct vrec_header *h, const struct swtpm_state *st)
{
	int i;

	/* Opened means: for this host, from this host or the trusted peer. */
	FUZZ_ASSERT(!memcmp(h->recipient_id, host.pub.id, VREC_KEYID_LEN));
	FUZZ_ASSERT(!memcmp(h->sender_id, host.pub.id, VREC_KEYID_LEN) ||
		    !memcmp(h->sender_id, trusted_pub.id, VREC_KEYID_LEN));
	FUZZ_ASSERT(st->version == h->tpm_version);
	FUZZ_ASSERT(st->blob[0].len > 0);
	for (i = 0; i < VREC_NBLOBS; i++) {
		FUZZ_ASSERT(st->blob[i].type == h->blob[i].type);
		FUZZ_ASSERT(st->blob[i].flags == h->blob[i].flags);
		FUZZ_ASSERT(st->blob[i].len == h->blob[i].len);
		FUZZ_ASSERT((st->blob[i].data != NULL) == (st->blob[i].len != 0));
	}
}

static void open_one(const uint8_t *rec, size_t len)
{
	struct vrec_header h;
	struct swtpm_state st;
	struct mig_err e = { "", 0 };
	int i;

	if (vrec_open(&host, &trusted, rec, len, &h, &st, &e) == 0) {
		check_opened(&h, &st);
		swtpm_state_clear(&st);
		return;
	}
	fuzz_check_refusal(&e);
	/* A refused record leaves nothing behind to wipe or free. */
	for (i = 0; i < VREC_NBLOBS; i++)
		FUZZ_ASSERT(st.blob[i].data == NULL && st.blob[i].len == 0);
}

/* A copy of rec signed by the sender it names, or NULL if it names neither key. */
static uint8_t *sign_again(const uint8_t *rec, size_t len)
{
	struct vrec_header h;
	const uint8_t *ct, *sig;
	EVP_PKEY *k;
	EVP_MD_CTX *m;
	uint8_t *copy;
	size_t slen = VREC_SIG_LEN, body;

	if (vrec_split(rec, len, &h, &ct, &sig, NULL))
		return NULL;
	if (!memcmp(h.sender_id, host.pub.id, VREC_KEYID_LEN))
		k = host_sign;
	else if (!memcmp(h.sender_id, peer.pub.id, VREC_KEYID_LEN))
		k = peer_sign;
	else
		return NULL;
	body = len - VREC_SIG_LEN;
	copy = malloc(len);
	m = EVP_MD_CTX_new();
	FUZZ_ASSERT(copy && m);
	memcpy(copy, rec, body);
	FUZZ_ASSERT(EVP_DigestSignInit(m, NULL, NULL, NULL, k) == 1 &&
		    EVP_DigestSign(m, copy + body, &slen, copy, body) == 1 &&
		    slen == VREC_SIG_LEN);
	EVP_MD_CTX_free(m);
	return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *signed_again;

	open_one(data, size);
	signed_again = sign_again(data, size);
	if (signed_again) {
		open_one(signed_again, size);
		free(signed_again);
	}
	return 0;
}
