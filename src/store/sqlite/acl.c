/* The SQLite backend's access control lists (RFC 4314) and the shared
 * registry (issue #12).
 *
 * An ACL is rows of the owner's index (table acl, migration 5 in db.c),
 * keyed by mailbox id so RENAME keeps them and a trigger drops them with
 * the mailbox. The registry is one server-wide file,
 * mail_root/shared.sqlite, of (owner, grantee) pairs, behind one
 * connection and one mutex: it is read once per name in another user's
 * namespace and written only by SETACL/DELETEACL, so contention is not a
 * concern, and a single connection needs no per-thread cleanup. The front
 * (store/acl.c) decides when rows are added and removed. Every LIST asks
 * it who shares with the user: that is answered from a copy in memory,
 * read again whenever the registry's wal-index header shows a commit since
 * (in any process; the index VFS, walvfs.c). */
#include "store/sqlite/sqlite_internal.h"
#include "core/log.h"
#include "core/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int acl_rows(struct sqlite_user *u, sqlite3_stmt *st, struct store_acl_entry **out,
		    size_t *n)
{
	struct store_acl_entry *e = NULL;
	size_t cap = 0, cnt = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint32_t rights = 0;
		/* Stored text is ours: an unknown letter (a later version's
		 * right) is ignored rather than failing the whole list. */
		const char *text = (const char *)sqlite3_column_text(st, 2);
		for (const char *p = text ? text : ""; *p; p++) {
			char one[2] = { *p, '\0' };
			uint32_t bit;
			if (store_acl_rights_parse(one, &bit) == STORE_OK)
				rights |= bit;
		}
		xgrow((void **)&e, &cap, cnt + 1, sizeof(*e));
		e[cnt].mailbox = xstrdup((const char *)sqlite3_column_text(st, 0));
		e[cnt].ident = xstrdup((const char *)sqlite3_column_text(st, 1));
		e[cnt].rights = rights;
		cnt++;
	}
	sqlite_stmt_done(st);
	if (rc != SQLITE_DONE) {
		store_acl_entries_free(e, cnt);
		return sqlite_db_error(u, "acl_list");
	}
	*out = e;
	*n = cnt;
	return STORE_OK;
}

int sqlite_acl_list(struct store_user *base, const char *mailbox, struct store_acl_entry **out,
		    size_t *n)
{
	struct sqlite_user *u = sqlite_user_of(base);
	int r = sqlite_tx_read(u);
	if (r != STORE_OK)
		return r;
	sqlite3_stmt *st;
	if (mailbox) {
		struct store_mbox_row row;
		r = sqlite_mbox_by_name(u, mailbox, &row);
		if (r != STORE_OK)
			goto out;
		st = sqlite_stmt(u, STMT_ACL_OF_MB);
		if (st)
			sqlite3_bind_int64(st, 1, row.id);
	} else {
		st = sqlite_stmt(u, STMT_ACL_ALL);
	}
	r = st ? acl_rows(u, st, out, n) : STORE_EIO;
out:
	sqlite_tx_rollback(u); /* read only */
	return r;
}

int sqlite_acl_set(struct store_user *base, const char *mailbox, const char *ident, const char *rights)
{
	struct sqlite_user *u = sqlite_user_of(base);
	int r = sqlite_tx_write(u);
	if (r != STORE_OK)
		return r;
	struct store_mbox_row row;
	r = sqlite_mbox_by_name(u, mailbox, &row);
	if (r != STORE_OK)
		goto fail;
	sqlite3_stmt *st = sqlite_stmt(u, *rights ? STMT_ACL_SET : STMT_ACL_DEL);
	if (!st) {
		r = STORE_EIO;
		goto fail;
	}
	sqlite3_bind_int64(st, 1, row.id);
	sqlite3_bind_text(st, 2, ident, -1, SQLITE_STATIC);
	if (*rights)
		sqlite3_bind_text(st, 3, rights, -1, SQLITE_STATIC);
	r = sqlite_stmt_run(u, st, "acl_set");
	if (r != STORE_OK)
		goto fail;
	return sqlite_tx_commit(u);
fail:
	sqlite_tx_rollback(u);
	return r;
}

/* ---- the registry: mail_root/shared.sqlite ---- */

static pthread_mutex_t g_reg_lock = PTHREAD_MUTEX_INITIALIZER;
static sqlite3 *g_reg;

/* The registry in memory, sorted by (grantee, owner) as SQLite's BINARY
 * collation sorts them (strcmp order), valid while the wal-index header
 * reads g_snap_hdr. A registry of more than REG_SNAPSHOT_MAX pairs is not
 * copied (each call queries it). Issue #14: the query was 2.6% of the
 * imaptest-like mix's CPU at 200 clients (a statement prepared, a read
 * transaction and two temporary b-trees for DISTINCT and ORDER BY). */
#define REG_SNAPSHOT_MAX 65536
struct reg_pair {
	char *grantee, *owner;
};
static struct reg_pair *g_snap;
static size_t g_nsnap;
static bool g_snap_ok;
static bool g_snap_big; /* more than REG_SNAPSHOT_MAX at g_snap_hdr */
static unsigned char g_snap_hdr[SQLITE_WAL_HEADER_BYTES];

static int reg_error(const char *what)
{
	log_err("event=store_error what=\"acl_registry %s\" err=\"%s\"", what,
		g_reg ? sqlite3_errmsg(g_reg) : "not open");
	return STORE_EIO;
}

/* With g_reg_lock held. */
static int reg_open(void)
{
	if (g_reg)
		return STORE_OK;
	const char *root = store_mail_root();
	if (!root)
		return STORE_EIO;
	char path[4096];
	if ((size_t)snprintf(path, sizeof(path), "%s/shared.sqlite", root) >= sizeof(path))
		return STORE_EIO;
	sqlite_lib_init();
	if (sqlite3_open_v2(path, &g_reg, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
			    sqlite_index_vfs()) !=
	    SQLITE_OK) {
		int r = reg_error("open");
		sqlite3_close(g_reg);
		g_reg = NULL;
		return r;
	}
	sqlite3_busy_timeout(g_reg, STORE_BUSY_TIMEOUT_MS);
	if (sqlite3_exec(g_reg,
			 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
			 "CREATE TABLE IF NOT EXISTS shared(grantee TEXT NOT NULL,"
			 " owner TEXT NOT NULL, PRIMARY KEY(grantee, owner)) WITHOUT ROWID;",
			 NULL, NULL, NULL) != SQLITE_OK) {
		int r = reg_error("schema");
		sqlite3_close(g_reg);
		g_reg = NULL;
		return r;
	}
	return STORE_OK;
}

/* With g_reg_lock held. */
static void snap_clear(void)
{
	for (size_t i = 0; i < g_nsnap; i++) {
		free(g_snap[i].grantee);
		free(g_snap[i].owner);
	}
	free(g_snap);
	g_snap = NULL;
	g_nsnap = 0;
	g_snap_ok = false;
	g_snap_big = false;
}

void sqlite_acl_registry_close(void)
{
	pthread_mutex_lock(&g_reg_lock);
	snap_clear();
	sqlite3_close(g_reg);
	g_reg = NULL;
	pthread_mutex_unlock(&g_reg_lock);
}

/* With g_reg_lock held and the registry open: g_snap current, or
 * g_snap_ok false (the caller queries). The header is read before the
 * copy: a commit between the two makes the next header differ, and the
 * copy is read again then, never kept stale. */
static int snap_refresh(void)
{
	unsigned char hdr[SQLITE_WAL_HEADER_BYTES];
	bool have = sqlite_walvfs_header(g_reg, hdr);
	if ((g_snap_ok || g_snap_big) && have && memcmp(hdr, g_snap_hdr, sizeof(hdr)) == 0)
		return STORE_OK;
	snap_clear();
	/* No header to check a copy against (the -shm is mapped by the first
	 * read, which the caller's query is; or another VFS): no copy. */
	if (!have)
		return STORE_OK;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(g_reg,
			       "SELECT grantee, owner FROM shared ORDER BY grantee, owner LIMIT ?1",
			       -1, &st, NULL) != SQLITE_OK)
		return reg_error("snapshot");
	sqlite3_bind_int64(st, 1, REG_SNAPSHOT_MAX + 1);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && g_nsnap < REG_SNAPSHOT_MAX) {
		const char *g = (const char *)sqlite3_column_text(st, 0);
		const char *o = (const char *)sqlite3_column_text(st, 1);
		if (!g || !o) {
			rc = SQLITE_NOMEM;
			break;
		}
		xgrow((void **)&g_snap, &cap, g_nsnap + 1, sizeof(*g_snap));
		g_snap[g_nsnap].grantee = xstrdup(g);
		g_snap[g_nsnap].owner = xstrdup(o);
		g_nsnap++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		snap_clear();
		return reg_error("snapshot");
	}
	if (rc == SQLITE_ROW) { /* more than REG_SNAPSHOT_MAX: queried until it changes */
		snap_clear();
		g_snap_big = true;
		memcpy(g_snap_hdr, hdr, sizeof(hdr));
		return STORE_OK;
	}
	g_snap_ok = true;
	memcpy(g_snap_hdr, hdr, sizeof(hdr));
	return STORE_OK;
}

/* The first pair of g_snap with grantee >= g. */
static size_t snap_lower_bound(const char *g)
{
	size_t lo = 0, hi = g_nsnap;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(g_snap[mid].grantee, g) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The owners sharing with user (or with anyone, authenticated), sorted
 * and distinct, from g_snap. */
static void snap_owners(const char *user, char ***owners, size_t *n)
{
	const char *grantees[] = { user, "anyone", "authenticated" };
	char **a = NULL;
	size_t cap = 0, cnt = 0;
	for (size_t k = 0; k < 3; k++) {
		for (size_t i = snap_lower_bound(grantees[k]);
		     i < g_nsnap && strcmp(g_snap[i].grantee, grantees[k]) == 0; i++) {
			if (strcmp(g_snap[i].owner, user) == 0)
				continue;
			xgrow((void **)&a, &cap, cnt + 1, sizeof(*a));
			a[cnt++] = g_snap[i].owner;
		}
	}
	if (cnt > 1)
		qsort(a, cnt, sizeof(*a), cmp_str);
	size_t out = 0;
	for (size_t i = 0; i < cnt; i++)
		if (out == 0 || strcmp(a[out - 1], a[i]) != 0)
			a[out++] = a[i];
	for (size_t i = 0; i < out; i++)
		a[i] = xstrdup(a[i]);
	*owners = a;
	*n = out;
}

/* Runs one statement with ?1 = a, ?2 = b (no rows expected). */
static int reg_run(const char *sql, const char *a, const char *b, const char *what)
{
	pthread_mutex_lock(&g_reg_lock);
	int r = reg_open();
	sqlite3_stmt *st = NULL;
	if (r == STORE_OK && sqlite3_prepare_v2(g_reg, sql, -1, &st, NULL) != SQLITE_OK)
		r = reg_error(what);
	if (r == STORE_OK) {
		sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			r = reg_error(what);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&g_reg_lock);
	return r;
}

int sqlite_acl_registry_add(const char *owner, const char *grantee)
{
	return reg_run("INSERT OR IGNORE INTO shared(grantee, owner) VALUES(?1, ?2)", grantee,
		       owner, "add");
}

int sqlite_acl_registry_remove(const char *owner, const char *grantee)
{
	return reg_run("DELETE FROM shared WHERE grantee=?1 AND owner=?2", grantee, owner,
		       "remove");
}

int sqlite_acl_registry_owners(const char *user, char ***owners, size_t *n)
{
	pthread_mutex_lock(&g_reg_lock);
	int r = reg_open();
	if (r == STORE_OK)
		r = snap_refresh();
	if (r == STORE_OK && g_snap_ok) {
		snap_owners(user, owners, n);
		pthread_mutex_unlock(&g_reg_lock);
		return STORE_OK;
	}
	sqlite3_stmt *st = NULL;
	if (r == STORE_OK &&
	    sqlite3_prepare_v2(g_reg,
			       "SELECT DISTINCT owner FROM shared WHERE grantee IN "
			       "(?1, 'anyone', 'authenticated') AND owner<>?1 ORDER BY owner",
			       -1, &st, NULL) != SQLITE_OK)
		r = reg_error("owners");
	char **a = NULL;
	size_t cap = 0, cnt = 0;
	if (r == STORE_OK) {
		sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			xgrow((void **)&a, &cap, cnt + 1, sizeof(*a));
			a[cnt++] = xstrdup((const char *)sqlite3_column_text(st, 0));
		}
		if (rc != SQLITE_DONE)
			r = reg_error("owners");
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&g_reg_lock);
	if (r != STORE_OK) {
		for (size_t i = 0; i < cnt; i++)
			free(a[i]);
		free(a);
		return r;
	}
	*owners = a;
	*n = cnt;
	return STORE_OK;
}
