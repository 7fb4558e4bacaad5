/*
 * pipe.h - the write pipeline of a writable handle (docs/threading.md).
 *
 * Producers (pipe_put) file records by key into batches under one mutex and
 * return; a full batch (a key's records reaching the group cap) becomes a
 * work item. Worker threads code each item (in-group deltas, base deltas,
 * compression) into a pack piece in memory (unitw with no packs_dir). One
 * writer thread appends the pieces in item order to the unit's pack file,
 * and at a commit marker finishes the pack, makes it durable and files it
 * in the catalog through a connection of its own.
 *
 * Ownership: a record's buffer passes from the producer to its batch, to
 * the worker that codes it (which releases it once copied into a group
 * body); a piece passes from its worker to the writer. Bytes count as in
 * flight from pipe_put until the writer has appended their piece.
 */
#ifndef STRATA_PIPE_H
#define STRATA_PIPE_H

#include "strata.h"
#include "unitw.h"

typedef struct pipe pipe_t;

/* Start a pipeline for the writable handle s (workers > 0 after defaults). */
int pipe_start(pipe_t **out, strata_store *s, const strata_pipeline_options *o);

/* Wait for every item to be processed, stop the threads and free the
 * pipeline. Records put since the last commit marker are discarded. NULL
 * ok. */
void pipe_stop(pipe_t *p);

/* strata_put through the pipeline, with what unitw_hint says (NULL:
 * nothing). Ownership as strata_put. */
int pipe_put(pipe_t *p, const void *key, size_t keylen, const unitw_hint *hint, void *data, size_t len,
	     strata_release_fn *release, void *ctx, uint64_t *n_out);

/* Queue a commit marker for what was put so far; with `wait`, return once
 * it is durable (its unit in *unit_out) or failed. */
int pipe_commit(pipe_t *p, const char *label, int wait, uint64_t *unit_out);

/* Wait until every queued item is processed; the error of a failed async
 * commit if one is pending; *unit_out the last durable unit. */
int pipe_wait(pipe_t *p, uint64_t *unit_out);

/* Drain, then discard what was put since the last durable commit and clear
 * any failure. */
int pipe_rollback(pipe_t *p);

/* Whether records are pending (put and not yet committed). */
int pipe_pending(pipe_t *p);

void pipe_stats(pipe_t *p, strata_pipeline_stats *out);

#endif
