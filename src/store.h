/*
 * store.h - the store handle's insides, shared by the modules that implement
 * the public API (store.c: open, put, commit, get; recover.c: recovery and
 * rebuild; verify.c: verify). Nothing outside src/ sees this.
 */
#ifndef STRATA_STORE_H
#define STRATA_STORE_H

#include "catalog.h"
#include "group.h"
#include "strata.h"
#include "unitw.h"

#define STORE_FD_CACHE 8

/* Private strata_open flag: take the lock, open no catalog (for rebuild). */
#define STORE_OPEN_BARE 0x100

struct strata_store {
	char *root;              /* store directory */
	char *packs;             /* root/packs */
	char *catalog_path;      /* root/catalog.db */
	int writable;
	int lock_fd;             /* root/lock, flocked when writable; else -1 */
	strata_options opts;     /* as read from strata.conf */
	catalog *cat;
	group_coder *coder;
	unitw *unit;             /* the unit in progress, or NULL */
	struct { uint64_t unit; int fd; } fds[STORE_FD_CACHE]; /* open packs */
	unsigned fd_next;        /* next cache slot to reuse */
	strata_read_cost last_cost; /* of the last successful get */
};

/* "root/packs/<unit>.pack" into buf. */
void store_pack_path(const strata_store *s, uint64_t unit, char *buf, size_t cap);

/* File every valid uncatalogued pack, set damaged ones aside, delete
 * temporary packs. The caller holds the writer lock. `full` checks every
 * pack; otherwise only packs newer than the catalog's newest unit. */
int recover_packs(strata_store *s, int full, strata_problem_cb *on_problem,
		  strata_progress_cb *progress, void *ctx, uint64_t *filed);

/* Whether packs/ holds anything recovery would act on (a temporary pack, or
 * a pack newer than the catalog's newest unit). */
int recover_needed(strata_store *s, int *needed);

#endif
