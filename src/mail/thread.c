/* RFC 5256 3 threading: ORDEREDSUBJECT (group by base subject) and
 * REFERENCES (the steps of section 3: link by References/In-Reply-To with
 * dummy parents for missing messages and no loops, prune dummies, group
 * top-level threads by base subject, sort siblings by sent date).
 *
 * The tree is an array of nodes linked by index (node 0 is the root), so
 * every walk is a loop over an explicit list: References chains, nesting
 * and loops come from message headers, i.e. from anyone who sends mail. */
#include "mail/thread.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

#define NONE (-1)

struct tnode {
	int msg;                   /* index into msgs, NONE for a dummy */
	int parent, child, last, prev, next;
};

struct tree {
	const struct thread_msg *msgs;
	struct tnode *n;
	size_t count, cap;
};

static int node_new(struct tree *t, int msg)
{
	xgrow((void **)&t->n, &t->cap, t->count + 1, sizeof(*t->n));
	t->n[t->count] = (struct tnode){ msg, NONE, NONE, NONE, NONE, NONE };
	return (int)t->count++;
}

static void unlink_node(struct tree *t, int c)
{
	struct tnode *x = &t->n[c];
	if (x->parent == NONE)
		return;
	struct tnode *p = &t->n[x->parent];
	if (x->prev != NONE)
		t->n[x->prev].next = x->next;
	else
		p->child = x->next;
	if (x->next != NONE)
		t->n[x->next].prev = x->prev;
	else
		p->last = x->prev;
	x->parent = x->prev = x->next = NONE;
}

static void link_node(struct tree *t, int parent, int c)
{
	unlink_node(t, c);
	struct tnode *p = &t->n[parent], *x = &t->n[c];
	x->parent = parent;
	x->prev = p->last;
	if (p->last != NONE)
		t->n[p->last].next = c;
	else
		p->child = c;
	p->last = c;
}

/* Would making a the parent of b close a loop, i.e. is a b or below b? */
static bool would_loop(const struct tree *t, int a, int b)
{
	for (int x = a; x != NONE; x = t->n[x].parent)
		if (x == b)
			return true;
	return false;
}

static size_t child_count(const struct tree *t, int x)
{
	size_t k = 0;
	for (int c = t->n[x].child; c != NONE; c = t->n[c].next)
		k++;
	return k;
}

/* ---- a string -> node table (message-ids, subjects) ------------------- */

struct strmap {
	const char **keys;
	int *vals;
	size_t mask;
};

static void strmap_init(struct strmap *m, size_t want)
{
	size_t cap = 16;
	while (cap < want * 2)
		cap *= 2;
	m->keys = xcalloc(cap, sizeof(*m->keys));
	m->vals = xcalloc(cap, sizeof(*m->vals));
	m->mask = cap - 1;
}

static void strmap_free(struct strmap *m)
{
	free(m->keys);
	free(m->vals);
}

/* The slot of key: where it is, or the empty slot where it belongs. */
static size_t strmap_slot(const struct strmap *m, const char *key)
{
	size_t i = hash_bytes(key, strlen(key)) & m->mask;
	while (m->keys[i] && strcmp(m->keys[i], key) != 0)
		i = (i + 1) & m->mask;
	return i;
}

/* ---- sorting by sent date ------------------------------------------- */

struct dated {
	int64_t date;
	int seq;     /* message index: the mailbox order breaks ties */
	int node;
};

static int dated_cmp(const void *a, const void *b)
{
	const struct dated *x = a, *y = b;
	if (x->date != y->date)
		return x->date < y->date ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

/* A node's date: its message's, or a dummy's first child's (RFC 5256 3
 * steps 4 and 6: dummies are only top-level and sorted after their
 * children). */
static struct dated node_date(const struct tree *t, int x)
{
	int m = t->n[x].msg;
	if (m == NONE && t->n[x].child != NONE)
		m = t->n[t->n[x].child].msg;
	if (m == NONE)
		return (struct dated){ INT64_MAX, INT32_MAX, x };
	return (struct dated){ t->msgs[m].date, m, x };
}

static void sort_children(struct tree *t, int p, struct dated **buf, size_t *cap)
{
	size_t k = child_count(t, p);
	if (k < 2)
		return;
	xgrow((void **)buf, cap, k, sizeof(**buf));
	size_t i = 0;
	for (int c = t->n[p].child; c != NONE; c = t->n[c].next)
		(*buf)[i++] = node_date(t, c);
	qsort(*buf, k, sizeof(**buf), dated_cmp);
	for (i = 0; i < k; i++)
		link_node(t, p, (*buf)[i].node);
}

/* ---- REFERENCES --------------------------------------------------------- */

/* Step 1: link messages and dummies by message-id. */
static void refs_link(struct tree *t, size_t n)
{
	size_t ids = n;
	for (size_t i = 0; i < n; i++)
		ids += t->msgs[i].nrefs;
	struct strmap map;
	strmap_init(&map, ids);
	for (size_t i = 0; i < n; i++) {
		const struct thread_msg *m = &t->msgs[i];
		int self = NONE;
		if (m->message_id && *m->message_id) {
			size_t s = strmap_slot(&map, m->message_id);
			if (!map.keys[s]) {
				self = node_new(t, (int)i);
				map.keys[s] = m->message_id;
				map.vals[s] = self;
			} else if (t->n[map.vals[s]].msg == NONE) {
				self = map.vals[s];
				t->n[self].msg = (int)i;
			}
			/* else: a duplicate Message-ID; RFC 5256 3 step 1
			 * gives the later message a unique one. */
		}
		if (self == NONE)
			self = node_new(t, (int)i);
		/* Step 1.A: each reference the parent of the next, keeping
		 * existing links and refusing loops. */
		int prev = NONE;
		for (size_t r = 0; r < m->nrefs; r++) {
			const char *id = m->refs[r];
			if (!id || !*id)
				continue;
			size_t s = strmap_slot(&map, id);
			if (!map.keys[s]) {
				map.keys[s] = id;
				map.vals[s] = node_new(t, NONE);
			}
			int c = map.vals[s];
			if (prev != NONE && prev != c && t->n[c].parent == NONE &&
			    !would_loop(t, prev, c))
				link_node(t, prev, c);
			prev = c;
		}
		/* Step 1.B: the last reference is the parent, replacing any
		 * parent an earlier message's references gave. */
		unlink_node(t, self);
		if (prev != NONE && prev != self && !would_loop(t, prev, self))
			link_node(t, prev, self);
	}
	strmap_free(&map);
}

/* The nodes below the root in post-order (children before parents),
 * root last. */
static int *post_order(const struct tree *t, size_t *outn)
{
	int *order = xmalloc(t->count * sizeof(*order));
	int *stack = xmalloc(t->count * sizeof(*stack));
	size_t no = 0, ns = 0;
	/* Reverse of a pre-order that visits the last child first. */
	stack[ns++] = 0;
	while (ns) {
		int x = stack[--ns];
		order[no++] = x;
		for (int c = t->n[x].child; c != NONE; c = t->n[c].next)
			stack[ns++] = c;
	}
	free(stack);
	for (size_t i = 0; i < no / 2; i++) {
		int tmp = order[i];
		order[i] = order[no - 1 - i];
		order[no - 1 - i] = tmp;
	}
	*outn = no;
	return order;
}

/* Step 3: dummies without children go; a dummy's children take its place,
 * except that several children of a top-level dummy stay under it. */
static void refs_prune(struct tree *t)
{
	size_t no;
	int *order = post_order(t, &no);
	for (size_t i = 0; i < no; i++) {
		int p = order[i];
		int c = t->n[p].child;
		while (c != NONE) {
			int next = t->n[c].next;
			if (t->n[c].msg == NONE) {
				size_t k = child_count(t, c);
				if (k == 0) {
					unlink_node(t, c);
				} else if (p != 0 || k == 1) {
					/* splice c's children in at c's place */
					while (t->n[c].child != NONE) {
						int g = t->n[c].child;
						unlink_node(t, g);
						struct tnode *x = &t->n[g];
						x->parent = p;
						x->prev = t->n[c].prev;
						x->next = c;
						if (x->prev != NONE)
							t->n[x->prev].next = g;
						else
							t->n[p].child = g;
						t->n[c].prev = g;
					}
					unlink_node(t, c);
				}
			}
			c = next;
		}
	}
	free(order);
}

static const struct thread_msg *thread_first(const struct tree *t, int x)
{
	int m = t->n[x].msg;
	if (m == NONE && t->n[x].child != NONE)
		m = t->n[t->n[x].child].msg;
	return m == NONE ? NULL : &t->msgs[m];
}

/* Step 5: top-level threads with the same base subject are merged. */
static void refs_group_subjects(struct tree *t)
{
	size_t k = child_count(t, 0);
	int *top = xmalloc((k ? k : 1) * sizeof(*top));
	size_t i = 0;
	for (int c = t->n[0].child; c != NONE; c = t->n[c].next)
		top[i++] = c;
	struct strmap map;
	strmap_init(&map, k);
	/* 5.B: one thread per subject, preferring a dummy, then a
	 * non-reply. */
	for (i = 0; i < k; i++) {
		int c = top[i];
		const struct thread_msg *m = thread_first(t, c);
		if (!m || !*m->subject)
			continue;
		size_t s = strmap_slot(&map, m->subject);
		if (!map.keys[s]) {
			map.keys[s] = m->subject;
			map.vals[s] = c;
			continue;
		}
		int old = map.vals[s];
		if (t->n[old].msg != NONE &&
		    (t->n[c].msg == NONE || (t->msgs[t->n[old].msg].reply && !t->msgs[t->n[c].msg].reply)))
			map.vals[s] = c;
	}
	/* 5.C: merge the others into it. */
	for (i = 0; i < k; i++) {
		int c = top[i];
		const struct thread_msg *m = thread_first(t, c);
		/* moved under a new dummy by an earlier merge: done */
		if (t->n[c].parent != 0 || !m || !*m->subject)
			continue;
		size_t s = strmap_slot(&map, m->subject);
		int old = map.vals[s];
		if (old == c)
			continue;
		bool old_dummy = t->n[old].msg == NONE, c_dummy = t->n[c].msg == NONE;
		if (old_dummy && c_dummy) {
			while (t->n[c].child != NONE)
				link_node(t, old, t->n[c].child);
			unlink_node(t, c);
		} else if (old_dummy || (!c_dummy && t->msgs[t->n[c].msg].reply &&
					 !t->msgs[t->n[old].msg].reply)) {
			link_node(t, old, c);
		} else {
			int d = node_new(t, NONE);
			link_node(t, 0, d);
			link_node(t, d, old);
			link_node(t, d, c);
			map.vals[s] = d;
		}
	}
	strmap_free(&map);
	free(top);
}

static void tree_threads_refs(struct tree *t, size_t n, struct dated **buf, size_t *cap)
{
	refs_link(t, n);
	/* Step 2: the messages without a parent are the top level. */
	size_t count = t->count;
	for (size_t x = 1; x < count; x++)
		if (t->n[x].parent == NONE)
			link_node(t, 0, (int)x);
	refs_prune(t);
	/* Step 4: top-level order by date, a dummy by its first child. */
	for (int c = t->n[0].child; c != NONE; c = t->n[c].next)
		if (t->n[c].msg == NONE)
			sort_children(t, c, buf, cap);
	sort_children(t, 0, buf, cap);
	refs_group_subjects(t);
}

/* ---- ORDEREDSUBJECT ----------------------------------------------------- */

struct by_subject {
	const struct thread_msg *m;
	int idx;
};

static int by_subject_cmp(const void *a, const void *b)
{
	const struct by_subject *x = a, *y = b;
	int r = strcmp(x->m->subject, y->m->subject);
	if (r)
		return r;
	if (x->m->date != y->m->date)
		return x->m->date < y->m->date ? -1 : 1;
	return (x->idx > y->idx) - (x->idx < y->idx);
}

/* RFC 5256 3 ORDEREDSUBJECT: sorted by base subject and date, each run of
 * one subject a thread whose first message is the parent of the rest. */
static void tree_threads_subject(struct tree *t, size_t n)
{
	struct by_subject *v = xmalloc((n ? n : 1) * sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = (struct by_subject){ &t->msgs[i], (int)i };
	qsort(v, n, sizeof(*v), by_subject_cmp);
	int head = NONE;
	for (size_t i = 0; i < n; i++) {
		int x = node_new(t, v[i].idx);
		if (i > 0 && strcmp(v[i].m->subject, v[i - 1].m->subject) == 0) {
			link_node(t, head, x);
		} else {
			head = x;
			link_node(t, 0, x);
		}
	}
	free(v);
}

/* ---- output -------------------------------------------------------------- */

/* thread-members / thread-nested (RFC 5256 4) of one top-level thread,
 * with an explicit stack: a single child continues the list ("1 2 3"),
 * several open one parenthesised list each. */
static void write_thread(const struct tree *t, int top, struct strbuf *out, int **stack,
			 size_t *cap)
{
	size_t ns = 0;
	int x = top;
	strbuf_addc(out, '(');
	for (;;) {
		/* the members from x down to a leaf or a branch */
		bool first = true;
		for (;;) {
			const struct tnode *node = &t->n[x];
			size_t k = child_count(t, x);
			if (node->msg != NONE) {
				strbuf_addf(out, first ? "%u" : " %u", t->msgs[node->msg].id);
				first = false;
			}
			if (k == 0) {
				x = NONE;
				break;
			}
			if (k == 1) {
				x = node->child;
				continue;
			}
			if (!first)
				strbuf_addc(out, ' ');
			xgrow((void **)stack, cap, ns + 1, sizeof(**stack));
			(*stack)[ns++] = t->n[node->child].next;
			strbuf_addc(out, '(');
			x = node->child;
			first = true;
		}
		/* close lists until one has a next sibling to open */
		while (ns) {
			strbuf_addc(out, ')');
			int next = (*stack)[--ns];
			if (next != NONE) {
				(*stack)[ns++] = t->n[next].next;
				strbuf_addc(out, '(');
				x = next;
				break;
			}
		}
		if (x == NONE)
			break;
	}
	strbuf_addc(out, ')');
}

void thread_write(enum thread_algo algo, const struct thread_msg *msgs, size_t n,
		  struct strbuf *out)
{
	if (n == 0)
		return;
	struct tree t = { .msgs = msgs };
	node_new(&t, NONE); /* the root */
	struct dated *buf = NULL;
	size_t bcap = 0;
	if (algo == THREAD_REFERENCES) {
		tree_threads_refs(&t, n, &buf, &bcap);
		/* Step 6: every set of siblings by date, top level last (a
		 * dummy's date is that of its first child). */
		for (size_t x = 1; x < t.count; x++)
			sort_children(&t, (int)x, &buf, &bcap);
	} else {
		tree_threads_subject(&t, n);
	}
	sort_children(&t, 0, &buf, &bcap);
	int *stack = NULL;
	size_t scap = 0;
	for (int c = t.n[0].child; c != NONE; c = t.n[c].next)
		write_thread(&t, c, out, &stack, &scap);
	free(stack);
	free(buf);
	free(t.n);
}
