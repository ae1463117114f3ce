/*
 * tpm_guest: what the check-xen guest does with its TPM, through its own
 * TPM device (xen-tpmfront → vtpm_backend → swtpm in dom0), with raw TPM 2.0
 * commands. Built static on the host and put into the guest's initrd.
 *
 *   tpm_guest /dev/tpmN
 *
 * On a TPM it has not seen: defines NV index 0x01500017 (8 bytes, owner
 * read/write) and writes "guestnv1" into it. On one that already has it
 * (the same TPM after save/restore or migration) it writes nothing. Then it
 * reads PCR 12 and the NV data, extends PCR 12 and reads it again. Prints
 *   @@G tpmN nv=new|existing read pcr12=HEX nv=HEX
 *   @@G tpmN extended pcr12=HEX
 * or "@@G tpmN fail WHAT" and exits 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NV_INDEX 0x01500017u
#define NV_DATA "guestnv1"
#define NV_LEN 8
#define RC_NV_DEFINED 0x14cu

static const char *dev, *name;
static uint8_t rsp[4096];

static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int fail(const char *what)
{
	printf("@@G %s fail %s%s%s\n", name, what, errno ? ": " : "", errno ? strerror(errno) : "");
	return 1;
}

/* One command; the response's rc, or -1 if the device gave none. */
static long call(uint8_t *cmd, size_t len, size_t *rlen)
{
	ssize_t n;
	int fd = open(dev, O_RDWR);

	if (fd < 0)
		return -1;
	put32(cmd + 2, (uint32_t)len);
	errno = 0;
	if (write(fd, cmd, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	n = read(fd, rsp, sizeof(rsp));
	close(fd);
	if (n < 10)
		return -1;
	*rlen = (size_t)n;
	return (long)get32(rsp + 6);
}

/* tag 8002 (sessions), code, auth handle, [nv index], the empty password. */
static size_t with_password(uint8_t *c, uint32_t code, uint32_t h1, uint32_t h2)
{
	static const uint8_t pw[13] = { 0, 0, 0, 9, 0x40, 0, 0, 9, 0, 0, 0, 0, 0 };
	size_t n = 10;

	put16(c, 0x8002);
	put32(c + 6, code);
	put32(c + n, h1);
	n += 4;
	if (h2) {
		put32(c + n, h2);
		n += 4;
	}
	memcpy(c + n, pw, sizeof(pw));
	return n + sizeof(pw);
}

static long nv_define(void)
{
	uint8_t c[64];
	size_t n = with_password(c, 0x12a, 0x40000001, 0), r;

	put16(c + n, 0); /* auth */
	put16(c + n + 2, 14);
	put32(c + n + 4, NV_INDEX);
	put16(c + n + 8, 0x000b);     /* sha256 */
	put32(c + n + 10, 0x00020002); /* ownerread | ownerwrite */
	put16(c + n + 14, 0);          /* no policy */
	put16(c + n + 16, NV_LEN);
	return call(c, n + 18, &r);
}

static long nv_write(void)
{
	uint8_t c[64];
	size_t n = with_password(c, 0x137, 0x40000001, NV_INDEX), r;

	put16(c + n, NV_LEN);
	memcpy(c + n + 2, NV_DATA, NV_LEN);
	put16(c + n + 2 + NV_LEN, 0);
	return call(c, n + 4 + NV_LEN, &r);
}

static int nv_read(char *hex)
{
	uint8_t c[64];
	size_t n = with_password(c, 0x14e, 0x40000001, NV_INDEX), r, i;

	put16(c + n, NV_LEN);
	put16(c + n + 2, 0);
	/* header 10, parameter size 4, then TPM2B: size 2 and the data */
	if (call(c, n + 4, &r) != 0 || r < 16 + NV_LEN)
		return -1;
	for (i = 0; i < NV_LEN; i++)
		sprintf(hex + 2 * i, "%02x", rsp[16 + i]);
	return 0;
}

static int pcr_read(char *hex)
{
	uint8_t c[20] = { 0x80, 0x01, 0, 0, 0, 0, 0, 0, 0x01, 0x7e,
			  0, 0, 0, 1, 0, 0x0b, 3, 0, 0x10, 0 }; /* sha256: PCR 12 */
	size_t r, i;

	if (call(c, sizeof(c), &r) != 0 || r < 10 + 2 + 32)
		return -1;
	for (i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", rsp[r - 32 + i]);
	return 0;
}

static long pcr_extend(void)
{
	uint8_t c[96];
	size_t n = with_password(c, 0x182, 12, 0), r;
	int i;

	put32(c + n, 1);
	put16(c + n + 4, 0x000b);
	for (i = 0; i < 32; i++)
		c[n + 6 + i] = (uint8_t)(0xa0 + i);
	return call(c, n + 38, &r);
}

int main(int argc, char **argv)
{
	char pcr[65], nv[2 * NV_LEN + 1];
	const char *fresh = "existing";
	long rc;

	if (argc != 2)
		return 2;
	dev = argv[1];
	name = strrchr(dev, '/') ? strrchr(dev, '/') + 1 : dev;
	rc = nv_define();
	if (rc == 0) {
		fresh = "new";
		if (nv_write() != 0)
			return fail("NV write");
	} else if ((rc & 0xfff) != RC_NV_DEFINED) {
		printf("@@G %s fail NV define rc=0x%lx\n", name, rc);
		return 1;
	}
	if (pcr_read(pcr) || nv_read(nv))
		return fail("read");
	printf("@@G %s nv=%s read pcr12=%s nv=%s\n", name, fresh, pcr, nv);
	fflush(stdout);
	if (pcr_extend() != 0 || pcr_read(pcr))
		return fail("extend");
	printf("@@G %s extended pcr12=%s\n", name, pcr);
	return 0;
}
