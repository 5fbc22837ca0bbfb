/* INPROGRESS (RFC 9585): progress updates of a command that runs on the
 * work pool (imap/cmd_pool.c calls start/stop; a job's run() reports how
 * far it got with cmd_job_progress). Not public outside src/imap/. */
#ifndef RAMPART_IMAP_INPROGRESS_H
#define RAMPART_IMAP_INPROGRESS_H

#include <stdint.h>

struct cmd_job;

/* On the worker's loop, when the job is submitted: a timer that writes an
 * update every [limits] inprogress_interval_ms while the job runs, for
 * commands flagged CMD_PROGRESS; nothing otherwise. */
void inprogress_start(struct cmd_job *job);
/* On the worker's loop, before the job's done() or free: no more updates. */
void inprogress_stop(struct cmd_job *job);
/* In run(), on the pool thread: `done` of `total` items are finished
 * (total 0: unknown, the update says NIL NIL). Lock-free, cheap enough to
 * call per message. */
void cmd_job_progress(struct cmd_job *job, uint32_t done, uint32_t total);
/* Before cmd_run_on_pool: the job will count, but does not know its
 * total yet; until cmd_job_progress gives one, no update is sent (an
 * update with numbers never follows one with NIL, RFC 9585 3). */
void cmd_job_progress_counted(struct cmd_job *job);

#endif
