/* The message cache (issue #14): see blob_cache.h.
 *
 * Why: in the imaptest-like mix a command opened 3.25 message files on
 * average (FETCH of header fields, sections, BODY[] of mail a client had
 * just appended or fetched), each an openat + fstat + pread + close,
 * ~13 system calls at ~1.1 us each on the benchmark machine plus the
 * page-cache lookups. Most mail is small and a client reads the same
 * message several times within seconds (list pane, preview, open), so a
 * few MiB of recently used bytes answer most of those reads.
 *
 * The table is split into BC_SHARDS shards by the first byte of the name
 * (SHA-256: uniform), each with its own lock, hash chains and LRU list,
 * and a share of the byte budget; a lock is held for a lookup and a copy
 * of a few KiB, never across a system call. Entries hold the bytes
 * inline, so an entry is one allocation. */
#include "store/blob_cache.h"
#include "store/store.h"
#include "core/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BC_SHARDS 16
#define BC_BUCKETS_MIN 64

/* A place in a shard's LRU list (head most recent). */
struct bc_link {
	struct bc_link *prev, *next;
};

struct bc_entry {
	struct bc_link link;                /* first: a link is its entry */
	struct bc_entry *chain;             /* next in the hash bucket */
	uint64_t owner;
	unsigned char name[32];
	size_t len;
	unsigned char data[];
};

struct bc_shard {
	pthread_mutex_t lock;
	struct bc_entry **buckets;
	size_t nbuckets;                    /* a power of two, or 0 */
	size_t count, bytes;
	struct bc_link lru;                 /* sentinel of the LRU list */
	uint64_t hits, misses;
};

static struct bc_shard g_shards[BC_SHARDS];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
/* The budget per shard and the largest message kept; 0: off. Read
 * without the lock (a stale value for one call is harmless). */
static _Atomic size_t g_shard_max;
static _Atomic size_t g_entry_max;

static void bc_init(void)
{
	for (int i = 0; i < BC_SHARDS; i++) {
		pthread_mutex_init(&g_shards[i].lock, NULL);
		g_shards[i].lru.prev = g_shards[i].lru.next = &g_shards[i].lru;
	}
}

static size_t entry_bytes(size_t len)
{
	return sizeof(struct bc_entry) + len;
}

/* The 32 bytes of a valid 64-digit lowercase name; false otherwise. */
static bool name_parse(const char *hex, unsigned char out[32])
{
	for (int i = 0; i < 32; i++) {
		unsigned v = 0;
		for (int k = 0; k < 2; k++) {
			char c = hex[2 * i + k];
			if (c >= '0' && c <= '9')
				v = v * 16 + (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v = v * 16 + (unsigned)(c - 'a' + 10);
			else
				return false;
		}
		out[i] = (unsigned char)v;
	}
	return hex[64] == '\0';
}

static struct bc_shard *shard_of(const unsigned char name[32])
{
	return &g_shards[name[0] % BC_SHARDS];
}

static size_t bucket_of(const struct bc_shard *s, uint64_t owner, const unsigned char name[32])
{
	uint64_t h;
	memcpy(&h, name + 8, sizeof(h));
	h ^= owner;
	h ^= h >> 29;
	return (size_t)h & (s->nbuckets - 1);
}

static struct bc_entry **find_slot(struct bc_shard *s, uint64_t owner, const unsigned char name[32])
{
	if (s->nbuckets == 0)
		return NULL;
	struct bc_entry **p = &s->buckets[bucket_of(s, owner, name)];
	for (; *p; p = &(*p)->chain)
		if ((*p)->owner == owner && memcmp((*p)->name, name, 32) == 0)
			return p;
	return p;
}

static void lru_unlink(struct bc_entry *e)
{
	e->link.prev->next = e->link.next;
	e->link.next->prev = e->link.prev;
}

static void lru_push(struct bc_shard *s, struct bc_entry *e)
{
	e->link.next = s->lru.next;
	e->link.prev = &s->lru;
	s->lru.next->prev = &e->link;
	s->lru.next = &e->link;
}

/* Removes e (found at *slot) from the shard and frees it. */
static void entry_drop(struct bc_shard *s, struct bc_entry **slot, struct bc_entry *e)
{
	*slot = e->chain;
	lru_unlink(e);
	s->count--;
	s->bytes -= entry_bytes(e->len);
	free(e);
}

/* Evicts least recently used entries until `bytes` fit in max. */
static void shard_shrink(struct bc_shard *s, size_t max)
{
	while (s->bytes > max && s->lru.prev != &s->lru) {
		struct bc_entry *e = (struct bc_entry *)s->lru.prev;
		entry_drop(s, find_slot(s, e->owner, e->name), e);
	}
}

static void shard_grow(struct bc_shard *s)
{
	size_t n = s->nbuckets ? s->nbuckets * 2 : BC_BUCKETS_MIN;
	struct bc_entry **old = s->buckets;
	size_t oldn = s->nbuckets;
	s->buckets = xcalloc(n, sizeof(*s->buckets));
	s->nbuckets = n;
	for (size_t i = 0; i < oldn; i++) {
		for (struct bc_entry *e = old[i], *next; e; e = next) {
			next = e->chain;
			size_t b = bucket_of(s, e->owner, e->name);
			e->chain = s->buckets[b];
			s->buckets[b] = e;
		}
	}
	free(old);
}

void blob_cache_setup(size_t max_bytes, size_t max_entry)
{
	pthread_once(&g_once, bc_init);
	size_t per = max_bytes / BC_SHARDS;
	/* One message never takes more than half a shard. */
	if (max_entry > per / 2)
		max_entry = per / 2;
	g_entry_max = max_entry;
	g_shard_max = per;
	for (int i = 0; i < BC_SHARDS; i++) {
		struct bc_shard *s = &g_shards[i];
		pthread_mutex_lock(&s->lock);
		shard_shrink(s, per);
		if (per == 0) {
			free(s->buckets);
			s->buckets = NULL;
			s->nbuckets = 0;
		}
		pthread_mutex_unlock(&s->lock);
	}
}

uint64_t blob_cache_owner(const char *dir)
{
	/* FNV-1a: two stores sharing a hash would only share the entries of
	 * identical bytes (the name is their SHA-256), never expose others. */
	uint64_t h = 0xcbf29ce484222325ull;
	for (const unsigned char *p = (const unsigned char *)dir; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	return h;
}

bool blob_cache_get(uint64_t owner, const char *hex, char **data, size_t *len)
{
	unsigned char name[32];
	if (g_shard_max == 0 || !name_parse(hex, name))
		return false;
	struct bc_shard *s = shard_of(name);
	bool hit = false;
	pthread_mutex_lock(&s->lock);
	struct bc_entry **slot = find_slot(s, owner, name);
	struct bc_entry *e = slot ? *slot : NULL;
	if (e) {
		lru_unlink(e);
		lru_push(s, e);
		*data = xmalloc(e->len);
		memcpy(*data, e->data, e->len);
		*len = e->len;
		s->hits++;
		hit = true;
	} else {
		s->misses++;
	}
	pthread_mutex_unlock(&s->lock);
	return hit;
}

void blob_cache_put(uint64_t owner, const char *hex, const void *data, size_t len)
{
	unsigned char name[32];
	size_t max = g_shard_max;
	if (max == 0 || len == 0 || len > g_entry_max || !name_parse(hex, name))
		return;
	/* Allocated and filled before the lock; freed if already there. */
	struct bc_entry *e = xmalloc(entry_bytes(len));
	e->owner = owner;
	memcpy(e->name, name, 32);
	e->len = len;
	memcpy(e->data, data, len);
	struct bc_shard *s = shard_of(name);
	pthread_mutex_lock(&s->lock);
	if (s->count >= s->nbuckets)
		shard_grow(s);
	struct bc_entry **slot = find_slot(s, owner, name);
	if (*slot) {
		lru_unlink(*slot);
		lru_push(s, *slot);
		pthread_mutex_unlock(&s->lock);
		free(e);
		return;
	}
	e->chain = NULL;
	*slot = e;
	lru_push(s, e);
	s->count++;
	s->bytes += entry_bytes(len);
	shard_shrink(s, max);
	pthread_mutex_unlock(&s->lock);
}

void blob_cache_forget(uint64_t owner, const char *hex)
{
	unsigned char name[32];
	if (g_shard_max == 0 || !name_parse(hex, name))
		return;
	struct bc_shard *s = shard_of(name);
	pthread_mutex_lock(&s->lock);
	struct bc_entry **slot = find_slot(s, owner, name);
	if (slot && *slot)
		entry_drop(s, slot, *slot);
	pthread_mutex_unlock(&s->lock);
}

void blob_cache_stats(struct store_message_cache_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_once(&g_once, bc_init);
	for (int i = 0; i < BC_SHARDS; i++) {
		struct bc_shard *s = &g_shards[i];
		pthread_mutex_lock(&s->lock);
		out->hits += s->hits;
		out->misses += s->misses;
		out->count += s->count;
		out->bytes += s->bytes;
		pthread_mutex_unlock(&s->lock);
	}
}
