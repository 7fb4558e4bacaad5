/* cmd_write.c - the commands that add to a store: init, put, load. */
#include "clikit.h"
#include "commands.h"
#include "loadparse.h"

#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- init */

/* What the store options on a command line say (init's, and rebuild's for
 * a directory of packs); a profile's defaults apply first, then the options
 * given, whatever their order. */
struct store_opts {
	const char *cmd;        /* names the command in errors */
	strata_options o;       /* numeric options given (see `given`) */
	unsigned given;         /* GIVEN_* bits */
	const char *profile;
	const char *codec;
	const char **rules;     /* --codec-rule values, NULL-terminated */
	size_t nrules;
	int level, level_given;
	char codec_buf[64];     /* the codec with --level's level */
};

enum { GIVEN_CAP = 1, GIVEN_CHAIN = 2, GIVEN_COST = 4, GIVEN_REPACK = 8, GIVEN_CHUNK = 16, GIVEN_AVG = 32,
       GIVEN_STATE = 64, GIVEN_DEDUP = 128, GIVEN_DELTA = 256 };

static const struct option STORE_LONGOPTS[] = { { "group-cap", required_argument, NULL, 'c' },
					 { "level", required_argument, NULL, 'l' },
					 { "chain-max", required_argument, NULL, 'd' },
					 { "read-cost-max", required_argument, NULL, 'r' },
					 { "repack-after", required_argument, NULL, 'a' },
					 { "chunk-above", required_argument, NULL, 'k' },
					 { "chunk-avg", required_argument, NULL, 'g' },
					 { "state-mem", required_argument, NULL, 'm' },
					 { "dedup-above", required_argument, NULL, 'u' },
					 { "delta-above", required_argument, NULL, 'e' },
					 { "profile", required_argument, NULL, 'p' },
					 { "codec", required_argument, NULL, 'C' },
					 { "codec-rule", required_argument, NULL, 'R' },
					 { 0, 0, 0, 0 } };

const struct option *store_longopts(void)
{
	return STORE_LONGOPTS;
}

store_opts *store_opts_new(const char *cmd)
{
	store_opts *so = calloc(1, sizeof *so);
	if (so) {
		so->cmd = cmd;
		so->o = (strata_options)STRATA_OPTIONS_INIT;
	}
	return so;
}

void store_opts_free(store_opts *so)
{
	if (so)
		free(so->rules);
	free(so);
}

int store_opts_given(const store_opts *so)
{
	return so->given || so->profile || so->codec || so->rules || so->level_given;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-')
		return -1;
	*v = x;
	return 0;
}

int store_opt(int opt, const char *arg, void *ctx)
{
	store_opts *io = ctx;
	if (opt == 'p' || opt == 'C') {
		*(opt == 'p' ? &io->profile : &io->codec) = arg;
		return 0;
	}
	if (opt == 'R') {
		const char **r = realloc(io->rules, (io->nrules + 2) * sizeof *r);
		if (!r)
			return fail(io->cmd, "out of memory");
		io->rules = r;
		r[io->nrules++] = arg;
		r[io->nrules] = NULL;
		return 0;
	}
	uint64_t v;
	if (parse_u64(arg, &v))
		return usage_error(io->cmd, "'%s' is not a number", arg);
	/* The library checks each option's range and names the value; only a
	 * value too large for its int field is refused here. */
	if (opt != 'c' && opt != 'k' && opt != 'm' && opt != 'u' && opt != 'e' && v > INT_MAX)
		return usage_error(io->cmd, "'%s' is too large", arg);
	int iv = (int)v;
	if (opt == 'c') {
		io->o.group_cap = v;
		io->given |= GIVEN_CAP;
	} else if (opt == 'k') {
		io->o.chunk_above = v;
		io->given |= GIVEN_CHUNK;
	} else if (opt == 'g') {
		io->o.chunk_avg = (uint32_t)v;
		io->given |= GIVEN_AVG;
	} else if (opt == 'm') {
		io->o.state_mem = v;
		io->given |= GIVEN_STATE;
	} else if (opt == 'u') {
		io->o.dedup_above = v;
		io->given |= GIVEN_DEDUP;
	} else if (opt == 'e') {
		io->o.delta_above = v;
		io->given |= GIVEN_DELTA;
	} else if (opt == 'l') {
		io->level = iv;
		io->level_given = 1;
	} else if (opt == 'd') {
		io->o.chain_max = iv;
		io->given |= GIVEN_CHAIN;
	} else if (opt == 'a') {
		io->o.repack_after = iv;
		io->given |= GIVEN_REPACK;
	} else {
		io->o.read_cost_max = iv;
		io->given |= GIVEN_COST;
	}
	return 0;
}

int store_opts_resolve(store_opts *io, strata_options *o)
{
	if (strata_options_profile(o, io->profile ? io->profile : "versions"))
		return usage_error(io->cmd, "%s", strata_errmsg());
	if (io->given & GIVEN_CAP)
		o->group_cap = io->o.group_cap;
	if (io->given & GIVEN_CHAIN)
		o->chain_max = io->o.chain_max;
	if (io->given & GIVEN_COST)
		o->read_cost_max = io->o.read_cost_max;
	if (io->given & GIVEN_REPACK)
		o->repack_after = io->o.repack_after;
	if (io->given & GIVEN_CHUNK)
		o->chunk_above = io->o.chunk_above;
	if (io->given & GIVEN_AVG)
		o->chunk_avg = io->o.chunk_avg;
	if (io->given & GIVEN_STATE)
		o->state_mem = io->o.state_mem;
	if (io->given & GIVEN_DEDUP)
		o->dedup_above = io->o.dedup_above;
	if (io->given & GIVEN_DELTA)
		o->delta_above = io->o.delta_above;
	if (io->codec)
		o->codec = io->codec;
	if (io->rules)
		o->codec_rules = io->rules;
	if (!io->level_given)
		return 0;
	if (io->codec && strchr(io->codec, ':'))
		return usage_error(io->cmd, "give the level either in --codec or with --level, not both");
	size_t name = o->codec ? strcspn(o->codec, ":") : 0;
	if (!o->codec || (name == 4 && !strncmp(o->codec, "zstd", 4))) {
		o->zstd_level = io->level;
		if (o->codec)
			o->codec = "zstd"; /* takes zstd_level */
	} else {
		snprintf(io->codec_buf, sizeof io->codec_buf, "%.*s:%d", (int)name, o->codec, io->level);
		o->codec = io->codec_buf;
	}
	return 0;
}

int cmd_init(int argc, char **argv)
{
	store_opts *so = store_opts_new("init");
	if (!so)
		return fail("init", "out of memory");
	strata_options o;
	int done, rc = command_getopt(argc, argv, "", store_longopts(), store_opt, so, &done);
	if (!rc && !done && argc - optind != 1)
		rc = usage_error("init", "expected one STORE directory");
	if (!rc && !done)
		rc = store_opts_resolve(so, &o);
	if (rc || done) {
		store_opts_free(so);
		return rc;
	}
	strata_store *s;
	rc = strata_open(&s, argv[optind], STRATA_OPEN_CREATE | STRATA_OPEN_EXCL, &o);
	store_opts_free(so);
	if (rc == STRATA_EINVAL) /* an option out of range: bad usage */
		return usage_error("init", "%s", strata_errmsg());
	if (rc)
		return fail_lib("init", rc);
	strata_close(s);
	printf("initialized empty store %s\n", argv[optind]);
	return 0;
}

/* ----------------------------------------------------------------- put */

static int put_opt(int opt, const char *arg, void *ctx)
{
	*(const char **)ctx = arg;
	return 0;
}

int cmd_put(int argc, char **argv)
{
	static const struct option lo[] = { { "label", required_argument, NULL, 'L' }, { 0, 0, 0, 0 } };
	const char *label = NULL;
	int done, rc = command_getopt(argc, argv, "", lo, put_opt, &label, &done);
	if (rc || done)
		return rc;
	int npos = argc - optind;
	if (npos < 2 || npos > 3)
		return usage_error("put", "expected STORE KEY [FILE|-]");
	const char *store = argv[optind], *key = argv[optind + 1];
	const char *file = npos == 3 ? argv[optind + 2] : "-";
	if (!*key)
		return usage_error("put", "the key must not be empty");
	strata_store *s;
	if (open_store(&s, "put", store, STRATA_OPEN_WRITE))
		return 1;
	uint64_t n, unit;
	int fd;
	rc = open_input("put", file, &fd);
	if (!rc) {
		/* Read as it is stored: a large record is chunked on the way,
		 * in bounded memory. */
		rc = strata_put_fd(s, key, strlen(key), fd, strcmp(file, "-") ? file : "standard input", &n, NULL);
		if (!rc)
			rc = strata_commit(s, label, &unit);
		rc = rc ? fail_lib("put", rc) : 0;
		if (fd > 0)
			close(fd);
	}
	if (!rc) {
		fputs("stored ", stdout);
		put_escaped(stdout, key, strlen(key));
		printf("@%" PRIu64 " in unit %" PRIu64 "\n", n, unit);
	}
	strata_close(s);
	return rc;
}

/* ---------------------------------------------------------------- load */

typedef struct load_state {
	strata_store *s;
	int verbose;
	int stats;                       /* --stats (and -v): the pipeline's figures */
	uint64_t records, units, bytes;  /* committed + in progress */
	uint64_t unit_records;           /* records of the unit in progress */
	double start;
	progress prog;
	strata_pipeline_options po;      /* --threads, --queue-mb, --durable-* */
	int async_ok;                    /* commits may return before durable */
} load_state;

static int load_opt(int opt, const char *arg, void *ctx)
{
	load_state *st = ctx;
	if (opt == 'v' || opt == 'S') {
		st->verbose |= opt == 'v';
		st->stats = 1;
		return 0;
	}
	uint64_t v;
	if (parse_u64(arg, &v))
		return usage_error("load", "'%s' is not a number", arg);
	if (opt == 't') {
		if (v > 64)
			return usage_error("load", "--threads %s is outside 0..64", arg);
		st->po.workers = v ? (int)v : -1;
	} else if (opt == 'q') {
		if (v < 1 || v > (1u << 20))
			return usage_error("load", "--queue-mb %s is outside 1..1048576", arg);
		st->po.queue_bytes = v << 20;
	} else if (opt == 'm') {
		if (v > (1u << 30))
			return usage_error("load", "--durable-mb %s is too large", arg);
		st->po.durable_bytes = v << 20;
	} else {
		if (v > 86400)
			return usage_error("load", "--durable-sec %s is outside 0..86400", arg);
		st->po.durable_ms = (uint32_t)v * 1000;
	}
	return 0;
}

static void load_progress(load_state *st, int force)
{
	if (!progress_due(&st->prog, force))
		return;
	char b[32];
	double dt = now_seconds() - st->start;
	progress_show(&st->prog, 1, "load: %s, %" PRIu64 " records, %" PRIu64 " units, %.1f MiB/s",
		      human_bytes(st->bytes, b, sizeof b), st->records, st->units,
		      dt > 0 ? (double)st->bytes / 1048576.0 / dt : 0.0);
}

/* With -v every commit is synchronous, so that "committed unit N" is printed
 * once N is durable; otherwise a commit may return at once (async_ok) and
 * the end of the load waits for every unit. */
static int load_commit(load_state *st, const char *label)
{
	uint64_t unit = 0;
	int rc = st->async_ok ? strata_commit_async(st->s, label) : strata_commit(st->s, label, &unit);
	if (rc)
		return fail_lib("load", rc);
	st->units++;
	st->unit_records = 0;
	if (st->verbose) {
		printf("committed unit %" PRIu64 "\n", unit);
		fflush(stdout);
	}
	return 0;
}

static int load_stream(load_state *st, FILE *in, const char *name)
{
	load_parser p;
	if (load_init(&p, in))
		return fail("load", "out of memory");
	int rc = 0;
	for (;;) {
		load_cmd c;
		if (load_next(&p, &c)) {
			progress_done(&st->prog);
			/* the commits before the bad input stand, once durable */
			if (st->units && (rc = strata_pipeline_wait(st->s, NULL)) != 0) {
				rc = fail_lib("load", rc);
				fail("load", "%s: %s; the stream stopped there", name, p.err);
				break;
			}
			rc = fail("load", "%s: %s; the unit in progress (%" PRIu64 " records) was discarded, "
				  "the %" PRIu64 " units committed before it are kept", name, p.err, st->unit_records, st->units);
			break;
		}
		if (c.kind == LOAD_END) {
			/* The records since the last commit, unless a durable
			 * point (--durable-mb/-sec) took them all already;
			 * then every unit durable. */
			int pending = 0;
			if (st->unit_records && (rc = strata_pending(st->s, &pending)) != 0)
				rc = fail_lib("load", rc);
			else if (pending)
				rc = load_commit(st, NULL);
			if (!rc && (rc = strata_pipeline_wait(st->s, NULL)) != 0)
				rc = fail_lib("load", rc);
			break;
		}
		if (c.kind == LOAD_COMMIT) {
			if ((rc = load_commit(st, c.label)) != 0)
				break;
		} else {
			rc = strata_put(st->s, c.key, c.keylen, c.data, c.len, c.release, c.release_ctx, NULL);
			if (rc) {
				progress_done(&st->prog);
				rc = fail_lib("load", rc);
				break;
			}
			st->records++;
			st->unit_records++;
			st->bytes += c.len;
		}
		load_progress(st, 0);
	}
	load_free(&p);
	return rc;
}

int cmd_load(int argc, char **argv)
{
	static const struct option lo[] = { { "verbose", no_argument, NULL, 'v' },
					    { "threads", required_argument, NULL, 't' },
					    { "queue-mb", required_argument, NULL, 'q' },
					    { "durable-mb", required_argument, NULL, 'm' },
					    { "durable-sec", required_argument, NULL, 's' },
					    { "stats", no_argument, NULL, 'S' },
					    { 0, 0, 0, 0 } };
	load_state st = { 0 };
	int done, rc = command_getopt(argc, argv, "v", lo, load_opt, &st, &done);
	if (rc || done)
		return rc;
	int npos = argc - optind;
	if (npos < 1 || npos > 2)
		return usage_error("load", "expected STORE [FILE|-]");
	const char *file = npos == 2 ? argv[optind + 1] : "-";
	FILE *in = stdin;
	if (strcmp(file, "-") != 0 && !(in = fopen(file, "rbe")))
		return fail("load", "cannot open %s: %s", file, strerror(errno));
	if (open_store(&st.s, "load", argv[optind], STRATA_OPEN_WRITE)) {
		if (in != stdin)
			fclose(in);
		return 1;
	}
	progress_init(&st.prog);
	st.start = now_seconds();
	rc = strata_pipeline_set(st.s, &st.po) ? fail_lib("load", 1) : 0;
	/* Asynchronous commits only where no record is coded against an
	 * earlier unit (chain-max 1, as the trace profile: elsewhere the next
	 * unit's records must find this one's filed, to be deltas against it)
	 * and nothing is chunked (a synchronous commit files the chunks). */
	strata_options so;
	st.async_ok = !st.verbose && !strata_options_get(st.s, &so) && so.chain_max == 1 && so.chunk_above == 0;
	if (!rc)
		rc = load_stream(&st, in, strcmp(file, "-") ? file : "standard input");
	progress_done(&st.prog);
	double reader_s = thread_cpu_seconds(); /* parsing, copying, putting */
	strata_pipeline_stats ps;
	strata_pipeline_stats_get(st.s, &ps);
	strata_close(st.s);
	if (in != stdin)
		fclose(in);
	if (!rc) {
		char b[32], b2[32];
		double dt = now_seconds() - st.start;
		fprintf(stderr, "loaded %" PRIu64 " records (%s) in %" PRIu64 " units in %.2f s\n", st.records,
			human_bytes(st.bytes, b, sizeof b), ps.workers ? ps.units_durable : st.units, dt);
		if (ps.workers && st.stats) {
			fprintf(stderr, "pipeline: %d workers, %s in flight at most (cap %s), %" PRIu64
				" puts waited for room, %" PRIu64 " units made durable\n", ps.workers,
				human_bytes(ps.inflight_peak, b, sizeof b), human_bytes(ps.queue_bytes, b2, sizeof b2),
				ps.blocked_puts, ps.units_durable);
			fprintf(stderr, "cpu: %.3f s reading, %.3f s coding, %.3f s writing\n", reader_s,
				ps.coding_cpu_s, ps.writing_cpu_s);
		} else if (st.stats && st.po.workers < 0) {
			fprintf(stderr, "pipeline: none (--threads 0)\ncpu: %.3f s reading, coding and writing\n",
				reader_s);
		} else if (st.stats) {
			fprintf(stderr, "pipeline: not started (nothing was put)\n");
		}
	}
	return rc;
}
