/* The metadata syncer of the SQLite backend (issue #14, docs/durability.md):
 * group commit for flag changes, expunges and the \Recent claim.
 *
 * Such a transaction touches no message bytes. It commits with PRAGMA
 * synchronous=NORMAL (db.c sqlite_tx_write_meta), so the command is
 * answered once its frames are written to the user's WAL file: in the
 * kernel's page cache, where a kill -9 of the server cannot lose them.
 * This thread then fdatasyncs that WAL at most `[store]
 * metadata_sync_delay_ms` after the first such commit: one fdatasync covers
 * every commit that reached the file before it, of any session, thread or
 * process (group commit). Message commits (APPEND, COPY, MOVE, LMTP) stay
 * synchronous=FULL, and their sync covers earlier metadata commits too:
 * a user whose pending commits were all handed over before such a sync
 * is not synced again (sqlite_sync_covered).
 * Dovecot's mail_fsync=optimized never fsyncs these changes at all.
 *
 * Files of expunged messages are unlinked only after the fdatasync that
 * made their expunge durable (invariant 12 after a power loss: a row
 * cannot come back pointing at a file that is gone). An expunge that
 * frees files is deferred like any other metadata commit (sessx, issue
 * #14: it used to fdatasync before its answer, one sync per EXPUNGE of
 * the `sessions` mix): its files ride with the user's entry and this
 * thread unlinks them after the sync, under the write lock with each
 * reference checked again (sqlite_blobs_collect: an APPEND of the same
 * bytes meanwhile keeps the file). Until then another session's FETCH
 * may still serve such a message (RFC 9051 allows it); once a file is
 * gone, or the mailbox changed while the FETCH waited for output room, it
 * re-reads which UIDs remain, so everything one EXPUNGE removed vanishes
 * from its output together (imap/cmd_fetch.c).
 *
 * Without a running syncer (delay 0, the command-line tools, `rampart
 * deliver`, a forked child) every commit is FULL, as before. */
#include "store/sqlite/sqlite_internal.h"
#include "store/sqlite/userq.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A user with metadata commits not yet fsync'd; queued in due order (the
 * delay is constant: FIFO), and taken off as a batch chained by q.next. */
struct sync_dirty {
	struct userq_entry q;     /* first: a queue entry is its sync_dirty */
	uint64_t due_ms;          /* CLOCK_MONOTONIC: first commit + delay */
	char (*blobs)[65];        /* files to unlink once synced */
	size_t nblobs, cap;
	uint64_t last_seq;        /* of the latest commit handed over */
	bool covered;             /* a FULL commit synced them all meanwhile */
};

/* WAL files whose directory entry this process made durable (SQLite does
 * it on a connection's first sync, which a NORMAL commit never makes). */
struct sync_wal_id {
	dev_t dev;
	ino_t ino;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;   /* new work, or stop */
	pthread_cond_t idle;   /* busy dropped to 0 */
	pthread_t thread;
	atomic_bool running;
	bool stopping;
	pid_t pid;             /* the process the thread runs in */
	unsigned delay_ms;
	unsigned busy;         /* batches being synced outside the lock */
	atomic_uint_fast64_t seq;  /* commits handed over so far */
	struct userq queue;
	struct sync_wal_id *known;
	size_t nknown, known_cap;
	atomic_uint_fast64_t stats[7];  /* enum sync_stat */
} g_sync = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.idle = PTHREAD_COND_INITIALIZER,
};

enum sync_stat { ST_DEFERRED, ST_SYNCS, ST_DIR_SYNCS, ST_FAILED, ST_COVERED, ST_UNLINKS };

static void stat_add(enum sync_stat s, uint64_t n)
{
	atomic_fetch_add(&g_sync.stats[s], n);
}

bool sqlite_sync_active(void)
{
	return atomic_load(&g_sync.running) && g_sync.pid == (pid_t)proc_pid();
}

static struct sync_dirty *dirty_of(struct userq_entry *e)
{
	return (struct sync_dirty *)e;
}

static struct sync_dirty *queue_head(void)
{
	return dirty_of(g_sync.queue.head);
}

static bool sync_wal(const struct sync_dirty *d);

bool sqlite_sync_defer(struct sqlite_user *u, char (*blobs)[65], size_t n)
{
	pthread_mutex_lock(&g_sync.lock);
	if (!sqlite_sync_active() || g_sync.stopping) {
		/* Stopped since the transaction began: made durable here, the
		 * blobs are the caller's to collect. */
		pthread_mutex_unlock(&g_sync.lock);
		struct sync_dirty now = { .q = { .username = u->username, .dir = u->dir } };
		if (!sync_wal(&now))
			log_err("event=store_sync_error user=%s errno=%d", u->username, errno);
		return false;
	}
	struct sync_dirty *d = dirty_of(userq_find(&g_sync.queue, u->username));
	if (!d) {
		d = xcalloc(1, sizeof(*d));
		userq_entry_init(&d->q, u->username, u->dir);
		d->due_ms = now_ms() + g_sync.delay_ms;
		userq_push(&g_sync.queue, &d->q);
		/* Only a new head changes when the thread must wake. */
		if (queue_head() == d)
			pthread_cond_signal(&g_sync.wake);
	}
	d->last_seq = atomic_fetch_add(&g_sync.seq, 1) + 1;
	d->covered = false;
	if (n > 0) {
		xgrow((void **)&d->blobs, &d->cap, d->nblobs + n, sizeof(*d->blobs));
		memcpy(d->blobs + d->nblobs, blobs, n * sizeof(*blobs));
		d->nblobs += n;
	}
	pthread_mutex_unlock(&g_sync.lock);
	stat_add(ST_DEFERRED, 1);
	return true;
}

uint64_t sqlite_sync_seq(void)
{
	return atomic_load(&g_sync.seq);
}

void sqlite_sync_covered(struct sqlite_user *u, uint64_t seq)
{
	if (!sqlite_sync_active())
		return;
	pthread_mutex_lock(&g_sync.lock);
	struct sync_dirty *d = dirty_of(userq_find(&g_sync.queue, u->username));
	/* Every commit it stands for was handed over, so written to the WAL,
	 * before the FULL commit's sync. */
	if (d && d->last_seq <= seq)
		d->covered = true;
	pthread_mutex_unlock(&g_sync.lock);
}

/* Takes the entries due by `now` (all with now == UINT64_MAX) off the
 * table; the caller syncs them and then calls batch_done(). */
static struct sync_dirty *take_due_locked(uint64_t now)
{
	struct userq_entry *batch = NULL, **tailp = &batch;
	while (queue_head() && queue_head()->due_ms <= now) {
		struct userq_entry *e = userq_pop(&g_sync.queue);
		*tailp = e;
		tailp = &e->next;
	}
	if (batch)
		g_sync.busy++;
	return dirty_of(batch);
}

/* Whether this process already made the WAL's directory entry durable;
 * records it as done when `add`. */
static bool wal_known(dev_t dev, ino_t ino, bool add)
{
	pthread_mutex_lock(&g_sync.lock);
	bool found = false;
	for (size_t i = 0; i < g_sync.nknown && !found; i++)
		found = g_sync.known[i].dev == dev && g_sync.known[i].ino == ino;
	if (!found && add) {
		xgrow((void **)&g_sync.known, &g_sync.known_cap, g_sync.nknown + 1,
		      sizeof(*g_sync.known));
		g_sync.known[g_sync.nknown++] = (struct sync_wal_id){ dev, ino };
	}
	pthread_mutex_unlock(&g_sync.lock);
	return found;
}

/* fdatasync of the user's WAL: true when every commit written to it
 * before the call is durable. */
static bool sync_wal(const struct sync_dirty *d)
{
	char *wal = xasprintf("%s/index.sqlite-wal", d->q.dir);
	int fd = open(wal, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && store_fds_relieve(errno))
		fd = open(wal, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(wal);
	if (fd < 0)
		/* No WAL: the last checkpoint copied it into the database and
		 * synced that (SQLite does, whatever the synchronous mode). */
		return errno == ENOENT;
	bool ok = fdatasync(fd) == 0;
	struct stat st;
	if (ok && fstat(fd, &st) == 0 && !wal_known(st.st_dev, st.st_ino, false)) {
		ok = store_fsync_dir(d->q.dir) == 0;
		if (ok) {
			wal_known(st.st_dev, st.st_ino, true);
			stat_add(ST_DIR_SYNCS, 1);
			metrics_store_fsync(METRICS_FSYNC_METADATA_DIR);
		}
	}
	int e = errno;
	close(fd);
	errno = e;
	if (ok) {
		stat_add(ST_SYNCS, 1);
		metrics_store_fsync(METRICS_FSYNC_METADATA);
	}
	return ok;
}

/* The files of the entry's expunged messages, now that the expunges are
 * durable. A user removed meanwhile is not created again to do it (and
 * the files went with the store). */
static void unlink_blobs(const struct sync_dirty *d)
{
	struct store_user *base = sqlite_user_open_existing(d->q.username, d->q.dir);
	if (!base) {
		log_warn("event=store_sync_gc_skipped user=%s blobs=%zu", d->q.username, d->nblobs);
		return;
	}
	sqlite_blobs_collect(sqlite_user_of(base), d->blobs, d->nblobs);
	sqlite_user_close(base);
	stat_add(ST_UNLINKS, d->nblobs);
}

static void batch_run(struct sync_dirty *batch)
{
	while (batch) {
		struct sync_dirty *d = batch;
		batch = dirty_of(d->q.next);
		bool synced = d->covered;
		if (synced)
			stat_add(ST_COVERED, 1);
		else
			synced = sync_wal(d);
		if (synced && d->nblobs > 0) {
			unlink_blobs(d);
		} else if (!synced) {
			/* The commits were acknowledged and stay in the page
			 * cache; the files stay too (garbage for `rampart check`
			 * rather than rows without their bytes). */
			stat_add(ST_FAILED, 1);
			log_err("event=store_sync_error user=%s errno=%d", d->q.username, errno);
		}
		free(d->blobs);
		userq_entry_clear(&d->q);
		free(d);
	}
	pthread_mutex_lock(&g_sync.lock);
	if (--g_sync.busy == 0)
		pthread_cond_broadcast(&g_sync.idle);
	pthread_mutex_unlock(&g_sync.lock);
}

static void *sync_thread(void *arg)
{
	(void)arg;
	thread_name("rampart-sync");
	pthread_mutex_lock(&g_sync.lock);
	while (!g_sync.stopping) {
		if (!queue_head()) {
			pthread_cond_wait(&g_sync.wake, &g_sync.lock);
			continue;
		}
		uint64_t now = now_ms();
		if (queue_head()->due_ms > now) {
			uint64_t due = queue_head()->due_ms;
			struct timespec ts = ms_timespec(due);
			pthread_cond_timedwait(&g_sync.wake, &g_sync.lock, &ts);
			continue;
		}
		struct sync_dirty *batch = take_due_locked(now);
		pthread_mutex_unlock(&g_sync.lock);
		batch_run(batch);
		pthread_mutex_lock(&g_sync.lock);
	}
	pthread_mutex_unlock(&g_sync.lock);
	return NULL;
}

int sqlite_sync_start(unsigned delay_ms)
{
	/* The checkpointer too (ckpt.c): whatever the delay. */
	if (sqlite_ckpt_start() != STORE_OK)
		return STORE_EIO;
	if (delay_ms == 0 || sqlite_sync_active())
		return STORE_OK;
	if (atomic_load(&g_sync.running)) {
		/* A forked child: the parent's table and thread are not its own
		 * (their memory is left alone). */
		userq_reset(&g_sync.queue);
		g_sync.known = NULL;
		g_sync.nknown = g_sync.known_cap = 0;
		g_sync.busy = 0;
		pthread_mutex_init(&g_sync.lock, NULL);
		pthread_cond_init(&g_sync.idle, NULL);
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g_sync.wake, &ca);
	pthread_condattr_destroy(&ca);
	g_sync.delay_ms = delay_ms;
	g_sync.stopping = false;
	g_sync.pid = (pid_t)proc_pid();
	if (pthread_create(&g_sync.thread, NULL, sync_thread, NULL) != 0) {
		log_err("event=store_sync_error msg=\"cannot start the syncer thread\"");
		pthread_cond_destroy(&g_sync.wake);
		return STORE_EIO;
	}
	atomic_store(&g_sync.running, true);
	return STORE_OK;
}

void sqlite_sync_flush(void)
{
	if (g_sync.pid != (pid_t)proc_pid())
		return;  /* a forked child: the parent's table is not its own */
	pthread_mutex_lock(&g_sync.lock);
	struct sync_dirty *batch = take_due_locked(UINT64_MAX);
	pthread_mutex_unlock(&g_sync.lock);
	if (batch)
		batch_run(batch);
	/* And the batches the thread is syncing now. */
	pthread_mutex_lock(&g_sync.lock);
	while (g_sync.busy > 0)
		pthread_cond_wait(&g_sync.idle, &g_sync.lock);
	pthread_mutex_unlock(&g_sync.lock);
}

void sqlite_sync_stop(void)
{
	if (!atomic_load(&g_sync.running) || g_sync.pid != (pid_t)proc_pid())
		return;
	/* New metadata commits are FULL from here on. */
	atomic_store(&g_sync.running, false);
	pthread_mutex_lock(&g_sync.lock);
	g_sync.stopping = true;
	pthread_cond_signal(&g_sync.wake);
	pthread_mutex_unlock(&g_sync.lock);
	pthread_join(g_sync.thread, NULL);
	sqlite_sync_flush();
	pthread_cond_destroy(&g_sync.wake);
	pthread_mutex_lock(&g_sync.lock);
	free(g_sync.known);
	g_sync.known = NULL;
	g_sync.nknown = g_sync.known_cap = 0;
	pthread_mutex_unlock(&g_sync.lock);
}

void sqlite_sync_stats(struct store_sync_stats *out)
{
	out->deferred = atomic_load(&g_sync.stats[ST_DEFERRED]);
	out->syncs = atomic_load(&g_sync.stats[ST_SYNCS]);
	out->dir_syncs = atomic_load(&g_sync.stats[ST_DIR_SYNCS]);
	out->failed = atomic_load(&g_sync.stats[ST_FAILED]);
	out->covered = atomic_load(&g_sync.stats[ST_COVERED]);
	out->unlinks = atomic_load(&g_sync.stats[ST_UNLINKS]);
	sqlite_ckpt_stats(&out->checkpoints, &out->checkpoints_inline);
	out->yields = sqlite_tx_yields();
}
