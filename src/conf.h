/*
 * conf.h - the store's strata.conf (docs/FORMAT.md, "Store directory"):
 * written once when a store is created, read by every open. Besides the
 * numeric options it holds the codec of each key's groups: a default codec
 * and level, and rules "glob pattern -> codec and level".
 */
#ifndef STRATA_CONF_H
#define STRATA_CONF_H

#include "strata.h"

#include <stddef.h>

#define STORE_FORMAT 1

/* One codec rule: keys matching `pattern` (fnmatch(3), no flags) get
 * `codec` at `level`. */
typedef struct conf_rule {
	char *pattern;      /* NUL-terminated glob (owned) */
	int codec, level;   /* CODEC_*, and a level within the codec's range */
} conf_rule;

/* Which codec each key's groups get. */
typedef struct conf_codecs {
	int codec, level;   /* for keys no rule matches */
	conf_rule *rules;   /* in order; the first match wins (owned) */
	size_t nrules;
	char unknown[32];   /* a codec strata.conf names that this build does
			     * not know, or "": such a store can be read but
			     * not written by this build */
} conf_codecs;

/* Check the caller's options (any STRATA_OPTIONS_VERSION so far) and take
 * them into *o (its codec fields set to NULL) and *cc (resolved: every
 * level explicit). STRATA_EINVAL naming the bad field or rule. On success
 * the caller frees *cc with conf_codecs_free. */
int conf_from_options(const strata_options *in, strata_options *o, conf_codecs *cc);

/* Write root/strata.conf durably (temporary file, fsync, rename). */
int conf_write(const char *root, const strata_options *o, const conf_codecs *cc);

/* Read root/strata.conf into *o and *cc: STRATA_ENOTFOUND when the file is
 * absent (not a store), STRATA_EFORMAT for an unknown store version,
 * STRATA_ECORRUPT for a malformed file. A codec name this build does not
 * know is not an error: cc->unknown names it. On success the caller frees
 * *cc with conf_codecs_free. */
int conf_read(const char *root, strata_options *o, conf_codecs *cc);

void conf_codecs_free(conf_codecs *cc);

/* The codec and level for the groups of `key`: the first rule whose
 * pattern matches it, else the default. A key holding a NUL byte matches
 * no rule. Returns 0 or STRATA_ENOMEM. */
int conf_codec_of(const conf_codecs *cc, const void *key, size_t keylen, int *codec, int *level);

#endif
