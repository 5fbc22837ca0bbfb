#include "core/util.h"
#include "core/log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void oom(size_t n)
{
	fatal("out of memory allocating %zu bytes", n);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom(n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

void xgrow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return;
	size_t ncap = *cap ? *cap : 8;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2 / size)
			oom(SIZE_MAX);
		ncap *= 2;
	}
	*p = xrealloc(*p, ncap * size);
	*cap = ncap;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *out = NULL;
	int r = vasprintf(&out, fmt, ap);
	va_end(ap);
	if (r < 0)
		oom(0);
	return out;
}

void fatal(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_msg(LOG_LVL_ERR, "event=fatal msg=\"%s\"", buf);
	abort();
}

bool ascii_ieq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return false;
	return *a == *b;
}

bool ascii_ieqn(const char *a, size_t alen, const char *b)
{
	size_t i;
	for (i = 0; i < alen && b[i]; i++)
		if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
			return false;
	return i == alen && b[i] == '\0';
}

void ascii_upper(char *s)
{
	for (; *s; s++)
		*s = (char)toupper((unsigned char)*s);
}

int parse_u64(const char *s, size_t len, uint64_t *out)
{
	if (len == 0 || len > 20)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int parse_u32(const char *s, size_t len, uint32_t *out)
{
	uint64_t v;
	if (parse_u64(s, len, &v) < 0 || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int write_file_atomic(const char *path, const void *buf, size_t len)
{
	return write_file_atomic_opts(path, buf, len, NULL);
}

/* The directory part of path ("." when none, "/" for the root). */
static char *write_file_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

int write_file_atomic_opts(const char *path, const void *buf, size_t len,
			   const struct write_file_opts *opts)
{
	static const struct write_file_opts defaults = { 0 };
	const struct write_file_opts *o = opts ? opts : &defaults;
	char *dir = write_file_dir(path);
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	/* A dot name: directory listings and globs skip a half-written file. */
	char *tmp = xasprintf("%s/.%s.XXXXXX", dir, base);
	int rc = -1, e = 0;
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		goto out;
	}
	struct stat orig;
	bool have_orig = o->keep_owner && stat(path, &orig) == 0;
	if (fchmod(fd, o->mode ? o->mode : 0600) < 0)
		goto fail;
	if (have_orig && (orig.st_uid != geteuid() || orig.st_gid != getegid()) &&
	    fchown(fd, orig.st_uid, orig.st_gid) < 0 && errno != EPERM)
		goto fail;
	if (write_all(fd, buf, len) < 0 || (!o->not_durable && fsync(fd) < 0))
		goto fail;
	int c = close(fd);
	fd = -1;
	if (c < 0 || rename(tmp, path) < 0)
		goto fail;
	/* The rename is durable once the directory is. */
	if (!o->not_durable) {
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 || fsync(dfd) < 0) {
			e = errno;
			if (dfd >= 0)
				close(dfd);
			goto out;
		}
		close(dfd);
	}
	rc = 0;
	goto out;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
out:
	free(tmp);
	free(dir);
	if (rc < 0)
		errno = e;
	return rc;
}

uint64_t now_ms(void)
{
	return now_us() / 1000;
}

struct timespec ms_timespec(uint64_t ms)
{
	return (struct timespec){ .tv_sec = (time_t)(ms / 1000),
				  .tv_nsec = (long)(ms % 1000) * 1000000L };
}

uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint32_t hash_bytes(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

size_t u32_lower_bound(const uint32_t *v, size_t lo, size_t hi, uint64_t x)
{
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool u32_sorted_has(const uint32_t *v, size_t n, uint32_t x)
{
	size_t i = u32_lower_bound(v, 0, n, x);
	return i < n && v[i] == x;
}

/* proc_pid: system calls cost ~1 us on the benchmark machine's virtual
 * CPU, and the store asked getpid() 4-9 times per APPEND (issue #14). */
static atomic_long g_pid;

static void pid_renew(void)
{
	atomic_store(&g_pid, (long)getpid());
}

static void pid_init_once(void)
{
	pthread_atfork(NULL, NULL, pid_renew);
	pid_renew();
}

long proc_pid(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	long p = atomic_load_explicit(&g_pid, memory_order_relaxed);
	if (p)
		return p;
	pthread_once(&once, pid_init_once);
	return atomic_load(&g_pid);
}

void thread_name(const char *name)
{
	char buf[16];
	snprintf(buf, sizeof(buf), "%s", name);
	pthread_setname_np(pthread_self(), buf);
}
