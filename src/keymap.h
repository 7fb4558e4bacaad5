/*
 * keymap.h - a hash map from key bytes to the key's slot in the unit being
 * written (its footer index and its next record number).
 */
#ifndef STRATA_KEYMAP_H
#define STRATA_KEYMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct keymap_val {
	uint32_t idx;     /* index of the key in the pack footer */
	uint64_t next_n;  /* number the key's next record gets */
	uint64_t group;   /* sequence number of the group that holds the key's
			   * latest record in this unit; 0 if none */
} keymap_val;

typedef struct keymap keymap;

int keymap_new(keymap **out);
void keymap_free(keymap *m);
/* The value for key, or NULL if absent. Valid until the next insert. */
keymap_val *keymap_get(keymap *m, const void *key, size_t len);
/* Insert an absent key (copied); *out points at its value. */
int keymap_put(keymap *m, const void *key, size_t len, keymap_val v, keymap_val **out);

#endif
