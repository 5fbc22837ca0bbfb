/* Durable directory operations and the descriptor-shortage relief that
 * every part of the store (blob files, a backend's own files) shares.
 *
 * A file created or renamed is durable only once its directory entry is:
 * each helper here fsyncs the directory that changed, so "acknowledged
 * only when durable" (invariant 4 of store.h) holds for the directories
 * the store creates as well as for the files inside them. */
#include "store/backend.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int store_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && store_fds_relieve(errno))
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = fsync(fd);
	close(fd);
	return r;
}

int store_mkdir_durable(const char *path)
{
	if (mkdir(path, 0700) == 0) {
		/* The new directory entry lives in the parent: make it durable
		 * before anything inside is trusted. */
		char *parent = xstrdup(path);
		char *slash = strrchr(parent, '/');
		if (slash && slash != parent) {
			*slash = '\0';
			store_fsync_dir(parent);
		}
		free(parent);
		return 0;
	}
	if (errno == EEXIST) {
		struct stat st;
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			return 0;
		errno = ENOTDIR;
	}
	return -1;
}

int store_mkdirs(const char *path)
{
	char *p = xstrdup(path);
	int r = 0;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		r = store_mkdir_durable(p);
		*s = '/';
		if (r < 0)
			break;
	}
	if (r == 0)
		r = store_mkdir_durable(p);
	free(p);
	return r;
}

bool store_fds_relieve(int err)
{
	if (err != EMFILE && err != ENFILE)
		return false;
	unsigned closed = store_cache_drop_count();
	/* Logged at most every 10 s, like accept_error. */
	static _Atomic uint64_t last_log_ms;
	uint64_t now = now_ms();
	uint64_t prev = atomic_load(&last_log_ms);
	if ((prev == 0 || now - prev >= 10000) &&
	    atomic_compare_exchange_strong(&last_log_ms, &prev, now))
		log_warn("event=store_fds_short errno=%d action=close_unused_handles handles=%u", err,
			 closed);
	return true;
}
