/* Store work of IMAP commands on the work pool (core/workpool.c), so that
 * one client's long SEARCH, SELECT of a big mailbox or large APPEND does
 * not stall every other client of the same worker.
 *
 * The generalisation of what LOGIN did alone before: the job runs on a
 * pool thread with a store handle of its own, its completion comes back
 * to the worker's event loop, and a session that went away meanwhile is
 * found gone (job->cmd cleared by imap_cmd_free) so the job only frees
 * itself. While a job runs its session reads nothing: commands pipelined
 * behind it wait, which keeps RFC 9051 5.5 (no command that depends on
 * sequence numbers beside one that changes them) without analysis.
 *
 * A password check whose session went away before a pool thread took it
 * is cancelled (cmd_job_detach): it is freed without running, so clients
 * that queue password checks and disconnect cost no hashing. A job with a
 * fair_key (password checks, keyed by the client's address prefix) that
 * finds its key's queue full is not queued at all: done() runs at once
 * with wp.skipped set, and the command answers it as a failure. */
#include "imap/session_internal.h"
#include "imap/namespace.h"
#include "imap/inprogress.h"
#include "core/metrics.h"
#include "core/util.h"
#include "core/workpool.h"

#include <assert.h>
#include <stdlib.h>

struct store_user *cmd_job_store(struct cmd_job *job)
{
	if (!job->store && job->user)
		job->store = store_user_open(job->user);
	return job->store;
}

static void cmd_job_release(struct cmd_job *job)
{
	inprogress_stop(job); /* a job whose session went away */
	imap_parser_free(job->parser);
	free(job->user);
	free(job->reader);
	job->free(job);
}

static void cmd_job_run(struct workpool_job *wj)
{
	struct cmd_job *job = (struct cmd_job *)((char *)wj - offsetof(struct cmd_job, wp));
	uint64_t t0 = metrics_now_ns();
	job->run(job);
	/* The handle belongs to this thread: closed before the job goes back. */
	if (job->store) {
		store_user_close(job->store);
		job->store = NULL;
	}
	metrics_pool_job(job->metrics_cmd, metrics_now_ns() - t0);
}

/* Back on the worker's thread. */
static void cmd_job_done(struct workpool_job *wj)
{
	struct cmd_job *job = (struct cmd_job *)((char *)wj - offsetof(struct cmd_job, wp));
	struct imap_cmd *cmd = job->cmd;
	assert(!job->store); /* the pool thread's handle never reaches the worker */
	inprogress_stop(job); /* no update after the tagged reply */
	if (cmd) {
		assert(cmd->job == job);
		cmd->job = NULL;
		struct imap_session *s = cmd->s;
		job->done(job);
		sess_flush(s);
	}
	cmd_job_release(job);
}

void cmd_run_on_pool(struct imap_cmd *cmd, struct cmd_job *job, void (*run)(struct cmd_job *),
		     void (*done)(struct cmd_job *), void (*free_fn)(struct cmd_job *))
{
	struct imap_session *s = cmd->s;
	job->cmd = cmd;
	job->run = run;
	job->done = done;
	job->free = free_fn;
	job->metrics_cmd = imap_cmd_index(cmd->def);
	job->user = s->user ? xstrdup(imap_cmd_store_user(cmd)) : NULL; /* acl: whose store */
	const char *reader = s->user ? imap_cmd_seen_reader(cmd) : NULL; /* aclseen */
	job->reader = reader ? xstrdup(reader) : NULL;
	job->wp.skipped = false;
	atomic_store(&job->wp.cancelled, false);
	/* The worker's handle is not used while the job has its own. */
	sess_store_release(s);
	cmd->job = job;
	if (!workpool_running()) {
		/* The arguments are valid: we are still inside the command. */
		cmd_job_run(&job->wp);
		cmd_job_done(&job->wp);
		return;
	}
	job->parser = sess_take_parser(s);
	job->wp.run = cmd_job_run;
	job->wp.done = cmd_job_done;
	job->wp.base = s->info.base;
	sess_suspend(cmd);
	inprogress_start(job);
	/* Too many checks queued for this source: answered from the loop,
	 * like a completed job, but never run. */
	if (!workpool_fair_room(job->wp.fair_key))
		workpool_complete_unrun(&job->wp);
	else
		workpool_submit(&job->wp);
}

void cmd_job_detach(struct cmd_job *job)
{
	job->cmd = NULL;
	/* Only password checks (the jobs with a fair_key) are dropped: store
	 * work that was asked for (APPEND, DELETE...) finishes even when its
	 * client is gone, as before. */
	if (job->wp.fair_key)
		workpool_job_cancel(&job->wp);
}
