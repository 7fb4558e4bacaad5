/* cmd_archive.c - the commands of incremental archives: import, export,
 * packs, fork. */
#include "clikit.h"
#include "commands.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* A unit number option: 1 or more. */
static int parse_unit(const char *cmd, const char *opt, const char *arg, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(arg, &end, 10);
	if (*arg == '-' || *arg == '\0' || *end || v == 0)
		return usage_error(cmd, "%s takes a unit number (1 or more), not '%s'", opt, arg);
	*out = v;
	return 0;
}

static void file_progress(void *ctx, uint64_t done, uint64_t total)
{
	(void)total;
	progress_show(ctx, 0, "%" PRIu64 " files", done);
}

typedef struct import_opts {
	const char *label;
	int flags;
} import_opts;

static int import_opt(int opt, const char *arg, void *ctx)
{
	import_opts *io = ctx;
	if (opt == 'L')
		io->label = arg;
	else
		io->flags |= STRATA_IMPORT_REREAD;
	return 0;
}

int cmd_import(int argc, char **argv)
{
	static const struct option lo[] = { { "label", required_argument, NULL, 'L' },
					    { "reread", no_argument, NULL, 'r' },
					    { 0, 0, 0, 0 } };
	import_opts io = { 0 };
	int done, rc = command_getopt(argc, argv, "", lo, import_opt, &io, &done);
	if (rc || done)
		return rc;
	if (argc - optind != 2)
		return usage_error("import", "expected STORE DIR");
	strata_store *s;
	if (open_store(&s, "import", argv[optind], STRATA_OPEN_WRITE))
		return 1;
	progress p;
	progress_init(&p);
	strata_tree_result r;
	double t0 = now_seconds();
	rc = strata_import(s, argv[optind + 1], io.label, io.flags, file_progress, &p, &r);
	progress_done(&p);
	strata_close(s);
	if (rc)
		return fail_lib("import", rc);
	char all[32], fresh[32];
	printf("unit %" PRIu64 ": %" PRIu64 " files (%s), %" PRIu64 " changed (%s), %" PRIu64 " directories, %" PRIu64
	       " links",
	       r.unit, r.files, human_bytes(r.bytes, all, sizeof all), r.changed,
	       human_bytes(r.new_bytes, fresh, sizeof fresh), r.dirs, r.links);
	if (r.skipped)
		printf(", %" PRIu64 " skipped (not a file, directory or link)", r.skipped);
	if (r.vanished)
		printf(", %" PRIu64 " vanished (deleted while importing)", r.vanished);
	printf(" in %.1f s\n", now_seconds() - t0);
	return finish_output("import", 0);
}

static int unit_opt(int opt, const char *arg, void *ctx)
{
	(void)opt;
	return parse_unit("export", "--unit", arg, ctx);
}

int cmd_export(int argc, char **argv)
{
	static const struct option lo[] = { { "unit", required_argument, NULL, 'u' }, { 0, 0, 0, 0 } };
	uint64_t unit = 0;
	int done, rc = command_getopt(argc, argv, "", lo, unit_opt, &unit, &done);
	if (rc || done)
		return rc;
	if (argc - optind != 2)
		return usage_error("export", "expected STORE DIR");
	strata_store *s;
	if (open_store(&s, "export", argv[optind], STRATA_OPEN_READ))
		return 1;
	progress p;
	progress_init(&p);
	strata_tree_result r;
	rc = strata_export(s, unit, argv[optind + 1], file_progress, &p, &r);
	progress_done(&p);
	strata_close(s);
	if (rc)
		return fail_lib("export", rc);
	char b[32];
	printf("unit %" PRIu64 ": %" PRIu64 " files (%s), %" PRIu64 " directories, %" PRIu64 " links into %s\n",
	       r.unit, r.files, human_bytes(r.bytes, b, sizeof b), r.dirs, r.links, argv[optind + 1]);
	return finish_output("export", 0);
}

typedef struct packs_ctx {
	const char *store;
	int verbose;
} packs_ctx;

static int print_pack(void *ctx, const char *path, uint64_t first, uint64_t last, uint64_t bytes)
{
	const packs_ctx *pc = ctx;
	if (pc->verbose)
		printf("%s/%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\n", pc->store, path, first, last, bytes);
	else
		printf("%s/%s\n", pc->store, path);
	return 0;
}

typedef struct packs_opts {
	uint64_t since;
	int verbose;
} packs_opts;

static int packs_opt(int opt, const char *arg, void *ctx)
{
	packs_opts *po = ctx;
	if (opt == 'v') {
		po->verbose = 1;
		return 0;
	}
	return parse_unit("packs", "--since", arg, &po->since);
}

int cmd_packs(int argc, char **argv)
{
	static const struct option lo[] = { { "since", required_argument, NULL, 's' },
					    { "verbose", no_argument, NULL, 'v' },
					    { 0, 0, 0, 0 } };
	packs_opts po = { 1, 0 };
	int done, rc = command_getopt(argc, argv, "v", lo, packs_opt, &po, &done);
	if (rc || done)
		return rc;
	if (argc - optind != 1)
		return usage_error("packs", "expected STORE");
	strata_store *s;
	if (open_store(&s, "packs", argv[optind], STRATA_OPEN_READ))
		return 1;
	packs_ctx pc = { argv[optind], po.verbose };
	rc = strata_foreach_pack(s, po.since, print_pack, &pc);
	strata_close(s);
	return finish_output("packs", rc ? fail_lib("packs", rc) : 0);
}

static int fork_opt(int opt, const char *arg, void *ctx)
{
	(void)opt;
	(void)arg;
	(void)ctx;
	return 0;
}

int cmd_fork(int argc, char **argv)
{
	int done, rc = command_getopt(argc, argv, "", NULL, fork_opt, NULL, &done);
	if (rc || done)
		return rc;
	if (argc - optind != 2)
		return usage_error("fork", "expected STORE NEW");
	uint64_t copied = 0;
	rc = strata_fork(argv[optind], argv[optind + 1], &copied);
	if (rc)
		return fail_lib("fork", rc);
	printf("forked %s into %s", argv[optind], argv[optind + 1]);
	if (copied)
		printf(" (%" PRIu64 " packs copied: links were refused)", copied);
	printf("\n");
	return finish_output("fork", 0);
}
