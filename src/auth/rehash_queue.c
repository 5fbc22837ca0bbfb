/* The server's side of the hash upgrade (auth/rehash.h): a bounded queue
 * filled by passdb_authenticate's hook on the pool threads, and one thread
 * that takes one request at a time to the privileged helper (or, in a
 * server that never was root, runs rehash_user itself), then logs the
 * outcome and reloads the users file so the new hash and SCRAM keys count
 * at once (SCRAM reads the loaded table without a reload of its own).
 *
 * Why a thread of its own and not the work pool: an upgrade is two
 * argon2id runs and a file rewrite that nobody waits for; on the pool it
 * would take a turn from the logins the pool exists for, and the helper
 * serves one request at a time anyway. The queue is small and drops when
 * full: an upgrade not done now is done at the user's next login. */
#include "auth/rehash.h"
#include "auth/rehash_internal.h"
#include "auth/passdb.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Requests waiting: a burst of first logins after a migration is served
 * over the next logins, not all at once. */
#define REHASH_QUEUE_MAX 16
/* How long the helper may take for one upgrade before it is taken for
 * hung (normally well under a second, even under ASan). */
#define REHASH_REPLY_TIMEOUT_MS 60000
/* How long rehash_stop waits for the helper to exit after its socket
 * closed, before killing it. */
#define REHASH_EXIT_WAIT_MS 5000

struct rehash_req {
	char user[REHASH_USER_MAX + 1];
	char password[REHASH_PASSWORD_MAX + 1];
};

struct rehash {
	struct passdb *db;
	char *users_file;
	int fd;                 /* the helper's socket; -1: in-process */
	pid_t pid;
	pthread_t thread;
	pthread_mutex_t lock;   /* guards what follows */
	pthread_cond_t cond;
	struct rehash_req q[REHASH_QUEUE_MAX];
	size_t head, n;
	char busy[REHASH_USER_MAX + 1];   /* the user being upgraded, "" */
	bool stopping;
	bool off;               /* upgrades stopped: helper gone, file not writable */
	struct rehash_counts counts;
};

void rehash_counts_get(struct rehash *rh, struct rehash_counts *out)
{
	pthread_mutex_lock(&rh->lock);
	*out = rh->counts;
	pthread_mutex_unlock(&rh->lock);
}

static bool rehash_queued_locked(const struct rehash *rh, const char *user)
{
	if (strcmp(rh->busy, user) == 0)
		return true;
	for (size_t i = 0; i < rh->n; i++)
		if (strcmp(rh->q[(rh->head + i) % REHASH_QUEUE_MAX].user, user) == 0)
			return true;
	return false;
}

void rehash_request(struct rehash *rh, const char *user, const char *password)
{
	if (!rh || strlen(user) > REHASH_USER_MAX || strlen(password) > REHASH_PASSWORD_MAX)
		return;
	bool full = false;
	pthread_mutex_lock(&rh->lock);
	if (rh->off || rh->stopping) {
		/* nothing to say: stopped (logged once) */
	} else if (rehash_queued_locked(rh, user)) {
		rh->counts.again++;
	} else if (rh->n == REHASH_QUEUE_MAX) {
		full = true;
		rh->counts.full++;
	} else {
		rh->counts.queued++;
		struct rehash_req *r = &rh->q[(rh->head + rh->n) % REHASH_QUEUE_MAX];
		snprintf(r->user, sizeof(r->user), "%s", user);
		snprintf(r->password, sizeof(r->password), "%s", password);
		rh->n++;
		pthread_cond_signal(&rh->cond);
	}
	pthread_mutex_unlock(&rh->lock);
	if (full)
		log_info("event=password_upgrade_dropped user=%s reason=queue_full", user);
}

static void rehash_hook(void *arg, const char *user, const char *password)
{
	rehash_request(arg, user, password);
}

/* One request through the helper. 0, or -1 when the helper is gone,
 * hung or talking nonsense. */
static int rehash_ask_helper(struct rehash *rh, const struct rehash_req *req,
			     struct rehash_result *out)
{
	char msg[REHASH_MSG_MAX];
	size_t len = rehash_msg_encode(msg, sizeof(msg), req->user, req->password);
	if (len == 0) {
		*out = (struct rehash_result){ .status = REHASH_ERROR, .errno_ = EINVAL };
		return 0;
	}
	ssize_t w = send(rh->fd, msg, len, MSG_NOSIGNAL);
	sodium_memzero(msg, sizeof(msg));
	if (w < 0)
		return -1;
	struct pollfd p = { .fd = rh->fd, .events = POLLIN };
	int pr;
	while ((pr = poll(&p, 1, REHASH_REPLY_TIMEOUT_MS)) < 0 && errno == EINTR)
		;
	if (pr <= 0)
		return -1;
	char reply[128];
	ssize_t n = recv(rh->fd, reply, sizeof(reply), 0);
	if (n <= 0 || rehash_reply_decode(reply, (size_t)n, out) < 0)
		return -1;
	return 0;
}

/* Stops the upgrades for good (the queue's passwords are wiped). */
static void rehash_turn_off(struct rehash *rh)
{
	pthread_mutex_lock(&rh->lock);
	rh->off = true;
	sodium_memzero(rh->q, sizeof(rh->q));
	rh->n = 0;
	pthread_mutex_unlock(&rh->lock);
}

/* The log line of an outcome (never a secret), and the reload. */
static void rehash_report(struct rehash *rh, const char *user, const struct rehash_result *r)
{
	const char *from = r->from[0] ? r->from : "-";
	switch (r->status) {
	case REHASH_UPGRADED:
		log_info("event=password_upgraded user=%s from=%s to=ARGON2ID scram=%s", user, from,
			 r->scram_added ? "added" : "kept");
		passdb_refresh(rh->db);
		break;
	case REHASH_CURRENT:
		log_debug("event=password_upgrade_skipped user=%s reason=current", user);
		break;
	case REHASH_MISMATCH:
	case REHASH_CHANGED:
		/* The entry changed since the server loaded it (a `rampart user
		 * passwd` in between): the newer one stands. */
		log_info("event=password_upgrade_skipped user=%s reason=%s", user,
			 rehash_status_name(r->status));
		break;
	case REHASH_ERROR:
		log_warn("event=password_upgrade_error user=%s file=%s error=\"%s\"", user,
			 rh->users_file, strerror(r->errno_));
		if (r->errno_ == EACCES || r->errno_ == EPERM || r->errno_ == EROFS) {
			log_warn("event=password_upgrade state=off reason=\"cannot write the users "
				 "file\" msg=\"start the server as root, or set [passwords] "
				 "upgrade_on_login = no\"");
			rehash_turn_off(rh);
		}
		break;
	}
}

/* Takes the next request into *req; false when stopping. */
static bool rehash_next(struct rehash *rh, struct rehash_req *req)
{
	pthread_mutex_lock(&rh->lock);
	rh->busy[0] = '\0';
	while (!rh->n && !rh->stopping)
		pthread_cond_wait(&rh->cond, &rh->lock);
	bool go = !rh->stopping;
	if (go) {
		struct rehash_req *slot = &rh->q[rh->head];
		*req = *slot;
		sodium_memzero(slot, sizeof(*slot));
		rh->head = (rh->head + 1) % REHASH_QUEUE_MAX;
		rh->n--;
		snprintf(rh->busy, sizeof(rh->busy), "%s", req->user);
	}
	pthread_mutex_unlock(&rh->lock);
	return go;
}

static void *rehash_thread(void *arg)
{
	struct rehash *rh = arg;
	struct rehash_req req;
	while (rehash_next(rh, &req)) {
		struct rehash_result r;
		int rc = 0;
		if (rh->fd >= 0)
			rc = rehash_ask_helper(rh, &req, &r);
		else
			rehash_user(rh->users_file, req.user, req.password, &r);
		sodium_memzero(req.password, sizeof(req.password));
		if (rc == 0) {
			/* Counted once reported: the reload of the users file is
			 * part of the answer (a login right after sees the new
			 * hash). */
			rehash_report(rh, req.user, &r);
			pthread_mutex_lock(&rh->lock);
			rh->counts.done++;
			pthread_mutex_unlock(&rh->lock);
			continue;
		}
		pthread_mutex_lock(&rh->lock);
		bool stopping = rh->stopping;
		pthread_mutex_unlock(&rh->lock);
		if (!stopping)
			log_err("event=password_upgrade state=off reason=\"the rampart-auth helper "
				"is gone\" msg=\"logins go on; restart the server to upgrade again\"");
		rehash_turn_off(rh);
	}
	sodium_memzero(&req, sizeof(req));
	return NULL;
}

struct rehash *rehash_start(const struct config *cfg, struct passdb *db)
{
	if (!db)
		return NULL;
	if (!cfg->pw_upgrade_on_login) {
		log_info("event=password_upgrade state=off reason=config");
		return NULL;
	}
	struct rehash *rh = xcalloc(1, sizeof(*rh));
	rh->db = db;
	rh->users_file = xstrdup(cfg->users_file);
	rh->fd = -1;
	rh->pid = -1;
	bool helper = geteuid() == 0 && cfg->run_user;
	if (helper) {
		rh->pid = rehash_helper_spawn(rh->users_file, &rh->fd);
		if (rh->pid < 0) {
			log_err("event=password_upgrade state=off reason=\"cannot start the "
				"rampart-auth helper\" error=\"%s\"", strerror(errno));
			free(rh->users_file);
			free(rh);
			return NULL;
		}
	}
	if (pthread_mutex_init(&rh->lock, NULL) != 0 || pthread_cond_init(&rh->cond, NULL) != 0 ||
	    pthread_create(&rh->thread, NULL, rehash_thread, rh) != 0)
		fatal("rehash: cannot start its thread");
	passdb_set_upgrade_hook(db, rehash_hook, rh);
	if (helper)
		log_info("event=password_upgrade state=on mode=helper pid=%d", (int)rh->pid);
	else
		log_info("event=password_upgrade state=on mode=in-process");
	return rh;
}

/* The helper exits once it reads end-of-file; wait for that a little,
 * then make sure. */
static void rehash_reap(pid_t pid)
{
	for (int waited = 0; waited < REHASH_EXIT_WAIT_MS; waited += 10) {
		pid_t r = waitpid(pid, NULL, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			return;
		struct timespec ts = { 0, 10 * 1000000 };
		nanosleep(&ts, NULL);
	}
	log_warn("event=password_upgrade msg=\"the rampart-auth helper did not exit, killed\"");
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

void rehash_stop(struct rehash *rh)
{
	if (!rh)
		return;
	passdb_set_upgrade_hook(rh->db, NULL, NULL);
	pthread_mutex_lock(&rh->lock);
	rh->stopping = true;
	pthread_cond_signal(&rh->cond);
	pthread_mutex_unlock(&rh->lock);
	/* Wakes a thread waiting for the helper's reply. */
	if (rh->fd >= 0)
		shutdown(rh->fd, SHUT_RDWR);
	pthread_join(rh->thread, NULL);
	if (rh->fd >= 0)
		close(rh->fd);
	if (rh->pid > 0)
		rehash_reap(rh->pid);
	sodium_memzero(rh->q, sizeof(rh->q));
	pthread_cond_destroy(&rh->cond);
	pthread_mutex_destroy(&rh->lock);
	free(rh->users_file);
	free(rh);
}
