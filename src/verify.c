/* verify.c - strata_verify(): every checksum of every pack, and the catalog
 * against the packs' footers. */
#include "err.h"
#include "os.h"
#include "store.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

typedef struct vctx {
	strata_store *s;
	strata_problem_cb *cb;
	void *ctx;
	strata_verify_result res;
	uint64_t *units;       /* catalogued units */
	size_t nunits, cap;
} vctx;

static void problem(vctx *v, const char *pack, const pack_key *k, uint64_t n, int code, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void problem(vctx *v, const char *pack, const pack_key *k, uint64_t n, int code, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	v->res.problems++;
	if (v->cb) {
		strata_problem p = { pack, k ? k->p : NULL, k ? k->len : 0, n, code, msg };
		v->cb(v->ctx, &p);
	}
}

static int collect_unit(void *ctx, const strata_unit_info *u)
{
	vctx *v = ctx;
	if (v->nunits == v->cap) {
		size_t nc = v->cap ? v->cap * 2 : 256;
		uint64_t *nu = realloc(v->units, nc * sizeof *nu);
		if (!nu)
			return ERR_NOMEM();
		v->units = nu;
		v->cap = nc;
	}
	v->units[v->nunits++] = u->unit;
	return 0;
}

static int has_unit(const vctx *v, uint64_t unit)
{
	size_t lo = 0, hi = v->nunits;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v->units[mid] == unit)
			return 1;
		if (v->units[mid] < unit)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Files in packs/ that the catalog does not account for. */
static int check_directory(vctx *v)
{
	char **names;
	size_t n;
	uint64_t unit;
	int rc = os_list(v->s->packs, &names, &n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		char rel[300];
		snprintf(rel, sizeof rel, "packs/%s", names[i]);
		size_t len = strlen(names[i]);
		if (len > 8 && !strcmp(names[i] + len - 8, ".damaged"))
			problem(v, rel, NULL, 0, STRATA_ECORRUPT, "damaged pack set aside by recovery");
		else if (pack_name_parse(names[i], &unit) && !has_unit(v, unit))
			problem(v, rel, NULL, 0, STRATA_ECORRUPT, "pack is not in the catalog");
	}
	os_names_free(names, n);
	return 0;
}

/* The catalog's entry for a record must match the footer's. */
static int check_catalog_entry(vctx *v, const pack_reader *r, const char *rel, const pack_record *rec)
{
	const pack_key *k = &r->footer.keys[rec->key];
	catalog_loc loc;
	int rc = catalog_lookup(v->s->cat, k->p, k->len, rec->n, &loc);
	if (rc == STRATA_ENOTFOUND) {
		problem(v, rel, k, rec->n, STRATA_ECORRUPT, "record is missing from the catalog");
		return 0;
	}
	if (rc)
		return rc;
	const pack_group *g = &r->footer.groups[rec->group];
	if (loc.unit != r->footer.unit || loc.grp != rec->group || loc.off != rec->off ||
	    loc.len != rec->len || loc.size != rec->size || loc.sum != rec->sum ||
	    loc.group.offset != g->offset || loc.group.clen != g->clen || loc.group.sum != g->sum)
		problem(v, rel, k, rec->n, STRATA_ECORRUPT, "catalog entry disagrees with the pack footer");
	return 0;
}

static void check_group_records(vctx *v, const pack_reader *r, const char *rel, uint32_t g,
				const uint8_t *body, size_t *ri)
{
	const pack_footer *f = &r->footer;
	for (; *ri < f->nrecords && f->records[*ri].group == g; (*ri)++) {
		const pack_record *rec = &f->records[*ri];
		const pack_key *k = &f->keys[rec->key];
		if (!body) {
			problem(v, rel, k, rec->n, STRATA_ECORRUPT, "record lies in a damaged group (%u)", g);
			continue;
		}
		v->res.records++;
		v->res.bytes += rec->size;
		if (XXH3_64bits(body + rec->off, (size_t)rec->len) != rec->sum)
			problem(v, rel, k, rec->n, STRATA_ECORRUPT, "content checksum mismatch");
	}
}

static int verify_unit(vctx *v, uint64_t unit)
{
	char path[4096], rel[64];
	store_pack_path(v->s, unit, path, sizeof path);
	snprintf(rel, sizeof rel, "packs/%010" PRIu64 ".pack", unit);
	pack_reader *r;
	int rc = pack_open(&r, path);
	if (rc == STRATA_ENOMEM || rc == STRATA_EIO)
		return rc;
	if (rc) {
		problem(v, rel, NULL, 0, rc == STRATA_ENOTFOUND ? STRATA_ECORRUPT : rc, "%s", strata_errmsg());
		return 0;
	}
	v->res.packs++;
	uint64_t count;
	rc = catalog_unit_record_count(v->s->cat, unit, &count);
	if (!rc && (r->footer.unit != unit || count != r->footer.nrecords))
		problem(v, rel, NULL, 0, STRATA_ECORRUPT, "catalog lists %" PRIu64 " records for unit %" PRIu64
			", the pack %zu for unit %" PRIu64, count, unit, r->footer.nrecords, r->footer.unit);
	size_t ri = 0;
	for (uint32_t g = 0; !rc && g < r->footer.ngroups; g++) {
		uint8_t *body = NULL;
		int grc = pack_read_group(r, v->s->coder, g, &body);
		if (grc == STRATA_ENOMEM || grc == STRATA_EIO) {
			rc = grc;
			break;
		}
		if (grc)
			problem(v, rel, NULL, 0, grc, "%s", strata_errmsg());
		else
			v->res.groups++;
		check_group_records(v, r, rel, g, body, &ri);
		free(body);
	}
	for (size_t i = 0; !rc && i < r->footer.nrecords; i++)
		rc = check_catalog_entry(v, r, rel, &r->footer.records[i]);
	pack_close(r);
	return rc;
}

int strata_verify(strata_store *s, strata_problem_cb *on_problem, strata_progress_cb *progress, void *ctx,
		  strata_verify_result *res)
{
	err_clear();
	if (!s)
		return err_set(STRATA_EINVAL, "strata_verify needs a store");
	vctx v = { s, on_problem, ctx, { 0 }, NULL, 0, 0 };
	int rc = catalog_foreach_unit(s->cat, collect_unit, &v);
	if (!rc)
		rc = check_directory(&v);
	for (size_t i = 0; !rc && i < v.nunits; i++) {
		rc = verify_unit(&v, v.units[i]);
		if (progress)
			progress(ctx, i + 1, v.nunits);
	}
	free(v.units);
	if (res)
		*res = v.res;
	if (!rc && v.res.problems)
		rc = err_set(STRATA_ECORRUPT, "%" PRIu64 " problem(s) found", v.res.problems);
	return rc;
}
