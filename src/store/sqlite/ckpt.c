/* The background checkpointer of the SQLite backend (issue #14, ckpt).
 *
 * SQLite copies a WAL back into the database file (a checkpoint) from the
 * connection whose commit took the WAL past wal_autocheckpoint pages
 * (1,000 by default), inside that commit's sqlite3_step: that command
 * (an APPEND, usually) then also wrote up to a thousand pages into the
 * database file and synced both files before its answer. Measured with
 * `loadgen -w deliver`, one sender: p99 15-18 ms against 3.8-5.5 ms
 * with no checkpoints at all, every ~90th APPEND paying ~15 ms.
 *
 * While this thread runs, each connection of the process has a WAL hook
 * (sqlite_ckpt_hook) instead of wal_autocheckpoint: at CKPT_SOFT pages it
 * hands the user to this thread and returns, and the thread runs a
 * PASSIVE checkpoint (never waits for readers or writers, copies what
 * the oldest reader allows; the next writer then restarts the WAL from
 * its beginning) on a pooled handle of that user. At CKPT_HARD pages (the
 * thread cannot keep up, or a reader holds it back) the committing
 * connection checkpoints itself, as before, so the WAL stays bounded.
 *
 * A checkpoint copies what was committed when it began; the WAL starts
 * over at the next writer only if that writer began after the copy
 * ended. One sender's back-to-back APPENDs mostly begin during it, so the
 * WAL stays past CKPT_SOFT; a handle then asks again only once the WAL
 * grew by CKPT_AGAIN pages (asking at every commit cost two syncs per
 * APPEND for a few new pages each), and the thread looks at every user it
 * checkpointed again CKPT_FOLLOW_MS later, until a look finds nothing new:
 * the tail written after the last copy is copied once the writer pauses,
 * so its next transaction starts the WAL over.
 *
 * A checkpoint changes nothing that is durable: it syncs the WAL before
 * it copies (whatever the connection's synchronous mode, unless OFF) and
 * the database file after, and a crash in the middle is replayed from the
 * WAL at the next open. Other processes (`rampart deliver`, the tools, a
 * forked child) keep SQLite's own automatic checkpoints. */
#include "store/sqlite/sqlite_internal.h"
#include "store/sqlite/userq.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

/* Pages (frames) in the WAL. SOFT is SQLite's default autocheckpoint. */
#define CKPT_SOFT 1000
#define CKPT_HARD 8000
/* Pages a WAL that did not start over grows by before the same handle
 * asks again (ckpt_hook). */
#define CKPT_AGAIN 250
/* How long after a background checkpoint the thread looks again. */
#define CKPT_FOLLOW_MS 100

/* A user queued for the thread: asked by a commit (queue) or to be
 * looked at again (later, due in arrival order: one delay for all). */
struct ckpt_req {
	struct userq_entry q;  /* first: an entry is its request */
	uint64_t due_ms;       /* later: CLOCK_MONOTONIC */
	int log;               /* later: WAL pages at the last checkpoint */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_cond_t idle;
	pthread_t thread;
	atomic_bool running;
	bool stopping;
	bool busy;               /* a checkpoint runs outside the lock */
	pid_t pid;
	struct userq queue;      /* users whose WAL wants a checkpoint */
	struct userq later;      /* users to look at again (follow-ups) */
	atomic_uint_fast64_t done, inline_done;
} g_ckpt = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.idle = PTHREAD_COND_INITIALIZER,
};

static struct ckpt_req *req_new(const char *username, const char *dir)
{
	struct ckpt_req *r = xcalloc(1, sizeof(*r));
	userq_entry_init(&r->q, username, dir);
	return r;
}

bool sqlite_ckpt_active(void)
{
	return atomic_load(&g_ckpt.running) && g_ckpt.pid == (pid_t)proc_pid();
}

/* Queues u for the thread (once however often asked); false when the
 * thread does not run in this process or is stopping. */
static bool ckpt_request(const struct sqlite_user *u)
{
	pthread_mutex_lock(&g_ckpt.lock);
	if (!sqlite_ckpt_active() || g_ckpt.stopping) {
		pthread_mutex_unlock(&g_ckpt.lock);
		return false;
	}
	if (!userq_find(&g_ckpt.queue, u->username)) {
		userq_push(&g_ckpt.queue, &req_new(u->username, u->dir)->q);
		pthread_cond_signal(&g_ckpt.wake);
	}
	pthread_mutex_unlock(&g_ckpt.lock);
	return true;
}

static int ckpt_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct sqlite_user *u = arg;
	if (frames < CKPT_SOFT) {
		u->ckpt_asked = 0;
		return SQLITE_OK;
	}
	/* The next writer starts the WAL over only if it began after the
	 * checkpoint's copy ended; one sender's APPENDs, each right after
	 * the last, mostly began during it, the WAL stayed past CKPT_SOFT,
	 * and every commit asked for a checkpoint of its few new pages with
	 * two syncs (deliver, one sender: 0.74 checkpoints and ~1,000 us of
	 * server CPU per APPEND; ~700 us asking every CKPT_AGAIN pages). */
	if (frames < CKPT_HARD && u->ckpt_asked > 0 && frames >= u->ckpt_asked &&
	    frames < u->ckpt_asked + CKPT_AGAIN)
		return SQLITE_OK;
	if (frames < CKPT_HARD && ckpt_request(u)) {
		u->ckpt_asked = frames;
		return SQLITE_OK;
	}
	/* What wal_autocheckpoint does; its result is no concern of the
	 * commit, which has succeeded. */
	sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	atomic_fetch_add(&g_ckpt.inline_done, 1);
	return SQLITE_OK;
}

void sqlite_ckpt_attach(struct sqlite_user *u)
{
	if (sqlite_ckpt_active())
		sqlite3_wal_hook(u->db, ckpt_hook, u);
}

/* A PASSIVE checkpoint of r's user; false when it could not run. *log
 * is the WAL's pages, *copied how many of them are in the database now. */
static bool ckpt_run(const struct userq_entry *r, int *log, int *copied)
{
	*log = *copied = -1;
	struct store_user *base = sqlite_user_open_existing(r->username, r->dir);
	if (!base)
		return false;
	struct sqlite_user *u = sqlite_user_of(base);
	int rc = sqlite3_wal_checkpoint_v2(u->db, "main", SQLITE_CHECKPOINT_PASSIVE, log, copied);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		log_warn("event=store_checkpoint_error user=%s error=\"%s\"", r->username,
			 sqlite3_errmsg(u->db));
	sqlite_user_close(base);
	atomic_fetch_add(&g_ckpt.done, 1);
	return rc == SQLITE_OK;
}

static void ckpt_free(struct ckpt_req *r)
{
	userq_entry_clear(&r->q);
	free(r);
}

/* After a checkpoint of r's user that left log pages in the WAL (prev:
 * what the previous look found, -1 after one asked by a commit): looks
 * again later unless this look found the WAL started over or nothing
 * written since the last. Takes r (frees or queues it). Locked. */
static void follow_up_locked(struct ckpt_req *r, bool ran, int log, int copied, int prev)
{
	bool settled = !ran || log < CKPT_SOFT || (log == prev && copied == log);
	if (settled || g_ckpt.stopping || userq_find(&g_ckpt.later, r->q.username)) {
		ckpt_free(r);
		return;
	}
	r->log = log;
	r->due_ms = now_ms() + CKPT_FOLLOW_MS;
	userq_push(&g_ckpt.later, &r->q);
}

/* The next request to run: asked ones first, then a due follow-up (its
 * previous look's pages in *prev). NULL: none now; *due_ms > 0 says
 * when the next follow-up is due. Locked. */
static struct ckpt_req *next_locked(int *prev, uint64_t *due_ms)
{
	*due_ms = 0;
	struct userq_entry *e = userq_pop(&g_ckpt.queue);
	if (e) {
		*prev = -1;
		return (struct ckpt_req *)e;
	}
	struct ckpt_req *r = (struct ckpt_req *)g_ckpt.later.head;
	if (!r)
		return NULL;
	if (r->due_ms > now_ms()) {
		*due_ms = r->due_ms;
		return NULL;
	}
	userq_pop(&g_ckpt.later);
	*prev = r->log;
	return r;
}

static void *ckpt_thread(void *arg)
{
	(void)arg;
	thread_name("rampart-ckpt");
	pthread_mutex_lock(&g_ckpt.lock);
	while (!g_ckpt.stopping) {
		int prev;
		uint64_t due;
		struct ckpt_req *r = next_locked(&prev, &due);
		if (!r && due) {
			struct timespec ts = ms_timespec(due);
			pthread_cond_timedwait(&g_ckpt.wake, &g_ckpt.lock, &ts);
			continue;
		}
		if (!r) {
			pthread_cond_broadcast(&g_ckpt.idle);
			pthread_cond_wait(&g_ckpt.wake, &g_ckpt.lock);
			continue;
		}
		g_ckpt.busy = true;
		pthread_mutex_unlock(&g_ckpt.lock);
		int log, copied;
		bool ran = ckpt_run(&r->q, &log, &copied);
		pthread_mutex_lock(&g_ckpt.lock);
		follow_up_locked(r, ran, log, copied, prev);
		g_ckpt.busy = false;
	}
	pthread_cond_broadcast(&g_ckpt.idle);
	pthread_mutex_unlock(&g_ckpt.lock);
	return NULL;
}

int sqlite_ckpt_start(void)
{
	if (sqlite_ckpt_active())
		return STORE_OK;
	if (atomic_load(&g_ckpt.running)) {
		/* A forked child: the parent's queue and thread are not its own. */
		userq_reset(&g_ckpt.queue);
		userq_reset(&g_ckpt.later);
		g_ckpt.busy = false;
		pthread_mutex_init(&g_ckpt.lock, NULL);
		pthread_cond_init(&g_ckpt.idle, NULL);
	}
	/* Follow-ups wait on the monotonic clock. */
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g_ckpt.wake, &ca);
	pthread_condattr_destroy(&ca);
	g_ckpt.stopping = false;
	g_ckpt.pid = (pid_t)proc_pid();
	if (pthread_create(&g_ckpt.thread, NULL, ckpt_thread, NULL) != 0) {
		log_err("event=store_checkpoint_error msg=\"cannot start the checkpointer thread\"");
		return STORE_EIO;
	}
	atomic_store(&g_ckpt.running, true);
	return STORE_OK;
}

void sqlite_ckpt_wait(void)
{
	if (!sqlite_ckpt_active())
		return;
	pthread_mutex_lock(&g_ckpt.lock);
	while (g_ckpt.queue.head || g_ckpt.later.head || g_ckpt.busy)
		pthread_cond_wait(&g_ckpt.idle, &g_ckpt.lock);
	pthread_mutex_unlock(&g_ckpt.lock);
}

void sqlite_ckpt_stop(void)
{
	if (!atomic_load(&g_ckpt.running) || g_ckpt.pid != (pid_t)proc_pid())
		return;
	/* Handles opened from here on keep SQLite's own checkpoints; open
	 * ones fall back to checkpointing themselves (ckpt_request). */
	pthread_mutex_lock(&g_ckpt.lock);
	g_ckpt.stopping = true;
	pthread_cond_signal(&g_ckpt.wake);
	pthread_mutex_unlock(&g_ckpt.lock);
	pthread_join(g_ckpt.thread, NULL);
	atomic_store(&g_ckpt.running, false);
	/* What is left is checkpointed by whoever writes next (or at the
	 * next start): nothing in the WAL needs this thread to be durable. */
	pthread_mutex_lock(&g_ckpt.lock);
	struct userq_entry *e;
	while ((e = userq_pop(&g_ckpt.queue)))
		ckpt_free((struct ckpt_req *)e);
	while ((e = userq_pop(&g_ckpt.later)))
		ckpt_free((struct ckpt_req *)e);
	pthread_mutex_unlock(&g_ckpt.lock);
}

void sqlite_ckpt_stats(uint64_t *background, uint64_t *inline_done)
{
	*background = atomic_load(&g_ckpt.done);
	*inline_done = atomic_load(&g_ckpt.inline_done);
}
