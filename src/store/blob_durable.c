/* Which message files have a durable name, as far as this process knows
 * (issue #14 dlv).
 *
 * Storing a message whose file already exists (the same bytes again: a
 * message delivered twice, a client APPENDing the same file, COPY between
 * users' stores) used to fsync the file's directory every time, because
 * the writer that renamed it there may not have fsync'd that directory
 * yet (store/blob.c blobs_put_src). Once this process has fsync'd the
 * directory after seeing a given inode under the name, that name is
 * durable for as long as the same inode holds it: a later rename over it
 * or an unlink and a new file changes the inode or its ctime (rename(2)
 * updates the ctime of the inode it moves). So the key is the whole
 * identity (device, inode, ctime to the nanosecond, size), recorded from a
 * stat() taken before the fsync: whatever the directory held when the
 * fsync began is covered by it.
 *
 * A small direct-mapped table: a miss (a collision, a restart) only costs
 * the directory fsync it would have cost anyway. */
#include "store/blob_durable.h"

#include <pthread.h>
#include <stdint.h>

#define BLOB_DURABLE_SLOTS 1024

struct blob_durable_id {
	uint64_t dev, ino, size;
	int64_t ctime_s;
	long ctime_ns;
};

static struct blob_durable_id g_slots[BLOB_DURABLE_SLOTS];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static struct blob_durable_id blob_durable_id(const struct stat *st)
{
	return (struct blob_durable_id){
		.dev = (uint64_t)st->st_dev,
		.ino = (uint64_t)st->st_ino,
		.size = (uint64_t)st->st_size,
		.ctime_s = (int64_t)st->st_ctim.tv_sec,
		.ctime_ns = st->st_ctim.tv_nsec,
	};
}

static unsigned blob_durable_slot(const struct blob_durable_id *id)
{
	uint64_t h = id->ino * 0x9E3779B97F4A7C15ull ^ id->dev ^ (uint64_t)id->ctime_ns;
	return (unsigned)((h >> 32) % BLOB_DURABLE_SLOTS);
}

static bool blob_durable_eq(const struct blob_durable_id *a, const struct blob_durable_id *b)
{
	return a->ino == b->ino && a->dev == b->dev && a->size == b->size &&
	       a->ctime_s == b->ctime_s && a->ctime_ns == b->ctime_ns;
}

bool blob_durable_known(const struct stat *st)
{
	struct blob_durable_id id = blob_durable_id(st);
	if (id.ino == 0)
		return false;
	pthread_mutex_lock(&g_lock);
	bool hit = blob_durable_eq(&g_slots[blob_durable_slot(&id)], &id);
	pthread_mutex_unlock(&g_lock);
	return hit;
}

void blob_durable_note(const struct stat *st)
{
	struct blob_durable_id id = blob_durable_id(st);
	if (id.ino == 0)
		return;
	pthread_mutex_lock(&g_lock);
	g_slots[blob_durable_slot(&id)] = id;
	pthread_mutex_unlock(&g_lock);
}
