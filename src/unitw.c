/* unitw.c - the unit in progress (unitw.h). */
#include "unitw.h"
#include "err.h"
#include "keymap.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

typedef struct pending {
	uint32_t key;           /* footer key index */
	uint64_t n;
	void *data;             /* owned until the group is written */
	size_t len;
	strata_release_fn *release;
	void *ctx;
	uint64_t sum;
} pending;

struct unitw {
	unitw_config cfg;
	pack_writer *pw;
	keymap *keys;
	pending *pend;          /* records of the open group */
	size_t npend, cap_pend;
	uint64_t pend_bytes;
	group_piece *pieces;    /* scratch for the group being written */
	int failed;             /* an earlier write failed; the unit is lost */
};

int unitw_new(unitw **out, const unitw_config *cfg)
{
	unitw *u = calloc(1, sizeof *u);
	if (!u)
		return ERR_NOMEM();
	u->cfg = *cfg;
	int rc = keymap_new(&u->keys);
	if (!rc)
		rc = pack_writer_new(&u->pw, cfg->packs_dir, cfg->unit, (int64_t)time(NULL));
	if (rc) {
		unitw_free(u);
		return rc;
	}
	*out = u;
	return 0;
}

static void release_pending(pending *p)
{
	if (p->release)
		p->release(p->ctx, p->data, p->len);
	p->data = NULL;
}

static int flush_group(unitw *u)
{
	if (u->npend == 0)
		return 0;
	group_piece *pc = realloc(u->pieces, u->npend * sizeof *pc);
	if (!pc)
		return ERR_NOMEM();
	u->pieces = pc;
	for (size_t i = 0; i < u->npend; i++)
		pc[i] = (group_piece){ u->pend[i].data, u->pend[i].len };
	int codec = u->pend_bytes ? u->cfg.codec : CODEC_NONE;
	uint32_t g;
	int rc = pack_writer_add_group(u->pw, u->cfg.coder, codec, u->cfg.level, pc, u->npend, &g);
	uint64_t off = 0;
	for (size_t i = 0; !rc && i < u->npend; i++) {
		pending *p = &u->pend[i];
		pack_record r = { p->key, g, p->n, off, p->len, p->len, p->sum, ENC_LITERAL };
		rc = pack_writer_add_record(u->pw, &r);
		off += p->len;
	}
	for (size_t i = 0; i < u->npend; i++)
		release_pending(&u->pend[i]);
	u->npend = 0;
	u->pend_bytes = 0;
	return rc;
}

/* The key's footer slot, adding the key (numbered after its catalogued
 * records) on first use in this unit. */
static int key_slot(unitw *u, const void *key, size_t keylen, keymap_val **v)
{
	if ((*v = keymap_get(u->keys, key, keylen)) != NULL)
		return 0;
	uint64_t count;
	uint32_t idx;
	int rc = catalog_key_count(u->cfg.cat, key, keylen, &count);
	if (!rc)
		rc = pack_writer_add_key(u->pw, key, keylen, &idx);
	if (!rc)
		rc = keymap_put(u->keys, key, keylen, (keymap_val){ idx, count + 1 }, v);
	return rc;
}

static int should_close_before(const unitw *u, uint32_t key, size_t len)
{
	if (u->npend == 0)
		return 0;
	uint64_t cap = u->cfg.group_cap;
	if (u->pend_bytes + len > cap)
		return 1;
	return key != u->pend[u->npend - 1].key && u->pend_bytes >= cap / 2;
}

static int add_pending(unitw *u, const pending *p)
{
	if (u->npend == u->cap_pend) {
		size_t nc = u->cap_pend ? u->cap_pend * 2 : 64;
		pending *np = realloc(u->pend, nc * sizeof *np);
		if (!np)
			return ERR_NOMEM();
		u->pend = np;
		u->cap_pend = nc;
	}
	u->pend[u->npend++] = *p;
	u->pend_bytes += p->len;
	return 0;
}

int unitw_put(unitw *u, const void *key, size_t keylen, void *data, size_t len,
	      strata_release_fn *release, void *ctx, uint64_t *n_out)
{
	pending p = { 0, 0, data, len, release, ctx, 0 };
	keymap_val *kv = NULL;
	int rc = u->failed ? err_set(STRATA_EIO, "an earlier write of this unit failed; roll back") : 0;
	if (!rc && (keylen == 0 || keylen > PACK_KEY_MAX))
		rc = err_set(STRATA_EINVAL, "key length %zu is outside 1..%d", keylen, PACK_KEY_MAX);
	if (!rc)
		rc = key_slot(u, key, keylen, &kv);
	if (!rc) {
		p.key = kv->idx;
		p.n = kv->next_n;
		p.sum = XXH3_64bits(data, len);
		if (should_close_before(u, p.key, len))
			rc = flush_group(u);
	}
	if (!rc)
		rc = add_pending(u, &p);
	if (rc) {
		release_pending(&p);
		if (rc != STRATA_EINVAL)
			u->failed = 1;
		return rc;
	}
	kv->next_n++;
	if (n_out)
		*n_out = p.n;
	if (u->pend_bytes >= u->cfg.group_cap && (rc = flush_group(u)) != 0)
		u->failed = 1;
	return rc;
}

int unitw_finish(unitw *u, const char *label, const pack_footer **footer, const char **path,
		 uint64_t *pack_bytes)
{
	if (u->failed)
		return err_set(STRATA_EIO, "an earlier write of this unit failed");
	int rc = flush_group(u);
	if (!rc)
		rc = pack_writer_finish(u->pw, label, label ? strlen(label) : 0, pack_bytes);
	if (rc) {
		u->failed = 1;
		return rc;
	}
	*footer = pack_writer_footer(u->pw);
	*path = pack_writer_path(u->pw);
	return 0;
}

void unitw_free(unitw *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->npend; i++)
		release_pending(&u->pend[i]);
	free(u->pend);
	free(u->pieces);
	keymap_free(u->keys);
	pack_writer_free(u->pw);
	free(u);
}
