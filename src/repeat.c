/* repeat.c - records that repeat far back (repeat.h). */
#include "repeat.h"
#include "err.h"
#include "os.h"
#include "read.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* One content seen: where it was last put and, once pooled, its pool
 * entry (index + 1; 0: not pooled). */
typedef struct slot {
	uint64_t hash;
	uint64_t pos;
	uint32_t pooled;
	uint32_t used;
} slot;

typedef struct pooled {
	uint64_t n;       /* its record in the pool key */
	uint8_t *bytes;   /* a copy, to compare before referring to it */
	size_t len;
} pooled;

struct repeats {
	pthread_mutex_t mu;
	uint64_t far;
	uint64_t pos;      /* bytes put through the index so far */
	slot *slots;       /* REPEAT_SLOTS */
	pooled *pool;
	size_t npool, cap_pool;
	uint64_t pool_bytes;
};

int repeats_new(repeats **out, uint64_t far)
{
	/* The slots' pages are mapped and zeroed at once, not left to
	 * calloc's untouched zero pages: a lookup reads such a page first and
	 * the insert after it writes it, a second fault that replaces the
	 * shared zero page and so flushes it from every core's TLB while the
	 * pipeline's workers run. On bench/trace's load (two workers): 4,171
	 * TLB flushes -> 248, CPU 1.21 -> 1.16 s (medians of 7). The price:
	 * the 6 MiB are resident from the open, used or not. */
	repeats *r = calloc(1, sizeof *r);
	if (!r || !(r->slots = os_zeroed_pages(REPEAT_SLOTS * sizeof *r->slots))) {
		free(r);
		return ERR_NOMEM();
	}
	pthread_mutex_init(&r->mu, NULL);
	r->far = far;
	*out = r;
	return 0;
}

static void clear_locked(repeats *r)
{
	for (size_t i = 0; i < r->npool; i++)
		free(r->pool[i].bytes);
	r->npool = 0;
	r->pool_bytes = 0;
	memset(r->slots, 0, REPEAT_SLOTS * sizeof *r->slots);
}

void repeats_clear(repeats *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	clear_locked(r);
	pthread_mutex_unlock(&r->mu);
}

void repeats_free(repeats *r)
{
	if (!r)
		return;
	clear_locked(r);
	free(r->pool);
	os_zeroed_pages_free(r->slots, REPEAT_SLOTS * sizeof *r->slots);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* The slot of hash h, or the one to take for it: probe a few slots, and
 * when all are taken by other content, take the first not pooled (or the
 * first). */
#define PROBES 8
static slot *find(repeats *r, uint64_t h)
{
	slot *victim = NULL;
	for (unsigned i = 0; i < PROBES; i++) {
		slot *s = &r->slots[(h + i) & (REPEAT_SLOTS - 1)];
		if (s->used && s->hash == h)
			return s;
		if (!s->used)
			return s;
		if (!victim && !s->pooled)
			victim = s;
	}
	if (!victim)
		victim = &r->slots[h & (REPEAT_SLOTS - 1)];
	*victim = (slot){ 0 };
	return victim;
}

enum { AS_IS, REFER, POOL };

/* What to do with content of hash h: store it as is, refer to pool record
 * *n (compared byte for byte), or pool it. */
static int decide(repeats *r, const uint8_t *data, size_t len, uint64_t h, uint64_t *n)
{
	pthread_mutex_lock(&r->mu);
	slot *s = find(r, h);
	int what = AS_IS;
	if (s->used && s->pooled) {
		const pooled *p = &r->pool[s->pooled - 1];
		if (p->len == len && memcmp(p->bytes, data, len) == 0) {
			what = REFER;
			*n = p->n;
		}
	} else if (s->used && r->pos - s->pos >= r->far && r->pool_bytes + len <= REPEAT_POOL_MEM) {
		what = POOL;
	}
	if (!s->used)
		*s = (slot){ .hash = h, .used = 1 };
	s->pos = r->pos;
	r->pos += len;
	pthread_mutex_unlock(&r->mu);
	return what;
}

/* Note content of hash h as pool record n (a copy of its bytes). */
static int note_pooled(repeats *r, const uint8_t *data, size_t len, uint64_t h, uint64_t n)
{
	uint8_t *copy = malloc(len);
	if (!copy)
		return ERR_NOMEM();
	memcpy(copy, data, len);
	pthread_mutex_lock(&r->mu);
	int rc = 0;
	if (r->npool == r->cap_pool) {
		size_t nc = r->cap_pool ? r->cap_pool * 2 : 64;
		pooled *np = realloc(r->pool, nc * sizeof *np);
		if (np) {
			r->pool = np;
			r->cap_pool = nc;
		} else {
			rc = ERR_NOMEM();
		}
	}
	if (!rc) {
		slot *s = find(r, h);
		if (!s->used)
			*s = (slot){ .hash = h, .pos = r->pos, .used = 1 };
		r->pool[r->npool] = (pooled){ n, copy, len };
		s->pooled = (uint32_t)++r->npool;
		r->pool_bytes += len;
		copy = NULL;
	}
	pthread_mutex_unlock(&r->mu);
	free(copy);
	return rc;
}

int repeats_load(strata_store *s)
{
	uint64_t count = 0;
	int rc = catalog_key_count(s->cat, POOL_KEY, POOL_KEYLEN, &count);
	int cached = s->body_cache_on;
	s->body_cache_on = 1; /* pooled records share groups: decode each once */
	/* The newest first: they are the likeliest to repeat again. */
	for (uint64_t n = count; !rc && n > 0 && s->repeats->pool_bytes < REPEAT_POOL_MEM; n--) {
		uint8_t *p;
		size_t len;
		/* A damaged one is left out (verify reports it): a writer
		 * must still open the store. */
		if ((rc = read_record(s, POOL_KEY, POOL_KEYLEN, n, 0, &p, &len)) != 0) {
			if (rc == STRATA_ECORRUPT || rc == STRATA_EFORMAT || rc == STRATA_ENOTFOUND)
				rc = 0;
			continue;
		}
		if (s->repeats->pool_bytes + len <= REPEAT_POOL_MEM)
			rc = note_pooled(s->repeats, p, len, XXH3_64bits(p, len), n);
		free(p);
	}
	if (!cached)
		read_cache_clear(s);
	return rc ? err_prefix(rc, "reading the pooled records: ") : 0;
}

int repeat_put(strata_store *s, const void *key, size_t keylen, void *data, size_t len,
	       strata_release_fn *release, void *ctx, uint64_t *n_out)
{
	uint64_t h = XXH3_64bits(data, len), n = 0;
	int what = decide(s->repeats, data, len, h, &n), rc = 0;
	if (what == POOL) {
		uint8_t *copy = malloc(len);
		if (!copy) {
			if (release)
				release(ctx, data, len);
			return ERR_NOMEM();
		}
		memcpy(copy, data, len);
		rc = store_put_hinted(s, POOL_KEY, POOL_KEYLEN, NULL, copy, len, strata_release_free, NULL, &n);
		/* The index may miss it (memory): the record then stands alone. */
		if (!rc && note_pooled(s->repeats, data, len, h, n) != 0)
			err_clear();
		if (rc) {
			if (release)
				release(ctx, data, len);
			return rc;
		}
	}
	unitw_hint hint = { .pool = what == AS_IS ? 0 : n, .sum = h, .sum_given = 1 };
	return store_put_hinted(s, key, keylen, &hint, data, len, release, ctx, n_out);
}
