/* catalog.c - the SQLite catalog (catalog.h; schema in docs/FORMAT.md). */
#include "catalog.h"
#include "err.h"
#include "os.h"
#include "runs.h"

#include <fcntl.h>
#include <xxhash.h>

#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CATALOG_SCHEMA 3
/* Pages of 1 KiB, not SQLite's 4: a table or index takes one page at least,
 * and a catalog has eleven. Set when the file is made (a no-op later). */
#define CATALOG_PAGE_SIZE "1024"

enum {
	ST_MAX_UNIT, ST_FIND_PACK, ST_COVERING, ST_OVERLAP, ST_KEY_COUNT, ST_KEY_INS, ST_KEY_ID,
	ST_KEY_BUMP, ST_RUN_INS, ST_GRP_INS, ST_UNIT_INS, ST_PACK_INS, ST_LOOKUP, ST_PACK_RECS,
	ST_STRAYS, ST_RUN_NEAR,
	/* on the compressor state's tables, which a reader's catalog may lack */
	ST_CHUNK_FIND, ST_SKETCH_FIND, ST_COUNT
};

/* What decode_row reads, in this order, from runs r JOIN packs p. */
#define RUN_COLS "r.first, r.last, r.unit, r.recs, r.foff, r.flen, r.fsum, r.pack, p.name"
#define RUN_NCOLS 9

static const char *const SQL[ST_COUNT] = {
	[ST_MAX_UNIT] = "SELECT coalesce(max(last),0) FROM packs",
	[ST_FIND_PACK] = "SELECT id FROM packs WHERE name=?1",
	[ST_COVERING] = "SELECT id FROM packs WHERE first<=?1 AND last>=?2",
	[ST_OVERLAP] = "SELECT count(*) FROM packs WHERE last>=?1 AND first<=?2 "
		       "AND NOT (first>=?1 AND last<=?2)",
	[ST_KEY_COUNT] = "SELECT records FROM keys WHERE name=?1",
	[ST_KEY_INS] = "INSERT OR IGNORE INTO keys(name, records) VALUES(?1, 0)",
	[ST_KEY_ID] = "SELECT id FROM keys WHERE name=?1",
	[ST_KEY_BUMP] = "UPDATE keys SET records=max(records, ?2) WHERE id=?1",
	[ST_RUN_INS] = "INSERT INTO runs(key,first,last,unit,pack,grp,recs,foff,flen,fsum) "
		       "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
	[ST_GRP_INS] = "INSERT INTO groups(pack,idx,offset,clen,blen,codec,sum,level) "
		       "VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
	[ST_UNIT_INS] = "INSERT OR REPLACE INTO units(unit,label,time,pack,records,raw_bytes) "
			"VALUES(?1,?2,?3,?4,?5,?6)",
	[ST_PACK_INS] = "INSERT INTO packs(name,first,last,bytes) VALUES(?1,?2,?3,?4)",
	[ST_LOOKUP] = "SELECT " RUN_COLS ", r.key, g.offset, g.clen, g.blen, g.codec, g.sum, g.level "
		      "FROM keys k JOIN runs r ON r.key=k.id "
		      "JOIN groups g ON g.pack=r.pack AND g.idx=r.grp JOIN packs p ON p.id=r.pack "
		      "WHERE k.name=?1 AND r.first<=?2 ORDER BY r.first DESC LIMIT 1",
	[ST_PACK_RECS] = "SELECT coalesce(sum(last-first+1),0) FROM runs WHERE pack=?1",
	/* Records of the superseded packs (saved in old_runs) that no run of
	 * the new pack ?1 holds. A run spans at most RUN_MAX numbers (?2),
	 * which bounds the index range each old run looks at. */
	[ST_STRAYS] = "SELECT coalesce(sum(o.last-o.first+1),0) - (SELECT coalesce(sum(min(o2.last,r.last)-"
		      "max(o2.first,r.first)+1),0) FROM temp.old_runs o2 JOIN runs r ON r.key=o2.key "
		      "AND r.first<=o2.last AND r.first>o2.first-?2 AND r.last>=o2.first AND r.pack=?1) "
		      "FROM temp.old_runs o",
	[ST_RUN_NEAR] = "SELECT unit, last FROM runs WHERE key=?1 AND first<=?2 ORDER BY first DESC LIMIT 1",
	[ST_CHUNK_FIND] = "SELECT n FROM chunks WHERE hash=?1",
	[ST_SKETCH_FIND] = "SELECT n FROM features WHERE f=?1 ORDER BY n DESC LIMIT ?2",
};

static const char SCHEMA[] =
	"CREATE TABLE meta(name TEXT PRIMARY KEY, value) WITHOUT ROWID;"
	"CREATE TABLE packs(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL, first INTEGER,"
	" last INTEGER, bytes INTEGER);"
	"CREATE TABLE units(unit INTEGER PRIMARY KEY, label BLOB, time INTEGER, pack INTEGER,"
	" records INTEGER, raw_bytes INTEGER);"
	"CREATE TABLE keys(id INTEGER PRIMARY KEY, name BLOB UNIQUE NOT NULL, records INTEGER NOT NULL);"
	"CREATE TABLE groups(pack INTEGER, idx INTEGER, offset INTEGER, clen INTEGER, blen INTEGER,"
	" codec INTEGER, sum INTEGER, level INTEGER, PRIMARY KEY(pack, idx)) WITHOUT ROWID;"
	"CREATE TABLE runs(key INTEGER, first INTEGER, last INTEGER, unit INTEGER, pack INTEGER,"
	" grp INTEGER, recs BLOB, foff INTEGER, flen INTEGER, fsum INTEGER, PRIMARY KEY(key, first));"
	"CREATE INDEX runs_pack ON runs(pack);"
	"CREATE INDEX runs_unit ON runs(unit);"
	"INSERT INTO meta VALUES('schema', 3);";

/* Schema 1 listed records one per row; its tables go, and recovery files
 * every pack again. */
static const char DROP_SCHEMA_1[] =
	"BEGIN IMMEDIATE; DROP TABLE IF EXISTS records; DROP TABLE IF EXISTS groups; DROP TABLE IF EXISTS keys;"
	" DROP TABLE IF EXISTS units; DROP TABLE IF EXISTS packs; DROP TABLE IF EXISTS chunks;"
	" DROP TABLE IF EXISTS sketches; DROP TABLE IF EXISTS features; DROP TABLE IF EXISTS meta; COMMIT;";

struct catalog {
	sqlite3 *db;
	char *path;
	/* Prepared on first use: a reader needs two or three of them, and
	 * preparing all took most of an open. */
	sqlite3_stmt *st[ST_COUNT];
	/* The run catalog_lookup decoded last: runs never change once filed
	 * (a repack files new ones in a new pack), so (pack, key, first)
	 * names its content. */
	pack_record run[RUN_MAX];
	size_t run_n;
	int64_t run_pack, run_key;
	uint64_t run_first;
	/* With `sequential`, a lookup inside that run is answered from it
	 * without a query: the rest of its location, and its key. */
	int sequential;
	catalog_loc run_loc;
	uint8_t *run_name;
	size_t run_namelen;
	/* Runs kept in the packs' footers are read from there: the packs
	 * directory, the last pack opened, a buffer. */
	char *packs;
	int64_t fd_pack;
	int fd;
	uint8_t *fetch;
	size_t fetch_cap;
	/* The last fetch found its pack gone: a repack superseded it after
	 * the query's snapshot was taken, or it is damage. Asking again, in
	 * a new snapshot, tells which. */
	int vanished;
};

/* Times a lookup or scan asks again after a pack vanished under it. */
#define VANISHED_RETRIES 3

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

/* Statement `which`, reset, prepared on first use. */
static int stmt(catalog *c, int which, sqlite3_stmt **out)
{
	if (!c->st[which]) {
		int r = sqlite3_prepare_v3(c->db, SQL[which], -1, SQLITE_PREPARE_PERSISTENT, &c->st[which], NULL);
		if (r != SQLITE_OK)
			return db_fail(c, r, "preparing a statement");
	}
	sqlite3_reset(c->st[which]);
	sqlite3_clear_bindings(c->st[which]);
	*out = c->st[which];
	return 0;
}

static int check_schema(catalog *c, int create)
{
	sqlite3_stmt *s = NULL;
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
	if (v == 1 && create) {
		int rc = exec(c, DROP_SCHEMA_1);
		return rc ? rc : exec(c, SCHEMA);
	}
	/* Schema 3 is 2 whose runs may share checksums: a writer marks it
	 * so that builds which cannot read those refuse the store. */
	if (v == 2 && create)
		return exec(c, "UPDATE meta SET value=3 WHERE name='schema';");
	if (v == 2)
		return 0;
	if (v != CATALOG_SCHEMA)
		return err_set(STRATA_EFORMAT, "catalog %s has schema version %d; this build reads %d%s",
			       c->path, v, CATALOG_SCHEMA,
			       v < CATALOG_SCHEMA ? " (a writer's open, or 'strata rebuild', files the packs anew)" : "");
	return 0;
}

int catalog_open(catalog **out, const char *path, int create)
{
	catalog *c = calloc(1, sizeof *c);
	if (!c || !(c->path = strdup(path)) || !(c->packs = malloc(strlen(path) + 8))) {
		if (c)
			free(c->path);
		free(c);
		return ERR_NOMEM();
	}
	c->fd = -1;
	/* The packs lie beside the catalog (docs/FORMAT.md, "Store directory"). */
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path + 1) : 0;
	memcpy(c->packs, path, dirlen);
	memcpy(c->packs + dirlen, "packs", 6);
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
		rc = exec(c, "PRAGMA page_size=" CATALOG_PAGE_SIZE "; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
		if (!rc)
			rc = check_schema(c, create);
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
	os_close(c->fd);
	free(c->fetch);
	free(c->packs);
	free(c->run_name);
	free(c->path);
	free(c);
}

/* Step a statement expected to yield at most one row with a u64 column 0. */
static int one_u64(catalog *c, sqlite3_stmt *s, uint64_t *v, int *found, const char *what)
{
	*v = 0;
	if (found)
		*found = 0;
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
	sqlite3_stmt *s = NULL;
	int rc = stmt(c, ST_MAX_UNIT, &s);
	return rc ? rc : one_u64(c, s, max, NULL, "reading packs");
}

int catalog_find_pack(catalog *c, const char *name, int *found)
{
	sqlite3_stmt *s = NULL;
	int rc = stmt(c, ST_FIND_PACK, &s);
	if (rc)
		return rc;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	uint64_t v;
	return one_u64(c, s, &v, found, "reading packs");
}

int catalog_covering(catalog *c, uint64_t first, uint64_t last, int *covered)
{
	sqlite3_stmt *s = NULL;
	int rc = stmt(c, ST_COVERING, &s);
	if (rc)
		return rc;
	sqlite3_bind_int64(s, 1, (int64_t)first);
	sqlite3_bind_int64(s, 2, (int64_t)last);
	uint64_t v;
	return one_u64(c, s, &v, covered, "reading packs");
}

int catalog_key_count(catalog *c, const void *key, size_t len, uint64_t *count)
{
	sqlite3_stmt *s = NULL;
	int rc = stmt(c, ST_KEY_COUNT, &s);
	if (rc)
		return rc;
	sqlite3_bind_blob(s, 1, key, (int)len, SQLITE_STATIC);
	return one_u64(c, s, count, NULL, "reading keys");
}

int catalog_pack_record_count(catalog *c, int64_t pack, uint64_t *count)
{
	sqlite3_stmt *s = NULL;
	int rc = stmt(c, ST_PACK_RECS, &s);
	if (rc)
		return rc;
	sqlite3_bind_int64(s, 1, pack);
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
	sqlite3_stmt *s = NULL;
	int rc = stmt(c, ST_KEY_INS, &s);
	if (rc)
		return rc;
	sqlite3_bind_blob(s, 1, k->p, k->len, SQLITE_STATIC);
	if ((rc = step_done(c, s, "adding a key")) || (rc = stmt(c, ST_KEY_ID, &s)))
		return rc;
	sqlite3_bind_blob(s, 1, k->p, k->len, SQLITE_STATIC);
	uint64_t v = 0;
	int found = 0;
	rc = one_u64(c, s, &v, &found, "reading a key id");
	*id = (int64_t)v;
	return rc ? rc : found ? 0 : db_fail(c, SQLITE_CORRUPT, "key vanished");
}

static int add_groups(catalog *c, const pack_footer *f, int64_t pack)
{
	for (size_t i = 0; i < f->ngroups; i++) {
		const pack_group *g = &f->groups[i];
		sqlite3_stmt *s = NULL;
		int rc = stmt(c, ST_GRP_INS, &s);
		if (rc)
			return rc;
		sqlite3_bind_int64(s, 1, pack);
		sqlite3_bind_int64(s, 2, (int64_t)i);
		sqlite3_bind_int64(s, 3, (int64_t)g->offset);
		sqlite3_bind_int64(s, 4, (int64_t)g->clen);
		sqlite3_bind_int64(s, 5, (int64_t)g->blen);
		sqlite3_bind_int(s, 6, g->codec);
		sqlite3_bind_int64(s, 7, (int64_t)g->sum);
		sqlite3_bind_int(s, 8, g->level);
		rc = step_done(c, s, "adding a group");
		if (rc)
			return rc;
	}
	return 0;
}

/* Records, a run per row, with per-unit counts and raw bytes (indexed by
 * unit - first). */
static int add_runs(catalog *c, const pack_footer *f, const int64_t *ids, int64_t pack, uint64_t *count,
		    uint64_t *raw)
{
	bytebuf b = { 0 };
	int rc = 0;
	/* A footer of version 2 or 3 holds the runs: rows point at them. Else
	 * (version 1, or a footer built in memory) rows hold their own. */
	size_t run = 0;
	pack_run fr = { 0 };
	for (size_t i = 0; !rc && i < f->nrecords; i += fr.count, run++) {
		if (f->runs && (run >= f->nruns || f->runs[run].first != i || f->runs[run].count == 0 ||
				f->runs[run].count > f->nrecords - i)) {
			rc = err_set(STRATA_ECORRUPT, "footer runs and records disagree");
			break;
		}
		if (f->runs) {
			fr = f->runs[run];
		} else {
			fr.count = run_end(f->records, f->nrecords, i) - i;
			run_summary(&fr, f->records + i, fr.count);
		}
		uint64_t last = fr.n + fr.count - 1;
		/* A record may be filed by one pack only: the runs of the packs
		 * this one supersedes are gone, so any other is a conflict. */
		sqlite3_stmt *s = NULL;
		if ((rc = stmt(c, ST_RUN_NEAR, &s)))
			break;
		sqlite3_bind_int64(s, 1, ids[fr.key]);
		sqlite3_bind_int64(s, 2, (int64_t)last);
		int step = sqlite3_step(s);
		if (step == SQLITE_ROW && (uint64_t)sqlite3_column_int64(s, 1) >= fr.n)
			rc = err_set(STRATA_ECORRUPT, "record %" PRIu64 " of a key is already filed in unit %" PRIu64,
				     fr.n, (uint64_t)sqlite3_column_int64(s, 0));
		else if (step != SQLITE_ROW && step != SQLITE_DONE)
			rc = db_fail(c, step, "reading a run");
		sqlite3_reset(s);
		b.len = 0;
		if (!rc && !f->runs)
			rc = run_encode(f->records + i, fr.count, 1, &b);
		if (rc || (rc = stmt(c, ST_RUN_INS, &s)))
			break;
		sqlite3_bind_int64(s, 1, ids[fr.key]);
		sqlite3_bind_int64(s, 2, (int64_t)fr.n);
		sqlite3_bind_int64(s, 3, (int64_t)last);
		sqlite3_bind_int64(s, 4, (int64_t)fr.unit);
		sqlite3_bind_int64(s, 5, pack);
		sqlite3_bind_int64(s, 6, fr.group);
		if (f->runs) {
			sqlite3_bind_int64(s, 8, (int64_t)fr.off);
			sqlite3_bind_int64(s, 9, (int64_t)fr.len);
			sqlite3_bind_int64(s, 10, (int64_t)fr.sum);
		} else {
			sqlite3_bind_blob(s, 7, b.p, (int)b.len, SQLITE_STATIC);
		}
		if ((rc = step_done(c, s, "adding a run")) || (rc = stmt(c, ST_KEY_BUMP, &s)))
			break;
		sqlite3_bind_int64(s, 1, ids[fr.key]);
		sqlite3_bind_int64(s, 2, (int64_t)last);
		if ((rc = step_done(c, s, "counting a key's records")))
			break;
		/* A unit's records and bytes are the caller's: reserved
		 * keys' (chunks, manifests) are counted through the records
		 * that refer to them. */
		if (f->keys[fr.key].len && f->keys[fr.key].p[0] != 0) {
			count[fr.unit - f->first] += fr.count;
			raw[fr.unit - f->first] += fr.size;
		}
	}
	buf_free(&b);
	return rc;
}

static int add_units(catalog *c, const pack_footer *f, int64_t pack, const uint64_t *count, const uint64_t *raw)
{
	for (size_t i = 0; i < f->nunits; i++) {
		const pack_unit *u = &f->units[i];
		sqlite3_stmt *s = NULL;
		int rc = stmt(c, ST_UNIT_INS, &s);
		if (rc)
			return rc;
		sqlite3_bind_int64(s, 1, (int64_t)u->unit);
		sqlite3_bind_blob(s, 2, u->label_len ? (const void *)u->label : "", (int)u->label_len, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, u->time);
		sqlite3_bind_int64(s, 4, pack);
		sqlite3_bind_int64(s, 5, (int64_t)count[i]);
		sqlite3_bind_int64(s, 6, (int64_t)raw[i]);
		rc = step_done(c, s, "adding a unit");
		if (rc)
			return rc;
	}
	return 0;
}

/* The live packs whose ranges lie inside [first, last]: collected, then
 * their rows dropped. */
static int drop_contained(catalog *c, uint64_t first, uint64_t last, catalog_pack **out, size_t *n)
{
	uint64_t overlap = 0;
	sqlite3_stmt *s = NULL;
	int rc = stmt(c, ST_OVERLAP, &s);
	if (rc)
		return rc;
	sqlite3_bind_int64(s, 1, (int64_t)first);
	sqlite3_bind_int64(s, 2, (int64_t)last);
	rc = one_u64(c, s, &overlap, NULL, "reading packs");
	if (!rc && overlap)
		return err_set(STRATA_ECORRUPT, "units %" PRIu64 "..%" PRIu64 " partly overlap a catalogued pack",
			       first, last);
	if (!rc)
		rc = catalog_packs_in(c, first, last, out, n);
	/* Their runs are kept aside until the new pack's are in, to check
	 * that it holds every record they held (a table made here, not on
	 * open: most opens file no pack). */
	char in[120], sql[800];
	snprintf(in, sizeof in, "(SELECT id FROM packs WHERE first>=%" PRIu64 " AND last<=%" PRIu64 ")", first,
		 last);
	snprintf(sql, sizeof sql,
		 "CREATE TEMP TABLE IF NOT EXISTS old_runs(key INTEGER, first INTEGER, last INTEGER);"
		 "DELETE FROM temp.old_runs;"
		 "INSERT INTO temp.old_runs SELECT key, first, last FROM runs WHERE pack IN %s;"
		 "DELETE FROM runs WHERE pack IN %s; DELETE FROM groups WHERE pack IN %s;"
		 "DELETE FROM packs WHERE id IN %s;", in, in, in, in);
	if (!rc)
		rc = exec(c, sql);
	return rc;
}

static int add_pack_rows(catalog *c, const pack_footer *f, const char *name, uint64_t bytes, int64_t *ids,
			 uint64_t *count, uint64_t *raw)
{
	sqlite3_stmt *s = NULL;
	int rc = stmt(c, ST_PACK_INS, &s);
	if (rc)
		return rc;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (int64_t)f->first);
	sqlite3_bind_int64(s, 3, (int64_t)f->last);
	sqlite3_bind_int64(s, 4, (int64_t)bytes);
	rc = step_done(c, s, "adding a pack");
	int64_t pack = sqlite3_last_insert_rowid(c->db);
	for (size_t i = 0; !rc && i < f->nkeys; i++)
		rc = add_key(c, &f->keys[i], &ids[i]);
	if (!rc)
		rc = add_groups(c, f, pack);
	if (!rc)
		rc = add_runs(c, f, ids, pack, count, raw);
	if (!rc)
		rc = add_units(c, f, pack, count, raw);
	uint64_t strays = 0;
	if (!rc && !(rc = stmt(c, ST_STRAYS, &s))) {
		sqlite3_bind_int64(s, 1, pack);
		sqlite3_bind_int64(s, 2, RUN_MAX);
		rc = one_u64(c, s, &strays, NULL, "checking records");
	}
	if (!rc && strays)
		rc = err_set(STRATA_ECORRUPT, "pack %s lacks %" PRIu64 " records of the packs it replaces", name,
			     strays);
	return rc;
}

int catalog_add_pack(catalog *c, const pack_footer *f, const char *name, uint64_t bytes,
		     catalog_pack **superseded, size_t *nsuperseded)
{
	int64_t *ids = malloc((f->nkeys ? f->nkeys : 1) * sizeof *ids);
	uint64_t *count = calloc(f->nunits ? f->nunits : 1, sizeof *count);
	uint64_t *raw = calloc(f->nunits ? f->nunits : 1, sizeof *raw);
	catalog_pack *old = NULL;
	size_t nold = 0;
	int rc = ids && count && raw ? exec(c, "BEGIN IMMEDIATE") : ERR_NOMEM();
	int filed = 0;
	c->run_n = 0; /* runs move when packs are superseded */
	if (!rc)
		rc = catalog_find_pack(c, name, &filed);
	if (!rc && filed)
		rc = err_set(STRATA_EEXIST, "pack %s is filed already", name);
	if (!rc)
		rc = drop_contained(c, f->first, f->last, &old, &nold);
	if (!rc)
		rc = add_pack_rows(c, f, name, bytes, ids, count, raw);
	if (!rc)
		rc = exec(c, "COMMIT");
	if (rc) {
		err_prefix(rc, "filing pack %s: ", name);
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		free(old);
		old = NULL;
		nold = 0;
	}
	if (superseded) {
		*superseded = old;
		*nsuperseded = nold;
	} else {
		free(old);
	}
	free(ids);
	free(count);
	free(raw);
	return rc;
}

static int not_found(const void *key, size_t len, uint64_t n)
{
	return err_set(STRATA_ENOTFOUND, "no record %llu of key '%.*s'", (unsigned long long)n,
		       (int)(len > 200 ? 200 : len), (const char *)key);
}

/* The bytes of a run kept in a pack's footer: read from the pack and
 * checked against the checksum filed with them. *p points into c->fetch. */
static int fetch_run(catalog *c, int64_t pack, const char *name, uint64_t off, uint64_t len, uint64_t sum,
		     const uint8_t **p)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", c->packs, name);
	if (len > 64u * RUN_MAX + 64)
		return err_set(STRATA_ECORRUPT, "catalog %s: a run of pack %s is too long", c->path, name);
	if (c->fetch_cap < len) {
		uint8_t *b = realloc(c->fetch, (size_t)len);
		if (!b)
			return ERR_NOMEM();
		c->fetch = b;
		c->fetch_cap = (size_t)len;
	}
	if (c->fd < 0 || c->fd_pack != pack) {
		os_close(c->fd);
		c->fd = -1;
		int rc = os_open(&c->fd, path, O_RDONLY, 0);
		c->vanished = rc == STRATA_ENOTFOUND;
		if (rc)
			return rc == STRATA_ENOTFOUND ? err_set(STRATA_ECORRUPT, "pack %s is missing", path) : rc;
		c->fd_pack = pack;
	}
	int rc = os_pread(c->fd, c->fetch, (size_t)len, off, path);
	if (rc)
		return rc;
	if (XXH3_64bits(c->fetch, (size_t)len) != sum)
		return err_set(STRATA_ECORRUPT, "pack %s: the footer's record run at %" PRIu64
			       " differs from what the catalog filed", path, off);
	*p = c->fetch;
	return 0;
}

/* Decode the run of the row `s` stands on (RUN_COLS first) into out[]
 * (RUN_MAX entries), checking it against the row. */
static int decode_row(catalog *c, sqlite3_stmt *s, pack_record *out, size_t *n)
{
	uint64_t first = (uint64_t)sqlite3_column_int64(s, 0), last = (uint64_t)sqlite3_column_int64(s, 1);
	uint64_t unit = (uint64_t)sqlite3_column_int64(s, 2);
	const uint8_t *p = sqlite3_column_blob(s, 3);
	size_t len = (size_t)sqlite3_column_bytes(s, 3);
	int rc = 0;
	if (sqlite3_column_type(s, 3) == SQLITE_NULL) {
		const unsigned char *name = sqlite3_column_text(s, 8);
		len = (size_t)sqlite3_column_int64(s, 5);
		rc = fetch_run(c, sqlite3_column_int64(s, 7), name ? (const char *)name : "",
			       (uint64_t)sqlite3_column_int64(s, 4), len, (uint64_t)sqlite3_column_int64(s, 6), &p);
	}
	char what[300];
	snprintf(what, sizeof what, "catalog %s", c->path);
	if (!rc)
		rc = len > 0 ? run_decode(p, len, 0, unit, out, n, what)
			     : err_set(STRATA_ECORRUPT, "%s: empty run", what);
	if (!rc && (out[0].n != first || out[*n - 1].n != last))
		rc = err_set(STRATA_ECORRUPT, "%s: a run's records disagree with its row", what);
	return rc;
}

void catalog_sequential(catalog *c, int on)
{
	c->sequential = on;
}

void catalog_forget(catalog *c)
{
	c->run_n = 0;
}

/* Fill the record's own fields of *out from the cached run. */
static void from_run(const catalog *c, uint64_t n, catalog_loc *out)
{
	const pack_record *rec = &c->run[n - c->run_first];
	out->grp = rec->group;
	out->off = rec->off;
	out->len = rec->len;
	out->size = rec->size;
	out->sum = rec->sum;
	out->enc = rec->enc;
	out->cend = rec->cend;
	out->base = rec->base;
	out->shared = rec->rcount ? rec - rec->rpos : NULL;
}

static int lookup_once(catalog *c, const void *key, size_t len, uint64_t n, catalog_loc *out)
{
	if (c->sequential && c->run_n && c->run_name && len == c->run_namelen && n >= c->run_first &&
	    n - c->run_first < c->run_n && memcmp(key, c->run_name, len) == 0) {
		*out = c->run_loc;
		from_run(c, n, out);
		return 0;
	}
	sqlite3_stmt *s = NULL;
	int r = stmt(c, ST_LOOKUP, &s);
	if (r)
		return r;
	sqlite3_bind_blob(s, 1, key, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (int64_t)n);
	r = sqlite3_step(s);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		return db_fail(c, r, "looking up a record");
	uint64_t first = r == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
	uint64_t last = r == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 1) : 0;
	if (r == SQLITE_DONE || n > last || n < first) {
		sqlite3_reset(s);
		return not_found(key, len, n);
	}
	out->unit = (uint64_t)sqlite3_column_int64(s, 2);
	out->pack = sqlite3_column_int64(s, 7);
	int64_t kid = sqlite3_column_int64(s, RUN_NCOLS);
	int rc = 0;
	if (c->run_n == 0 || c->run_pack != out->pack || c->run_key != kid || c->run_first != first) {
		c->run_n = 0;
		rc = decode_row(c, s, c->run, &c->run_n);
		if (rc)
			c->run_n = 0;
		c->run_pack = out->pack;
		c->run_key = kid;
		c->run_first = first;
	}
	if (!rc) {
		from_run(c, n, out);
		out->group.offset = (uint64_t)sqlite3_column_int64(s, RUN_NCOLS + 1);
		out->group.clen = (uint64_t)sqlite3_column_int64(s, RUN_NCOLS + 2);
		out->group.blen = (uint64_t)sqlite3_column_int64(s, RUN_NCOLS + 3);
		out->group.codec = (uint8_t)sqlite3_column_int(s, RUN_NCOLS + 4);
		out->group.sum = (uint64_t)sqlite3_column_int64(s, RUN_NCOLS + 5);
		out->group.level = (int8_t)sqlite3_column_int(s, RUN_NCOLS + 6);
		const unsigned char *pn = sqlite3_column_text(s, 8);
		snprintf(out->pack_name, sizeof out->pack_name, "%s", pn ? (const char *)pn : "");
		if (c->sequential) {
			uint8_t *name = realloc(c->run_name, len ? len : 1);
			if (!name)
				free(c->run_name); /* no name: no answers from memory */
			else
				memcpy(name, key, len);
			c->run_name = name;
			c->run_namelen = len;
			c->run_loc = *out;
		}
	}
	sqlite3_reset(s);
	return rc;
}

int catalog_lookup(catalog *c, const void *key, size_t len, uint64_t n, catalog_loc *out)
{
	int rc;
	for (int tries = 0;; tries++) {
		c->vanished = 0;
		rc = lookup_once(c, key, len, n, out);
		if (!rc || !c->vanished || tries == VANISHED_RETRIES)
			break;
		err_clear();
	}
	return rc;
}

int catalog_lookup_run(catalog *c, const void *key, size_t len, uint64_t n, catalog_loc *out,
		       const pack_record **rest, size_t *nrest)
{
	int rc = catalog_lookup(c, key, len, n, out);
	if (rc)
		return rc;
	*rest = &c->run[n - c->run_first];
	*nrest = c->run_n - (size_t)(n - c->run_first);
	return 0;
}

/* Run a query and hand each row to `row`, which returns nonzero to stop.
 * Binds ?1 to blob when not NULL, and ?2, ?3 to a, b when nint says so. */
static int each_row_b(catalog *c, const char *sql, const void *blob, size_t bloblen, int nint, int64_t a,
		      int64_t b, int (*row)(sqlite3_stmt *, void *), void *ctx)
{
	sqlite3_stmt *s = NULL;
	int r = sqlite3_prepare_v2(c->db, sql, -1, &s, NULL);
	if (r != SQLITE_OK)
		return db_fail(c, r, "query");
	if (blob)
		sqlite3_bind_blob(s, 1, blob, (int)bloblen, SQLITE_STATIC);
	if (nint > 0)
		sqlite3_bind_int64(s, 2, a);
	if (nint > 1)
		sqlite3_bind_int64(s, 3, b);
	int rc = 0;
	while ((r = sqlite3_step(s)) == SQLITE_ROW)
		if ((rc = row(s, ctx)) != 0)
			break;
	if (!rc && r != SQLITE_DONE)
		rc = db_fail(c, r, "query");
	sqlite3_finalize(s);
	return rc;
}

static int each_row(catalog *c, const char *sql, const void *blob, size_t bloblen,
		    int (*row)(sqlite3_stmt *, void *), void *ctx)
{
	return each_row_b(c, sql, blob, bloblen, 0, 0, 0, row, ctx);
}

typedef struct pack_list {
	catalog_pack *v;
	size_t n, cap;
	int oom;
} pack_list;

static int pack_row(sqlite3_stmt *s, void *p)
{
	pack_list *l = p;
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 32;
		catalog_pack *nv = realloc(l->v, nc * sizeof *nv);
		if (!nv)
			return l->oom = 1;
		l->v = nv;
		l->cap = nc;
	}
	catalog_pack *cp = &l->v[l->n++];
	cp->id = sqlite3_column_int64(s, 0);
	const unsigned char *name = sqlite3_column_text(s, 1);
	snprintf(cp->name, sizeof cp->name, "%s", name ? (const char *)name : "");
	cp->first = (uint64_t)sqlite3_column_int64(s, 2);
	cp->last = (uint64_t)sqlite3_column_int64(s, 3);
	cp->bytes = (uint64_t)sqlite3_column_int64(s, 4);
	return 0;
}

int catalog_packs_in(catalog *c, uint64_t first, uint64_t last, catalog_pack **out, size_t *n)
{
	pack_list l = { 0 };
	int rc = each_row_b(c, "SELECT id, name, first, last, bytes FROM packs WHERE first>=?2 AND last<=?3 "
			       "ORDER BY first", NULL, 0, 2, (int64_t)first, (int64_t)last, pack_row, &l);
	if (l.oom)
		rc = ERR_NOMEM();
	if (rc) {
		free(l.v);
		return rc;
	}
	*out = l.v;
	*n = l.n;
	return 0;
}

typedef struct rp_ctx {
	catalog_repack_cb *cb;
	void *ctx;
	int newest_first;
} rp_ctx;

static int repack_row(sqlite3_stmt *s, void *p)
{
	rp_ctx *k = p;
	const void *key = sqlite3_column_blob(s, 0);
	size_t keylen = (size_t)sqlite3_column_bytes(s, 0);
	uint64_t first = (uint64_t)sqlite3_column_int64(s, 1), last = (uint64_t)sqlite3_column_int64(s, 2);
	uint64_t unit = (uint64_t)sqlite3_column_int64(s, 3);
	int rc = 0;
	for (uint64_t i = 0; !rc && i <= last - first; i++)
		rc = k->cb(k->ctx, key, keylen, k->newest_first ? last - i : first + i, unit);
	return rc;
}

int catalog_foreach_in_range(catalog *c, uint64_t first, uint64_t last, int newest_first,
			     catalog_repack_cb *cb, void *ctx)
{
	rp_ctx k = { cb, ctx, newest_first };
	return each_row_b(c, newest_first
			     ? "SELECT k.name, r.first, r.last, r.unit FROM runs r JOIN keys k ON r.key=k.id "
			       "WHERE r.unit>=?2 AND r.unit<=?3 ORDER BY k.name, r.first DESC"
			     : "SELECT k.name, r.first, r.last, r.unit FROM runs r JOIN keys k ON r.key=k.id "
			       "WHERE r.unit>=?2 AND r.unit<=?3 ORDER BY k.name, r.first",
			  NULL, 0, 2, (int64_t)first, (int64_t)last, repack_row, &k);
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
	/* Reserved keys (a NUL first byte) are strata's own. */
	return each_row(c, "SELECT name, records FROM keys WHERE records>0 AND substr(name,1,1)!=x'00' "
			   "ORDER BY name", NULL, 0, key_row, &k);
}

/* Rows of runs (first, last, unit, recs, ...) decoded, then handed record
 * by record to `each`. */
typedef struct run_scan {
	catalog *c;
	pack_record recs[RUN_MAX];
	int (*each)(struct run_scan *, sqlite3_stmt *, const pack_record *);
	cb_ctx k;
	void *more;
	int64_t done_key;     /* the last run handed out whole: its key id */
	uint64_t done_first;  /* and first record */
} run_scan;

static int run_row(sqlite3_stmt *s, void *p)
{
	run_scan *rs = p;
	size_t n = 0;
	int rc = decode_row(rs->c, s, rs->recs, &n);
	for (size_t i = 0; !rc && i < n; i++)
		rc = rs->each(rs, s, &rs->recs[i]);
	if (!rc) {
		rs->done_key = sqlite3_column_int64(s, RUN_NCOLS);
		rs->done_first = (uint64_t)sqlite3_column_int64(s, 0);
	}
	return rc;
}

/* Scan runs in (key, first) order with `sql`, whose ?2 and ?3 resume it
 * after run (done_key, done_first): a run whose pack vanished (superseded
 * by a repack after the scan's snapshot) is found again, in a new
 * snapshot, without handing out twice what was handed out. */
static int scan_runs(catalog *c, const char *sql, const void *key, size_t len, run_scan *rs)
{
	int rc;
	rs->done_key = -1;
	rs->done_first = 0;
	for (int tries = 0;; tries++) {
		c->vanished = 0;
		rc = each_row_b(c, sql, key, len, 2, rs->done_key, (int64_t)rs->done_first, run_row, rs);
		if (!rc || !c->vanished || tries == VANISHED_RETRIES)
			break;
		err_clear();
	}
	return rc;
}

static int record_each(run_scan *rs, sqlite3_stmt *s, const pack_record *r)
{
	(void)s;
	strata_record_info ri = { r->n, r->unit, r->size, r->len, r->rcount ? 0 : r->sum, r->rcount != 0 };
	return ((strata_record_cb *)rs->k.cb)(rs->k.ctx, &ri);
}

int catalog_foreach_record(catalog *c, const void *key, size_t len, strata_record_cb *cb, void *ctx)
{
	run_scan *rs = calloc(1, sizeof *rs);
	if (!rs)
		return ERR_NOMEM();
	*rs = (run_scan){ .c = c, .each = record_each, .k = { (void *)cb, ctx } };
	int rc = scan_runs(c, "SELECT " RUN_COLS ", r.key FROM runs r JOIN keys k ON r.key=k.id JOIN packs p "
			      "ON p.id=r.pack WHERE k.name=?1 AND (r.key>?2 OR r.first>?3) ORDER BY r.first",
			   key, len, rs);
	free(rs);
	return rc;
}

static int unit_row(sqlite3_stmt *s, void *p)
{
	cb_ctx *k = p;
	/* Labels are bytes; hand them out NUL-terminated (cut at a NUL). */
	int ll = sqlite3_column_bytes(s, 1);
	const void *lp = sqlite3_column_blob(s, 1);
	char *label = malloc((size_t)(ll > 0 ? ll : 0) + 1);
	if (!label)
		return ERR_NOMEM();
	if (ll > 0)
		memcpy(label, lp, (size_t)ll);
	label[ll > 0 ? ll : 0] = '\0';
	const char *pack = (const char *)sqlite3_column_text(s, 3);
	strata_unit_info ui = { (uint64_t)sqlite3_column_int64(s, 0), label, sqlite3_column_int64(s, 2),
				(uint64_t)sqlite3_column_int64(s, 5), (uint64_t)sqlite3_column_int64(s, 6),
				(uint64_t)sqlite3_column_int64(s, 4), pack ? pack : "" };
	int rc = ((strata_unit_cb *)k->cb)(k->ctx, &ui);
	free(label);
	return rc;
}

int catalog_foreach_unit(catalog *c, strata_unit_cb *cb, void *ctx)
{
	cb_ctx k = { (void *)cb, ctx };
	return each_row(c, "SELECT u.unit, u.label, u.time, 'packs/' || p.name, p.bytes, u.records, "
			   "u.raw_bytes FROM units u LEFT JOIN packs p ON p.id=u.pack ORDER BY u.unit",
			NULL, 0, unit_row, &k);
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

/* Read costs, computed key by key in record order: a record costs its
 * compressed prefix plus what its base costs. */
typedef struct cost_scan {
	int64_t key;          /* key of the records in `cost` */
	uint64_t *cost;       /* cost[n] for the current key */
	uint8_t *depth;       /* groups touched, per n */
	size_t cap;
	double *ratio;        /* one per record */
	size_t n, cap_ratio;
	uint64_t chain_max;
	int oom;
} cost_scan;

static int cost_each(run_scan *rs, sqlite3_stmt *s, const pack_record *r)
{
	cost_scan *cs = rs->more;
	int64_t key = sqlite3_column_int64(s, RUN_NCOLS);
	uint64_t n = r->n, cend = r->cend, base = r->base, size = r->size;
	if (key != cs->key && cs->cap)
		memset(cs->cost, 0, cs->cap * sizeof *cs->cost);
	cs->key = key;
	if (n >= cs->cap || cs->n == cs->cap_ratio) {
		size_t nc = n >= cs->cap ? (size_t)n * 2 + 16 : cs->cap;
		size_t nr = cs->n == cs->cap_ratio ? cs->cap_ratio * 2 + 1024 : cs->cap_ratio;
		uint64_t *c2 = realloc(cs->cost, nc * sizeof *c2);
		uint8_t *d2 = c2 ? realloc(cs->depth, nc) : NULL;
		double *r2 = d2 ? realloc(cs->ratio, nr * sizeof *r2) : NULL;
		if (c2) cs->cost = c2;
		if (d2) cs->depth = d2;
		if (r2) cs->ratio = r2;
		if (!c2 || !d2 || !r2)
			return cs->oom = 1;
		memset(cs->cost + cs->cap, 0, (nc - cs->cap) * sizeof *c2);
		memset(cs->depth + cs->cap, 0, nc - cs->cap);
		cs->cap = nc;
		cs->cap_ratio = nr;
	}
	/* An empty record reads nothing; any other reads its group's prefix to
	 * cend, after its base's own cost. */
	int has_base = base && base < n;
	cs->cost[n] = size == 0 ? 0 : cend + (has_base ? cs->cost[base] : 0);
	cs->depth[n] = (uint8_t)(1 + (has_base && cs->depth[base] < 255 ? cs->depth[base] : 0));
	if (cs->depth[n] > cs->chain_max)
		cs->chain_max = cs->depth[n];
	/* A chunk list's own read is a sliver of its content's, which its
	 * chunks' records stand for. */
	if (r->enc != ENC_CHUNKS)
		cs->ratio[cs->n++] = (double)cs->cost[n] / (double)(size < 4096 ? 4096 : size);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int read_cost_stats(catalog *c, strata_stats *out)
{
	cost_scan cs = { .key = -1 };
	run_scan *rs = calloc(1, sizeof *rs);
	if (!rs)
		return ERR_NOMEM();
	*rs = (run_scan){ .c = c, .each = cost_each, .more = &cs };
	int rc = scan_runs(c, "SELECT " RUN_COLS ", r.key FROM runs r JOIN packs p ON p.id=r.pack "
			      "WHERE r.key>?2 OR (r.key=?2 AND r.first>?3) ORDER BY r.key, r.first", NULL, 0, rs);
	free(rs);
	if (cs.oom)
		rc = ERR_NOMEM();
	if (!rc && cs.n) {
		qsort(cs.ratio, cs.n, sizeof *cs.ratio, cmp_double);
		/* Nearest rank: the smallest value at or above p of the records. */
		out->read_cost_median = cs.ratio[(cs.n + 1) / 2 - 1];
		out->read_cost_p99 = cs.ratio[(cs.n * 99 + 99) / 100 - 1];
		out->read_cost_max = cs.ratio[cs.n - 1];
		out->chain_max = cs.chain_max;
	}
	free(cs.cost);
	free(cs.depth);
	free(cs.ratio);
	return rc;
}

int catalog_stats(catalog *c, strata_stats *out)
{
	memset(out, 0, sizeof *out);
	int rc = each_row(c, "SELECT count(*), coalesce(sum(records),0), coalesce(sum(raw_bytes),0), "
			     "(SELECT coalesce(sum(bytes),0) FROM packs), (SELECT count(*) FROM keys WHERE records>0 AND substr(name,1,1)!=x'00'), "
			     "(SELECT count(*) FROM groups) FROM units", NULL, 0, stats_row, out);
	return rc ? rc : read_cost_stats(c, out);
}

/* ------------------------------------------- compressor state (format 1.1) */

static const char STATE_SCHEMA[] =
	"CREATE TABLE IF NOT EXISTS chunks(hash BLOB PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS features(f INTEGER NOT NULL, n INTEGER NOT NULL,"
	" PRIMARY KEY(f, n)) WITHOUT ROWID;";

int catalog_state_open(catalog *c, uint64_t cache_bytes)
{
	char sql[64];
	/* SQLite takes a negative cache_size as KiB. */
	snprintf(sql, sizeof sql, "PRAGMA cache_size=-%" PRIu64 ";", cache_bytes / 1024);
	int rc = exec(c, sql);
	/* Tables lost (or never made) mean nothing is indexed, whatever the
	 * mark says: start over, and catch up from unit 1. So does the
	 * super-feature index of formats 1.1 and 1.2 (`sketches`): a build of
	 * those that wrote to the store since left `features` behind its mark. */
	sqlite3_stmt *st;
	int whole = 0, r = sqlite3_prepare_v2(c->db, "SELECT (SELECT count(*) FROM sqlite_master WHERE type='table' AND "
						     "name IN ('chunks','features'))=2 AND NOT EXISTS (SELECT 1 FROM "
						     "sqlite_master WHERE type='table' AND name='sketches')", -1, &st, NULL);
	if (!rc && r == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		whole = sqlite3_column_int(st, 0);
	if (r == SQLITE_OK)
		sqlite3_finalize(st);
	else if (!rc)
		rc = db_fail(c, r, "reading the schema");
	if (!rc && !whole)
		rc = exec(c, "BEGIN IMMEDIATE; DROP TABLE IF EXISTS chunks; DROP TABLE IF EXISTS sketches; "
			     "DROP TABLE IF EXISTS features; "
			     "DELETE FROM meta WHERE name='state-upto'; COMMIT;");
	return rc ? rc : exec(c, STATE_SCHEMA);
}

int catalog_chunk_find(catalog *c, const uint8_t hash[32], uint64_t *n)
{
	sqlite3_stmt *s = NULL;
	int found = 0, rc = stmt(c, ST_CHUNK_FIND, &s);
	if (!rc) {
		sqlite3_bind_blob(s, 1, hash, 32, SQLITE_STATIC);
		rc = one_u64(c, s, n, &found, "reading the chunk index");
	}
	return rc ? rc : found ? 0 : STRATA_ENOTFOUND;
}

int catalog_sketch_find(catalog *c, uint64_t f, uint64_t *ns, size_t cap, size_t *got)
{
	sqlite3_stmt *s = NULL;
	*got = 0;
	int r, rc = stmt(c, ST_SKETCH_FIND, &s);
	if (rc)
		return rc;
	sqlite3_bind_int64(s, 1, (int64_t)f);
	sqlite3_bind_int64(s, 2, (int64_t)cap);
	while ((r = sqlite3_step(s)) == SQLITE_ROW)
		ns[(*got)++] = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return r == SQLITE_DONE ? 0 : db_fail(c, r, "reading the sketch index");
}

int catalog_state_upto(catalog *c, uint64_t *upto)
{
	sqlite3_stmt *s = NULL;
	int r = sqlite3_prepare_v2(c->db, "SELECT value FROM meta WHERE name='state-upto'", -1, &s, NULL);
	if (r != SQLITE_OK)
		return db_fail(c, r, "reading the state mark");
	int rc = one_u64(c, s, upto, NULL, "reading the state mark");
	sqlite3_finalize(s);
	return rc;
}

int catalog_state_add(catalog *c, const catalog_chunk *v, size_t n, uint64_t upto)
{
	sqlite3_stmt *ch = NULL, *sk = NULL, *mk = NULL;
	int rc = exec(c, "BEGIN IMMEDIATE");
	if (rc)
		return rc;
	int r = sqlite3_prepare_v2(c->db, "INSERT OR IGNORE INTO chunks(hash, n) VALUES(?1, ?2)", -1, &ch, NULL);
	if (r == SQLITE_OK)
		r = sqlite3_prepare_v2(c->db, "INSERT OR IGNORE INTO features(f, n) VALUES(?1, ?2)", -1, &sk, NULL);
	if (r == SQLITE_OK)
		r = sqlite3_prepare_v2(c->db, "INSERT OR REPLACE INTO meta VALUES('state-upto', max(?1, "
				       "coalesce((SELECT value FROM meta WHERE name='state-upto'), 0)))", -1, &mk, NULL);
	for (size_t i = 0; r == SQLITE_OK && i < n; i++) {
		sqlite3_reset(ch);
		sqlite3_bind_blob(ch, 1, v[i].hash, 32, SQLITE_STATIC);
		sqlite3_bind_int64(ch, 2, (int64_t)v[i].n);
		r = sqlite3_step(ch) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(c->db);
		for (int j = 0; r == SQLITE_OK && v[i].has_sketch && j < CATALOG_FEATURES; j++) {
			sqlite3_reset(sk);
			sqlite3_bind_int64(sk, 1, (int64_t)v[i].feat[j]);
			sqlite3_bind_int64(sk, 2, (int64_t)v[i].n);
			r = sqlite3_step(sk) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(c->db);
		}
	}
	if (r == SQLITE_OK && upto) {
		sqlite3_bind_int64(mk, 1, (int64_t)upto);
		r = sqlite3_step(mk) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(c->db);
	}
	sqlite3_finalize(ch);
	sqlite3_finalize(sk);
	sqlite3_finalize(mk);
	rc = r == SQLITE_OK ? exec(c, "COMMIT") : db_fail(c, r, "writing the chunk index");
	if (rc)
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

typedef struct n_ctx {
	catalog_n_cb *cb;
	void *ctx;
} n_ctx;

static int n_row(sqlite3_stmt *s, void *p)
{
	n_ctx *k = p;
	uint64_t first = (uint64_t)sqlite3_column_int64(s, 0), last = (uint64_t)sqlite3_column_int64(s, 1);
	int rc = 0;
	for (uint64_t n = first; !rc && n <= last; n++)
		rc = k->cb(k->ctx, n, (uint64_t)sqlite3_column_int64(s, 2));
	return rc;
}

int catalog_foreach_since(catalog *c, const void *key, size_t len, uint64_t unit, catalog_n_cb *cb, void *ctx)
{
	n_ctx k = { cb, ctx };
	return each_row_b(c, "SELECT r.first, r.last, r.unit FROM runs r JOIN keys k ON r.key=k.id "
			     "WHERE k.name=?1 AND r.unit>?2 ORDER BY r.first", key, len, 1, (int64_t)unit, 0, n_row, &k);
}

int catalog_compact(catalog *c)
{
	return exec(c, "VACUUM");
}

int catalog_copy_to(catalog *c, const char *path)
{
	sqlite3_stmt *s = NULL;
	int r = sqlite3_prepare_v2(c->db, "VACUUM INTO ?1", -1, &s, NULL);
	if (r != SQLITE_OK)
		return db_fail(c, r, "copying");
	sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC);
	r = sqlite3_step(s);
	sqlite3_finalize(s);
	return r == SQLITE_DONE ? 0 : db_fail(c, r, "copying");
}
