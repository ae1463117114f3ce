/* SPDX-License-Identifier: BSD-3-Clause */
/* Whole reads and writes on a file descriptor, with an optional deadline. */
#ifndef VTPM_MIG_IO_H
#define VTPM_MIG_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "err.h"

/* timeout_ms < 0 waits as long as it takes; `what` names the peer in the
 * message. A short read fails with MIG_E_EOF, an expired one MIG_E_TIMEOUT. */
int io_read_full(int fd, void *buf, size_t len, int timeout_ms, const char *what,
		 struct mig_err *e) MIG_MUST;
int io_write_full(int fd, const void *buf, size_t len, int timeout_ms, const char *what,
		  struct mig_err *e) MIG_MUST;

/* Big-endian integers in a byte buffer. */
static inline uint32_t be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void be32_put(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}
static inline uint16_t be16_get(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline void be16_put(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static inline uint64_t be64_get(const uint8_t *p)
{
	return (uint64_t)be32_get(p) << 32 | be32_get(p + 4);
}
static inline void be64_put(uint8_t *p, uint64_t v)
{
	be32_put(p, v >> 32);
	be32_put(p + 4, (uint32_t)v);
}

/* Up to cap - 1 bytes of a small file (not through a symlink) into buf,
 * NUL-terminated even when it cannot be read: how many, or -1 with errno. */
ssize_t io_read_file(const char *path, char *buf, size_t cap);

int64_t io_now_ms(void);
/* Milliseconds left until deadline (< 0: none, and so is the result). */
int io_left_ms(int64_t deadline);

#endif
