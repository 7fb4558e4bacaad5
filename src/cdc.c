/* cdc.c - content-defined chunking and sketches (cdc.h). */
#include "cdc.h"

#include <pthread.h>

static uint64_t gear[256];
static uint32_t fa[CDC_FEATURES], fb[CDC_FEATURES];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

/* splitmix64: a fixed seed gives the format's fixed tables. */
static uint64_t next_rand(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void make_tables(void)
{
	uint64_t x = 0x5354524154413131ull; /* "STRATA11" */
	for (int i = 0; i < 256; i++)
		gear[i] = next_rand(&x);
	for (int i = 0; i < CDC_FEATURES; i++) {
		fa[i] = (uint32_t)next_rand(&x) | 1;
		fb[i] = (uint32_t)next_rand(&x);
	}
}

static uint64_t top_bits(unsigned n)
{
	return n == 0 ? 0 : n >= 64 ? ~0ull : ~0ull << (64 - n);
}

void cdc_params_init(cdc_params *p, size_t avg)
{
	pthread_once(&tables_once, make_tables);
	unsigned bits = 8;
	while (bits < 24 && ((size_t)1 << (bits + 1)) <= avg)
		bits++;
	p->avg = (size_t)1 << bits;
	p->min = p->avg / 4;
	p->max = p->avg * 4;
	p->mask_s = top_bits(bits + 2);
	p->mask_l = top_bits(bits - 2);
}

size_t cdc_next(const cdc_params *p, const uint8_t *data, size_t len)
{
	if (len <= p->min)
		return len;
	size_t end = len < p->max ? len : p->max;
	size_t normal = p->avg < end ? p->avg : end;
	uint64_t h = 0;
	size_t i = p->min;
	for (; i < normal; i++) {
		h = (h << 1) + gear[data[i]];
		if (!(h & p->mask_s))
			return i + 1;
	}
	for (; i < end; i++) {
		h = (h << 1) + gear[data[i]];
		if (!(h & p->mask_l))
			return i + 1;
	}
	return end;
}

int cdc_sketch(const uint8_t *data, size_t len, uint64_t feat[CDC_FEATURES])
{
	pthread_once(&tables_once, make_tables);
	uint32_t f[CDC_FEATURES] = { 0 };
	uint64_t h = 0;
	int sampled = 0;
	for (size_t i = 0; i < len; i++) {
		h = (h << 1) + gear[data[i]];
		if (h >> 60)
			continue;
		uint32_t v = (uint32_t)(h >> 28);
		for (int k = 0; k < CDC_FEATURES; k++) {
			uint32_t t = fa[k] * v + fb[k];
			if (t > f[k])
				f[k] = t;
		}
		sampled = 1;
	}
	for (int k = 0; k < CDC_FEATURES; k++)
		feat[k] = (uint64_t)(k + 1) << 32 | f[k];
	return sampled;
}
