/* A peer's public key file, as `trust` and peers_load read it. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "hostkey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct host_pub p, q;
	struct mig_err e = { "", 0 };
	uint8_t id[VREC_KEYID_LEN];
	char text[512];
	int n;

	if (pubkey_parse((const char *)data, size, &p, &e)) {
		fuzz_check_refusal(&e);
		return 0;
	}
	FUZZ_ASSERT(memchr(p.name, '\0', sizeof(p.name)));
	FUZZ_ASSERT(host_name_valid(p.name));
	hostkey_id(p.ed_pub, p.x_pub, id);
	FUZZ_ASSERT(!memcmp(id, p.id, sizeof(id)));
	/* What was accepted is written back in a form that parses the same. */
	n = pubkey_format(&p, text, sizeof(text));
	FUZZ_ASSERT(n > 0 && (size_t)n < sizeof(text));
	FUZZ_ASSERT(pubkey_parse(text, (size_t)n, &q, &e) == 0);
	FUZZ_ASSERT(!memcmp(&p, &q, sizeof(p)));
	/* Parsed strictly: the input was that text, but for the case of hex digits. */
	FUZZ_ASSERT((size_t)n == size && same_ignoring_case(text, (const char *)data, size));
	return 0;
}
