/*
 * The vTPM shared page as a hostile guest writes it: tpmif_read_req,
 * tpmif_extra_refs, tpmif_check_req, tpmif_get_cmd, tpmif_put_rsp and
 * tpmif_refusal. The input is the primary page, then how many extra pages
 * the back end mapped (one byte), then their contents. Each page is its own
 * exact-size allocation, so ASan sees any access outside it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tpmif.h"

static uint8_t *page_from(const uint8_t **data, size_t *size, size_t len)
{
	uint8_t *p = malloc(len);
	size_t n = *size < len ? *size : len;

	FUZZ_ASSERT(p);
	memset(p, 0, len);
	memcpy(p, *data, n);
	*data += n;
	*size -= n;
	return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t cmd[TPMIF_CMD_MAX], rsp[3 * TPMIF_PAGE_SIZE];
	uint32_t refs[TPMIF_MAX_EXTRA_PAGES];
	uint8_t refusal[TPMIF_REFUSAL_LEN];
	struct mig_err e = { "", 0 }, er = { "", 0 };
	struct tpmif_map map = { 0 };
	struct tpmif_req r, after;
	size_t cap, put, rsp_len;
	int ok;

	map.page = page_from(&data, &size, TPMIF_PAGE_SIZE);
	map.nr_extra = size ? data[0] % (TPMIF_MAX_EXTRA_PAGES + 1) : 0;
	if (size) {
		data++;
		size--;
	}
	if (map.nr_extra)
		map.extra = page_from(&data, &size, (size_t)map.nr_extra * TPMIF_PAGE_SIZE);

	tpmif_read_req(map.page, &r);
	cap = tpmif_capacity(&map, &r);
	FUZZ_ASSERT(cap >= TPMIF_PAGE_SIZE - tpmif_data_offset(255));
	FUZZ_ASSERT(cap <= TPMIF_PAGE_SIZE - TPMIF_HDR_LEN + map.nr_extra * TPMIF_PAGE_SIZE);

	if (tpmif_extra_refs(map.page, &r, refs, &er) != 0) {
		fuzz_check_refusal(&er);
		FUZZ_ASSERT(r.nr_extra > TPMIF_MAX_EXTRA_PAGES);
	}

	ok = tpmif_check_req(&map, &r, &e) == 0;
	if (ok) {
		FUZZ_ASSERT(r.state == TPMIF_SUBMIT);
		FUZZ_ASSERT(r.locality <= TPMIF_MAX_LOCALITY);
		FUZZ_ASSERT(r.length >= TPMIF_TPM_HDR_LEN && r.length <= TPMIF_CMD_MAX);
		FUZZ_ASSERT(r.length <= cap);
		tpmif_get_cmd(&map, &r, cmd);
		/* The command is the data area as it was, in order. */
		FUZZ_ASSERT(cmd[0] == map.page[tpmif_data_offset(r.nr_extra)]);
	} else {
		fuzz_check_refusal(&e);
		tpmif_get_cmd(&map, &r, cmd); /* must stay inside the pages */
	}

	/* Each refusal is a 10-byte TPM answer in the request's family. */
	tpmif_refusal(map.page, &r, TPMIF_REFUSE_FAILURE, refusal);
	FUZZ_ASSERT(refusal[5] == TPMIF_REFUSAL_LEN);
	FUZZ_ASSERT(refusal[9] == (refusal[0] == 0x80 ? 0x01 : 0x09));
	tpmif_refusal(map.page, &r, TPMIF_REFUSE_LOCALITY, refusal);
	FUZZ_ASSERT(refusal[5] == TPMIF_REFUSAL_LEN);
	FUZZ_ASSERT(refusal[9] == (refusal[0] == 0x80 ? 0x07 : 0x3d));

	/* Whatever swtpm answers, the response stays inside the pages. */
	rsp_len = size < sizeof(rsp) ? size : sizeof(rsp);
	memcpy(rsp, data, rsp_len);
	put = tpmif_put_rsp(&map, &r, rsp, rsp_len);
	FUZZ_ASSERT(put == (rsp_len < cap ? rsp_len : cap));
	tpmif_read_req(map.page, &after);
	FUZZ_ASSERT(after.state == TPMIF_FINISH);
	FUZZ_ASSERT(after.length == put);
	FUZZ_ASSERT(!put || !memcmp(map.page + tpmif_data_offset(r.nr_extra), rsp,
				   put < cap && put < TPMIF_PAGE_SIZE - tpmif_data_offset(r.nr_extra)
					   ? put : 1));

	free(map.extra);
	free(map.page);
	return 0;
}
