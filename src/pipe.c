/* pipe.c - the write pipeline (pipe.h, docs/threading.md).
 *
 * One mutex guards everything shared: the producers' key table and batches,
 * the two lists of work items (`ready`, what workers take, and `order`, every
 * item in sequence, what the writer takes from the head once it is done) and
 * the counters. Workers and the writer do their real work with the mutex
 * released, on what they alone own at that moment (an item taken from
 * `ready`, the head of `order`).
 */
#include "pipe.h"
#include "err.h"
#include "keymap.h"
#include "os.h"
#include "pack.h"
#include "store.h"
#include "unitw.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

/* The default queue: a group for each worker, one being filled and one
 * being written, within 64..256 MiB. More costs time where fresh memory is
 * dear (bench/README: 256 MiB loaded bench/trace a fifth slower than 64
 * MiB on 2 cores) and buys nothing once every worker has a group. */
#define PIPE_QUEUE_MIN (64ull << 20)
#define PIPE_QUEUE_MAX (256ull << 20)
#define MSG_MAX 512

typedef struct pkey pkey;
typedef struct prec_block prec_block;
typedef struct fetch fetch;

/* A record on its way: from pipe_put to the worker that codes it. */
typedef struct prec {
	struct prec *next;
	prec_block *blk;      /* the block it lies in */
	const pkey *key;      /* its key (the table outlives every item) */
	uint64_t n;
	int base_ok;          /* may be a base delta against n - 1's chain (or
			       * the hint's base) */
	unitw_hint hint;
	void *data;
	size_t len;
	strata_release_fn *release;
	void *ctx;
	fetch *fetch;         /* its coding against its base ahead, or NULL */
} prec;

/* Coding a record against its hinted base ahead. A record coded against
 * an earlier one (an archive's changed chunk against its similar
 * predecessor) costs its worker a read of that base, which may decode a
 * chain of groups, and a delta against it: most of the worker's time on
 * bench/archive's later units, and independent of the group the record
 * joins. A fetch, made at the put and queued, lets an idle worker do that
 * work while the producer still reads and the record's own worker codes
 * the records before it: the two cores share a unit whose records go to
 * one group. Under mu, but for the record and the result, which belong to
 * the worker that set F_BUSY until it sets F_DONE; the record's own worker
 * waits for that before it uses or releases the record. The queue and the
 * record hold a reference each. */
enum { F_WANT, F_BUSY, F_DONE, F_OFF }; /* F_OFF: called off before it began */
#define FETCH_HELD_MAX 4 /* fetches done and not yet used, at most */
#define FETCH_MIN (64u << 10) /* records shorter are coded in turn */

struct fetch {
	fetch *next;          /* in the queue */
	int refs, state;
	const prec *r;        /* its record, alive until the fetch is F_DONE or F_OFF */
	unitw_base got;
	size_t keylen;
	uint8_t key[];
};

/* precs are cut from blocks, a key's from its own (its records go to the
 * same batches), so that a put costs no malloc and a worker no free for
 * each record: a block is freed, by whichever thread, when the last of its
 * precs is done with. A key's first block holds PREC_BLOCK_MIN, each next
 * one twice the last, up to PREC_BLOCK_MAX (keys of few records, as an
 * archive's files, take little). */
#define PREC_BLOCK_MIN 4
#define PREC_BLOCK_MAX 512

struct prec_block {
	atomic_size_t refs;   /* precs not yet done with, + 1 while the key cuts from it */
	size_t used, cap;
	prec v[];
};

static void block_unref(prec_block *b)
{
	if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
		free(b);
}

/* Done with r: the caller has read r->next already. */
static void prec_done(prec *r)
{
	block_unref(r->blk);
}

/* A key put through this handle: the producers' view of it. */
/* What a record counts against the queue cap: its bytes, its prec and what
 * the allocator keeps beside the record's block. For a trace's small
 * records that bookkeeping is a third of what they hold. */
#define PREC_COST(len) ((uint64_t)(len) + sizeof(prec) + 32)

struct pkey {
	pkey *hnext;          /* hash chain */
	pkey *tnext;          /* keys with records in the unit in progress */
	uint64_t hash;
	uint64_t next_n;      /* number of the key's next record */
	uint64_t filed_seq;   /* the commit marker that files its last records
			       * (0: filed before the pipeline knew it) */
	int in_unit;          /* on the touched list */
	prec *head, *tail;    /* its batch: records not yet in a work item */
	prec_block *blk;      /* where its next prec is cut from, or NULL */
	uint64_t batch_bytes;   /* record bytes of the batch */
	uint64_t batch_cost;    /* what they count in flight (PREC_COST) */
	size_t len;
	uint8_t key[];
};

enum { W_BATCH, W_COMMIT, W_ROLLBACK };

typedef struct work {
	struct work *next_ready, *next_order;
	uint64_t seq;
	int kind;
	prec *recs;           /* W_BATCH: its records, in put order */
	uint64_t bytes;       /* W_BATCH: what they count in flight (PREC_COST) */
	uint64_t content;     /* W_BATCH: their content bytes */
	char *label;          /* W_COMMIT: owned, may be NULL */
	int waited;           /* W_COMMIT: a caller waits for it and frees it */
	int done;             /* ready for the writer */
	int processed;        /* the writer is through with it */
	pack_writer *piece;   /* W_BATCH: the coded piece */
	int rc;               /* its failure, with msg */
	char msg[MSG_MAX];
	uint64_t unit;        /* W_COMMIT: the unit made durable */
} work;

/* A worker's own coding state. */
typedef struct worker {
	pipe_t *p;
	pthread_t thread;
	group_coder *coder;
	strata_store *rh;     /* read-only handle for base records, or NULL */
	unitw *u;
	int u_bases;          /* u was made with rh: it may take base deltas */
	double cpu_s;         /* its CPU seconds after its last item (under mu) */
} worker;

struct pipe {
	strata_store *s;
	strata_pipeline_options o;
	int base_deltas;      /* the store's chains allow base deltas */
	pthread_mutex_t mu;
	pthread_cond_t room;      /* in-flight bytes went down */
	pthread_cond_t work_cv;   /* ready grew, or stop */
	pthread_cond_t done_cv;   /* an item became done, or stop */
	pthread_cond_t proc_cv;   /* the writer processed an item */
	pthread_cond_t fetch_cv;  /* a fetch is done */
	fetch *fq, **fq_tail;     /* fetches queued */
	int fetch_held;           /* fetches done whose record's worker has
				   * not taken the encoding yet */
	/* producers' key table, and their connection to the catalog */
	catalog *pcat;
	pkey **buckets;
	size_t nbuckets, nkeys;
	pkey *touched, **touched_tail;
	/* items */
	work *ready, **ready_tail, *order, **order_tail;
	uint64_t next_seq, processed_seq, durable_seq;
	/* accounting */
	uint64_t inflight, peak, blocked, groups_written, units_durable, last_durable;
	uint64_t bases_ahead;
	uint64_t since_commit;
	struct timespec commit_time;
	int sticky_rc;            /* a failure that holds until rollback */
	char sticky_msg[MSG_MAX];
	int stop;
	/* threads */
	worker *workers;
	int nworkers;
	pthread_t writer;
	int writer_started;
	double writer_cpu_s;      /* its CPU seconds after its last item (under mu) */
	/* the writer thread's own */
	catalog *wcat;
	pack_writer *pw;          /* the unit being written, or NULL */
	keymap *wkeys;            /* its keys: key -> footer index */
	uint32_t *kmap;
	size_t kmap_cap;
	uint64_t next_unit;
	int unit_rc;              /* the unit failed: rc and message */
	char unit_msg[MSG_MAX];
};

static void copy_msg(char *dst, const char *msg)
{
	snprintf(dst, MSG_MAX, "%s", msg);
}

/* f's encoding leaves it (taken, or freed with it): room for another. */
static void fetch_unhold(pipe_t *p, fetch *f) /* under mu */
{
	if (f->state == F_DONE && f->got.p) {
		p->fetch_held--;
		pthread_cond_signal(&p->work_cv);
	}
}

static void fetch_unref(pipe_t *p, fetch *f) /* under mu */
{
	if (--f->refs)
		return;
	fetch_unhold(p, f);
	unitw_base_clear(&f->got);
	free(f);
}

/* The record's worker is through with r's fetch (once a busy one is
 * done): *got, when given, takes a finished fetch's result; a fetch not
 * begun is called off. */
static void fetch_take(pipe_t *p, prec *r, unitw_base *got)
{
	fetch *f = r->fetch;
	r->fetch = NULL;
	pthread_mutex_lock(&p->mu);
	while (f->state == F_BUSY) /* it reads the record */
		pthread_cond_wait(&p->fetch_cv, &p->mu);
	if (f->state == F_WANT)
		f->state = F_OFF;
	if (got && f->state == F_DONE) {
		*got = f->got;
		p->bases_ahead += f->got.rc == 0;
		fetch_unhold(p, f);
		f->got = (unitw_base){ 0 };
	}
	fetch_unref(p, f);
	pthread_mutex_unlock(&p->mu);
}

static void release_recs(pipe_t *p, prec *r)
{
	while (r) {
		prec *next = r->next;
		if (r->fetch)
			fetch_take(p, r, NULL);
		if (r->release)
			r->release(r->ctx, r->data, r->len);
		prec_done(r);
		r = next;
	}
}

static int64_t ms_since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* ------------------------------------------------------------ items */

/* Append an item to `order` (and to `ready` for a batch). Under mu. */
static void push_work(pipe_t *p, work *w)
{
	w->seq = ++p->next_seq;
	*p->order_tail = w;
	p->order_tail = &w->next_order;
	if (w->kind == W_BATCH) {
		*p->ready_tail = w;
		p->ready_tail = &w->next_ready;
		pthread_cond_signal(&p->work_cv);
	} else {
		w->done = 1;
		pthread_cond_signal(&p->done_cv);
	}
}

/* Move records into a new batch item; on no memory they stay put. */
static int push_batch(pipe_t *p, prec *head, uint64_t bytes, uint64_t content)
{
	work *w = calloc(1, sizeof *w);
	if (!w)
		return ERR_NOMEM();
	w->kind = W_BATCH;
	w->recs = head;
	w->bytes = bytes;
	w->content = content;
	push_work(p, w);
	return 0;
}

static int push_key_batch(pipe_t *p, pkey *k)
{
	int rc = push_batch(p, k->head, k->batch_cost, k->batch_bytes);
	if (!rc) {
		k->head = k->tail = NULL;
		k->batch_bytes = k->batch_cost = 0;
	}
	return rc;
}

/* Queue r's fetch (without memory, its worker codes it in turn). */
static void queue_fetch(pipe_t *p, prec *r, const void *key, size_t keylen)
{
	fetch *f = malloc(sizeof *f + keylen);
	if (!f)
		return;
	*f = (fetch){ .refs = 2, .state = F_WANT, .r = r, .keylen = keylen };
	memcpy(f->key, key, keylen);
	r->fetch = f;
	*p->fq_tail = f;
	p->fq_tail = &f->next;
	pthread_cond_signal(&p->work_cv);
}

/* The partial batches of the unit in progress as items: a key's of a
 * quarter group or more alone, so that workers code them side by side
 * (on bench/trace the unit's tail went through one worker while the other
 * waited); the others as one item, key after key, so that small keys share
 * groups. Under mu. */
static int flush_partials(pipe_t *p)
{
	int rc = 0;
	for (pkey *k = p->touched; !rc && k; k = k->tnext)
		if (k->head && k->batch_bytes >= p->s->opts.group_cap / 4)
			rc = push_key_batch(p, k);
	prec *head = NULL, **tail = &head;
	uint64_t bytes = 0, content = 0;
	for (pkey *k = p->touched; !rc && k; k = k->tnext)
		if (k->head) {
			*tail = k->head;
			tail = &k->tail->next;
			bytes += k->batch_cost;
			content += k->batch_bytes;
		}
	if (rc || !head)
		return rc;
	rc = push_batch(p, head, bytes, content);
	if (rc) { /* undo the splice */
		for (pkey *k = p->touched; k; k = k->tnext)
			if (k->head)
				k->tail->next = NULL;
		return rc;
	}
	for (pkey *k = p->touched; k; k = k->tnext) {
		k->head = k->tail = NULL;
		k->batch_bytes = k->batch_cost = 0;
	}
	return 0;
}

/* Take every partial batch back (rollback, stop); the caller releases. */
static prec *take_partials(pipe_t *p)
{
	prec *head = NULL, **tail = &head;
	for (pkey *k = p->touched; k; k = k->tnext) {
		if (k->head) {
			*tail = k->head;
			tail = &k->tail->next;
			p->inflight -= k->batch_cost;
		}
		k->head = k->tail = NULL;
		k->batch_bytes = k->batch_cost = 0;
	}
	pthread_cond_broadcast(&p->room);
	return head;
}

/* ------------------------------------------------------------ key table */

static int table_grow(pipe_t *p)
{
	size_t nb = p->nbuckets ? p->nbuckets * 2 : 256;
	pkey **b = calloc(nb, sizeof *b);
	if (!b)
		return ERR_NOMEM();
	for (size_t i = 0; i < p->nbuckets; i++)
		for (pkey *k = p->buckets[i], *next; k; k = next) {
			next = k->hnext;
			k->hnext = b[k->hash & (nb - 1)];
			b[k->hash & (nb - 1)] = k;
		}
	free(p->buckets);
	p->buckets = b;
	p->nbuckets = nb;
	return 0;
}

static void table_clear(pipe_t *p)
{
	for (size_t i = 0; i < p->nbuckets; i++)
		for (pkey *k = p->buckets[i], *next; k; k = next) {
			next = k->hnext;
			block_unref(k->blk);
			free(k);
		}
	free(p->buckets);
	p->buckets = NULL;
	p->nbuckets = p->nkeys = 0;
	p->touched = NULL;
	p->touched_tail = &p->touched;
}

/* The key's entry; a key new to the table starts after its catalogued
 * records (the one catalog read a producer makes). Under mu. */
static int key_get(pipe_t *p, const void *key, size_t keylen, pkey **out)
{
	uint64_t h = XXH3_64bits(key, keylen);
	if (p->nbuckets)
		for (pkey *k = p->buckets[h & (p->nbuckets - 1)]; k; k = k->hnext)
			if (k->hash == h && k->len == keylen && !memcmp(k->key, key, keylen)) {
				*out = k;
				return 0;
			}
	uint64_t count;
	int rc = catalog_key_count(p->pcat, key, keylen, &count);
	if (rc)
		return rc;
	if (p->nkeys >= p->nbuckets && (rc = table_grow(p)) != 0)
		return rc;
	pkey *k = calloc(1, sizeof *k + keylen);
	if (!k)
		return ERR_NOMEM();
	k->hash = h;
	k->next_n = count + 1;
	k->len = keylen;
	memcpy(k->key, key, keylen);
	k->hnext = p->buckets[h & (p->nbuckets - 1)];
	p->buckets[h & (p->nbuckets - 1)] = k;
	p->nkeys++;
	*out = k;
	return 0;
}

/* ------------------------------------------------------------ workers */

static int worker_setup(worker *wk)
{
	pipe_t *p = wk->p;
	strata_store *s = p->s;
	int rc = wk->coder ? 0 : group_coder_new(&wk->coder);
	if (!rc && p->base_deltas && !wk->rh && strata_open(&wk->rh, s->root, STRATA_OPEN_READ | STORE_OPEN_PEER, NULL))
		wk->rh = NULL; /* no base deltas for this worker, then */
	if (!rc && wk->u && wk->rh && !wk->u_bases) { /* rh came late */
		unitw_free(wk->u);
		wk->u = NULL;
	}
	if (rc || wk->u)
		return rc;
	wk->u_bases = wk->rh != NULL;
	unitw_config cfg = { .packs_dir = NULL, .group_cap = s->opts.group_cap, .codec_of = store_codec_of,
			     .codec_ctx = s, .chain_max = s->opts.chain_max, .read_cost_max = s->opts.read_cost_max,
			     .delta_above = s->opts.delta_above,
			     .store = wk->rh, .cat = wk->rh ? wk->rh->cat : NULL, .coder = wk->coder };
	return unitw_new(&wk->u, &cfg);
}

static int fetch_ready(const pipe_t *p)
{
	return p->fq && p->fetch_held < FETCH_HELD_MAX;
}

/* CPU seconds the calling thread has used; 0 where the system cannot
 * tell. A system call: once per item, not per record. */
static double own_cpu_s(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Do a queued fetch, if there is one and room to hold its result. Under
 * mu, released while coding; wk is between items. */
static void run_fetch(worker *wk)
{
	pipe_t *p = wk->p;
	while (fetch_ready(p)) {
		fetch *f = p->fq;
		p->fq = f->next;
		if (!p->fq)
			p->fq_tail = &p->fq;
		if (f->state != F_WANT) {
			fetch_unref(p, f);
			continue;
		}
		f->state = F_BUSY;
		pthread_mutex_unlock(&p->mu);
		unitw_base got = { .rc = -1 };
		if (worker_setup(wk))
			err_clear(); /* the record's worker meets it again */
		if (wk->u && wk->u_bases)
			unitw_fetch_base(wk->u, f->key, f->keylen, &f->r->hint, f->r->data, f->r->len, &got);
		double cpu = own_cpu_s();
		pthread_mutex_lock(&p->mu);
		wk->cpu_s = cpu;
		f->got = got;
		f->state = F_DONE;
		p->fetch_held += got.p != NULL;
		pthread_cond_broadcast(&p->fetch_cv);
		fetch_unref(p, f);
		return;
	}
}

/* Code one batch into a piece. Every record is released, whatever happens. */
static void code_batch(worker *wk, work *w)
{
	pipe_t *p = wk->p;
	int rc = worker_setup(wk);
	prec *r = w->recs;
	w->recs = NULL;
	if (!rc)
		unitw_expect(wk->u, w->content);
	while (!rc && r) {
		prec *next = r->next;
		unitw_base got = { .rc = -1 }, *pre = NULL;
		if (r->fetch) { /* a record of no fetch (most) takes no lock */
			fetch_take(p, r, &got);
			pre = &got;
		}
		rc = unitw_put_numbered(wk->u, r->key->key, r->key->len, r->n, r->base_ok && wk->u_bases, &r->hint,
					r->data, r->len, r->release, r->ctx, pre);
		prec_done(r);
		r = next;
	}
	if (!rc)
		rc = unitw_take_piece(wk->u, &w->piece);
	if (rc) {
		w->rc = rc;
		copy_msg(w->msg, strata_errmsg());
		release_recs(p, r);
		unitw_free(wk->u); /* a fresh one for the next item */
		wk->u = NULL;
	}
}

static void *worker_main(void *arg)
{
	worker *wk = arg;
	pipe_t *p = wk->p;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->ready && !fetch_ready(p) && !p->stop)
			pthread_cond_wait(&p->work_cv, &p->mu);
		work *w = p->ready;
		if (!w && p->stop)
			break;
		if (!w) {
			run_fetch(wk);
			continue;
		}
		p->ready = w->next_ready;
		if (!p->ready)
			p->ready_tail = &p->ready;
		pthread_mutex_unlock(&p->mu);
		code_batch(wk, w);
		double cpu = own_cpu_s();
		pthread_mutex_lock(&p->mu);
		wk->cpu_s = cpu;
		w->done = 1;
		pthread_cond_signal(&p->done_cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* ------------------------------------------------------------ writer */

static void writer_fail(pipe_t *p, int rc, const char *msg)
{
	if (!p->unit_rc) {
		p->unit_rc = rc;
		copy_msg(p->unit_msg, msg);
	}
}

static void writer_reset(pipe_t *p)
{
	pack_writer_free(p->pw); /* removes an unfinished temporary pack */
	p->pw = NULL;
	keymap_free(p->wkeys);
	p->wkeys = NULL;
	p->unit_rc = 0;
}

static int writer_begin(pipe_t *p)
{
	if (p->pw)
		return 0;
	int rc = keymap_new(&p->wkeys);
	if (!rc)
		rc = pack_writer_new(&p->pw, p->s->packs, p->next_unit, p->next_unit, (int64_t)time(NULL));
	return rc;
}

/* Append a piece to the unit's pack, its keys mapped to the pack's. */
static int writer_append(pipe_t *p, const pack_writer *piece)
{
	int rc = writer_begin(p);
	const pack_footer *f = pack_writer_footer(piece);
	if (!rc && f->nkeys > p->kmap_cap) {
		uint32_t *m = realloc(p->kmap, f->nkeys * sizeof *m);
		if (!m)
			return ERR_NOMEM();
		p->kmap = m;
		p->kmap_cap = f->nkeys;
	}
	for (size_t i = 0; !rc && i < f->nkeys; i++) {
		keymap_val *v = keymap_get(p->wkeys, f->keys[i].p, f->keys[i].len);
		uint32_t idx;
		if (!v && !(rc = pack_writer_add_key(p->pw, f->keys[i].p, f->keys[i].len, &idx)))
			rc = keymap_put(p->wkeys, f->keys[i].p, f->keys[i].len, (keymap_val){ idx, 0, 0 }, &v);
		if (!rc)
			p->kmap[i] = v->idx;
	}
	if (!rc)
		rc = pack_writer_append(p->pw, piece, p->kmap, p->next_unit);
	return rc;
}

/* Finish the unit's pack, make it durable and file it. */
static int writer_commit(pipe_t *p, const char *label, uint64_t *unit)
{
	if (p->unit_rc)
		return err_set(p->unit_rc, "%s", p->unit_msg);
	uint64_t bytes;
	int rc = writer_begin(p);
	if (!rc)
		rc = pack_writer_add_unit(p->pw, p->next_unit, (int64_t)time(NULL), label, label ? strlen(label) : 0);
	if (!rc)
		rc = pack_writer_finish(p->pw, &bytes);
	if (!rc && (rc = store_file_pack_in(p->s, p->wcat, pack_writer_footer(p->pw), pack_writer_name(p->pw),
					    bytes)) != 0) {
		os_unlink(pack_writer_path(p->pw)); /* no unit without its catalog rows */
		os_fsync_dir(p->s->packs);
	}
	if (!rc)
		*unit = p->next_unit++;
	return rc;
}

static void writer_process(pipe_t *p, work *w)
{
	if (w->kind == W_BATCH) {
		if (w->rc)
			writer_fail(p, w->rc, w->msg);
		else if (!p->unit_rc) {
			int rc = writer_append(p, w->piece);
			if (rc)
				writer_fail(p, rc, strata_errmsg());
		}
		pack_writer_free(w->piece);
		w->piece = NULL;
	} else if (w->kind == W_COMMIT) {
		w->rc = writer_commit(p, w->label, &w->unit);
		if (w->rc)
			copy_msg(w->msg, strata_errmsg());
		writer_reset(p);
	} else {
		writer_reset(p);
	}
}

static void *writer_main(void *arg)
{
	pipe_t *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!(p->order && p->order->done) && !(p->stop && !p->order))
			pthread_cond_wait(&p->done_cv, &p->mu);
		work *w = p->order;
		if (!w)
			break;
		p->order = w->next_order;
		if (!p->order)
			p->order_tail = &p->order;
		pthread_mutex_unlock(&p->mu);
		size_t groups = w->piece ? pack_writer_footer(w->piece)->ngroups : 0;
		writer_process(p, w);
		double cpu = own_cpu_s();
		pthread_mutex_lock(&p->mu);
		p->writer_cpu_s = cpu;
		p->processed_seq = w->seq;
		p->inflight -= w->bytes;
		p->groups_written += groups;
		if (w->kind == W_BATCH && w->rc && !p->sticky_rc) {
			p->sticky_rc = w->rc;
			copy_msg(p->sticky_msg, w->msg);
		}
		if (w->kind == W_COMMIT && !w->rc) {
			p->durable_seq = w->seq;
			p->units_durable++;
			p->last_durable = w->unit;
		} else if (w->kind == W_COMMIT && !p->sticky_rc) {
			p->sticky_rc = w->rc;
			copy_msg(p->sticky_msg, w->msg);
		}
		pthread_cond_broadcast(&p->room);
		pthread_cond_broadcast(&p->proc_cv);
		if (w->kind != W_COMMIT || !w->waited) {
			free(w->label);
			free(w);
		} else {
			w->processed = 1;
		}
	}
	pthread_mutex_unlock(&p->mu);
	writer_reset(p);
	return NULL;
}

/* ------------------------------------------------------------ the API */

static int sticky(pipe_t *p)
{
	return err_set(STRATA_EIO, "an earlier write failed, the unit is lost (%s); roll back", p->sticky_msg);
}

/* Queue a commit marker after every partial batch. Under mu. */
static int queue_commit(pipe_t *p, const char *label, int waited, work **out)
{
	work *w = calloc(1, sizeof *w);
	if (!w || (label && !(w->label = strdup(label)))) {
		free(w);
		return ERR_NOMEM();
	}
	int rc = flush_partials(p);
	if (rc) {
		free(w->label);
		free(w);
		return rc;
	}
	w->kind = W_COMMIT;
	w->waited = waited;
	push_work(p, w);
	for (pkey *k = p->touched; k; k = k->tnext) {
		k->filed_seq = w->seq;
		k->in_unit = 0;
		block_unref(k->blk); /* a key of no more puts keeps no block */
		k->blk = NULL;
	}
	p->touched = NULL;
	p->touched_tail = &p->touched;
	p->since_commit = 0;
	clock_gettime(CLOCK_MONOTONIC, &p->commit_time);
	*out = w;
	return 0;
}

/* Wait until a put that counts `cost` fits under the cap. Under mu. */
static int wait_room(pipe_t *p, uint64_t cost)
{
	int counted = 0;
	while (p->inflight > 0 && p->inflight + cost > p->o.queue_bytes && !p->sticky_rc) {
		if (!counted++)
			p->blocked++;
		int rc = flush_partials(p); /* so that what is in flight can drain */
		if (rc)
			return rc;
		pthread_cond_wait(&p->room, &p->mu);
	}
	return p->sticky_rc ? sticky(p) : 0;
}

/* Make sure k's block has room for a prec (under mu). */
static int cut_prec(pkey *k)
{
	prec_block *b = k->blk;
	if (b && b->used < b->cap)
		return 0;
	size_t cap = b ? (b->cap < PREC_BLOCK_MAX ? b->cap * 2 : PREC_BLOCK_MAX) : PREC_BLOCK_MIN;
	prec_block *nb = malloc(sizeof *nb + cap * sizeof nb->v[0]);
	if (!nb)
		return ERR_NOMEM();
	atomic_init(&nb->refs, 1);
	nb->used = 0;
	nb->cap = cap;
	block_unref(b);
	k->blk = nb;
	return 0;
}

int pipe_put(pipe_t *p, const void *key, size_t keylen, const unitw_hint *hint, void *data, size_t len,
	     strata_release_fn *release, void *ctx, uint64_t *n_out)
{
	pthread_mutex_lock(&p->mu);
	pkey *k = NULL;
	int rc = p->sticky_rc ? sticky(p) : 0;
	if (!rc)
		rc = key_get(p, key, keylen, &k);
	if (!rc)
		rc = wait_room(p, PREC_COST(len));
	if (!rc)
		rc = cut_prec(k);
	if (rc) {
		pthread_mutex_unlock(&p->mu);
		if (release)
			release(ctx, data, len);
		return rc;
	}
	prec_block *b = k->blk;
	prec *r = &b->v[b->used++];
	atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
	*r = (prec){ NULL, b, k, k->next_n++, 0, { 0 }, data, len, release, ctx, NULL };
	if (hint)
		r->hint = *hint;
	/* A hint's base is committed already; n - 1 must be durable. */
	r->base_ok = p->base_deltas &&
		     (r->hint.base ? 1 : !k->in_unit && r->n > 1 && k->filed_seq <= p->durable_seq);
	if (r->hint.base && r->base_ok && len >= FETCH_MIN)
		queue_fetch(p, r, key, keylen);
	if (!k->in_unit) {
		k->in_unit = 1;
		k->tnext = NULL;
		*p->touched_tail = k;
		p->touched_tail = &k->tnext;
	}
	if (k->tail)
		k->tail->next = r;
	else
		k->head = r;
	k->tail = r;
	k->batch_bytes += len;
	k->batch_cost += PREC_COST(len);
	p->inflight += PREC_COST(len);
	if (p->inflight > p->peak)
		p->peak = p->inflight;
	p->since_commit += len;
	/* A batch is pushed once it fills a group; a push that fails for want
	 * of memory is retried by the next put or the commit. */
	if (k->batch_bytes >= p->s->opts.group_cap)
		push_key_batch(p, k);
	work *w;
	if ((p->o.durable_bytes && p->since_commit >= p->o.durable_bytes) ||
	    (p->o.durable_ms && ms_since(&p->commit_time) >= (int64_t)p->o.durable_ms))
		queue_commit(p, "auto", 0, &w); /* on failure: tried again at the next put */
	uint64_t n = r->n;
	pthread_mutex_unlock(&p->mu);
	err_clear();
	if (n_out)
		*n_out = n;
	return 0;
}

int pipe_commit(pipe_t *p, const char *label, int wait, uint64_t *unit_out)
{
	pthread_mutex_lock(&p->mu);
	work *w = NULL;
	int rc = p->sticky_rc ? sticky(p) : queue_commit(p, label, wait, &w);
	if (rc || !wait) {
		pthread_mutex_unlock(&p->mu);
		if (rc && wait) { /* the unit is lost: start clean */
			char msg[MSG_MAX];
			copy_msg(msg, strata_errmsg());
			pipe_rollback(p);
			err_set(rc, "%s", msg);
		}
		return rc;
	}
	while (!w->processed)
		pthread_cond_wait(&p->proc_cv, &p->mu);
	rc = w->rc;
	char msg[MSG_MAX];
	copy_msg(msg, w->msg);
	if (!rc && unit_out)
		*unit_out = w->unit;
	free(w->label);
	free(w);
	pthread_mutex_unlock(&p->mu);
	if (rc) {
		pipe_rollback(p);
		return err_set(rc, "%s", msg);
	}
	return 0;
}

int pipe_wait(pipe_t *p, uint64_t *unit_out)
{
	pthread_mutex_lock(&p->mu);
	uint64_t target = p->next_seq;
	while (p->processed_seq < target)
		pthread_cond_wait(&p->proc_cv, &p->mu);
	int rc = p->sticky_rc ? sticky(p) : 0;
	if (unit_out)
		*unit_out = p->last_durable;
	pthread_mutex_unlock(&p->mu);
	return rc;
}

int pipe_rollback(pipe_t *p)
{
	work *w = calloc(1, sizeof *w);
	if (!w)
		return ERR_NOMEM();
	w->kind = W_ROLLBACK;
	pthread_mutex_lock(&p->mu);
	prec *dropped = take_partials(p);
	push_work(p, w);
	uint64_t target = w->seq;
	while (p->processed_seq < target)
		pthread_cond_wait(&p->proc_cv, &p->mu);
	/* Everything is processed: forget the numbering, which may count
	 * records that were never filed, and the failure. */
	table_clear(p);
	p->sticky_rc = 0;
	p->sticky_msg[0] = 0;
	p->since_commit = 0;
	pthread_mutex_unlock(&p->mu);
	release_recs(p, dropped);
	return 0;
}

int pipe_pending(pipe_t *p)
{
	pthread_mutex_lock(&p->mu);
	int pending = p->touched != NULL;
	pthread_mutex_unlock(&p->mu);
	return pending;
}

void pipe_stats(pipe_t *p, strata_pipeline_stats *out)
{
	pthread_mutex_lock(&p->mu);
	*out = (strata_pipeline_stats){ p->nworkers, p->o.queue_bytes, p->inflight, p->peak, p->blocked,
					p->groups_written, p->units_durable, p->last_durable,
					p->bases_ahead, 0, p->writer_cpu_s };
	for (int i = 0; i < p->nworkers; i++)
		out->coding_cpu_s += p->workers[i].cpu_s;
	pthread_mutex_unlock(&p->mu);
}

static void pipe_free(pipe_t *p)
{
	for (int i = 0; i < p->nworkers; i++) {
		unitw_free(p->workers[i].u);
		group_coder_free(p->workers[i].coder);
		strata_close(p->workers[i].rh);
	}
	free(p->workers);
	while (p->fq) {
		fetch *f = p->fq;
		p->fq = f->next;
		fetch_unref(p, f);
	}
	table_clear(p);
	catalog_close(p->wcat);
	catalog_close(p->pcat);
	free(p->kmap);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->room);
	pthread_cond_destroy(&p->work_cv);
	pthread_cond_destroy(&p->done_cv);
	pthread_cond_destroy(&p->proc_cv);
	pthread_cond_destroy(&p->fetch_cv);
	free(p);
}

/* Join whatever threads started; every item must be processed. */
static void pipe_join(pipe_t *p, int started_workers)
{
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->work_cv);
	pthread_cond_broadcast(&p->done_cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < started_workers; i++)
		pthread_join(p->workers[i].thread, NULL);
	if (p->writer_started)
		pthread_join(p->writer, NULL);
}

int pipe_start(pipe_t **out, strata_store *s, const strata_pipeline_options *o)
{
	pipe_t *p = calloc(1, sizeof *p);
	if (!p)
		return ERR_NOMEM();
	p->s = s;
	p->o = *o;
	if (p->o.workers <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		p->o.workers = n > 0 ? (n > 64 ? 64 : (int)n) : 1;
	}
	if (!p->o.queue_bytes) {
		uint64_t q = s->opts.group_cap * (uint64_t)(p->o.workers + 2);
		p->o.queue_bytes = q < PIPE_QUEUE_MIN ? PIPE_QUEUE_MIN : q > PIPE_QUEUE_MAX ? PIPE_QUEUE_MAX : q;
	}
	p->base_deltas = s->opts.chain_max > 1;
	p->touched_tail = &p->touched;
	p->ready_tail = &p->ready;
	p->order_tail = &p->order;
	p->fq_tail = &p->fq;
	clock_gettime(CLOCK_MONOTONIC, &p->commit_time);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->room, NULL);
	pthread_cond_init(&p->work_cv, NULL);
	pthread_cond_init(&p->done_cv, NULL);
	pthread_cond_init(&p->proc_cv, NULL);
	pthread_cond_init(&p->fetch_cv, NULL);
	int rc = store_next_unit(s, &p->next_unit);
	if (!rc)
		rc = catalog_open(&p->wcat, s->catalog_path, 1);
	if (!rc)
		rc = catalog_open(&p->pcat, s->catalog_path, 0);
	if (!rc && !(p->workers = calloc((size_t)p->o.workers, sizeof *p->workers)))
		rc = ERR_NOMEM();
	p->nworkers = rc ? 0 : p->o.workers;
	int started = 0;
	for (; !rc && started < p->nworkers; started++) {
		p->workers[started].p = p;
		if (pthread_create(&p->workers[started].thread, NULL, worker_main, &p->workers[started]))
			rc = err_set(STRATA_EIO, "cannot start a pipeline worker thread");
	}
	if (rc && started)
		started--; /* the one that failed */
	if (!rc) {
		if (pthread_create(&p->writer, NULL, writer_main, p))
			rc = err_set(STRATA_EIO, "cannot start the pipeline writer thread");
		else
			p->writer_started = 1;
	}
	if (rc) {
		pipe_join(p, started);
		pipe_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void pipe_stop(pipe_t *p)
{
	if (!p)
		return;
	pipe_rollback(p); /* drains, and removes an unfinished unit's pack */
	pipe_join(p, p->nworkers);
	pipe_free(p);
}
