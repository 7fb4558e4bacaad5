/*
 * patch.h - base patches (docs/FORMAT.md, encoding 4): a record compressed
 * by zstd with an earlier record's content as the window before it, as
 * `zstd --patch-from` does. Knows nothing of packs or keys.
 */
#ifndef STRATA_PATCH_H
#define STRATA_PATCH_H

#include "bytes.h"

#include <stddef.h>
#include <stdint.h>

#define PATCH_WINDOW_LOG_MAX 27 /* base + record must fit: 128 MiB */

typedef struct patch_coder patch_coder;

int patch_coder_new(patch_coder **out);
void patch_coder_free(patch_coder *pc);

/* Replace out's contents by the patch of data against base at zstd
 * `level`. Returns 0, PATCH_TOO_BIG when it would pass `max` bytes or the
 * pair does not fit the window (out's contents then undefined), or a
 * STRATA_E* code. */
#define PATCH_TOO_BIG 1
int patch_encode(patch_coder *pc, const uint8_t *base, size_t blen, const uint8_t *data, size_t len, int level,
		 size_t max, bytebuf *out);

/* A decoder kept from one patch to the next: a zstd context is some 160
 * KiB, and making one per patch cost page faults in every read of a chain
 * of patches. Used by one thread at a time. */
typedef struct patch_decoder patch_decoder;
void patch_decoder_free(patch_decoder *pd);

/* Decode a patch into dst, which must receive exactly dstlen bytes:
 * STRATA_ECORRUPT otherwise. *pd is made on first use (the caller frees it
 * with patch_decoder_free). */
int patch_decode(patch_decoder **pd, const uint8_t *base, size_t blen, const uint8_t *enc, size_t elen,
		 uint8_t *dst, size_t dstlen);

#endif
