/* Background work per user, a bounded step at a time on the work pool:
 * the machinery the search indexer (imap/search_index.c) and the preview
 * maker (imap/preview_fill.c) share. A kind says what one step does; this
 * file keeps at most one job per (kind, user), chains the steps through
 * the kicking worker's loop and logs the start and the end. */
#ifndef RAMPART_IMAP_USER_JOB_H
#define RAMPART_IMAP_USER_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/workpool.h"

struct event_base;
struct store_user;
struct user_job;

struct user_job_kind {
	const char *name;       /* log events <name>_start, <name>_done */
	const char *count_key;  /* the done event's count, e.g. "indexed" */
	/* One step on a pool thread with the user's store open: advances the
	 * job's cursor, adds what it stored to j->count; false when nothing
	 * was left to do. */
	bool (*step)(struct user_job *j, struct store_user *u);
};

struct user_job {
	struct workpool_job wp;            /* first member */
	const struct user_job_kind *kind;
	char *user;
	int64_t mailbox;                   /* cursor: the last message looked at */
	uint32_t uid;
	size_t count;
	bool more;
	/* newmsg: kicked again while under way (something new may lie
	 * behind the cursor): one more pass from the start when this ends.
	 * quiet: started by new messages (kick_soon), logged at debug. */
	bool again;
	bool asked;                        /* ...by a user_job_kick: no delay then */
	bool waiting;                      /* for its delay: a kick adds nothing */
	bool fired;                        /* the wait is over (submitted once) */
	bool quiet;
	unsigned delay_ms;                 /* before each pass (kick_soon) */
	/* While waiting: the pass starts at due_ms (now_ms), or as soon as
	 * the kicks since the last pass began brought `batch` new messages
	 * (kicks: their sum of `news`) or a user_job_kick asked for it (the
	 * timer made active). Under the lock. */
	uint64_t due_ms;
	size_t kicks;
	unsigned batch;
	struct event *timer;               /* the wait's, on base */
	struct user_job *next;             /* in the table's chain */
};

/* The usual step: up to `max` blobs lacking something (pending, as
 * store_search_pending), an item made for each from the message bytes
 * (make), all stored in one transaction (put); a blob whose file is
 * missing gets none. */
struct user_job_blobs {
	int (*pending)(struct store_user *u, int64_t *mailbox_id, uint32_t *uid, size_t max,
		       char (**blobs)[65], size_t *n);
	size_t max;
	void *(*make)(const char *data, size_t len);
	int (*put)(struct store_user *u, char (*blobs)[65], void *const *items, size_t n);
	void (*free_item)(void *item);
};
bool user_job_blobs_step(struct user_job *j, struct store_user *u, const struct user_job_blobs *b);

/* Starts the kind's job for user unless one is under way. Without a work
 * pool (tools, unit tests) it does nothing. Thread: base's. */
void user_job_kick(const struct user_job_kind *kind, struct event_base *base, const char *user);
/* newmsg: as user_job_kick, for messages just stored: the first step
 * waits delay_ms so that a burst of messages is one step (one FTS5
 * segment, one commit) instead of one per message, and what is gone
 * before then costs nothing; a kick while the job is under way makes it
 * pass over the messages once more at its end, after the same delay.
 * The wait ends early, at once, when the kicks since the last pass
 * began brought `batch` new messages (`news` each; 0 for a kick that only
 * has old entries to remove), or after a user_job_kick (a SEARCH that
 * found the index behind). Logged at debug level unless a user_job_kick
 * joins. Any thread (base's loop runs the steps). */
void user_job_kick_soon(const struct user_job_kind *kind, struct event_base *base,
			const char *user, unsigned delay_ms, unsigned batch, size_t news);
/* How many users have a job of this kind now. */
size_t user_job_running(const struct user_job_kind *kind);

#endif
