/* The message cache (store/blob_cache.c, issue #14): the bytes of small
 * messages recently stored or read, kept in memory by the process so that
 * the next read of the same message opens no file. Private to src/store/:
 * store/blob.c fills and reads it, store.c configures it.
 *
 * A message file is named by the SHA-256 of its bytes and never changes
 * (store/blob.c), so an entry can never be stale: an entry is keyed by
 * that name and by its user's store (a 64-bit hash of the user
 * directory), and holds exactly the bytes the file holds. Bounded in
 * bytes, least recently used out first; thread-safe (sharded locks). */
#ifndef RAMPART_STORE_BLOB_CACHE_H
#define RAMPART_STORE_BLOB_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store_message_cache_stats;

/* At most max_bytes of entries and messages (0: off, dropping what is
 * held); a message over max_entry bytes is never kept. Any time. */
void blob_cache_setup(size_t max_bytes, size_t max_entry);
/* The key of a user's store: its directory, hashed. */
uint64_t blob_cache_owner(const char *dir);
/* A copy of the message's bytes (hex: its 64-digit name) in *data
 * (xmalloc'd, the caller frees) and *len: true when cached. Counts a hit
 * or a miss. */
bool blob_cache_get(uint64_t owner, const char *hex, char **data, size_t *len);
/* Keeps a copy of the bytes (len > 0) of message hex; replaces nothing
 * (the bytes of a name are always the same). */
void blob_cache_put(uint64_t owner, const char *hex, const void *data, size_t len);
/* Drops the entry of a message file that was deleted. */
void blob_cache_forget(uint64_t owner, const char *hex);
void blob_cache_stats(struct store_message_cache_stats *out);

#endif
