#include "admin/admin.h"
#include "admin/deliver.h"
#include "auth/passdb.h"
#include "core/config.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "mail/mailcache.h"
#include "mail/preview.h"
#include "mail/searchdoc.h"
#include "core/privs.h"
#include "store/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

static int usage(FILE *f)
{
	fprintf(f, "usage: rampart deliver [-c FILE] USER [MAILBOX] < message\n"
		   "Delivers one message from stdin durably into USER's MAILBOX (default INBOX).\n"
		   "Exit status (sysexits): 0 delivered, 64 usage, 67 unknown user, 73 over quota or\n"
		   "cannot create, 75 temporary failure (try again), 78 configuration error.\n");
	return f == stdout ? 0 : EX_USAGE;
}

int admin_deliver_main(int argc, char **argv)
{
	if (admin_wants_help(argc, argv))
		return usage(stdout);
	const char *conf = ADMIN_DEFAULT_CONFIG;
	int i = 1;
	int c = admin_conf_arg(argc, argv, &i, &conf);
	if (c < 0)
		return usage(stderr);
	i += c; /* past FILE */
	if (argc - i < 1 || argc - i > 2 || argv[i][0] == '-')
		return usage(stderr);
	const char *user = argv[i];
	const char *mailbox = argc - i == 2 ? argv[i + 1] : "INBOX";

	struct config *cfg;
	int rc = admin_conf_load("rampart deliver", conf, &cfg);
	if (rc)
		return rc;
	rc = EX_TEMPFAIL;
	char *err = NULL;
	struct passdb *db = passdb_load(cfg->users_file, &err);
	if (!db) {
		fprintf(stderr, "rampart deliver: users file: %s\n", err ? err : "unreadable");
		free(err);
		config_free(cfg);
		return EX_TEMPFAIL;
	}
	if (!passdb_user_exists(db, user)) {
		fprintf(stderr, "rampart deliver: no such user: %s\n", user);
		passdb_free(db);
		config_free(cfg);
		return EX_NOUSER;
	}
	passdb_free(db);
	/* As root, files we create must belong to the server's account. */
	if (privs_drop(cfg) < 0) {
		config_free(cfg);
		return EX_TEMPFAIL;
	}

	size_t max = cfg->max_message_size;
	struct strbuf msg = STRBUF_INIT;
	char buf[65536];
	for (;;) {
		ssize_t r = read(0, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "rampart deliver: read: %s\n", strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		if (msg.len + (size_t)r > max) {
			fprintf(stderr, "rampart deliver: message larger than max_message_size (%zu)\n", max);
			rc = EX_DATAERR;
			goto out;
		}
		strbuf_add(&msg, buf, (size_t)r);
	}
	if (msg.len == 0) {
		fprintf(stderr, "rampart deliver: empty message\n");
		rc = EX_DATAERR;
		goto out;
	}
	if (store_init(cfg->mail_root) < 0) {
		fprintf(stderr, "rampart deliver: cannot open mail_root %s\n", cfg->mail_root);
		rc = EX_CANTCREAT;
		goto out;
	}
	admin_quota_defaults(cfg);
	store_inline_set((size_t)cfg->store_inline_max_kb << 10); /* inline (issue #14) */
	if (store_special_defaults_set(cfg) != STORE_OK) { /* ext (issue #12) */
		fprintf(stderr, "rampart deliver: [mailboxes]: a name is not a valid mailbox name\n");
		rc = EX_CONFIG;
		goto out_store;
	}
	struct store_user *u = store_user_open(user);
	if (!u) {
		fprintf(stderr, "rampart deliver: cannot open the store of %s\n", user);
		goto out_store;
	}
	struct store_append a;
	memset(&a, 0, sizeof(a));
	a.data = msg.s;
	a.len = msg.len;
	a.internaldate = -1;
	mail_cache_compute(a.data, a.len, (char **)&a.envelope, (char **)&a.bodystructure,
			   (char **)&a.body);
	a.search = mail_search_doc_new(a.data, a.len);
	a.preview = mail_preview_compute(a.data, a.len);
	uint32_t uidvalidity;
	int r = store_append(u, mailbox, &a, 1, &uidvalidity);
	if (r == STORE_ENOENT && strcmp(mailbox, "INBOX") != 0) {
		/* Like an LDA: an unknown folder falls back to INBOX. */
		fprintf(stderr, "rampart deliver: no mailbox %s, delivering to INBOX\n", mailbox);
		mailbox = "INBOX";
		r = store_append(u, mailbox, &a, 1, &uidvalidity);
	}
	free((char *)a.envelope);
	free((char *)a.bodystructure);
	free((char *)a.body);
	mail_search_doc_free((struct search_doc *)a.search);
	free((char *)a.preview);
	store_user_close(u);
	if (r == STORE_OK) {
		log_info("event=deliver user=%s mailbox=%s uid=%u size=%zu", user, mailbox, a.uid, msg.len);
		rc = 0;
	} else if (r == STORE_EOVERQUOTA) {
		/* RFC 3463 5.2.2: mailbox full (permanent, as Dovecot's LDA by default). */
		fprintf(stderr, "rampart deliver: 5.2.2 mailbox full: %s is over quota\n", user);
		rc = EX_CANTCREAT;
	} else {
		fprintf(stderr, "rampart deliver: store error %d\n", r);
	}
	store_cache_drop();
out_store:
	store_shutdown();
out:
	strbuf_free(&msg);
	config_free(cfg);
	return rc;
}
