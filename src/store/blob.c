/* Message blobs: immutable files named by the SHA-256 of their bytes,
 * <userdir>/blobs/ab/cdef..., shared by every copy of a message within the
 * user. A blob becomes visible only by an atomic rename of a fully
 * fsync'd temp file, so a reader never sees a partial message.
 *
 * The handle (struct store_blobs) knows only the user directory: no
 * database type reaches this file, so every backend can keep its message
 * bytes here and record only their names. */
#include "store/blob.h"
#include "store/backend.h"
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

struct store_blobs {
	char *dir;       /* the user directory */
	char *username;  /* for log lines */
	int fd;          /* <dir>/blobs, for openat of message files; -1 if not open */
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

void store_blob_hash(const void *data, size_t len, char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (EVP_Digest(data ? data : "", len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		fatal("SHA-256 failed");
	for (unsigned i = 0; i < 32; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = '\0';
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
	return xasprintf("%s/tmp/blob.%ld.%u.%ld%09ld", b->dir, (long)getpid(), n, (long)ts.tv_sec,
			 ts.tv_nsec);
}

int store_blobs_put(struct store_blobs *b, const char *hex, const void *data, size_t len)
{
	char *path = blob_path(b, hex);
	char *dir = blob_dir(b, hex);
	char *tmp = NULL;
	int fd = -1, r = STORE_EIO;
	struct stat st;
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == len) {
		/* Same name, same size: same bytes. Another writer may have just
		 * renamed it into place without its directory fsync yet. */
		if (store_fsync_dir(dir) < 0)
			goto out;
		r = STORE_OK;
		goto out;
	}
	if (store_mkdir_durable(dir) < 0)
		goto out;
	for (int tries = 0; fd < 0 && tries < 5; tries++) {
		free(tmp);
		tmp = blob_tmp_path(b);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0400);
		if (fd < 0 && errno != EEXIST && !(tries == 0 && store_fds_relieve(errno)))
			break;
	}
	if (fd < 0)
		goto out;
	if (len > 0 && write_all(fd, data, len) < 0)
		goto out_unlink;
	if (fsync(fd) < 0)
		goto out_unlink;
	if (close(fd) < 0) {
		fd = -1;
		goto out_unlink;
	}
	fd = -1;
	/* rename() replaces a same-named file of the wrong size (damaged by
	 * something outside the store) atomically. */
	if (rename(tmp, path) < 0)
		goto out_unlink;
	if (store_fsync_dir(dir) < 0)
		goto out;
	r = STORE_OK;
	goto out;
out_unlink:
	unlink(tmp);
out:
	if (r != STORE_OK)
		log_err("event=store_blob_error user=%s errno=%d", b->username, errno);
	if (fd >= 0)
		close(fd);
	free(tmp);
	free(dir);
	free(path);
	return r;
}

void store_blobs_unlink(struct store_blobs *b, const char *hex)
{
	char *path = blob_path(b, hex);
	if (unlink(path) < 0 && errno != ENOENT)
		log_warn("event=store_blob_unlink_error user=%s errno=%d", b->username, errno);
	free(path);
}

static void blobs_tmp_clean(const char *dir)
{
	char *tmp = xasprintf("%s/tmp", dir);
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

int store_blobs_map(struct store_blobs *b, const char *blob, const char **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	if (!b || !store_blob_name_valid(blob))
		return STORE_EINVAL;
	int fd = blob_open_read(b, blob);
	if (fd < 0 && store_fds_relieve(errno))
		fd = blob_open_read(b, blob);
	if (fd < 0) {
		if (errno == ENOENT)
			return STORE_ENOENT;
		log_err("event=store_blob_error user=%s op=open errno=%d", b->username, errno);
		return STORE_EIO;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return STORE_EIO;
	}
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
			ssize_t r = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			got += (size_t)r;
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
	char *tmp = xasprintf("%s/tmp", dir);
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
