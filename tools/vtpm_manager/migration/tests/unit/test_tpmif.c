/* The vTPM shared page: layout, request checks, command and response framing. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xen/xen.h>
#include <xen/io/tpmif.h>

#include "io.h"
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

START_TEST(refusal_answers_in_the_command_family)
{
	uint8_t out[TPMIF_REFUSAL_LEN];
	struct pages p;
	struct tpmif_req r;

	pages_make(&p, 0);
	memcpy(p.page + 8, getrandom8, sizeof(getrandom8));
	submit(p.page, 12, TPMIF_SUBMIT, 0, 0);
	r = req_of(p.page);
	tpmif_refusal(p.page, &r, out);
	ck_assert_uint_eq(be16_get(out), 0x8001);
	ck_assert_uint_eq(be32_get(out + 2), TPMIF_REFUSAL_LEN);
	ck_assert_uint_eq(be32_get(out + 6), 0x101);
	p.page[8] = 0x00;
	p.page[9] = 0xc1;
	tpmif_refusal(p.page, &r, out);
	ck_assert_uint_eq(be16_get(out), 0x00c4);
	ck_assert_uint_eq(be32_get(out + 6), 0x09);
	free(p.buf);
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

Suite *tpmif_suite(void)
{
	Suite *s = suite_create("tpmif");
	TCase *t = tcase_create("framing");

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
	tcase_add_test(t, cancel_answer_sets_idle);
	suite_add_tcase(s, t);
	return s;
}
