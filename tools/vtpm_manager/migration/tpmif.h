/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The shared page of Xen's vTPM protocol v2 (public header io/tpmif.h,
 * struct tpmif_shared_page / Linux's struct vtpm_shared_page), as the back
 * end reads and writes it. Pure: no I/O, no mapping; the caller hands in the
 * pages it mapped, so unit tests and the fuzzer drive it directly.
 *
 * Layout of the primary page (guest byte order, which is dom0's):
 *   0  u32 length          request/response length in bytes
 *   4  u8  state           idle 0, submit 1, finish 2, cancel 3
 *   5  u8  locality        of the current request
 *   6  u8  pad
 *   7  u8  nr_extra_pages
 *   8  u32 extra_pages[nr_extra_pages]   grant refs
 *   8 + 4 * nr_extra_pages  packet data, continued in the extra pages as if
 *                           they were mapped right after the primary page.
 * (The header's own comment says the data starts at 16 + 4n; the structure
 * and every frontend, Linux's xen-tpmfront included, use its size, 8.)
 *
 * The guest can change every byte at any time. Each request's header is
 * read once into a struct tpmif_req and only that copy is trusted.
 */
#ifndef VTPM_MIG_TPMIF_H
#define VTPM_MIG_TPMIF_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define TPMIF_PAGE_SIZE 4096u
#define TPMIF_HDR_LEN   8u
#define TPMIF_OFF_LENGTH 0
#define TPMIF_OFF_STATE 4
#define TPMIF_OFF_LOCALITY 5
#define TPMIF_OFF_NR_EXTRA 7

/* More than swtpm could ever use (its largest command is TPMIF_CMD_MAX);
 * anything above is refused before a single grant is mapped. */
#define TPMIF_MAX_EXTRA_PAGES 4u
/* swtpm's input buffer: the largest TPM command it takes. */
#define TPMIF_CMD_MAX 4096u
/* A TPM packet begins with tag (2), size (4), code (4). */
#define TPMIF_TPM_HDR_LEN 10u
#define TPMIF_MAX_LOCALITY 4u
#define TPMIF_REFUSAL_LEN 10u

enum tpmif_page_state {
	TPMIF_IDLE = 0,
	TPMIF_SUBMIT = 1,
	TPMIF_FINISH = 2,
	TPMIF_CANCEL = 3,
};

/* One request's header, copied out of the shared page once. */
struct tpmif_req {
	uint32_t length;
	uint8_t state;
	uint8_t locality;
	uint8_t nr_extra;
};

/* The pages the back end mapped for one request. */
struct tpmif_map {
	uint8_t *page;         /* the primary shared page */
	uint8_t *extra;        /* nr_extra pages, contiguous; NULL if none */
	unsigned int nr_extra; /* how many pages are mapped at extra */
};

/* Copy the header of the primary page (each field read once). */
void tpmif_read_req(const uint8_t *page, struct tpmif_req *r);

/* Where the packet data starts for a request naming nr_extra pages. */
size_t tpmif_data_offset(unsigned int nr_extra);

/* Bytes of packet data the mapped ring holds for request r: the rest of the
 * primary page and those of r's extra pages that are mapped. */
size_t tpmif_capacity(const struct tpmif_map *ring, const struct tpmif_req *r);

/* The grant refs of r's extra pages; refused if r names too many. */
int tpmif_extra_refs(const uint8_t *page, const struct tpmif_req *r,
		     uint32_t refs[TPMIF_MAX_EXTRA_PAGES], struct mig_err *e) MIG_MUST;

/* Is r a command the back end may pass on? Refused (with the reason) if it
 * is not submitted, names a locality or more extra pages than allowed, or
 * its length is shorter than a TPM header or beyond what the mapped ring
 * holds or swtpm takes. */
int tpmif_check_req(const struct tpmif_map *ring, const struct tpmif_req *r,
		    struct mig_err *e) MIG_MUST;

/* Copy r's command (checked by tpmif_check_req) into buf, which holds
 * TPMIF_CMD_MAX bytes; the length is r->length. */
void tpmif_get_cmd(const struct tpmif_map *ring, const struct tpmif_req *r, uint8_t *buf);

/* Write a response for r: the data, then length (capped at what the ring
 * holds), a write barrier, then state finish. Returns the length written. */
size_t tpmif_put_rsp(struct tpmif_map *ring, const struct tpmif_req *r, const uint8_t *rsp,
		     size_t len);

/* Set the page state alone (idle after a cancel). */
void tpmif_set_state(uint8_t *page, enum tpmif_page_state s);

/* Why a request is refused, which decides the TPM error it gets. */
enum tpmif_refusal {
	TPMIF_REFUSE_FAILURE,  /* TPM_RC_FAILURE (2.0), TPM_FAIL (1.2) */
	TPMIF_REFUSE_LOCALITY, /* TPM_RC_LOCALITY (2.0), TPM_BAD_LOCALITY (1.2) */
};

/* The TPM error response that refuses request r, in the family of the tag
 * at the start of its data (always inside the primary page): a TPM 2.0
 * answer (tag TPM_ST_NO_SESSIONS) to a TPM 2.0 tag (0x8001, 0x8002), else a
 * TPM 1.2 answer (tag TPM_TAG_RSP_COMMAND, as a TPM 1.2 answers any error). */
void tpmif_refusal(const uint8_t *page, const struct tpmif_req *r, enum tpmif_refusal why,
		   uint8_t out[TPMIF_REFUSAL_LEN]);

/* A locality policy: the localities a guest may use, as a bit mask (bit n:
 * locality n), from a list such as "0" or "0,1,2" (each 0-4). */
int tpmif_parse_localities(const char *list, unsigned int *mask, struct mig_err *e) MIG_MUST;
/* May a command run at locality loc under the policy mask? */
int tpmif_locality_allowed(unsigned int mask, uint8_t loc);

#endif
