/* cmd_admin.c - the commands that check and repair a store: verify, rebuild. */
#include "clikit.h"
#include "commands.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef struct check_ctx {
	const char *cmd;
	progress prog;
} check_ctx;

static void report_problem(void *ctx, const strata_problem *p)
{
	check_ctx *c = ctx;
	progress_done(&c->prog);
	fprintf(stderr, "strata %s: ", c->cmd);
	if (p->pack)
		fprintf(stderr, "%s: ", p->pack);
	if (p->key) {
		fputs("key '", stderr);
		put_escaped(stderr, p->key, p->keylen);
		fprintf(stderr, "' record %" PRIu64 ": ", p->n);
	}
	fprintf(stderr, "%s\n", p->message);
}

static void show_progress(void *ctx, uint64_t done, uint64_t total)
{
	check_ctx *c = ctx;
	progress_show(&c->prog, done == total, "%s: %" PRIu64 "/%" PRIu64 " packs", c->cmd, done, total);
}

static int since_opt(int opt, const char *arg, void *ctx)
{
	char *end;
	unsigned long long v = strtoull(arg, &end, 10);
	if (*arg == '-' || *arg == '\0' || *end || v == 0)
		return usage_error("verify", "--since takes a unit number (1 or more), not '%s'", arg);
	*(uint64_t *)ctx = v;
	return 0;
}

int cmd_verify(int argc, char **argv)
{
	static const struct option lo[] = { { "since", required_argument, NULL, 's' }, { 0, 0, 0, 0 } };
	uint64_t since = 1;
	int done, rc = command_getopt(argc, argv, "", lo, since_opt, &since, &done);
	if (rc || done)
		return rc;
	if (argc - optind != 1)
		return usage_error("verify", "expected STORE");
	strata_store *s;
	if (open_store(&s, "verify", argv[optind], STRATA_OPEN_READ))
		return 1;
	check_ctx c = { "verify", { 0 } };
	progress_init(&c.prog);
	strata_verify_result res;
	rc = strata_verify_since(s, since, report_problem, show_progress, &c, &res);
	progress_done(&c.prog);
	strata_close(s);
	if (rc && rc != STRATA_ECORRUPT)
		return fail_lib("verify", rc);
	char b[32];
	printf("checked %" PRIu64 " packs, %" PRIu64 " groups, %" PRIu64 " records (%s): ", res.packs,
	       res.groups, res.records, human_bytes(res.bytes, b, sizeof b));
	if (res.problems) {
		printf("%" PRIu64 " problem(s)\n", res.problems);
		return finish_output("verify", 1);
	}
	printf("ok\n");
	return finish_output("verify", 0);
}

int cmd_rebuild(int argc, char **argv)
{
	store_opts *so = store_opts_new("rebuild");
	if (!so)
		return fail("rebuild", "out of memory");
	strata_options o;
	int done, rc = command_getopt(argc, argv, "", store_longopts(), store_opt, so, &done);
	if (!rc && !done && argc - optind != 1)
		rc = usage_error("rebuild", "expected STORE");
	int given = store_opts_given(so);
	if (!rc && !done && given)
		rc = store_opts_resolve(so, &o);
	if (rc || done) {
		store_opts_free(so);
		return rc;
	}
	check_ctx c = { "rebuild", { 0 } };
	progress_init(&c.prog);
	uint64_t units = 0;
	rc = strata_rebuild_opts(argv[optind], given ? &o : NULL, report_problem, show_progress, &c, &units);
	progress_done(&c.prog);
	store_opts_free(so);
	if (rc == STRATA_EINVAL) /* an option out of range, or options for a store that has its own */
		return usage_error("rebuild", "%s", strata_errmsg());
	if (rc)
		return fail_lib("rebuild", rc);
	printf("rebuilt the catalog of %s: %" PRIu64 " units\n", argv[optind], units);
	return finish_output("rebuild", 0);
}

static int repack_opt(int opt, const char *arg, void *ctx)
{
	*(int *)ctx |= STRATA_REPACK_OLDEST_FIRST;
	return 0;
}

static void repack_progress(void *ctx, uint64_t done, uint64_t total)
{
	check_ctx *c = ctx;
	progress_show(&c->prog, done == total, "repack: %" PRIu64 "/%" PRIu64 " records", done, total);
}

int cmd_repack(int argc, char **argv)
{
	static const struct option lo[] = { { "oldest-first", no_argument, NULL, 'O' }, { 0, 0, 0, 0 } };
	int flags = 0, done, rc = command_getopt(argc, argv, "", lo, repack_opt, &flags, &done);
	if (rc || done)
		return rc;
	if (argc - optind != 1)
		return usage_error("repack", "expected STORE");
	strata_store *s;
	if (open_store(&s, "repack", argv[optind], STRATA_OPEN_WRITE))
		return 1;
	check_ctx c = { "repack", { 0 } };
	progress_init(&c.prog);
	strata_repack_result res;
	rc = strata_repack(s, flags, repack_progress, &c, &res);
	progress_done(&c.prog);
	strata_close(s);
	if (rc)
		return fail_lib("repack", rc);
	char b1[32], b2[32];
	printf("repacked %" PRIu64 " packs (%s) into %" PRIu64 " (%s)\n", res.packs_before,
	       human_bytes(res.bytes_before, b1, sizeof b1), res.packs_after, human_bytes(res.bytes_after, b2, sizeof b2));
	return finish_output("repack", 0);
}
