/*
 * unitw.h - the unit in progress: numbers records, forms groups by the
 * grouping policy and streams them into the unit's pack.
 *
 * Policy (docs/FORMAT.md leaves it to the writer): records go into the open
 * group in put order; the group closes when adding a record would pass the
 * size cap, when it reaches the cap, or when the key changes and the group
 * already holds half the cap. A record larger than the cap gets a group of
 * its own. Buffers are released as soon as their group is written, so memory
 * stays near one group whatever the unit's size.
 */
#ifndef STRATA_UNITW_H
#define STRATA_UNITW_H

#include "catalog.h"
#include "strata.h"

typedef struct unitw unitw;

typedef struct unitw_config {
	const char *packs_dir;  /* where the pack goes (borrowed) */
	uint64_t unit;          /* number of the unit */
	uint64_t group_cap;     /* group size cap in bytes */
	int codec, level;       /* codec for every group */
	catalog *cat;           /* for the record numbers of known keys (borrowed) */
	group_coder *coder;     /* borrowed */
} unitw_config;

int unitw_new(unitw **out, const unitw_config *cfg);

/* Add a record; takes ownership of data as strata_put() documents. */
int unitw_put(unitw *u, const void *key, size_t keylen, void *data, size_t len,
	      strata_release_fn *release, void *ctx, uint64_t *n_out);

/* Write the last group, the footer and the trailer, and make the pack
 * durable. *footer and *path are borrowed from u (valid until unitw_free). */
int unitw_finish(unitw *u, const char *label, const pack_footer **footer, const char **path,
		 uint64_t *pack_bytes);

/* Discard the unit (releasing held buffers, removing the temporary pack). */
void unitw_free(unitw *u);

#endif
