/*
 * cdc.h - content-defined chunking and chunk sketches (docs/FORMAT.md,
 * "Chunks" and "Catalog"): where a large record is cut, and the
 * features that find a similar earlier chunk. Pure functions of the
 * bytes; the gear table and constants are fixed by the format version.
 */
#ifndef STRATA_CDC_H
#define STRATA_CDC_H

#include <stddef.h>
#include <stdint.h>

#define CDC_FEATURES 12 /* features per sketch */

typedef struct cdc_params {
	size_t min, avg, max;
	uint64_t mask_s;  /* before avg: more bits must be zero */
	uint64_t mask_l;  /* after avg: fewer */
} cdc_params;

/* Parameters for an average chunk size `avg` (a power of two,
 * 256..16 MiB; others are rounded down to one). */
void cdc_params_init(cdc_params *p, size_t avg);

/* Length of the chunk that starts at data[0], of len bytes left: at most
 * len, at least min unless fewer bytes are left. */
size_t cdc_next(const cdc_params *p, const uint8_t *data, size_t len);

/* The chunk's sketch: CDC_FEATURES features, feature i as the index value
 * (i + 1) << 32 | f_i, so that values of different features never meet.
 * Two chunks share each feature with a probability near their resemblance.
 * Returns 0 when it has no sampled position (too short to say), else 1. */
int cdc_sketch(const uint8_t *data, size_t len, uint64_t feat[CDC_FEATURES]);

#endif
