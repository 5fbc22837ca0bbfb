/* APPEND with MULTIAPPEND (RFC 3502) and APPENDUID (RFC 4315). The
 * message is acknowledged only once it is durable (store_append fsyncs). */
#include "imap/session_internal.h"
#include "imap/datetime.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "mail/mailcache.h"

#include <stdlib.h>
#include <string.h>

#define MAX_MULTIAPPEND 1000

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
		mail_cache_compute(j->msgs[i].data, j->msgs[i].len, (char **)&j->msgs[i].envelope,
				   (char **)&j->msgs[i].bodystructure, (char **)&j->msgs[i].body);
	j->err = store_append(u, j->name, j->msgs, j->n, &j->uidvalidity);
}

static void append_job_free(struct cmd_job *job)
{
	struct append_job *j = (struct append_job *)job;
	for (size_t i = 0; i < j->n; i++) {
		free((char *)j->msgs[i].envelope);
		free((char *)j->msgs[i].bodystructure);
		free((char *)j->msgs[i].body);
	}
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
	if (s->state == ST_SELECTED && strcmp(s->view.name, j->name) == 0)
		view_sync(s, imap_cmd_allows_expunge(cmd));
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
	size_t max = s->cfg->max_message_size;
	struct store_append *msgs = NULL;
	char **kwfree = NULL;
	size_t n = 0, cap = 0;
	const char *err = NULL;
	bool toobig = false;
	size_t i = 1;
	while (i < nargs) {
		size_t oldcap = cap;
		xgrow((void **)&msgs, &cap, n + 1, sizeof(*msgs));
		kwfree = xrealloc(kwfree, cap * sizeof(char *));
		for (size_t k = oldcap; k < cap; k++)
			kwfree[k] = NULL;
		struct store_append *m = &msgs[n];
		memset(m, 0, sizeof(*m));
		m->internaldate = -1;
		if (args[i].type == IMAP_ARG_LIST) {
			char *kw = NULL;
			int fr = sess_parse_flags(&args[i], 1, &m->flags, &kw, &err);
			if (fr == -2) {
				sess_flags_error(s, fr, err);
				goto out;
			}
			if (fr < 0)
				goto bad;
			kwfree[n] = kw;
			m->keywords = kw;
			i++;
		}
		if (i < nargs && args[i].type == IMAP_ARG_STRING) {
			if (imap_datetime_parse(args[i].str, args[i].len, &m->internaldate,
						&m->internaldate_tz) < 0) {
				err = "Invalid date-time";
				goto bad;
			}
			i++;
		}
		if (i >= nargs || args[i].type != IMAP_ARG_LITERAL) {
			err = "Message must be a literal";
			goto bad;
		}
		m->data = args[i].str;
		m->len = args[i].len;
		if (m->len > max)
			toobig = true;
		n++;
		i++;
		if (n > MAX_MULTIAPPEND) {
			err = "Too many messages in one APPEND";
			goto bad;
		}
	}
	if (toobig) {
		sess_tagged(s, "NO", "[TOOBIG] Message exceeds APPENDLIMIT %zu", max);
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
