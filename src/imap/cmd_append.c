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

void cmd_append(struct imap_session *s, const struct imap_arg *args, size_t nargs, bool uid)
{
	if (nargs < 2) {
		sess_tagged(s, "BAD", "APPEND needs a mailbox and a message");
		return;
	}
	char *name = sess_mailbox_arg(s, &args[0]);
	if (!name) {
		sess_tagged(s, "BAD", "APPEND: invalid mailbox name");
		return;
	}
	size_t max = s->cfg->max_message_size ? s->cfg->max_message_size : s->cfg->max_literal;
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
			if (sess_parse_flags(&args[i], 1, &m->flags, &kw, &err) < 0)
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
	struct store_user *u = sess_store(s);
	if (!u) {
		sess_store_error(s, STORE_EIO, "APPEND");
		goto out;
	}
	for (size_t j = 0; j < n; j++)
		mail_cache_compute(msgs[j].data, msgs[j].len, (char **)&msgs[j].envelope,
				   (char **)&msgs[j].bodystructure, (char **)&msgs[j].body);
	uint32_t uidvalidity = 0;
	int r = store_append(u, name, msgs, n, &uidvalidity);
	if (r == STORE_ENOENT) {
		sess_tagged(s, "NO", "[TRYCREATE] Mailbox does not exist");
	} else if (r != STORE_OK) {
		sess_store_error(s, r, "APPEND");
	} else {
		if (s->state == ST_SELECTED && strcmp(s->view.name, name) == 0)
			view_sync(s, s->cmd_allow_expunge);
		/* RFC 4315: the UIDs in order; a range when consecutive. */
		struct strbuf set = STRBUF_INIT;
		uint32_t *uids = xmalloc(n * sizeof(*uids));
		for (size_t j = 0; j < n; j++)
			uids[j] = msgs[j].uid;
		seqset_format_list(&set, uids, n);
		free(uids);
		sess_tagged(s, "OK", "[APPENDUID %u %s] APPEND completed", uidvalidity, strbuf_cstr(&set));
		strbuf_free(&set);
	}
	for (size_t j = 0; j < n; j++) {
		free((char *)msgs[j].envelope);
		free((char *)msgs[j].bodystructure);
		free((char *)msgs[j].body);
	}
	goto out;
bad:
	sess_tagged(s, "BAD", "APPEND: %s", err);
out:
	for (size_t j = 0; j < cap; j++)
		free(kwfree[j]);
	free(kwfree);
	free(msgs);
	free(name);
}
