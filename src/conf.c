/* conf.c - read and write strata.conf, resolve codec rules, store
 * profiles (conf.h). */
#include "conf.h"
#include "err.h"
#include "group.h"
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The whole file, at most: builds before codec rules read no more than
 * this, so a longer file would be cut mid-line for them. */
#define CONF_MAX 4096
#define CODEC_LIST "none, zstd, lz4, zlib, xz"

static int check_numbers(const strata_options *o)
{
	if (o->group_cap < 4096 || o->group_cap > (256u << 20))
		return err_set(STRATA_EINVAL, "group cap %" PRIu64 " is outside 4096..268435456", o->group_cap);
	if (o->zstd_level < 1 || o->zstd_level > 22)
		return err_set(STRATA_EINVAL, "zstd level %d is outside 1..22", o->zstd_level);
	if (o->chain_max < 1 || o->chain_max > 32)
		return err_set(STRATA_EINVAL, "chain max %d is outside 1..32", o->chain_max);
	if (o->read_cost_max < 1 || o->read_cost_max > 1024)
		return err_set(STRATA_EINVAL, "read cost max %d is outside 1..1024", o->read_cost_max);
	if (o->repack_after != 0 && (o->repack_after < 2 || o->repack_after > 1000))
		return err_set(STRATA_EINVAL, "repack-after %d is neither 0 nor within 2..1000", o->repack_after);
	if (o->chunk_above != 0 && (o->chunk_above < (64u << 10) || o->chunk_above > (1ull << 40)))
		return err_set(STRATA_EINVAL, "chunk-above %" PRIu64 " is neither 0 nor within 65536..2^40",
			       o->chunk_above);
	if (o->chunk_avg < (4u << 10) || o->chunk_avg > (16u << 20) || (o->chunk_avg & (o->chunk_avg - 1)))
		return err_set(STRATA_EINVAL, "chunk-avg %" PRIu32 " is not a power of two within 4096..16777216",
			       o->chunk_avg);
	if (o->state_mem < (16u << 20))
		return err_set(STRATA_EINVAL, "state-mem %" PRIu64 " is under 16 MiB", o->state_mem);
	if (o->dedup_above != 0 && (o->dedup_above < 64 || o->dedup_above > (1u << 30)))
		return err_set(STRATA_EINVAL, "dedup-above %" PRIu64 " is neither 0 nor within 64..2^30",
			       o->dedup_above);
	if (o->delta_above != 0 && (o->delta_above < 16 || o->delta_above > (1u << 30)))
		return err_set(STRATA_EINVAL, "delta-above %" PRIu64 " is neither 0 nor within 16..2^30",
			       o->delta_above);
	return 0;
}

static int is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/* [*s, *e) without blanks at either end. */
static void trim(const char **s, const char **e)
{
	while (*s < *e && is_blank(**s))
		(*s)++;
	while (*e > *s && is_blank((*e)[-1]))
		(*e)--;
}

/* "CODEC" or "CODEC:LEVEL" in [s, e) (blanks around it ignored). A bare
 * zstd takes zstd_level, another bare codec its usual level. An unknown
 * codec name sets *codec to -1 (and is STRATA_EINVAL like any other
 * mistake). */
static int parse_spec(const char *s, const char *e, int zstd_level, int *codec, int *level)
{
	trim(&s, &e);
	const char *colon = memchr(s, ':', (size_t)(e - s));
	const char *name_end = colon ? colon : e;
	*codec = group_codec_id(s, (size_t)(name_end - s));
	if (*codec < 0)
		return err_set(STRATA_EINVAL, "unknown codec '%.*s' (known: " CODEC_LIST ")", (int)(name_end - s), s);
	int lmin, lmax, dflt;
	group_codec_levels(*codec, &lmin, &lmax, &dflt);
	*level = *codec == CODEC_ZSTD ? zstd_level : dflt;
	if (!colon)
		return 0;
	if (*codec == CODEC_NONE)
		return err_set(STRATA_EINVAL, "codec none takes no level");
	char num[16], *end = num;
	size_t n = (size_t)(e - colon - 1);
	errno = 0;
	long v = 0;
	if (n > 0 && n < sizeof num) {
		memcpy(num, colon + 1, n);
		num[n] = '\0';
		v = strtol(num, &end, 10);
	}
	if (n == 0 || n >= sizeof num || *end || errno || !(num[0] == '-' || (num[0] >= '0' && num[0] <= '9')))
		return err_set(STRATA_EINVAL, "level '%.*s' is not a number", (int)n, colon + 1);
	if (v < lmin || v > lmax)
		return err_set(STRATA_EINVAL, "%s level %ld is outside %d..%d", group_codec_name(*codec), v, lmin,
			       lmax);
	*level = (int)v;
	return 0;
}

/* "PATTERN=CODEC[:LEVEL]": the pattern is what comes before the last '='
 * (blanks before the '=' ignored); it must be non-empty, start with no
 * blank and hold no line break. */
static int parse_rule(const char *rule, int zstd_level, conf_rule *out, int *codec_unknown)
{
	const char *eq = strrchr(rule, '=');
	*codec_unknown = 0;
	if (!eq)
		return err_set(STRATA_EINVAL, "codec rule '%s' is not PATTERN=CODEC[:LEVEL]", rule);
	const char *pe = eq;
	while (pe > rule && is_blank(pe[-1]))
		pe--;
	if (pe == rule || is_blank(rule[0]) || memchr(rule, '\n', (size_t)(pe - rule)) ||
	    memchr(rule, '\r', (size_t)(pe - rule)))
		return err_set(STRATA_EINVAL, "codec rule '%s': the pattern must be non-empty, start with no blank "
			       "and hold no line break", rule);
	int rc = parse_spec(eq + 1, eq + strlen(eq), zstd_level, &out->codec, &out->level);
	if (rc) {
		*codec_unknown = out->codec < 0;
		return err_prefix(rc, "codec rule '%s': ", rule);
	}
	if (!(out->pattern = strndup(rule, (size_t)(pe - rule))))
		return ERR_NOMEM();
	return 0;
}

void conf_codecs_free(conf_codecs *cc)
{
	for (size_t i = 0; i < cc->nrules; i++)
		free(cc->rules[i].pattern);
	free(cc->rules);
	*cc = (conf_codecs){ 0 };
}

/* Remember the name of the unknown codec `spec` names, and go on. */
static void note_unknown(conf_codecs *cc, const char *spec)
{
	size_t n = strcspn(spec, ":");
	while (n > 0 && is_blank(spec[n - 1]))
		n--;
	while (n > 0 && is_blank(*spec))
		spec++, n--;
	snprintf(cc->unknown, sizeof cc->unknown, "%.*s", (int)n, spec);
	err_clear();
}

/* Resolve o's codec and rules into *cc. `lenient` (reading strata.conf):
 * a codec name this build does not know is noted in cc->unknown and its
 * rule dropped, rather than refused. */
static int resolve(const strata_options *o, conf_codecs *cc, int lenient)
{
	*cc = (conf_codecs){ CODEC_ZSTD, o->zstd_level, NULL, 0, "" };
	int rc = 0;
	if (o->codec) {
		rc = parse_spec(o->codec, o->codec + strlen(o->codec), o->zstd_level, &cc->codec, &cc->level);
		if (rc && lenient && cc->codec < 0) {
			*cc = (conf_codecs){ CODEC_ZSTD, o->zstd_level, NULL, 0, "" };
			note_unknown(cc, o->codec);
			rc = 0;
		} else if (rc) {
			return err_prefix(rc, "codec '%s': ", o->codec);
		}
	}
	size_t n = 0;
	while (o->codec_rules && o->codec_rules[n])
		n++;
	if (n && !(cc->rules = calloc(n, sizeof *cc->rules)))
		return ERR_NOMEM();
	for (size_t i = 0; !rc && i < n; i++) {
		int unknown;
		rc = parse_rule(o->codec_rules[i], o->zstd_level, &cc->rules[cc->nrules], &unknown);
		if (!rc)
			cc->nrules++;
		else if (lenient && unknown) {
			note_unknown(cc, strrchr(o->codec_rules[i], '=') + 1);
			rc = 0;
		}
	}
	if (rc)
		conf_codecs_free(cc);
	return rc;
}

static int put_spec(char *p, size_t cap, int codec, int level)
{
	if (codec == CODEC_NONE)
		return snprintf(p, cap, "none");
	return snprintf(p, cap, "%s:%d", group_codec_name(codec), level);
}

/* The text of strata.conf into text (CONF_MAX + 1 bytes); STRATA_EINVAL if
 * it would not fit. */
static int format_conf(const strata_options *o, const conf_codecs *cc, char *text, size_t *len)
{
	size_t cap = CONF_MAX + 1, n;
	n = (size_t)snprintf(text, cap,
			     "strata-store = %d\ngroup-cap = %" PRIu64 "\nzstd-level = %d\nchain-max = %d\n"
			     "read-cost-max = %d\nrepack-after = %d\nchunk-above = %" PRIu64 "\nchunk-avg = %" PRIu32
			     "\nstate-mem = %" PRIu64 "\n",
			     STORE_FORMAT, o->group_cap, o->zstd_level, o->chain_max, o->read_cost_max, o->repack_after,
			     o->chunk_above, o->chunk_avg, o->state_mem);
	/* Without dedup, no line: the file stays as before format 1.5. */
	if (n < cap && o->dedup_above)
		n += (size_t)snprintf(text + n, cap - n, "dedup-above = %" PRIu64 "\n", o->dedup_above);
	/* At its default, no line: a build before it reads the same policy. */
	if (n < cap && o->delta_above != 256)
		n += (size_t)snprintf(text + n, cap - n, "delta-above = %" PRIu64 "\n", o->delta_above);
	/* zstd at zstd-level needs no codec line: the file stays as it was
	 * before codecs. */
	if (n < cap && (cc->codec != CODEC_ZSTD || cc->level != o->zstd_level)) {
		n += (size_t)snprintf(text + n, cap - n, "codec = ");
		n += n < cap ? (size_t)put_spec(text + n, cap - n, cc->codec, cc->level) : 0;
		n += n < cap ? (size_t)snprintf(text + n, cap - n, "\n") : 0;
	}
	for (size_t i = 0; i < cc->nrules && n < cap; i++) {
		n += (size_t)snprintf(text + n, cap - n, "codec-rule = %s = ", cc->rules[i].pattern);
		n += n < cap ? (size_t)put_spec(text + n, cap - n, cc->rules[i].codec, cc->rules[i].level) : 0;
		n += n < cap ? (size_t)snprintf(text + n, cap - n, "\n") : 0;
	}
	if (n > CONF_MAX)
		return err_set(STRATA_EINVAL, "the codec rules take more than the %d bytes strata.conf may hold",
			       CONF_MAX);
	*len = n;
	return 0;
}

int conf_from_options(const strata_options *in, strata_options *o, conf_codecs *cc)
{
	*cc = (conf_codecs){ 0 };
	*o = (strata_options)STRATA_OPTIONS_INIT;
	if (in && in->version == 1) /* the fields before `codec` */
		memcpy(o, in, offsetof(strata_options, codec));
	else if (in && in->version == 2) /* the fields before `chunk_above` */
		memcpy(o, in, offsetof(strata_options, chunk_above));
	else if (in && in->version == 3) /* the fields before `dedup_above` */
		memcpy(o, in, offsetof(strata_options, dedup_above));
	else if (in && in->version == 4) /* the fields before `delta_above` */
		memcpy(o, in, offsetof(strata_options, delta_above));
	else if (in && in->version == STRATA_OPTIONS_VERSION)
		*o = *in;
	else if (in)
		return err_set(STRATA_EINVAL, "options version %u is not 1..%d (use STRATA_OPTIONS_INIT)", in->version,
			       STRATA_OPTIONS_VERSION);
	o->version = STRATA_OPTIONS_VERSION;
	int rc = check_numbers(o);
	if (!rc)
		rc = resolve(o, cc, 0);
	o->codec = NULL;
	o->codec_rules = NULL;
	char text[CONF_MAX + 1];
	size_t len;
	if (!rc && (rc = format_conf(o, cc, text, &len)) != 0)
		conf_codecs_free(cc);
	return rc;
}

int conf_write(const char *root, const strata_options *o, const conf_codecs *cc)
{
	char path[4096], tmp[4096], text[CONF_MAX + 1];
	snprintf(path, sizeof path, "%s/strata.conf", root);
	snprintf(tmp, sizeof tmp, "%s/strata.conf.tmp", root);
	size_t n;
	int fd, rc = format_conf(o, cc, text, &n);
	if (rc)
		return rc;
	if ((rc = os_open(&fd, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) != 0)
		return rc;
	rc = os_write(fd, text, n, tmp);
	if (!rc)
		rc = os_fsync(fd, tmp);
	os_close(fd);
	if (!rc)
		rc = os_rename(tmp, path);
	if (!rc)
		rc = os_fsync_dir(root);
	if (rc)
		os_unlink(tmp);
	return rc;
}

/* What the lines of strata.conf say, before it is checked as a whole. */
typedef struct conf_lines {
	int seen_format;
	const char *codec;      /* value of the codec line, or NULL */
	const char **rules;     /* values of the codec-rule lines, NULL-terminated */
	size_t nrules;
} conf_lines;

static int parse_line(char *line, strata_options *o, conf_lines *cl, const char *path)
{
	char *eq = strchr(line, '=');
	if (!eq)
		return line[strspn(line, " \t\r")] == '\0' ? 0 :
		       err_set(STRATA_ECORRUPT, "%s: malformed line '%s'", path, line);
	*eq = '\0';
	char name[64];
	if (sscanf(line, " %63s", name) != 1)
		return err_set(STRATA_ECORRUPT, "%s: malformed line", path);
	char *val = eq + 1, *end = val + strlen(val);
	while (end > val && is_blank(end[-1]))
		*--end = '\0';
	long long v = strtoll(val, NULL, 10);
	if (!strcmp(name, "strata-store")) {
		if (v != STORE_FORMAT)
			return err_set(STRATA_EFORMAT, "%s: store format %lld is not supported (this build reads %d)",
				       path, v, STORE_FORMAT);
		cl->seen_format = 1;
	} else if (!strcmp(name, "group-cap")) {
		o->group_cap = (uint64_t)v;
	} else if (!strcmp(name, "zstd-level")) {
		o->zstd_level = (int)v;
	} else if (!strcmp(name, "chain-max")) {
		o->chain_max = (int)v;
	} else if (!strcmp(name, "read-cost-max")) {
		o->read_cost_max = (int)v;
	} else if (!strcmp(name, "repack-after")) {
		o->repack_after = (int)v;
	} else if (!strcmp(name, "chunk-above")) {
		o->chunk_above = (uint64_t)v;
	} else if (!strcmp(name, "chunk-avg")) {
		o->chunk_avg = (uint32_t)v;
	} else if (!strcmp(name, "state-mem")) {
		o->state_mem = (uint64_t)v;
	} else if (!strcmp(name, "dedup-above")) {
		o->dedup_above = (uint64_t)v;
	} else if (!strcmp(name, "delta-above")) {
		o->delta_above = (uint64_t)v;
	} else if (!strcmp(name, "codec")) {
		cl->codec = val;
	} else if (!strcmp(name, "codec-rule")) {
		const char **r = realloc(cl->rules, (cl->nrules + 2) * sizeof *r);
		if (!r)
			return ERR_NOMEM();
		cl->rules = r;
		while (is_blank(*val))
			val++;
		r[cl->nrules++] = val;
		r[cl->nrules] = NULL;
	}
	return 0;
}

int conf_read(const char *root, strata_options *o, conf_codecs *cc)
{
	char path[4096], text[CONF_MAX + 2];
	snprintf(path, sizeof path, "%s/strata.conf", root);
	int fd, rc = os_open(&fd, path, O_RDONLY, 0);
	if (rc)
		return rc == STRATA_ENOTFOUND ? err_set(rc, "%s is not a strata store (no strata.conf)", root) : rc;
	size_t got;
	rc = os_pread_some(fd, text, CONF_MAX + 1, 0, &got, path);
	os_close(fd);
	if (rc)
		return rc;
	if (got > CONF_MAX)
		return err_set(STRATA_ECORRUPT, "%s is longer than %d bytes", path, CONF_MAX);
	text[got] = '\0';
	*cc = (conf_codecs){ 0 };
	*o = (strata_options)STRATA_OPTIONS_INIT;
	o->chunk_above = 0; /* a store made before chunking never chunks */
	conf_lines cl = { 0 };
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && !rc;
	     line = strtok_r(NULL, "\n", &save))
		rc = parse_line(line, o, &cl, path);
	if (!rc && !cl.seen_format)
		rc = err_set(STRATA_ECORRUPT, "%s lacks its strata-store line", path);
	if (!rc && check_numbers(o))
		rc = err_prefix(STRATA_ECORRUPT, "%s: ", path);
	if (!rc) {
		o->codec = cl.codec;
		o->codec_rules = cl.rules;
		rc = resolve(o, cc, 1);
		o->codec = NULL;
		o->codec_rules = NULL;
		if (rc)
			rc = err_prefix(rc == STRATA_EINVAL ? STRATA_ECORRUPT : rc, "%s: ", path);
	}
	free(cl.rules);
	return rc;
}

int conf_codec_of(const conf_codecs *cc, const void *key, size_t keylen, int *codec, int *level)
{
	*codec = cc->codec;
	*level = cc->level;
	if (cc->nrules == 0 || memchr(key, '\0', keylen))
		return 0;
	char small[256], *k = keylen < sizeof small ? small : malloc(keylen + 1);
	if (!k)
		return ERR_NOMEM();
	memcpy(k, key, keylen);
	k[keylen] = '\0';
	for (size_t i = 0; i < cc->nrules; i++)
		if (fnmatch(cc->rules[i].pattern, k, 0) == 0) {
			*codec = cc->rules[i].codec;
			*level = cc->rules[i].level;
			break;
		}
	if (k != small)
		free(k);
	return 0;
}

/* ------------------------------------------------------------ profiles */

int strata_options_profile(strata_options *o, const char *profile)
{
	err_clear();
	if (!o || !profile)
		return err_set(STRATA_EINVAL, "strata_options_profile needs options and a profile name");
	strata_options d = STRATA_OPTIONS_INIT;
	if (!strcmp(profile, "versions")) {
		/* The defaults. Groups of 16 MiB: on 40 versions of react-dom
		 * (bench/versions), packs after a repack of 1.21 MB against
		 * 1.35 MB with 8 MiB groups (keeping in-group deltas of a
		 * 32nd, see keep_delta) and 2.22 MB with 4 MiB (a full
		 * repack's zstd 19 groups hold literals, which fill groups
		 * fast; 32 MiB: no smaller); after the load 2.21 MB with 8 or
		 * 16 MiB, against 2.50 MB with 4. A get's p99 on the
		 * repacked store, 6.5 to 8.6 ms against 5.2 with 8 MiB; its
		 * median 0.15 ms. On this repository's history all three
		 * store the same (its files are small). */
	} else if (!strcmp(profile, "trace")) {
		/* zstd:2: on the 300 MB syscall trace of bench/trace (1.1
		 * million records), 1.7% smaller than zstd:1 (54.0 against
		 * 54.9 MB of packs) for about 3% more load time. Before that,
		 * zstd:1 rather than lz4: both loaded in 2.1 s on 2 threads,
		 * once a record cost about 11 bytes of footer (3, then 2,
		 * since format 1.4) and no catalog row; zstd:1 packs were
		 * 13% smaller (68.7 against 79.3 MB) for a replay 1.3 times
		 * as long (0.85 against 0.67 s). Replay reads in order, so no
		 * base deltas across units. A read cost of 4 cut a build's
		 * trace to groups of 45 KiB on average, for 12% more stored
		 * bytes; 64 closes groups at 256 KiB compressed, a quarter of
		 * the cap. 256 would fill them (2.7% less stored without
		 * dedup, but 1% with it) for 16 MiB more memory in two
		 * workers, which the queue cap + 64 MiB cannot spare. Groups
		 * of 4 MiB rather than 16: 0.6% more stored bytes on that
		 * trace, and 40 MiB less memory for two workers' groups in
		 * the making. */
		d.codec = "zstd:2";
		d.group_cap = 4u << 20;
		d.chain_max = 1;
		d.read_cost_max = 64;
		d.repack_after = 0;
		d.chunk_above = 0;
		/* A build's trace reads the same headers and libraries again
		 * and again: on that trace 16,700 records of 256 bytes and
		 * more refer to 1,200 pooled ones, 60.2 -> 56.5 MB of packs
		 * (records under 256 bytes would save less than a reference
		 * costs). */
		d.dedup_above = 256;
		/* With the pool taking the far repeats, copy/insert deltas
		 * against the group find nothing zstd:2's 1 MiB window does
		 * not: on that trace, without them, packs of 54.11 rather
		 * than 54.26 MB for 13% less load CPU (3.31 against 3.83 s,
		 * two workers). */
		d.delta_above = 0;
	} else if (!strcmp(profile, "archive")) {
		/* zstd:18, an optimal parser: the first unit of an archive
		 * (a whole tree) is most of its bytes, and its cost is paid
		 * once; later units are mostly copy/insert deltas, small
		 * groups whatever the level. On the 20 typescript releases of
		 * bench/archive: zstd:12 4.76 MB in 10.8 s, 16 4.52 MB, 17
		 * 4.45 MB, 18 4.39 MB in 15.2 s (the first release alone 1.1
		 * against 6.5 s; zstd -19 --long=31 solid: 3.59 MB). 19 and
		 * up keep few in-group deltas (see keep_delta in unitw.c),
		 * which the first release's bundles need: 3.15 MB for it
		 * against 18's 2.96. Restores are rare: twice the read
		 * cost. */
		d.codec = "zstd:18";
		d.zstd_level = 18;
		d.read_cost_max = 8;
		/* Files from 512 KiB up are chunked: what an archive's next
		 * unit shares with earlier ones is found by chunk, whatever
		 * the file's name. Large chunks, each coded against its
		 * similar predecessor (as a zstd patch, with that whole chunk
		 * as zstd's window, in these measurements; a copy/insert
		 * delta first now, see try_base in unitw.c), and long chains:
		 * on 20 releases of typescript.js (8 MB),
		 * 64 KiB chunks and chains of 4 stored 4.4 MB, 4 MiB chunks
		 * and chains of 16 2.6 MB (zstd -19 --long=31 of them all,
		 * solid: 2.2 MB). Patches are small, so a long chain reads
		 * little; it decodes a chunk per link (0.4 s to restore the
		 * 20th release of the whole package, at depth 20).
		 *
		 * On the 20 releases of the whole package (bench/archive,
		 * 3.59 MB solid): with 4 MiB chunks, 16 MiB groups and chains
		 * of 16, 6.34 MB; 64 MiB groups (the first release's bundles,
		 * which share most of their code, meet in one group) 5.51 MB;
		 * 8 MiB chunks (a bundle is one chunk, coded against the
		 * whole of its most similar predecessor: 5.5's typescript.js
		 * against 5.4's tsserver.js) 5.17 MB; chains of 32 (from the
		 * 17th release on, chains of 16 patch against the 15th) 4.90
		 * MB. Peak RSS of an import stays under 200 MiB. */
		d.group_cap = 64u << 20;
		d.chunk_above = 512u << 10;
		d.chunk_avg = 8u << 20;
		d.chain_max = 32;
		/* Each unit's pack is final, to be shipped as it is (strata
		 * packs --since); a repack rewrites old packs and codes the
		 * first record of each key in its range without a base. */
		d.repack_after = 0;
	} else {
		return err_set(STRATA_EINVAL, "unknown store profile '%s' (known: trace, versions, archive)", profile);
	}
	*o = d;
	return 0;
}
