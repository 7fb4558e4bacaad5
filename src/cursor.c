/* cursor.c - strata_cursor: sequential reads decoded ahead on threads.
 *
 * The records from..last of each range, one range after another, are cut
 * into spans: a range's records in one group (at most CURSOR_SPAN_MAX, and
 * fewer when their decoded contents would pass CURSOR_SPAN_EXTRA). A span
 * is decoded as a whole: its group's body prefix once, then every record, a
 * literal as a pointer into that body (checked, not copied), a reference to
 * a pooled record as a pointer into the cache of them the workers share
 * (the span holds a count on each, read_pool_share), any other encoding
 * into the span's arena. Spans are numbered in order and kept in a ring of
 * `depth` slots.
 *
 * Worker threads (as many as the machine has cores, at most the depth)
 * take the next span under the one mutex: planning it (catalog lookups on
 * a handle of its own, `plan`, used only under the mutex) is short, decoding
 * it (on the worker's own handle: its decoder, descriptors and caches) is
 * done without the lock. The caller takes spans in order once decoded and
 * hands their records out; a span goes back to the ring when the caller has
 * passed its last record. Spans in flight hold at most CURSOR_BYTES beyond
 * the one being planned.
 *
 * A record the fast path cannot decode (its span's body does not decode, a
 * checksum does not hold, its shared checksum reaches outside the span) is
 * read again alone with strata_get on the worker's handle, which says what
 * is wrong in the words every other read uses. An error ends the cursor:
 * the caller gets the span's records before it, then the error.
 */
#include "catalog.h"
#include "err.h"
#include "os.h"
#include "read.h"
#include "runs.h"
#include "store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#define CURSOR_SPAN_MAX 65536
#define CURSOR_BYTES (64u << 20)
#define CURSOR_THREADS_MAX 8
/* Buffers of spans given back stay with their ring slots for the next
 * spans, up to this many bytes in all. */
#define CURSOR_KEEP (32u << 20)
/* A span ends before a record that would take its decoded contents past
 * this (many versions of a large file, deltas of a few bytes each, in one
 * group): the next span decodes the group's prefix again. */
#define CURSOR_SPAN_EXTRA (16u << 20)

typedef struct span {
	size_t range;            /* the range its records belong to */
	uint64_t first;          /* number of its first record */
	size_t count;
	pack_record *rec;        /* its records as filed (owned; rec_cap) */
	size_t rec_cap;
	catalog_loc loc;         /* where its group is */
	uint64_t need, cend;     /* body bytes to decode, compressed prefix */
	uint64_t extra;          /* bytes of contents decoded into the arena */
	uint64_t shared;         /* bytes of pooled contents it refers to */
	size_t bytes;            /* memory it holds, against CURSOR_BYTES */
	int plan_rc;             /* planning failed at record first + count */
	char *plan_msg;
	/* Filled by the worker that decodes it. rec, body, arena and ptr may
	 * stay with the slot for its next span (CURSOR_KEEP). */
	uint8_t *body, *arena;
	size_t body_cap, arena_cap; /* bytes */
	const uint8_t **ptr;     /* each record's content */
	size_t ptr_cap;          /* bytes */
	read_pooled **held;      /* pooled contents ptr points into, counted */
	size_t nheld, held_cap;  /* held_cap in bytes */
	uint8_t **own;           /* records read alone (malloc'd), or NULL */
	size_t ok;               /* records [0, ok) are good */
	size_t run_ok;           /* 1 + the first of the records sharing a
				  * checksum last checked here, or 0 */
	int rc;                  /* nonzero: the error after them */
	char *msg;
	int done;
} span;

/* A range asked for, its key copied. */
typedef struct cursor_range {
	uint8_t *key;
	size_t keylen;
	uint64_t from, last;     /* records from..last (none when from > last) */
} cursor_range;

struct strata_cursor {
	cursor_range *range;     /* in order, nrange of them */
	size_t nrange, ri;       /* ri: the range being planned */
	strata_store *plan;      /* catalog lookups, under mu */
	strata_store **own;      /* one handle per worker */
	pthread_t *threads;
	unsigned nthreads, started;
	pthread_mutex_t mu;
	pthread_cond_t changed;  /* a span was planned, decoded or released; or stop */
	span *ring;
	unsigned depth;
	uint64_t next_n, last_n; /* records of range ri still to plan */
	uint64_t planned, taken; /* spans [taken, planned) are in the ring */
	size_t inflight;         /* their bytes */
	int plan_done;           /* nothing more to plan (the end, or an error) */
	int stop;                /* close() asks the workers to end */
	size_t kept;             /* bytes of buffers idle slots keep */
	/* The caller's side, without the lock. */
	span *cur;
	size_t at;
	int finished;
};

/* The bytes of buffers a slot keeps. */
static size_t span_kept(const span *sp)
{
	return sp->rec_cap * sizeof *sp->rec + sp->body_cap + sp->arena_cap + sp->ptr_cap + sp->held_cap;
}

/* Keep *p (cap bytes) for the slot's next span while what idle slots keep
 * stays within CURSOR_KEEP (under mu); else free it. */
static void keep_or_free(strata_cursor *c, void *p, size_t *cap)
{
	void **buf = p;
	if (*buf && *cap <= CURSOR_KEEP - c->kept) {
		c->kept += *cap;
		return;
	}
	free(*buf);
	*buf = NULL;
	*cap = 0;
}

/* Free what a span holds for its records alone: those read alone, the
 * error messages. */
static void span_drop(span *sp)
{
	for (size_t i = 0; i < sp->nheld; i++)
		read_pool_release(sp->held[i]);
	sp->nheld = 0;
	if (sp->own)
		for (size_t i = 0; i < sp->count; i++)
			free(sp->own[i]);
	free(sp->own);
	free(sp->msg);
	free(sp->plan_msg);
}

/* Empty a span given back (under mu), keeping what buffers CURSOR_KEEP
 * allows. */
static void span_clear(strata_cursor *c, span *sp)
{
	span_drop(sp);
	size_t rec_bytes = sp->rec_cap * sizeof *sp->rec;
	keep_or_free(c, &sp->rec, &rec_bytes);
	keep_or_free(c, &sp->body, &sp->body_cap);
	keep_or_free(c, &sp->arena, &sp->arena_cap);
	keep_or_free(c, &sp->ptr, &sp->ptr_cap);
	keep_or_free(c, &sp->held, &sp->held_cap);
	*sp = (span){ .rec = sp->rec, .rec_cap = rec_bytes / sizeof *sp->rec, .body = sp->body,
		      .body_cap = sp->body_cap, .arena = sp->arena, .arena_cap = sp->arena_cap,
		      .ptr = sp->ptr, .ptr_cap = sp->ptr_cap, .held = sp->held, .held_cap = sp->held_cap };
}

/* Free a slot's memory for good. */
static void span_free(span *sp)
{
	span_drop(sp);
	free(sp->rec);
	free(sp->body);
	free(sp->arena);
	free(sp->ptr);
	free(sp->held);
}

/* The error the last call left (its message copied) ends the span at
 * *rc. */
static void span_fail(int *rc, char **msg, int code)
{
	*rc = code;
	*msg = strdup(strata_errmsg());
}

/* Make *p hold at least n bytes (its contents need not stay). A buffer
 * grows by half again what is asked, so that spans a little larger each
 * time do not each take fresh memory, whose pages fault in anew, and from
 * 512 KiB on takes whole huge pages (os_huge_round: on bench/trace's
 * store a cat of the three keys took 3,900 -> 2,300 faults and 0.18 ->
 * 0.16 s; without the glibc tunable 8,800 -> 6,800 and 0.25 -> 0.23 s). */
static int reserve(void *p, size_t *cap, size_t n)
{
	void **buf = p;
	if (n <= *cap && *buf)
		return 0;
	free(*buf);
	*cap = 0;
	if (!(*buf = os_alloc_big(os_huge_round(n <= SIZE_MAX / 3 ? n + n / 2 : n), cap)))
		return ERR_NOMEM();
	return 0;
}

/* Make the span's record list hold at least n records, keeping those it
 * has. */
static int reserve_records(span *sp, size_t n)
{
	if (n <= sp->rec_cap)
		return 0;
	size_t cap = sp->rec_cap ? sp->rec_cap : 512;
	while (cap < n)
		cap *= 2;
	size_t bytes;
	pack_record *r = os_alloc_big(os_huge_round(cap * sizeof *r), &bytes);
	if (!r)
		return ERR_NOMEM();
	if (sp->count)
		memcpy(r, sp->rec, sp->count * sizeof *r);
	free(sp->rec);
	sp->rec = r;
	sp->rec_cap = bytes / sizeof *r;
	return 0;
}

/* Move planning on to the next range that has records to plan, if range
 * ri has none left (under mu). Returns 0 when no range has. */
static int next_range(strata_cursor *c)
{
	while (c->next_n > c->last_n) {
		if (c->ri + 1 >= c->nrange)
			return 0;
		const cursor_range *r = &c->range[++c->ri];
		c->next_n = r->from;
		c->last_n = r->last;
	}
	return 1;
}

/* Plan the span of records from c->next_n on (under mu): its records, as
 * far as its group goes. */
static void plan_span(strata_cursor *c, span *sp)
{
	sp->range = c->ri;
	const cursor_range *cr = &c->range[c->ri];
	sp->first = c->next_n;
	while (c->next_n <= c->last_n && sp->count < CURSOR_SPAN_MAX) {
		catalog_loc loc;
		const pack_record *rest;
		size_t nrest;
		int rc = catalog_lookup_run(c->plan->cat, cr->key, cr->keylen, c->next_n, &loc, &rest, &nrest);
		if (rc) {
			span_fail(&sp->plan_rc, &sp->plan_msg, rc);
			c->plan_done = 1;
			break;
		}
		if (sp->count && (loc.pack != sp->loc.pack || loc.grp != sp->loc.grp))
			break;
		if (!sp->count)
			sp->loc = loc;
		uint64_t left = c->last_n - c->next_n + 1;
		size_t take = nrest < left ? nrest : (size_t)left;
		if (take > CURSOR_SPAN_MAX - sp->count)
			take = CURSOR_SPAN_MAX - sp->count;
		if ((rc = reserve_records(sp, sp->count + take)) != 0) {
			span_fail(&sp->plan_rc, &sp->plan_msg, rc);
			c->plan_done = 1;
			break;
		}
		size_t i;
		for (i = 0; i < take; i++) {
			const pack_record *r = &rest[i];
			if (r->group != loc.grp) /* runs are cut at group ends */
				break;
			if (sp->count && r->enc != ENC_LITERAL && sp->extra + sp->shared + r->size > CURSOR_SPAN_EXTRA)
				break;
			sp->rec[sp->count++] = *r;
			if (r->off + r->len > sp->need) {
				sp->need = r->off + r->len;
				sp->cend = r->cend;
			}
			if (r->enc == ENC_POOL)
				sp->shared += r->size;
			else if (r->enc != ENC_LITERAL)
				sp->extra += r->size;
			c->next_n++;
		}
		if (i < nrest)
			break;
	}
	if (!c->plan_done && !next_range(c))
		c->plan_done = 1;
	sp->bytes = (size_t)(sp->need + sp->extra + sp->shared) + sp->count * (sizeof *sp->rec + sizeof *sp->ptr);
}

/* Record i of the span decoded in place: 0, or nonzero when only a read
 * of it alone can say. */
static int fast_record(strata_cursor *c, strata_store *s, span *sp, size_t i, uint64_t *aoff)
{
	const pack_record *r = &sp->rec[i];
	if (r->off + r->len > sp->need)
		return -1;
	if (r->enc == ENC_LITERAL) {
		if (r->len != r->size)
			return -1;
		if (r->rcount) {
			if (r->rpos > i || i - r->rpos + r->rcount > sp->count)
				return -1; /* some of those sharing its checksum lie outside the span */
			const pack_record *run = r - r->rpos;
			const pack_record *last = &run[run->rcount - 1];
			if (last->off + last->len > sp->need)
				return -1;
			if (r->rpos == 0 && run_check(run, sp->body + run->off, run->off) == 0)
				sp->run_ok = i + 1;
			if (sp->run_ok != i - r->rpos + 1)
				return -1;
		} else if (XXH3_64bits(sp->body + r->off, (size_t)r->len) != r->sum) {
			return -1;
		}
		sp->ptr[i] = sp->body + r->off;
		return 0;
	}
	const cursor_range *cr = &c->range[sp->range]; /* fixed at open: no lock needed */
	read_rec rr = { cr->key, cr->keylen, sp->first + i, r->enc, r->off, r->len, r->size, r->sum, r->base, 0 };
	if (r->enc == ENC_POOL) { /* no room in the arena: shared, or read alone */
		if (sp->nheld * sizeof *sp->held >= sp->held_cap ||
		    read_pool_share(s, &rr, sp->body + r->off, &sp->ptr[i], &sp->held[sp->nheld]) != 0)
			return -1;
		sp->nheld++;
		return 0;
	}
	if (r->size > sp->extra - *aoff)
		return -1;
	uint8_t *dst = sp->arena + *aoff;
	if (read_decode_to(s, &rr, sp->body, sp->body + r->off, 0, dst) != 0)
		return -1;
	sp->ptr[i] = dst;
	*aoff += r->size;
	return 0;
}

/* Decode the span on handle s (without the lock). */
static void decode_span(strata_cursor *c, strata_store *s, span *sp)
{
	if (reserve(&sp->ptr, &sp->ptr_cap, sp->count * sizeof *sp->ptr)) {
		span_fail(&sp->rc, &sp->msg, STRATA_ENOMEM);
		return;
	}
	/* Without a body or an arena, every record is read alone. */
	int fast = !reserve(&sp->body, &sp->body_cap, (size_t)sp->need) &&
		   !reserve(&sp->arena, &sp->arena_cap, (size_t)sp->extra) &&
		   (!sp->shared || !reserve(&sp->held, &sp->held_cap, sp->count * sizeof *sp->held));
	if (fast && sp->need && read_body(s, &sp->loc, sp->cend, sp->body, (size_t)sp->need) != 0)
		fast = 0; /* and says what is wrong */
	uint64_t aoff = 0;
	for (size_t i = 0; i < sp->count; i++) {
		if (fast && fast_record(c, s, sp, i, &aoff) == 0) {
			sp->ok = i + 1;
			continue;
		}
		if (!sp->own && !(sp->own = calloc(sp->count, sizeof *sp->own))) {
			span_fail(&sp->rc, &sp->msg, ERR_NOMEM());
			return;
		}
		void *data;
		size_t len;
		const cursor_range *cr = &c->range[sp->range];
		int rc = strata_get(s, cr->key, cr->keylen, sp->first + i, &data, &len);
		if (!rc && len != sp->rec[i].size) { /* the store changed under the plan */
			strata_buf_free(data);
			rc = err_set(STRATA_ECORRUPT, "record %llu changed size while read",
				     (unsigned long long)(sp->first + i));
		}
		if (rc) {
			span_fail(&sp->rc, &sp->msg, rc);
			return;
		}
		sp->own[i] = data;
		sp->ptr[i] = data;
		sp->ok = i + 1;
	}
	if (sp->plan_rc) {
		sp->rc = sp->plan_rc;
		sp->msg = sp->plan_msg;
		sp->plan_msg = NULL;
	}
}

typedef struct worker_arg {
	strata_cursor *c;
	unsigned w;
} worker_arg;

static void *worker_main(void *arg)
{
	worker_arg *wa = arg;
	strata_cursor *c = wa->c;
	strata_store *s = c->own[wa->w];
	pthread_mutex_lock(&c->mu);
	while (!c->stop && !c->plan_done) {
		if (c->planned - c->taken >= c->depth || (c->planned > c->taken && c->inflight >= CURSOR_BYTES)) {
			pthread_cond_wait(&c->changed, &c->mu);
			continue;
		}
		span *sp = &c->ring[c->planned % c->depth];
		c->kept -= span_kept(sp); /* its buffers are in use again */
		plan_span(c, sp);
		c->planned++;
		c->inflight += sp->bytes;
		pthread_mutex_unlock(&c->mu);
		decode_span(c, s, sp);
		pthread_mutex_lock(&c->mu);
		sp->done = 1;
		if (sp->rc) /* the caller stops there: plan nothing after it */
			c->plan_done = 1;
		pthread_cond_broadcast(&c->changed);
	}
	pthread_cond_broadcast(&c->changed); /* the caller may wait for the end */
	pthread_mutex_unlock(&c->mu);
	free(wa);
	return NULL;
}

int strata_cursor_open(strata_cursor **out, strata_store *s, const void *key, size_t keylen, uint64_t from,
		       uint64_t count, unsigned prefetch)
{
	if (!out || !s || !key || keylen == 0) {
		err_clear();
		return err_set(STRATA_EINVAL, "strata_cursor_open needs a store and a key");
	}
	const strata_range r = { key, keylen, from, count };
	return strata_cursor_open_ranges(out, s, &r, 1, prefetch);
}

int strata_cursor_open_ranges(strata_cursor **out, strata_store *s, const strata_range *ranges, size_t nranges,
			      unsigned prefetch)
{
	err_clear();
	if (!out || !s || !ranges || nranges == 0)
		return err_set(STRATA_EINVAL, "strata_cursor_open_ranges needs a store and a range");
	for (size_t i = 0; i < nranges; i++)
		if (!ranges[i].key || ranges[i].keylen == 0)
			return err_set(STRATA_EINVAL, "range %zu of the cursor has no key", i);
	strata_cursor *c = calloc(1, sizeof *c);
	if (!c)
		return ERR_NOMEM();
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->changed, NULL);
	int rc = (c->range = calloc(nranges, sizeof *c->range)) ? 0 : ERR_NOMEM();
	for (size_t i = 0; !rc && i < nranges; i++) {
		const strata_range *r = &ranges[i];
		cursor_range *cr = &c->range[i];
		uint64_t total, from = r->from ? r->from : 1;
		rc = strata_record_count(s, r->key, r->keylen, &total);
		if (!rc && !(cr->key = malloc(r->keylen)))
			rc = ERR_NOMEM();
		if (rc)
			break;
		c->nrange++;
		memcpy(cr->key, r->key, r->keylen);
		cr->keylen = r->keylen;
		cr->from = from;
		cr->last = r->count && from + r->count - 1 < total ? from + r->count - 1 : total;
	}
	if (rc) {
		strata_cursor_close(c);
		return rc;
	}
	c->depth = prefetch ? prefetch : 1;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	c->nthreads = cores < 1 ? 1 : cores > CURSOR_THREADS_MAX ? CURSOR_THREADS_MAX : (unsigned)cores;
	if (c->nthreads > c->depth)
		c->nthreads = c->depth;
	c->next_n = c->range[0].from;
	c->last_n = c->range[0].last;
	c->plan_done = !next_range(c);
	c->ring = calloc(c->depth, sizeof *c->ring);
	c->own = calloc(c->nthreads, sizeof *c->own);
	c->threads = calloc(c->nthreads, sizeof *c->threads);
	rc = c->ring && c->own && c->threads ? 0 : ERR_NOMEM();
	if (!rc)
		rc = strata_open(&c->plan, s->root, STRATA_OPEN_READ | STORE_OPEN_PEER, NULL);
	if (!rc) /* planning goes through runs in order */
		catalog_sequential(c->plan->cat, 1);
	for (unsigned w = 0; !rc && w < c->nthreads; w++) {
		rc = strata_open(&c->own[w], s->root, STRATA_OPEN_READ | STORE_OPEN_PEER, NULL);
		if (!rc) { /* bases and chunks of records in a row share groups and runs */
			c->own[w]->body_cache_on = 1;
			catalog_sequential(c->own[w]->cat, 1);
		}
		if (!rc && w) /* each pooled record read once for all */
			rc = read_pool_join(c->own[0], c->own[w]);
	}
	for (unsigned w = 0; !rc && w < c->nthreads; w++) {
		worker_arg *wa = malloc(sizeof *wa);
		if (wa)
			*wa = (worker_arg){ c, w };
		if (!wa || pthread_create(&c->threads[w], NULL, worker_main, wa) != 0) {
			free(wa);
			rc = err_set(STRATA_ENOMEM, "cannot start the cursor's threads");
			break;
		}
		c->started++;
	}
	if (rc) {
		strata_cursor_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* Give the current span back to the ring. */
static void release(strata_cursor *c)
{
	pthread_mutex_lock(&c->mu);
	c->inflight -= c->cur->bytes;
	span_clear(c, c->cur);
	c->taken++;
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->mu);
	c->cur = NULL;
}

int strata_cursor_batch(strata_cursor *c, strata_slice *v, size_t cap, size_t *got, uint64_t *first)
{
	err_clear();
	if (!c || !v || !cap || !got)
		return err_set(STRATA_EINVAL, "strata_cursor_batch needs a cursor and room for a record");
	*got = 0;
	for (;;) {
		if (c->finished)
			return err_set(STRATA_ENOTFOUND, "no more records");
		span *sp = c->cur;
		if (sp && c->at < sp->ok) {
			if (first)
				*first = sp->first + c->at;
			for (; *got < cap && c->at < sp->ok; c->at++, ++*got) {
				v[*got].data = sp->ptr[c->at];
				v[*got].len = (size_t)sp->rec[c->at].size;
			}
			return 0;
		}
		if (sp && sp->rc) {
			int rc = err_set(sp->rc, "%s", sp->msg ? sp->msg : "reading ahead failed");
			c->finished = 1;
			release(c);
			return rc;
		}
		if (sp)
			release(c);
		pthread_mutex_lock(&c->mu);
		while (!(c->taken < c->planned && c->ring[c->taken % c->depth].done) &&
		       !(c->plan_done && c->taken == c->planned))
			pthread_cond_wait(&c->changed, &c->mu);
		if (c->taken == c->planned) {
			c->finished = 1;
		} else {
			c->cur = &c->ring[c->taken % c->depth];
			c->at = 0;
		}
		pthread_mutex_unlock(&c->mu);
	}
}

size_t strata_cursor_range(const strata_cursor *c)
{
	return c && c->cur ? c->cur->range : 0;
}

int strata_cursor_view(strata_cursor *c, const void **data, size_t *len, uint64_t *n)
{
	if (!data || !len) {
		err_clear();
		return err_set(STRATA_EINVAL, "strata_cursor_view needs a cursor and output pointers");
	}
	strata_slice one;
	size_t got;
	int rc = strata_cursor_batch(c, &one, 1, &got, n);
	if (!rc) {
		*data = one.data;
		*len = one.len;
	}
	return rc;
}

int strata_cursor_next(strata_cursor *c, void **data, size_t *len, uint64_t *n)
{
	if (!c || !data || !len) {
		err_clear();
		return err_set(STRATA_EINVAL, "strata_cursor_next needs a cursor and output pointers");
	}
	const void *p;
	int rc = strata_cursor_view(c, &p, len, n);
	if (rc)
		return rc;
	uint8_t *copy = malloc(*len ? *len : 1);
	if (!copy)
		return ERR_NOMEM();
	memcpy(copy, p, *len);
	*data = copy;
	return 0;
}

void strata_cursor_close(strata_cursor *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->mu);
	for (unsigned w = 0; w < c->started; w++)
		pthread_join(c->threads[w], NULL);
	for (unsigned i = 0; c->ring && i < c->depth; i++)
		span_free(&c->ring[i]);
	for (unsigned w = 0; c->own && w < c->nthreads; w++)
		strata_close(c->own[w]);
	strata_close(c->plan);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->changed);
	free(c->own);
	free(c->threads);
	free(c->ring);
	for (size_t i = 0; i < c->nrange; i++)
		free(c->range[i].key);
	free(c->range);
	free(c);
}
