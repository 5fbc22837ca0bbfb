/* The change feed of the SQLite backend: one watcher thread turns inotify
 * events on the users' notify files (touched by sqlite_notify() after every
 * commit, by this process, another server process or `rampart deliver`)
 * into the callbacks of store_watch_start(). A backend with a server of
 * its own (PostgreSQL: LISTEN/NOTIFY) feeds the same callback its way.
 *
 * This is process-wide state by nature (one inotify instance, one thread);
 * it is guarded by one mutex. The callback runs without the mutex held.
 * Entries (one per watched user) are indexed by name and by inotify watch
 * descriptor, so a login, a logout and an event each cost O(1) however
 * many users are watched.
 *
 * fastnotify (issue #14): a commit of this process tells this process's
 * watchers directly (sqlite_watch_changed) and touches the notify file only
 * when another process may watch the user. Each watching process holds a
 * POSIX read lock on the user's byte slot (a hash of the name) of one
 * registry file, <mail root>/.watchers, taken before any of its sessions
 * reads the user's store; a writer asks with F_GETLK, which never reports
 * its own process's locks. A process that cannot open the registry (or
 * ask it) touches, as every commit did before. The touch, the inotify
 * event and the watcher thread's wake-up were ~4% of the imaptest-like
 * mix's samples. */
#include "store/sqlite/sqlite_internal.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

/* Writers only ever signal with utimensat (IN_ATTRIB). Opening or closing
 * the file must not count as a change: store_user_open touching it would
 * wake every session of the user, each of which opens the store again, and
 * so on for ever. */
#define WATCH_MASK (IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
/* How often watches whose notify file does not exist yet are retried. */
#define WATCH_RETRY_MS 500
#define WATCH_BUCKETS 4096
/* Byte slots of the registry file: distinct users of two processes that
 * share one only cost a touch for nothing. */
#define WATCH_SLOTS 65536

struct watch_entry {
	char *username;
	char *path;   /* <userdir>/notify */
	int wd;       /* -1: not armed yet (file missing) */
	unsigned refs;
	uint64_t fired;                /* drain generation it was last reported in */
	struct watch_entry *name_next; /* same name bucket */
	struct watch_entry *wd_next;   /* same wd bucket; armed entries only */
};

static struct {
	pthread_mutex_t lock;
	int ifd;      /* inotify */
	int efd;      /* eventfd: wakes the thread to stop or re-arm */
	bool running;
	bool stopping;
	pthread_t thread;
	store_change_cb cb;
	void *arg;
	struct watch_entry *by_name[WATCH_BUCKETS];
	struct watch_entry *by_wd[WATCH_BUCKETS];
	size_t unarmed;  /* entries with wd < 0 */
	uint64_t gen;
	long pid;     /* the process that started the watcher (not a forked child) */
	int regfd;    /* the registry (.watchers); -1 not open yet, -2 cannot */
	uint32_t slot_refs[WATCH_SLOTS]; /* this process's entries per slot */
} g_watch = { .lock = PTHREAD_MUTEX_INITIALIZER, .ifd = -1, .efd = -1, .regfd = -1 };

static unsigned watch_slot(const char *username)
{
	return hash_bytes(username, strlen(username)) % WATCH_SLOTS;
}

/* Opened once and never closed while the process runs: closing any
 * descriptor of the file would drop every lock this process holds on it.
 * Only a watching process creates it; a writer that finds none (a fresh
 * mail root, or the file deleted under a running server) touches for
 * every user, and looks again at its next commit. */
static int registry_fd_locked(bool create)
{
	if (g_watch.regfd != -1)
		return g_watch.regfd;
	const char *root = store_mail_root();
	if (!root)
		return -1;
	char *path = xasprintf("%s/.watchers", root);
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0600);
	if (fd >= 0) {
		g_watch.regfd = fd;
	} else if (create || errno != ENOENT) {
		log_warn("event=store_watch_error op=registry path=\"%s\" errno=%d", path, errno);
		g_watch.regfd = -2;
	}
	free(path);
	return fd;
}

static int registry_lock_locked(unsigned slot, short type)
{
	int fd = registry_fd_locked(true);
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = slot, .l_len = 1 };
	if (fd < 0 || fcntl(fd, F_SETLK, &fl) < 0) {
		/* Writers of other processes that can open the registry
		 * would then not touch for this user: said loudly. */
		log_err("event=store_watch_error op=register slot=%u errno=%d", slot,
			fd < 0 ? ENOENT : errno);
		return -1;
	}
	return 0;
}

static void registry_add_locked(const char *username)
{
	unsigned slot = watch_slot(username);
	if (g_watch.slot_refs[slot]++ == 0)
		registry_lock_locked(slot, F_RDLCK);
}

static void registry_remove_locked(const char *username)
{
	unsigned slot = watch_slot(username);
	if (g_watch.slot_refs[slot] > 0 && --g_watch.slot_refs[slot] == 0)
		registry_lock_locked(slot, F_UNLCK);
}

static struct watch_entry **name_bucket(const char *username)
{
	return &g_watch.by_name[hash_bytes(username, strlen(username)) % WATCH_BUCKETS];
}

static struct watch_entry *entry_find_locked(const char *username)
{
	struct watch_entry *e;
	for (e = *name_bucket(username); e; e = e->name_next)
		if (strcmp(e->username, username) == 0)
			break;
	return e;
}

static struct watch_entry **wd_bucket(int wd)
{
	return &g_watch.by_wd[(unsigned)wd % WATCH_BUCKETS];
}

static int watch_fds_open_locked(void)
{
	if (g_watch.ifd < 0)
		g_watch.ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (g_watch.efd < 0)
		g_watch.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return (g_watch.ifd >= 0 && g_watch.efd >= 0) ? 0 : -1;
}

static void watch_wake(void)
{
	uint64_t one = 1;
	if (g_watch.efd >= 0 && write(g_watch.efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("event=store_watch_error op=wake errno=%d", errno);
}

static void wd_index_remove_locked(struct watch_entry *e)
{
	struct watch_entry **pp = wd_bucket(e->wd);
	while (*pp && *pp != e)
		pp = &(*pp)->wd_next;
	if (*pp)
		*pp = e->wd_next;
	e->wd_next = NULL;
}

/* Arms the inotify watch of e. The notify file is created when the user
 * directory exists but the file does not (a store created before notify
 * files existed, or removed by hand). */
static void watch_arm_locked(struct watch_entry *e)
{
	if (g_watch.ifd < 0 || e->wd >= 0)
		return;
	int wd = inotify_add_watch(g_watch.ifd, e->path, WATCH_MASK);
	if (wd < 0 && errno == ENOENT) {
		int fd = open(e->path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0) {
			close(fd);
			wd = inotify_add_watch(g_watch.ifd, e->path, WATCH_MASK);
		}
	}
	if (wd < 0)
		return;
	e->wd = wd;
	struct watch_entry **b = wd_bucket(wd);
	e->wd_next = *b;
	*b = e;
	g_watch.unarmed--;
}

/* Two names can reach one file only through the same inode; the kernel
 * watch is shared then. */
static bool watch_wd_shared_locked(const struct watch_entry *e)
{
	for (struct watch_entry *o = *wd_bucket(e->wd); o; o = o->wd_next)
		if (o != e && o->wd == e->wd)
			return true;
	return false;
}

static void watch_entry_free(struct watch_entry *e)
{
	free(e->username);
	free(e->path);
	free(e);
}

/* Calls the callback for every user in names and frees them. */
static void watch_fire(char **names, size_t n)
{
	store_change_cb cb = g_watch.cb;
	void *arg = g_watch.arg;
	for (size_t i = 0; i < n; i++) {
		if (cb)
			cb(names[i], arg);
		free(names[i]);
	}
}

static void watch_report_locked(struct watch_entry *e, char ***names, size_t *n, size_t *cap)
{
	if (e->fired == g_watch.gen)
		return;  /* already in this batch */
	e->fired = g_watch.gen;
	xgrow((void **)names, cap, *n + 1, sizeof(**names));
	(*names)[(*n)++] = xstrdup(e->username);
}

/* Collects (copies) the users watched through wd, or all of them when
 * wd < 0 (the kernel queue overflowed: anything may have changed). */
static void watch_collect_locked(int wd, char ***names, size_t *n, size_t *cap)
{
	if (wd >= 0) {
		for (struct watch_entry *e = *wd_bucket(wd); e; e = e->wd_next)
			if (e->wd == wd)
				watch_report_locked(e, names, n, cap);
		return;
	}
	for (size_t b = 0; b < WATCH_BUCKETS; b++)
		for (struct watch_entry *e = g_watch.by_name[b]; e; e = e->name_next)
			watch_report_locked(e, names, n, cap);
}

/* Reads all pending inotify events, coalescing them per user. */
static void watch_drain(void)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	char **names = NULL;
	size_t n = 0, cap = 0;
	pthread_mutex_lock(&g_watch.lock);
	g_watch.gen++;
	pthread_mutex_unlock(&g_watch.lock);
	for (;;) {
		ssize_t len = read(g_watch.ifd, buf, sizeof(buf));
		if (len <= 0)
			break;
		pthread_mutex_lock(&g_watch.lock);
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				watch_collect_locked(-1, &names, &n, &cap);
				continue;
			}
			watch_collect_locked(ev->wd, &names, &n, &cap);
			if (ev->mask & IN_IGNORED) {
				/* The file went away (user removed, or replaced):
				 * re-arm when it is back. */
				struct watch_entry **pp = wd_bucket(ev->wd);
				while (*pp) {
					struct watch_entry *m = *pp;
					if (m->wd != ev->wd) {
						pp = &m->wd_next;
						continue;
					}
					*pp = m->wd_next;
					m->wd_next = NULL;
					m->wd = -1;
					g_watch.unarmed++;
				}
			}
		}
		pthread_mutex_unlock(&g_watch.lock);
	}
	watch_fire(names, n);
	free(names);
}

/* Retries unarmed watches; a user whose watch just got armed is reported
 * once, since a change may have happened while nobody watched. Returns
 * whether some remain unarmed. */
static bool watch_retry(void)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	pthread_mutex_lock(&g_watch.lock);
	if (g_watch.unarmed > 0) {
		g_watch.gen++;
		for (size_t b = 0; b < WATCH_BUCKETS && g_watch.unarmed > 0; b++) {
			for (struct watch_entry *e = g_watch.by_name[b]; e; e = e->name_next) {
				if (e->wd >= 0)
					continue;
				watch_arm_locked(e);
				if (e->wd >= 0)
					watch_report_locked(e, &names, &n, &cap);
			}
		}
	}
	bool pending = g_watch.unarmed > 0;
	pthread_mutex_unlock(&g_watch.lock);
	watch_fire(names, n);
	free(names);
	return pending;
}

static void *watch_thread(void *arg)
{
	(void)arg;
	thread_name("rampart-watch");
	bool pending = watch_retry();
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = g_watch.ifd, .events = POLLIN },
			{ .fd = g_watch.efd, .events = POLLIN },
		};
		int r = poll(pfd, 2, pending ? WATCH_RETRY_MS : -1);
		if (r < 0 && errno != EINTR) {
			log_err("event=store_watch_error op=poll errno=%d", errno);
			break;
		}
		if (pfd[1].revents & POLLIN) {
			uint64_t v;
			if (read(g_watch.efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_warn("event=store_watch_error op=read errno=%d", errno);
		}
		pthread_mutex_lock(&g_watch.lock);
		bool stop = g_watch.stopping;
		pthread_mutex_unlock(&g_watch.lock);
		if (stop)
			break;
		if (pfd[0].revents & POLLIN)
			watch_drain();
		pending = watch_retry();
	}
	return NULL;
}

int sqlite_watch_start(store_change_cb cb, void *arg)
{
	pthread_mutex_lock(&g_watch.lock);
	int r = STORE_OK;
	if (g_watch.running) {
		r = STORE_EINVAL;
	} else if (watch_fds_open_locked() < 0) {
		log_err("event=store_watch_error op=init errno=%d", errno);
		r = STORE_EIO;
	} else {
		g_watch.cb = cb;
		g_watch.arg = arg;
		g_watch.pid = proc_pid();
		g_watch.stopping = false;
		for (size_t b = 0; b < WATCH_BUCKETS; b++)
			for (struct watch_entry *e = g_watch.by_name[b]; e; e = e->name_next)
				watch_arm_locked(e);
		if (pthread_create(&g_watch.thread, NULL, watch_thread, NULL) != 0) {
			r = STORE_EIO;
		} else {
			g_watch.running = true;
		}
	}
	pthread_mutex_unlock(&g_watch.lock);
	return r;
}

void sqlite_watch_stop(void)
{
	pthread_mutex_lock(&g_watch.lock);
	if (!g_watch.running) {
		pthread_mutex_unlock(&g_watch.lock);
		return;
	}
	g_watch.stopping = true;
	watch_wake();
	pthread_mutex_unlock(&g_watch.lock);
	pthread_join(g_watch.thread, NULL);
	pthread_mutex_lock(&g_watch.lock);
	for (size_t b = 0; b < WATCH_BUCKETS; b++) {
		while (g_watch.by_name[b]) {
			struct watch_entry *e = g_watch.by_name[b];
			g_watch.by_name[b] = e->name_next;
			registry_remove_locked(e->username);
			watch_entry_free(e);
		}
		g_watch.by_wd[b] = NULL;
	}
	g_watch.unarmed = 0;
	close(g_watch.ifd);
	close(g_watch.efd);
	g_watch.ifd = g_watch.efd = -1;
	g_watch.running = false;
	g_watch.stopping = false;
	g_watch.cb = NULL;
	g_watch.arg = NULL;
	pthread_mutex_unlock(&g_watch.lock);
}

bool sqlite_watch_changed(const char *username)
{
	pthread_mutex_lock(&g_watch.lock);
	struct watch_entry *e = entry_find_locked(username);
	store_change_cb cb =
		g_watch.running && e && g_watch.pid == proc_pid() ? g_watch.cb : NULL;
	void *arg = g_watch.arg;
	int fd = registry_fd_locked(g_watch.running);
	pthread_mutex_unlock(&g_watch.lock);
	if (cb)
		cb(username, arg);
	if (fd < 0)
		return true;
	struct flock fl = { .l_type = F_WRLCK,
			    .l_whence = SEEK_SET,
			    .l_start = watch_slot(username),
			    .l_len = 1 };
	if (fcntl(fd, F_GETLK, &fl) < 0)
		return true;
	return fl.l_type != F_UNLCK;
}

int sqlite_watch_user(const char *username)
{
	char *dir = store_user_dir(username);
	if (!dir)
		return STORE_EINVAL;
	pthread_mutex_lock(&g_watch.lock);
	int r = STORE_OK;
	struct watch_entry **b = name_bucket(username);
	struct watch_entry *e = entry_find_locked(username);
	if (e) {
		e->refs++;
	} else if (watch_fds_open_locked() < 0) {
		r = STORE_EIO;
	} else {
		e = xcalloc(1, sizeof(*e));
		e->username = xstrdup(username);
		e->path = xasprintf("%s/notify", dir);
		e->wd = -1;
		e->refs = 1;
		e->name_next = *b;
		*b = e;
		registry_add_locked(username);
		g_watch.unarmed++;
		watch_arm_locked(e);
		if (e->wd < 0)
			watch_wake();  /* the thread polls for it from now on */
	}
	pthread_mutex_unlock(&g_watch.lock);
	free(dir);
	return r;
}

void sqlite_unwatch_user(const char *username)
{
	pthread_mutex_lock(&g_watch.lock);
	struct watch_entry **pp = name_bucket(username);
	while (*pp && strcmp((*pp)->username, username) != 0)
		pp = &(*pp)->name_next;
	struct watch_entry *e = *pp;
	if (e && --e->refs == 0) {
		*pp = e->name_next;
		registry_remove_locked(e->username);
		if (e->wd >= 0) {
			bool shared = watch_wd_shared_locked(e);
			wd_index_remove_locked(e);
			if (!shared)
				inotify_rm_watch(g_watch.ifd, e->wd);
		} else {
			g_watch.unarmed--;
		}
		watch_entry_free(e);
	}
	pthread_mutex_unlock(&g_watch.lock);
}
