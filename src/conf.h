/*
 * conf.h - the store's strata.conf (docs/FORMAT.md, "Store directory"):
 * written once when a store is created, read by every open.
 */
#ifndef STRATA_CONF_H
#define STRATA_CONF_H

#include "strata.h"

#define STORE_FORMAT 1

/* Check option bounds; STRATA_EINVAL naming the bad field. */
int conf_validate(const strata_options *o);
/* Write root/strata.conf durably (temporary file, fsync, rename). */
int conf_write(const char *root, const strata_options *o);
/* Read root/strata.conf into *o: STRATA_ENOTFOUND when the file is absent
 * (not a store), STRATA_EFORMAT for an unknown store version. */
int conf_read(const char *root, strata_options *o);

#endif
