/* Where alerts go besides the log: a webhook (HTTP(S) POST of the JSON
 * object, libcurl) and/or a command (the JSON on its stdin, posix_spawn).
 *
 * Both run on one background thread, never on a worker's event loop or a
 * pool thread that answers clients: a webhook that hangs for its whole
 * timeout (5 s) delays only the next alert. The queue is bounded (an alert
 * flood is also rate-limited before it gets here, alert.c); when it is
 * full the alert is dropped with a log line. Commands run at most
 * SINK_CMD_MAX at a time, each in its own process group, killed with it
 * after SINK_CMD_TIMEOUT seconds. The thread also writes the login history
 * when it changed, at most every SINK_FLUSH_MS. */
#include "auth/alert_internal.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SINK_QUEUE_MAX 256
#define SINK_HTTP_TIMEOUT 5L          /* seconds, connect and whole request */
#define SINK_CMD_MAX 4                /* commands running at once */
#define SINK_CMD_TIMEOUT_MS 10000
#define SINK_CMD_ARGS 16
#define SINK_FLUSH_MS 2000
#define SINK_TICK_MS 100              /* how often running commands are checked */
#define SINK_STOP_MS 10000            /* queued alerts still sent after stop */

extern char **environ;

struct sink_child {
	pid_t pid;
	uint64_t deadline;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool running, stop;
	char *queue[SINK_QUEUE_MAX];
	size_t head, count;
	unsigned dropped;
	/* thread-owned */
	const char *url;
	char *argv[SINK_CMD_ARGS + 1];
	char *cmdline;
	CURL *curl;
	bool curl_global;             /* curl_global_init done */
	struct sink_child child[SINK_CMD_MAX];
	size_t nchild;
} S = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

void alert_sink_post(char *json)
{
	pthread_mutex_lock(&S.lock);
	if (!S.running || S.count >= SINK_QUEUE_MAX) {
		bool up = S.running;
		S.dropped++;
		pthread_mutex_unlock(&S.lock);
		if (up)
			log_warn("event=alert_dropped reason=queue_full");
		free(json);
		return;
	}
	S.queue[(S.head + S.count++) % SINK_QUEUE_MAX] = json;
	pthread_cond_signal(&S.cond);
	pthread_mutex_unlock(&S.lock);
}

static size_t sink_discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static void sink_webhook(const char *json)
{
	if (!S.curl)
		S.curl = curl_easy_init();
	if (!S.curl)
		return;
	CURL *c = S.curl;
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, S.url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, SINK_HTTP_TIMEOUT);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, SINK_HTTP_TIMEOUT);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "rampart-alert");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_discard);
	CURLcode r = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	if (r != CURLE_OK)
		log_warn("event=alert_webhook result=fail error=\"%s\"", curl_easy_strerror(r));
	else if (status < 200 || status > 299)
		log_warn("event=alert_webhook result=fail status=%ld", status);
	else
		log_debug("event=alert_webhook result=ok status=%ld", status);
}

/* Reaps finished commands and kills (with their process group) those past
 * their deadline. */
static void sink_reap(uint64_t now)
{
	for (size_t i = 0; i < S.nchild;) {
		int st;
		pid_t r = waitpid(S.child[i].pid, &st, WNOHANG);
		if (r == 0 && now >= S.child[i].deadline) {
			kill(-S.child[i].pid, SIGKILL);
			kill(S.child[i].pid, SIGKILL);
			r = waitpid(S.child[i].pid, &st, 0);
			log_warn("event=alert_command result=killed reason=timeout pid=%d", (int)S.child[i].pid);
		} else if (r > 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
			log_warn("event=alert_command result=fail pid=%d status=%d", (int)r,
				 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		}
		if (r != 0) {
			S.child[i] = S.child[--S.nchild];
			continue;
		}
		i++;
	}
}

static void sink_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void sink_command(const char *json)
{
	/* Bounded concurrency: wait (bounded by the timeouts) for a slot. */
	while (S.nchild >= SINK_CMD_MAX) {
		sink_reap(now_ms());
		if (S.nchild >= SINK_CMD_MAX)
			sink_sleep_ms(SINK_TICK_MS);
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		log_err("event=alert_command result=fail error=\"%s\"", strerror(errno));
		return;
	}
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[0], 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&at);
	sigset_t none, dfl;
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGHUP);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					      POSIX_SPAWN_SETPGROUP);
	pid_t pid;
	int r = posix_spawn(&pid, S.argv[0], &fa, &at, S.argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(p[0]);
	if (r != 0) {
		close(p[1]);
		log_err("event=alert_command result=fail path=%s error=\"%s\"", S.argv[0], strerror(r));
		return;
	}
	/* A JSON object of a few hundred bytes fits the pipe buffer: the
	 * write never waits for the command to read. */
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	if (write_all(p[1], json, strlen(json)) < 0 || write_all(p[1], "\n", 1) < 0)
		log_warn("event=alert_command result=partial_input pid=%d", (int)pid);
	close(p[1]);
	S.child[S.nchild++] = (struct sink_child){ pid, now_ms() + SINK_CMD_TIMEOUT_MS };
}

static void sink_deliver(const char *json)
{
	if (S.url)
		sink_webhook(json);
	if (S.argv[0])
		sink_command(json);
}

static void *sink_main(void *arg)
{
	(void)arg;
	uint64_t last_flush = now_ms(), stop_at = 0;
	pthread_mutex_lock(&S.lock);
	for (;;) {
		if (S.stop && !stop_at)
			stop_at = now_ms() + SINK_STOP_MS;
		if (S.count) {
			char *json = S.queue[S.head];
			S.head = (S.head + 1) % SINK_QUEUE_MAX;
			S.count--;
			pthread_mutex_unlock(&S.lock);
			if (!stop_at || now_ms() < stop_at)
				sink_deliver(json);
			free(json);
			pthread_mutex_lock(&S.lock);
			continue;
		}
		if (S.stop)
			break;
		pthread_mutex_unlock(&S.lock);
		uint64_t now = now_ms();
		sink_reap(now);
		if (now >= last_flush + SINK_FLUSH_MS) {
			alert_history_flush();
			last_flush = now;
		}
		pthread_mutex_lock(&S.lock);
		if (S.count || S.stop)
			continue;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += SINK_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&S.cond, &S.lock, &ts);
	}
	pthread_mutex_unlock(&S.lock);
	/* Commands still running get the rest of their time. */
	while (S.nchild) {
		sink_reap(now_ms());
		if (S.nchild)
			sink_sleep_ms(SINK_TICK_MS);
	}
	alert_history_flush();
	return NULL;
}

/* "/path arg arg": split on blanks, no shell (so no quoting either). */
static int sink_parse_command(const char *cmd)
{
	S.cmdline = xstrdup(cmd);
	size_t n = 0;
	char *save = NULL;
	for (char *t = strtok_r(S.cmdline, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (n == SINK_CMD_ARGS) {
			log_err("event=startup_error msg=\"[alerts] command has more than %d words\"",
				SINK_CMD_ARGS);
			return -1;
		}
		S.argv[n++] = t;
	}
	S.argv[n] = NULL;
	if (n == 0 || S.argv[0][0] != '/') {
		log_err("event=startup_error msg=\"[alerts] command must start with an absolute path\"");
		return -1;
	}
	return 0;
}

int alert_sink_start(const struct config *cfg)
{
	memset(S.argv, 0, sizeof(S.argv));
	S.url = cfg->alert_webhook_url;
	if (cfg->alert_command && sink_parse_command(cfg->alert_command) < 0)
		return -1;
	if (S.url) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			log_err("event=startup_error msg=\"cannot initialise libcurl\"");
			return -1;
		}
		S.curl_global = true;
	}
	S.stop = false;
	S.head = S.count = 0;
	S.nchild = 0;
	pthread_mutex_lock(&S.lock);
	S.running = true;
	pthread_mutex_unlock(&S.lock);
	if (pthread_create(&S.thread, NULL, sink_main, NULL) != 0) {
		pthread_mutex_lock(&S.lock);
		S.running = false;
		pthread_mutex_unlock(&S.lock);
		log_err("event=startup_error msg=\"cannot start the alert thread\"");
		return -1;
	}
	return 0;
}

void alert_sink_stop(void)
{
	pthread_mutex_lock(&S.lock);
	bool running = S.running;
	S.stop = true;
	pthread_cond_signal(&S.cond);
	pthread_mutex_unlock(&S.lock);
	if (running) {
		pthread_join(S.thread, NULL);
		pthread_mutex_lock(&S.lock);
		S.running = false;
		pthread_mutex_unlock(&S.lock);
	}
	if (S.curl) {
		curl_easy_cleanup(S.curl);
		S.curl = NULL;
	}
	if (S.curl_global) {
		curl_global_cleanup();
		S.curl_global = false;
	}
	free(S.cmdline);
	S.cmdline = NULL;
	memset(S.argv, 0, sizeof(S.argv));
	S.url = NULL;
}
