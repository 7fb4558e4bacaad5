/* catalog.c - the SQLite catalog (catalog.h; schema in docs/FORMAT.md). */
#include "catalog.h"
#include "err.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define CATALOG_SCHEMA 1

enum {
	ST_MAX_UNIT, ST_HAS_UNIT, ST_KEY_COUNT, ST_KEY_INS, ST_KEY_ID, ST_KEY_BUMP,
	ST_REC_INS, ST_GRP_INS, ST_UNIT_INS, ST_LOOKUP, ST_UNIT_RECS, ST_COUNT
};

static const char *const SQL[ST_COUNT] = {
	[ST_MAX_UNIT] = "SELECT coalesce(max(unit),0) FROM units",
	[ST_HAS_UNIT] = "SELECT 1 FROM units WHERE unit=?1",
	[ST_KEY_COUNT] = "SELECT records FROM keys WHERE name=?1",
	[ST_KEY_INS] = "INSERT OR IGNORE INTO keys(name, records) VALUES(?1, 0)",
	[ST_KEY_ID] = "SELECT id FROM keys WHERE name=?1",
	[ST_KEY_BUMP] = "UPDATE keys SET records=max(records, ?2) WHERE id=?1",
	[ST_REC_INS] = "INSERT INTO records(key,n,unit,grp,offset,len,size,sum,enc) "
		       "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
	[ST_GRP_INS] = "INSERT INTO groups(unit,idx,offset,clen,blen,codec,sum,level) "
		       "VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
	[ST_UNIT_INS] = "INSERT INTO units(unit,label,time,pack,pack_bytes,records,raw_bytes) "
			"VALUES(?1,?2,?3,?4,?5,?6,?7)",
	[ST_LOOKUP] = "SELECT r.unit, r.grp, r.offset, r.len, r.size, r.sum, r.enc, "
		      "g.offset, g.clen, g.blen, g.codec, g.sum, g.level "
		      "FROM keys k JOIN records r ON r.key=k.id "
		      "JOIN groups g ON g.unit=r.unit AND g.idx=r.grp WHERE k.name=?1 AND r.n=?2",
	[ST_UNIT_RECS] = "SELECT count(*) FROM records WHERE unit=?1",
};

static const char SCHEMA[] =
	"CREATE TABLE meta(name TEXT PRIMARY KEY, value) WITHOUT ROWID;"
	"CREATE TABLE units(unit INTEGER PRIMARY KEY, label BLOB, time INTEGER, pack TEXT,"
	" pack_bytes INTEGER, records INTEGER, raw_bytes INTEGER);"
	"CREATE TABLE keys(id INTEGER PRIMARY KEY, name BLOB UNIQUE NOT NULL, records INTEGER NOT NULL);"
	"CREATE TABLE groups(unit INTEGER, idx INTEGER, offset INTEGER, clen INTEGER, blen INTEGER,"
	" codec INTEGER, sum INTEGER, level INTEGER, PRIMARY KEY(unit, idx)) WITHOUT ROWID;"
	"CREATE TABLE records(key INTEGER, n INTEGER, unit INTEGER, grp INTEGER, offset INTEGER,"
	" len INTEGER, size INTEGER, sum INTEGER, enc INTEGER, PRIMARY KEY(key, n)) WITHOUT ROWID;"
	"CREATE INDEX records_unit ON records(unit);"
	"INSERT INTO meta VALUES('schema', 1);";

struct catalog {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *st[ST_COUNT];
};

static int db_fail(catalog *c, int src, const char *what)
{
	int code = src == SQLITE_CORRUPT || src == SQLITE_NOTADB ? STRATA_ECORRUPT
		 : src == SQLITE_FULL ? STRATA_ENOSPC
		 : src == SQLITE_NOMEM ? STRATA_ENOMEM
		 : src == SQLITE_BUSY ? STRATA_ELOCKED : STRATA_EIO;
	return err_set(code, "catalog %s: %s: %s%s", c->path, what,
		       c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(src),
		       code == STRATA_ECORRUPT ? " (run 'strata rebuild' to recreate it from the packs)" : "");
}

static int exec(catalog *c, const char *sql)
{
	int r = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
	return r == SQLITE_OK ? 0 : db_fail(c, r, sql);
}

static sqlite3_stmt *stmt(catalog *c, int which)
{
	sqlite3_stmt *s = c->st[which];
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

static int check_schema(catalog *c, int create)
{
	sqlite3_stmt *s;
	int r = sqlite3_prepare_v2(c->db, "SELECT value FROM meta WHERE name='schema'", -1, &s, NULL);
	if (r != SQLITE_OK) {
		if (!create)
			return err_set(STRATA_ECORRUPT, "catalog %s has no strata schema "
				       "(run 'strata rebuild' to recreate it from the packs)", c->path);
		return exec(c, SCHEMA);
	}
	r = sqlite3_step(s);
	int v = r == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
	sqlite3_finalize(s);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		return db_fail(c, r, "reading the schema version");
	if (v != CATALOG_SCHEMA)
		return err_set(STRATA_EFORMAT, "catalog %s has schema version %d; this build reads %d",
			       c->path, v, CATALOG_SCHEMA);
	return 0;
}

int catalog_open(catalog **out, const char *path, int create)
{
	catalog *c = calloc(1, sizeof *c);
	if (!c || !(c->path = strdup(path))) {
		free(c);
		return ERR_NOMEM();
	}
	int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
	int r = sqlite3_open_v2(path, &c->db, flags, NULL);
	int rc = 0;
	if (r == SQLITE_CANTOPEN && !create) {
		rc = err_set(STRATA_ENOTFOUND, "catalog %s is missing", path);
	} else if (r != SQLITE_OK) {
		rc = db_fail(c, r, "open");
	} else {
		sqlite3_busy_timeout(c->db, 10000);
		sqlite3_extended_result_codes(c->db, 0);
		/* The catalog is derived from durable packs, so NORMAL suffices:
		 * a transaction lost to power failure is refiled by recovery. */
		rc = exec(c, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
		if (!rc)
			rc = check_schema(c, create);
	}
	for (int i = 0; !rc && i < ST_COUNT; i++) {
		r = sqlite3_prepare_v3(c->db, SQL[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i], NULL);
		if (r != SQLITE_OK)
			rc = db_fail(c, r, "preparing statements");
	}
	if (rc) {
		catalog_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

void catalog_close(catalog *c)
{
	if (!c)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(c->st[i]);
	sqlite3_close(c->db);
	free(c->path);
	free(c);
}

/* Step a statement expected to yield at most one row with a u64 column 0. */
static int one_u64(catalog *c, sqlite3_stmt *s, uint64_t *v, int *found, const char *what)
{
	int r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		*v = (uint64_t)sqlite3_column_int64(s, 0);
		if (found)
			*found = 1;
	} else if (r == SQLITE_DONE) {
		*v = 0;
		if (found)
			*found = 0;
	} else {
		return db_fail(c, r, what);
	}
	sqlite3_reset(s);
	return 0;
}

int catalog_max_unit(catalog *c, uint64_t *max)
{
	return one_u64(c, stmt(c, ST_MAX_UNIT), max, NULL, "reading units");
}

int catalog_has_unit(catalog *c, uint64_t unit, int *has)
{
	sqlite3_stmt *s = stmt(c, ST_HAS_UNIT);
	sqlite3_bind_int64(s, 1, (int64_t)unit);
	uint64_t v;
	return one_u64(c, s, &v, has, "reading units");
}

int catalog_key_count(catalog *c, const void *key, size_t len, uint64_t *count)
{
	sqlite3_stmt *s = stmt(c, ST_KEY_COUNT);
	sqlite3_bind_blob(s, 1, key, (int)len, SQLITE_STATIC);
	return one_u64(c, s, count, NULL, "reading keys");
}

int catalog_unit_record_count(catalog *c, uint64_t unit, uint64_t *count)
{
	sqlite3_stmt *s = stmt(c, ST_UNIT_RECS);
	sqlite3_bind_int64(s, 1, (int64_t)unit);
	return one_u64(c, s, count, NULL, "reading records");
}

static int step_done(catalog *c, sqlite3_stmt *s, const char *what)
{
	int r = sqlite3_step(s);
	sqlite3_reset(s);
	return r == SQLITE_DONE ? 0 : db_fail(c, r, what);
}

static int add_key(catalog *c, const pack_key *k, int64_t *id)
{
	sqlite3_stmt *s = stmt(c, ST_KEY_INS);
	sqlite3_bind_blob(s, 1, k->p, k->len, SQLITE_STATIC);
	int rc = step_done(c, s, "adding a key");
	if (rc)
		return rc;
	s = stmt(c, ST_KEY_ID);
	sqlite3_bind_blob(s, 1, k->p, k->len, SQLITE_STATIC);
	uint64_t v;
	int found;
	rc = one_u64(c, s, &v, &found, "reading a key id");
	*id = (int64_t)v;
	return rc ? rc : found ? 0 : db_fail(c, SQLITE_CORRUPT, "key vanished");
}

static int add_groups(catalog *c, const pack_footer *f)
{
	for (size_t i = 0; i < f->ngroups; i++) {
		const pack_group *g = &f->groups[i];
		sqlite3_stmt *s = stmt(c, ST_GRP_INS);
		sqlite3_bind_int64(s, 1, (int64_t)f->unit);
		sqlite3_bind_int64(s, 2, (int64_t)i);
		sqlite3_bind_int64(s, 3, (int64_t)g->offset);
		sqlite3_bind_int64(s, 4, (int64_t)g->clen);
		sqlite3_bind_int64(s, 5, (int64_t)g->blen);
		sqlite3_bind_int(s, 6, g->codec);
		sqlite3_bind_int64(s, 7, (int64_t)g->sum);
		sqlite3_bind_int(s, 8, g->level);
		int rc = step_done(c, s, "adding a group");
		if (rc)
			return rc;
	}
	return 0;
}

static int add_records(catalog *c, const pack_footer *f, const int64_t *ids, uint64_t *raw)
{
	for (size_t i = 0; i < f->nrecords; i++) {
		const pack_record *r = &f->records[i];
		sqlite3_stmt *s = stmt(c, ST_REC_INS);
		sqlite3_bind_int64(s, 1, ids[r->key]);
		sqlite3_bind_int64(s, 2, (int64_t)r->n);
		sqlite3_bind_int64(s, 3, (int64_t)f->unit);
		sqlite3_bind_int64(s, 4, r->group);
		sqlite3_bind_int64(s, 5, (int64_t)r->off);
		sqlite3_bind_int64(s, 6, (int64_t)r->len);
		sqlite3_bind_int64(s, 7, (int64_t)r->size);
		sqlite3_bind_int64(s, 8, (int64_t)r->sum);
		sqlite3_bind_int(s, 9, r->enc);
		int rc = step_done(c, s, "adding a record");
		if (rc)
			return rc;
		s = stmt(c, ST_KEY_BUMP);
		sqlite3_bind_int64(s, 1, ids[r->key]);
		sqlite3_bind_int64(s, 2, (int64_t)r->n);
		if ((rc = step_done(c, s, "counting a key's records")))
			return rc;
		*raw += r->size;
	}
	return 0;
}

static int add_unit_row(catalog *c, const pack_footer *f, const char *pack, uint64_t pack_bytes,
			uint64_t raw)
{
	sqlite3_stmt *s = stmt(c, ST_UNIT_INS);
	sqlite3_bind_int64(s, 1, (int64_t)f->unit);
	sqlite3_bind_blob(s, 2, f->label_len ? (const void *)f->label : "", (int)f->label_len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, f->time);
	sqlite3_bind_text(s, 4, pack, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, (int64_t)pack_bytes);
	sqlite3_bind_int64(s, 6, (int64_t)f->nrecords);
	sqlite3_bind_int64(s, 7, (int64_t)raw);
	return step_done(c, s, "adding a unit");
}

int catalog_add_unit(catalog *c, const pack_footer *f, const char *pack, uint64_t pack_bytes)
{
	int64_t *ids = malloc((f->nkeys ? f->nkeys : 1) * sizeof *ids);
	if (!ids)
		return ERR_NOMEM();
	uint64_t raw = 0;
	int rc = exec(c, "BEGIN IMMEDIATE");
	for (size_t i = 0; !rc && i < f->nkeys; i++)
		rc = add_key(c, &f->keys[i], &ids[i]);
	if (!rc)
		rc = add_groups(c, f);
	if (!rc)
		rc = add_records(c, f, ids, &raw);
	if (!rc)
		rc = add_unit_row(c, f, pack, pack_bytes, raw);
	if (!rc)
		rc = exec(c, "COMMIT");
	if (rc) {
		err_prefix(rc, "filing unit %llu: ", (unsigned long long)f->unit);
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	}
	free(ids);
	return rc;
}

int catalog_lookup(catalog *c, const void *key, size_t len, uint64_t n, catalog_loc *out)
{
	sqlite3_stmt *s = stmt(c, ST_LOOKUP);
	sqlite3_bind_blob(s, 1, key, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (int64_t)n);
	int r = sqlite3_step(s);
	if (r == SQLITE_DONE) {
		sqlite3_reset(s);
		return err_set(STRATA_ENOTFOUND, "no record %llu of key '%.*s'", (unsigned long long)n,
			       (int)(len > 200 ? 200 : len), (const char *)key);
	}
	if (r != SQLITE_ROW)
		return db_fail(c, r, "looking up a record");
	out->unit = (uint64_t)sqlite3_column_int64(s, 0);
	out->grp = (uint32_t)sqlite3_column_int64(s, 1);
	out->off = (uint64_t)sqlite3_column_int64(s, 2);
	out->len = (uint64_t)sqlite3_column_int64(s, 3);
	out->size = (uint64_t)sqlite3_column_int64(s, 4);
	out->sum = (uint64_t)sqlite3_column_int64(s, 5);
	out->enc = sqlite3_column_int(s, 6);
	out->group.offset = (uint64_t)sqlite3_column_int64(s, 7);
	out->group.clen = (uint64_t)sqlite3_column_int64(s, 8);
	out->group.blen = (uint64_t)sqlite3_column_int64(s, 9);
	out->group.codec = (uint8_t)sqlite3_column_int(s, 10);
	out->group.sum = (uint64_t)sqlite3_column_int64(s, 11);
	out->group.level = (int8_t)sqlite3_column_int(s, 12);
	sqlite3_reset(s);
	return 0;
}

/* Run a query and hand each row to `row`, which returns nonzero to stop. */
static int each_row(catalog *c, const char *sql, const void *blob, size_t bloblen,
		    int (*row)(sqlite3_stmt *, void *), void *ctx)
{
	sqlite3_stmt *s;
	int r = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
	if (r != SQLITE_OK)
		return db_fail(c, r, "query");
	if (blob)
		sqlite3_bind_blob(s, 1, blob, (int)bloblen, SQLITE_STATIC);
	int rc = 0;
	while ((r = sqlite3_step(s)) == SQLITE_ROW)
		if ((rc = row(s, ctx)) != 0)
			break;
	if (!rc && r != SQLITE_DONE)
		rc = db_fail(c, r, "query");
	sqlite3_finalize(s);
	return rc;
}

typedef struct cb_ctx {
	void *cb;
	void *ctx;
} cb_ctx;

static int key_row(sqlite3_stmt *s, void *p)
{
	cb_ctx *k = p;
	strata_key_info ki = { sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0),
			       (uint64_t)sqlite3_column_int64(s, 1) };
	return ((strata_key_cb *)k->cb)(k->ctx, &ki);
}

int catalog_foreach_key(catalog *c, strata_key_cb *cb, void *ctx)
{
	cb_ctx k = { (void *)cb, ctx };
	return each_row(c, "SELECT name, records FROM keys WHERE records>0 ORDER BY name", NULL, 0,
			key_row, &k);
}

static int record_row(sqlite3_stmt *s, void *p)
{
	cb_ctx *k = p;
	strata_record_info ri = { (uint64_t)sqlite3_column_int64(s, 0), (uint64_t)sqlite3_column_int64(s, 1),
				  (uint64_t)sqlite3_column_int64(s, 2), (uint64_t)sqlite3_column_int64(s, 3),
				  (uint64_t)sqlite3_column_int64(s, 4) };
	return ((strata_record_cb *)k->cb)(k->ctx, &ri);
}

int catalog_foreach_record(catalog *c, const void *key, size_t len, strata_record_cb *cb, void *ctx)
{
	cb_ctx k = { (void *)cb, ctx };
	return each_row(c, "SELECT r.n, r.unit, r.size, r.len, r.sum FROM records r JOIN keys k "
			   "ON r.key=k.id WHERE k.name=?1 ORDER BY r.n", key, len, record_row, &k);
}

static int unit_row(sqlite3_stmt *s, void *p)
{
	cb_ctx *k = p;
	/* Labels are bytes; hand them out NUL-terminated (cut at a NUL). */
	char label[1024];
	int ll = sqlite3_column_bytes(s, 1);
	const void *lp = sqlite3_column_blob(s, 1);
	if (ll > (int)sizeof label - 1)
		ll = (int)sizeof label - 1;
	if (ll > 0)
		memcpy(label, lp, (size_t)ll);
	label[ll > 0 ? ll : 0] = '\0';
	const char *pack = (const char *)sqlite3_column_text(s, 3);
	strata_unit_info ui = { (uint64_t)sqlite3_column_int64(s, 0), label, sqlite3_column_int64(s, 2),
				(uint64_t)sqlite3_column_int64(s, 5), (uint64_t)sqlite3_column_int64(s, 6),
				(uint64_t)sqlite3_column_int64(s, 4), pack ? pack : "" };
	return ((strata_unit_cb *)k->cb)(k->ctx, &ui);
}

int catalog_foreach_unit(catalog *c, strata_unit_cb *cb, void *ctx)
{
	cb_ctx k = { (void *)cb, ctx };
	return each_row(c, "SELECT unit, label, time, pack, pack_bytes, records, raw_bytes "
			   "FROM units ORDER BY unit", NULL, 0, unit_row, &k);
}

static int stats_row(sqlite3_stmt *s, void *p)
{
	strata_stats *st = p;
	st->units = (uint64_t)sqlite3_column_int64(s, 0);
	st->records = (uint64_t)sqlite3_column_int64(s, 1);
	st->raw_bytes = (uint64_t)sqlite3_column_int64(s, 2);
	st->pack_bytes = (uint64_t)sqlite3_column_int64(s, 3);
	st->keys = (uint64_t)sqlite3_column_int64(s, 4);
	st->groups = (uint64_t)sqlite3_column_int64(s, 5);
	return 0;
}

int catalog_stats(catalog *c, strata_stats *out)
{
	memset(out, 0, sizeof *out);
	return each_row(c, "SELECT count(*), coalesce(sum(records),0), coalesce(sum(raw_bytes),0), "
			   "coalesce(sum(pack_bytes),0), (SELECT count(*) FROM keys WHERE records>0), "
			   "(SELECT count(*) FROM groups) FROM units", NULL, 0, stats_row, out);
}
