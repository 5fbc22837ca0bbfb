/* Memory housekeeping of a server whose clients sit in IDLE (issue #14,
 * "idle": memory per authenticated IDLE TLS connection). Every
 * MEMTRIM_TICK_MS a thread of its own closes the store handles nobody used
 * for MEMTRIM_HANDLE_IDLE_MS (store_cache_trim) and hands the C library's
 * free heap back to the kernel (jemalloc's purge when the server is linked
 * with it, as it is by default; glibc's malloc_trim otherwise).
 *
 * Why a clock and not a reaction to work: with 19,000 clients in IDLE
 * nothing runs for minutes, so nothing else would ever give back what
 * their handshakes, logins and SELECTs left behind. glibc keeps freed
 * chunks inside its arenas (one per allocating thread: workers, the work
 * pool) and their pages stay resident; malloc_trim(0) madvises the free
 * pages of every arena away. Measured with bench/idle_mem.py on 2,000 IDLE
 * TLS clients of 1,000 users: malloc_trim alone gave back 7 MB, closing
 * the 256 unused SQLite handles and then trimming 28 MB (~110 KiB each:
 * schema, statements, lookaside, the -shm mapping).
 *
 * Cost: malloc_trim locks one arena at a time while it walks its free
 * chunks (6-500 ms measured on this loaded 2-core machine at 2,000
 * clients), and an allocating thread may wait for that walk. So it runs
 * only in a tick in which the process was nearly idle (a busy server
 * reuses its free heap anyway), and only when at least MEMTRIM_MIN_FREE
 * more bytes are free than at the last trim. A busy server reuses its
 * handles within milliseconds, so the handle timeout costs only the first
 * command after ten quiet seconds its ~1 ms open. */
#include "app/memtrim.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#define MEMTRIM_TICK_MS 2000
#define MEMTRIM_HANDLE_IDLE_MS 10000
/* Heap trimming waits for a tick in which the process used less CPU than
 * this share of one core (per mille): a busy server reuses its free heap
 * at once, and is the one an arena lock must not stall. */
#define MEMTRIM_QUIET_PERMILLE 100
#define MEMTRIM_MIN_FREE ((size_t)4 << 20)

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool running, stopping;
	uint64_t cpu_ns;       /* process CPU time at the last tick */
	size_t free_low;       /* least free heap seen since the last trim */
} g_trim = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };

static uint64_t memtrim_cpu_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* jemalloc's control interface when the server is linked with it
 * (CMakeLists.txt RAMPART_JEMALLOC); a weak reference, so NULL in the
 * programs that are not (unit tests, sanitizer builds: glibc's malloc or
 * the sanitizer's). */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
	__attribute__((weak));

/* jemalloc: its dirty pages are exactly the freed memory still resident,
 * and "arena.<all>.purge" hands them back (its own decay does so only
 * while the server allocates: an idle server would keep them). */
#define MEMTRIM_JE_ALL "4096" /* MALLCTL_ARENAS_ALL */
#define MEMTRIM_JE_MIN_DIRTY ((size_t)1 << 20)

static bool memtrim_heap_jemalloc(size_t *free_b)
{
	uint64_t epoch = 1;
	size_t len = sizeof(epoch);
	size_t pdirty = 0, pmuzzy = 0, page = 4096, zlen = sizeof(size_t);
	bool known = mallctl("epoch", &epoch, &len, &epoch, len) == 0 &&
		     mallctl("stats.arenas." MEMTRIM_JE_ALL ".pdirty", &pdirty, &zlen, NULL, 0) == 0 &&
		     mallctl("stats.arenas." MEMTRIM_JE_ALL ".pmuzzy", &pmuzzy, &zlen, NULL, 0) == 0 &&
		     mallctl("arenas.page", &page, &zlen, NULL, 0) == 0;
	*free_b = (pdirty + pmuzzy) * page;
	/* Without statistics (a jemalloc built without them): purge anyway,
	 * it costs little when there is nothing to purge. */
	if (known && *free_b < MEMTRIM_JE_MIN_DIRTY)
		return false;
	return mallctl("arena." MEMTRIM_JE_ALL ".purge", NULL, NULL, NULL, 0) == 0;
}

#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
/* glibc: gives the arenas' free pages back once at least MEMTRIM_MIN_FREE
 * more bytes are free than at the quietest point since the last trim
 * (free chunks stay counted as free after malloc_trim, so the level alone
 * would trim on every tick). Returns whether it trimmed. */
static bool memtrim_heap_glibc(size_t *free_b)
{
	*free_b = mallinfo2().fordblks;
	if (*free_b < g_trim.free_low + MEMTRIM_MIN_FREE) {
		if (*free_b < g_trim.free_low)
			g_trim.free_low = *free_b;
		return false;
	}
	malloc_trim(0);
	g_trim.free_low = mallinfo2().fordblks;
	return true;
}
#else
static bool memtrim_heap_glibc(size_t *free_b)
{
	*free_b = 0;
	return false;
}
#endif

/* Whichever allocator the process runs on. */
static bool memtrim_heap(size_t *free_b)
{
	return mallctl ? memtrim_heap_jemalloc(free_b) : memtrim_heap_glibc(free_b);
}

void memtrim_run_once(unsigned handle_idle_ms, bool quiet)
{
	uint64_t t0 = now_ms();
	unsigned closed = store_cache_trim(handle_idle_ms);
	size_t free_b = 0;
	bool trimmed = quiet && memtrim_heap(&free_b);
	if (closed || trimmed)
		log_debug("event=memtrim handles_closed=%u heap_free_kb=%zu trimmed=%d ms=%llu", closed,
			  free_b / 1024, trimmed, (unsigned long long)(now_ms() - t0));
}

/* True when the process used little CPU since the last call. */
static bool memtrim_quiet(void)
{
	uint64_t cpu = memtrim_cpu_ns(), used = cpu - g_trim.cpu_ns;
	g_trim.cpu_ns = cpu;
	return used < (uint64_t)MEMTRIM_TICK_MS * 1000000u / 1000u * MEMTRIM_QUIET_PERMILLE;
}

static void *memtrim_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&g_trim.lock);
	while (!g_trim.stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += MEMTRIM_TICK_MS / 1000;
		int r = 0;
		while (!g_trim.stopping && r != ETIMEDOUT)
			r = pthread_cond_timedwait(&g_trim.wake, &g_trim.lock, &ts);
		if (g_trim.stopping)
			break;
		pthread_mutex_unlock(&g_trim.lock);
		memtrim_run_once(MEMTRIM_HANDLE_IDLE_MS, memtrim_quiet());
		pthread_mutex_lock(&g_trim.lock);
	}
	pthread_mutex_unlock(&g_trim.lock);
	return NULL;
}

/* snapd (issue #14): freed heap stays in the arenas until a quiet tick
 * trims it (above). glibc by default mmaps each block above a threshold
 * (128 KiB, raised to the largest one freed) and gives an arena's free top
 * back to the kernel once it passes twice that, so a SELECT of a
 * 100,000-message mailbox copied its ~1.7 MB snapshot into fresh pages, a
 * page fault each: 5-10 ms a SELECT on this VM where the copy is ~0.1 ms
 * (perf: exc_page_fault under memmove). Blocks up to 32 MiB now come from
 * the arenas and stay there for reuse. */
static void memtrim_malloc_setup(void)
{
#ifdef __GLIBC__
	if (mallctl)
		return;  /* jemalloc: glibc's malloc is not the one in use */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
}

int memtrim_start(void)
{
	memtrim_malloc_setup();
	g_trim.stopping = false;
	g_trim.cpu_ns = memtrim_cpu_ns();
	g_trim.free_low = 0;
	if (pthread_create(&g_trim.thread, NULL, memtrim_main, NULL) != 0) {
		log_err("event=startup_error msg=\"cannot start the memory housekeeping thread\"");
		return -1;
	}
	g_trim.running = true;
	return 0;
}

void memtrim_stop(void)
{
	if (!g_trim.running)
		return;
	pthread_mutex_lock(&g_trim.lock);
	g_trim.stopping = true;
	pthread_cond_signal(&g_trim.wake);
	pthread_mutex_unlock(&g_trim.lock);
	pthread_join(g_trim.thread, NULL);
	g_trim.running = false;
}
