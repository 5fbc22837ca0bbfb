/* The metrics registry (core/prom.h): families over a fixed store of
 * 64-bit cells, and their rendering in the Prometheus text format 0.0.4.
 *
 * Why shards: a counter every command and every read touches, shared by
 * all workers, would bounce its cache line between cores on each
 * increment. Each thread adds into a shard of its own (threads are given
 * shards in turn; with more threads than shards two share one, and the
 * atomic add keeps that exact), and a scrape sums the shards. A shard is
 * one row of g_cells; rows are PROM_CELLS * 8 bytes, so two shards never
 * share a cache line. Untouched rows cost address space, not memory.
 *
 * Series layout: a family owns n1 * n2 series from its first cell; a
 * counter or gauge series is one cell, a histogram series is nbounds + 1
 * bucket counts (not cumulative: the rendering accumulates) and its sum.
 * The count is the sum of the buckets, so count and buckets always agree
 * in one scrape even while observations land. */
#include "core/prom.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/util.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROM_SHARDS 16
#define PROM_CELLS 4096
#define PROM_BOUNDS_MAX 24

struct prom_family {
	struct prom_family *next;
	enum prom_type type;
	const char *name, *help;
	struct prom_labels l[2];
	size_t n1, n2;               /* values per dimension, at least 1 */
	size_t first, stride;        /* first cell; cells per series */
	double bounds[PROM_BOUNDS_MAX];
	uint64_t ubounds[PROM_BOUNDS_MAX]; /* bounds * scale: compared to observations */
	size_t nbounds;
	double scale;
	double (*fn)(void *arg);     /* a gauge read when rendered */
	void *fn_arg;
};

static _Alignas(64) _Atomic uint64_t g_cells[PROM_SHARDS][PROM_CELLS];
static size_t g_ncells;
static struct prom_family *g_head, **g_tail = &g_head;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint g_next_shard;
static _Thread_local unsigned t_shard = PROM_SHARDS;

static _Atomic uint64_t *shard_row(void)
{
	if (t_shard == PROM_SHARDS)
		t_shard = atomic_fetch_add_explicit(&g_next_shard, 1, memory_order_relaxed) % PROM_SHARDS;
	return g_cells[t_shard];
}

static uint64_t cell_sum(size_t cell)
{
	uint64_t v = 0;
	for (size_t s = 0; s < PROM_SHARDS; s++)
		v += atomic_load_explicit(&g_cells[s][cell], memory_order_relaxed);
	return v;
}

static void family_append(struct prom_family *f)
{
	pthread_mutex_lock(&g_lock);
	*g_tail = f;
	g_tail = &f->next;
	pthread_mutex_unlock(&g_lock);
}

struct prom_family *prom_family_new(enum prom_type type, const char *name, const char *help,
				    const struct prom_labels *l1, const struct prom_labels *l2,
				    const double *bounds, size_t nbounds, double scale)
{
	if (nbounds > PROM_BOUNDS_MAX || (type == PROM_HISTOGRAM && scale <= 0))
		fatal("prom: bad histogram %s", name);
	struct prom_family *f = xcalloc(1, sizeof(*f));
	f->type = type;
	f->name = name;
	f->help = help;
	if (l1)
		f->l[0] = *l1;
	if (l2)
		f->l[1] = *l2;
	f->n1 = l1 && l1->n ? l1->n : 1;
	f->n2 = l2 && l2->n ? l2->n : 1;
	if (type == PROM_HISTOGRAM) {
		f->nbounds = nbounds;
		f->scale = scale;
		for (size_t i = 0; i < nbounds; i++) {
			f->bounds[i] = bounds[i];
			f->ubounds[i] = (uint64_t)(bounds[i] * scale + 0.5);
		}
		f->stride = nbounds + 2;
	} else {
		f->stride = 1;
	}
	size_t need = f->n1 * f->n2 * f->stride;
	pthread_mutex_lock(&g_lock);
	bool room = g_ncells + need <= PROM_CELLS;
	if (room) {
		f->first = g_ncells;
		g_ncells += need;
	}
	pthread_mutex_unlock(&g_lock);
	if (!room) {
		log_err("event=metrics_error msg=\"metric cells exhausted\" metric=%s", name);
		free(f);
		return NULL;
	}
	family_append(f);
	return f;
}

void prom_gauge_fn(const char *name, const char *help, double (*fn)(void *arg), void *arg)
{
	struct prom_family *f = xcalloc(1, sizeof(*f));
	f->type = PROM_GAUGE;
	f->name = name;
	f->help = help;
	f->n1 = f->n2 = 1;
	f->fn = fn;
	f->fn_arg = arg;
	family_append(f);
}

static size_t series_cell(const struct prom_family *f, size_t i1, size_t i2)
{
	return f->first + (i1 * f->n2 + i2) * f->stride;
}

void prom_add(struct prom_family *f, size_t i1, size_t i2, uint64_t v)
{
	if (!f || f->fn || i1 >= f->n1 || i2 >= f->n2 || f->type == PROM_HISTOGRAM)
		return;
	atomic_fetch_add_explicit(&shard_row()[series_cell(f, i1, i2)], v, memory_order_relaxed);
}

void prom_observe(struct prom_family *f, size_t i1, size_t i2, uint64_t v)
{
	if (!f || i1 >= f->n1 || i2 >= f->n2 || f->type != PROM_HISTOGRAM)
		return;
	size_t b = 0;
	while (b < f->nbounds && v > f->ubounds[b])
		b++;
	_Atomic uint64_t *row = shard_row();
	size_t c = series_cell(f, i1, i2);
	atomic_fetch_add_explicit(&row[c + b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&row[c + f->nbounds + 1], v, memory_order_relaxed);
}

uint64_t prom_value(const struct prom_family *f, size_t i1, size_t i2)
{
	if (!f || f->fn || i1 >= f->n1 || i2 >= f->n2)
		return 0;
	size_t c = series_cell(f, i1, i2);
	if (f->type != PROM_HISTOGRAM)
		return cell_sum(c);
	uint64_t n = 0;
	for (size_t b = 0; b <= f->nbounds; b++)
		n += cell_sum(c + b);
	return n;
}

/* ---- the text format ---- */

/* HELP text escapes backslash and newline; label values also '"'. */
static void add_escaped(struct strbuf *out, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			strbuf_adds(out, "\\\\");
		else if (*s == '\n')
			strbuf_adds(out, "\\n");
		else if (quote && *s == '"')
			strbuf_adds(out, "\\\"");
		else
			strbuf_addc(out, *s);
	}
}

/* The shortest of %.15g and %.17g that reads back as v: 0.1, not
 * 0.10000000000000001. */
static void format_float(char *buf, size_t len, double v)
{
	if (isinf(v)) {
		snprintf(buf, len, "%s", v > 0 ? "+Inf" : "-Inf");
		return;
	}
	snprintf(buf, len, "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, len, "%.17g", v);
}

static void add_float(struct strbuf *out, double v)
{
	char buf[40];
	format_float(buf, sizeof(buf), v);
	strbuf_adds(out, buf);
}

/* "{a=\"x\",b=\"y\"" plus an extra `le` pair, and the closing brace;
 * nothing at all without labels. */
static void add_labels(struct strbuf *out, const struct prom_family *f, size_t i1, size_t i2,
		       const char *le)
{
	const size_t idx[2] = { i1, i2 };
	bool any = false;
	for (int d = 0; d < 2; d++) {
		if (!f->l[d].name || !f->l[d].n)
			continue;
		strbuf_adds(out, any ? "," : "{");
		strbuf_addf(out, "%s=\"", f->l[d].name);
		add_escaped(out, f->l[d].values[idx[d]], true);
		strbuf_addc(out, '"');
		any = true;
	}
	if (le) {
		strbuf_addf(out, "%sle=\"%s\"", any ? "," : "{", le);
		any = true;
	}
	if (any)
		strbuf_addc(out, '}');
}

/* A series never observed is left out: twenty lines for each of fifty
 * commands no client uses would be most of a scrape. */
static void render_histogram(struct strbuf *out, const struct prom_family *f, size_t i1, size_t i2)
{
	size_t c = series_cell(f, i1, i2);
	uint64_t cum = 0;
	if (prom_value(f, i1, i2) == 0)
		return;
	char le[40];
	for (size_t b = 0; b <= f->nbounds; b++) {
		cum += cell_sum(c + b);
		format_float(le, sizeof(le), b < f->nbounds ? f->bounds[b] : INFINITY);
		strbuf_addf(out, "%s_bucket", f->name);
		add_labels(out, f, i1, i2, le);
		strbuf_addf(out, " %llu\n", (unsigned long long)cum);
	}
	strbuf_addf(out, "%s_sum", f->name);
	add_labels(out, f, i1, i2, NULL);
	strbuf_addc(out, ' ');
	add_float(out, (double)cell_sum(c + f->nbounds + 1) / f->scale);
	strbuf_addf(out, "\n%s_count", f->name);
	add_labels(out, f, i1, i2, NULL);
	strbuf_addf(out, " %llu\n", (unsigned long long)cum);
}

static void render_family(struct strbuf *out, const struct prom_family *f)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };
	strbuf_addf(out, "# HELP %s ", f->name);
	add_escaped(out, f->help, false);
	strbuf_addf(out, "\n# TYPE %s %s\n", f->name, types[f->type]);
	if (f->fn) {
		strbuf_adds(out, f->name);
		strbuf_addc(out, ' ');
		add_float(out, f->fn(f->fn_arg));
		strbuf_addc(out, '\n');
		return;
	}
	for (size_t i1 = 0; i1 < f->n1; i1++) {
		for (size_t i2 = 0; i2 < f->n2; i2++) {
			if (f->type == PROM_HISTOGRAM) {
				render_histogram(out, f, i1, i2);
				continue;
			}
			uint64_t v = cell_sum(series_cell(f, i1, i2));
			strbuf_adds(out, f->name);
			add_labels(out, f, i1, i2, NULL);
			if (f->type == PROM_GAUGE)
				strbuf_addf(out, " %lld\n", (long long)(int64_t)v);
			else
				strbuf_addf(out, " %llu\n", (unsigned long long)v);
		}
	}
}

void prom_render(struct strbuf *out)
{
	pthread_mutex_lock(&g_lock);
	for (const struct prom_family *f = g_head; f; f = f->next)
		render_family(out, f);
	pthread_mutex_unlock(&g_lock);
}

void prom_reset(void)
{
	pthread_mutex_lock(&g_lock);
	while (g_head) {
		struct prom_family *next = g_head->next;
		free(g_head);
		g_head = next;
	}
	g_tail = &g_head;
	g_ncells = 0;
	for (size_t s = 0; s < PROM_SHARDS; s++)
		for (size_t c = 0; c < PROM_CELLS; c++)
			atomic_store_explicit(&g_cells[s][c], 0, memory_order_relaxed);
	pthread_mutex_unlock(&g_lock);
}
