/* An intrusive doubly linked list with head, tail and count: the node
 * lives inside the element, so linking and unlinking allocate nothing and
 * an element can sit on several lists at once (one node per list).
 * Not thread-safe: the owner of the list holds its lock. */
#ifndef RAMPART_CORE_DLIST_H
#define RAMPART_CORE_DLIST_H

#include <stddef.h>

struct dlist_node {
	struct dlist_node *prev, *next;
};

struct dlist {
	struct dlist_node *head, *tail; /* head: most recently pushed */
	unsigned n;
};

/* The element that holds node `ptr` as its `member`. */
#define DLIST_ENTRY(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static inline void dlist_push_head(struct dlist *l, struct dlist_node *x)
{
	x->prev = NULL;
	x->next = l->head;
	if (l->head)
		l->head->prev = x;
	else
		l->tail = x;
	l->head = x;
	l->n++;
}

/* x must be on l. */
static inline void dlist_unlink(struct dlist *l, struct dlist_node *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		l->head = x->next;
	if (x->next)
		x->next->prev = x->prev;
	else
		l->tail = x->prev;
	x->prev = x->next = NULL;
	l->n--;
}

#endif
