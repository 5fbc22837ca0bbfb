/* App passwords (see apppass.h for the file format and why a keyed
 * BLAKE2b is the right hash for them): the server's cached copy of the
 * definitions, the CLI's edits of the same file, and the last-use records
 * the server keeps in its state_dir.
 *
 * The cache follows the users file's pattern (passdb.c): a reload builds
 * a new table outside the lock and swaps it in, and a refresh costs one
 * stat when nothing changed, so a revoke from the CLI is seen by the
 * very next login without a restart. */
#include "auth/apppass.h"
#include "auth/passdb.h"
#include "auth/passdb_internal.h"
#include "core/cidr.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The generated password: 5 groups of 4 from 36 symbols = 103.4 bits. */
#define APPPASS_GROUPS 5
#define APPPASS_GROUP_LEN 4
#define APPPASS_HASH_PREFIX "blake2b$"
/* Longest input we normalise (the bound of password_verify). */
#define APPPASS_INPUT_MAX 1024
#define APPPASS_USE_DIR "app_password_use"

void apppass_entries_free(struct apppass_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].user);
		free(v[i].name);
		free(v[i].from);
		sodium_memzero(v[i].mac, sizeof(v[i].mac));
	}
	free(v);
}

bool apppass_name_valid(const char *name)
{
	if (!name)
		return false;
	size_t len = strnlen(name, APPPASS_NAME_MAX + 1);
	if (len == 0 || len > APPPASS_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

char *apppass_path_for(const char *users_file)
{
	const char *slash = users_file ? strrchr(users_file, '/') : NULL;
	if (!slash)
		return xstrdup(APPPASS_FILE_NAME);
	return xasprintf("%.*s/%s", (int)(slash - users_file), users_file, APPPASS_FILE_NAME);
}

char *apppass_generate(void)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	char *pw = xmalloc(APPPASS_GROUPS * (APPPASS_GROUP_LEN + 1));
	size_t j = 0;
	for (int g = 0; g < APPPASS_GROUPS; g++) {
		if (g)
			pw[j++] = '-';
		for (int i = 0; i < APPPASS_GROUP_LEN; i++)
			pw[j++] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
	}
	pw[j] = '\0';
	return pw;
}

void apppass_mac(const char *password, const unsigned char salt[APPPASS_SALT_LEN],
		 unsigned char out[APPPASS_MAC_LEN])
{
	char norm[APPPASS_INPUT_MAX];
	size_t n = 0;
	for (size_t i = 0; password[i] && i < APPPASS_INPUT_MAX && n < sizeof(norm); i++) {
		char c = password[i];
		if (c == '-' || c == ' ')
			continue;
		norm[n++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	crypto_generichash(out, APPPASS_MAC_LEN, (const unsigned char *)norm, n, salt,
			   APPPASS_SALT_LEN);
	sodium_memzero(norm, sizeof(norm));
}

/* ---- parsing the file ---- */

static bool apppass_hex(const char *s, size_t slen, unsigned char *out, size_t olen)
{
	size_t bin_len = 0;
	return slen == olen * 2 &&
	       sodium_hex2bin(out, olen, s, slen, NULL, &bin_len, NULL) == 0 && bin_len == olen;
}

static bool apppass_i64(const char *s, size_t len, int64_t *out)
{
	uint64_t v;
	if (parse_u64(s, len, &v) < 0 || v > INT64_MAX)
		return false;
	*out = (int64_t)v;
	return true;
}

/* Splits one line into its six fields; false when it is not an entry
 * (comment, blank) or malformed. The networks come last: IPv6 ones hold
 * ':'. */
static bool apppass_line_parse(const char *s, size_t len, struct apppass_entry *e)
{
	memset(e, 0, sizeof(*e));
	if (len && s[len - 1] == '\r')
		len--;
	if (len == 0 || s[0] == '#' || memchr(s, '\0', len))
		return false;
	const char *f[6];
	size_t fl[6];
	const char *p = s, *end = s + len;
	for (int i = 0; i < 6; i++) {
		const char *c = i < 5 ? memchr(p, ':', (size_t)(end - p)) : NULL;
		if (i < 5 && !c)
			return false;
		f[i] = p;
		fl[i] = (size_t)((c ? c : end) - p);
		p = c ? c + 1 : end;
	}
	size_t plen = strlen(APPPASS_HASH_PREFIX);
	const char *h = f[4];
	size_t hl = fl[4];
	if (hl != plen + APPPASS_SALT_LEN * 2 + 1 + APPPASS_MAC_LEN * 2 ||
	    memcmp(h, APPPASS_HASH_PREFIX, plen) != 0 || h[plen + APPPASS_SALT_LEN * 2] != '$')
		return false;
	if (!apppass_hex(h + plen, APPPASS_SALT_LEN * 2, e->salt, APPPASS_SALT_LEN) ||
	    !apppass_hex(h + plen + APPPASS_SALT_LEN * 2 + 1, APPPASS_MAC_LEN * 2, e->mac,
			 APPPASS_MAC_LEN))
		return false;
	if (!apppass_i64(f[2], fl[2], &e->created) || !apppass_i64(f[3], fl[3], &e->expires))
		return false;
	e->user = xstrndup(f[0], fl[0]);
	e->name = xstrndup(f[1], fl[1]);
	e->from = xstrndup(f[5], fl[5]);
	if (!passdb_username_valid(e->user) || !apppass_name_valid(e->name)) {
		free(e->user);
		free(e->name);
		free(e->from);
		memset(e, 0, sizeof(*e));
		return false;
	}
	sodium_bin2hex(e->id, sizeof(e->id), e->salt, APPPASS_ID_LEN / 2);
	return true;
}

static bool apppass_line_is(const char *s, size_t len, const char *user, const char *name)
{
	size_t ul = strlen(user);
	if (len <= ul || memcmp(s, user, ul) != 0 || s[ul] != ':')
		return false;
	if (!name)
		return true;
	size_t nl = strlen(name);
	return len > ul + 1 + nl && memcmp(s + ul + 1, name, nl) == 0 && s[ul + 1 + nl] == ':';
}

/* Every valid entry of buf, for one user or (user NULL) all; malformed
 * lines are skipped with a warning naming the line only. */
static void apppass_parse(const char *path, const char *buf, size_t len, const char *user,
			  struct apppass_entry **out, size_t *n)
{
	struct apppass_entry *v = NULL;
	size_t cnt = 0, cap = 0, lineno = 0;
	const char *p = buf, *end = buf + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t llen = nl ? (size_t)(nl - p) : (size_t)(end - p);
		lineno++;
		struct apppass_entry e;
		bool blank = llen == 0 || p[0] == '#' || (llen == 1 && p[0] == '\r');
		if (apppass_line_parse(p, llen, &e)) {
			if (!user || strcmp(user, e.user) == 0) {
				xgrow((void **)&v, &cap, cnt + 1, sizeof(*v));
				v[cnt++] = e;
			} else {
				free(e.user);
				free(e.name);
				free(e.from);
			}
		} else if (!blank) {
			log_warn("event=apppass_warning file=%s line=%zu msg=\"malformed line, ignored\"",
				 path, lineno);
		}
		p += llen + (nl ? 1 : 0);
	}
	*out = v;
	*n = cnt;
}

/* ---- the server's cached copy ---- */

struct apppass_table {
	struct apppass_entry *v;    /* sorted by user, file order within a user */
	size_t n;
};

struct apppass_store {
	char *path;
	pthread_rwlock_t lock;          /* guards tab */
	pthread_mutex_t refresh_lock;   /* serialises reloads, guards stamp */
	struct apppass_table tab;
	struct passdb_stamp stamp;
	bool have_stamp;                /* a version (or absence) is loaded */
	bool absent;                    /* the loaded version is "no file" */
};

static int apppass_entry_cmp(const void *a, const void *b)
{
	const struct apppass_entry *x = a, *y = b;
	return strcmp(x->user, y->user);
}

struct apppass_store *apppass_store_new(const char *path)
{
	struct apppass_store *st = xcalloc(1, sizeof(*st));
	st->path = xstrdup(path);
	if (pthread_rwlock_init(&st->lock, NULL) != 0 || pthread_mutex_init(&st->refresh_lock, NULL) != 0)
		fatal("apppass: cannot initialise locks");
	apppass_store_refresh(st);
	return st;
}

void apppass_store_free(struct apppass_store *st)
{
	if (!st)
		return;
	apppass_entries_free(st->tab.v, st->tab.n);
	pthread_rwlock_destroy(&st->lock);
	pthread_mutex_destroy(&st->refresh_lock);
	free(st->path);
	free(st);
}

static void apppass_store_swap(struct apppass_store *st, struct apppass_entry *v, size_t n)
{
	/* By user only: every entry of a user is checked, in any order. */
	if (n > 1)
		qsort(v, n, sizeof(*v), apppass_entry_cmp);
	pthread_rwlock_wrlock(&st->lock);
	struct apppass_table old = st->tab;
	st->tab = (struct apppass_table){ v, n };
	pthread_rwlock_unlock(&st->lock);
	apppass_entries_free(old.v, old.n);
}

void apppass_store_refresh(struct apppass_store *st)
{
	if (!st)
		return;
	pthread_mutex_lock(&st->refresh_lock);
	struct stat sb;
	if (stat(st->path, &sb) < 0) {
		if (errno == ENOENT && !(st->have_stamp && st->absent)) {
			/* Deleted: nobody has app passwords any more. */
			apppass_store_swap(st, NULL, 0);
			st->have_stamp = true;
			st->absent = true;
		}
		goto out;
	}
	struct passdb_stamp now;
	passdb_stamp_of(&sb, &now);
	if (st->have_stamp && !st->absent && passdb_stamp_eq(&now, &st->stamp))
		goto out;
	char *buf;
	size_t len;
	if (passdb_file_read(st->path, &buf, &len, &sb) < 0) {
		log_warn("event=apppass_reload_error file=%s error=\"%s\"", st->path, strerror(errno));
		goto out;
	}
	struct apppass_entry *v;
	size_t n;
	apppass_parse(st->path, buf, len, NULL, &v, &n);
	sodium_memzero(buf, len);
	free(buf);
	apppass_store_swap(st, v, n);
	passdb_stamp_of(&sb, &st->stamp);
	st->have_stamp = true;
	st->absent = false;
out:
	pthread_mutex_unlock(&st->refresh_lock);
}

static void apppass_entry_copy(struct apppass_entry *dst, const struct apppass_entry *src)
{
	*dst = *src;
	dst->user = xstrdup(src->user);
	dst->name = xstrdup(src->name);
	dst->from = xstrdup(src->from);
}

size_t apppass_store_user(struct apppass_store *st, const char *user, struct apppass_entry **out)
{
	*out = NULL;
	if (!st || !user)
		return 0;
	pthread_rwlock_rdlock(&st->lock);
	/* Lower bound of user in the sorted table. */
	size_t lo = 0, hi = st->tab.n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(st->tab.v[mid].user, user) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t n = 0;
	while (lo + n < st->tab.n && n < APPPASS_MAX_PER_USER && strcmp(st->tab.v[lo + n].user, user) == 0)
		n++;
	if (n) {
		*out = xcalloc(n, sizeof(**out));
		for (size_t i = 0; i < n; i++)
			apppass_entry_copy(&(*out)[i], &st->tab.v[lo + i]);
	}
	pthread_rwlock_unlock(&st->lock);
	return n;
}

/* ---- the CLI's edits ---- */

struct apppass_edit {
	const char *user;
	const char *name;       /* add/revoke; NULL: every entry of user */
	const char *line;       /* add: the new line */
};

static int apppass_edit_add(void *arg, const char *buf, size_t len, bool exists,
			    struct strbuf *out)
{
	(void)exists;
	const struct apppass_edit *ed = arg;
	size_t mine = 0;
	const char *p = buf, *end = buf + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t llen = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (apppass_line_is(p, llen, ed->user, ed->name))
			return -2;
		if (apppass_line_is(p, llen, ed->user, NULL))
			mine++;
		strbuf_add(out, p, llen);
		strbuf_addc(out, '\n');
		p += llen + (nl ? 1 : 0);
	}
	if (mine >= APPPASS_MAX_PER_USER)
		return -3;
	strbuf_adds(out, ed->line);
	return 0;
}

static int apppass_edit_remove(void *arg, const char *buf, size_t len, bool exists,
			       struct strbuf *out)
{
	(void)exists;
	const struct apppass_edit *ed = arg;
	bool found = false;
	const char *p = buf, *end = buf + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t llen = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (apppass_line_is(p, llen, ed->user, ed->name)) {
			found = true;
		} else {
			strbuf_add(out, p, llen);
			strbuf_addc(out, '\n');
		}
		p += llen + (nl ? 1 : 0);
	}
	return found || !ed->name ? 0 : -2;
}

int apppass_file_add(const char *path, const char *user, const char *name, int64_t expires,
		     const char *from, char **password)
{
	*password = NULL;
	if (!path || !passdb_username_valid(user) || !apppass_name_valid(name) || expires < 0 ||
	    (from && (strpbrk(from, " \t\r\n") || strlen(from) > 4096)) || sodium_init() < 0) {
		errno = EINVAL;
		return -1;
	}
	char *pw = apppass_generate();
	unsigned char salt[APPPASS_SALT_LEN], mac[APPPASS_MAC_LEN];
	randombytes_buf(salt, sizeof(salt));
	apppass_mac(pw, salt, mac);
	char salt_hex[APPPASS_SALT_LEN * 2 + 1], mac_hex[APPPASS_MAC_LEN * 2 + 1];
	sodium_bin2hex(salt_hex, sizeof(salt_hex), salt, sizeof(salt));
	sodium_bin2hex(mac_hex, sizeof(mac_hex), mac, sizeof(mac));
	char *line = xasprintf("%s:%s:%" PRId64 ":%" PRId64 ":" APPPASS_HASH_PREFIX "%s$%s:%s\n",
			       user, name, (int64_t)time(NULL), expires, salt_hex, mac_hex,
			       from ? from : "");
	struct apppass_edit ed = { .user = user, .name = name, .line = line };
	int rc = passdb_file_rewrite(path, apppass_edit_add, &ed);
	sodium_memzero(mac, sizeof(mac));
	sodium_memzero(mac_hex, sizeof(mac_hex));
	free(line);
	if (rc == 0) {
		*password = pw;
	} else {
		sodium_memzero(pw, strlen(pw));
		free(pw);
	}
	return rc;
}

int apppass_file_revoke(const char *path, const char *user, const char *name)
{
	if (!path || !passdb_username_valid(user) || !apppass_name_valid(name)) {
		errno = EINVAL;
		return -1;
	}
	struct apppass_edit ed = { .user = user, .name = name };
	return passdb_file_rewrite(path, apppass_edit_remove, &ed);
}

int apppass_file_delete_user(const char *path, const char *user)
{
	if (!path || !passdb_username_valid(user)) {
		errno = EINVAL;
		return -1;
	}
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	struct apppass_edit ed = { .user = user };
	return passdb_file_rewrite(path, apppass_edit_remove, &ed);
}

int apppass_file_list(const char *path, const char *user, struct apppass_entry **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	char *buf;
	size_t len;
	if (passdb_file_read(path, &buf, &len, NULL) < 0)
		return errno == ENOENT ? 0 : -1;
	apppass_parse(path, buf, len, user, out, n);
	sodium_memzero(buf, len);
	free(buf);
	return 0;
}

/* ---- last use ---- */

/* All writers are threads of one server process: one mutex orders them. */
static pthread_mutex_t apppass_use_lock = PTHREAD_MUTEX_INITIALIZER;

static char *apppass_use_path(const char *state_dir, const char *user)
{
	return xasprintf("%s/" APPPASS_USE_DIR "/%s", state_dir, user);
}

/* "ID TIME IP" lines, one per entry that was ever used. */
static bool apppass_use_line(const char *s, size_t len, const char *id, time_t *when, char *ip,
			     size_t ipsize)
{
	if (len < APPPASS_ID_LEN + 2 || memcmp(s, id, APPPASS_ID_LEN) != 0 || s[APPPASS_ID_LEN] != ' ')
		return false;
	const char *t = s + APPPASS_ID_LEN + 1, *end = s + len;
	const char *sp = memchr(t, ' ', (size_t)(end - t));
	int64_t v;
	if (!sp || !apppass_i64(t, (size_t)(sp - t), &v))
		return false;
	if (when)
		*when = (time_t)v;
	if (ip) {
		size_t il = MIN((size_t)(end - sp - 1), ipsize - 1);
		memcpy(ip, sp + 1, il);
		ip[il] = '\0';
	}
	return true;
}

int apppass_use_record(const char *state_dir, const char *user, const char *id, time_t when,
		       const char *ip)
{
	if (!state_dir || !passdb_username_valid(user) || strlen(id) != APPPASS_ID_LEN)
		return -1;
	char *dir = xasprintf("%s/" APPPASS_USE_DIR, state_dir);
	char *path = apppass_use_path(state_dir, user);
	int rc = -1;
	pthread_mutex_lock(&apppass_use_lock);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		goto out;
	char *buf = NULL;
	size_t len = 0;
	if (passdb_file_read(path, &buf, &len, NULL) < 0 && errno != ENOENT)
		goto out;
	struct strbuf b = STRBUF_INIT;
	size_t kept = 0;
	const char *p = buf ? buf : "", *end = p + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t llen = nl ? (size_t)(nl - p) : (size_t)(end - p);
		/* Bounded: the other entries' records, at most the cap. */
		if (llen && !apppass_use_line(p, llen, id, NULL, NULL, 0) &&
		    kept < APPPASS_MAX_PER_USER * 2) {
			strbuf_add(&b, p, llen);
			strbuf_addc(&b, '\n');
			kept++;
		}
		p += llen + (nl ? 1 : 0);
	}
	free(buf);
	/* The source is a numeric address from the connection: no spaces. */
	char safe_ip[64];
	size_t j = 0;
	for (size_t i = 0; ip && ip[i] && j + 1 < sizeof(safe_ip); i++)
		safe_ip[j++] = (ip[i] > ' ' && ip[i] < 0x7f) ? ip[i] : '?';
	safe_ip[j] = '\0';
	strbuf_addf(&b, "%s %" PRId64 " %s\n", id, (int64_t)when, j ? safe_ip : "-");
	/* Not durable: the last use is a hint for the administrator, and a
	 * login must not wait for a disk flush. A crash may lose it. */
	const struct write_file_opts wo = { .mode = 0600, .not_durable = true };
	rc = write_file_atomic_opts(path, b.s, b.len, &wo);
	strbuf_free(&b);
out:
	pthread_mutex_unlock(&apppass_use_lock);
	free(path);
	free(dir);
	return rc;
}

bool apppass_use_get(const char *state_dir, const char *user, const char *id, time_t *when,
		     char *ip, size_t ipsize)
{
	if (!state_dir || !passdb_username_valid(user))
		return false;
	char *path = apppass_use_path(state_dir, user);
	char *buf;
	size_t len;
	int r = passdb_file_read(path, &buf, &len, NULL);
	free(path);
	if (r < 0)
		return false;
	bool found = false;
	const char *p = buf, *end = buf + len;
	while (p < end && !found) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t llen = nl ? (size_t)(nl - p) : (size_t)(end - p);
		found = apppass_use_line(p, llen, id, when, ip, ipsize);
		p += llen + (nl ? 1 : 0);
	}
	free(buf);
	return found;
}
