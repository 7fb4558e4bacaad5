/* tree.c - tree manifests (tree.h). */
#include "tree.h"
#include "delta.h"
#include "err.h"
#include "strata.h"

#include <stdlib.h>
#include <string.h>

#define TREE_MAGIC "STRATAtr"
#define TREE_VERSION 1

int tree_add(tree *t, tree_entry *e)
{
	if (t->n == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 256;
		tree_entry *nv = realloc(t->v, nc * sizeof *nv);
		if (!nv) {
			free(e->path);
			free(e->target);
			return ERR_NOMEM();
		}
		t->v = nv;
		t->cap = nc;
	}
	t->v[t->n++] = *e;
	return 0;
}

static int cmp_path(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : al < bl ? -1 : al > bl;
}

static int cmp_entries(const void *x, const void *y)
{
	const tree_entry *a = x, *b = y;
	return cmp_path(a->path, a->plen, b->path, b->plen);
}

void tree_sort(tree *t)
{
	if (t->n > 1)
		qsort(t->v, t->n, sizeof *t->v, cmp_entries);
}

const tree_entry *tree_find(const tree *t, const char *path, size_t plen)
{
	size_t lo = 0, hi = t->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_path(t->v[mid].path, t->v[mid].plen, path, plen);
		if (c == 0)
			return &t->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void tree_free(tree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].path);
		free(t->v[i].target);
	}
	free(t->v);
	*t = (tree){ 0 };
}

static int put_varint(bytebuf *b, uint64_t v)
{
	uint8_t tmp[10];
	return buf_append(b, tmp, varint_put(tmp, v));
}

static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

int tree_encode(const tree *t, bytebuf *out)
{
	size_t live = 0;
	for (size_t i = 0; i < t->n; i++)
		live += t->v[i].type != 0;
	int rc = buf_append(out, TREE_MAGIC, 8);
	if (!rc)
		rc = put_varint(out, TREE_VERSION);
	if (!rc)
		rc = put_varint(out, live);
	for (size_t i = 0; !rc && i < t->n; i++) {
		const tree_entry *e = &t->v[i];
		if (e->type == 0) /* dropped */
			continue;
		uint8_t type = (uint8_t)e->type;
		rc = buf_append(out, &type, 1);
		if (!rc)
			rc = put_varint(out, e->mode);
		if (!rc)
			rc = put_varint(out, zigzag(e->mtime));
		if (!rc)
			rc = put_varint(out, e->mtime_ns);
		if (!rc)
			rc = put_varint(out, e->plen);
		if (!rc)
			rc = buf_append(out, e->path, e->plen);
		if (!rc && e->type == TREE_FILE) {
			rc = put_varint(out, e->size);
			if (!rc)
				rc = put_varint(out, e->n);
			if (!rc)
				rc = buf_append(out, e->sha, 32);
			if (!rc)
				rc = put_varint(out, zigzag(e->ctime));
			if (!rc)
				rc = put_varint(out, e->ctime_ns);
			if (!rc)
				rc = put_varint(out, e->ino);
		} else if (!rc && e->type == TREE_LINK) {
			rc = put_varint(out, e->tlen);
			if (!rc)
				rc = buf_append(out, e->target, e->tlen);
		}
	}
	return rc;
}

/* A reader over a manifest. */
typedef struct rd {
	const uint8_t *p;
	size_t len, at;
	int bad;
} rd;

static uint64_t rd_varint(rd *r)
{
	uint64_t v = 0;
	size_t k = r->bad ? 0 : varint_get(r->p + r->at, r->len - r->at, &v);
	if (!k)
		r->bad = 1;
	r->at += k;
	return v;
}

/* A copy of the next n bytes, NUL-terminated. */
static char *rd_bytes(rd *r, uint64_t n)
{
	if (r->bad || n > r->len - r->at) {
		r->bad = 1;
		return NULL;
	}
	char *s = malloc((size_t)n + 1);
	if (!s) {
		r->bad = 2;
		return NULL;
	}
	memcpy(s, r->p + r->at, (size_t)n);
	s[n] = '\0';
	r->at += (size_t)n;
	return s;
}

/* Relative, no empty, "." or ".." component, no NUL. */
static int safe_path(const char *p, size_t len)
{
	if (len == 0 || memchr(p, '\0', len))
		return 0;
	for (size_t i = 0; i < len;) {
		size_t j = i;
		while (j < len && p[j] != '/')
			j++;
		size_t c = j - i;
		if (c == 0 || (c == 1 && p[i] == '.') || (c == 2 && p[i] == '.' && p[i + 1] == '.'))
			return 0;
		i = j + 1;
		if (j + 1 == len) /* a trailing '/' */
			return 0;
	}
	return 1;
}

int tree_decode(const uint8_t *p, size_t len, tree *t)
{
	*t = (tree){ 0 };
	if (len < 8 || memcmp(p, TREE_MAGIC, 8))
		return err_set(STRATA_ECORRUPT, "tree manifest: bad magic");
	rd r = { p, len, 8, 0 };
	uint64_t version = rd_varint(&r);
	if (!r.bad && version != TREE_VERSION)
		return err_set(STRATA_EFORMAT, "tree manifest version %llu is not supported (this build reads %d)",
			       (unsigned long long)version, TREE_VERSION);
	uint64_t count = rd_varint(&r);
	int rc = 0;
	for (uint64_t i = 0; !rc && !r.bad && i < count; i++) {
		tree_entry e = { 0 };
		e.type = r.at < r.len ? r.p[r.at++] : (r.bad = 1, 0);
		e.mode = (uint32_t)rd_varint(&r);
		e.mtime = unzigzag(rd_varint(&r));
		e.mtime_ns = (uint32_t)rd_varint(&r);
		e.plen = (size_t)rd_varint(&r);
		e.path = rd_bytes(&r, e.plen);
		if (e.type == TREE_FILE) {
			e.size = rd_varint(&r);
			e.n = rd_varint(&r);
			if (!r.bad && r.len - r.at >= 32)
				memcpy(e.sha, r.p + r.at, 32);
			else
				r.bad = 1;
			r.at += r.bad ? 0 : 32;
			e.ctime = unzigzag(rd_varint(&r));
			e.ctime_ns = (uint32_t)rd_varint(&r);
			e.ino = rd_varint(&r);
		} else if (e.type == TREE_LINK) {
			e.tlen = (size_t)rd_varint(&r);
			e.target = rd_bytes(&r, e.tlen);
		} else if (e.type != TREE_DIR) {
			r.bad = 1;
		}
		if (!r.bad && (e.mode > 07777 || e.mtime_ns >= 1000000000u || e.ctime_ns >= 1000000000u ||
			       !safe_path(e.path, e.plen) ||
			       (e.type == TREE_FILE && e.n == 0) ||
			       (e.type == TREE_LINK && (e.tlen == 0 || memchr(e.target, '\0', e.tlen))) ||
			       (t->n && cmp_path(t->v[t->n - 1].path, t->v[t->n - 1].plen, e.path, e.plen) >= 0)))
			r.bad = 1;
		if (r.bad) {
			free(e.path);
			free(e.target);
		} else {
			rc = tree_add(t, &e);
		}
	}
	if (!rc && r.bad == 2)
		rc = ERR_NOMEM();
	else if (!rc && (r.bad || r.at != r.len))
		rc = err_set(STRATA_ECORRUPT, "tree manifest: malformed entry %zu", t->n);
	if (rc)
		tree_free(t);
	return rc;
}
