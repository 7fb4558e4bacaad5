/* recover.c - crash recovery and catalog rebuild: both file packs' footers
 * into the catalog (docs/FORMAT.md, "Recovery"). */
#include "conf.h"
#include "chunk.h"
#include "err.h"
#include "os.h"
#include "store.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_tmp(const char *name)
{
	size_t n = strlen(name);
	return strncmp(name, "tmp-", 4) == 0 && n > 9 && strcmp(name + n - 5, ".pack") == 0;
}

/* A pack file in packs/ and its range. */
typedef struct disk_pack {
	const char *name;
	uint64_t first, last;
} disk_pack;

/* Pack files (and, if tmp is not NULL, temporary ones) in packs/. *names
 * must be freed with os_names_free, *packs with free. */
static int list_packs(strata_store *s, char ***names, size_t *nnames, disk_pack **packs, size_t *npacks)
{
	int rc = os_list(s->packs, names, nnames);
	if (rc)
		return rc;
	*packs = calloc(*nnames ? *nnames : 1, sizeof **packs);
	if (!*packs) {
		os_names_free(*names, *nnames);
		return ERR_NOMEM();
	}
	*npacks = 0;
	for (size_t i = 0; i < *nnames; i++) {
		disk_pack *d = &(*packs)[*npacks];
		if (pack_name_parse((*names)[i], &d->first, &d->last)) {
			d->name = (*names)[i];
			(*npacks)++;
		}
	}
	return 0;
}

int store_next_unit(strata_store *s, uint64_t *next)
{
	char **names = NULL;
	size_t n = 0, np = 0;
	disk_pack *dp = NULL;
	uint64_t max = 0;
	int rc = catalog_max_unit(s->cat, &max);
	if (!rc)
		rc = list_packs(s, &names, &n, &dp, &np);
	for (size_t i = 0; !rc && i < np; i++)
		if (dp[i].last > max)
			max = dp[i].last; /* e.g. a pack of a newer format, left in place */
	free(dp);
	os_names_free(names, n);
	*next = max + 1;
	return rc;
}

int recover_needed(strata_store *s, int *needed)
{
	char **names = NULL;
	size_t n = 0, np = 0;
	disk_pack *dp = NULL;
	int rc = list_packs(s, &names, &n, &dp, &np);
	*needed = 0;
	for (size_t i = 0; !rc && i < n && !*needed; i++)
		*needed = is_tmp(names[i]);
	for (size_t i = 0; !rc && i < np && !*needed; i++) {
		int found;
		rc = catalog_find_pack(s->cat, dp[i].name, &found);
		*needed = !found;
	}
	free(dp);
	os_names_free(names, n);
	return rc;
}

static void report(strata_problem_cb *cb, void *ctx, const char *pack, int code, const char *msg)
{
	if (!cb)
		return;
	strata_problem p = { pack, NULL, 0, 0, code, msg };
	cb(ctx, &p);
}

/* Delete files of packs the catalog no longer lists. */
static int delete_packs(strata_store *s, const catalog_pack *old, size_t n)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", s->packs, old[i].name);
		rc = os_unlink(path);
	}
	return !rc && n ? os_fsync_dir(s->packs) : rc;
}

int store_file_pack(strata_store *s, const pack_footer *f, const char *name, uint64_t bytes)
{
	return store_file_pack_in(s, s->cat, f, name, bytes);
}

int store_file_pack_in(strata_store *s, catalog *cat, const pack_footer *f, const char *name, uint64_t bytes)
{
	catalog_pack *old = NULL;
	size_t nold = 0;
	int rc = catalog_add_pack(cat, f, name, bytes, &old, &nold);
	/* Filed: a superseded file that cannot be deleted now is deleted by
	 * the next recovery, so that is no failure of this call. */
	if (!rc && delete_packs(s, old, nold))
		err_clear();
	free(old);
	return rc;
}

/* File one pack, or set it aside as damaged. */
static int file_pack(strata_store *s, const disk_pack *d, strata_problem_cb *cb, void *ctx)
{
	char path[4096], rel[64];
	snprintf(path, sizeof path, "%s/%s", s->packs, d->name);
	snprintf(rel, sizeof rel, "packs/%s", d->name);
	pack_reader *r;
	int rc = pack_open(&r, path);
	if (!rc && (r->footer.first != d->first || r->footer.last != d->last)) {
		rc = err_set(STRATA_ECORRUPT, "pack %s holds units %" PRIu64 "..%" PRIu64, path, r->footer.first,
			     r->footer.last);
		pack_close(r);
	}
	if (rc == STRATA_ECORRUPT || rc == STRATA_EFORMAT) {
		report(cb, ctx, rel, rc, strata_errmsg());
		if (rc == STRATA_EFORMAT) /* a newer format: leave it where it is */
			return 0;
		char aside[4200];
		snprintf(aside, sizeof aside, "%s.damaged", path);
		rc = os_rename(path, aside);
		if (!rc)
			rc = os_fsync_dir(s->packs);
		if (!rc)
			err_clear();
		return rc;
	}
	if (rc)
		return rc;
	rc = store_file_pack(s, &r->footer, d->name, r->size);
	pack_close(r);
	return rc;
}

/* Widest range first, then by first unit: a repacked pack is filed before
 * the packs it contains, which are then found superseded. */
static int by_width(const void *a, const void *b)
{
	const disk_pack *x = a, *y = b;
	uint64_t wx = x->last - x->first, wy = y->last - y->first;
	if (wx != wy)
		return wx > wy ? -1 : 1;
	return x->first < y->first ? -1 : x->first > y->first;
}

static int recover_one(strata_store *s, const disk_pack *d, strata_problem_cb *cb, void *ctx)
{
	int found, covered;
	int rc = catalog_find_pack(s->cat, d->name, &found);
	if (rc || found)
		return rc;
	if ((rc = catalog_covering(s->cat, d->first, d->last, &covered)) != 0)
		return rc;
	if (covered) { /* superseded by a repack that was filed */
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", s->packs, d->name);
		rc = os_unlink(path);
		return rc ? rc : os_fsync_dir(s->packs);
	}
	return file_pack(s, d, cb, ctx);
}

int recover_packs(strata_store *s, strata_problem_cb *cb, strata_progress_cb *progress, void *ctx)
{
	char **names = NULL;
	size_t n = 0, np = 0;
	disk_pack *dp = NULL;
	int rc = list_packs(s, &names, &n, &dp, &np);
	if (rc)
		return rc;
	for (size_t i = 0; !rc && i < n; i++)
		if (is_tmp(names[i])) {
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", s->packs, names[i]);
			rc = os_unlink(path);
		}
	qsort(dp, np, sizeof *dp, by_width);
	for (size_t i = 0; !rc && i < np; i++) {
		rc = recover_one(s, &dp[i], cb, ctx);
		if (progress)
			progress(ctx, i + 1, np);
	}
	free(dp);
	os_names_free(names, n);
	return rc;
}

static void remove_catalog_files(const char *catalog_path)
{
	const char *sfx[] = { "", "-wal", "-shm", "-journal" };
	char p[4200];
	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof p, "%s%s", catalog_path, sfx[i]);
		os_unlink(p);
	}
}

/* A directory holding only copies of a store's packs becomes a store: it
 * gets the options given, or the defaults (they steer later writes only).
 * A store that has its options keeps them. */
static int conf_for_packs(const char *path, const strata_options *opts)
{
	char conf[4096], packs[4096];
	snprintf(conf, sizeof conf, "%s/strata.conf", path);
	snprintf(packs, sizeof packs, "%s/packs", path);
	if (os_exists(conf) && opts)
		return err_set(STRATA_EINVAL, "%s has its options already (strata.conf): options are for a directory "
					      "holding only packs/", path);
	if (os_exists(conf) || !os_exists(packs))
		return 0;
	strata_options o;
	conf_codecs cc;
	int rc = conf_from_options(opts, &o, &cc);
	if (!rc) {
		rc = conf_write(path, &o, &cc);
		conf_codecs_free(&cc);
	}
	return rc;
}

int strata_rebuild(const char *path, strata_problem_cb *on_problem, strata_progress_cb *progress,
		   void *ctx, uint64_t *units_out)
{
	return strata_rebuild_opts(path, NULL, on_problem, progress, ctx, units_out);
}

int strata_rebuild_opts(const char *path, const strata_options *opts, strata_problem_cb *on_problem,
			strata_progress_cb *progress, void *ctx, uint64_t *units_out)
{
	err_clear();
	if (!path)
		return err_set(STRATA_EINVAL, "strata_rebuild needs a path");
	strata_store *s;
	int rc = conf_for_packs(path, opts);
	/* Without the catalog: it may be what is damaged. */
	if (!rc)
		rc = strata_open(&s, path, STRATA_OPEN_WRITE | STORE_OPEN_BARE, NULL);
	if (rc)
		return rc;
	remove_catalog_files(s->catalog_path);
	rc = catalog_open(&s->cat, s->catalog_path, 1);
	strata_stats st;
	if (!rc)
		rc = recover_packs(s, on_problem, progress, ctx);
	if (!rc)
		rc = catalog_state_open(s->cat, s->opts.state_mem);
	if (!rc)
		rc = chunk_catch_up(s, NULL, NULL);
	if (!rc && units_out && !(rc = catalog_stats(s->cat, &st)))
		*units_out = st.units;
	strata_close(s);
	return rc;
}
