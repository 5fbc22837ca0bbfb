/* Per-user login history for alerts: when and from which networks and
 * countries each user last logged in, and the baseline of their
 * downloads. Held in a hash table (alert.c locks it) and saved in
 * state_dir as one text line per user, replaced atomically, so a restart
 * neither forgets known devices (new_source would fire for everyone) nor
 * the last location (impossible_travel across a restart).
 *
 * Bounded: ALERT_PREFIXES_MAX networks and ALERT_COUNTRIES_MAX countries
 * per user, ALERT_USERS_MAX users (only users who logged in, so an attacker
 * without credentials cannot add records).
 *
 * File format, one line per user, tab-separated:
 *   user last_login geo_time country lat lon countries prefixes baseline
 * with "-" for an unknown value and ',' between list items. */
#include "auth/alert_internal.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HIST_MAGIC "# rampart alert history v1"
/* A history line is a few hundred bytes; longer ones are not ours. */
#define HIST_LINE_MAX 4096

void alert_hist_init(struct alert_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->nbuckets = 1024;
	h->bucket = xcalloc(h->nbuckets, sizeof(*h->bucket));
}

void alert_hist_free(struct alert_hist *h)
{
	for (size_t i = 0; i < h->nbuckets; i++) {
		struct alert_user *u = h->bucket[i], *next;
		for (; u; u = next) {
			next = u->next;
			free(u->name);
			free(u);
		}
	}
	free(h->bucket);
	memset(h, 0, sizeof(*h));
}

static size_t hist_slot(const struct alert_hist *h, const char *name)
{
	return hash_bytes(name, strlen(name)) % h->nbuckets;
}

static void hist_grow(struct alert_hist *h)
{
	size_t old = h->nbuckets;
	struct alert_user **ob = h->bucket;
	h->nbuckets = old * 2;
	h->bucket = xcalloc(h->nbuckets, sizeof(*h->bucket));
	for (size_t i = 0; i < old; i++) {
		struct alert_user *u = ob[i], *next;
		for (; u; u = next) {
			next = u->next;
			size_t j = hist_slot(h, u->name);
			u->next = h->bucket[j];
			h->bucket[j] = u;
		}
	}
	free(ob);
}

/* The table is full: the user whose last activity is oldest goes. A scan,
 * but it happens only when ALERT_USERS_MAX distinct users logged in. */
static void hist_evict_oldest(struct alert_hist *h)
{
	struct alert_user **victim = NULL;
	for (size_t i = 0; i < h->nbuckets; i++)
		for (struct alert_user **pp = &h->bucket[i]; *pp; pp = &(*pp)->next)
			if (!victim || (*pp)->last_login < (*victim)->last_login)
				victim = pp;
	if (!victim)
		return;
	struct alert_user *u = *victim;
	*victim = u->next;
	free(u->name);
	free(u);
	h->n--;
}

struct alert_user *alert_hist_get(struct alert_hist *h, const char *name, bool create)
{
	size_t i = hist_slot(h, name);
	for (struct alert_user *u = h->bucket[i]; u; u = u->next)
		if (strcmp(u->name, name) == 0)
			return u;
	if (!create)
		return NULL;
	if (h->n >= ALERT_USERS_MAX)
		hist_evict_oldest(h);
	if (h->n >= h->nbuckets * 2) {
		hist_grow(h);
		i = hist_slot(h, name);
	}
	struct alert_user *u = xcalloc(1, sizeof(*u));
	u->name = xstrdup(name);
	u->next = h->bucket[i];
	h->bucket[i] = u;
	h->n++;
	return u;
}

/* The lists are small arrays of fixed-width strings, newest first. */
static bool hist_list_has(const char *list, unsigned n, size_t width, const char *v)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(list + i * width, v) == 0)
			return true;
	return false;
}

/* Moves v (or adds it) to the front; the oldest falls off a full list. */
static void hist_list_push(char *list, unsigned *n, unsigned max, size_t width, const char *v)
{
	if (strlen(v) >= width)
		return;
	unsigned i = 0;
	while (i < *n && strcmp(list + i * width, v) != 0)
		i++;
	if (i == *n) {
		if (*n < max)
			(*n)++;
		i = *n - 1;
	}
	memmove(list + width, list, i * width);
	snprintf(list, width, "%s", v);
}

bool alert_hist_prefix_known(const struct alert_user *u, const char *prefix)
{
	return hist_list_has(u->prefixes[0], u->nprefixes, ALERT_PREFIX_LEN, prefix);
}

void alert_hist_prefix_add(struct alert_user *u, const char *prefix)
{
	hist_list_push(u->prefixes[0], &u->nprefixes, ALERT_PREFIXES_MAX, ALERT_PREFIX_LEN, prefix);
}

bool alert_hist_country_known(const struct alert_user *u, const char *cc)
{
	return hist_list_has(u->countries[0], u->ncountries, sizeof(u->countries[0]), cc);
}

void alert_hist_country_add(struct alert_user *u, const char *cc)
{
	hist_list_push(u->countries[0], &u->ncountries, ALERT_COUNTRIES_MAX, sizeof(u->countries[0]), cc);
}

/* A name that cannot break the line format (users-file names never do). */
static bool hist_name_ok(const char *s)
{
	if (!*s || strlen(s) > 255)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static void hist_format_user(const struct alert_user *u, struct strbuf *out)
{
	strbuf_addf(out, "%s\t%lld\t%lld\t%s\t", u->name, (long long)u->last_login,
		    (long long)u->geo_time, u->geo_country[0] ? u->geo_country : "-");
	if (u->geo_has_location)
		strbuf_addf(out, "%.4f\t%.4f\t", u->geo_lat, u->geo_lon);
	else
		strbuf_adds(out, "-\t-\t");
	for (unsigned i = 0; i < u->ncountries; i++)
		strbuf_addf(out, "%s%s", i ? "," : "", u->countries[i]);
	strbuf_adds(out, u->ncountries ? "\t" : "-\t");
	for (unsigned i = 0; i < u->nprefixes; i++)
		strbuf_addf(out, "%s%s", i ? "," : "", u->prefixes[i]);
	strbuf_addf(out, "%s\t%.0f\n", u->nprefixes ? "" : "-", u->spike.baseline);
}

void alert_hist_format(const struct alert_hist *h, struct strbuf *out)
{
	strbuf_adds(out, HIST_MAGIC "\n");
	for (size_t i = 0; i < h->nbuckets; i++)
		for (const struct alert_user *u = h->bucket[i]; u; u = u->next)
			if (hist_name_ok(u->name))
				hist_format_user(u, out);
}

/* Splits "a,b,c" (or "-") and adds the items in file order, so the newest
 * (first) ends up first again. */
static void hist_parse_list(char *s, struct alert_user *u, bool prefixes)
{
	if (strcmp(s, "-") == 0)
		return;
	char *items[ALERT_PREFIXES_MAX + ALERT_COUNTRIES_MAX];
	size_t n = 0;
	char *save = NULL;
	for (char *t = strtok_r(s, ",", &save); t && n < ARRAY_SIZE(items); t = strtok_r(NULL, ",", &save))
		items[n++] = t;
	while (n-- > 0) {
		if (prefixes)
			alert_hist_prefix_add(u, items[n]);
		else if (strlen(items[n]) == 2)
			alert_hist_country_add(u, items[n]);
	}
}

static bool hist_parse_line(struct alert_hist *h, char *line)
{
	char *f[9];
	size_t n = 0;
	char *save = NULL;
	for (char *t = strtok_r(line, "\t", &save); t && n < ARRAY_SIZE(f); t = strtok_r(NULL, "\t", &save))
		f[n++] = t;
	if (n != ARRAY_SIZE(f) || !hist_name_ok(f[0]))
		return false;
	struct alert_user *u = alert_hist_get(h, f[0], true);
	u->last_login = (time_t)strtoll(f[1], NULL, 10);
	u->geo_time = (time_t)strtoll(f[2], NULL, 10);
	if (strlen(f[3]) == 2)
		snprintf(u->geo_country, sizeof(u->geo_country), "%s", f[3]);
	if (strcmp(f[4], "-") != 0 && strcmp(f[5], "-") != 0) {
		u->geo_lat = strtod(f[4], NULL);
		u->geo_lon = strtod(f[5], NULL);
		u->geo_has_location = true;
	}
	hist_parse_list(f[6], u, false);
	hist_parse_list(f[7], u, true);
	u->spike.baseline = strtod(f[8], NULL);
	if (!(u->spike.baseline >= 0))
		u->spike.baseline = 0;
	return true;
}

int alert_hist_load(struct alert_hist *h, const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		log_err("event=alert_error what=history_read path=%s error=\"%s\"", path, strerror(errno));
		return -1;
	}
	char line[HIST_LINE_MAX];
	size_t lineno = 0, bad = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		size_t len = strlen(line);
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		if (lineno == 1 && strcmp(line, HIST_MAGIC) == 0)
			continue;
		if (!len || line[0] == '#')
			continue;
		if (!hist_parse_line(h, line))
			bad++;
	}
	fclose(f);
	if (bad)
		log_warn("event=alert_warning what=history_read path=%s bad_lines=%zu", path, bad);
	h->dirty = false;
	return 0;
}

int alert_hist_write(const char *path, const struct strbuf *data)
{
	if (write_file_atomic(path, data->s ? data->s : "", data->len) < 0) {
		log_err("event=alert_error what=history_write path=%s error=\"%s\"", path, strerror(errno));
		return -1;
	}
	return 0;
}
