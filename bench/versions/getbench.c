/*
 * getbench: time random strata_get calls on a store, through the public API
 * only (include/strata.h).
 *
 *   getbench STORE [N [SEED]]
 *
 * Opens STORE read-only, lists every key with strata_foreach_key (and its
 * record count with strata_record_count), picks N random (key, n) pairs with
 * a fixed seed (key uniform among keys, n uniform in 1..records), gets each
 * once untimed (warm cache), then gets each again timed with
 * clock_gettime(CLOCK_MONOTONIC) around strata_get alone, reading
 * strata_read_cost_get after every get. Prints "name value" lines:
 *
 *   gets, keys, records       sample size, keys and records in the store
 *   get_ns_median/p99/max     time of one strata_get
 *   read_median/p99/max       bytes_read of one get (compressed bytes fetched)
 *   amp_median/p99/max        bytes_read / size, where a record smaller than
 *                             4096 bytes counts as 4096 (a page: reading less
 *                             than that costs a page anyway)
 *   groups_median/max         groups touched per get
 *   decoded_median/p99/max    group body bytes decompressed per get
 *   size_median               size of the records got
 *
 * Exit status 0, or 1 on any error (printed on stderr).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strata.h"

typedef struct {
	void *key;
	size_t keylen;
	uint64_t records;
} keyent;

typedef struct {
	keyent *v;
	size_t n, cap;
} keylist;

static int on_key(void *ctx, const strata_key_info *ki)
{
	keylist *kl = ctx;
	if (kl->n == kl->cap) {
		kl->cap = kl->cap ? kl->cap * 2 : 256;
		kl->v = realloc(kl->v, kl->cap * sizeof *kl->v);
		if (!kl->v)
			return 1;
	}
	keyent *e = &kl->v[kl->n++];
	e->key = malloc(ki->keylen ? ki->keylen : 1);
	if (!e->key)
		return 1;
	memcpy(e->key, ki->key, ki->keylen);
	e->keylen = ki->keylen;
	e->records = ki->records;
	return 0;
}

static uint64_t rng_state;
static uint64_t rnd(void) /* splitmix64 */
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static size_t rank(size_t n, double p)
{
	size_t r = (size_t)(p * (double)n + 0.999999);
	if (r < 1)
		r = 1;
	if (r > n)
		r = n;
	return r - 1;
}

static void print_u64(const char *name, uint64_t *v, size_t n, int p99)
{
	qsort(v, n, sizeof *v, cmp_u64);
	printf("%s_median %llu\n", name, (unsigned long long)v[rank(n, 0.5)]);
	if (p99)
		printf("%s_p99 %llu\n", name, (unsigned long long)v[rank(n, 0.99)]);
	printf("%s_max %llu\n", name, (unsigned long long)v[n - 1]);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: getbench STORE [N [SEED]]\n");
		return 2;
	}
	size_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 2000;
	rng_state = argc > 3 ? strtoull(argv[3], NULL, 10) : 42;
	if (n == 0)
		n = 1;

	strata_store *s;
	int rc = strata_open(&s, argv[1], STRATA_OPEN_READ, NULL);
	if (rc) {
		fprintf(stderr, "getbench: open %s: %s\n", argv[1], strata_errmsg());
		return 1;
	}
	keylist kl = {0};
	rc = strata_foreach_key(s, on_key, &kl);
	if (rc) {
		fprintf(stderr, "getbench: foreach_key: %s\n", rc > 0 ? "out of memory" : strata_errmsg());
		return 1;
	}
	if (kl.n == 0) {
		fprintf(stderr, "getbench: the store has no keys\n");
		return 1;
	}
	uint64_t total = 0;
	for (size_t i = 0; i < kl.n; i++) {
		uint64_t c;
		rc = strata_record_count(s, kl.v[i].key, kl.v[i].keylen, &c);
		if (rc) {
			fprintf(stderr, "getbench: record_count: %s\n", strata_errmsg());
			return 1;
		}
		if (c != kl.v[i].records)
			fprintf(stderr, "getbench: warning: key %zu: foreach_key says %llu records, "
				"record_count %llu\n", i, (unsigned long long)kl.v[i].records,
				(unsigned long long)c);
		kl.v[i].records = c;
		total += c;
	}

	size_t *pk = malloc(n * sizeof *pk);
	uint64_t *pn = malloc(n * sizeof *pn);
	uint64_t *ns = malloc(n * sizeof *ns), *rd = malloc(n * sizeof *rd);
	uint64_t *gr = malloc(n * sizeof *gr), *dec = malloc(n * sizeof *dec);
	uint64_t *sz = malloc(n * sizeof *sz);
	double *amp = malloc(n * sizeof *amp);
	if (!pk || !pn || !ns || !rd || !gr || !dec || !sz || !amp) {
		fprintf(stderr, "getbench: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		do
			pk[i] = (size_t)(rnd() % kl.n);
		while (kl.v[pk[i]].records == 0);
		pn[i] = 1 + rnd() % kl.v[pk[i]].records;
	}

	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			keyent *k = &kl.v[pk[i]];
			void *buf;
			size_t len;
			struct timespec t0, t1;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			rc = strata_get(s, k->key, k->keylen, pn[i], &buf, &len);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			if (rc) {
				fprintf(stderr, "getbench: get %.*s@%llu: %s: %s\n", (int)k->keylen,
					(const char *)k->key, (unsigned long long)pn[i],
					strata_strerror(rc), strata_errmsg());
				return 1;
			}
			strata_buf_free(buf);
			if (pass == 0)
				continue;
			strata_read_cost c;
			rc = strata_read_cost_get(s, &c);
			if (rc) {
				fprintf(stderr, "getbench: read_cost: %s\n", strata_errmsg());
				return 1;
			}
			ns[i] = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000ull +
				(uint64_t)(t1.tv_nsec - t0.tv_nsec);
			rd[i] = c.bytes_read;
			gr[i] = c.groups;
			dec[i] = c.bytes_decoded;
			sz[i] = len;
			amp[i] = (double)c.bytes_read / (double)(len < 4096 ? 4096 : len);
		}
	}
	printf("gets %zu\nkeys %zu\nrecords %llu\n", n, kl.n, (unsigned long long)total);
	print_u64("get_ns", ns, n, 1);
	print_u64("read", rd, n, 1);
	qsort(amp, n, sizeof *amp, cmp_dbl);
	printf("amp_median %.3f\namp_p99 %.3f\namp_max %.3f\n", amp[rank(n, 0.5)],
	       amp[rank(n, 0.99)], amp[n - 1]);
	print_u64("groups", gr, n, 0);
	print_u64("decoded", dec, n, 1);
	qsort(sz, n, sizeof *sz, cmp_u64);
	printf("size_median %llu\n", (unsigned long long)sz[rank(n, 0.5)]);

	for (size_t i = 0; i < kl.n; i++)
		free(kl.v[i].key);
	free(kl.v);
	free(pk), free(pn), free(ns), free(rd), free(gr), free(dec), free(sz), free(amp);
	strata_close(s);
	return 0;
}
