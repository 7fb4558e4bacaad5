/* patch.c - base patches (patch.h). */
#include "patch.h"
#include "err.h"
#include "group.h"
#include "strata.h"

#include <stdlib.h>
#include <zstd.h>

struct patch_coder {
	ZSTD_CCtx *cc;
};

int patch_coder_new(patch_coder **out)
{
	patch_coder *pc = calloc(1, sizeof *pc);
	if (!pc || !(pc->cc = group_zstd_cctx_new())) {
		free(pc);
		return ERR_NOMEM();
	}
	*out = pc;
	return 0;
}

void patch_coder_free(patch_coder *pc)
{
	if (!pc)
		return;
	ZSTD_freeCCtx(pc->cc);
	free(pc);
}

#define PATCH_LDM_LOG 20 /* base + record of 1 MiB or more */

static unsigned window_log(size_t n)
{
	unsigned w = 10;
	while (w < 31 && ((size_t)1 << w) < n)
		w++;
	return w;
}

int patch_encode(patch_coder *pc, const uint8_t *base, size_t blen, const uint8_t *data, size_t len, int level,
		 size_t max, bytebuf *out)
{
	unsigned wl = window_log(blen + len);
	if (wl > PATCH_WINDOW_LOG_MAX)
		return PATCH_TOO_BIG;
	ZSTD_CCtx *cc = pc->cc;
	ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
	size_t r = ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, level);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, (int)wl);
	/* Long-distance matching finds what the level's match finder misses
	 * in a window of megabytes, as `zstd --patch-from` turns it on for
	 * large files: 8-11% smaller patches of typescript's 6-9 MB bundles
	 * at level 12, in the same time. */
	if (!ZSTD_isError(r) && wl >= PATCH_LDM_LOG)
		r = ZSTD_CCtx_setParameter(cc, ZSTD_c_enableLongDistanceMatching, 1);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 1);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 0);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_refPrefix(cc, base, blen);
	if (ZSTD_isError(r))
		return err_set(STRATA_EINVAL, "zstd patch: %s", ZSTD_getErrorName(r));
	size_t cap = ZSTD_compressBound(len);
	out->len = 0;
	if (buf_reserve(out, cap))
		return STRATA_ENOMEM;
	r = ZSTD_compress2(cc, out->p, cap, data, len);
	if (ZSTD_isError(r))
		return err_set(STRATA_ENOMEM, "zstd patch: %s", ZSTD_getErrorName(r));
	if (r > max)
		return PATCH_TOO_BIG;
	out->len = r;
	return 0;
}

struct patch_decoder {
	ZSTD_DCtx *dc;
};

void patch_decoder_free(patch_decoder *pd)
{
	if (pd)
		ZSTD_freeDCtx(pd->dc);
	free(pd);
}

int patch_decode(patch_decoder **pd, const uint8_t *base, size_t blen, const uint8_t *enc, size_t elen,
		 uint8_t *dst, size_t dstlen)
{
	unsigned long long declared = ZSTD_getFrameContentSize(enc, elen);
	size_t frame = ZSTD_findFrameCompressedSize(enc, elen);
	if (ZSTD_isError(frame) || frame != elen)
		return err_set(STRATA_ECORRUPT, "base patch is not one zstd frame");
	if (declared != dstlen)
		return err_set(STRATA_ECORRUPT, "base patch declares %llu bytes, the record has %zu", declared, dstlen);
	if (!*pd && (!(*pd = calloc(1, sizeof **pd)) || !((*pd)->dc = ZSTD_createDCtx()))) {
		free(*pd);
		*pd = NULL;
		return ERR_NOMEM();
	}
	ZSTD_DCtx *dc = (*pd)->dc;
	ZSTD_DCtx_reset(dc, ZSTD_reset_session_and_parameters);
	size_t r = ZSTD_DCtx_setParameter(dc, ZSTD_d_windowLogMax, PATCH_WINDOW_LOG_MAX);
	if (!ZSTD_isError(r))
		r = ZSTD_DCtx_refPrefix(dc, base, blen);
	if (!ZSTD_isError(r))
		r = ZSTD_decompressDCtx(dc, dst, dstlen, enc, elen);
	if (ZSTD_isError(r))
		return err_set(STRATA_ECORRUPT, "base patch: %s", ZSTD_getErrorName(r));
	if (r != dstlen)
		return err_set(STRATA_ECORRUPT, "base patch gives %zu bytes, the record has %zu", r, dstlen);
	return 0;
}
