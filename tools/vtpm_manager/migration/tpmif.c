/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Framing of the vTPM shared page (layout in tpmif.h). Every length used to
 * touch the pages comes from the request's private copy and is bounded by
 * what is mapped, so a guest that rewrites the page mid-request can garble
 * its own command but never move a read or write outside the pages.
 */
#include <string.h>

#include "io.h"
#include "tpmif.h"

#define TPM2_ST_NO_SESSIONS 0x8001u
#define TPM2_ST_SESSIONS    0x8002u
#define TPM2_RC_FAILURE     0x101u
#define TPM2_RC_LOCALITY    0x907u
#define TPM12_TAG_RSP       0x00c4u
#define TPM12_FAIL          0x09u
#define TPM12_BAD_LOCALITY  0x3du

/* volatile: one load per byte, never re-read behind the copy's back. */
static uint8_t peek8(const uint8_t *p)
{
	return *(const volatile uint8_t *)p;
}

static void poke8(uint8_t *p, uint8_t v)
{
	*(volatile uint8_t *)p = v;
}

/* Native byte order: both ends run on the same machine. */
static uint32_t peek32(const uint8_t *p)
{
	uint8_t b[4];
	uint32_t v;
	int i;

	for (i = 0; i < 4; i++)
		b[i] = peek8(p + i);
	memcpy(&v, b, sizeof(v));
	return v;
}

static void poke32(uint8_t *p, uint32_t v)
{
	uint8_t b[4];
	int i;

	memcpy(b, &v, sizeof(v));
	for (i = 0; i < 4; i++)
		poke8(p + i, b[i]);
}

void tpmif_read_req(const uint8_t *page, struct tpmif_req *r)
{
	r->length = peek32(page + TPMIF_OFF_LENGTH);
	r->state = peek8(page + TPMIF_OFF_STATE);
	r->locality = peek8(page + TPMIF_OFF_LOCALITY);
	r->nr_extra = peek8(page + TPMIF_OFF_NR_EXTRA);
}

size_t tpmif_data_offset(unsigned int nr_extra)
{
	return TPMIF_HDR_LEN + 4u * (size_t)nr_extra;
}

size_t tpmif_capacity(const struct tpmif_map *ring, const struct tpmif_req *r)
{
	size_t pages = r->nr_extra < ring->nr_extra ? r->nr_extra : ring->nr_extra;

	if (!ring->extra)
		pages = 0;
	/* nr_extra is a byte: the offset is at most 1028, inside the page. */
	return TPMIF_PAGE_SIZE - tpmif_data_offset(r->nr_extra) + pages * TPMIF_PAGE_SIZE;
}

int tpmif_extra_refs(const uint8_t *page, const struct tpmif_req *r,
		     uint32_t refs[TPMIF_MAX_EXTRA_PAGES], struct mig_err *e)
{
	unsigned int i;

	if (r->nr_extra > TPMIF_MAX_EXTRA_PAGES)
		return mig_fail(e, "request names %u extra pages; at most %u are mapped",
			       r->nr_extra, TPMIF_MAX_EXTRA_PAGES);
	for (i = 0; i < r->nr_extra; i++)
		refs[i] = peek32(page + TPMIF_HDR_LEN + 4 * i);
	return 0;
}

int tpmif_check_req(const struct tpmif_map *ring, const struct tpmif_req *r,
		    struct mig_err *e)
{
	size_t cap;

	if (r->state != TPMIF_SUBMIT)
		return mig_fail(e, "page state %u is not a submitted command", r->state);
	if (r->locality > TPMIF_MAX_LOCALITY)
		return mig_fail(e, "locality %u does not exist (0-%u)", r->locality,
			       TPMIF_MAX_LOCALITY);
	if (r->nr_extra > TPMIF_MAX_EXTRA_PAGES)
		return mig_fail(e, "request names %u extra pages; at most %u are mapped",
			       r->nr_extra, TPMIF_MAX_EXTRA_PAGES);
	if (r->length < TPMIF_TPM_HDR_LEN)
		return mig_fail(e, "command of %u bytes is shorter than a TPM header", r->length);
	cap = tpmif_capacity(ring, r);
	if (r->length > cap)
		return mig_fail(e, "command length %u is beyond the %zu bytes of the shared pages",
			       r->length, cap);
	if (r->length > TPMIF_CMD_MAX)
		return mig_fail(e, "command length %u is beyond the TPM's %u-byte buffer",
			       r->length, TPMIF_CMD_MAX);
	return 0;
}

/* The bytes of data from position pos on that lie in one page: their
 * address, and in *run how many. pos must be below the ring's capacity. */
static uint8_t *data_run(const struct tpmif_map *ring, size_t off, size_t pos, size_t *run)
{
	size_t first = TPMIF_PAGE_SIZE - off;

	if (pos < first) {
		*run = first - pos;
		return ring->page + off + pos;
	}
	pos -= first;
	*run = TPMIF_PAGE_SIZE - pos % TPMIF_PAGE_SIZE;
	return ring->extra + pos;
}

void tpmif_get_cmd(const struct tpmif_map *ring, const struct tpmif_req *r, uint8_t *buf)
{
	size_t off = tpmif_data_offset(r->nr_extra), pos = 0, run, i;
	size_t len = r->length;
	const uint8_t *src;

	if (len > TPMIF_CMD_MAX || len > tpmif_capacity(ring, r))
		return; /* unchecked request: touch nothing */
	while (pos < len) {
		src = data_run(ring, off, pos, &run);
		if (run > len - pos)
			run = len - pos;
		for (i = 0; i < run; i++)
			buf[pos + i] = peek8(src + i);
		pos += run;
	}
}

size_t tpmif_put_rsp(struct tpmif_map *ring, const struct tpmif_req *r, const uint8_t *rsp,
		     size_t len)
{
	size_t off = tpmif_data_offset(r->nr_extra), cap = tpmif_capacity(ring, r);
	size_t pos = 0, run;
	uint8_t *dst;

	if (len > cap)
		len = cap;
	while (pos < len) {
		dst = data_run(ring, off, pos, &run);
		if (run > len - pos)
			run = len - pos;
		memcpy(dst, rsp + pos, run);
		pos += run;
	}
	poke32(ring->page + TPMIF_OFF_LENGTH, (uint32_t)len);
	/* The frontend reads the data once it sees finish: data first. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	poke8(ring->page + TPMIF_OFF_STATE, TPMIF_FINISH);
	return len;
}

void tpmif_set_state(uint8_t *page, enum tpmif_page_state s)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	poke8(page + TPMIF_OFF_STATE, (uint8_t)s);
}

void tpmif_refusal(const uint8_t *page, const struct tpmif_req *r, enum tpmif_refusal why,
		   uint8_t out[TPMIF_REFUSAL_LEN])
{
	const uint8_t *data = page + tpmif_data_offset(r->nr_extra);
	uint16_t tag = (uint16_t)(peek8(data) << 8 | peek8(data + 1));
	int tpm2 = tag == TPM2_ST_NO_SESSIONS || tag == TPM2_ST_SESSIONS;
	uint32_t rc;

	if (why == TPMIF_REFUSE_LOCALITY)
		rc = tpm2 ? TPM2_RC_LOCALITY : TPM12_BAD_LOCALITY;
	else
		rc = tpm2 ? TPM2_RC_FAILURE : TPM12_FAIL;
	be16_put(out, tpm2 ? TPM2_ST_NO_SESSIONS : TPM12_TAG_RSP);
	be32_put(out + 2, TPMIF_REFUSAL_LEN);
	be32_put(out + 6, rc);
}

int tpmif_parse_localities(const char *list, unsigned int *mask, struct mig_err *e)
{
	const char *p = list;
	unsigned int m = 0;

	/* digit (',' digit)*, each digit a locality */
	while (*p >= '0' && *p <= (char)('0' + TPMIF_MAX_LOCALITY)) {
		m |= 1u << (*p++ - '0');
		if (!*p) {
			*mask = m;
			return 0;
		}
		if (*p++ != ',')
			break;
	}
	return mig_fail(e, "localities '%s': expected a list of localities 0-%u such as 0,1", list,
		       TPMIF_MAX_LOCALITY);
}

int tpmif_locality_allowed(unsigned int mask, uint8_t loc)
{
	return loc <= TPMIF_MAX_LOCALITY && (mask >> loc & 1u);
}
