/* Small allocation and string helpers used everywhere.
 * Allocation failure is not a recoverable condition for a server that has
 * bounded every input: the x* functions abort with a log line instead of
 * making every caller handle NULL. */
#ifndef RAMPART_CORE_UTIL_H
#define RAMPART_CORE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <time.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
/* Grows *p (an array of *cap elements of size `size`) to hold at least
 * `need` elements, doubling. */
void xgrow(void **p, size_t *cap, size_t need, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Fatal error: logs and exits. For the impossible, not for bad input. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ASCII-only case-insensitive helpers (IMAP keywords are ASCII). */
bool ascii_ieq(const char *a, const char *b);
bool ascii_ieqn(const char *a, size_t alen, const char *b);
void ascii_upper(char *s);

/* Parses a decimal uint32/uint64 in s[0..len); no sign, no leading '+'.
 * Returns 0 on success, -1 on syntax error or overflow. */
int parse_u32(const char *s, size_t len, uint32_t *out);
int parse_u64(const char *s, size_t len, uint64_t *out);

/* getpid() without the system call after the first: the value is kept and
 * renewed in a fork()ed child (pthread_atfork). For the checks that
 * notice a fork on hot paths (the store's handle pool, its syncer). */
long proc_pid(void);

/* Names the calling thread (at most 15 bytes; more are cut), as `top -H`,
 * `ps -L` and perf show it. */
void thread_name(const char *name);

/* Sorted (ascending) uint32 arrays, such as UID lists: the first index in
 * v[lo..hi) whose value is >= x (hi: none; x is 64-bit so that a bound one
 * past UINT32_MAX can be asked), and whether v[0..n) holds x. */
size_t u32_lower_bound(const uint32_t *v, size_t lo, size_t hi, uint64_t x);
bool u32_sorted_has(const uint32_t *v, size_t n, uint32_t x);

/* Writes all of buf to fd, retrying on EINTR and short writes. */
int write_all(int fd, const void *buf, size_t len);

/* Replaces the file at path with buf[0..len), mode 0600: a temporary file
 * beside it, fsync, rename, fsync of the directory, so a crash leaves the
 * old or the new content, never a torn file. 0 or -1 (errno). */
int write_file_atomic(const char *path, const void *buf, size_t len);

/* How write_file_atomic_opts replaces a file. */
struct write_file_opts {
	unsigned mode;          /* of the new file; 0: 0600 */
	/* The new file gets the replaced file's owner and group where we
	 * may set them (root may give a file away; anyone else keeps their
	 * own, which is all they could have written). */
	bool keep_owner;
	/* Skip both fsyncs: the rename is still atomic for readers, but a
	 * crash may leave the old content (or, on some filesystems, an
	 * empty file). For records that are hints, written on a hot path. */
	bool not_durable;
};
/* write_file_atomic with options; opts NULL: the defaults above. The
 * temporary file has a unique name (mkostemp), so concurrent writers of
 * one path never share it; the last rename wins. */
int write_file_atomic_opts(const char *path, const void *buf, size_t len,
			   const struct write_file_opts *opts);

/* FNV-1a over n bytes: a fast, non-cryptographic hash for in-memory
 * tables. */
uint32_t hash_bytes(const void *p, size_t n);

/* Monotonic clock in milliseconds / microseconds. */
uint64_t now_ms(void);
uint64_t now_us(void);
/* A now_ms() deadline as the timespec of pthread_cond_timedwait() on a
 * condition variable that waits on CLOCK_MONOTONIC. */
struct timespec ms_timespec(uint64_t ms);

#endif
