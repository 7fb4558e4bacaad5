/* cmd_read.c - the commands that read a store: get, ls, log, stats. */
#include "clikit.h"
#include "commands.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <unistd.h>

/* ----------------------------------------------------------------- get */

typedef struct get_opts {
	const char *out;
	int stats;
} get_opts;

static int get_opt(int opt, const char *arg, void *ctx)
{
	get_opts *g = ctx;
	if (opt == 'o')
		g->out = arg;
	else
		g->stats = 1;
	return 0;
}

int cmd_get(int argc, char **argv)
{
	static const struct option lo[] = { { "output", required_argument, NULL, 'o' },
					    { "stats", no_argument, NULL, 's' }, { 0, 0, 0, 0 } };
	get_opts go = { NULL, 0 };
	int done, rc = command_getopt(argc, argv, "o:", lo, get_opt, &go, &done);
	if (rc || done)
		return rc;
	if (argc - optind != 2)
		return usage_error("get", "expected STORE KEY[@N]");
	const char *ref = argv[optind + 1];
	size_t keylen;
	uint64_t n, count = 0;
	if (parse_key_ref(ref, &keylen, &n))
		return usage_error("get", "'%s': record numbers start at 1", ref);
	if (keylen == 0)
		return usage_error("get", "the key must not be empty");
	strata_store *s;
	if (open_store(&s, "get", argv[optind], STRATA_OPEN_READ))
		return 1;
	/* Whether the record exists, before any output is made. */
	if ((rc = strata_record_count(s, ref, keylen, &count)) != 0)
		rc = fail_lib("get", rc);
	else if (count == 0)
		rc = fail("get", "no key '%.*s' in %s", (int)keylen, ref, argv[optind]);
	else if (n > count)
		rc = fail("get", "key '%.*s' has %" PRIu64 " records; there is no record %" PRIu64, (int)keylen, ref,
			  count, n);
	if (n == 0)
		n = count;
	const char *what = go.out ? go.out : "standard output";
	int fd = go.out ? -1 : STDOUT_FILENO; /* a file: once this made it */
	if (!rc && go.out && (fd = open(go.out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)) < 0)
		rc = fail("get", "cannot create %s: %s", go.out, strerror(errno));
	/* A chunked record goes out chunk by chunk, each checked first; a
	 * failure midway leaves no file behind, but standard output has had
	 * a prefix of the record. */
	uint64_t size = 0;
	if (!rc && (rc = strata_get_fd(s, ref, keylen, n, fd, what, &size)) != 0)
		rc = fail_lib("get", rc);
	if (go.out && fd >= 0 && close(fd) != 0 && !rc)
		rc = fail("get", "cannot write %s: %s", go.out, strerror(errno));
	if (rc && go.out && fd >= 0)
		unlink(go.out);
	strata_read_cost cost;
	if (!rc && go.stats && !strata_read_cost_get(s, &cost))
		fprintf(stderr, "read %" PRIu64 " bytes from packs in %" PRIu64 " group(s), decoded %" PRIu64
			" bytes, returned %" PRIu64 " bytes (%.2f bytes read per byte returned)\n", cost.bytes_read,
			cost.groups, cost.bytes_decoded, size, size ? (double)cost.bytes_read / (double)size : 0.0);
	strata_close(s);
	return rc;
}

/* ----------------------------------------------------------------- cat */

typedef struct cat_opts {
	uint64_t from, count, prefetch;
	int count_set;   /* --count given: 0 is then an error, not "all" */
} cat_opts;

static int cat_opt(int opt, const char *arg, void *ctx)
{
	cat_opts *o = ctx;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || *arg == '-')
		return usage_error("cat", "'%s' is not a number", arg);
	if (opt == 'f')
		o->from = v;
	else if (opt == 'c')
		o->count = v, o->count_set = 1;
	else
		o->prefetch = v;
	return 0;
}

/* Write the cursor's records to standard output as they are, a batch of
 * them per writev (records side by side in memory, literals of one group,
 * in one piece): copied into stdio's buffer, they cost a fifth of a
 * replay's instructions. */
static int cat_out(strata_cursor *c)
{
	strata_slice v[1024];
	struct iovec iov[sizeof v / sizeof *v];
	_Static_assert(sizeof v / sizeof *v <= IOV_MAX, "a batch fits one writev");
	for (;;) {
		size_t got;
		int r = strata_cursor_batch(c, v, sizeof v / sizeof *v, &got, NULL);
		if (r == STRATA_ENOTFOUND)
			return 0;
		if (r)
			return fail_lib("cat", r);
		int n = 0;
		for (size_t i = 0; i < got; i++) {
			if (n && (const char *)iov[n - 1].iov_base + iov[n - 1].iov_len == v[i].data)
				iov[n - 1].iov_len += v[i].len;
			else
				iov[n++] = (struct iovec){ (void *)v[i].data, v[i].len };
		}
		if (writev_all(STDOUT_FILENO, iov, n) != 0)
			return fail("cat", "cannot write standard output: %s", strerror(errno));
	}
}

int cmd_cat(int argc, char **argv)
{
	static const struct option lo[] = { { "from", required_argument, NULL, 'f' },
					    { "count", required_argument, NULL, 'c' },
					    { "prefetch", required_argument, NULL, 'p' }, { 0, 0, 0, 0 } };
	cat_opts o = { 1, 0, 4, 0 };
	int done, rc = command_getopt(argc, argv, "", lo, cat_opt, &o, &done);
	if (rc || done)
		return rc;
	if (argc - optind < 2)
		return usage_error("cat", "expected STORE KEY...");
	if (o.from == 0)
		return usage_error("cat", "record numbers start at 1");
	if (o.prefetch == 0 || o.prefetch > 256)
		return usage_error("cat", "--prefetch must be within 1..256");
	/* The cursor reads count 0 as "to the last record". */
	if (o.count_set && o.count == 0)
		return usage_error("cat", "--count must be at least 1 (without it, cat goes to the last record)");
	const char *path = argv[optind];
	char **keys = argv + optind + 1;
	int nkeys = argc - optind - 1;
	strata_store *s;
	if (open_store(&s, "cat", path, STRATA_OPEN_READ))
		return 1;
	/* Every key is checked before anything is written. */
	for (int i = 0; i < nkeys && !rc; i++) {
		uint64_t total = 0;
		rc = strata_record_count(s, keys[i], strlen(keys[i]), &total);
		if (!rc && total == 0)
			rc = fail("cat", "no key '%s' in %s", keys[i], path);
		else if (!rc && o.from > total)
			rc = fail("cat", "key '%s' has %" PRIu64 " records; there is no record %" PRIu64, keys[i], total,
				  o.from);
		else if (rc)
			rc = fail_lib("cat", rc);
	}
	/* One cursor over every key: its threads decode the next key's
	 * first groups while this one's last records go out. */
	strata_range *ranges = rc ? NULL : calloc((size_t)nkeys, sizeof *ranges);
	if (!rc && !ranges)
		rc = fail("cat", "out of memory");
	for (int i = 0; !rc && i < nkeys; i++)
		ranges[i] = (strata_range){ keys[i], strlen(keys[i]), o.from, o.count };
	strata_cursor *c = NULL;
	int orc = rc ? 0 : strata_cursor_open_ranges(&c, s, ranges, (size_t)nkeys, (unsigned)o.prefetch);
	if (orc)
		rc = fail_lib("cat", orc);
	if (!rc)
		rc = cat_out(c);
	strata_cursor_close(c);
	free(ranges);
	strata_close(s);
	return rc;
}

/* ------------------------------------------------------------ ls / log */

static int no_opt(int opt, const char *arg, void *ctx)
{
	return 0;
}

static int ls_key(void *ctx, const strata_key_info *k)
{
	printf("%8" PRIu64 "  ", k->records);
	put_escaped(stdout, k->key, k->keylen);
	putchar('\n');
	return 0;
}

int cmd_ls(int argc, char **argv)
{
	int done, rc = command_getopt(argc, argv, "", NULL, no_opt, NULL, &done);
	if (rc || done)
		return rc;
	if (argc - optind != 1)
		return usage_error("ls", "expected STORE");
	strata_store *s;
	if (open_store(&s, "ls", argv[optind], STRATA_OPEN_READ))
		return 1;
	rc = strata_foreach_key(s, ls_key, NULL);
	strata_close(s);
	return finish_output("ls", rc ? fail_lib("ls", rc) : 0);
}

static int log_unit(void *ctx, const strata_unit_info *u)
{
	char when[32], raw[32], packed[32];
	time_t t = (time_t)u->time;
	struct tm tm;
	strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", gmtime_r(&t, &tm));
	printf("%8" PRIu64 "  %s  %8" PRIu64 "  %10s  %10s  ", u->unit, when, u->records,
	       human_bytes(u->raw_bytes, raw, sizeof raw), human_bytes(u->pack_bytes, packed, sizeof packed));
	put_escaped(stdout, u->label, strlen(u->label));
	putchar('\n');
	return 0;
}

static int log_record(void *ctx, const strata_record_info *r)
{
	printf("%8" PRIu64 "  %8" PRIu64 "  %12" PRIu64 "  %12" PRIu64 "  ", r->n, r->unit, r->size, r->stored);
	if (r->shared_checksum) /* no checksum of its own: it shares one */
		puts("(shared)");
	else
		printf("%016" PRIx64 "\n", r->checksum);
	return 0;
}

int cmd_log(int argc, char **argv)
{
	int done, rc = command_getopt(argc, argv, "", NULL, no_opt, NULL, &done);
	if (rc || done)
		return rc;
	int npos = argc - optind;
	if (npos < 1 || npos > 2)
		return usage_error("log", "expected STORE [KEY]");
	strata_store *s;
	if (open_store(&s, "log", argv[optind], STRATA_OPEN_READ))
		return 1;
	if (npos == 1) {
		printf("%8s  %-19s  %8s  %10s  %10s  %s\n", "unit", "time (UTC)", "records", "raw", "packed", "label");
		rc = strata_foreach_unit(s, log_unit, NULL);
	} else {
		const char *key = argv[optind + 1];
		uint64_t count = 0;
		rc = strata_record_count(s, key, strlen(key), &count);
		if (!rc && count == 0) {
			strata_close(s);
			return fail("log", "no key '%s' in %s", key, argv[optind]);
		}
		printf("%8s  %8s  %12s  %12s  %-16s\n", "record", "unit", "size", "stored", "checksum");
		if (!rc)
			rc = strata_foreach_record(s, key, strlen(key), log_record, NULL);
	}
	strata_close(s);
	return finish_output("log", rc ? fail_lib("log", rc) : 0);
}

/* --------------------------------------------------------------- stats */

static int stats_opt(int opt, const char *arg, void *ctx)
{
	*(int *)ctx = 1;
	return 0;
}

int cmd_stats(int argc, char **argv)
{
	static const struct option lo[] = { { "json", no_argument, NULL, 'j' }, { 0, 0, 0, 0 } };
	int json = 0, done, rc = command_getopt(argc, argv, "", lo, stats_opt, &json, &done);
	if (rc || done)
		return rc;
	if (argc - optind != 1)
		return usage_error("stats", "expected STORE");
	strata_store *s;
	if (open_store(&s, "stats", argv[optind], STRATA_OPEN_READ))
		return 1;
	strata_stats st;
	rc = strata_stats_get(s, &st);
	strata_close(s);
	if (rc)
		return fail_lib("stats", rc);
	double ratio = st.pack_bytes ? (double)st.raw_bytes / (double)st.pack_bytes : 0.0;
	if (json) {
		printf("{\"records\": %" PRIu64 ", \"keys\": %" PRIu64 ", \"units\": %" PRIu64
		       ", \"groups\": %" PRIu64 ", \"raw_bytes\": %" PRIu64 ", \"stored_bytes\": %" PRIu64
		       ", \"ratio\": %.4f, \"read_cost\": {\"median\": %.3f, \"p99\": %.3f, \"max\": %.3f}"
		       ", \"chain_max\": %" PRIu64 "}\n", st.records, st.keys, st.units, st.groups, st.raw_bytes,
		       st.pack_bytes, ratio, st.read_cost_median, st.read_cost_p99, st.read_cost_max, st.chain_max);
		return finish_output("stats", 0);
	}
	char raw[32], packed[32];
	printf("records       %" PRIu64 "\nkeys          %" PRIu64 "\nunits         %" PRIu64
	       "\ngroups        %" PRIu64 "\nraw bytes     %" PRIu64 " (%s)\nstored bytes  %" PRIu64
	       " (%s)\nratio         %.2f\n", st.records, st.keys, st.units, st.groups, st.raw_bytes,
	       human_bytes(st.raw_bytes, raw, sizeof raw), st.pack_bytes,
	       human_bytes(st.pack_bytes, packed, sizeof packed), ratio);
	printf("read cost     median %.2f, p99 %.2f, max %.2f bytes read per byte returned\n"
	       "              (records under 4 KiB count as 4 KiB); at most %" PRIu64 " groups per get\n",
	       st.read_cost_median, st.read_cost_p99, st.read_cost_max, st.chain_max);
	return finish_output("stats", 0);
}
