/* SPDX-License-Identifier: BSD-3-Clause */
/* Seal and open: R1 R2 R3/R4 R8 R11 R12, and the known-answer vector. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "seal.h"
#include "util.h"
#include "unit.h"

static struct host_key alice, bob, mallory;
static struct peer_set bob_trusts_alice, trusts_nobody;

static void keys_setup(void)
{
	fixed_key(&alice, "alice", 0x11);
	fixed_key(&bob, "bob", 0x22);
	fixed_key(&mallory, "mallory", 0x66);
	bob_trusts_alice.peer = &alice.pub;
	bob_trusts_alice.n = 1;
	trusts_nobody.peer = NULL;
	trusts_nobody.n = 0;
}

static void header_for(struct vrec_header *h, uint64_t gen)
{
	memset(h, 0, sizeof(*h));
	h->tpm_version = TPM_VERSION_20;
	memset(h->domain_uuid, 0x0d, 16);
	memset(h->vtpm_uuid, 0x7b, 16);
	h->generation = gen;
	h->time = 1700000000;
}

/* alice seals a 1.5 KB + 9 KB state to bob. */
static void seal_to_bob(uint8_t **rec, size_t *len, struct swtpm_state *st)
{
	struct vrec_header h;
	struct mig_err e;

	fake_state(st, TPM_VERSION_20, 1500, 9000, 0);
	header_for(&h, 5);
	ck_assert_msg(vrec_seal(&alice, &bob.pub, &h, st, rec, len, &e) == 0, "%s", e.msg);
}

START_TEST(open_returns_exactly_what_was_sealed)
{
	struct swtpm_state in, out;
	struct vrec_header h;
	struct mig_err e;
	uint8_t *rec;
	size_t len;
	int i;

	seal_to_bob(&rec, &len, &in);
	ck_assert_uint_eq(len, VREC_HDR_LEN + 10500 + VREC_TAG_LEN + VREC_SIG_LEN);
	ck_assert_msg(vrec_open(&bob, &bob_trusts_alice, rec, len, &h, &out, &e) == 0,
		      "%s", e.msg);
	ck_assert_mem_eq(h.sender_id, alice.pub.id, VREC_KEYID_LEN);
	ck_assert_uint_eq(h.generation, 5);
	ck_assert_int_eq(out.version, TPM_VERSION_20);
	for (i = 0; i < 3; i++) {
		ck_assert_uint_eq(out.blob[i].len, in.blob[i].len);
		if (in.blob[i].len)
			ck_assert_mem_eq(out.blob[i].data, in.blob[i].data, in.blob[i].len);
	}
	swtpm_state_clear(&in);
	swtpm_state_clear(&out);
	free(rec);
}
END_TEST

START_TEST(record_holds_no_plaintext)
{
	struct swtpm_state in;
	uint8_t *rec;
	size_t len;
	int i;

	seal_to_bob(&rec, &len, &in);
	/* No 16-byte window of any blob shows up anywhere in the record. */
	for (i = 0; i < 2; i++) {
		uint32_t off;
		for (off = 0; off + 16 <= in.blob[i].len; off += 97)
			ck_assert(!mem_contains(rec, len, in.blob[i].data + off, 16));
	}
	ck_assert(!mem_contains(rec, len, (const uint8_t *)"SECRET-NV", 9));
	swtpm_state_clear(&in);
	free(rec);
}
END_TEST

START_TEST(every_flipped_bit_is_refused)
{
	struct swtpm_state in, out;
	struct vrec_header h;
	struct mig_err e;
	uint8_t *rec;
	size_t len, off;
	int bit;

	fake_state(&in, TPM_VERSION_20, 200, 100, 0);
	header_for(&h, 1);
	ck_assert_int_eq(vrec_seal(&alice, &bob.pub, &h, &in, &rec, &len, &e), 0);
	for (off = 0; off < len; off++) {
		for (bit = 0; bit < 8; bit += 3) {
			rec[off] ^= (uint8_t)(1 << bit);
			e.msg[0] = '\0';
			ck_assert_msg(vrec_open(&bob, &bob_trusts_alice, rec, len, &h, &out, &e) == -1,
				      "flip at byte %zu bit %d accepted", off, bit);
			ck_assert(e.msg[0] != '\0');
			ck_assert_ptr_null(out.blob[0].data);
			rec[off] ^= (uint8_t)(1 << bit);
		}
	}
	ck_assert_int_eq(vrec_open(&bob, &bob_trusts_alice, rec, len, &h, &out, &e), 0);
	swtpm_state_clear(&out);
	swtpm_state_clear(&in);
	free(rec);
}
END_TEST

START_TEST(every_truncation_is_refused)
{
	struct swtpm_state in, out;
	struct vrec_header h;
	struct mig_err e;
	uint8_t *rec;
	size_t len, n;

	fake_state(&in, TPM_VERSION_12, 300, 50, 20);
	header_for(&h, 1);
	h.tpm_version = TPM_VERSION_12;
	ck_assert_int_eq(vrec_seal(&alice, &bob.pub, &h, &in, &rec, &len, &e), 0);
	for (n = 0; n < len; n++)
		ck_assert_msg(vrec_open(&bob, &bob_trusts_alice, rec, n, &h, &out, &e) == -1,
			      "truncation to %zu accepted", n);
	swtpm_state_clear(&in);
	free(rec);
}
END_TEST

START_TEST(wrong_recipient_is_refused)
{
	struct swtpm_state in, out;
	struct vrec_header h;
	struct mig_err e;
	uint8_t *rec;
	size_t len;

	seal_to_bob(&rec, &len, &in);
	ck_assert_int_eq(vrec_open(&mallory, &bob_trusts_alice, rec, len, &h, &out, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "addressed to key"));
	ck_assert_ptr_nonnull(strstr(e.msg, "'mallory'"));
	swtpm_state_clear(&in);
	free(rec);
}
END_TEST

START_TEST(untrusted_sender_is_refused)
{
	struct swtpm_state in, out;
	struct vrec_header h;
	struct mig_err e;
	uint8_t *rec;
	size_t len;

	seal_to_bob(&rec, &len, &in);
	ck_assert_int_eq(vrec_open(&bob, &trusts_nobody, rec, len, &h, &out, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "not a trusted peer"));
	swtpm_state_clear(&in);
	free(rec);
}
END_TEST

START_TEST(forged_sender_is_refused)
{
	struct swtpm_state in, out;
	struct vrec_header h;
	struct host_key fake;
	struct mig_err e;
	uint8_t *rec;
	size_t len;

	/* mallory signs with her own key but claims alice's key id. */
	fake = mallory;
	memcpy(fake.pub.id, alice.pub.id, sizeof(fake.pub.id));
	fake_state(&in, TPM_VERSION_20, 100, 0, 0);
	header_for(&h, 9);
	ck_assert_int_eq(vrec_seal(&fake, &bob.pub, &h, &in, &rec, &len, &e), 0);
	ck_assert_int_eq(vrec_open(&bob, &bob_trusts_alice, rec, len, &h, &out, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "signature does not verify"));
	swtpm_state_clear(&in);
	free(rec);
}
END_TEST

START_TEST(self_sealed_record_opens_without_peers)
{
	struct swtpm_state in, out;
	struct vrec_header h;
	struct mig_err e;
	uint8_t *rec;
	size_t len;

	fake_state(&in, TPM_VERSION_20, 100, 10, 0);
	header_for(&h, 2);
	ck_assert_int_eq(vrec_seal(&bob, &bob.pub, &h, &in, &rec, &len, &e), 0);
	ck_assert_int_eq(vrec_open(&bob, &trusts_nobody, rec, len, &h, &out, &e), 0);
	swtpm_state_clear(&out);
	swtpm_state_clear(&in);
	free(rec);
}
END_TEST

START_TEST(each_record_has_a_fresh_key_and_nonce)
{
	struct swtpm_state in;
	struct vrec_header h1, h2;
	struct mig_err e;
	uint8_t *r1, *r2;
	size_t l1, l2;

	fake_state(&in, TPM_VERSION_20, 100, 10, 0);
	header_for(&h1, 3);
	header_for(&h2, 3);
	ck_assert_int_eq(vrec_seal(&alice, &bob.pub, &h1, &in, &r1, &l1, &e), 0);
	ck_assert_int_eq(vrec_seal(&alice, &bob.pub, &h2, &in, &r2, &l2, &e), 0);
	ck_assert_uint_eq(l1, l2);
	ck_assert(memcmp(h1.eph_pub, h2.eph_pub, 32) != 0);
	ck_assert(memcmp(h1.nonce, h2.nonce, VREC_NONCE_LEN) != 0);
	ck_assert(memcmp(r1 + VREC_HDR_LEN, r2 + VREC_HDR_LEN, 110) != 0);
	swtpm_state_clear(&in);
	free(r1);
	free(r2);
}
END_TEST

START_TEST(resealed_header_with_new_ids_is_refused)
{
	/* Swap the recipient id in a valid record for mallory's: the signature
	 * covers it, so even mallory cannot open it, and bob refuses the id. */
	struct swtpm_state in, out;
	struct vrec_header h;
	struct mig_err e;
	uint8_t *rec;
	size_t len;

	seal_to_bob(&rec, &len, &in);
	memcpy(rec + 36, mallory.pub.id, VREC_KEYID_LEN);
	ck_assert_int_eq(vrec_open(&mallory, &bob_trusts_alice, rec, len, &h, &out, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "signature"));
	swtpm_state_clear(&in);
	free(rec);
}
END_TEST

/* The known-answer vector's inputs (fixed keys and state), sealed by the
 * real vrec_seal: only the ephemeral key and nonce are its own. */
static void kat_record(uint8_t **rec, size_t *len)
{
	struct host_key s, r;
	struct swtpm_state st;
	struct vrec_header h;
	struct mig_err e;
	uint32_t i;

	fixed_key(&s, "kat-sender", 0x11);
	fixed_key(&r, "kat-recipient", 0x22);
	memset(&st, 0, sizeof(st));
	st.version = TPM_VERSION_20;
	st.blob[0] = (struct swtpm_blob){ .type = 1, .len = 64, .data = malloc(64) };
	st.blob[1] = (struct swtpm_blob){ .type = 2, .len = 32, .data = malloc(32) };
	st.blob[2].type = 3;
	for (i = 0; i < 64; i++)
		st.blob[0].data[i] = (uint8_t)i;
	for (i = 0; i < 32; i++)
		st.blob[1].data[i] = (uint8_t)(0xff - i);
	memset(&h, 0, sizeof(h));
	h.tpm_version = TPM_VERSION_20;
	ck_assert_int_eq(uuid_parse("00112233-4455-6677-8899-aabbccddeeff", h.domain_uuid), 0);
	ck_assert_int_eq(uuid_parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", h.vtpm_uuid), 0);
	h.generation = 1;
	h.time = 1700000000;
	ck_assert_int_eq(vrec_seal(&s, &r.pub, &h, &st, rec, len, &e), 0);
	swtpm_state_clear(&st);
}

static char *read_vector(const char *name)
{
	char path[512], *buf;
	const char *src = getenv("VTPM_TEST_SRC");
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/tests/vectors/%s", src ? src : ".", name);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

/* vrec_seal lays the known-answer inputs out exactly as the vector does: the
 * same length, and a clear header equal byte for byte but for the ephemeral
 * key and nonce, which are fresh on every seal. (That the vector's bytes are
 * right is shown by opening it, below, and by an independent implementation
 * in e2e/02-kat-independent.sh.) */
START_TEST(sealed_record_matches_the_vector_but_for_its_randomness)
{
	struct vrec_header got, want;
	uint8_t *rec, *vec, a[VREC_HDR_LEN], b[VREC_HDR_LEN];
	size_t len, vlen;
	char *hex;

	kat_record(&rec, &len);
	hex = read_vector("record-v1.hex");
	vlen = strlen(hex) / 2;
	vec = malloc(vlen);
	ck_assert_int_eq(hex_decode(hex, vec, vlen), 0);
	ck_assert_uint_eq(len, vlen);
	ck_assert_int_eq(vrec_header_decode(rec, len, &got, NULL), 0);
	ck_assert_int_eq(vrec_header_decode(vec, vlen, &want, NULL), 0);
	ck_assert(memcmp(got.eph_pub, want.eph_pub, 32) || memcmp(got.nonce, want.nonce, 12));
	memcpy(got.eph_pub, want.eph_pub, sizeof(got.eph_pub));
	memcpy(got.nonce, want.nonce, sizeof(got.nonce));
	vrec_header_encode(&got, a);
	vrec_header_encode(&want, b);
	ck_assert_mem_eq(a, b, VREC_HDR_LEN);
	/* The raw bytes too: all before the ephemeral key (offset 100) and all
	 * from the blob table (offset 144) to the header's end. */
	ck_assert_mem_eq(rec, vec, 100);
	ck_assert_mem_eq(rec + 144, vec + 144, VREC_HDR_LEN - 144);
	free(vec);
	free(hex);
	free(rec);
}
END_TEST

START_TEST(known_answer_vector_opens_with_recipient_key)
{
	struct host_key s, r;
	struct peer_set trusted;
	struct swtpm_state out;
	struct vrec_header h;
	struct mig_err e;
	uint8_t *rec;
	size_t len;
	char *hex;

	hex = read_vector("record-v1.hex");
	len = strlen(hex) / 2;
	rec = malloc(len);
	ck_assert_int_eq(hex_decode(hex, rec, len), 0);
	fixed_key(&s, "kat-sender", 0x11);
	fixed_key(&r, "kat-recipient", 0x22);
	trusted.peer = &s.pub;
	trusted.n = 1;
	ck_assert_msg(vrec_open(&r, &trusted, rec, len, &h, &out, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(out.blob[0].len, 64);
	ck_assert_uint_eq(out.blob[0].data[63], 63);
	ck_assert_uint_eq(out.blob[1].len, 32);
	ck_assert_uint_eq(out.blob[1].data[0], 0xff);
	ck_assert_uint_eq(out.blob[2].len, 0);
	swtpm_state_clear(&out);
	free(rec);
	free(hex);
}
END_TEST

/* The example in the record format is the same record and decodes and opens. */
START_TEST(spec_example_decodes_and_opens)
{
	const char *src = getenv("VTPM_TEST_SRC");
	char path[512], line[256], *hex = calloc(1, 65536), *want;
	struct host_key s, r;
	struct peer_set trusted;
	struct swtpm_state out;
	struct vrec_header h;
	struct mig_err e;
	int in = 0;
	uint8_t *rec;
	size_t len;
	FILE *f;

	snprintf(path, sizeof(path), "%s/../../../docs/misc/vtpm-migration-record.txt",
		 src ? src : ".");
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "example-record-begin"))
			in = 1;
		else if (strstr(line, "example-record-end"))
			in = 0;
		else if (in && line[0] != '`')
			strncat(hex, line, strcspn(line, "\n"));
	}
	fclose(f);
	want = read_vector("record-v1.hex");
	ck_assert_str_eq(hex, want);
	len = strlen(hex) / 2;
	rec = malloc(len);
	ck_assert_int_eq(hex_decode(hex, rec, len), 0);
	ck_assert_int_eq(vrec_header_decode(rec, len, &h, &e), 0);
	ck_assert_uint_eq(h.generation, 1);
	ck_assert_uint_eq(h.time, 1700000000);
	ck_assert_uint_eq(h.ct_len, 112);
	fixed_key(&s, "kat-sender", 0x11);
	fixed_key(&r, "kat-recipient", 0x22);
	ck_assert_mem_eq(h.sender_id, s.pub.id, VREC_KEYID_LEN);
	trusted.peer = &s.pub;
	trusted.n = 1;
	ck_assert_msg(vrec_open(&r, &trusted, rec, len, &h, &out, &e) == 0, "%s", e.msg);
	swtpm_state_clear(&out);
	free(rec);
	free(want);
	free(hex);
}
END_TEST

Suite *seal_suite(void)
{
	Suite *s = suite_create("seal");
	TCase *t = tcase_create("seal");

	tcase_add_checked_fixture(t, keys_setup, NULL);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, open_returns_exactly_what_was_sealed);
	tcase_add_test(t, record_holds_no_plaintext);
	tcase_add_test(t, every_flipped_bit_is_refused);
	tcase_add_test(t, every_truncation_is_refused);
	tcase_add_test(t, wrong_recipient_is_refused);
	tcase_add_test(t, untrusted_sender_is_refused);
	tcase_add_test(t, forged_sender_is_refused);
	tcase_add_test(t, self_sealed_record_opens_without_peers);
	tcase_add_test(t, each_record_has_a_fresh_key_and_nonce);
	tcase_add_test(t, resealed_header_with_new_ids_is_refused);
	tcase_add_test(t, sealed_record_matches_the_vector_but_for_its_randomness);
	tcase_add_test(t, known_answer_vector_opens_with_recipient_key);
	tcase_add_test(t, spec_example_decodes_and_opens);
	suite_add_tcase(s, t);
	return s;
}
