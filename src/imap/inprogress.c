/* INPROGRESS (RFC 9585): while a long command runs on the work pool, the
 * client hears "* OK [INPROGRESS ("tag" done total)] Still working" every
 * [limits] inprogress_interval_ms, so that it can show progress and knows
 * that the server is alive.
 *
 * The pool thread only stores two counters (atomics in struct cmd_job);
 * a timer on the worker's own event loop reads them and writes the
 * update, so no response byte is ever written off the loop and a job
 * costs no wake-up per item. The timer belongs to the job: it is freed
 * before the job's done() runs (so no update follows the tagged reply)
 * and when a job whose session went away is freed; a tick that finds the
 * session gone (job->cmd cleared by imap_cmd_free) writes nothing.
 *
 * RFC 9585 3: count and total are NIL when unknown (COPY and MOVE are one
 * store transaction, which reports nothing until it ends); the tag is the
 * command's. No update is sent once every item is done: the tagged reply
 * follows at once. */
#include "imap/inprogress.h"
#include "imap/session_internal.h"
#include "core/config.h"
#include "core/quote.h"
#include "core/util.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

struct inprogress {
	struct event *timer;
};

/* progress_total of a job that counts but has no total yet. */
#define TOTAL_PENDING UINT32_MAX

void cmd_job_progress(struct cmd_job *job, uint32_t done, uint32_t total)
{
	atomic_store_explicit(&job->progress_total, total, memory_order_relaxed);
	atomic_store_explicit(&job->progress_done, done, memory_order_relaxed);
}

void cmd_job_progress_counted(struct cmd_job *job)
{
	atomic_store_explicit(&job->progress_total, TOTAL_PENDING, memory_order_relaxed);
}

static void inprogress_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct cmd_job *job = arg;
	struct imap_cmd *cmd = job->cmd;
	if (!cmd || cmd->s->closing)
		return;
	uint32_t done = atomic_load_explicit(&job->progress_done, memory_order_relaxed);
	uint32_t total = atomic_load_explicit(&job->progress_total, memory_order_relaxed);
	if (total == TOTAL_PENDING || (total && done >= total))
		return;
	struct strbuf line = STRBUF_INIT;
	strbuf_adds(&line, "* OK [INPROGRESS (");
	/* A tag with ']' would end the response code early for a client that
	 * scans for it: NIL says "this command" just as well (RFC 9585 4). */
	if (cmd->tag && !strchr(cmd->tag, ']'))
		quote_string(&line, cmd->tag, strlen(cmd->tag));
	else
		strbuf_adds(&line, "NIL");
	/* RFC 9585 3: total is a non-zero number or NIL. */
	if (total)
		strbuf_addf(&line, " %u %u)] Still working\r\n", done, total);
	else
		strbuf_adds(&line, " NIL NIL)] Still working\r\n");
	struct imap_session *s = cmd->s;
	sess_write(s, line.s, line.len);
	strbuf_free(&line);
	sess_flush(s);
}

void inprogress_start(struct cmd_job *job)
{
	struct imap_cmd *cmd = job->cmd;
	struct imap_session *s = cmd->s;
	if (!cmd->def || !(cmd->def->flags & CMD_PROGRESS) || !s->info.base)
		return;
	job->progress = xcalloc(1, sizeof(*job->progress));
	job->progress->timer = event_new(s->info.base, -1, EV_PERSIST, inprogress_tick, job);
	unsigned ms = s->cfg->inprogress_interval_ms ? s->cfg->inprogress_interval_ms : 1000;
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
	event_add(job->progress->timer, &tv);
}

void inprogress_stop(struct cmd_job *job)
{
	if (!job->progress)
		return;
	event_free(job->progress->timer);
	free(job->progress);
	job->progress = NULL;
}
