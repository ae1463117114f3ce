/* SPDX-License-Identifier: BSD-3-Clause */
/* The record's clear header: layout and every check that needs no key. */
#include <string.h>

#include "io.h"
#include "record.h"
#include "unit.h"

static void good_header(struct vrec_header *h)
{
	int i;

	memset(h, 0, sizeof(*h));
	h->version = VREC_VERSION;
	h->suite = VREC_SUITE_X25519_HKDF_SHA256_AES256GCM_ED25519;
	h->tpm_version = TPM_VERSION_20;
	memset(h->sender_id, 0xa1, sizeof(h->sender_id));
	memset(h->recipient_id, 0xb2, sizeof(h->recipient_id));
	memset(h->domain_uuid, 0xc3, 16);
	memset(h->vtpm_uuid, 0xd4, 16);
	h->generation = 7;
	h->time = 1700000000;
	for (i = 0; i < VREC_NBLOBS; i++)
		h->blob[i].type = (uint32_t)i + 1;
	h->blob[0].len = 1000;
	h->blob[1].len = 9000;
	h->ct_len = 10000 + VREC_TAG_LEN;
}

static void expect_refused(const uint8_t *buf, size_t len, const char *words)
{
	struct vrec_header h;
	struct mig_err e = { "", 0 };

	ck_assert_int_eq(vrec_header_decode(buf, len, &h, &e), -1);
	ck_assert_msg(strstr(e.msg, words), "error '%s' does not say '%s'", e.msg, words);
	ck_assert_ptr_null(strchr(e.msg, '\n'));
}

START_TEST(header_round_trips_every_field)
{
	struct vrec_header h, d;
	uint8_t buf[VREC_HDR_LEN];

	good_header(&h);
	vrec_header_encode(&h, buf);
	ck_assert_int_eq(vrec_header_decode(buf, sizeof(buf), &d, NULL), 0);
	ck_assert_mem_eq(&h, &d, sizeof(h));
	ck_assert_mem_eq(buf, VREC_MARKER, VREC_MARKER_LEN);
	/* fixed offsets, big-endian: the spec's table */
	ck_assert_uint_eq(be32_get(buf + 8), VREC_VERSION);
	ck_assert_uint_eq(be32_get(buf + 12), VREC_HDR_LEN);
	ck_assert_uint_eq(be64_get(buf + 84), 7);
	ck_assert_uint_eq(be32_get(buf + 180), 10016);
}
END_TEST

START_TEST(decode_refuses_bad_marker)
{
	struct vrec_header h;
	uint8_t buf[VREC_HDR_LEN];

	good_header(&h);
	vrec_header_encode(&h, buf);
	buf[3] ^= 1;
	expect_refused(buf, sizeof(buf), "not a vTPM record");
}
END_TEST

START_TEST(decode_refuses_unknown_version)
{
	struct vrec_header h;
	uint8_t buf[VREC_HDR_LEN];

	good_header(&h);
	vrec_header_encode(&h, buf);
	be32_put(buf + 8, 2);
	expect_refused(buf, sizeof(buf), "version 2 is not supported");
}
END_TEST

START_TEST(decode_refuses_wrong_header_length)
{
	struct vrec_header h;
	uint8_t buf[VREC_HDR_LEN];

	good_header(&h);
	vrec_header_encode(&h, buf);
	be32_put(buf + 12, VREC_HDR_LEN + 8);
	expect_refused(buf, sizeof(buf), "header length");
}
END_TEST

START_TEST(decode_refuses_unknown_suite)
{
	struct vrec_header h;
	uint8_t buf[VREC_HDR_LEN];

	good_header(&h);
	h.suite = 2;
	vrec_header_encode(&h, buf);
	expect_refused(buf, sizeof(buf), "cipher suite 2");
	h.suite = 0; /* no "null" suite to downgrade to */
	vrec_header_encode(&h, buf);
	expect_refused(buf, sizeof(buf), "cipher suite 0");
}
END_TEST

START_TEST(decode_refuses_unknown_tpm_version_flags_reserved)
{
	struct vrec_header h;
	uint8_t buf[VREC_HDR_LEN];

	good_header(&h);
	h.tpm_version = 3;
	vrec_header_encode(&h, buf);
	expect_refused(buf, sizeof(buf), "TPM version 3");
	good_header(&h);
	h.flags = 0x80;
	vrec_header_encode(&h, buf);
	expect_refused(buf, sizeof(buf), "unknown flags");
	good_header(&h);
	vrec_header_encode(&h, buf);
	buf[190] = 1;
	expect_refused(buf, sizeof(buf), "reserved");
}
END_TEST

START_TEST(decode_refuses_generation_zero)
{
	struct vrec_header h;
	uint8_t buf[VREC_HDR_LEN];

	good_header(&h);
	h.generation = 0;
	vrec_header_encode(&h, buf);
	expect_refused(buf, sizeof(buf), "generation is 0");
}
END_TEST

START_TEST(decode_refuses_bad_blob_descriptors)
{
	struct vrec_header h;
	uint8_t buf[VREC_HDR_LEN];

	good_header(&h);
	h.blob[1].type = 1;
	vrec_header_encode(&h, buf);
	expect_refused(buf, sizeof(buf), "slot 1 has type 1");
	good_header(&h);
	h.blob[0].flags = 4;
	vrec_header_encode(&h, buf);
	expect_refused(buf, sizeof(buf), "unknown flags");
	good_header(&h);
	h.blob[0].len = 0;
	h.ct_len = 9000 + VREC_TAG_LEN;
	vrec_header_encode(&h, buf);
	expect_refused(buf, sizeof(buf), "no permanent state");
}
END_TEST

START_TEST(decode_refuses_inconsistent_lengths)
{
	struct vrec_header h;
	uint8_t buf[VREC_HDR_LEN];

	good_header(&h);
	h.ct_len += 1;
	vrec_header_encode(&h, buf);
	expect_refused(buf, sizeof(buf), "does not match");
}
END_TEST

START_TEST(decode_refuses_lengths_at_their_maxima)
{
	struct vrec_header h;
	uint8_t buf[VREC_HDR_LEN];

	good_header(&h);
	h.blob[0].len = 0xffffffffu;
	vrec_header_encode(&h, buf);
	expect_refused(buf, sizeof(buf), "over the limit");
	/* Three blobs each under the limit whose sum wraps 32 bits. */
	good_header(&h);
	h.blob[0].len = VREC_MAX_LEN;
	h.blob[1].len = VREC_MAX_LEN;
	h.blob[2].len = VREC_MAX_LEN;
	h.ct_len = 3 * VREC_MAX_LEN + VREC_TAG_LEN;
	vrec_header_encode(&h, buf);
	expect_refused(buf, sizeof(buf), "over the");
	/* Just over the whole-record limit. */
	good_header(&h);
	h.blob[0].len = VREC_MAX_LEN - VREC_HDR_LEN - VREC_TAG_LEN - VREC_SIG_LEN + 1;
	h.blob[1].len = 0;
	h.ct_len = h.blob[0].len + VREC_TAG_LEN;
	vrec_header_encode(&h, buf);
	expect_refused(buf, sizeof(buf), "over the");
	/* Exactly at it: accepted. */
	h.blob[0].len -= 1;
	h.ct_len -= 1;
	vrec_header_encode(&h, buf);
	ck_assert_int_eq(vrec_header_decode(buf, sizeof(buf), &h, NULL), 0);
}
END_TEST

START_TEST(decode_refuses_truncated_header_at_every_length)
{
	struct vrec_header h;
	uint8_t buf[VREC_HDR_LEN];
	size_t n;

	good_header(&h);
	vrec_header_encode(&h, buf);
	for (n = 0; n < VREC_HDR_LEN; n++)
		expect_refused(buf, n, "truncated");
}
END_TEST

START_TEST(split_refuses_short_and_long_records)
{
	static uint8_t rec[VREC_HDR_LEN + 10016 + VREC_SIG_LEN + 1];
	const uint8_t *ct, *sig;
	struct vrec_header h;
	struct mig_err e;

	good_header(&h);
	vrec_header_encode(&h, rec);
	ck_assert_int_eq(vrec_split(rec, sizeof(rec) - 1, &h, &ct, &sig, &e), 0);
	ck_assert_ptr_eq(ct, rec + VREC_HDR_LEN);
	ck_assert_ptr_eq(sig, rec + VREC_HDR_LEN + 10016);
	ck_assert_int_eq(vrec_split(rec, sizeof(rec) - 2, &h, &ct, &sig, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "truncated"));
	ck_assert_int_eq(vrec_split(rec, sizeof(rec), &h, &ct, &sig, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "trailing"));
}
END_TEST

START_TEST(binding_refuses_other_vtpm_domain_or_tpm_version)
{
	struct vrec_header h;
	uint8_t dom[16], vtpm[16];
	struct mig_err e;

	good_header(&h);
	memset(dom, 0xc3, 16);
	memset(vtpm, 0xd4, 16);
	ck_assert_int_eq(vrec_check_binding(&h, dom, vtpm, TPM_VERSION_20, &e), 0);
	vtpm[15] ^= 1;
	ck_assert_int_eq(vrec_check_binding(&h, dom, vtpm, TPM_VERSION_20, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "record is for vTPM"));
	vtpm[15] ^= 1;
	dom[0] ^= 1;
	ck_assert_int_eq(vrec_check_binding(&h, dom, vtpm, TPM_VERSION_20, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "record is for domain"));
	dom[0] ^= 1;
	ck_assert_int_eq(vrec_check_binding(&h, dom, vtpm, TPM_VERSION_12, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "TPM 2.0 state, this instance is a TPM 1.2"));
}
END_TEST

/* The announcement's fields sit at the offsets of the table in
 * docs/misc/vtpm-migration-record.txt ("Announcement"), and decode back. */
START_TEST(announcement_fields_at_the_documented_offsets)
{
	struct vann a, b;
	uint8_t buf[VANN_LEN] = { 0 };
	struct mig_err e;

	memset(&a, 0, sizeof(a)); /* padding too: the decoded copy is compared whole */
	a.tpm_version = TPM_VERSION_20;
	a.generation = 0x0102030405060708ull;
	a.time = 1700000000;
	memset(a.sender_id, 0x11, sizeof(a.sender_id));
	memset(a.recipient_id, 0x22, sizeof(a.recipient_id));
	memset(a.domain_uuid, 0x33, 16);
	memset(a.vtpm_uuid, 0x44, 16);
	vann_encode(&a, buf);
	ck_assert_int_eq(VANN_LEN, 160);
	ck_assert_int_eq(memcmp(buf, "XenvTPMa", 8), 0);
	ck_assert_uint_eq(be32_get(buf + 8), 1);
	ck_assert_uint_eq(buf[12], TPM_VERSION_20);
	ck_assert(!buf[13] && !buf[14] && !buf[15]);
	ck_assert(buf[16] == 0x11 && buf[31] == 0x11 && buf[32] == 0x22 && buf[47] == 0x22);
	ck_assert(buf[48] == 0x33 && buf[63] == 0x33 && buf[64] == 0x44 && buf[79] == 0x44);
	ck_assert(be64_get(buf + 80) == a.generation && be64_get(buf + 88) == a.time);
	ck_assert_int_eq(vann_decode(buf, VANN_LEN, &b, &e), 0);
	ck_assert_int_eq(memcmp(&a, &b, sizeof(a)), 0);
	buf[14] = 1; /* a zero octet that is not zero */
	ck_assert_int_eq(vann_decode(buf, VANN_LEN, &b, &e), -1);
	ck_assert_int_eq(e.code, MIG_E_FORGED);
}
END_TEST

Suite *record_suite(void)
{
	Suite *s = suite_create("record");
	TCase *t = tcase_create("header");

	tcase_add_test(t, header_round_trips_every_field);
	tcase_add_test(t, decode_refuses_bad_marker);
	tcase_add_test(t, decode_refuses_unknown_version);
	tcase_add_test(t, decode_refuses_wrong_header_length);
	tcase_add_test(t, decode_refuses_unknown_suite);
	tcase_add_test(t, decode_refuses_unknown_tpm_version_flags_reserved);
	tcase_add_test(t, decode_refuses_generation_zero);
	tcase_add_test(t, decode_refuses_bad_blob_descriptors);
	tcase_add_test(t, decode_refuses_inconsistent_lengths);
	tcase_add_test(t, decode_refuses_lengths_at_their_maxima);
	tcase_add_test(t, decode_refuses_truncated_header_at_every_length);
	tcase_add_test(t, split_refuses_short_and_long_records);
	tcase_add_test(t, binding_refuses_other_vtpm_domain_or_tpm_version);
	tcase_add_test(t, announcement_fields_at_the_documented_offsets);
	suite_add_tcase(s, t);
	return s;
}
