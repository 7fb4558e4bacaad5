/*
 * store.h - the store handle's insides, shared by the modules that implement
 * the public API (store.c: open, put, commit, get; recover.c: recovery and
 * rebuild; verify.c: verify). Nothing outside src/ sees this.
 */
#ifndef STRATA_STORE_H
#define STRATA_STORE_H

#include "catalog.h"
#include "conf.h"
#include "group.h"
#include "strata.h"
#include "pipe.h"
#include "unitw.h"

#include <pthread.h>
#include <stdatomic.h>

#define STORE_FD_CACHE 8

/* Private strata_open flag: take the lock, open no catalog (for rebuild). */
#define STORE_OPEN_BARE 0x100
/* Private strata_open flag, with STRATA_OPEN_READ: another handle on a store
 * the caller holds open, which looked for packs to recover when it opened
 * (a cursor's own handles; the check lists the packs directory). */
#define STORE_OPEN_PEER 0x200

struct strata_store {
	char *root;              /* store directory */
	char *packs;             /* root/packs */
	char *catalog_path;      /* root/catalog.db */
	int writable;
	int lock_fd;             /* root/lock, flocked when writable; else -1 */
	strata_options opts;     /* as read from strata.conf */
	conf_codecs codecs;      /* each key's codec, as read from strata.conf */
	catalog *cat;
	group_coder *coder;
	unitw *unit;             /* the unit in progress without a pipeline, or NULL */
	struct pipe *pipe;       /* the write pipeline, started by the first put */
	pthread_mutex_t pipe_mu; /* guards starting it (puts may race) */
	atomic_int pipe_on;      /* set once it runs: puts then skip pipe_mu */
	strata_pipeline_options pipe_opts; /* for the next start */
	int async_run;           /* asynchronous commits since the last synchronous one */
	pthread_mutex_t chunk_mu; /* serializes chunked puts (chunk.c) */
	struct chunk_state *chunks; /* chunks not yet in the indexes, or NULL */
	struct repeats *repeats; /* a writer's index of repeats (dedup-above), or NULL */
	struct patch_decoder *patch_dec; /* for reads of base patches, made on first use */
	struct { int64_t pack; int fd; char path[4096]; } fds[STORE_FD_CACHE]; /* open packs by catalog id */
	unsigned fd_next;        /* next cache slot to reuse */
	strata_read_cost last_cost; /* of the last successful get */
	int body_cache_on;       /* keep decoded group bodies (repack) */
	int body_cache_keep;     /* chunk lists leave their bodies cached (export) */
	struct read_cache *cache;/* read.c's cache of group bodies */
	struct pool_cache *pool_cache; /* read.c's cache of pooled records */
};


/* Recovery (docs/FORMAT.md, "Recovery"): delete temporary packs, delete
 * packs a live pack supersedes, file every other uncatalogued valid pack,
 * set damaged ones aside. The caller holds the writer lock. */
int recover_packs(strata_store *s, strata_problem_cb *on_problem, strata_progress_cb *progress, void *ctx);

/* The number for the next unit: past every catalogued unit and every pack
 * file on disk, so no commit can take the name of a file left in place. */
int store_next_unit(strata_store *s, uint64_t *next);

/* Whether packs/ holds anything recovery would act on. */
int recover_needed(strata_store *s, int *needed);

/* Whether another process holds the writer lock now (never for a handle
 * that holds it itself). */
int store_writer_active(strata_store *s, int *active);

/* A caller's key: 1..PACK_KEY_MAX bytes, not reserved (a NUL first
 * byte). 0 or STRATA_EINVAL (error set). */
int store_check_key(const void *key, size_t keylen);

/* strata_put without its checks on the key, with what unitw_hint says
 * (NULL: nothing); never chunks. Ownership of data as strata_put. */
int store_put_hinted(strata_store *s, const void *key, size_t keylen, const unitw_hint *hint, void *data,
		     size_t len, strata_release_fn *release, void *ctx, uint64_t *n_out);

/* The codec and level of a key's groups (a unitw_codec_fn; ctx is the
 * store). */
int store_codec_of(void *ctx, const void *key, size_t keylen, int *codec, int *level);

/* After a commit: repack the trailing small packs if there are enough. */
int store_auto_repack(strata_store *s);

/* File a durable pack in the catalog and delete the pack files it
 * supersedes (commit, repack and recovery all end this way). */
int store_file_pack(strata_store *s, const pack_footer *f, const char *name, uint64_t bytes);
/* The same through another connection to the catalog (the pipeline's
 * writer thread has its own). */
int store_file_pack_in(strata_store *s, catalog *cat, const pack_footer *f, const char *name, uint64_t bytes);

/* Set s->last_cost to what s's reads cost since `before` (taken with
 * group_coder_cost): strata_get and strata_get_fd. */
void store_note_cost(strata_store *s, const group_read_cost *before);

#endif
