/* keymap.c - open-addressing hash map of keymap.h (linear probing). */
#include "keymap.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

typedef struct slot {
	uint8_t *key;     /* owned copy; NULL when the slot is empty */
	size_t len;
	uint64_t hash;
	keymap_val val;
} slot;

struct keymap {
	slot *slots;
	size_t cap;       /* a power of two */
	size_t used;
};

int keymap_new(keymap **out)
{
	keymap *m = calloc(1, sizeof *m);
	if (!m || !(m->slots = calloc(64, sizeof *m->slots))) {
		free(m);
		return ERR_NOMEM();
	}
	m->cap = 64;
	*out = m;
	return 0;
}

void keymap_free(keymap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++)
		free(m->slots[i].key);
	free(m->slots);
	free(m);
}

static slot *find(slot *slots, size_t cap, const void *key, size_t len, uint64_t h)
{
	for (size_t i = h & (cap - 1);; i = (i + 1) & (cap - 1)) {
		slot *s = &slots[i];
		if (!s->key || (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0))
			return s;
	}
}

keymap_val *keymap_get(keymap *m, const void *key, size_t len)
{
	slot *s = find(m->slots, m->cap, key, len, XXH3_64bits(key, len));
	return s->key ? &s->val : NULL;
}

static int grow(keymap *m)
{
	size_t cap = m->cap * 2;
	slot *ns = calloc(cap, sizeof *ns);
	if (!ns)
		return ERR_NOMEM();
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key)
			*find(ns, cap, m->slots[i].key, m->slots[i].len, m->slots[i].hash) = m->slots[i];
	free(m->slots);
	m->slots = ns;
	m->cap = cap;
	return 0;
}

int keymap_put(keymap *m, const void *key, size_t len, keymap_val v, keymap_val **out)
{
	if ((m->used + 1) * 4 > m->cap * 3) {
		int rc = grow(m);
		if (rc)
			return rc;
	}
	uint64_t h = XXH3_64bits(key, len);
	slot *s = find(m->slots, m->cap, key, len, h);
	if (!(s->key = malloc(len ? len : 1)))
		return ERR_NOMEM();
	memcpy(s->key, key, len);
	s->len = len;
	s->hash = h;
	s->val = v;
	m->used++;
	*out = &s->val;
	return 0;
}
