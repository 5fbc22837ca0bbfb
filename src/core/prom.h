/* A metrics registry in the Prometheus model: counters, gauges and
 * histograms, each a family with at most two label dimensions whose values
 * are fixed when the family is registered (so the number of series is
 * bounded and a label set is a pair of array indexes, never a lookup).
 *
 * Cost on the hot path: one thread-local read and one relaxed atomic add
 * into the calling thread's shard; no malloc, no lock. Reading sums the
 * shards. Families are registered at startup, before the threads that
 * record into them start; recording into a NULL family does nothing, so
 * code that runs without a server (tools, unit tests) needs no checks.
 *
 * The rendering is the text exposition format 0.0.4:
 * https://prometheus.io/docs/instrumenting/exposition_formats/ */
#ifndef RAMPART_CORE_PROM_H
#define RAMPART_CORE_PROM_H

#include <stddef.h>
#include <stdint.h>

struct strbuf;
struct prom_family;

enum prom_type { PROM_COUNTER, PROM_GAUGE, PROM_HISTOGRAM };

/* One label dimension: its name and every value it may take. */
struct prom_labels {
	const char *name;
	const char *const *values;
	size_t n;
};

/* Registers a family; l1 and l2 may be NULL (fewer dimensions). For a
 * histogram, `bounds` are the buckets' upper bounds in the rendered unit,
 * ascending, +Inf implied; an observation v is rendered as v / scale (for
 * nanoseconds observed and seconds rendered, scale = 1e9). The strings
 * must outlive the registry. NULL (logged) when the cell store is full. */
struct prom_family *prom_family_new(enum prom_type type, const char *name, const char *help,
				    const struct prom_labels *l1, const struct prom_labels *l2,
				    const double *bounds, size_t nbounds, double scale);
/* A gauge read when rendered: fn(arg). No labels. */
void prom_gauge_fn(const char *name, const char *help, double (*fn)(void *arg), void *arg);

/* Counter: adds v. Gauge: adds v as a signed delta ((uint64_t)-1 lowers).
 * Indexes out of range are ignored. Thread-safe, lock-free. */
void prom_add(struct prom_family *f, size_t i1, size_t i2, uint64_t v);
/* Histogram: one observation of v (in the family's unit times scale). */
void prom_observe(struct prom_family *f, size_t i1, size_t i2, uint64_t v);

/* The summed value of a counter or gauge series (a gauge's as int64
 * bits), or a histogram series' count of observations. */
uint64_t prom_value(const struct prom_family *f, size_t i1, size_t i2);

/* Appends every family in registration order; a histogram series with
 * no observation yet is left out (counters and gauges always appear). */
void prom_render(struct strbuf *out);
/* Forgets every family and zeroes every cell: for unit tests only, with
 * no other thread recording. */
void prom_reset(void);

#endif
