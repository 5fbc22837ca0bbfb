/* The SQLite VFS of users' indexes (issue #14): the platform's VFS, except
 * that a WAL file's frames reach the kernel in one write per transaction
 * instead of two per page.
 *
 * SQLite writes each WAL frame as two xWrite calls: its 24-byte header,
 * then the page (wal.c walWriteOneFrame). An APPEND commits ~14 frames:
 * 28 pwrite calls, each one a trip through ext4's write path for a few
 * hundred bytes to 4 KiB. Measured on this project's 2-vCPU machines,
 * 14 frames cost 44-49 us as 28 pwrites, 32-37 us as 14 pwritev pairs and
 * 6-7 us as one pwrite; pwrite was 12% of the server's samples in the
 * imaptest-like mix.
 *
 * So a WAL file opened through this VFS holds a run of frames in memory
 * and writes it as one pwrite when:
 *   - the page of a commit frame (a header whose "database size after
 *     commit" field is not zero; the WAL file format, sqlite.org/fileformat
 *     section 4.1) has been added: xWrite returns that pwrite's result, so
 *     a full disk fails the COMMIT as it would without this VFS, and no
 *     commit is ever published to other connections (wal-index header)
 *     while part of it is still in this process's memory;
 *   - any other method of the file is called (xSync, xRead, xFileSize,
 *     xTruncate, xClose, ...): SQLite never observes the file's state
 *     without its pending bytes;
 *   - the next write does not continue the run, or the run is full.
 * Only writes of the expected shape are held: a 24-byte frame header, the
 * one write that follows it (its page) and the 32-byte WAL header. Any
 * other write is written through at once, so a SQLite that wrote frames
 * differently would lose only the batching, never a commit.
 *
 * Frames not followed by their commit (a transaction spilling pages
 * before COMMIT, or one rolled back) may stay in memory until the next
 * call; nothing reads them before that call, and a crash loses only
 * frames no commit covers, as SQLite's own recovery would discard.
 *
 * The database file is wrapped only to learn where SQLite maps the first
 * region of its wal-index (-shm), for sqlite_walvfs_header(); its other
 * methods pass through. Every other file (temporary files) is the
 * platform VFS's own object: no wrapper, no cost. */
#include "store/sqlite/sqlite_internal.h"
#include "core/log.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WALVFS_NAME "rampart-wal"
#define WAL_FRAME_HDR 24
#define WAL_FILE_HDR 32
/* The most one run holds: SQLite's unix xWrite passes at most 128 KiB - 1
 * to one pwrite (seekAndWriteFd masks the length with 0x1ffff) and fails
 * a longer write with SQLITE_FULL. A transaction of more pages (an
 * import) is written in runs of this size; an APPEND's fits in one. */
#define RUN_CAP 0x1ffff

enum run_expect {
	EXPECT_HEADER, /* the run ends on a whole frame (or the WAL header) */
	EXPECT_PAGE,   /* the run ends on a frame header: its page is next */
};

/* What both wrappers start with: SQLite's view of the file and the
 * platform's file behind it, so one set of forwarders serves both. */
struct walvfs_head {
	sqlite3_file base;
	sqlite3_file *real;
};

#define REAL(p) (((struct walvfs_head *)(p))->real)

struct walvfs_file {
	struct walvfs_head h; /* h.base.pMethods = &g_io */
	unsigned char *run; /* RUN_CAP bytes while a run is held, else NULL */
	size_t run_len;     /* bytes held, for [run_off, run_off + run_len) */
	sqlite3_int64 run_off;
	enum run_expect expect;
	bool commit_header; /* the header just held ends a commit */
};

static sqlite3_vfs *g_real;
static sqlite3_vfs g_vfs;
static sqlite3_io_methods g_io;
/* Each thread keeps one spare run buffer: a file owns a buffer only while
 * it holds a run (a connection may move between threads), and thousands
 * of open handles do not keep 128 KiB each. */
static pthread_key_t g_spare;

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void run_release(struct walvfs_file *f)
{
	f->run_len = 0;
	f->expect = EXPECT_HEADER;
	f->commit_header = false;
	if (!f->run)
		return;
	if (!pthread_getspecific(g_spare) && pthread_setspecific(g_spare, f->run) == 0)
		f->run = NULL;
	free(f->run);
	f->run = NULL;
}

/* Writes the first n bytes of the run; the rest (a held frame header)
 * stays, now at the run's start. */
static int run_emit(struct walvfs_file *f, size_t n)
{
	if (n == 0)
		return SQLITE_OK;
	int rc = f->h.real->pMethods->xWrite(f->h.real, f->run, (int)n, f->run_off);
	memmove(f->run, f->run + n, f->run_len - n);
	f->run_len -= n;
	f->run_off += (sqlite3_int64)n;
	return rc;
}

static int run_write(struct walvfs_file *f)
{
	int rc = run_emit(f, f->run_len);
	run_release(f);
	return rc;
}

/* Adds amt bytes at off (the run's end, or the run is empty) if they fit;
 * false when they do not or there is no memory, and nothing was added. */
static bool run_add(struct walvfs_file *f, const void *buf, int amt, sqlite3_int64 off)
{
	if (f->run_len + (size_t)amt > RUN_CAP)
		return false;
	if (!f->run) {
		f->run = pthread_getspecific(g_spare);
		if (f->run)
			(void)pthread_setspecific(g_spare, NULL);
		else if (!(f->run = malloc(RUN_CAP)))
			return false;
	}
	if (f->run_len == 0)
		f->run_off = off;
	memcpy(f->run + f->run_len, buf, (size_t)amt);
	f->run_len += (size_t)amt;
	return true;
}

static int write_through(struct walvfs_file *f, const void *buf, int amt, sqlite3_int64 off)
{
	int rc = run_write(f);
	if (rc != SQLITE_OK)
		return rc;
	return f->h.real->pMethods->xWrite(f->h.real, buf, amt, off);
}

static int wal_write(sqlite3_file *p, const void *buf, int amt, sqlite3_int64 off)
{
	struct walvfs_file *f = (struct walvfs_file *)p;
	bool continues = f->run_len == 0 || off == f->run_off + (sqlite3_int64)f->run_len;
	if (f->expect == EXPECT_PAGE) {
		/* The page of the header just held, else the shape is not
		 * SQLite's usual one: write what is held, then this. */
		if (!continues)
			return write_through(f, buf, amt, off);
		if (f->run_len + (size_t)amt > RUN_CAP) {
			/* The run is full: write it but the header, which
			 * starts the next one with its page. */
			int rc = run_emit(f, f->run_len - WAL_FRAME_HDR);
			if (rc != SQLITE_OK) {
				run_release(f);
				return rc;
			}
		}
		if (!run_add(f, buf, amt, off))
			return write_through(f, buf, amt, off);
		f->expect = EXPECT_HEADER;
		return f->commit_header ? run_write(f) : SQLITE_OK;
	}
	bool frame_header = amt == WAL_FRAME_HDR && off >= WAL_FILE_HDR;
	bool file_header = amt == WAL_FILE_HDR && off == 0;
	if (!frame_header && !file_header)
		return write_through(f, buf, amt, off);
	if (!continues || f->run_len + (size_t)amt > RUN_CAP) {
		int rc = run_write(f);
		if (rc != SQLITE_OK)
			return rc;
	}
	if (!run_add(f, buf, amt, off))
		return write_through(f, buf, amt, off);
	if (frame_header) {
		f->expect = EXPECT_PAGE;
		f->commit_header = be32((const unsigned char *)buf + 4) != 0;
	}
	return SQLITE_OK;
}

/* ---- forwarders to the platform's file, for both wrappers ---- */

static int fwd_read(sqlite3_file *p, void *buf, int amt, sqlite3_int64 off)
{
	return REAL(p)->pMethods->xRead(REAL(p), buf, amt, off);
}

static int fwd_write(sqlite3_file *p, const void *buf, int amt, sqlite3_int64 off)
{
	return REAL(p)->pMethods->xWrite(REAL(p), buf, amt, off);
}

static int fwd_truncate(sqlite3_file *p, sqlite3_int64 size)
{
	return REAL(p)->pMethods->xTruncate(REAL(p), size);
}

static int fwd_sync(sqlite3_file *p, int flags)
{
	return REAL(p)->pMethods->xSync(REAL(p), flags);
}

static int fwd_file_size(sqlite3_file *p, sqlite3_int64 *size)
{
	return REAL(p)->pMethods->xFileSize(REAL(p), size);
}

static int fwd_lock(sqlite3_file *p, int level)
{
	return REAL(p)->pMethods->xLock(REAL(p), level);
}

static int fwd_unlock(sqlite3_file *p, int level)
{
	return REAL(p)->pMethods->xUnlock(REAL(p), level);
}

static int fwd_check_reserved(sqlite3_file *p, int *out)
{
	return REAL(p)->pMethods->xCheckReservedLock(REAL(p), out);
}

static int fwd_file_control(sqlite3_file *p, int op, void *arg)
{
	return REAL(p)->pMethods->xFileControl(REAL(p), op, arg);
}

static int fwd_sector_size(sqlite3_file *p)
{
	return REAL(p)->pMethods->xSectorSize(REAL(p));
}

static int fwd_device_characteristics(sqlite3_file *p)
{
	return REAL(p)->pMethods->xDeviceCharacteristics(REAL(p));
}

static int fwd_shm_map(sqlite3_file *p, int pg, int sz, int extend, void volatile **out)
{
	return REAL(p)->pMethods->xShmMap(REAL(p), pg, sz, extend, out);
}

static int fwd_shm_lock(sqlite3_file *p, int offset, int n, int flags)
{
	return REAL(p)->pMethods->xShmLock(REAL(p), offset, n, flags);
}

static void fwd_shm_barrier(sqlite3_file *p)
{
	REAL(p)->pMethods->xShmBarrier(REAL(p));
}

static int fwd_shm_unmap(sqlite3_file *p, int del)
{
	return REAL(p)->pMethods->xShmUnmap(REAL(p), del);
}

static int fwd_fetch(sqlite3_file *p, sqlite3_int64 off, int amt, void **out)
{
	return REAL(p)->pMethods->xFetch(REAL(p), off, amt, out);
}

static int fwd_unfetch(sqlite3_file *p, sqlite3_int64 off, void *ptr)
{
	return REAL(p)->pMethods->xUnfetch(REAL(p), off, ptr);
}

/* Closes the platform's file and frees it. */
static int head_close(struct walvfs_head *h)
{
	int rc = h->real->pMethods ? h->real->pMethods->xClose(h->real) : SQLITE_OK;
	sqlite3_free(h->real);
	h->real = NULL;
	return rc;
}

/* ---- the WAL file: every method but xWrite writes the run first, so
 * SQLite never sees the file without it ---- */

#define FLUSH_OR_RETURN(p)                                                                         \
	do {                                                                                       \
		int frc_ = run_write((struct walvfs_file *)(p));                                   \
		if (frc_ != SQLITE_OK)                                                             \
			return frc_;                                                               \
	} while (0)

static int wal_close(sqlite3_file *p)
{
	struct walvfs_file *f = (struct walvfs_file *)p;
	int rc = run_write(f);
	int crc = head_close(&f->h);
	return rc != SQLITE_OK ? rc : crc;
}

static int wal_read(sqlite3_file *p, void *buf, int amt, sqlite3_int64 off)
{
	FLUSH_OR_RETURN(p);
	return fwd_read(p, buf, amt, off);
}

static int wal_truncate(sqlite3_file *p, sqlite3_int64 size)
{
	FLUSH_OR_RETURN(p);
	return fwd_truncate(p, size);
}

static int wal_sync(sqlite3_file *p, int flags)
{
	FLUSH_OR_RETURN(p);
	return fwd_sync(p, flags);
}

static int wal_file_size(sqlite3_file *p, sqlite3_int64 *size)
{
	FLUSH_OR_RETURN(p);
	return fwd_file_size(p, size);
}

static int wal_lock(sqlite3_file *p, int level)
{
	FLUSH_OR_RETURN(p);
	return fwd_lock(p, level);
}

static int wal_unlock(sqlite3_file *p, int level)
{
	FLUSH_OR_RETURN(p);
	return fwd_unlock(p, level);
}

static int wal_check_reserved(sqlite3_file *p, int *out)
{
	FLUSH_OR_RETURN(p);
	return fwd_check_reserved(p, out);
}

static int wal_file_control(sqlite3_file *p, int op, void *arg)
{
	FLUSH_OR_RETURN(p);
	return fwd_file_control(p, op, arg);
}

/* A WAL file is never shared-memory mapped nor memory-mapped by SQLite
 * (the wal-index lives in the database's -shm); these exist because the
 * methods' version says so, and pass through. */
static int wal_shm_map(sqlite3_file *p, int pg, int sz, int extend, void volatile **out)
{
	FLUSH_OR_RETURN(p);
	return fwd_shm_map(p, pg, sz, extend, out);
}

static int wal_shm_lock(sqlite3_file *p, int offset, int n, int flags)
{
	FLUSH_OR_RETURN(p);
	return fwd_shm_lock(p, offset, n, flags);
}

static void wal_shm_barrier(sqlite3_file *p)
{
	(void)run_write((struct walvfs_file *)p);
	fwd_shm_barrier(p);
}

static int wal_shm_unmap(sqlite3_file *p, int del)
{
	FLUSH_OR_RETURN(p);
	return fwd_shm_unmap(p, del);
}

static int wal_fetch(sqlite3_file *p, sqlite3_int64 off, int amt, void **out)
{
	*out = NULL;
	FLUSH_OR_RETURN(p);
	return fwd_fetch(p, off, amt, out);
}

/* ---- the database file: where its -shm is mapped ---- */

/* A database file: SQLite's own, plus the address of the first region of
 * its wal-index (-shm), which SQLite maps in xShmMap, so that
 * sqlite_walvfs_header() can read the wal-index header without a
 * transaction. */
struct walvfs_db {
	struct walvfs_head h; /* h.base.pMethods = &g_db_io */
	const volatile unsigned char *region0;
};

static sqlite3_io_methods g_db_io;

static int db_close(sqlite3_file *p)
{
	struct walvfs_db *d = (struct walvfs_db *)p;
	d->region0 = NULL;
	return head_close(&d->h);
}

static int db_shm_map(sqlite3_file *p, int pg, int sz, int extend, void volatile **out)
{
	struct walvfs_db *d = (struct walvfs_db *)p;
	int rc = fwd_shm_map(p, pg, sz, extend, out);
	/* Region 0 stays where it is until xShmUnmap (SQLite's unix VFS maps
	 * each region once and keeps it for the connection's life). */
	if (rc == SQLITE_OK && pg == 0 && *out)
		d->region0 = *out;
	return rc;
}

static int db_shm_unmap(sqlite3_file *p, int del)
{
	((struct walvfs_db *)p)->region0 = NULL;
	return fwd_shm_unmap(p, del);
}

bool sqlite_walvfs_header(sqlite3 *db, unsigned char out[SQLITE_WAL_HEADER_BYTES])
{
	sqlite3_file *fp = NULL;
	if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &fp) != SQLITE_OK || !fp ||
	    fp->pMethods != &g_db_io)
		return false;
	const volatile unsigned char *h = ((struct walvfs_db *)fp)->region0;
	if (!h)
		return false;
	/* The first of the header's two copies, which a writer updates last
	 * (wal.c walIndexWriteHdr); read without a lock, a copy torn by a
	 * writer only differs from every earlier one. */
	for (size_t i = 0; i < SQLITE_WAL_HEADER_BYTES; i++)
		out[i] = h[i];
	return true;
}

/* ---- the VFS ---- */

/* Opens the platform's file in a separate allocation behind the wrapper
 * at p (size bytes, which SQLite's szOsFile covers) with methods. */
static int open_wrapped(sqlite3_file *p, size_t size, const sqlite3_io_methods *methods,
			sqlite3_filename name, int flags, int *out_flags)
{
	struct walvfs_head *h = (struct walvfs_head *)p;
	memset(p, 0, size);
	h->real = sqlite3_malloc(g_real->szOsFile);
	if (!h->real)
		return SQLITE_NOMEM;
	memset(h->real, 0, (size_t)g_real->szOsFile);
	int rc = g_real->xOpen(g_real, name, h->real, flags, out_flags);
	if (rc != SQLITE_OK) {
		/* SQLite calls xClose only when pMethods is set: the real
		 * file's own failure path has closed it. */
		sqlite3_free(h->real);
		h->real = NULL;
		return rc;
	}
	h->base.pMethods = methods;
	return SQLITE_OK;
}

static int vfs_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *p, int flags,
		    int *out_flags)
{
	(void)vfs;
	if (flags & SQLITE_OPEN_WAL)
		return open_wrapped(p, sizeof(struct walvfs_file), &g_io, name, flags, out_flags);
	if (flags & SQLITE_OPEN_MAIN_DB)
		return open_wrapped(p, sizeof(struct walvfs_db), &g_db_io, name, flags, out_flags);
	/* Anything else (temporary files): the platform's own object in the
	 * space SQLite gave us (szOsFile covers it), its methods, not ours. */
	return g_real->xOpen(g_real, name, p, flags, out_flags);
}

static int vfs_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	(void)vfs;
	return g_real->xDelete(g_real, name, sync_dir);
}

static int vfs_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	(void)vfs;
	return g_real->xAccess(g_real, name, flags, out);
}

static int vfs_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	(void)vfs;
	return g_real->xFullPathname(g_real, name, n, out);
}

static void *vfs_dlopen(sqlite3_vfs *vfs, const char *name)
{
	(void)vfs;
	return g_real->xDlOpen(g_real, name);
}

static void vfs_dlerror(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	g_real->xDlError(g_real, n, out);
}

static void (*vfs_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
	(void)vfs;
	return g_real->xDlSym(g_real, h, sym);
}

static void vfs_dlclose(sqlite3_vfs *vfs, void *h)
{
	(void)vfs;
	g_real->xDlClose(g_real, h);
}

static int vfs_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return g_real->xRandomness(g_real, n, out);
}

static int vfs_sleep(sqlite3_vfs *vfs, int us)
{
	(void)vfs;
	return g_real->xSleep(g_real, us);
}

static int vfs_current_time(sqlite3_vfs *vfs, double *out)
{
	(void)vfs;
	return g_real->xCurrentTime(g_real, out);
}

static int vfs_last_error(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return g_real->xGetLastError ? g_real->xGetLastError(g_real, n, out) : 0;
}

static int vfs_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	(void)vfs;
	return g_real->xCurrentTimeInt64(g_real, out);
}

static int vfs_set_syscall(sqlite3_vfs *vfs, const char *name, sqlite3_syscall_ptr fn)
{
	(void)vfs;
	return g_real->xSetSystemCall(g_real, name, fn);
}

static sqlite3_syscall_ptr vfs_get_syscall(sqlite3_vfs *vfs, const char *name)
{
	(void)vfs;
	return g_real->xGetSystemCall(g_real, name);
}

static const char *vfs_next_syscall(sqlite3_vfs *vfs, const char *name)
{
	(void)vfs;
	return g_real->xNextSystemCall(g_real, name);
}

const char *sqlite_walvfs_register(void)
{
	sqlite3_vfs *real = sqlite3_vfs_find(NULL);
	/* Version 3 methods on the file and the system-call hooks of the
	 * VFS: SQLite's unix VFS has both since 3.7.x. */
	if (!real || real->iVersion < 3) {
		log_warn("event=store_sqlite_config_error what=walvfs");
		return NULL;
	}
	if (pthread_key_create(&g_spare, free) != 0) {
		log_warn("event=store_sqlite_config_error what=walvfs");
		return NULL;
	}
	g_real = real;
	g_io = (sqlite3_io_methods){
		.iVersion = 3,
		.xClose = wal_close,
		.xRead = wal_read,
		.xWrite = wal_write,
		.xTruncate = wal_truncate,
		.xSync = wal_sync,
		.xFileSize = wal_file_size,
		.xLock = wal_lock,
		.xUnlock = wal_unlock,
		.xCheckReservedLock = wal_check_reserved,
		.xFileControl = wal_file_control,
		.xSectorSize = fwd_sector_size,
		.xDeviceCharacteristics = fwd_device_characteristics,
		.xShmMap = wal_shm_map,
		.xShmLock = wal_shm_lock,
		.xShmBarrier = wal_shm_barrier,
		.xShmUnmap = wal_shm_unmap,
		.xFetch = wal_fetch,
		.xUnfetch = fwd_unfetch,
	};
	g_db_io = (sqlite3_io_methods){
		.iVersion = 3,
		.xClose = db_close,
		.xRead = fwd_read,
		.xWrite = fwd_write,
		.xTruncate = fwd_truncate,
		.xSync = fwd_sync,
		.xFileSize = fwd_file_size,
		.xLock = fwd_lock,
		.xUnlock = fwd_unlock,
		.xCheckReservedLock = fwd_check_reserved,
		.xFileControl = fwd_file_control,
		.xSectorSize = fwd_sector_size,
		.xDeviceCharacteristics = fwd_device_characteristics,
		.xShmMap = db_shm_map,
		.xShmLock = fwd_shm_lock,
		.xShmBarrier = fwd_shm_barrier,
		.xShmUnmap = db_shm_unmap,
		.xFetch = fwd_fetch,
		.xUnfetch = fwd_unfetch,
	};
	int sz = (int)(sizeof(struct walvfs_file) > sizeof(struct walvfs_db)
			       ? sizeof(struct walvfs_file)
			       : sizeof(struct walvfs_db));
	g_vfs = (sqlite3_vfs){
		.iVersion = 3,
		.szOsFile = real->szOsFile > sz ? real->szOsFile : sz,
		.mxPathname = real->mxPathname,
		.zName = WALVFS_NAME,
		.xOpen = vfs_open,
		.xDelete = vfs_delete,
		.xAccess = vfs_access,
		.xFullPathname = vfs_full_pathname,
		.xDlOpen = vfs_dlopen,
		.xDlError = vfs_dlerror,
		.xDlSym = vfs_dlsym,
		.xDlClose = vfs_dlclose,
		.xRandomness = vfs_randomness,
		.xSleep = vfs_sleep,
		.xCurrentTime = vfs_current_time,
		.xGetLastError = vfs_last_error,
		.xCurrentTimeInt64 = vfs_current_time64,
		.xSetSystemCall = vfs_set_syscall,
		.xGetSystemCall = vfs_get_syscall,
		.xNextSystemCall = vfs_next_syscall,
	};
	if (sqlite3_vfs_register(&g_vfs, 0) != SQLITE_OK) {
		g_real = NULL;
		log_warn("event=store_sqlite_config_error what=walvfs");
		return NULL;
	}
	return WALVFS_NAME;
}
