/* SPDX-License-Identifier: BSD-3-Clause */
/* The back end's pure parts: the vTPM shared page (layout, request checks,
 * command and response framing, refusals), the locality policy, and the
 * limit on log lines a guest can cause. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xen/xen.h>
#include <xen/io/tpmif.h>

#include "io.h"
#include "backend_limit.h"
#include "tpmif.h"
#include "unit.h"

#define GUARD 64
#define GUARD_BYTE 0xee

/* Pages with guard bytes around them, so a stray write shows. */
struct pages {
	uint8_t *buf, *page, *extra;
	unsigned int nr_extra;
};

static void pages_make(struct pages *p, unsigned int nr_extra)
{
	size_t total = GUARD + TPMIF_PAGE_SIZE + GUARD + (size_t)nr_extra * TPMIF_PAGE_SIZE + GUARD;

	p->buf = malloc(total);
	ck_assert_ptr_nonnull(p->buf);
	memset(p->buf, GUARD_BYTE, total);
	p->page = p->buf + GUARD;
	memset(p->page, 0, TPMIF_PAGE_SIZE);
	p->extra = nr_extra ? p->page + TPMIF_PAGE_SIZE + GUARD : NULL;
	if (nr_extra)
		memset(p->extra, 0, (size_t)nr_extra * TPMIF_PAGE_SIZE);
	p->nr_extra = nr_extra;
}

static int guards_intact(const struct pages *p)
{
	size_t i;
	const uint8_t *after_extra = p->page + 2 * TPMIF_PAGE_SIZE + GUARD +
				     (size_t)(p->nr_extra ? p->nr_extra - 1 : 0) * TPMIF_PAGE_SIZE;

	for (i = 0; i < GUARD; i++) {
		if (p->buf[i] != GUARD_BYTE || p->page[TPMIF_PAGE_SIZE + i] != GUARD_BYTE)
			return 0;
		if (p->nr_extra && after_extra[i] != GUARD_BYTE)
			return 0;
	}
	return 1;
}

static struct tpmif_map ring_of(const struct pages *p)
{
	struct tpmif_map r = { .page = p->page, .extra = p->extra, .nr_extra = p->nr_extra };

	return r;
}

/* What a frontend writes: the header, the refs, and the command. */
static void submit(uint8_t *page, uint32_t len, uint8_t state, uint8_t loc, uint8_t nr_extra)
{
	memcpy(page, &len, 4);
	page[4] = state;
	page[5] = loc;
	page[7] = nr_extra;
}

static struct tpmif_req req_of(const uint8_t *page)
{
	struct tpmif_req r;

	tpmif_read_req(page, &r);
	return r;
}

static const uint8_t getrandom8[] = { 0x80, 0x01, 0, 0, 0, 0x0c, 0, 0, 0x01, 0x7b, 0, 8 };

START_TEST(layout_matches_xen_public_header)
{
	/* Xen 4.3 put the shared page in the public header; a 4.1/4.2 tree,
	 * where this also builds, has only the older ring there. */
#if __XEN_LATEST_INTERFACE_VERSION__ >= 0x00040300
	ck_assert_uint_eq(sizeof(struct tpmif_shared_page), TPMIF_HDR_LEN);
	ck_assert_uint_eq(offsetof(struct tpmif_shared_page, length), TPMIF_OFF_LENGTH);
	ck_assert_uint_eq(offsetof(struct tpmif_shared_page, state), TPMIF_OFF_STATE);
	ck_assert_uint_eq(offsetof(struct tpmif_shared_page, locality), TPMIF_OFF_LOCALITY);
	ck_assert_uint_eq(offsetof(struct tpmif_shared_page, nr_extra_pages), TPMIF_OFF_NR_EXTRA);
	ck_assert_uint_eq(offsetof(struct tpmif_shared_page, extra_pages), TPMIF_HDR_LEN);
	ck_assert_int_eq(TPMIF_STATE_SUBMIT, TPMIF_SUBMIT);
	ck_assert_int_eq(TPMIF_STATE_FINISH, TPMIF_FINISH);
	ck_assert_int_eq(TPMIF_STATE_CANCEL, TPMIF_CANCEL);
#endif
	ck_assert_uint_eq(tpmif_data_offset(0), 8);
	ck_assert_uint_eq(tpmif_data_offset(3), 20);
}
END_TEST

START_TEST(read_req_copies_header_fields)
{
	struct pages p;
	struct tpmif_req r;

	pages_make(&p, 0);
	submit(p.page, 0x01020304, TPMIF_CANCEL, 3, 2);
	tpmif_read_req(p.page, &r);
	ck_assert_uint_eq(r.length, 0x01020304);
	ck_assert_uint_eq(r.state, TPMIF_CANCEL);
	ck_assert_uint_eq(r.locality, 3);
	ck_assert_uint_eq(r.nr_extra, 2);
	free(p.buf);
}
END_TEST

START_TEST(command_in_primary_page_is_copied_and_response_finishes)
{
	static const uint8_t rsp[] = { 0x80, 0x01, 0, 0, 0, 0x0c, 0, 0, 0, 0, 1, 2 };
	uint8_t buf[TPMIF_CMD_MAX];
	struct pages p;
	struct tpmif_map ring;
	struct tpmif_req r;

	pages_make(&p, 0);
	ring = ring_of(&p);
	memcpy(p.page + 8, getrandom8, sizeof(getrandom8));
	submit(p.page, sizeof(getrandom8), TPMIF_SUBMIT, 0, 0);
	r = req_of(p.page);
	ck_assert_int_eq(tpmif_check_req(&ring, &r, NULL), 0);
	tpmif_get_cmd(&ring, &r, buf);
	ck_assert_mem_eq(buf, getrandom8, sizeof(getrandom8));
	ck_assert_uint_eq(tpmif_put_rsp(&ring, &r, rsp, sizeof(rsp)), sizeof(rsp));
	ck_assert_uint_eq(p.page[4], TPMIF_FINISH);
	ck_assert_mem_eq(p.page + 8, rsp, sizeof(rsp));
	ck_assert_uint_eq(req_of(p.page).length, sizeof(rsp));
	ck_assert(guards_intact(&p));
	free(p.buf);
}
END_TEST

START_TEST(command_spanning_extra_pages_is_copied_in_order)
{
	uint8_t buf[TPMIF_CMD_MAX], want[TPMIF_CMD_MAX];
	uint32_t refs[TPMIF_MAX_EXTRA_PAGES], ref1 = 77, ref2 = 78;
	size_t off = tpmif_data_offset(2), first = TPMIF_PAGE_SIZE - off, i;
	struct pages p;
	struct tpmif_map ring;
	struct tpmif_req r;

	pages_make(&p, 2);
	ring = ring_of(&p);
	for (i = 0; i < sizeof(want); i++)
		want[i] = (uint8_t)(i * 7 + 1);
	memcpy(p.page + 8, &ref1, 4);
	memcpy(p.page + 12, &ref2, 4);
	memcpy(p.page + off, want, first);
	memcpy(p.extra, want + first, sizeof(want) - first);
	submit(p.page, sizeof(want), TPMIF_SUBMIT, 0, 2);
	r = req_of(p.page);
	ck_assert_int_eq(tpmif_extra_refs(p.page, &r, refs, NULL), 0);
	ck_assert_uint_eq(refs[0], 77);
	ck_assert_uint_eq(refs[1], 78);
	ck_assert_int_eq(tpmif_check_req(&ring, &r, NULL), 0);
	tpmif_get_cmd(&ring, &r, buf);
	ck_assert_mem_eq(buf, want, sizeof(want));
	/* A response of the same size comes back across the pages too. */
	memset(p.page + off, 0, first);
	memset(p.extra, 0, 2 * TPMIF_PAGE_SIZE);
	ck_assert_uint_eq(tpmif_put_rsp(&ring, &r, want, sizeof(want)), sizeof(want));
	ck_assert_mem_eq(p.page + off, want, first);
	ck_assert_mem_eq(p.extra, want + first, sizeof(want) - first);
	ck_assert(guards_intact(&p));
	free(p.buf);
}
END_TEST

static void expect_check_refused(const struct tpmif_map *ring, const uint8_t *page,
				 const char *words)
{
	struct mig_err e = { "", 0 };
	struct tpmif_req r = req_of(page);

	ck_assert_int_eq(tpmif_check_req(ring, &r, &e), -1);
	ck_assert_msg(strstr(e.msg, words), "error '%s' does not say '%s'", e.msg, words);
	ck_assert_ptr_null(strchr(e.msg, '\n'));
}

START_TEST(check_refuses_length_beyond_mapped_pages)
{
	struct pages p;
	struct tpmif_map ring;

	pages_make(&p, 0);
	ring = ring_of(&p);
	submit(p.page, TPMIF_PAGE_SIZE - 8 + 1, TPMIF_SUBMIT, 0, 0);
	expect_check_refused(&ring, p.page, "beyond the 4088 bytes of the shared pages");
	submit(p.page, 0xffffffffu, TPMIF_SUBMIT, 0, 0);
	expect_check_refused(&ring, p.page, "beyond");
	/* Extra pages named but not mapped hold nothing. */
	submit(p.page, TPMIF_PAGE_SIZE, TPMIF_SUBMIT, 0, 1);
	expect_check_refused(&ring, p.page, "beyond the 4084 bytes");
	free(p.buf);
}
END_TEST

START_TEST(check_refuses_length_beyond_tpm_buffer)
{
	struct pages p;
	struct tpmif_map ring;

	pages_make(&p, 2);
	ring = ring_of(&p);
	submit(p.page, TPMIF_CMD_MAX + 1, TPMIF_SUBMIT, 0, 2);
	expect_check_refused(&ring, p.page, "beyond the TPM's 4096-byte buffer");
	free(p.buf);
}
END_TEST

START_TEST(check_refuses_command_shorter_than_tpm_header)
{
	struct pages p;
	struct tpmif_map ring;

	pages_make(&p, 0);
	ring = ring_of(&p);
	submit(p.page, 9, TPMIF_SUBMIT, 0, 0);
	expect_check_refused(&ring, p.page, "shorter than a TPM header");
	submit(p.page, 0, TPMIF_SUBMIT, 0, 0);
	expect_check_refused(&ring, p.page, "shorter");
	free(p.buf);
}
END_TEST

START_TEST(check_refuses_any_state_but_submit)
{
	static const uint8_t states[] = { TPMIF_IDLE, TPMIF_FINISH, TPMIF_CANCEL, 4, 0x7f, 0xff };
	struct pages p;
	struct tpmif_map ring;
	size_t i;

	pages_make(&p, 0);
	ring = ring_of(&p);
	for (i = 0; i < sizeof(states); i++) {
		submit(p.page, 12, states[i], 0, 0);
		expect_check_refused(&ring, p.page, "is not a submitted command");
	}
	free(p.buf);
}
END_TEST

START_TEST(check_refuses_locality_above_four)
{
	struct pages p;
	struct tpmif_map ring;
	struct tpmif_req r;

	pages_make(&p, 0);
	ring = ring_of(&p);
	submit(p.page, 12, TPMIF_SUBMIT, 4, 0);
	r = req_of(p.page);
	ck_assert_int_eq(tpmif_check_req(&ring, &r, NULL), 0);
	submit(p.page, 12, TPMIF_SUBMIT, 5, 0);
	expect_check_refused(&ring, p.page, "locality 5 does not exist");
	free(p.buf);
}
END_TEST

START_TEST(too_many_extra_pages_are_refused_before_any_ref_is_read)
{
	uint32_t refs[TPMIF_MAX_EXTRA_PAGES];
	struct mig_err e = { "", 0 };
	struct pages p;
	struct tpmif_map ring;
	struct tpmif_req r;

	pages_make(&p, 0);
	ring = ring_of(&p);
	submit(p.page, 12, TPMIF_SUBMIT, 0, TPMIF_MAX_EXTRA_PAGES + 1);
	r = req_of(p.page);
	ck_assert_int_eq(tpmif_extra_refs(p.page, &r, refs, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "names 5 extra pages"));
	expect_check_refused(&ring, p.page, "extra pages");
	submit(p.page, 12, TPMIF_SUBMIT, 0, 255);
	r = req_of(p.page);
	ck_assert_int_eq(tpmif_extra_refs(p.page, &r, refs, NULL), -1);
	free(p.buf);
}
END_TEST

START_TEST(response_longer_than_pages_is_capped_inside_them)
{
	static uint8_t big[3 * TPMIF_PAGE_SIZE];
	struct pages p;
	struct tpmif_map ring;
	struct tpmif_req r;

	memset(big, 0x5a, sizeof(big));
	pages_make(&p, 0);
	ring = ring_of(&p);
	submit(p.page, 12, TPMIF_SUBMIT, 0, 0);
	r = req_of(p.page);
	ck_assert_uint_eq(tpmif_put_rsp(&ring, &r, big, sizeof(big)), TPMIF_PAGE_SIZE - 8);
	ck_assert_uint_eq(req_of(p.page).length, TPMIF_PAGE_SIZE - 8);
	ck_assert_uint_eq(p.page[4], TPMIF_FINISH);
	ck_assert(guards_intact(&p));
	/* A request naming unmapped extra pages: answered in the primary page. */
	submit(p.page, 12, TPMIF_SUBMIT, 0, 200);
	r = req_of(p.page);
	ck_assert_uint_eq(tpmif_put_rsp(&ring, &r, big, sizeof(big)),
			  TPMIF_PAGE_SIZE - tpmif_data_offset(200));
	ck_assert(guards_intact(&p));
	free(p.buf);
}
END_TEST

START_TEST(unchecked_oversized_request_copies_nothing)
{
	uint8_t buf[TPMIF_CMD_MAX];
	struct pages p;
	struct tpmif_map ring;
	struct tpmif_req r;

	pages_make(&p, 0);
	ring = ring_of(&p);
	memset(buf, 0x33, sizeof(buf));
	memset(p.page + 8, 0x44, TPMIF_PAGE_SIZE - 8);
	submit(p.page, 0x10000, TPMIF_SUBMIT, 0, 0);
	r = req_of(p.page);
	tpmif_get_cmd(&ring, &r, buf);
	ck_assert_uint_eq(buf[0], 0x33);
	ck_assert_uint_eq(buf[sizeof(buf) - 1], 0x33);
	free(p.buf);
}
END_TEST

/* The 10-byte answer in out: tag, size, code. */
static void assert_refusal(const uint8_t *out, uint16_t tag, uint32_t rc)
{
	ck_assert_uint_eq(be16_get(out), tag);
	ck_assert_uint_eq(be32_get(out + 2), TPMIF_REFUSAL_LEN);
	ck_assert_uint_eq(be32_get(out + 6), rc);
}

/* A request whose data starts with tag. */
static struct tpmif_req req_with_tag(struct pages *p, uint16_t tag)
{
	memcpy(p->page + 8, getrandom8, sizeof(getrandom8));
	be16_put(p->page + 8, tag);
	submit(p->page, 12, TPMIF_SUBMIT, 0, 0);
	return req_of(p->page);
}

START_TEST(refusal_answers_in_the_command_family)
{
	static const uint16_t tpm12_tags[] = { 0x00c1, 0x00c2, 0x00c3 };
	uint8_t out[TPMIF_REFUSAL_LEN];
	struct pages p;
	struct tpmif_req r;
	unsigned int i;

	pages_make(&p, 0);
	r = req_with_tag(&p, 0x8001);
	tpmif_refusal(p.page, &r, TPMIF_REFUSE_FAILURE, out);
	assert_refusal(out, 0x8001, 0x101); /* TPM_ST_NO_SESSIONS, TPM_RC_FAILURE */
	r = req_with_tag(&p, 0x8002);
	tpmif_refusal(p.page, &r, TPMIF_REFUSE_FAILURE, out);
	assert_refusal(out, 0x8001, 0x101); /* an error answer has no sessions */
	for (i = 0; i < sizeof(tpm12_tags) / sizeof(tpm12_tags[0]); i++) {
		r = req_with_tag(&p, tpm12_tags[i]);
		tpmif_refusal(p.page, &r, TPMIF_REFUSE_FAILURE, out);
		assert_refusal(out, 0x00c4, 0x09); /* TPM_TAG_RSP_COMMAND, TPM_FAIL */
	}
	free(p.buf);
}
END_TEST

START_TEST(refused_locality_gets_the_locality_error_of_its_family)
{
	uint8_t out[TPMIF_REFUSAL_LEN];
	struct pages p;
	struct tpmif_req r;

	pages_make(&p, 0);
	r = req_with_tag(&p, 0x8001);
	tpmif_refusal(p.page, &r, TPMIF_REFUSE_LOCALITY, out);
	assert_refusal(out, 0x8001, 0x907); /* TPM_RC_LOCALITY */
	r = req_with_tag(&p, 0x8002);
	tpmif_refusal(p.page, &r, TPMIF_REFUSE_LOCALITY, out);
	assert_refusal(out, 0x8001, 0x907);
	r = req_with_tag(&p, 0x00c1);
	tpmif_refusal(p.page, &r, TPMIF_REFUSE_LOCALITY, out);
	assert_refusal(out, 0x00c4, 0x3d); /* TPM_BAD_LOCALITY */
	r = req_with_tag(&p, 0x00c2);
	tpmif_refusal(p.page, &r, TPMIF_REFUSE_LOCALITY, out);
	assert_refusal(out, 0x00c4, 0x3d);
	free(p.buf);
}
END_TEST

START_TEST(locality_lists_parse_to_a_mask)
{
	unsigned int mask = 0xdead;
	struct mig_err e = { "", 0 };

	ck_assert_int_eq(tpmif_parse_localities("0", &mask, &e), 0);
	ck_assert_uint_eq(mask, 0x1);
	ck_assert_int_eq(tpmif_parse_localities("0,1,2", &mask, &e), 0);
	ck_assert_uint_eq(mask, 0x7);
	ck_assert_int_eq(tpmif_parse_localities("4,0", &mask, &e), 0);
	ck_assert_uint_eq(mask, 0x11);
	ck_assert_int_eq(tpmif_parse_localities("0,1,2,3,4", &mask, &e), 0);
	ck_assert_uint_eq(mask, 0x1f);
}
END_TEST

START_TEST(locality_lists_that_are_not_lists_of_0_to_4_are_refused)
{
	static const char *const bad[] = { "", "5", "0,", ",0", "0,,1", "01", "0 1", "-1",
					   "0,9", "a", "0;1", "1,2,3,4,5" };
	unsigned int mask = 0x1, i;
	struct mig_err e = { "", 0 };

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(tpmif_parse_localities(bad[i], &mask, &e) == -1, "'%s' accepted", bad[i]);
		ck_assert_ptr_nonnull(strstr(e.msg, "expected a list of localities 0-4"));
		ck_assert_uint_eq(mask, 0x1); /* untouched */
	}
}
END_TEST

START_TEST(locality_policy_allows_only_its_localities)
{
	ck_assert(tpmif_locality_allowed(0x1, 0));
	ck_assert(!tpmif_locality_allowed(0x1, 1));
	ck_assert(!tpmif_locality_allowed(0x1, 3));
	ck_assert(tpmif_locality_allowed(0x3, 1));
	ck_assert(!tpmif_locality_allowed(0x3, 4));
	ck_assert(tpmif_locality_allowed(0x1f, 4));
	ck_assert(!tpmif_locality_allowed(0xffffffffu, 5)); /* no such locality */
	ck_assert(!tpmif_locality_allowed(0xffffffffu, 255));
}
END_TEST

START_TEST(cancel_answer_sets_idle)
{
	struct pages p;

	pages_make(&p, 0);
	submit(p.page, 12, TPMIF_CANCEL, 0, 0);
	tpmif_set_state(p.page, TPMIF_IDLE);
	ck_assert_uint_eq(p.page[4], TPMIF_IDLE);
	ck_assert_uint_eq(req_of(p.page).length, 12);
	free(p.buf);
}
END_TEST

/* ---- the limit on log lines a guest causes -------------------------------- */

/* Lines written out of n tried, one every step_ms from t; *t moves on. */
static unsigned long lines_written(struct ratelimit *r, int64_t *t, unsigned long n,
				   int64_t step_ms, unsigned long *reported)
{
	unsigned long written = 0, dropped, i;

	for (i = 0; i < n; i++, *t += step_ms) {
		if (ratelimit_allow(r, *t, &dropped)) {
			written++;
			*reported += dropped;
		}
	}
	return written;
}

START_TEST(log_limit_allows_a_burst_then_nothing_within_the_minute)
{
	struct ratelimit r = { 0 };
	unsigned long reported = 0;
	int64_t t = 1000;

	ck_assert_uint_eq(lines_written(&r, &t, 20000, 0, &reported), RATELIMIT_BURST);
	t += RATELIMIT_INTERVAL_MS - 1;
	ck_assert_uint_eq(lines_written(&r, &t, 1000, 0, &reported), 0);
	ck_assert_uint_eq(reported, 0);
	ck_assert_uint_eq(ratelimit_take_suppressed(&r), 20000 - RATELIMIT_BURST + 1000);
	ck_assert_uint_eq(ratelimit_take_suppressed(&r), 0);
}
END_TEST

START_TEST(log_limit_earns_one_line_a_minute_and_reports_the_gap)
{
	struct ratelimit r = { 0 };
	unsigned long reported = 0, dropped = 0;
	int64_t t = 0;

	lines_written(&r, &t, RATELIMIT_BURST + 500, 0, &reported);
	ck_assert_uint_eq(reported, 0);
	t = RATELIMIT_INTERVAL_MS;
	ck_assert_int_eq(ratelimit_allow(&r, t, &dropped), 1);
	ck_assert_uint_eq(dropped, 500); /* said once, before the next line */
	ck_assert_int_eq(ratelimit_allow(&r, t, &dropped), 0);
	ck_assert_int_eq(ratelimit_allow(&r, t + RATELIMIT_INTERVAL_MS, &dropped), 1);
	ck_assert_uint_eq(dropped, 1);
}
END_TEST

START_TEST(log_limit_refills_to_one_burst_however_long_the_quiet)
{
	struct ratelimit r = { 0 };
	unsigned long reported = 0;
	int64_t t = 0;

	lines_written(&r, &t, 100, 0, &reported);
	t += (int64_t)RATELIMIT_INTERVAL_MS * 60 * 24 * 30; /* a month */
	ck_assert_uint_eq(lines_written(&r, &t, 1000, 0, &reported), RATELIMIT_BURST);
	/* A clock that stands still or goes back earns nothing. */
	t -= 10 * RATELIMIT_INTERVAL_MS;
	ck_assert_uint_eq(lines_written(&r, &t, 10, 0, &reported), 0);
}
END_TEST

START_TEST(log_limit_keeps_three_days_of_a_hostile_guest_small)
{
	struct ratelimit r = { 0 };
	unsigned long reported = 0, written, tried = 3ul * 24 * 3600 * 20;
	int64_t t = 0;

	/* 20 lines a second for three days. */
	written = lines_written(&r, &t, tried, 50, &reported);
	ck_assert_uint_le(written, RATELIMIT_BURST + 3 * 24 * 60 + 1);
	ck_assert_uint_ge(written, 3 * 24 * 60);
	ck_assert_uint_eq(written + reported + ratelimit_take_suppressed(&r), tried);
}
END_TEST

Suite *tpmif_suite(void)
{
	Suite *s = suite_create("tpmif");
	TCase *t = tcase_create("framing");
	TCase *l = tcase_create("log limit");

	tcase_add_test(t, layout_matches_xen_public_header);
	tcase_add_test(t, read_req_copies_header_fields);
	tcase_add_test(t, command_in_primary_page_is_copied_and_response_finishes);
	tcase_add_test(t, command_spanning_extra_pages_is_copied_in_order);
	tcase_add_test(t, check_refuses_length_beyond_mapped_pages);
	tcase_add_test(t, check_refuses_length_beyond_tpm_buffer);
	tcase_add_test(t, check_refuses_command_shorter_than_tpm_header);
	tcase_add_test(t, check_refuses_any_state_but_submit);
	tcase_add_test(t, check_refuses_locality_above_four);
	tcase_add_test(t, too_many_extra_pages_are_refused_before_any_ref_is_read);
	tcase_add_test(t, response_longer_than_pages_is_capped_inside_them);
	tcase_add_test(t, unchecked_oversized_request_copies_nothing);
	tcase_add_test(t, refusal_answers_in_the_command_family);
	tcase_add_test(t, refused_locality_gets_the_locality_error_of_its_family);
	tcase_add_test(t, locality_lists_parse_to_a_mask);
	tcase_add_test(t, locality_lists_that_are_not_lists_of_0_to_4_are_refused);
	tcase_add_test(t, locality_policy_allows_only_its_localities);
	tcase_add_test(t, cancel_answer_sets_idle);
	suite_add_tcase(s, t);
	tcase_add_test(l, log_limit_allows_a_burst_then_nothing_within_the_minute);
	tcase_add_test(l, log_limit_earns_one_line_a_minute_and_reports_the_gap);
	tcase_add_test(l, log_limit_refills_to_one_burst_however_long_the_quiet);
	tcase_add_test(l, log_limit_keeps_three_days_of_a_hostile_guest_small);
	suite_add_tcase(s, l);
	return s;
}
