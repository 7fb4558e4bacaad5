/* store.c - the public API: open, close, put, commit, get, iterate, stats. */
#include "store.h"
#include "chunk.h"
#include "conf.h"
#include "read.h"
#include "repeat.h"
#include "err.h"
#include "os.h"
#include "patch.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

void strata_release_free(void *ctx, void *ptr, size_t len)
{
	free(ptr);
}

static char *join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", a, b);
	return p;
}

/* Make the directory layout of a new store. */
static int create_store(strata_store *s, const strata_options *opts)
{
	strata_options o;
	conf_codecs cc;
	int rc = conf_from_options(opts, &o, &cc);
	if (rc)
		return rc;
	rc = os_mkdir(s->root);
	char **names = NULL;
	size_t n = 0;
	if (!rc)
		rc = os_list(s->root, &names, &n);
	os_names_free(names, n);
	if (!rc && n > 0)
		rc = err_set(STRATA_EEXIST, "%s exists, is not empty and is not a strata store", s->root);
	if (!rc)
		rc = os_mkdir(s->packs);
	if (!rc)
		rc = conf_write(s->root, &o, &cc);
	conf_codecs_free(&cc);
	return rc;
}

static int open_conf(strata_store *s, int flags, const strata_options *opts)
{
	int rc = conf_read(s->root, &s->opts, &s->codecs);
	if (rc == STRATA_ENOTFOUND && (flags & STRATA_OPEN_CREATE)) {
		err_clear();
		rc = create_store(s, opts);
		if (!rc)
			rc = conf_read(s->root, &s->opts, &s->codecs);
	} else if (!rc && (flags & STRATA_OPEN_CREATE) && (flags & STRATA_OPEN_EXCL)) {
		rc = err_set(STRATA_EEXIST, "a strata store already exists at %s", s->root);
	}
	return rc;
}

static int lock_path_open(strata_store *s, int fl, int *fd)
{
	char *lp = join(s->root, "lock");
	if (!lp)
		return ERR_NOMEM();
	int rc = os_open(fd, lp, fl, 0644);
	if (!rc && (rc = os_lock(*fd, lp)) != 0) {
		os_close(*fd);
		*fd = -1;
	}
	free(lp);
	return rc;
}

int store_writer_active(strata_store *s, int *active)
{
	*active = 0;
	if (s->writable)
		return 0;
	int fd;
	int rc = lock_path_open(s, O_RDONLY, &fd);
	if (rc == STRATA_ELOCKED || rc == STRATA_ENOTFOUND) {
		*active = rc == STRATA_ELOCKED;
		err_clear();
		return 0;
	}
	if (!rc) {
		os_unlock(fd);
		os_close(fd);
	}
	return rc;
}

/* A reader runs recovery only when something needs it and no writer holds
 * the lock; a writer that holds it recovered when it opened. */
static int open_reader(strata_store *s, int flags)
{
	int rc = catalog_open(&s->cat, s->catalog_path, 0);
	int needed = rc == STRATA_ENOTFOUND;
	if (rc && !needed)
		return rc;
	if (!needed && !(flags & STORE_OPEN_PEER) && (rc = recover_needed(s, &needed)) != 0)
		return rc;
	if (!needed)
		return 0;
	int fd;
	rc = lock_path_open(s, O_RDONLY, &fd);
	if (rc == STRATA_ELOCKED && s->cat) {
		err_clear(); /* a writer is at work and recovered when it opened */
		return 0;
	}
	if (rc)
		return s->cat ? 0 : err_prefix(rc, "catalog missing and cannot be rebuilt now: ");
	if (!s->cat)
		rc = catalog_open(&s->cat, s->catalog_path, 1);
	if (!rc)
		rc = recover_packs(s, NULL, NULL, NULL);
	os_unlock(fd);
	os_close(fd);
	return rc;
}

static int open_writer(strata_store *s, int flags)
{
	int rc = lock_path_open(s, O_RDWR | O_CREAT, &s->lock_fd);
	if (rc || (flags & STORE_OPEN_BARE))
		return rc;
	rc = catalog_open(&s->cat, s->catalog_path, 1);
	if (!rc)
		rc = recover_packs(s, NULL, NULL, NULL);
	return rc;
}

int strata_open(strata_store **out, const char *path, int flags, const strata_options *opts)
{
	err_clear();
	if (!out || !path || !*path)
		return err_set(STRATA_EINVAL, "strata_open needs a handle pointer and a path");
	strata_store *s = calloc(1, sizeof *s);
	if (!s)
		return ERR_NOMEM();
	s->lock_fd = -1;
	pthread_mutex_init(&s->pipe_mu, NULL);
	pthread_mutex_init(&s->chunk_mu, NULL);
	for (int i = 0; i < STORE_FD_CACHE; i++)
		s->fds[i].fd = -1;
	s->writable = (flags & (STRATA_OPEN_WRITE | STRATA_OPEN_CREATE)) != 0;
	s->root = strdup(path);
	s->packs = join(path, "packs");
	s->catalog_path = join(path, "catalog.db");
	int rc = s->root && s->packs && s->catalog_path ? 0 : ERR_NOMEM();
	if (!rc)
		rc = open_conf(s, flags, opts);
	if (!rc)
		rc = s->writable ? open_writer(s, flags) : open_reader(s, flags);
	if (!rc)
		rc = group_coder_new(&s->coder);
	/* A writer keeps the chunk indexes up to date with the packs (a
	 * crash, an older build or a rebuild may have left them behind). */
	if (!rc && s->writable && !(flags & STORE_OPEN_BARE))
		rc = catalog_state_open(s->cat, s->opts.state_mem);
	if (!rc && s->writable && !(flags & STORE_OPEN_BARE))
		rc = chunk_catch_up(s, NULL, NULL);
	if (!rc && s->writable && s->opts.dedup_above && !(flags & STORE_OPEN_BARE))
		rc = repeats_new(&s->repeats, s->opts.group_cap / 4);
	if (!rc && s->repeats)
		rc = repeats_load(s);
	if (rc) {
		strata_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void strata_close(strata_store *s)
{
	if (!s)
		return;
	pipe_stop(s->pipe);
	unitw_free(s->unit);
	read_cache_clear(s);
	read_pool_clear(s);
	for (int i = 0; i < STORE_FD_CACHE; i++)
		os_close(s->fds[i].fd);
	catalog_close(s->cat);
	group_coder_free(s->coder);
	if (s->lock_fd >= 0) {
		os_unlock(s->lock_fd);
		os_close(s->lock_fd);
	}
	conf_codecs_free(&s->codecs);
	patch_decoder_free(s->patch_dec);
	chunk_state_free(s->chunks);
	repeats_free(s->repeats);
	pthread_mutex_destroy(&s->chunk_mu);
	free(s->root);
	free(s->packs);
	free(s->catalog_path);
	pthread_mutex_destroy(&s->pipe_mu);
	free(s);
}

int store_codec_of(void *ctx, const void *key, size_t keylen, int *codec, int *level)
{
	const strata_store *s = ctx;
	return conf_codec_of(&s->codecs, key, keylen, codec, level);
}

static int writable_check(strata_store *s)
{
	if (!s->writable)
		return err_set(STRATA_EREADONLY, "store %s is open read-only", s->root);
	if (s->codecs.unknown[0])
		return err_set(STRATA_EFORMAT, "%s/strata.conf names codec '%s', which this build does not know: "
			       "it cannot write to this store", s->root, s->codecs.unknown);
	return 0;
}

/* Without a pipeline: the unit in progress, coded on the caller's thread. */
static int begin_unit(strata_store *s)
{
	if (s->unit)
		return 0;
	uint64_t next;
	int rc = store_next_unit(s, &next);
	if (rc)
		return rc;
	unitw_config cfg = { .packs_dir = s->packs, .first = next, .last = next,
			     .group_cap = s->opts.group_cap, .codec_of = store_codec_of, .codec_ctx = s,
			     .chain_max = s->opts.chain_max, .read_cost_max = s->opts.read_cost_max,
			     .delta_above = s->opts.delta_above, .store = s,
			     .cat = s->cat, .coder = s->coder };
	return unitw_new(&s->unit, &cfg);
}

/* Whether writes go through the pipeline, starting it on first use (puts
 * of several threads may race to start it). */
static int use_pipe(strata_store *s, int *yes)
{
	/* A running pipeline stays until strata_pipeline_set or close, which
	 * no put may race. */
	if (atomic_load_explicit(&s->pipe_on, memory_order_acquire)) {
		*yes = 1;
		return 0;
	}
	pthread_mutex_lock(&s->pipe_mu);
	*yes = s->pipe_opts.workers >= 0 && !s->unit;
	int rc = *yes && !s->pipe ? pipe_start(&s->pipe, s, &s->pipe_opts) : 0;
	if (!rc && *yes)
		atomic_store_explicit(&s->pipe_on, 1, memory_order_release);
	pthread_mutex_unlock(&s->pipe_mu);
	return rc;
}

int store_put_hinted(strata_store *s, const void *key, size_t keylen, const unitw_hint *hint, void *data,
		     size_t len, strata_release_fn *release, void *ctx, uint64_t *n_out)
{
	int piped = 0, rc = writable_check(s);
	if (!rc && !(rc = use_pipe(s, &piped)) && !piped)
		rc = begin_unit(s);
	if (rc) {
		if (release)
			release(ctx, data, len);
		return rc;
	}
	if (piped)
		return pipe_put(s->pipe, key, keylen, hint, data, len, release, ctx, n_out);
	return unitw_put(s->unit, key, keylen, hint, data, len, release, ctx, n_out);
}

int store_check_key(const void *key, size_t keylen)
{
	if (keylen == 0 || keylen > PACK_KEY_MAX)
		return err_set(STRATA_EINVAL, "key length %zu is outside 1..%d", keylen, PACK_KEY_MAX);
	if (((const uint8_t *)key)[0] == 0)
		return err_set(STRATA_EINVAL, "keys that start with a NUL byte are reserved for strata");
	return 0;
}

int strata_put(strata_store *s, const void *key, size_t keylen, void *data, size_t len,
	       strata_release_fn *release, void *ctx, uint64_t *n_out)
{
	err_clear();
	int rc = !s || !key || (!data && len) ? err_set(STRATA_EINVAL, "strata_put needs a store, a key and data")
					       : store_check_key(key, keylen);
	if (!rc && !(rc = writable_check(s)) && s->opts.chunk_above && len >= s->opts.chunk_above)
		return chunk_put(s, key, keylen, data, len, release, ctx, n_out);
	if (!rc && s->repeats && len >= s->opts.dedup_above)
		return repeat_put(s, key, keylen, data, len, release, ctx, n_out);
	if (rc) {
		if (release)
			release(ctx, data, len);
		return rc;
	}
	return store_put_hinted(s, key, keylen, NULL, data, len, release, ctx, n_out);
}

static int commit_direct(strata_store *s, const char *label, uint64_t *unit_out)
{
	unitw_result res;
	int rc = begin_unit(s);
	if (!rc)
		rc = unitw_finish(s->unit, label, &res);
	if (!rc) {
		rc = store_file_pack(s, res.footer, res.name, res.bytes);
		if (rc) {
			/* Undo the rename, so a failed commit leaves no unit behind. */
			os_unlink(res.path);
			os_fsync_dir(s->packs);
		} else if (unit_out) {
			*unit_out = res.footer->last;
		}
	}
	unitw_free(s->unit);
	s->unit = NULL;
	return rc;
}

int strata_commit(strata_store *s, const char *label, uint64_t *unit_out)
{
	err_clear();
	if (!s)
		return err_set(STRATA_EINVAL, "strata_commit needs a store");
	int piped = 0, rc = writable_check(s);
	uint64_t unit = 0;
	if (!rc)
		rc = use_pipe(s, &piped);
	if (!rc)
		rc = piped ? pipe_commit(s->pipe, label, 1, &unit) : commit_direct(s, label, &unit);
	s->async_run = 0;
	if (!rc && unit_out)
		*unit_out = unit;
	if (!rc)
		chunk_committed(s, unit);
	else /* its pool records may be lost: refer to none of them */
		repeats_clear(s->repeats);
	/* The unit is durable and filed whatever happens next; a failed
	 * automatic repack leaves the old packs live and is not reported. */
	if (!rc && store_auto_repack(s))
		err_clear();
	return rc;
}

int strata_options_get(strata_store *s, strata_options *out)
{
	err_clear();
	if (!s || !out)
		return err_set(STRATA_EINVAL, "strata_options_get needs a store and an output");
	*out = s->opts;
	return 0;
}

int strata_commit_async(strata_store *s, const char *label)
{
	err_clear();
	if (!s)
		return err_set(STRATA_EINVAL, "strata_commit_async needs a store");
	/* A store that repacks on commit does so at every repack_after-th
	 * commit at the latest: small packs pile up no faster than with
	 * synchronous commits. */
	if (s->opts.repack_after && ++s->async_run >= s->opts.repack_after)
		return strata_commit(s, label, NULL);
	int piped = 0, rc = writable_check(s);
	uint64_t unit = 0;
	if (!rc)
		rc = use_pipe(s, &piped);
	if (!rc)
		rc = piped ? pipe_commit(s->pipe, label, 0, NULL) : commit_direct(s, label, &unit);
	if (!rc && !piped) /* that commit was synchronous */
		chunk_committed(s, unit);
	return rc;
}

int strata_pipeline_wait(strata_store *s, uint64_t *unit_out)
{
	err_clear();
	if (!s)
		return err_set(STRATA_EINVAL, "strata_pipeline_wait needs a store");
	if (unit_out)
		*unit_out = 0;
	return s->pipe ? pipe_wait(s->pipe, unit_out) : 0;
}

int strata_pending(strata_store *s, int *pending)
{
	err_clear();
	if (!s || !pending)
		return err_set(STRATA_EINVAL, "strata_pending needs a store and an output");
	*pending = s->unit || (s->pipe && pipe_pending(s->pipe));
	return 0;
}

int strata_pipeline_set(strata_store *s, const strata_pipeline_options *o)
{
	err_clear();
	if (!s)
		return err_set(STRATA_EINVAL, "strata_pipeline_set needs a store");
	if (o && (o->workers < -1 || o->workers > 64))
		return err_set(STRATA_EINVAL, "pipeline workers %d is outside -1..64", o->workers);
	if (s->unit || (s->pipe && pipe_pending(s->pipe)))
		return err_set(STRATA_EINVAL, "commit or roll back the unit in progress first");
	int rc = s->pipe ? pipe_wait(s->pipe, NULL) : 0;
	if (rc)
		return rc;
	atomic_store_explicit(&s->pipe_on, 0, memory_order_relaxed);
	pipe_stop(s->pipe);
	s->pipe = NULL;
	s->pipe_opts = o ? *o : (strata_pipeline_options){ 0 };
	return 0;
}

int strata_pipeline_stats_get(strata_store *s, strata_pipeline_stats *out)
{
	err_clear();
	if (!s || !out)
		return err_set(STRATA_EINVAL, "missing argument");
	if (s->pipe)
		pipe_stats(s->pipe, out);
	else
		*out = (strata_pipeline_stats){ 0 };
	return 0;
}

int strata_rollback(strata_store *s)
{
	err_clear();
	if (!s)
		return err_set(STRATA_EINVAL, "strata_rollback needs a store");
	unitw_free(s->unit);
	s->unit = NULL;
	chunk_rolled_back(s);
	int rc = s->pipe ? pipe_rollback(s->pipe) : 0;
	/* The unit's pooled records are gone: index the committed ones
	 * again (without them, repeats are only pooled anew). */
	repeats_clear(s->repeats);
	if (!rc && s->repeats && repeats_load(s))
		err_clear();
	return rc;
}

void store_note_cost(strata_store *s, const group_read_cost *before)
{
	group_read_cost after;
	group_coder_cost(s->coder, &after);
	s->last_cost = (strata_read_cost){ after.bytes_read - before->bytes_read,
					   after.bytes_decoded - before->bytes_decoded, after.groups - before->groups };
}

int strata_get(strata_store *s, const void *key, size_t keylen, uint64_t n, void **out, size_t *len)
{
	err_clear();
	if (!s || !key || !out || !len)
		return err_set(STRATA_EINVAL, "strata_get needs a store, a key and output pointers");
	group_read_cost before;
	group_coder_cost(s->coder, &before);
	uint8_t *dst;
	int rc = read_record(s, key, keylen, n, 0, &dst, len);
	if (rc)
		return rc;
	store_note_cost(s, &before);
	*out = dst;
	return 0;
}

int strata_read_cost_get(strata_store *s, strata_read_cost *out)
{
	err_clear();
	if (!s || !out)
		return err_set(STRATA_EINVAL, "missing argument");
	*out = s->last_cost;
	return 0;
}

void strata_buf_free(void *b)
{
	free(b);
}

int strata_record_count(strata_store *s, const void *key, size_t keylen, uint64_t *count)
{
	err_clear();
	if (!s || !key || !count)
		return err_set(STRATA_EINVAL, "strata_record_count needs a store, a key and a count pointer");
	return catalog_key_count(s->cat, key, keylen, count);
}

int strata_foreach_key(strata_store *s, strata_key_cb *cb, void *ctx)
{
	err_clear();
	return s && cb ? catalog_foreach_key(s->cat, cb, ctx) : err_set(STRATA_EINVAL, "missing argument");
}

int strata_foreach_record(strata_store *s, const void *key, size_t keylen, strata_record_cb *cb, void *ctx)
{
	err_clear();
	return s && key && cb ? catalog_foreach_record(s->cat, key, keylen, cb, ctx)
			      : err_set(STRATA_EINVAL, "missing argument");
}

int strata_foreach_unit(strata_store *s, strata_unit_cb *cb, void *ctx)
{
	err_clear();
	return s && cb ? catalog_foreach_unit(s->cat, cb, ctx) : err_set(STRATA_EINVAL, "missing argument");
}

int strata_stats_get(strata_store *s, strata_stats *out)
{
	err_clear();
	return s && out ? catalog_stats(s->cat, out) : err_set(STRATA_EINVAL, "missing argument");
}
