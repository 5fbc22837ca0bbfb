/* Binary search of a Have I Been Pwned "ordered by hash" file (breach.h).
 *
 * The search works on byte offsets, not line numbers (lines differ in
 * length): it keeps [lo, hi) such that the line we look for, if listed,
 * starts in it. The probe is the first line starting at or after the
 * middle; a digest below it narrows to [lo, mid) (no line starts between
 * mid and the probe), above it to (probe, hi). Each probe is two short
 * preads, so the 30-40 GB list costs about 70 small reads and no memory. */
#include "auth/breach.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BREACH_HEX 40
/* "HEX40:COUNT\r\n" is 44..64 bytes; a longer line means a wrong file. */
#define BREACH_LINE_MAX 128

static unsigned long breach_read_count;

unsigned long breach_reads(void)
{
	return __atomic_load_n(&breach_read_count, __ATOMIC_RELAXED);
}

static ssize_t breach_pread(int fd, char *buf, size_t len, off_t off)
{
	__atomic_fetch_add(&breach_read_count, 1, __ATOMIC_RELAXED);
	for (;;) {
		ssize_t r = pread(fd, buf, len, off);
		if (r < 0 && errno == EINTR)
			continue;
		return r;
	}
}

/* The offset of the first line starting at or after off (size when none). */
static int breach_line_start(int fd, off_t off, off_t size, off_t *start)
{
	if (off == 0) {
		*start = 0;
		return 0;
	}
	char buf[BREACH_LINE_MAX];
	ssize_t r = breach_pread(fd, buf, sizeof(buf), off - 1);
	if (r < 0)
		return -1;
	const char *nl = memchr(buf, '\n', (size_t)r);
	if (!nl) {
		if (off - 1 + r >= size) {
			*start = size;
			return 0;
		}
		errno = EINVAL;
		return -1;
	}
	*start = off - 1 + (nl - buf) + 1;
	return 0;
}

/* Compares want (upper-case hex) with the line at start; sets *count
 * on equality. -2 on a malformed line. */
static int breach_line_cmp(int fd, off_t start, const char *want, uint64_t *count)
{
	char buf[BREACH_LINE_MAX + 1];
	ssize_t r = breach_pread(fd, buf, BREACH_LINE_MAX, start);
	if (r < BREACH_HEX)
		return -2;
	buf[r] = '\0';
	char hex[BREACH_HEX];
	for (int i = 0; i < BREACH_HEX; i++) {
		char c = buf[i];
		if (c >= 'a' && c <= 'f')
			c = (char)(c - 'a' + 'A');
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
			return -2;
		hex[i] = c;
	}
	int c = memcmp(want, hex, BREACH_HEX);
	if (c == 0 && count) {
		*count = 0;
		if (r > BREACH_HEX && buf[BREACH_HEX] == ':') {
			size_t n = strspn(buf + BREACH_HEX + 1, "0123456789");
			if (n)
				(void)parse_u64(buf + BREACH_HEX + 1, n, count);
		}
	}
	return c < 0 ? -1 : c > 0;
}

int breach_file_lookup(const char *path, const char *password, uint64_t *count)
{
	unsigned char dig[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	if (!path || !password ||
	    EVP_Digest(password, strlen(password), dig, &dlen, EVP_sha1(), NULL) != 1 || dlen != 20) {
		errno = EINVAL;
		return -1;
	}
	char want[BREACH_HEX + 1];
	sodium_bin2hex(want, sizeof(want), dig, 20);
	sodium_memzero(dig, sizeof(dig));
	for (int i = 0; i < BREACH_HEX; i++)
		if (want[i] >= 'a' && want[i] <= 'f')
			want[i] = (char)(want[i] - 'a' + 'A');

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = -1;
	struct stat st;
	if (fstat(fd, &st) < 0)
		goto out;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto out;
	}
	off_t lo = 0, hi = st.st_size;
	/* Each round shrinks [lo, hi); 128 rounds cover any file size. */
	for (int round = 0; lo < hi && round < 128; round++) {
		off_t mid = lo + (hi - lo) / 2, start;
		if (breach_line_start(fd, mid, st.st_size, &start) < 0)
			goto out;
		if (start >= hi) {
			hi = mid;
			continue;
		}
		int c = breach_line_cmp(fd, start, want, count);
		if (c == -2) {
			errno = EINVAL;
			goto out;
		}
		if (c == 0) {
			rc = 1;
			goto out;
		}
		if (c < 0)
			hi = mid;
		else
			lo = start + 1;
	}
	rc = 0;
out:;
	int e = errno;
	close(fd);
	sodium_memzero(want, sizeof(want));
	errno = e;
	return rc;
}
