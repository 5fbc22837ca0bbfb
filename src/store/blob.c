/* Message blobs: immutable files named by the SHA-256 of their bytes,
 * <userdir>/blobs/ab/cdef..., shared by every copy of a message within the
 * user. A blob becomes visible only by an atomic rename of a fully
 * fsync'd temp file, so a reader never sees a partial message.
 *
 * The handle (struct store_blobs) knows only the user directory: no
 * database type reaches this file, so every backend can keep its message
 * bytes here and record only their names.
 *
 * A message may arrive in memory or as a range of a file (an APPEND
 * literal the IMAP parser spooled to an O_TMPFILE in <userdir>/tmp). A
 * file is hashed by reading it in chunks and becomes a blob by linking
 * the spool itself when it holds exactly the message, else by a kernel
 * copy of its range: a 60 MiB message never costs 60 MiB of memory. */
#include "store/blob.h"
#include "store/blob_durable.h"
#include "store/blob_cache.h"
#include "store/backend.h"
#include "store/store.h"
#include "core/log.h"
#include "core/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Temp files older than this were left by a crashed writer. */
#define STORE_TMP_MAX_AGE 3600
/* Chunk for hashing or copying a message file in user space. */
#define BLOB_IO_CHUNK (128u * 1024)

struct store_blobs {
	char *dir;       /* the user directory */
	char *username;  /* for log lines */
	int fd;          /* <dir>/blobs, for openat of message files; -1 if not open */
	/* Subdirectories (first two hex digits) this handle saw exist: a new
	 * message skips the mkdir (EEXIST) and stat of its directory. A bit
	 * is cleared again when a rename into that directory fails. The
	 * handle belongs to one thread at a time (store.h). */
	uint64_t dir_known[4];
	uint64_t owner;  /* msgcache: this store's key in the message cache */
};

bool store_blob_name_valid(const char *hex)
{
	if (!hex)
		return false;
	for (size_t i = 0; i < 64; i++) {
		char c = hex[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return hex[64] == '\0';
}

static void blob_hex(const unsigned char md[32], char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	for (unsigned i = 0; i < 32; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = '\0';
}

void store_blob_hash(const void *data, size_t len, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (EVP_Digest(data ? data : "", len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		fatal("SHA-256 failed");
	blob_hex(md, hex);
}

/* Reads up to n bytes at off; 0 at end of file, -1 on error. */
static ssize_t blob_pread(int fd, void *buf, size_t n, uint64_t off)
{
	for (;;) {
		ssize_t r = pread(fd, buf, n, (off_t)off);
		if (r >= 0 || errno != EINTR)
			return r;
	}
}

static int blob_hash_fd(int fd, uint64_t off, size_t len, char hex[65])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *buf = xmalloc(BLOB_IO_CHUNK);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int r = STORE_EIO;
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		fatal("SHA-256 failed");
	posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_SEQUENTIAL);
	size_t done = 0;
	while (done < len) {
		ssize_t got = blob_pread(fd, buf, MIN(len - done, BLOB_IO_CHUNK), off + done);
		if (got <= 0) {
			if (got == 0)
				errno = EIO;  /* the file is shorter than announced */
			goto out;
		}
		if (EVP_DigestUpdate(ctx, buf, (size_t)got) != 1)
			fatal("SHA-256 failed");
		done += (size_t)got;
	}
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32)
		fatal("SHA-256 failed");
	blob_hex(md, hex);
	r = STORE_OK;
out:
	free(buf);
	EVP_MD_CTX_free(ctx);
	return r;
}

int store_blob_hash_msg(const struct store_append *m, char hex[65])
{
	if (!m->in_file) {
		store_blob_hash(m->data, m->len, hex);
		return STORE_OK;
	}
	int r = blob_hash_fd(m->fd, m->off, m->len, hex);
	if (r != STORE_OK)
		log_err("event=store_blob_error op=hash_read errno=%d", errno);
	return r;
}

static char *blob_path(const struct store_blobs *b, const char *hex)
{
	return xasprintf("%s/blobs/%.2s/%s", b->dir, hex, hex + 2);
}

static char *blob_dir(const struct store_blobs *b, const char *hex)
{
	return xasprintf("%s/blobs/%.2s", b->dir, hex);
}

bool store_blobs_present(struct store_blobs *b, const char *hex, size_t len)
{
	char *path = blob_path(b, hex);
	struct stat st;
	bool ok = stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == len;
	free(path);
	return ok;
}

/* A name no other writer (thread or process) uses at the same time. */
static char *blob_tmp_path(const struct store_blobs *b)
{
	static atomic_uint counter;
	unsigned n = atomic_fetch_add(&counter, 1);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return xasprintf("%s/tmp/blob.%ld.%u.%ld%09ld", b->dir, proc_pid(), n, (long)ts.tv_sec,
			 ts.tv_nsec);
}

/* Where a blob's bytes come from: memory (data), or the range [off,
 * off + len) of file fd. */
struct blob_src {
	const void *data;
	int fd;
	uint64_t off;
	size_t len;
};

/* Copies the source range into out: copy_file_range() keeps the bytes in
 * the kernel (and may share extents); where it cannot (another
 * filesystem, an old kernel) the rest goes through one bounded buffer. */
static int blob_copy_range(int out, const struct blob_src *src)
{
	loff_t in_off = (loff_t)src->off;
	size_t left = src->len;
	while (left > 0) {
		ssize_t n = copy_file_range(src->fd, &in_off, out, NULL, left, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		left -= (size_t)n;
	}
	if (left == 0)
		return 0;
	if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
		return -1;
	unsigned char *buf = xmalloc(BLOB_IO_CHUNK);
	int r = 0;
	while (left > 0 && r == 0) {
		ssize_t got = blob_pread(src->fd, buf, MIN(left, BLOB_IO_CHUNK), (uint64_t)in_off);
		if (got <= 0 || write_all(out, buf, (size_t)got) < 0) {
			if (got == 0)
				errno = EIO;  /* the file is shorter than announced */
			r = -1;
			break;
		}
		in_off += got;
		left -= (size_t)got;
	}
	free(buf);
	return r;
}

/* The blob as a new link to the spool itself, at *tmp: possible only for
 * a file that has no name yet (st_nlink 0: nobody else can reach or
 * change it) and holds exactly the message. 1 when linked, 0 when the
 * caller must copy instead, -1 on a write error. */
static int blob_link_spool(struct store_blobs *b, const struct blob_src *src, char **tmp)
{
	struct stat st;
	if (src->off != 0 || fstat(src->fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 0 ||
	    (uint64_t)st.st_size != src->len)
		return 0;
	/* Durable before it has a name, like every blob; read-only as every
	 * blob (the descriptor the parser holds keeps its own access). */
	if (fsync(src->fd) < 0)
		return -1;
	fchmod(src->fd, 0400);
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", src->fd);
	for (int tries = 0; tries < 5; tries++) {
		free(*tmp);
		*tmp = blob_tmp_path(b);
		/* linkat(AT_EMPTY_PATH) would need CAP_DAC_READ_SEARCH; the
		 * /proc link is what open(2) documents for O_TMPFILE. */
		if (linkat(AT_FDCWD, proc, AT_FDCWD, *tmp, AT_SYMLINK_FOLLOW) == 0)
			return 1;
		if (errno != EEXIST)
			return 0;  /* no /proc, another filesystem...: copy */
	}
	return 0;
}

/* Writes the bytes to a new temp file (fsync'd) at *tmp. */
static int blob_write_tmp(struct store_blobs *b, const struct blob_src *src, char **tmp)
{
	int fd = -1;
	for (int tries = 0; fd < 0 && tries < 5; tries++) {
		free(*tmp);
		*tmp = blob_tmp_path(b);
		fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0400);
		if (fd < 0 && errno != EEXIST && !(tries == 0 && store_fds_relieve(errno)))
			break;
	}
	if (fd < 0)
		return -1;
	int r = 0;
	if (src->data)
		r = src->len > 0 ? write_all(fd, src->data, src->len) : 0;
	else if (src->len > 0)
		r = blob_copy_range(fd, src);
	if (r == 0 && fsync(fd) < 0)
		r = -1;
	int e = errno;
	if (close(fd) < 0 && r == 0)
		r = -1;
	else
		errno = e;
	if (r < 0)
		unlink(*tmp);
	return r;
}

/* The subdirectory of a blob name as 0-255 (its first two hex digits). */
static unsigned blob_subdir_index(const char *hex)
{
	unsigned v = 0;
	for (int i = 0; i < 2; i++) {
		char c = hex[i];
		v = v * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
	}
	return v & 255;
}

static bool blob_dir_known(const struct store_blobs *b, unsigned sub)
{
	return (b->dir_known[sub / 64] >> (sub % 64)) & 1;
}

static void blob_dir_note(struct store_blobs *b, unsigned sub, bool known)
{
	uint64_t bit = (uint64_t)1 << (sub % 64);
	if (known)
		b->dir_known[sub / 64] |= bit;
	else
		b->dir_known[sub / 64] &= ~bit;
}

static int blobs_put_src(struct store_blobs *b, const char *hex, const struct blob_src *src)
{
	char *path = blob_path(b, hex);
	char *dir = blob_dir(b, hex);
	char *tmp = NULL;
	int r = STORE_EIO;
	struct stat st;
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == src->len) {
		/* Same name, same size: same bytes. Another writer may have just
		 * renamed it into place without its directory fsync yet, unless
		 * this process saw this very inode's name durable
		 * (store/blob_durable.c). */
		if (blob_durable_known(&st)) {
			r = STORE_OK;
			goto out;
		}
		if (store_fsync_dir(dir) < 0)
			goto out;
		blob_durable_note(&st);
		r = STORE_OK;
		goto out;
	}
	unsigned sub = blob_subdir_index(hex);
	if (!blob_dir_known(b, sub)) {
		if (store_mkdir_durable(dir) < 0)
			goto out;
		blob_dir_note(b, sub, true);
	}
	int linked = src->data ? 0 : blob_link_spool(b, src, &tmp);
	if (linked < 0 || (linked == 0 && blob_write_tmp(b, src, &tmp) < 0))
		goto out;
	/* rename() replaces a same-named file of the wrong size (damaged by
	 * something outside the store) atomically. */
	int rn = rename(tmp, path);
	if (rn < 0 && errno == ENOENT) {
		/* The directory went away under a remembered bit. */
		blob_dir_note(b, sub, false);
		if (store_mkdir_durable(dir) == 0) {
			blob_dir_note(b, sub, true);
			rn = rename(tmp, path);
		}
	}
	if (rn < 0) {
		unlink(tmp);
		goto out;
	}
	/* Read before the fsync, which then covers whatever holds the name. */
	bool seen = stat(path, &st) == 0 && S_ISREG(st.st_mode);
	if (store_fsync_dir(dir) < 0)
		goto out;
	if (seen)
		blob_durable_note(&st);
	r = STORE_OK;
out:
	if (r != STORE_OK)
		log_err("event=store_blob_error user=%s errno=%d", b->username, errno);
	free(tmp);
	free(dir);
	free(path);
	return r;
}

int store_blobs_put(struct store_blobs *b, const char *hex, const void *data, size_t len)
{
	struct blob_src src = { .data = data ? data : "", .fd = -1, .len = len };
	int r = blobs_put_src(b, hex, &src);
	/* msgcache: new mail is what clients fetch next. */
	if (r == STORE_OK)
		blob_cache_put(b->owner, hex, src.data, len);
	return r;
}

int store_blobs_put_msg(struct store_blobs *b, const char *hex, const struct store_append *m)
{
	if (!m->in_file)
		return store_blobs_put(b, hex, m->data, m->len);
	struct blob_src src = { .data = NULL, .fd = m->fd, .off = m->off, .len = m->len };
	return blobs_put_src(b, hex, &src);
}

void store_blobs_unlink(struct store_blobs *b, const char *hex)
{
	char *path = blob_path(b, hex);
	blob_cache_forget(b->owner, hex);
	if (unlink(path) < 0 && errno != ENOENT)
		log_warn("event=store_blob_unlink_error user=%s errno=%d", b->username, errno);
	free(path);
}

static void blobs_tmp_clean(const char *dir)
{
	char *tmp = xasprintf("%s/" STORE_BLOB_TMP_DIR, dir);
	DIR *d = opendir(tmp);
	if (!d) {
		free(tmp);
		return;
	}
	time_t now = time(NULL);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "blob.", 5) != 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    now - st.st_mtime > STORE_TMP_MAX_AGE)
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
	free(tmp);
}

static int blob_open_read(struct store_blobs *b, const char *blob)
{
	if (b->fd >= 0) {
		char rel[64 + 2];  /* "ab/" + 62 hex + NUL */
		snprintf(rel, sizeof(rel), "%.2s/%s", blob, blob + 2);
		return openat(b->fd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	}
	char *path = blob_path(b, blob);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int e = errno;
	free(path);
	errno = e;
	return fd;
}

/* Opens a message file for reading: STORE_OK with *fd and its stat in
 * *st, STORE_ENOENT, or STORE_EIO (logged). */
static int blob_open_stat(struct store_blobs *b, const char *blob, int *fd, struct stat *st)
{
	*fd = -1;
	if (!b || !store_blob_name_valid(blob))
		return STORE_EINVAL;
	int f = blob_open_read(b, blob);
	if (f < 0 && store_fds_relieve(errno))
		f = blob_open_read(b, blob);
	if (f < 0) {
		if (errno == ENOENT)
			return STORE_ENOENT;
		log_err("event=store_blob_error user=%s op=open errno=%d", b->username, errno);
		return STORE_EIO;
	}
	if (fstat(f, st) < 0 || !S_ISREG(st->st_mode)) {
		close(f);
		return STORE_EIO;
	}
	*fd = f;
	return STORE_OK;
}

int store_blobs_open_fd(struct store_blobs *b, const char *blob, int *fd, uint64_t *size)
{
	struct stat st;
	*size = 0;
	int r = blob_open_stat(b, blob, fd, &st);
	if (r == STORE_OK)
		*size = (uint64_t)st.st_size;
	return r;
}

int store_blobs_map_file(struct store_blobs *b, const char *blob, const char **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	int fd;
	struct stat st;
	int r = blob_open_stat(b, blob, &fd, &st);
	if (r != STORE_OK)
		return r;
	if (st.st_size == 0) {
		/* mmap of length 0 fails: an empty message is a valid empty
		 * mapping that store_blob_unmap() knows not to unmap. */
		close(fd);
		*data = "";
		return STORE_OK;
	}
	if (st.st_size <= STORE_BLOB_READ_MAX) {
		/* Small messages (most mail) are read: mmap + munmap + page
		 * faults cost more than the copy, and munmap in a threaded
		 * process shoots down TLB entries on every core. */
		char *buf = xmalloc((size_t)st.st_size);
		size_t got = 0;
		while (got < (size_t)st.st_size) {
			ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		close(fd);
		if (got != (size_t)st.st_size) {
			free(buf);
			log_err("event=store_blob_error user=%s op=read errno=%d", b->username, errno);
			return STORE_EIO;
		}
		*data = buf;
		*len = got;
		return STORE_OK;
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		log_err("event=store_blob_error user=%s op=mmap errno=%d", b->username, errno);
		return STORE_EIO;
	}
	*data = p;
	*len = (size_t)st.st_size;
	return STORE_OK;
}

int store_blobs_cached(struct store_blobs *b, const char *blob, const char **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	if (!b || !store_blob_name_valid(blob))
		return STORE_EINVAL;
	return blob_cache_get(b->owner, blob, (char **)data, len) ? STORE_OK : STORE_ENOENT;
}

void store_blobs_remember(struct store_blobs *b, const char *hex, const void *data, size_t len)
{
	if (b && data)
		blob_cache_put(b->owner, hex, data, len);
}

void store_blob_unmap(const char *data, size_t len)
{
	if (data && len > STORE_BLOB_READ_MAX)
		munmap((void *)data, len);
	else if (data && len > 0)
		free((void *)data);
}

struct store_blobs *store_blobs_open(const char *dir, const char *username)
{
	char *blobs = xasprintf("%s/blobs", dir);
	char *tmp = xasprintf("%s/" STORE_BLOB_TMP_DIR, dir);
	struct store_blobs *b = NULL;
	if (store_mkdir_durable(blobs) < 0 || store_mkdir_durable(tmp) < 0)
		goto out;
	/* Message files are opened relative to it: the full path walk of
	 * every message was a tenth of a header SEARCH. Without it (any
	 * failure but a descriptor shortage) full paths still work. */
	int fd = open(blobs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && (errno == EMFILE || errno == ENFILE))
		goto out;
	b = xcalloc(1, sizeof(*b));
	b->dir = xstrdup(dir);
	b->username = xstrdup(username);
	b->fd = fd;
	b->owner = blob_cache_owner(dir);
	blobs_tmp_clean(dir);
out:
	free(blobs);
	free(tmp);
	return b;
}

void store_blobs_close(struct store_blobs *b)
{
	if (!b)
		return;
	if (b->fd >= 0)
		close(b->fd);
	free(b->dir);
	free(b->username);
	free(b);
}

/* snap (issue #14) */
const char *store_blobs_dir(const struct store_blobs *b)
{
	return b->dir;
}
