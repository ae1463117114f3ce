/*
 * record_damage DIR RECORD: with the host key and peers of DIR, check that the
 * untouched RECORD opens, then that a flipped bit at every byte offset and a
 * truncation at every length are each refused by vrec_open (in-process: a
 * real 10 KB record has too many offsets for one process per case).
 * Prints the counts; exit 0 only if every damaged copy was refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostkey.h"
#include "seal.h"

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int opens(const struct host_key *me, const struct peer_set *p, const uint8_t *rec,
		 size_t len)
{
	struct vrec_header h;
	struct swtpm_state st;
	struct mig_err e;

	if (vrec_open(me, p, rec, len, &h, &st, &e))
		return 0;
	swtpm_state_clear(&st);
	return 1;
}

int main(int argc, char **argv)
{
	struct host_key me;
	struct peer_set peers;
	struct mig_err e;
	size_t len, i, accepted = 0;
	uint8_t *rec;

	if (argc != 3) {
		fprintf(stderr, "usage: record_damage DIR RECORD\n");
		return 2;
	}
	rec = slurp(argv[2], &len);
	if (!rec || hostkey_load(argv[1], &me, &e) || peers_load(argv[1], &peers, &e)) {
		fprintf(stderr, "record_damage: cannot load %s or the keys of %s\n", argv[2], argv[1]);
		return 1;
	}
	if (!opens(&me, &peers, rec, len)) {
		fprintf(stderr, "record_damage: the undamaged record does not open\n");
		return 1;
	}
	for (i = 0; i < len; i++) {
		rec[i] ^= (uint8_t)(1u << (i % 8));
		if (opens(&me, &peers, rec, len)) {
			fprintf(stderr, "record_damage: flip at byte %zu accepted\n", i);
			accepted++;
		}
		rec[i] ^= (uint8_t)(1u << (i % 8));
	}
	for (i = 0; i < len; i++) {
		if (opens(&me, &peers, rec, i)) {
			fprintf(stderr, "record_damage: truncation to %zu bytes accepted\n", i);
			accepted++;
		}
	}
	printf("%zu flips and %zu truncations of a %zu-byte record: %zu accepted\n", len, len, len,
	       accepted);
	hostkey_wipe(&me);
	peers_free(&peers);
	free(rec);
	return accepted ? 1 : 0;
}
