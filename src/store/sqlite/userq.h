/* A queue of users for a background thread of the SQLite backend (the
 * syncer, sync.c; the checkpointer, ckpt.c): each user at most once,
 * found by name, taken oldest first. An entry is the first member of the
 * owner's own struct; the owner's lock guards the queue. */
#ifndef RAMPART_STORE_SQLITE_USERQ_H
#define RAMPART_STORE_SQLITE_USERQ_H

#define USERQ_BUCKETS 1024

struct userq_entry {
	char *username;
	char *dir;                  /* the user directory */
	struct userq_entry *hnext;  /* bucket chain */
	struct userq_entry *next;   /* arrival order; the taker's own list once taken */
};

struct userq {
	struct userq_entry *by_name[USERQ_BUCKETS];
	struct userq_entry *head, *tail;
};

/* Copies of the names into a new entry, and their release. */
void userq_entry_init(struct userq_entry *e, const char *username, const char *dir);
void userq_entry_clear(struct userq_entry *e);
/* The queued entry of that user, or NULL. */
struct userq_entry *userq_find(struct userq *q, const char *username);
/* Queues e last; its user must not be queued. */
void userq_push(struct userq *q, struct userq_entry *e);
/* Takes the oldest entry off the queue (NULL when empty). */
struct userq_entry *userq_pop(struct userq *q);
/* Forgets every entry without touching them (a forked child). */
void userq_reset(struct userq *q);

#endif
