/*
 * putbench: the producer's view of strata_put on a trace stream, through
 * the public API only (include/strata.h).
 *
 *   putbench STORE STREAM [--workers N] [--queue-mb M] [--profile P]
 *            [--codec C]
 *
 * Creates STORE (it must not exist) with the options of profile P (default
 * "trace"; --codec overrides the profile's codec), sets the write pipeline
 * to N coding threads and a queue of M MiB (strata_pipeline_set; without
 * --workers / --queue-mb the library's defaults), then reads the load
 * stream STREAM ("put <length> <key>\n<bytes>\n", "commit <label>\n")
 * through a 4 MiB read buffer. For each record it mallocs a buffer, copies
 * the payload into it and hands it to strata_put with strata_release_free;
 * a commit line calls strata_commit, and records left at the end are
 * committed as one more unit.
 *
 * Each strata_put alone is timed with clock_gettime(CLOCK_MONOTONIC).
 * strata_pipeline_stats_get is read before and after every put (outside the
 * timed span): a put during which blocked_puts grew waited for room in the
 * queue and is counted as blocked; the others are the latency figures.
 * Latencies go into a log-linear histogram (64 steps per power of two,
 * under 1.6% error; max and mean are exact), so measuring costs no memory
 * per put and does not inflate the peak RSS. Prints "name value" lines:
 *
 *   puts, bytes            records put, their payload bytes
 *   wall_ns                from opening the store to the last commit durable
 *   commit_ns              time spent in strata_commit (all commits)
 *   put_ns_p50/p99/max     latency of the puts that did not block
 *   put_ns_mean            mean of the same
 *   blocked_puts           puts that waited for room (blocked_ns_p50/max)
 *   thread_cpu_ns          user+sys CPU of the producing thread (getrusage
 *                          RUSAGE_THREAD): reading and parsing the stream,
 *                          malloc and copy, the puts, the stats calls
 *   process_cpu_ns         user+sys CPU of the whole process (RUSAGE_SELF:
 *                          with the pipeline's coding and writer threads)
 *   maxrss_kb              peak resident set (ru_maxrss)
 *   queue_bytes, workers, inflight_peak, groups_written, units
 *                          from strata_pipeline_stats at the end
 *   pipeline               1 if built with the pipeline API, else 0
 *
 * Build with -DHAVE_STRATA_PIPELINE when libstrata has the pipeline API
 * (strata_pipeline_set, strata_pipeline_stats_get); without it the options
 * are ignored and no put counts as blocked. Exit status 0, 1 on any error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "strata.h"

/* ------------------------------------------------------------ histogram */

#define SUB_BITS 6
#define SUB (1u << SUB_BITS)
#define LINEAR (2u * SUB) /* values below this have a bucket each */
#define NBUCKETS (LINEAR + (64 - SUB_BITS - 1) * SUB)

typedef struct {
	uint64_t count[NBUCKETS];
	uint64_t n, sum, max;
} hist;

static unsigned bucket_of(uint64_t v)
{
	if (v < LINEAR)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= SUB_BITS + 1 */
	unsigned m = (unsigned)(v >> (e - SUB_BITS)) & (SUB - 1);
	return LINEAR + (e - SUB_BITS - 1) * SUB + m;
}

/* The middle of bucket b's range of values. */
static uint64_t bucket_value(unsigned b)
{
	if (b < LINEAR)
		return b;
	unsigned e = (b - LINEAR) / SUB + SUB_BITS + 1;
	uint64_t m = (b - LINEAR) % SUB;
	uint64_t lo = (SUB + m) << (e - SUB_BITS);
	return lo + ((1ull << (e - SUB_BITS)) >> 1);
}

static void hist_add(hist *h, uint64_t v)
{
	h->count[bucket_of(v)]++;
	h->n++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

/* Nearest-rank percentile p (0..1); the exact max for the last rank. */
static uint64_t hist_pct(const hist *h, double p)
{
	if (!h->n)
		return 0;
	uint64_t rank = (uint64_t)(p * (double)h->n);
	if ((double)rank < p * (double)h->n)
		rank++;
	if (rank < 1)
		rank = 1;
	if (rank >= h->n)
		return h->max;
	uint64_t seen = 0;
	for (unsigned b = 0; b < NBUCKETS; b++) {
		seen += h->count[b];
		if (seen >= rank) {
			uint64_t v = bucket_value(b);
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

/* ------------------------------------------------------------ reading */

#define RDBUF (4u << 20)

typedef struct {
	int fd;
	char *buf;
	size_t pos, end;
	uint64_t offset; /* of buf[0] in the file */
} reader;

static int fill(reader *r)
{
	if (r->pos < r->end && r->pos > 0) {
		memmove(r->buf, r->buf + r->pos, r->end - r->pos);
	}
	r->offset += r->pos;
	r->end -= r->pos;
	r->pos = 0;
	for (;;) {
		ssize_t k = read(r->fd, r->buf + r->end, RDBUF - r->end);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		r->end += (size_t)k;
		return (int)k;
	}
}

/* The next line without its '\n' in *line (valid until the next call);
 * 0 at a clean end, -1 on error. Lines are short: at most RDBUF bytes. */
static int read_line(reader *r, char **line, size_t *len)
{
	for (;;) {
		char *nl = memchr(r->buf + r->pos, '\n', r->end - r->pos);
		if (nl) {
			*line = r->buf + r->pos;
			*len = (size_t)(nl - *line);
			r->pos += *len + 1;
			return 1;
		}
		if (r->end - r->pos == RDBUF)
			return -1;
		int k = fill(r);
		if (k < 0)
			return -1;
		if (k == 0)
			return r->end == r->pos ? 0 : -1;
	}
}

/* Copy the next n bytes out of the read buffer into dst. */
static int read_bytes(reader *r, char *dst, size_t n)
{
	while (n) {
		if (r->pos == r->end) {
			int k = fill(r);
			if (k <= 0)
				return -1;
		}
		size_t c = r->end - r->pos;
		if (c > n)
			c = n;
		memcpy(dst, r->buf + r->pos, c);
		r->pos += c;
		dst += c;
		n -= c;
	}
	return 0;
}

/* ------------------------------------------------------------ main */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(int who)
{
	struct rusage ru;
	getrusage(who, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

static int usage(void)
{
	fprintf(stderr, "usage: putbench STORE STREAM [--workers N] [--queue-mb M] "
			"[--profile P] [--codec C]\n");
	return 2;
}

static void fail(const char *what)
{
	fprintf(stderr, "putbench: %s: %s\n", what, strata_errmsg());
	exit(1);
}

#ifdef HAVE_STRATA_PIPELINE
static uint64_t blocked_now(strata_store *s)
{
	strata_pipeline_stats st;
	if (strata_pipeline_stats_get(s, &st))
		fail("strata_pipeline_stats_get");
	return st.blocked_puts;
}
#else
static uint64_t blocked_now(strata_store *s)
{
	(void)s;
	return 0;
}
#endif

static hist free_h, blocked_h;

int main(int argc, char **argv)
{
	const char *store = NULL, *stream = NULL, *profile = "trace", *codec = NULL;
	int workers = 0, set_pipeline = 0;
	uint64_t queue_mb = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--workers") && i + 1 < argc) {
			workers = atoi(argv[++i]);
			set_pipeline = 1;
		} else if (!strcmp(argv[i], "--queue-mb") && i + 1 < argc) {
			queue_mb = strtoull(argv[++i], NULL, 10);
			set_pipeline = 1;
		} else if (!strcmp(argv[i], "--profile") && i + 1 < argc) {
			profile = argv[++i];
		} else if (!strcmp(argv[i], "--codec") && i + 1 < argc) {
			codec = argv[++i];
		} else if (argv[i][0] == '-') {
			return usage();
		} else if (!store) {
			store = argv[i];
		} else if (!stream) {
			stream = argv[i];
		} else {
			return usage();
		}
	}
	if (!store || !stream)
		return usage();

	reader rd = { .fd = open(stream, O_RDONLY) };
	if (rd.fd < 0) {
		fprintf(stderr, "putbench: %s: %s\n", stream, strerror(errno));
		return 1;
	}
	rd.buf = malloc(RDBUF);
	if (!rd.buf)
		return 1;

	uint64_t t_start = now_ns();
	uint64_t cpu_thread0 = cpu_ns(RUSAGE_THREAD), cpu_self0 = cpu_ns(RUSAGE_SELF);

	strata_options opts;
	if (strata_options_profile(&opts, profile))
		fail("strata_options_profile");
	if (codec)
		opts.codec = codec;
	strata_store *s;
	if (strata_open(&s, store, STRATA_OPEN_WRITE | STRATA_OPEN_CREATE | STRATA_OPEN_EXCL, &opts))
		fail(store);
#ifdef HAVE_STRATA_PIPELINE
	if (set_pipeline) {
		strata_pipeline_options po = { .workers = workers, .queue_bytes = queue_mb << 20 };
		if (strata_pipeline_set(s, &po))
			fail("strata_pipeline_set");
	}
#else
	(void)set_pipeline;
	(void)workers;
	(void)queue_mb;
#endif

	uint64_t puts = 0, bytes = 0, commit_ns = 0, units = 0, pending = 0;
	char *line;
	size_t len;
	int rc;
	while ((rc = read_line(&rd, &line, &len)) > 0) {
		if (len >= 4 && !memcmp(line, "put ", 4)) {
			char *end;
			errno = 0;
			unsigned long long n = strtoull(line + 4, &end, 10);
			if (errno || end == line + 4 || *end != ' ' || end + 1 > line + len) {
				fprintf(stderr, "putbench: bad put line near offset %" PRIu64 "\n",
					rd.offset + rd.pos);
				return 1;
			}
			const char *key = end + 1;
			size_t keylen = (size_t)(line + len - key);
			/* the key lives in the read buffer: keep it before reading on */
			char keybuf[256];
			if (keylen >= sizeof keybuf) {
				fprintf(stderr, "putbench: key too long\n");
				return 1;
			}
			memcpy(keybuf, key, keylen);
			char *buf = malloc(n ? n : 1);
			if (!buf)
				return 1;
			char nl;
			if (read_bytes(&rd, buf, n) || read_bytes(&rd, &nl, 1) || nl != '\n') {
				fprintf(stderr, "putbench: truncated record near offset %" PRIu64 "\n",
					rd.offset + rd.pos);
				return 1;
			}
			uint64_t b0 = blocked_now(s);
			uint64_t t0 = now_ns();
			int prc = strata_put(s, keybuf, keylen, buf, n, strata_release_free, NULL, NULL);
			uint64_t t1 = now_ns();
			if (prc)
				fail("strata_put");
			if (blocked_now(s) > b0)
				hist_add(&blocked_h, t1 - t0);
			else
				hist_add(&free_h, t1 - t0);
			puts++;
			bytes += n;
			pending++;
		} else if (len >= 6 && !memcmp(line, "commit", 6)) {
			char label[256] = "";
			if (len > 7 && line[6] == ' ') {
				size_t ll = len - 7 < sizeof label - 1 ? len - 7 : sizeof label - 1;
				memcpy(label, line + 7, ll);
				label[ll] = 0;
			}
			uint64_t t0 = now_ns();
			if (strata_commit(s, label, NULL))
				fail("strata_commit");
			commit_ns += now_ns() - t0;
			units++;
			pending = 0;
		} else if (len == 0 || line[0] == '#') {
			continue;
		} else {
			fprintf(stderr, "putbench: unknown command near offset %" PRIu64 "\n",
				rd.offset + rd.pos);
			return 1;
		}
	}
	if (rc < 0) {
		fprintf(stderr, "putbench: reading %s failed or it ends mid-line\n", stream);
		return 1;
	}
	if (pending) {
		uint64_t t0 = now_ns();
		if (strata_commit(s, "end", NULL))
			fail("strata_commit");
		commit_ns += now_ns() - t0;
		units++;
	}
	uint64_t t_end = now_ns();
	uint64_t cpu_thread = cpu_ns(RUSAGE_THREAD) - cpu_thread0;
	uint64_t cpu_self = cpu_ns(RUSAGE_SELF) - cpu_self0;

	printf("puts %" PRIu64 "\n", puts);
	printf("bytes %" PRIu64 "\n", bytes);
	printf("units %" PRIu64 "\n", units);
	printf("wall_ns %" PRIu64 "\n", t_end - t_start);
	printf("commit_ns %" PRIu64 "\n", commit_ns);
	printf("put_ns_p50 %" PRIu64 "\n", hist_pct(&free_h, 0.50));
	printf("put_ns_p99 %" PRIu64 "\n", hist_pct(&free_h, 0.99));
	printf("put_ns_p999 %" PRIu64 "\n", hist_pct(&free_h, 0.999));
	printf("put_ns_max %" PRIu64 "\n", free_h.max);
	printf("put_ns_mean %.0f\n", free_h.n ? (double)free_h.sum / (double)free_h.n : 0.0);
	printf("blocked_puts %" PRIu64 "\n", blocked_h.n);
	printf("blocked_ns_p50 %" PRIu64 "\n", hist_pct(&blocked_h, 0.50));
	printf("blocked_ns_max %" PRIu64 "\n", blocked_h.max);
	printf("blocked_ns_sum %" PRIu64 "\n", blocked_h.sum);
	printf("thread_cpu_ns %" PRIu64 "\n", cpu_thread);
	printf("process_cpu_ns %" PRIu64 "\n", cpu_self);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("maxrss_kb %ld\n", ru.ru_maxrss);
#ifdef HAVE_STRATA_PIPELINE
	strata_pipeline_stats st;
	if (strata_pipeline_stats_get(s, &st))
		fail("strata_pipeline_stats_get");
	printf("pipeline 1\n");
	printf("workers %d\n", st.workers);
	printf("queue_bytes %" PRIu64 "\n", st.queue_bytes);
	printf("inflight_peak %" PRIu64 "\n", st.inflight_peak);
	printf("groups_written %" PRIu64 "\n", st.groups_written);
	printf("stats_blocked_puts %" PRIu64 "\n", st.blocked_puts);
#else
	printf("pipeline 0\n");
#endif
	strata_close(s);
	free(rd.buf);
	close(rd.fd);
	return 0;
}
