/* cursor.c - strata_cursor: sequential reads decoded ahead on a thread.
 *
 * One producer thread (the prefetcher) and one consumer (the caller) share a
 * ring of `depth` slots under one mutex. The prefetcher owns its own store
 * handle; a slot is filled by the prefetcher and emptied by the consumer, so
 * each record's buffer has exactly one owner at a time. Records cross in
 * batches, one lock for many: the prefetcher decodes a batch before it takes
 * the lock, and the consumer takes every full slot at once into a local
 * batch it then reads without the lock. close() sets `stop`, wakes the
 * prefetcher, joins it and frees what is left in the ring and the batches.
 */
#include "catalog.h"
#include "err.h"
#include "store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A batch closes at this many records or bytes of them; records of more
 * than CURSOR_RING_BYTES in all wait until the ring is empty. */
#define CURSOR_BATCH 256
#define CURSOR_BATCH_BYTES (4u << 20)
#define CURSOR_RING_BYTES (64u << 20)

typedef struct slot {
	void *data;      /* the record, or NULL */
	size_t len;
	uint64_t n;
	int rc;          /* nonzero: reading record n failed */
	char *msg;       /* the failure's message (malloc'd), or NULL */
} slot;

/* Slots taken out of the ring by one side, used in order. */
typedef struct batch {
	slot *v;
	unsigned n, at;
} batch;

struct strata_cursor {
	strata_store *own;      /* the prefetcher's handle */
	uint8_t *key;
	size_t keylen;
	uint64_t next_n, last_n; /* records still to read: next_n..last_n */
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t changed;  /* slots were filled or emptied, or stop set */
	slot *ring;
	unsigned depth;
	unsigned head, count;    /* first full slot, number of full slots */
	size_t ring_bytes;       /* record bytes in full slots */
	int stop;                /* close() asks the prefetcher to end */
	int producer_done;       /* the prefetcher has produced its last slot */
	batch in, out;           /* the prefetcher's and the caller's */
};

static void slot_free(slot *sl)
{
	strata_buf_free(sl->data);
	free(sl->msg);
	*sl = (slot){ 0 };
}

/* Decode the next batch into c->in, *bytes its records' bytes; returns
 * nonzero after a failure (the batch ends with it). */
static int decode_batch(strata_cursor *c, unsigned cap, size_t *bytes)
{
	*bytes = 0;
	c->in.n = 0;
	while (c->in.n < cap && *bytes < CURSOR_BATCH_BYTES && c->next_n <= c->last_n) {
		slot *sl = &c->in.v[c->in.n++];
		*sl = (slot){ .n = c->next_n++ };
		sl->rc = strata_get(c->own, c->key, c->keylen, sl->n, &sl->data, &sl->len);
		if (sl->rc) {
			sl->msg = strdup(strata_errmsg());
			return 1;
		}
		*bytes += sl->len;
	}
	return 0;
}

static void *prefetch_main(void *arg)
{
	strata_cursor *c = arg;
	/* Half the ring per batch, so decoding overlaps the caller's reading. */
	unsigned cap = c->depth / 2 ? c->depth / 2 : 1;
	if (cap > CURSOR_BATCH)
		cap = CURSOR_BATCH;
	int failed = 0, stopped = 0;
	while (!failed && !stopped && c->next_n <= c->last_n) {
		size_t bytes;
		failed = decode_batch(c, cap, &bytes);
		pthread_mutex_lock(&c->mu);
		while (!c->stop && (c->count + c->in.n > c->depth ||
				    (c->count && c->ring_bytes + bytes > CURSOR_RING_BYTES)))
			pthread_cond_wait(&c->changed, &c->mu);
		stopped = c->stop;
		if (!stopped) {
			for (unsigned i = 0; i < c->in.n; i++) {
				c->ring[(c->head + c->count) % c->depth] = c->in.v[i];
				c->in.v[i] = (slot){ 0 };
				c->count++;
			}
			c->ring_bytes += bytes;
			c->in.n = 0;
			pthread_cond_broadcast(&c->changed);
		}
		pthread_mutex_unlock(&c->mu);
	}
	pthread_mutex_lock(&c->mu);
	c->producer_done = 1;
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int strata_cursor_open(strata_cursor **out, strata_store *s, const void *key, size_t keylen, uint64_t from,
		       uint64_t count, unsigned prefetch)
{
	err_clear();
	if (!out || !s || !key || keylen == 0)
		return err_set(STRATA_EINVAL, "strata_cursor_open needs a store and a key");
	uint64_t total;
	int rc = strata_record_count(s, key, keylen, &total);
	if (rc)
		return rc;
	if (from == 0)
		from = 1;
	strata_cursor *c = calloc(1, sizeof *c);
	if (!c)
		return ERR_NOMEM();
	c->depth = prefetch ? prefetch : 1;
	c->next_n = from;
	c->last_n = count && from + count - 1 < total ? from + count - 1 : total;
	c->keylen = keylen;
	c->key = malloc(keylen);
	c->ring = calloc(c->depth, sizeof *c->ring);
	c->in.v = calloc(c->depth, sizeof *c->in.v);
	c->out.v = calloc(c->depth, sizeof *c->out.v);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->changed, NULL);
	rc = c->key && c->ring && c->in.v && c->out.v ? 0 : ERR_NOMEM();
	if (!rc) {
		memcpy(c->key, key, keylen);
		rc = strata_open(&c->own, s->root, STRATA_OPEN_READ, NULL);
	}
	if (!rc) { /* records in a row share groups and runs: decode each once */
		c->own->body_cache_on = 1;
		catalog_sequential(c->own->cat, 1);
	}
	if (!rc && pthread_create(&c->thread, NULL, prefetch_main, c) != 0)
		rc = err_set(STRATA_ENOMEM, "cannot start the prefetch thread");
	if (rc) {
		strata_cursor_close(c);
		return rc;
	}
	c->started = 1;
	*out = c;
	return 0;
}

int strata_cursor_next(strata_cursor *c, void **data, size_t *len, uint64_t *n)
{
	err_clear();
	if (!c || !data || !len)
		return err_set(STRATA_EINVAL, "strata_cursor_next needs a cursor and output pointers");
	if (c->out.at == c->out.n) {
		c->out.at = c->out.n = 0;
		pthread_mutex_lock(&c->mu);
		while (c->count == 0 && !c->producer_done)
			pthread_cond_wait(&c->changed, &c->mu);
		for (; c->count; c->count--) {
			c->out.v[c->out.n++] = c->ring[c->head];
			c->ring[c->head] = (slot){ 0 };
			c->head = (c->head + 1) % c->depth;
		}
		c->ring_bytes = 0;
		pthread_cond_broadcast(&c->changed);
		pthread_mutex_unlock(&c->mu);
		if (c->out.n == 0)
			return err_set(STRATA_ENOTFOUND, "no more records");
	}
	slot *sl = &c->out.v[c->out.at++];
	if (sl->rc) { /* the last slot there will be */
		int rc = err_set(sl->rc, "%s", sl->msg ? sl->msg : "reading ahead failed");
		slot_free(sl);
		return rc;
	}
	*data = sl->data;
	*len = sl->len;
	if (n)
		*n = sl->n;
	*sl = (slot){ 0 };
	return 0;
}

void strata_cursor_close(strata_cursor *c)
{
	if (!c)
		return;
	if (c->started) {
		pthread_mutex_lock(&c->mu);
		c->stop = 1;
		pthread_cond_broadcast(&c->changed);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->thread, NULL);
	}
	for (unsigned i = 0; i < c->depth; i++) {
		if (c->ring)
			slot_free(&c->ring[i]);
		if (c->in.v)
			slot_free(&c->in.v[i]);
		if (c->out.v)
			slot_free(&c->out.v[i]);
	}
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->changed);
	strata_close(c->own);
	free(c->ring);
	free(c->in.v);
	free(c->out.v);
	free(c->key);
	free(c);
}
