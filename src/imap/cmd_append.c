/* APPEND with MULTIAPPEND (RFC 3502) and APPENDUID (RFC 4315). The
 * message is acknowledged only once it is durable (store_append fsyncs).
 *
 * Memory: a large message arrives spooled to a file by the parser
 * (imap/parser.h), and stays there: the store hashes it in chunks and
 * links or copies it in the kernel, and the MIME parse for the cached
 * ENVELOPE/BODYSTRUCTURE reads a read-only mapping of it. Mapped pages
 * count in the process's RSS while mapped, so at most two such parses
 * (imap/map_slots.h, shared with the background indexer) run at once (the parse is CPU-bound: more would not finish
 * sooner on the cores a server has): 16 clients APPENDing 60 MiB each
 * hold about 2 x 60 MiB of mapped page cache, not 16 x 60 MiB of heap. */
#include "imap/session_internal.h"
#include "imap/namespace.h"
#include "imap/datetime.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "mail/mailcache.h"
#include "mail/preview.h"
#include "imap/search_index.h"
#include "imap/map_slots.h"
#include "imap/append.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_MULTIAPPEND 1000

/* The cached structure of a spooled message, parsed from a mapping of
 * its file range. */
static void append_cache_file(struct store_append *m)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t delta = m->off % (uint64_t)(page > 0 ? page : 4096);
	map_slot_take();
	size_t maplen = m->len + (size_t)delta;
	void *map = mmap(NULL, maplen, PROT_READ, MAP_PRIVATE, m->fd, (off_t)(m->off - delta));
	if (map != MAP_FAILED) {
		madvise(map, maplen, MADV_SEQUENTIAL);
		mail_cache_compute((const char *)map + delta, m->len, (char **)&m->envelope,
				   (char **)&m->bodystructure, (char **)&m->body);
		m->preview = mail_preview_compute((const char *)map + delta, m->len);
		munmap(map, maplen);
	} else {
		/* Without the cache FETCH parses the stored message itself. */
		log_warn("event=append_map_error errno=%d", errno);
	}
	map_slot_give();
}

int append_msg_parse(struct imap_session *s, const struct imap_arg *args, size_t nargs,
		     size_t *pos, struct store_append *m, char **kw, int *spool_err,
		     const char **err)
{
	size_t i = *pos;
	memset(m, 0, sizeof(*m));
	m->internaldate = -1;
	if (i < nargs && args[i].type == IMAP_ARG_LIST) {
		int fr = sess_parse_flags(&args[i], 1, &m->flags, kw, err);
		if (fr == -2) {
			sess_flags_error(s, fr, *err);
			return -2;
		}
		if (fr < 0)
			return -1;
		m->keywords = *kw;
		i++;
	}
	if (i < nargs && args[i].type == IMAP_ARG_STRING) {
		if (imap_datetime_parse(args[i].str, args[i].len, &m->internaldate,
					&m->internaldate_tz) < 0) {
			*err = "Invalid date-time";
			return -1;
		}
		i++;
	}
	/* ext (issue #12), RFC 6855 4: UTF8 (literal8) carries a
	 * message with UTF-8 headers; the store takes it as it is. */
	const struct imap_arg *lit = i < nargs ? &args[i] : NULL;
	if (lit && i + 1 < nargs && lit->type == IMAP_ARG_ATOM && ascii_ieq(lit->str, "UTF8") &&
	    args[i + 1].type == IMAP_ARG_LIST && args[i + 1].count == 1 &&
	    args[i + 1].list[0].type == IMAP_ARG_LITERAL)
		lit = &args[++i].list[0];
	if (!lit || lit->type != IMAP_ARG_LITERAL) {
		*err = "Message must be a literal";
		return -1;
	}
	if (lit->spooled) {
		/* The parser's spool stays open: the job keeps the parser. */
		m->in_file = true;
		m->fd = lit->file_fd;
		m->off = lit->file_off;
		m->len = lit->file_len > SIZE_MAX ? SIZE_MAX : (size_t)lit->file_len;
		if (lit->file_err && !*spool_err)
			*spool_err = lit->file_err;
	} else {
		m->data = lit->str;
		m->len = lit->len;
	}
	*pos = i + 1;
	return 0;
}

void append_spool_fail(struct imap_session *s, int spool_err, const char *what)
{
	/* The literal could not be written (disk full, quota of the
	 * filesystem): nothing was stored. */
	log_warn("event=append_spool_error user=%s errno=%d", s->user, spool_err);
	sess_store_error(s, spool_err == ENOSPC || spool_err == EDQUOT ? STORE_EOVERQUOTA : STORE_EIO,
			 what);
}

void append_msg_prepare(struct store_append *m)
{
	if (m->in_file) {
		append_cache_file(m);
		return;
	}
	mail_cache_compute(m->data, m->len, (char **)&m->envelope, (char **)&m->bodystructure,
			   (char **)&m->body);
	m->preview = mail_preview_compute(m->data, m->len);
}

void append_msg_clear(struct store_append *m)
{
	free((char *)m->envelope);
	free((char *)m->bodystructure);
	free((char *)m->body);
	free((char *)m->preview);
	m->envelope = m->bodystructure = m->body = m->preview = NULL;
}

/* The store phase of APPEND, on the work pool: the cached structure of
 * each message and the durable write. The messages point into the
 * command's literals, which the job keeps (struct cmd_job). */
struct append_job {
	struct cmd_job job;          /* first member */
	char *name;
	struct store_append *msgs;
	char **kwfree;               /* keyword strings, per message slot */
	size_t n, cap;
	int err;
	uint32_t uidvalidity;
	/* rev1 into the selected mailbox: \Recent claimed in the append's
	 * own transaction (claim.mailbox_id > 0), not by a second one when the
	 * view syncs (RFC 3501 2.3.2: the first session notified). */
	struct store_recent_claim claim;
};

static void append_job_run(struct cmd_job *job)
{
	struct append_job *j = (struct append_job *)job;
	struct store_user *u = cmd_job_store(job);
	if (!u) {
		j->err = STORE_EIO;
		return;
	}
	for (size_t i = 0; i < j->n; i++)
		append_msg_prepare(&j->msgs[i]);
	if (j->claim.mailbox_id > 0)
		j->err = store_append_claim(u, j->name, j->msgs, j->n, &j->uidvalidity, &j->claim);
	else
		j->err = store_append(u, j->name, j->msgs, j->n, &j->uidvalidity);
}

static void append_job_free(struct cmd_job *job)
{
	struct append_job *j = (struct append_job *)job;
	for (size_t i = 0; i < j->n; i++)
		append_msg_clear(&j->msgs[i]);
	for (size_t i = 0; i < j->cap; i++)
		free(j->kwfree[i]);
	free(j->kwfree);
	free(j->msgs);
	free(j->name);
	free(j);
}

static void append_job_done(struct cmd_job *job)
{
	struct append_job *j = (struct append_job *)job;
	struct imap_cmd *cmd = job->cmd;
	struct imap_session *s = cmd->s;
	const struct store_append *msgs = j->msgs;
	size_t n = j->n;
	if (j->err == STORE_ENOENT) {
		sess_tagged(s, "NO", "[TRYCREATE] Mailbox does not exist");
		return;
	}
	if (j->err != STORE_OK) {
		sess_store_error(s, j->err, "APPEND");
		return;
	}
	if (s->state == ST_SELECTED && strcmp(s->view.name, j->name) == 0) {
		view_recent_claimed(&s->view, &j->claim);
		view_sync(s, imap_cmd_allows_expunge(cmd));
	}
	/* newmsg: the search entry is not part of the durable write (it is
	 * derived from the file; SEARCH reads the file until it exists). */
	search_index_kick_new(s->info.base, job->user, n); /* acl: whose store */
	/* RFC 4315: the UIDs in order; a range when consecutive. */
	struct strbuf set = STRBUF_INIT;
	uint32_t *uids = xmalloc(n * sizeof(*uids));
	for (size_t i = 0; i < n; i++)
		uids[i] = msgs[i].uid;
	seqset_format_list(&set, uids, n);
	free(uids);
	sess_tagged(s, "OK", "[APPENDUID %u %s] APPEND completed", j->uidvalidity, strbuf_cstr(&set));
	strbuf_free(&set);
}

void cmd_append(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	if (nargs < 2) {
		sess_tagged(s, "BAD", "APPEND needs a mailbox and a message");
		return;
	}
	char *name = sess_mailbox_arg(s, &args[0]);
	if (!name) {
		sess_tagged(s, "BAD", "APPEND: invalid mailbox name");
		return;
	}
	if (imap_mailbox_resolve(cmd, &name, STORE_ACL_INSERT) < 0) /* acl */
		return;
	size_t max = s->cfg->max_message_size;
	struct store_append *msgs = NULL;
	char **kwfree = NULL;
	size_t n = 0, cap = 0;
	const char *err = NULL;
	bool toobig = false;
	int spool_err = 0;
	size_t i = 1;
	while (i < nargs) {
		size_t oldcap = cap;
		xgrow((void **)&msgs, &cap, n + 1, sizeof(*msgs));
		kwfree = xrealloc(kwfree, cap * sizeof(char *));
		for (size_t k = oldcap; k < cap; k++)
			kwfree[k] = NULL;
		struct store_append *m = &msgs[n];
		int pr = append_msg_parse(s, args, nargs, &i, m, &kwfree[n], &spool_err, &err);
		if (pr == -2)
			goto out;
		if (pr < 0)
			goto bad;
		if (m->len > max)
			toobig = true;
		n++;
		if (n > MAX_MULTIAPPEND) {
			err = "Too many messages in one APPEND";
			goto bad;
		}
	}
	if (toobig) {
		sess_tagged(s, "NO", "[TOOBIG] Message exceeds APPENDLIMIT %zu", max);
		goto out;
	}
	if (spool_err) {
		append_spool_fail(s, spool_err, "APPEND");
		goto out;
	}
	for (size_t j = 0; j < n; j++) {
		if (msgs[j].len == 0) {
			sess_tagged(s, "NO", "[CANNOT] Empty messages are not accepted");
			goto out;
		}
	}
	struct append_job *aj = xcalloc(1, sizeof(*aj));
	aj->name = name;
	aj->msgs = msgs;
	aj->kwfree = kwfree;
	aj->n = n;
	aj->cap = cap;
	/* acl: only into one's own mailbox (another's \Recent is its owner's) */
	const struct imap_view *v = &s->view;
	if (s->state == ST_SELECTED && !s->rev2 && !v->readonly && !v->owner &&
	    strcmp(imap_cmd_store_user(cmd), s->user) == 0 && strcmp(v->name, name) == 0)
		aj->claim.mailbox_id = v->id;
	/* Messages held in memory (small ones): mostly fsync waits, a disk
	 * thread of their own (core/workpool.h). A spooled (large) one is
	 * bound by memory and CPU (its search text, the MIME parse): it stays
	 * on the common threads, as many at once as before. */
	aj->job.wp.disk = true;
	for (size_t j = 0; j < n; j++)
		if (msgs[j].in_file)
			aj->job.wp.disk = false;
	cmd_run_on_pool(cmd, &aj->job, append_job_run, append_job_done, append_job_free);
	return;
bad:
	sess_tagged(s, "BAD", "APPEND: %s", err);
out:
	for (size_t j = 0; j < cap; j++)
		free(kwfree[j]);
	free(kwfree);
	free(msgs);
	free(name);
}
