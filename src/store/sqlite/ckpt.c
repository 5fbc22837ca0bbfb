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

/* Pages (frames) in the WAL. SOFT is SQLite's default autocheckpoint. */
#define CKPT_SOFT 1000
#define CKPT_HARD 8000

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
	atomic_uint_fast64_t done, inline_done;
} g_ckpt = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
	.idle = PTHREAD_COND_INITIALIZER,
};

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
		struct userq_entry *r = xcalloc(1, sizeof(*r));
		userq_entry_init(r, u->username, u->dir);
		userq_push(&g_ckpt.queue, r);
		pthread_cond_signal(&g_ckpt.wake);
	}
	pthread_mutex_unlock(&g_ckpt.lock);
	return true;
}

static int ckpt_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	const struct sqlite_user *u = arg;
	if (frames < CKPT_SOFT)
		return SQLITE_OK;
	if (frames < CKPT_HARD && ckpt_request(u))
		return SQLITE_OK;
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

static void ckpt_run(const struct userq_entry *r)
{
	struct store_user *base = sqlite_user_open_existing(r->username, r->dir);
	if (!base)
		return;
	struct sqlite_user *u = sqlite_user_of(base);
	int rc = sqlite3_wal_checkpoint_v2(u->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		log_warn("event=store_checkpoint_error user=%s error=\"%s\"", r->username,
			 sqlite3_errmsg(u->db));
	sqlite_user_close(base);
	atomic_fetch_add(&g_ckpt.done, 1);
}

static void ckpt_free(struct userq_entry *r)
{
	userq_entry_clear(r);
	free(r);
}

static void *ckpt_thread(void *arg)
{
	(void)arg;
	thread_name("rampart-ckpt");
	pthread_mutex_lock(&g_ckpt.lock);
	while (!g_ckpt.stopping) {
		struct userq_entry *r = userq_pop(&g_ckpt.queue);
		if (!r) {
			pthread_cond_broadcast(&g_ckpt.idle);
			pthread_cond_wait(&g_ckpt.wake, &g_ckpt.lock);
			continue;
		}
		g_ckpt.busy = true;
		pthread_mutex_unlock(&g_ckpt.lock);
		ckpt_run(r);
		ckpt_free(r);
		pthread_mutex_lock(&g_ckpt.lock);
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
		g_ckpt.busy = false;
		pthread_mutex_init(&g_ckpt.lock, NULL);
		pthread_cond_init(&g_ckpt.wake, NULL);
		pthread_cond_init(&g_ckpt.idle, NULL);
	}
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
	while (g_ckpt.queue.head || g_ckpt.busy)
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
	struct userq_entry *r;
	while ((r = userq_pop(&g_ckpt.queue)))
		ckpt_free(r);
	pthread_mutex_unlock(&g_ckpt.lock);
}

void sqlite_ckpt_stats(uint64_t *background, uint64_t *inline_done)
{
	*background = atomic_load(&g_ckpt.done);
	*inline_done = atomic_load(&g_ckpt.inline_done);
}
