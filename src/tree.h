/*
 * tree.h - tree manifests (docs/FORMAT.md, "Reserved keys and tree
 * manifests"): what strata_import() stores of a directory tree besides the
 * files' contents, and what strata_export() restores it from.
 */
#ifndef STRATA_TREE_H
#define STRATA_TREE_H

#include "bytes.h"

#include <stddef.h>
#include <stdint.h>

enum { TREE_FILE = 1, TREE_DIR = 2, TREE_LINK = 3 };

typedef struct tree_entry {
	int type;            /* TREE_*, or 0: dropped (not encoded) */
	uint32_t mode;       /* permission bits */
	int64_t mtime;
	uint32_t mtime_ns;
	char *path;          /* relative, '/'-separated, NUL-terminated (owned) */
	size_t plen;
	uint64_t size, n;    /* a file: its size, and its record of key = path */
	uint8_t sha[32];     /* a file: SHA-256 of its content, or zeros */
	int64_t ctime;       /* a file: change time and inode, as imported */
	uint32_t ctime_ns;
	uint64_t ino;
	char *target;        /* a link: its target (owned; not NUL-terminated) */
	size_t tlen;
} tree_entry;

typedef struct tree {
	tree_entry *v;
	size_t n, cap;
} tree;

/* Append an entry; takes ownership of e->path and e->target (freed on
 * failure too). */
int tree_add(tree *t, tree_entry *e);
/* Sort by path, bytewise. */
void tree_sort(tree *t);
/* The entry of a path in a sorted tree, or NULL. */
const tree_entry *tree_find(const tree *t, const char *path, size_t plen);
/* Append the manifest of a sorted tree to out. */
int tree_encode(const tree *t, bytebuf *out);
/* Parse a manifest: STRATA_ECORRUPT (or EFORMAT for another version) if it
 * is malformed, unsorted, or names an unsafe path. */
int tree_decode(const uint8_t *p, size_t len, tree *t);
void tree_free(tree *t);

#endif
