/* The users file ("user:{SCHEME}hash[:extra...]" per line) in memory, and
 * the CLI's atomic edits of it.
 *
 * The in-memory copy is a sorted array searched with bsearch; a reload
 * builds a new array outside any lock and swaps it in under the write
 * lock, so logins in progress never see a half-loaded table. Verification
 * copies the hash out under the read lock and hashes outside it: argon2id
 * takes tens of milliseconds and must not hold up a reload. */
#include "auth/passdb.h"
#include "auth/passdb_internal.h"
#include "auth/apppass.h"
#include "auth/authcache.h"
#include "auth/scram_cred.h"
#include "core/cidr.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* A users file of a million accounts is about 130 MiB of argon2id lines;
 * anything beyond this bound is not a users file. */
#define PASSDB_FILE_MAX ((size_t)256 << 20)
#define PASSDB_USER_MAX 255

struct passdb_entry {
	char *user;
	char *hash;
	char *fields;           /* the 8th field (extra_fields), "" when none */
	size_t line;            /* for "first line wins" among duplicates */
};

struct passdb_table {
	struct passdb_entry *v;
	size_t n;
};

struct passdb {
	char *path;
	pthread_rwlock_t lock;          /* guards tab */
	pthread_mutex_t refresh_lock;   /* serialises reloads and guards the stamps */
	struct passdb_table *tab;
	struct passdb_stamp stamp;      /* version currently loaded */
	struct passdb_stamp bad_stamp;  /* last version that failed to load */
	bool have_bad_stamp;
	struct apppass_store *apps;     /* the app_passwords file beside path */
	char *state_dir;                /* where app-password use is recorded */
	passdb_upgrade_fn *upgrade;     /* hash upgrade on login (auth/rehash.h) */
	void *upgrade_arg;
	struct authcache *cache;        /* authcache: NULL until passdb_set_cache */
};

/* ---- usernames ---- */

static bool passdb_user_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '+' || c == '-' || c == '@';
}

/* Beyond the header's character set, the rules that keep a username a
 * safe directory name for the store (mail/<domain>/<local>): one '@' at
 * most, no empty part, no part starting with '.', no "..", and no
 * "@local" (the store's name for users without a domain). A leading '-'
 * would read as an option on the command line. */
bool passdb_username_valid(const char *user)
{
	if (!user)
		return false;
	size_t len = strnlen(user, PASSDB_USER_MAX + 1);
	if (len == 0 || len > PASSDB_USER_MAX || user[0] == '.' || user[0] == '-')
		return false;
	const char *at = NULL;
	for (size_t i = 0; i < len; i++) {
		if (!passdb_user_char_ok(user[i]))
			return false;
		if (user[i] == '@') {
			if (at)
				return false;
			at = user + i;
		}
	}
	if (strstr(user, ".."))
		return false;
	if (at) {
		if (at == user || at[1] == '\0' || at[1] == '.' || strcmp(at + 1, "local") == 0)
			return false;
	}
	return true;
}

/* ---- reading and parsing the file ---- */

int passdb_file_read(const char *path, char **buf, size_t *len, struct stat *st)
{
	*buf = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		goto fail;
	if (!S_ISREG(sb.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	if ((uintmax_t)sb.st_size > PASSDB_FILE_MAX) {
		errno = EFBIG;
		goto fail;
	}
	struct strbuf b = STRBUF_INIT;
	char chunk[65536];
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			strbuf_free(&b);
			close(fd);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		if (b.len + (size_t)r > PASSDB_FILE_MAX) {
			strbuf_free(&b);
			close(fd);
			errno = EFBIG;
			return -1;
		}
		strbuf_add(&b, chunk, (size_t)r);
	}
	close(fd);
	if (st)
		*st = sb;
	*buf = strbuf_detach(&b, len);
	if (!*buf)
		*buf = xstrdup("");
	return 0;
fail:;
	int e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* One line of the file, split. user/hash point into the line; *rest is
 * what follows the hash field (":uid:gid:..." or ""). */
struct passdb_line {
	const char *start;      /* the whole line, without its '\n' */
	size_t len;
	bool is_entry;          /* not blank, not a comment, has "user:" */
	const char *user;
	size_t ulen;
	const char *hash;
	size_t hlen;
	const char *rest;
	size_t rlen;
	const char *fields;     /* the 8th field: after the 6th ':' of rest */
	size_t flen;
};

static void passdb_line_split(const char *s, size_t len, struct passdb_line *l)
{
	memset(l, 0, sizeof(*l));
	l->start = s;
	l->len = len;
	/* Tolerate CRLF files; the '\r' is not part of the last field. */
	size_t end = len;
	if (end > 0 && s[end - 1] == '\r')
		end--;
	size_t i = 0;
	while (i < end && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i == end || s[i] == '#')
		return;
	const char *colon = memchr(s, ':', end);
	if (!colon)
		return;
	l->is_entry = true;
	l->user = s;
	l->ulen = (size_t)(colon - s);
	l->hash = colon + 1;
	const char *hend = memchr(l->hash, ':', end - l->ulen - 1);
	l->hlen = hend ? (size_t)(hend - l->hash) : end - l->ulen - 1;
	l->rest = l->hash + l->hlen;
	l->rlen = end - (size_t)(l->rest - s);
	/* rest is ":uid:gid:gecos:home:shell:extra"; extra may hold ':'. */
	const char *f = l->rest, *rend = l->rest + l->rlen;
	int colons = 0;
	while (f < rend && colons < 6) {
		if (*f == ':')
			colons++;
		f++;
	}
	if (colons == 6) {
		l->fields = f;
		l->flen = (size_t)(rend - f);
	}
}

/* Splits the line at *p (before end) into l and steps *p past it; false
 * at the end. */
static bool passdb_line_next(const char **p, const char *end, struct passdb_line *l)
{
	if (*p >= end)
		return false;
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t llen = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
	passdb_line_split(*p, llen, l);
	*p += llen + (nl ? 1 : 0);
	return true;
}

static bool passdb_line_user_is(const struct passdb_line *l, const char *user)
{
	return l->is_entry && l->ulen == strlen(user) && memcmp(l->user, user, l->ulen) == 0;
}

static int passdb_entry_cmp(const void *a, const void *b)
{
	const struct passdb_entry *x = a, *y = b;
	int c = strcmp(x->user, y->user);
	if (c)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

static void passdb_table_free(struct passdb_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].user);
		sodium_memzero(t->v[i].hash, strlen(t->v[i].hash));
		free(t->v[i].hash);
		sodium_memzero(t->v[i].fields, strlen(t->v[i].fields));
		free(t->v[i].fields);
	}
	free(t->v);
	free(t);
}

static struct passdb_table *passdb_table_parse(const char *path, const char *buf, size_t len)
{
	struct passdb_table *t = xcalloc(1, sizeof(*t));
	size_t cap = 0;
	size_t lineno = 0;
	const char *p = buf, *end = buf + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t llen = nl ? (size_t)(nl - p) : (size_t)(end - p);
		lineno++;
		struct passdb_line l;
		passdb_line_split(p, llen, &l);
		p += llen + (nl ? 1 : 0);
		if (!l.is_entry) {
			/* Blank lines and comments are fine; anything else is a
			 * line without the ':' that every entry has. */
			size_t i = 0;
			while (i < llen && (l.start[i] == ' ' || l.start[i] == '\t' || l.start[i] == '\r'))
				i++;
			if (i < llen && l.start[i] != '#')
				log_warn("event=passdb_warning file=%s line=%zu msg=\"no ':' in line, ignored\"",
					 path, lineno);
			continue;
		}
		if (memchr(l.start, '\0', llen)) {
			log_warn("event=passdb_warning file=%s line=%zu msg=\"NUL byte in line, ignored\"",
				 path, lineno);
			continue;
		}
		char *user = xstrndup(l.user, l.ulen);
		if (!passdb_username_valid(user)) {
			/* The name itself is not logged: a malformed line may be
			 * a password pasted in the wrong place. */
			log_warn("event=passdb_warning file=%s line=%zu msg=\"invalid user name, ignored\"",
				 path, lineno);
			free(user);
			continue;
		}
		char *hash = xstrndup(l.hash, l.hlen);
		if (!password_scheme_known(hash))
			log_warn("event=passdb_warning file=%s line=%zu user=%s msg=\"no supported "
				 "password scheme, this user cannot log in\"",
				 path, lineno, user);
		xgrow((void **)&t->v, &cap, t->n + 1, sizeof(*t->v));
		char *fields = l.fields ? xstrndup(l.fields, l.flen) : xstrdup("");
		t->v[t->n++] = (struct passdb_entry){ .user = user, .hash = hash, .fields = fields,
						      .line = lineno };
	}
	if (t->n > 1) {
		qsort(t->v, t->n, sizeof(*t->v), passdb_entry_cmp);
		/* Keep the first line of each user, like Dovecot does. */
		size_t w = 1;
		for (size_t r = 1; r < t->n; r++) {
			if (strcmp(t->v[r].user, t->v[w - 1].user) == 0) {
				log_warn("event=passdb_warning file=%s line=%zu user=%s msg=\"duplicate "
					 "user, first line wins\"",
					 path, t->v[r].line, t->v[r].user);
				free(t->v[r].user);
				sodium_memzero(t->v[r].hash, strlen(t->v[r].hash));
				free(t->v[r].hash);
				sodium_memzero(t->v[r].fields, strlen(t->v[r].fields));
				free(t->v[r].fields);
				continue;
			}
			t->v[w++] = t->v[r];
		}
		t->n = w;
	}
	return t;
}

static struct passdb_table *passdb_table_load(const char *path, struct passdb_stamp *stamp,
					      char **err)
{
	char *buf;
	size_t len;
	struct stat st;
	if (passdb_file_read(path, &buf, &len, &st) < 0) {
		if (err)
			*err = xasprintf("cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	struct passdb_table *t = passdb_table_parse(path, buf, len);
	free(buf);
	passdb_stamp_of(&st, stamp);
	return t;
}

static const struct passdb_entry *passdb_table_find(const struct passdb_table *t, const char *user)
{
	size_t lo = 0, hi = t->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(user, t->v[mid].user);
		if (c == 0)
			return &t->v[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* ---- the in-memory database ---- */

struct passdb *passdb_load(const char *path, char **err)
{
	if (err)
		*err = NULL;
	if (!path) {
		if (err)
			*err = xstrdup("no users file configured");
		return NULL;
	}
	struct passdb_stamp stamp;
	struct passdb_table *t = passdb_table_load(path, &stamp, err);
	if (!t)
		return NULL;
	struct passdb *db = xcalloc(1, sizeof(*db));
	db->path = xstrdup(path);
	db->tab = t;
	db->stamp = stamp;
	char *apath = apppass_path_for(path);
	db->apps = apppass_store_new(apath);
	free(apath);
	if (pthread_rwlock_init(&db->lock, NULL) != 0 || pthread_mutex_init(&db->refresh_lock, NULL) != 0)
		fatal("passdb: cannot initialise locks");
	return db;
}

void passdb_free(struct passdb *db)
{
	if (!db)
		return;
	passdb_table_free(db->tab);
	apppass_store_free(db->apps);
	authcache_free(db->cache);
	free(db->state_dir);
	pthread_rwlock_destroy(&db->lock);
	pthread_mutex_destroy(&db->refresh_lock);
	free(db->path);
	free(db);
}

void passdb_stamp_of(const struct stat *st, struct passdb_stamp *out)
{
	*out = (struct passdb_stamp){ .dev = st->st_dev, .ino = st->st_ino, .size = st->st_size,
				      .mtim = st->st_mtim, .ctim = st->st_ctim };
}

bool passdb_stamp_eq(const struct passdb_stamp *a, const struct passdb_stamp *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec &&
	       a->ctim.tv_sec == b->ctim.tv_sec && a->ctim.tv_nsec == b->ctim.tv_nsec;
}

void passdb_refresh(struct passdb *db)
{
	if (!db)
		return;
	pthread_mutex_lock(&db->refresh_lock);
	struct stat st;
	if (stat(db->path, &st) < 0) {
		log_warn("event=passdb_reload_error file=%s error=\"%s\" msg=\"keeping the loaded users\"",
			 db->path, strerror(errno));
		goto out;
	}
	struct passdb_stamp now;
	passdb_stamp_of(&st, &now);
	if (passdb_stamp_eq(&now, &db->stamp) || (db->have_bad_stamp && passdb_stamp_eq(&now, &db->bad_stamp)))
		goto out;
	char *err = NULL;
	struct passdb_stamp stamp;
	struct passdb_table *t = passdb_table_load(db->path, &stamp, &err);
	if (!t) {
		log_warn("event=passdb_reload_error file=%s error=\"%s\" msg=\"keeping the loaded users\"",
			 db->path, err ? err : "?");
		free(err);
		db->bad_stamp = now;
		db->have_bad_stamp = true;
		goto out;
	}
	pthread_rwlock_wrlock(&db->lock);
	struct passdb_table *old = db->tab;
	db->tab = t;
	pthread_rwlock_unlock(&db->lock);
	db->stamp = stamp;
	db->have_bad_stamp = false;
	log_info("event=passdb_reloaded file=%s users=%zu", db->path, t->n);
	passdb_table_free(old);
out:
	pthread_mutex_unlock(&db->refresh_lock);
}

/* An argon2id hash of a random password, made once, so that an unknown
 * user costs the same argon2id run as a known one. */
static pthread_once_t passdb_dummy_once = PTHREAD_ONCE_INIT;
static char *passdb_dummy_hash;

static void passdb_dummy_init(void)
{
	if (sodium_init() < 0)
		return;
	unsigned char rnd[16];
	char hex[sizeof(rnd) * 2 + 1];
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
	passdb_dummy_hash = password_hash(hex);
	sodium_memzero(hex, sizeof(hex));
	sodium_memzero(rnd, sizeof(rnd));
}

enum passdb_result passdb_verify(struct passdb *db, const char *user, const char *password)
{
	if (!db || !user || !password)
		return PASSDB_ERROR;
	char *hash = NULL;
	if (passdb_username_valid(user)) {
		pthread_rwlock_rdlock(&db->lock);
		const struct passdb_entry *e = passdb_table_find(db->tab, user);
		if (e && password_scheme_known(e->hash))
			hash = xstrdup(e->hash);
		pthread_rwlock_unlock(&db->lock);
	}
	bool ok;
	if (hash) {
		ok = password_verify(hash, password);
		sodium_memzero(hash, strlen(hash));
		free(hash);
	} else {
		pthread_once(&passdb_dummy_once, passdb_dummy_init);
		if (passdb_dummy_hash)
			(void)password_verify(passdb_dummy_hash, password);
		ok = false;
	}
	return ok ? PASSDB_OK : PASSDB_FAIL;
}

void passdb_set_upgrade_hook(struct passdb *db, passdb_upgrade_fn *fn, void *arg)
{
	db->upgrade = fn;
	db->upgrade_arg = arg;
}

bool passdb_entry_needs_upgrade(const char *hash, const char *fields)
{
	if (password_needs_upgrade(hash))
		return true;
	char *scram = passdb_fields_get(fields, SCRAM_SHA256_FIELD);
	bool missing = !scram;
	free(scram);
	return missing;
}

void passdb_set_state_dir(struct passdb *db, const char *dir)
{
	free(db->state_dir);
	db->state_dir = dir ? xstrdup(dir) : NULL;
}

/* ---- the login check ---- */

static bool passdb_ip_parse(const char *ip, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (ip && inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		return true;
	}
	if (ip && inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		return true;
	}
	return false;
}

/* A list of networks ("" or NULL: anywhere) against a source. A list
 * that does not parse matches nothing: a typo must not open an account
 * to the world. */
static bool passdb_nets_allow(const char *nets, const char *ip)
{
	if (!nets || !*nets)
		return true;
	struct sockaddr_storage ss;
	if (!passdb_ip_parse(ip, &ss))
		return false;
	struct cidr_list l = { 0 };
	char *bad = NULL;
	bool ok = false;
	if (cidr_list_parse(nets, &l, &bad) == 0)
		ok = cidr_list_match(&l, (const struct sockaddr *)&ss);
	else
		log_warn("event=passdb_warning msg=\"unparsable network list, nothing allowed\" "
			 "item=\"%s\"", bad ? bad : "?");
	free(bad);
	cidr_list_free(&l);
	return ok;
}

bool passdb_user_source_allowed(const struct passdb_user *u, const char *ip)
{
	if (!u || !u->fields)
		return false;
	char *nets = passdb_fields_get(u->fields, "allow_nets");
	bool ok = passdb_nets_allow(nets, ip);
	free(nets);
	return ok;
}

static unsigned long passdb_work_slow, passdb_work_keyed;

void passdb_work_get(struct passdb_work *out)
{
	out->slow = __atomic_load_n(&passdb_work_slow, __ATOMIC_RELAXED);
	out->keyed = __atomic_load_n(&passdb_work_keyed, __ATOMIC_RELAXED);
}

static void passdb_dummy_verify(const char *password)
{
	__atomic_fetch_add(&passdb_work_slow, 1, __ATOMIC_RELAXED);
	pthread_once(&passdb_dummy_once, passdb_dummy_init);
	if (passdb_dummy_hash)
		(void)password_verify(passdb_dummy_hash, password);
}

/* Which of the user's app passwords (if any) the password is: every one
 * of APPPASS_MAX_PER_USER slots costs one keyed hash whether an entry
 * fills it or not, and the scan does not stop at a match, so the work is
 * the same for every user and every password. -1: none. */
static int passdb_app_match(const struct apppass_entry *v, size_t n, const char *password)
{
	static const unsigned char dummy_salt[APPPASS_SALT_LEN];
	int found = -1;
	for (size_t i = 0; i < APPPASS_MAX_PER_USER; i++) {
		unsigned char mac[APPPASS_MAC_LEN];
		apppass_mac(password, i < n ? v[i].salt : dummy_salt, mac);
		__atomic_fetch_add(&passdb_work_keyed, 1, __ATOMIC_RELAXED);
		if (i < n && sodium_memcmp(mac, v[i].mac, sizeof(mac)) == 0 && found < 0)
			found = (int)i;
		sodium_memzero(mac, sizeof(mac));
	}
	return found;
}

static bool passdb_field_yes(const char *fields, const char *key)
{
	char *v = passdb_fields_get(fields, key);
	bool yes = v && (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0);
	free(v);
	return yes;
}

/* authcache: whether the cache may answer for u's primary password: it
 * is on and u is not under app_passwords_only (where the right password
 * fails). One rule for the check and for passdb_cache_would_hit. */
static bool passdb_cache_may_answer(struct passdb *db, const struct passdb_user *u)
{
	return authcache_enabled(db->cache) && !passdb_field_yes(u->fields, "app_passwords_only");
}

/* authcache: the primary password against the user's hash, through the
 * authentication cache where its answer can only be a success: not when
 * an app password matched (its failure reasons follow) and not where
 * passdb_cache_may_answer says no. Every other path runs the slow hash,
 * so failures keep their cost (auth/authcache.c). */
static bool passdb_primary_verify(struct passdb *db, const char *user, const struct passdb_user *u,
				  bool app_matched, const char *password, struct passdb_auth *out)
{
	bool cacheable = !app_matched && passdb_cache_may_answer(db, u);
	out->cache = !authcache_enabled(db->cache) ? "off" : cacheable ? "miss" : "-";
	if (cacheable && authcache_lookup(db->cache, user, u->hash, password)) {
		out->cache = "hit";
		return true;
	}
	__atomic_fetch_add(&passdb_work_slow, 1, __ATOMIC_RELAXED);
	bool ok = password_verify(u->hash, password);
	if (ok && cacheable)
		authcache_insert(db->cache, user, u->hash, password);
	return ok;
}

void passdb_set_cache(struct passdb *db, unsigned ttl_s, unsigned size)
{
	if (!db->cache)
		db->cache = authcache_new(ttl_s, size);
	else
		authcache_configure(db->cache, ttl_s, size);
}

void passdb_cache_forget(struct passdb *db, const char *user)
{
	if (db)
		authcache_forget(db->cache, user);
}

bool passdb_cache_would_hit(struct passdb *db, const char *user, const char *password,
			    const char *ip)
{
	if (!db || !user || !password || !authcache_enabled(db->cache))
		return false;
	/* The conditions of passdb_authenticate's cached path, on the
	 * snapshot at hand (no refresh: the check itself refreshes). */
	struct passdb_user u;
	if (!passdb_user_get(db, user, &u))
		return false;
	bool hit = passdb_user_source_allowed(&u, ip) && password_scheme_known(u.hash) &&
		   passdb_cache_may_answer(db, &u) &&
		   authcache_probe(db->cache, user, u.hash, password);
	passdb_user_clear(&u);
	return hit;
}

enum passdb_result passdb_authenticate(struct passdb *db, const char *user, const char *password,
				       const char *ip, struct passdb_auth *out)
{
	memset(out, 0, sizeof(*out));
	out->reason = "passdb_error";
	out->cache = "-";
	if (!db || !user || !password)
		return PASSDB_ERROR;
	passdb_refresh(db);
	apppass_store_refresh(db->apps);

	struct passdb_user u;
	bool exists = passdb_user_get(db, user, &u);
	bool allowed = exists && passdb_user_source_allowed(&u, ip);
	struct apppass_entry *apps = NULL;
	size_t napps = allowed ? apppass_store_user(db->apps, user, &apps) : 0;

	int app = passdb_app_match(apps, napps, password);
	time_t now = time(NULL);
	if (app >= 0) {
		const struct apppass_entry *e = &apps[app];
		if (e->expires && e->expires <= now) {
			out->reason = "app_password_expired";
		} else if (!passdb_nets_allow(e->from, ip)) {
			out->reason = "app_password_source";
		} else {
			out->reason = "ok";
			snprintf(out->credential, sizeof(out->credential), "app:%s", e->name);
			if (db->state_dir &&
			    apppass_use_record(db->state_dir, user, e->id, now, ip) < 0)
				log_warn("event=apppass_warning user=%s msg=\"cannot record the use\"",
					 user);
			apppass_entries_free(apps, napps);
			passdb_user_clear(&u);
			return PASSDB_OK;
		}
	}
	apppass_entries_free(apps, napps);

	/* Every failure comes here and runs exactly one slow hash: the
	 * user's own when there is one to check, else the dummy. A user
	 * whose hash has no scheme we know (say "{NONE}") may still have
	 * app passwords. */
	enum passdb_result r = PASSDB_FAIL;
	if (allowed && password_scheme_known(u.hash)) {
		bool primary = passdb_primary_verify(db, user, &u, app >= 0, password, out);
		if (app >= 0) {
			/* the reason is set above */
		} else if (primary && passdb_field_yes(u.fields, "app_passwords_only")) {
			out->reason = "app_passwords_only";
		} else if (primary) {
			out->reason = "ok";
			snprintf(out->credential, sizeof(out->credential), "password");
			out->legacy_scheme = password_scheme_legacy(u.hash);
			r = PASSDB_OK;
			if (db->upgrade && passdb_entry_needs_upgrade(u.hash, u.fields))
				db->upgrade(db->upgrade_arg, user, password);
		} else {
			out->reason = "bad_credentials";
		}
	} else {
		passdb_dummy_verify(password);
		if (app < 0)
			out->reason = !exists ? "unknown_user" : allowed ? "bad_credentials"
							     : "source_not_allowed";
	}
	passdb_user_clear(&u);
	/* authcache: after any failure the user's next login pays the full
	 * check (auth/authcache.c). */
	if (r != PASSDB_OK)
		authcache_forget(db->cache, user);
	return r;
}

bool passdb_user_get(struct passdb *db, const char *user, struct passdb_user *out)
{
	memset(out, 0, sizeof(*out));
	if (!db || !passdb_username_valid(user))
		return false;
	pthread_rwlock_rdlock(&db->lock);
	const struct passdb_entry *e = passdb_table_find(db->tab, user);
	if (e) {
		out->name = xstrdup(e->user);
		out->hash = xstrdup(e->hash);
		out->fields = xstrdup(e->fields);
	}
	pthread_rwlock_unlock(&db->lock);
	return e != NULL;
}

void passdb_user_clear(struct passdb_user *u)
{
	free(u->name);
	if (u->hash) {
		sodium_memzero(u->hash, strlen(u->hash));
		free(u->hash);
	}
	if (u->fields) {
		sodium_memzero(u->fields, strlen(u->fields));
		free(u->fields);
	}
	memset(u, 0, sizeof(*u));
}

char *passdb_fields_get(const char *fields, const char *key)
{
	if (!fields || !key)
		return NULL;
	size_t klen = strlen(key);
	const char *p = fields;
	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		const char *tok = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		size_t tlen = (size_t)(p - tok);
		if (tlen > klen && memcmp(tok, key, klen) == 0 && tok[klen] == '=')
			return xstrndup(tok + klen + 1, tlen - klen - 1);
	}
	return NULL;
}

bool passdb_user_exists(struct passdb *db, const char *user)
{
	if (!db || !passdb_username_valid(user))
		return false;
	pthread_rwlock_rdlock(&db->lock);
	bool found = passdb_table_find(db->tab, user) != NULL;
	pthread_rwlock_unlock(&db->lock);
	return found;
}

/* ---- editing the file ---- */

/* Extra fields to set or remove on one line, in one rewrite. */
struct passdb_field_edit {
	const struct passdb_field *v;
	size_t n;
	const char *hash;       /* also replace the password hash; NULL: keep */
	bool create;            /* add the user when missing (with hash) */
};

static bool passdb_field_key_ok(const char *k)
{
	if (!k || !*k || strlen(k) > 64)
		return false;
	for (; *k; k++)
		if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_' || *k == '-'))
			return false;
	return true;
}

/* Whether tok ("key=value") sets one of the edited keys. */
static bool passdb_field_edited(const struct passdb_field_edit *fe, const char *tok, size_t tlen)
{
	for (size_t i = 0; i < fe->n; i++) {
		size_t klen = strlen(fe->v[i].key);
		if (tlen > klen && memcmp(tok, fe->v[i].key, klen) == 0 && tok[klen] == '=')
			return true;
	}
	return false;
}

/* The edited fields that have a value, after `first` others. */
static void passdb_fields_append(struct strbuf *out, const struct passdb_field_edit *fe, bool first)
{
	for (size_t i = 0; i < fe->n; i++) {
		if (!fe->v[i].value)
			continue;
		if (!first)
			strbuf_addc(out, ' ');
		strbuf_adds(out, fe->v[i].key);
		strbuf_addc(out, '=');
		strbuf_adds(out, fe->v[i].value);
		first = false;
	}
}

/* The line of `user` with fields set or removed: "user:hash" and the
 * middle fields kept, padded to eight fields when a field is added. */
static void passdb_line_edit_field(struct strbuf *out, const struct passdb_line *l,
				   const struct passdb_field_edit *fe)
{
	if (fe->hash) {
		strbuf_add(out, l->start, (size_t)(l->hash - l->start));
		strbuf_adds(out, fe->hash);
	} else {
		strbuf_add(out, l->start, (size_t)(l->hash - l->start) + l->hlen);
	}
	if (l->fields) {
		strbuf_add(out, l->rest, (size_t)(l->fields - l->rest));
	} else {
		/* Keep the fields there are, then pad to the 8th. */
		strbuf_add(out, l->rest, l->rlen);
		int colons = 0;
		for (size_t i = 0; i < l->rlen; i++)
			colons += l->rest[i] == ':';
		for (; colons < 6; colons++)
			strbuf_addc(out, ':');
	}
	bool first = true;
	const char *p = l->fields ? l->fields : "", *end = p + (l->fields ? l->flen : 0);
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		const char *tok = p;
		while (p < end && *p != ' ' && *p != '\t')
			p++;
		size_t tlen = (size_t)(p - tok);
		if (!tlen || passdb_field_edited(fe, tok, tlen))
			continue;
		if (!first)
			strbuf_addc(out, ' ');
		strbuf_add(out, tok, tlen);
		first = false;
	}
	passdb_fields_append(out, fe, first);
	strbuf_addc(out, '\n');
}

int passdb_file_rewrite(const char *path, passdb_rewrite_fn edit, void *arg)
{
	/* Edit the real file when the configured path is a symlink, so the
	 * link survives the rename. */
	char *real = realpath(path, NULL);
	const char *target = real ? real : path;
	const char *slash = strrchr(target, '/');
	char *dir = !slash ? xstrdup(".") : slash == target ? xstrdup("/")
					  : xstrndup(target, (size_t)(slash - target));
	int rc = -1, e = 0;
	char *buf = NULL;
	size_t len = 0;
	struct strbuf out = STRBUF_INIT;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		e = errno;
		goto out;
	}
	/* Best effort: filesystems without flock on directories (some NFS
	 * setups) still get the atomic rename, just not the mutual exclusion. */
	while (flock(dfd, LOCK_EX) < 0 && errno == EINTR)
		;
	bool exists = true;
	if (passdb_file_read(target, &buf, &len, NULL) < 0) {
		if (errno != ENOENT) {
			e = errno;
			goto out;
		}
		exists = false;
	}
	errno = 0;
	rc = edit(arg, buf ? buf : "", len, exists, &out);
	if (rc < 0) {
		e = errno;
		goto out;
	}
	rc = -1;
	/* Mode 0640: the server reads the file through its group and nobody
	 * else needs it. The owner and group stay the replaced file's. */
	const struct write_file_opts wo = { .mode = 0640, .keep_owner = true };
	if (write_file_atomic_opts(target, out.s ? out.s : "", out.len, &wo) < 0) {
		e = errno;
		goto out;
	}
	rc = 0;
out:
	if (dfd >= 0)
		close(dfd);
	if (out.s)
		sodium_memzero(out.s, out.len);
	strbuf_free(&out);
	if (buf)
		sodium_memzero(buf, len);
	free(buf);
	free(dir);
	free(real);
	if (rc == -1)
		errno = e;
	return rc;
}

/* One edit of the users file: hash == NULL deletes the user; fe != NULL
 * edits one extra field of an existing user instead. */
struct passdb_edit {
	const char *user;
	const char *hash;
	const struct passdb_field_edit *fe;
	const char *expect;     /* fe: the hash the line must still have; NULL: any */
};

/* Returns 0 or -2 when the user is not there (delete, field). */
static int passdb_edit_lines(void *arg, const char *buf, size_t len, bool exists,
			     struct strbuf *out)
{
	const struct passdb_edit *ed = arg;
	const char *user = ed->user, *hash = ed->hash;
	const struct passdb_field_edit *fe = ed->fe;
	bool found = false;
	const char *p = buf, *end = buf + len;
	while (exists && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t llen = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct passdb_line l;
		passdb_line_split(p, llen, &l);
		if (fe && passdb_line_user_is(&l, user) && !found) {
			found = true;
			if (ed->expect && (l.hlen != strlen(ed->expect) ||
					   memcmp(l.hash, ed->expect, l.hlen) != 0))
				return -3;
			passdb_line_edit_field(out, &l, fe);
		} else if (!fe && passdb_line_user_is(&l, user) && (!hash || !found)) {
			found = true;
			if (hash) {
				/* Keep any extra Dovecot fields after the hash. */
				strbuf_adds(out, user);
				strbuf_addc(out, ':');
				strbuf_adds(out, hash);
				strbuf_add(out, l.rest, l.rlen);
				strbuf_addc(out, '\n');
			}
		} else {
			strbuf_add(out, p, llen);
			strbuf_addc(out, '\n');
		}
		p += llen + (nl ? 1 : 0);
	}
	if (fe && fe->create && !found) {
		strbuf_adds(out, user);
		strbuf_addc(out, ':');
		strbuf_adds(out, fe->hash);
		strbuf_adds(out, "::::::");
		passdb_fields_append(out, fe, true);
		strbuf_addc(out, '\n');
		found = true;
	}
	if ((fe || !hash) && !found)
		return -2;
	if (!fe && hash && !found) {
		strbuf_adds(out, user);
		strbuf_addc(out, ':');
		strbuf_adds(out, hash);
		strbuf_addc(out, '\n');
	}
	return 0;
}

/* Validates an edit of the users file and runs it. Returns 0, -1
 * (errno), -2 when the user is not there (delete, field) or -3 when the
 * user's hash is not `expect`. */
static int passdb_file_edit(const char *path, const char *user, const char *hash,
			    const struct passdb_field_edit *fe, const char *expect)
{
	if (!path || !passdb_username_valid(user)) {
		errno = EINVAL;
		return -1;
	}
	for (size_t i = 0; fe && i < fe->n; i++) {
		const struct passdb_field *f = &fe->v[i];
		if (!passdb_field_key_ok(f->key) ||
		    (f->value && (strpbrk(f->value, " \t\n\r") || strlen(f->value) > 4096))) {
			errno = EINVAL;
			return -1;
		}
	}
	if (hash && (hash[0] != '{' || strpbrk(hash, ":\n\r") || strlen(hash) > 4096)) {
		errno = EINVAL;
		return -1;
	}
	struct passdb_edit ed = { .user = user, .hash = hash, .fe = fe, .expect = expect };
	return passdb_file_rewrite(path, passdb_edit_lines, &ed);
}

int passdb_file_set(const char *path, const char *user, const char *hash)
{
	if (!hash) {
		errno = EINVAL;
		return -1;
	}
	return passdb_file_edit(path, user, hash, NULL, NULL);
}

int passdb_file_delete(const char *path, const char *user)
{
	return passdb_file_edit(path, user, NULL, NULL, NULL);
}

int passdb_file_set_field(const char *path, const char *user, const char *key, const char *value)
{
	struct passdb_field f = { key, value };
	return passdb_file_update(path, user, NULL, &f, 1);
}

int passdb_file_set_password(const char *path, const char *user, const char *hash,
			     const char *scram_field)
{
	if (!hash) {
		errno = EINVAL;
		return -1;
	}
	struct passdb_field f = { "scram-sha-256", scram_field };
	return passdb_file_update(path, user, hash, &f, 1);
}

int passdb_file_update(const char *path, const char *user, const char *hash,
		       const struct passdb_field *fields, size_t n)
{
	struct passdb_field_edit fe = { .v = fields, .n = n, .hash = hash, .create = hash != NULL };
	return passdb_file_edit(path, user, hash ? hash : "{unused}", &fe, NULL);
}

int passdb_file_update_if(const char *path, const char *user, const char *expect,
			  const char *hash, const struct passdb_field *fields, size_t n)
{
	if (!expect) {
		errno = EINVAL;
		return -1;
	}
	struct passdb_field_edit fe = { .v = fields, .n = n, .hash = hash };
	return passdb_file_edit(path, user, hash ? hash : "{unused}", &fe, expect);
}

bool passdb_file_entry(const char *buf, size_t len, const char *user, struct passdb_user *out)
{
	memset(out, 0, sizeof(*out));
	const char *p = buf, *end = buf + len;
	struct passdb_line l;
	while (passdb_line_next(&p, end, &l)) {
		/* The first line of a user wins, as when the server loads it. */
		if (!passdb_line_user_is(&l, user) || memchr(l.start, '\0', l.len))
			continue;
		out->name = xstrndup(l.user, l.ulen);
		out->hash = xstrndup(l.hash, l.hlen);
		out->fields = l.fields ? xstrndup(l.fields, l.flen) : xstrdup("");
		return true;
	}
	return false;
}

int passdb_file_list(const char *path, char ***users, size_t *n)
{
	*users = NULL;
	*n = 0;
	char *buf;
	size_t len;
	if (!path) {
		errno = EINVAL;
		return -1;
	}
	if (passdb_file_read(path, &buf, &len, NULL) < 0)
		return -1;
	char **v = NULL;
	size_t cnt = 0, cap = 0;
	const char *p = buf, *end = buf + len;
	struct passdb_line l;
	while (passdb_line_next(&p, end, &l)) {
		if (!l.is_entry || memchr(l.start, '\0', l.len))
			continue;
		char *u = xstrndup(l.user, l.ulen);
		if (!passdb_username_valid(u)) {
			free(u);
			continue;
		}
		xgrow((void **)&v, &cap, cnt + 1, sizeof(*v));
		v[cnt++] = u;
	}
	sodium_memzero(buf, len);
	free(buf);
	*users = v;
	*n = cnt;
	return 0;
}
