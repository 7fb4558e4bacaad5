/* recover.c - crash recovery and catalog rebuild: both file packs' footers
 * into the catalog (docs/FORMAT.md, "Recovery"). */
#include "conf.h"
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

int recover_needed(strata_store *s, int *needed)
{
	char **names;
	size_t n;
	uint64_t max, unit;
	int rc = catalog_max_unit(s->cat, &max);
	if (!rc)
		rc = os_list(s->packs, &names, &n);
	if (rc)
		return rc;
	*needed = 0;
	for (size_t i = 0; i < n && !*needed; i++)
		*needed = is_tmp(names[i]) || (pack_name_parse(names[i], &unit) && unit > max);
	os_names_free(names, n);
	return 0;
}

static void report(strata_problem_cb *cb, void *ctx, const char *pack, int code, const char *msg)
{
	if (!cb)
		return;
	strata_problem p = { pack, NULL, 0, 0, code, msg };
	cb(ctx, &p);
}

/* File one pack, or set it aside as damaged. */
static int file_pack(strata_store *s, const char *name, uint64_t unit, strata_problem_cb *cb,
		     void *ctx, uint64_t *filed)
{
	char path[4096], rel[64];
	snprintf(path, sizeof path, "%s/%s", s->packs, name);
	snprintf(rel, sizeof rel, "packs/%s", name);
	pack_reader *r;
	int rc = pack_open(&r, path);
	if (!rc && r->footer.unit != unit)
		rc = err_set(STRATA_ECORRUPT, "pack %s holds unit %" PRIu64, path, r->footer.unit);
	if (rc == STRATA_ECORRUPT || rc == STRATA_EFORMAT) {
		char aside[4200];
		report(cb, ctx, rel, rc, strata_errmsg());
		snprintf(aside, sizeof aside, "%s.damaged", path);
		if (rc == STRATA_ECORRUPT)
			rc = os_rename(path, aside);
		else
			rc = 0; /* a newer format: leave it where it is */
		if (!rc)
			rc = os_fsync_dir(s->packs);
		if (!rc)
			err_clear();
		return rc;
	}
	if (rc)
		return rc;
	rc = catalog_add_unit(s->cat, &r->footer, rel, r->size);
	pack_close(r);
	if (!rc && filed)
		(*filed)++;
	return rc;
}

int recover_packs(strata_store *s, int full, strata_problem_cb *cb, strata_progress_cb *progress,
		  void *ctx, uint64_t *filed)
{
	char **names;
	size_t n;
	uint64_t max, unit;
	int rc = catalog_max_unit(s->cat, &max);
	if (!rc)
		rc = os_list(s->packs, &names, &n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		if (is_tmp(names[i])) {
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", s->packs, names[i]);
			rc = os_unlink(path);
			continue;
		}
		if (!pack_name_parse(names[i], &unit) || (!full && unit <= max))
			continue;
		int has = 0;
		if (unit <= max)
			rc = catalog_has_unit(s->cat, unit, &has);
		if (!rc && !has)
			rc = file_pack(s, names[i], unit, cb, ctx, filed);
		if (progress)
			progress(ctx, i + 1, n);
	}
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

int strata_rebuild(const char *path, strata_problem_cb *on_problem, strata_progress_cb *progress,
		   void *ctx, uint64_t *units_out)
{
	strata_store *s;
	/* Without the catalog: it may be what is damaged. */
	int rc = strata_open(&s, path, STRATA_OPEN_WRITE | STORE_OPEN_BARE, NULL);
	if (rc)
		return rc;
	remove_catalog_files(s->catalog_path);
	rc = catalog_open(&s->cat, s->catalog_path, 1);
	uint64_t filed = 0;
	if (!rc)
		rc = recover_packs(s, 1, on_problem, progress, ctx, &filed);
	if (!rc && units_out)
		*units_out = filed;
	strata_close(s);
	return rc;
}
