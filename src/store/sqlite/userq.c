/* store/sqlite/userq.h: a name-keyed FIFO of users. */
#include "store/sqlite/userq.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

static struct userq_entry **userq_bucket(struct userq *q, const char *username)
{
	return &q->by_name[hash_bytes(username, strlen(username)) % USERQ_BUCKETS];
}

void userq_entry_init(struct userq_entry *e, const char *username, const char *dir)
{
	e->username = xstrdup(username);
	e->dir = xstrdup(dir);
	e->hnext = e->next = NULL;
}

void userq_entry_clear(struct userq_entry *e)
{
	free(e->username);
	free(e->dir);
	e->username = e->dir = NULL;
}

struct userq_entry *userq_find(struct userq *q, const char *username)
{
	struct userq_entry *e = *userq_bucket(q, username);
	while (e && strcmp(e->username, username) != 0)
		e = e->hnext;
	return e;
}

void userq_push(struct userq *q, struct userq_entry *e)
{
	struct userq_entry **b = userq_bucket(q, e->username);
	e->hnext = *b;
	*b = e;
	e->next = NULL;
	if (q->tail)
		q->tail->next = e;
	else
		q->head = e;
	q->tail = e;
}

struct userq_entry *userq_pop(struct userq *q)
{
	struct userq_entry *e = q->head;
	if (!e)
		return NULL;
	q->head = e->next;
	if (!q->head)
		q->tail = NULL;
	struct userq_entry **pp = userq_bucket(q, e->username);
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	e->hnext = e->next = NULL;
	return e;
}

void userq_reset(struct userq *q)
{
	memset(q, 0, sizeof(*q));
}
