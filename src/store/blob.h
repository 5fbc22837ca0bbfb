/* Message files of one user (store/blob.c): immutable, named by the
 * SHA-256 of their bytes, shared by every copy of a message. The handle
 * holds no database types: any backend keeps its blobs this way and only
 * records the names. Private to src/store/. */
#ifndef RAMPART_STORE_BLOB_H
#define RAMPART_STORE_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store_blobs;
struct store_append;

/* The user directory's subdirectory for temp files (blob writes, and the
 * spooled messages of store_user_spool_dir()). */
#define STORE_BLOB_TMP_DIR "tmp"

/* Opens the blob area of a user directory, creating <dir>/blobs and
 * <dir>/tmp durably and removing temp files a crashed writer left. NULL
 * with errno set on failure (EMFILE/ENFILE: the caller may relieve and
 * retry). username is for log lines only. */
struct store_blobs *store_blobs_open(const char *dir, const char *username);
void store_blobs_close(struct store_blobs *b);
/* snap (issue #14): the user directory, which names the user's store in this process. */
const char *store_blobs_dir(const struct store_blobs *b);

/* Makes sure blob `hex` with these bytes exists durably: writes it (temp
 * file, fsync, rename, fsync dir) or, when present with the right size,
 * fsyncs its directory in case another writer's rename is not durable yet.
 * STORE_OK or STORE_EIO. */
int store_blobs_put(struct store_blobs *b, const char *hex, const void *data, size_t len);
/* The same for the bytes of a message to append, in memory or in a file
 * (struct store_append in_file): a file's range is copied in the kernel,
 * or linked when the file is unlinked and holds exactly the message. */
int store_blobs_put_msg(struct store_blobs *b, const char *hex, const struct store_append *m);
/* The blob name of such a message: its bytes hashed in place, or read
 * from its file in chunks. STORE_OK or STORE_EIO (a failed read). */
int store_blob_hash_msg(const struct store_append *m, char hex[65]);
/* True when the blob file exists with size len. */
bool store_blobs_present(struct store_blobs *b, const char *hex, size_t len);
void store_blobs_unlink(struct store_blobs *b, const char *hex);
/* The bytes of message file hex as store_blob_map() of store.h gives
 * them (for store_blob_unmap), read from the file only: the front
 * (store.c) asks the message cache and the backend first and decides
 * what to remember; `rampart check` proves the files with it. */
int store_blobs_map_file(struct store_blobs *b, const char *hex, const char **data, size_t *len);
/* msgcache: store_blob_cached() of store.h, on the handle. */
int store_blobs_cached(struct store_blobs *b, const char *hex, const char **data, size_t *len);
/* msgcache: puts bytes the front read (from the file or the backend's
 * own row, inline) into the message cache; too big ones are not kept. */
void store_blobs_remember(struct store_blobs *b, const char *hex, const void *data, size_t len);
/* store_blob_open() of store.h, on the handle. */
int store_blobs_open_fd(struct store_blobs *b, const char *hex, int *fd, uint64_t *size);

bool store_blob_name_valid(const char *hex);
void store_blob_hash(const void *data, size_t len, char hex[65]);

#endif
