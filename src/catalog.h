/*
 * catalog.h - the SQLite index of a store (docs/FORMAT.md, "Catalog").
 *
 * The only module that includes sqlite3.h. The catalog is derived from the
 * packs: catalog_add_unit() files a pack's footer, and that is the only way
 * rows are written, whether by a commit, by recovery or by a rebuild.
 */
#ifndef STRATA_CATALOG_H
#define STRATA_CATALOG_H

#include "pack.h"
#include "strata.h"

typedef struct catalog catalog;

/* Open the catalog file at `path`. With `create`, make it and its schema if
 * missing. A file without the schema, or of an unknown schema version, is
 * STRATA_ECORRUPT / STRATA_EFORMAT. */
int catalog_open(catalog **out, const char *path, int create);
void catalog_close(catalog *c);

/* Largest catalogued unit number (0 when none). */
int catalog_max_unit(catalog *c, uint64_t *max);
/* Whether `unit` is catalogued. */
int catalog_has_unit(catalog *c, uint64_t unit, int *has);
/* Committed records of a key (0 if unknown). */
int catalog_key_count(catalog *c, const void *key, size_t len, uint64_t *count);

/* File one unit (its pack's footer) in a single transaction. */
int catalog_add_unit(catalog *c, const pack_footer *f, const char *pack, uint64_t pack_bytes);

/* Everything a read needs to find a record. */
typedef struct catalog_loc {
	uint64_t unit;
	uint32_t grp;       /* group index in the pack */
	pack_group group;   /* the group's footer entry */
	uint64_t off, len;  /* encoding range in the group body */
	uint64_t size, sum; /* content length and checksum */
	int enc;
} catalog_loc;

/* Find record n of key: STRATA_ENOTFOUND when there is none. */
int catalog_lookup(catalog *c, const void *key, size_t len, uint64_t n, catalog_loc *out);

/* Number of records filed under `unit`. */
int catalog_unit_record_count(catalog *c, uint64_t unit, uint64_t *count);

int catalog_foreach_key(catalog *c, strata_key_cb *cb, void *ctx);
int catalog_foreach_record(catalog *c, const void *key, size_t len, strata_record_cb *cb, void *ctx);
int catalog_foreach_unit(catalog *c, strata_unit_cb *cb, void *ctx);
int catalog_stats(catalog *c, strata_stats *out);

#endif
