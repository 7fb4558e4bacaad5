/* cursor.c - strata_cursor: sequential reads decoded ahead on a thread.
 *
 * One producer thread (the prefetcher) and one consumer (the caller) share a
 * ring of `depth` slots under one mutex. The prefetcher owns its own store
 * handle; a slot is filled by the prefetcher and emptied by the consumer, so
 * each record's buffer has exactly one owner at a time. close() sets `stop`,
 * wakes the prefetcher, joins it and frees what is left in the ring.
 */
#include "err.h"
#include "store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
	void *data;      /* the record, or NULL */
	size_t len;
	uint64_t n;
	int rc;          /* nonzero: reading record n failed */
	char msg[512];   /* the failure's message */
} slot;

struct strata_cursor {
	strata_store *own;      /* the prefetcher's handle */
	uint8_t *key;
	size_t keylen;
	uint64_t next_n, last_n; /* records still to read: next_n..last_n */
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t changed;  /* a slot was filled or emptied, or stop set */
	slot *ring;
	unsigned depth;
	unsigned head, count;    /* first full slot, number of full slots */
	int stop;                /* close() asks the prefetcher to end */
	int producer_done;       /* the prefetcher has produced its last slot */
};

static void *prefetch_main(void *arg)
{
	strata_cursor *c = arg;
	for (uint64_t n = c->next_n; n <= c->last_n; n++) {
		slot sl = { NULL, 0, n, 0, "" };
		sl.rc = strata_get(c->own, c->key, c->keylen, n, &sl.data, &sl.len);
		if (sl.rc)
			snprintf(sl.msg, sizeof sl.msg, "%s", strata_errmsg());
		pthread_mutex_lock(&c->mu);
		while (c->count == c->depth && !c->stop)
			pthread_cond_wait(&c->changed, &c->mu);
		if (c->stop) {
			pthread_mutex_unlock(&c->mu);
			strata_buf_free(sl.data);
			break;
		}
		c->ring[(c->head + c->count) % c->depth] = sl;
		c->count++;
		int failed = sl.rc != 0;
		pthread_cond_broadcast(&c->changed);
		pthread_mutex_unlock(&c->mu);
		if (failed)
			break;
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
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->changed, NULL);
	rc = c->key && c->ring ? 0 : ERR_NOMEM();
	if (!rc) {
		memcpy(c->key, key, keylen);
		rc = strata_open(&c->own, s->root, STRATA_OPEN_READ, NULL);
	}
	if (!rc) /* records in a row share groups: decode each group once */
		c->own->body_cache_on = 1;
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
	pthread_mutex_lock(&c->mu);
	while (c->count == 0 && !c->producer_done)
		pthread_cond_wait(&c->changed, &c->mu);
	if (c->count == 0) {
		pthread_mutex_unlock(&c->mu);
		return err_set(STRATA_ENOTFOUND, "no more records");
	}
	slot sl = c->ring[c->head];
	c->ring[c->head] = (slot){ 0 };
	c->head = (c->head + 1) % c->depth;
	c->count--;
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->mu);
	if (sl.rc)
		return err_set(sl.rc, "%s", sl.msg);
	*data = sl.data;
	*len = sl.len;
	if (n)
		*n = sl.n;
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
	for (unsigned i = 0; c->ring && i < c->depth; i++)
		strata_buf_free(c->ring[i].data);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->changed);
	strata_close(c->own);
	free(c->ring);
	free(c->key);
	free(c);
}
