/* verify.c - strata_verify(): every checksum of every pack, and the catalog
 * against the packs' footers. */
#include "chunk.h"
#include "err.h"
#include "os.h"
#include "read.h"
#include "runs.h"
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
	catalog_pack *packs;   /* live packs */
	size_t npacks;
	/* problems of the pack being checked, held until we know it is still
	 * live: a repack may replace it (and its catalog rows) meanwhile */
	struct held {
		char pack[64];
		uint8_t *key;
		size_t keylen;
		uint64_t n;
		int code;
		char *msg;
	} *held;
	size_t nheld, cap_held;
	int holding;
} vctx;

static void deliver(vctx *v, const char *pack, const void *key, size_t keylen, uint64_t n, int code,
		    const char *msg)
{
	v->res.problems++;
	if (v->cb) {
		strata_problem p = { pack, key, keylen, n, code, msg };
		v->cb(v->ctx, &p);
	}
}

/* Keep a problem for later; if memory runs out, report it at once. */
static void hold(vctx *v, const char *pack, const pack_key *k, uint64_t n, int code, const char *msg)
{
	if (v->nheld == v->cap_held) {
		size_t nc = v->cap_held ? v->cap_held * 2 : 16;
		struct held *nh = realloc(v->held, nc * sizeof *nh);
		if (!nh) {
			deliver(v, pack, k ? k->p : NULL, k ? k->len : 0, n, code, msg);
			return;
		}
		v->held = nh;
		v->cap_held = nc;
	}
	struct held *h = &v->held[v->nheld];
	snprintf(h->pack, sizeof h->pack, "%s", pack ? pack : "");
	h->key = k ? malloc(k->len) : NULL;
	h->keylen = h->key ? k->len : 0;
	if (h->key)
		memcpy(h->key, k->p, k->len);
	h->n = n;
	h->code = code;
	h->msg = strdup(msg);
	if (!h->msg) {
		free(h->key);
		deliver(v, pack, k ? k->p : NULL, k ? k->len : 0, n, code, msg);
		return;
	}
	v->nheld++;
}

/* Report the held problems, or drop them if their pack was replaced. */
static void release_held(vctx *v, int report)
{
	for (size_t i = 0; i < v->nheld; i++) {
		struct held *h = &v->held[i];
		if (report)
			deliver(v, h->pack, h->key, h->keylen, h->n, h->code, h->msg);
		free(h->key);
		free(h->msg);
	}
	v->nheld = 0;
}

static void problem(vctx *v, const char *pack, const pack_key *k, uint64_t n, int code, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void problem(vctx *v, const char *pack, const pack_key *k, uint64_t n, int code, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (v->holding)
		hold(v, pack, k, n, code, msg);
	else
		deliver(v, pack, k ? k->p : NULL, k ? k->len : 0, n, code, msg);
}

static int is_live(const vctx *v, const char *name)
{
	for (size_t i = 0; i < v->npacks; i++)
		if (!strcmp(v->packs[i].name, name))
			return 1;
	return 0;
}

/* An uncatalogued pack is no damage if a writer is filing it right now:
 * it is catalogued by the time we look again, or the writer still holds the
 * lock (a commit or repack between its rename and its catalog transaction). */
static int in_flight(vctx *v, const char *name, int *busy)
{
	int found;
	int rc = catalog_find_pack(v->s->cat, name, &found);
	if (!rc && found)
		*busy = 1;
	else if (!rc)
		rc = store_writer_active(v->s, busy);
	return rc;
}

/* Files in packs/ that the catalog does not account for. */
static int check_directory(vctx *v)
{
	char **names;
	size_t n;
	uint64_t first, last;
	int busy, rc = os_list(v->s->packs, &names, &n);
	if (rc)
		return rc;
	for (size_t i = 0; !rc && i < n; i++) {
		char rel[300];
		snprintf(rel, sizeof rel, "packs/%s", names[i]);
		size_t len = strlen(names[i]);
		if (len > 8 && !strcmp(names[i] + len - 8, ".damaged"))
			problem(v, rel, NULL, 0, STRATA_ECORRUPT, "damaged pack set aside by recovery");
		else if (pack_name_parse(names[i], &first, &last) && !is_live(v, names[i]) &&
			 !(rc = in_flight(v, names[i], &busy)) && !busy)
			problem(v, rel, NULL, 0, STRATA_ECORRUPT, "pack is not in the catalog");
	}
	os_names_free(names, n);
	return rc;
}

/* The catalog's entry for a record must match the footer's. */
static int check_catalog_entry(vctx *v, const pack_reader *r, const char *rel, const catalog_pack *cp,
			       const pack_record *rec)
{
	const pack_key *k = &r->footer.keys[rec->key];
	catalog_loc loc;
	int rc = catalog_lookup(v->s->cat, k->p, k->len, rec->n, &loc);
	if (rc == STRATA_ENOTFOUND) {
		problem(v, rel, k, rec->n, STRATA_ECORRUPT, "record is missing from the catalog");
		return 0;
	}
	if (rc == STRATA_ECORRUPT) { /* e.g. its run in the footer is not what the catalog filed */
		problem(v, rel, k, rec->n, rc, "%s", strata_errmsg());
		return 0;
	}
	if (rc)
		return rc;
	const pack_group *g = &r->footer.groups[rec->group];
	if (loc.unit != rec->unit || loc.grp != rec->group || loc.off != rec->off || loc.cend != rec->cend ||
	    loc.len != rec->len || loc.size != rec->size || loc.sum != rec->sum || loc.pack != cp->id ||
	    (loc.shared != NULL) != (rec->rcount != 0) ||
	    loc.enc != rec->enc || loc.base != rec->base ||
	    loc.group.offset != g->offset || loc.group.clen != g->clen || loc.group.sum != g->sum)
		problem(v, rel, k, rec->n, STRATA_ECORRUPT, "catalog entry disagrees with the pack footer");
	return 0;
}

static int check_group_records(vctx *v, const pack_reader *r, const char *rel, uint32_t g,
			       const uint8_t *body, size_t *ri)
{
	const pack_footer *f = &r->footer;
	int run_rc = 0; /* the records sharing a checksum, checked at the first */
	char run_msg[256] = "";
	for (; *ri < f->nrecords && f->records[*ri].group == g; (*ri)++) {
		const pack_record *rec = &f->records[*ri];
		const pack_key *k = &f->keys[rec->key];
		if (!body) {
			problem(v, rel, k, rec->n, STRATA_ECORRUPT, "record lies in a damaged group (%u)", g);
			continue;
		}
		if (rec->rcount && rec->rpos == 0 && (run_rc = run_check(rec, body + rec->off, rec->off)) != 0)
			snprintf(run_msg, sizeof run_msg, "%s", strata_errmsg());
		if (rec->rcount && run_rc) {
			problem(v, rel, k, rec->n, run_rc, "%s", run_msg);
			continue;
		}
		read_rec rr = { k->p, k->len, rec->n, rec->enc, rec->off, rec->len, rec->size, rec->sum, rec->base,
				rec->rcount != 0 };
		uint8_t *content = NULL;
		/* A chunk list is checked chunk by chunk: its content may be far
		 * larger than memory. */
		int rc = rec->enc == ENC_CHUNKS
				 ? chunk_check_list(v->s, body + rec->off, (size_t)rec->len, rec->size, rec->sum)
				 : read_decode(v->s, &rr, body, body + rec->off, 0, &content);
		free(content);
		if (rc == STRATA_ENOMEM || rc == STRATA_EIO)
			return rc;
		if (rc) {
			problem(v, rel, k, rec->n, rc, "%s", strata_errmsg());
			continue;
		}
		v->res.records++;
		v->res.bytes += rec->size;
	}
	return 0;
}

static int verify_pack_held(vctx *v, const catalog_pack *cp)
{
	char path[4096], rel[64];
	snprintf(path, sizeof path, "%s/%s", v->s->packs, cp->name);
	snprintf(rel, sizeof rel, "packs/%s", cp->name);
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
	rc = catalog_pack_record_count(v->s->cat, cp->id, &count);
	if (!rc && (r->footer.first != cp->first || r->footer.last != cp->last || count != r->footer.nrecords))
		problem(v, rel, NULL, 0, STRATA_ECORRUPT, "catalog lists %" PRIu64 " records of units %" PRIu64
			"..%" PRIu64 "; the pack holds %zu of units %" PRIu64 "..%" PRIu64, count, cp->first,
			cp->last, r->footer.nrecords, r->footer.first, r->footer.last);
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
		rc = check_group_records(v, r, rel, g, body, &ri);
		free(body);
	}
	for (size_t i = 0; !rc && i < r->footer.nrecords; i++)
		rc = check_catalog_entry(v, r, rel, cp, &r->footer.records[i]);
	pack_close(r);
	return rc;
}

/* Check one pack; what it finds counts only if the pack is still live when
 * the check ends (a concurrent repack replaces packs and their rows). */
static int verify_pack(vctx *v, const catalog_pack *cp)
{
	v->holding = 1;
	int rc = verify_pack_held(v, cp);
	v->holding = 0;
	int live = 1;
	if (v->nheld && !v->s->writable && catalog_find_pack(v->s->cat, cp->name, &live))
		live = 1; /* cannot tell: report */
	release_held(v, live);
	return rc;
}

int strata_verify(strata_store *s, strata_problem_cb *on_problem, strata_progress_cb *progress, void *ctx,
		  strata_verify_result *res)
{
	return strata_verify_since(s, 1, on_problem, progress, ctx, res);
}

int strata_verify_since(strata_store *s, uint64_t since, strata_problem_cb *on_problem,
			strata_progress_cb *progress, void *ctx, strata_verify_result *res)
{
	err_clear();
	if (!s)
		return err_set(STRATA_EINVAL, "strata_verify needs a store");
	vctx v = { .s = s, .cb = on_problem, .ctx = ctx };
	int rc = catalog_packs_in(s->cat, 1, INT64_MAX, &v.packs, &v.npacks);
	/* Only the packs that hold units since `since`. */
	size_t keep = 0;
	for (size_t i = 0; !rc && i < v.npacks; i++)
		if (v.packs[i].last >= since)
			v.packs[keep++] = v.packs[i];
	v.npacks = rc ? v.npacks : keep;
	if (!rc)
		rc = check_directory(&v);
	for (size_t i = 0; !rc && i < v.npacks; i++) {
		rc = verify_pack(&v, &v.packs[i]);
		if (progress)
			progress(ctx, i + 1, v.npacks);
	}
	free(v.packs);
	free(v.held);
	if (res)
		*res = v.res;
	if (!rc && v.res.problems)
		rc = err_set(STRATA_ECORRUPT, "%" PRIu64 " problem(s) found", v.res.problems);
	return rc;
}
