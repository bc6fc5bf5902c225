/*
 * sqlite.c - the SQLite engine: the schema and its migrations, opening and
 * closing, the writer's transactions, and the engine's table
 * (hr_store__sqlite). Its statements are in sqlite_write.c, its reads in
 * sqlite_read.c; what they share is in sqlite.h.
 */
#include "store/sqlite.h"

#include "core/log.h"
#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUB "store"
#define DB_FILE "herald.db"
#define DEFAULT_READERS 4
#define MAX_READERS 64
/* How long a connection waits for a lock another process holds. */
#define BUSY_TIMEOUT_MS 5000

/*
 * The schema, one entry per version: migrations[i] takes the database from
 * user_version i to i + 1. Append new versions; never edit a released one.
 *
 * The indexes serve the API's filters newest first: each ends in id, so
 * SQLite walks it backwards for ORDER BY id DESC without sorting.
 * stage_state holds, per stage, the last Passed/Failed result, which the
 * writer needs to name the next event's transition.
 */
static const char *const migrations[] = {
    /* v1 */
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  received_at INTEGER NOT NULL," /* ms since the epoch */
    "  source TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  version TEXT,"
    "  pipeline TEXT,"
    "  pipeline_counter TEXT,"
    "  stage TEXT,"
    "  stage_counter TEXT,"
    "  state TEXT,"
    "  result TEXT,"
    "  transition TEXT,"   /* hr_transition_name, NULL for none */
    "  doc TEXT NOT NULL," /* the normalised JSON, without id and transition (v14: NULL) */
    "  raw BLOB"           /* the exact body received */
    ");"
    /* Every index costs each insert a b-tree update on the writer, which is
     * herald's bottleneck, so only the selective filters get one. Source,
     * kind and result have few values: their matches are dense, and a walk
     * down the rowid finds a page of them quickly. */
    "CREATE INDEX events_by_pipeline ON events(pipeline, id);"
    "CREATE INDEX events_by_stage ON events(stage, id);"
    "CREATE TABLE stage_state ("
    "  pipeline TEXT NOT NULL,"
    "  stage TEXT NOT NULL,"
    "  last_result TEXT," /* last Passed or Failed, NULL before either */
    "  last_state TEXT,"
    "  last_counter TEXT," /* the pipeline counter of the last event */
    "  last_event_id INTEGER REFERENCES events(id) ON DELETE SET NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (pipeline, stage)"
    ") WITHOUT ROWID;"
    "CREATE TABLE settings ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL"
    ") WITHOUT ROWID;",
    /* v2: deliveries, one per (event, target), created in the event's
     * transaction; and every attempt at each. */
    "CREATE TABLE deliveries ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  event_id INTEGER NOT NULL REFERENCES events(id),"
    "  route TEXT NOT NULL,"
    "  target TEXT NOT NULL,"
    "  state TEXT NOT NULL," /* pending, retrying, delivered, dead, skipped */
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_at INTEGER NOT NULL," /* ms; when pending/retrying is due */
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  last_status INTEGER,"
    "  last_error TEXT"
    ");"
    "CREATE INDEX deliveries_due ON deliveries(target, next_at)"
    "  WHERE state IN ('pending', 'retrying');"
    "CREATE INDEX deliveries_by_event ON deliveries(event_id);"
    "CREATE INDEX deliveries_by_target ON deliveries(target, state, id);"
    "CREATE INDEX deliveries_by_state ON deliveries(state, id);"
    "CREATE TABLE attempts ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  delivery_id INTEGER NOT NULL REFERENCES deliveries(id),"
    "  attempt INTEGER NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  latency_ms INTEGER NOT NULL,"
    "  status INTEGER,"
    "  outcome TEXT NOT NULL," /* delivered, retry, dead */
    "  error TEXT,"
    "  excerpt TEXT"
    ");"
    "CREATE INDEX attempts_by_delivery ON attempts(delivery_id, attempt);",
    /* v3: per-job result history for CI builds (Jenkins, herald notify),
     * like stage_state for GoCD's stages; and package revisions published
     * to herald for GoCD's package materials. */
    "CREATE TABLE job_state ("
    "  source TEXT NOT NULL,"
    "  job TEXT NOT NULL,"
    "  branch TEXT NOT NULL," /* '' when the build named none */
    "  last_result TEXT,"     /* last Passed or Failed, NULL before either */
    "  last_number INTEGER,"  /* the build that set last_result */
    "  prev_result TEXT,"     /* last_result before that build, for re-sent results */
    "  last_phase TEXT,"
    "  last_status TEXT,"
    "  last_event_id INTEGER REFERENCES events(id) ON DELETE SET NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (source, job, branch)"
    ") WITHOUT ROWID;"
    "CREATE TABLE packages ("
    "  repository TEXT NOT NULL,"
    "  package TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (repository, package)"
    ") WITHOUT ROWID;"
    "CREATE TABLE revisions ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT," /* publish order: newest is highest */
    "  repository TEXT NOT NULL,"
    "  package TEXT NOT NULL,"
    "  revision TEXT NOT NULL,"
    "  timestamp INTEGER NOT NULL," /* ms */
    "  published_at INTEGER NOT NULL,"
    "  event_id INTEGER NOT NULL REFERENCES events(id),"
    "  doc TEXT NOT NULL," /* the revision's JSON, without published_at and event_id */
    "  raw BLOB,"          /* the publish request's body, to tell a retry from a conflict */
    "  UNIQUE (repository, package, revision)"
    ");"
    "CREATE INDEX revisions_by_package ON revisions(repository, package, id);",
    /* v4: the sender's request id (X-Herald-Request-Id), so that a repeat
     * of an event already stored (a retry after a lost answer) is not
     * stored twice. */
    "ALTER TABLE events ADD COLUMN request_id TEXT;"
    "CREATE UNIQUE INDEX events_by_request ON events(request_id)"
    "  WHERE request_id IS NOT NULL;",
    /* v5: retention deletes old events, and with foreign keys on SQLite
     * looks for revisions that name each deleted event; without this index
     * that is a scan of revisions per event. Revisions are published
     * rarely, so the index costs the writer next to nothing. */
    "CREATE INDEX revisions_by_event ON revisions(event_id);",
    /* v6: how many warnings an accepted event carries (what looked wrong
     * in a body stored anyway; the messages are in doc), so the API can
     * list the events that need a look. No index: such events are rare,
     * and the filter walks the rowid like the other sparse ones. */
    "ALTER TABLE events ADD COLUMN warnings INTEGER NOT NULL DEFAULT 0;",
    /* v7: a digest of what the request carried beside its request id, so
     * that a request id used again for another body is refused rather than
     * answered as a repeat (NULL for events stored before: a repeat). */
    "ALTER TABLE events ADD COLUMN request_digest BLOB;",
    /* v8: the message a run keeps. A delivery knows its event's run
     * (run_key: "pipeline/counter", "job/number") and what the service
     * answered about the message it made (service_ref, JSON: Slack's
     * channel and ts, Discord's id, the e-mail's Message-ID); run_messages
     * keeps, per target and run, the first such answer, which later
     * deliveries of the run edit or answer in the thread of. The index
     * finds a run's older deliveries still due, which a delivery waits
     * for while its run has no message yet. */
    "ALTER TABLE deliveries ADD COLUMN run_key TEXT;"
    "ALTER TABLE deliveries ADD COLUMN service_ref TEXT;"
    "CREATE INDEX deliveries_by_run ON deliveries(target, run_key, id)"
    "  WHERE run_key IS NOT NULL;"
    "CREATE TABLE run_messages ("
    "  target TEXT NOT NULL,"
    "  run_key TEXT NOT NULL,"
    "  service_ref TEXT NOT NULL,"
    "  first_delivery_id INTEGER NOT NULL," /* no reference: retention may delete it */
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (target, run_key)"
    ") WITHOUT ROWID;",
    /* v9: ordered delivery. A delivery's order key (its target's order_by
     * rendered when it was created; NULL: unordered) and whether the
     * newest of a key supersedes the older ones waiting. The partial index
     * holds only ordered deliveries still waiting: it answers the claim's
     * "is an older one with my key waiting?" and "is a newer one?" in a
     * probe each, and costs unordered deliveries nothing. */
    "ALTER TABLE deliveries ADD COLUMN order_key TEXT;"
    "ALTER TABLE deliveries ADD COLUMN latest_wins INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX deliveries_by_key ON deliveries(target, order_key, id)"
    "  WHERE order_key IS NOT NULL AND state IN ('pending', 'retrying');",
    /* v10: the dashboard's filters and an attempt's request headers. An
     * index of received_at (and of deliveries' created_at) turns a time
     * range into an id range with one seek each; the keys only grow, so an
     * insert appends to the index's last page. Transitions other than
     * passed and building are rare, so only they are indexed (a page of
     * passed or building events is found by walking the rowid, as for
     * source and kind); its condition is written as ORs, the form SQLite
     * matches a query's "transition = 'broken'" against. request_headers is
     * JSON, secrets masked. */
    "CREATE INDEX events_by_time ON events(received_at);"
    "CREATE INDEX events_by_transition ON events(transition, id)"
    "  WHERE transition = 'broken' OR transition = 'fixed' OR transition = 'failed'"
    "  OR transition = 'still_failing' OR transition = 'failing'"
    "  OR transition = 'cancelled' OR transition = 'unknown';"
    "CREATE INDEX deliveries_by_time ON deliveries(created_at);"
    "ALTER TABLE attempts ADD COLUMN request_headers TEXT;",
    /* v11: each target's health (event/health.h), moved by the writer in
     * the transaction of the attempt that moved it, so that it is read in
     * O(1) and a pause or a disabling survives restarts. Times in ms; 0:
     * never. */
    "CREATE TABLE target_health ("
    "  target TEXT PRIMARY KEY,"
    "  state TEXT NOT NULL," /* healthy, failing, open, disabled */
    "  paused INTEGER NOT NULL DEFAULT 0,"
    "  consecutive_failures INTEGER NOT NULL DEFAULT 0,"
    "  failing_since INTEGER NOT NULL DEFAULT 0,"
    "  last_success_at INTEGER NOT NULL DEFAULT 0,"
    "  last_failure_at INTEGER NOT NULL DEFAULT 0,"
    "  opened_at INTEGER NOT NULL DEFAULT 0,"
    "  next_probe_at INTEGER NOT NULL DEFAULT 0,"
    "  probe_interval_ms INTEGER NOT NULL DEFAULT 0,"
    "  updated_at INTEGER NOT NULL,"
    "  version INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT,"
    "  disabled_reason TEXT"
    ") WITHOUT ROWID;",
    /* v12: what a delivery reports on, when its target reports one event
     * on several things (a commit-status target given a GoCD stage with
     * several changed git materials: one delivery per repository and
     * commit, "acme/app@3f78..."); NULL: the event as a whole. */
    "ALTER TABLE deliveries ADD COLUMN subject TEXT;",
    /* v13: reads that stay flat as history grows (bench/history.sh). A
     * rare source, kind or result (herald's test events, Cancelled) or
     * the few events with warnings were found by walking the rowid past
     * every other event: 120 ms at 200,000 events, growing with them.
     * Each filter gets an index ending in id, as the others; warnings a
     * partial one, which costs the events without any nothing. A
     * target's deliveries alone are read newest first from (target, id)
     * rather than sorted out of (target, state, id). The targets' health
     * reads what changed in its window from an index of updated_at
     * rather than every delivery. The stage and job lists filter by
     * their last result and page by their key. */
    HR_STORE_FLAT_INDEXES,
    /* v14: smaller on disk. A GoCD event's document is derived from its
     * raw body on read (store/event_doc.h), so doc may be NULL. SQLite
     * cannot drop a NOT NULL with ALTER TABLE; removing one changes no
     * stored byte, so the table's definition is edited in place, as
     * SQLite's documentation allows for that change (lang_altertable.html,
     * section 7: writable_schema, then migrate() bumps schema_version),
     * rather than copying every event into a new table. */
    "PRAGMA writable_schema = ON;"
    "UPDATE sqlite_schema SET sql = replace(sql, 'doc TEXT NOT NULL', 'doc TEXT')"
    "  WHERE type = 'table' AND name = 'events';"
    "PRAGMA writable_schema = OFF;",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* A short hint that tells an operator what to do about a SQLite failure. */
static const char *hint(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_FULL:
        return " (free disk space in the data folder, or raise the store's max_pages)";
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
        return " (check that herald may write to the data folder and its files)";
    case SQLITE_IOERR:
        return " (check the disk and the kernel log)";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return " (the database file is damaged; restore it from a backup)";
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return " (another process holds the database; run one herald per data folder)";
    default:
        return "";
    }
}

int hr_sqlite__error(sqlite3 *db, int rc, const char *doing, hr_error *err)
{
    const char *msg =
        db != NULL && sqlite3_errcode(db) != SQLITE_OK ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return hr_error_set(err, HR_ESTORE, "store: cannot %s: %s%s", doing, msg, hint(rc));
}

void hr_sqlite__bind_str(sqlite3_stmt *st, int i, const char *s)
{
    if (s == NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

int hr_sqlite__run(sqlite3 *db, sqlite3_stmt *st, const char *doing, hr_error *err)
{
    int rc = sqlite3_step(st);
    int ret = HR_OK;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        ret = hr_sqlite__error(db, rc, doing, err);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

int hr_sqlite__exec1(sqlite3 *db, const char *sql, char *buf, size_t size, const char *doing,
                     hr_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return hr_sqlite__error(db, rc, doing, err);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        int ret = hr_sqlite__error(db, rc, doing, err);
        sqlite3_finalize(st);
        return ret;
    }
    if (buf != NULL) {
        const char *v = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
        snprintf(buf, size, "%s", v != NULL ? v : "");
    }
    sqlite3_finalize(st);
    return HR_OK;
}

/* ---- Open and close ----------------------------------------------------- */

/*
 * Adds one to the schema cookie, so that every connection reads the schema
 * again. DDL does that by itself; an edit of sqlite_schema (v14) does not,
 * and must (SQLite's lang_altertable.html, section 7). One more for a
 * migration that made DDL costs nothing.
 */
static int bump_schema_cookie(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    char sql[64];
    int rc = sqlite3_prepare_v2(db, "PRAGMA schema_version", -1, &st, NULL);
    int64_t cookie = 0;
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        cookie = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        return rc;
    snprintf(sql, sizeof(sql), "PRAGMA schema_version = %lld", (long long)cookie + 1);
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static int migrate(hr_sqlite *s, hr_error *err)
{
    char buf[64];
    int version, ret;

    ret = hr_sqlite__exec1(s->wdb, "PRAGMA user_version", buf, sizeof(buf),
                           "read the schema version", err);
    if (ret != HR_OK)
        return ret;
    version = (int)strtol(buf, NULL, 10);
    if (version > SCHEMA_VERSION)
        return hr_error_set(err, HR_ESTORE,
                            "store: %s has schema version %d, newer than this herald knows (%d); "
                            "run a newer herald on it",
                            s->path, version, SCHEMA_VERSION);
    for (; version < SCHEMA_VERSION; version++) {
        char sql[64];
        int rc;
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
        rc = sqlite3_exec(s->wdb, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(s->wdb, migrations[version], NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = bump_schema_cookie(s->wdb);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(s->wdb, sql, NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(s->wdb, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            char doing[64];
            snprintf(doing, sizeof(doing), "migrate the schema to version %d", version + 1);
            ret = hr_sqlite__error(s->wdb, rc, doing, err);
            if (!sqlite3_get_autocommit(s->wdb))
                sqlite3_exec(s->wdb, "ROLLBACK", NULL, NULL, NULL);
            return ret;
        }
        hr_log_info(SUB, "migrated %s to schema version %d", s->path, version + 1);
    }
    return HR_OK;
}

static int open_writer(hr_sqlite *s, const hr_store_options *opt, hr_error *err)
{
    char buf[64];
    int rc, ret;

    rc = sqlite3_open_v2(s->path, &s->wdb,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return hr_sqlite__error(s->wdb, rc, "open the database", err);
    sqlite3_extended_result_codes(s->wdb, 1);
    sqlite3_busy_timeout(s->wdb, BUSY_TIMEOUT_MS);

    ret = hr_sqlite__exec1(s->wdb, "PRAGMA journal_mode = WAL", buf, sizeof(buf),
                           "switch to write-ahead logging", err);
    if (ret != HR_OK)
        return ret;
    if (strcmp(buf, "wal") != 0)
        return hr_error_set(err, HR_ESTORE,
                            "store: %s stays in journal mode \"%s\", not \"wal\"; keep the data "
                            "folder on a local file system",
                            s->path, buf);
    ret = hr_sqlite__exec1(
        s->wdb, opt->sync_normal ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL",
        NULL, 0, "set synchronous", err);
    if (ret == HR_OK)
        ret = hr_sqlite__exec1(s->wdb, "PRAGMA foreign_keys = ON", NULL, 0, "enable foreign keys",
                               err);
    if (ret == HR_OK && opt->max_pages > 0) {
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %zu", opt->max_pages);
        ret = hr_sqlite__exec1(s->wdb, sql, buf, sizeof(buf), "set max_page_count", err);
        if (ret == HR_OK)
            hr_log_info(SUB, "the database may grow to %s pages", buf);
    }
    if (ret == HR_OK)
        ret = migrate(s, err);
    /* Each writer item runs in a savepoint, whose sub-journal keeps the
     * original of every page the item changes. SQLite holds it in memory
     * only up to 64 KiB unless temp_store is MEMORY, and writes the rest
     * to a temporary file: an event with one delivery changes more than
     * that, and those writes were half the writer's time (bench/README.md,
     * "The savepoint's journal"). An item's pages are a few hundred KiB
     * at most, and a prune runs in bounded chunks. Set after the
     * migrations, whose index builds over a long history sort in
     * temporary files, not in memory. */
    if (ret == HR_OK)
        ret = hr_sqlite__exec1(s->wdb, "PRAGMA temp_store = MEMORY", NULL, 0,
                               "keep the savepoints' journal in memory", err);
    for (int i = 0; i < NSTMT && ret == HR_OK; i++) {
        rc = sqlite3_prepare_v3(s->wdb, hr_sqlite__writer_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                &s->st[i], NULL);
        if (rc != SQLITE_OK)
            ret = hr_sqlite__error(s->wdb, rc, "prepare the writer's statements", err);
    }
    return ret;
}

/* The database and its -wal and -shm files hold GoCD's settings, secret
 * header values included: only herald's user may read them. */
static int private_files(hr_sqlite *s, hr_error *err)
{
    static const char *const suffixes[] = {"-wal", "-shm"};
    char path[4096];
    int ret = hr_datadir_private_file(s->path, 1, err);

    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]) && ret == HR_OK; i++) {
        snprintf(path, sizeof(path), "%s%s", s->path, suffixes[i]);
        ret = hr_datadir_private_file(path, 0, err);
    }
    return ret;
}

static void sqlite_close(void *db)
{
    hr_sqlite *s = db;
    int rc;
    if (s == NULL)
        return;
    hr_sqlite__close_readers(s);
    hr_sqlite__close_claims(s);
    for (int i = 0; i < NSTMT; i++)
        sqlite3_finalize(s->st[i]);
    if (s->wdb != NULL) {
        sqlite3_exec(s->wdb, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
        rc = sqlite3_close(s->wdb);
        if (rc != SQLITE_OK)
            hr_log_error(SUB, "cannot close %s: %s", s->path, sqlite3_errstr(rc));
    }
    hr_datadir_unlock(s->lock);
    free(s->path);
    free(s);
}

static int sqlite_open(const hr_store_options *opt, void **db, const char **where, hr_error *err)
{
    hr_sqlite *s = NULL;
    hr_datadir *lock = NULL;
    int readers, ret;
    size_t n;

    readers = opt->readers == 0 ? DEFAULT_READERS : opt->readers;
    if (readers < 1 || readers > MAX_READERS)
        return hr_error_set(err, HR_EINVAL, "store: readers must be from 1 to %d; got %d",
                            MAX_READERS, opt->readers);
    /* Before anything else in the folder is touched: a second herald on
     * it would send every delivery twice. */
    ret = hr_datadir_lock(opt->dir, &lock, err);
    if (ret != HR_OK)
        return ret;

    s = hr_calloc(1, sizeof(*s));
    s->lock = lock;
    n = strlen(opt->dir) + sizeof("/" DB_FILE);
    s->path = hr_malloc(n);
    snprintf(s->path, n, "%s/%s", opt->dir, DB_FILE);

    ret = private_files(s, err);
    if (ret == HR_OK)
        ret = open_writer(s, opt, err);
    if (ret == HR_OK)
        ret = hr_sqlite__open_readers(s, readers, err);
    if (ret == HR_OK)
        ret = hr_sqlite__open_claims(s, err);
    if (ret != HR_OK) {
        sqlite_close(s);
        return ret;
    }
    hr_log_info(SUB,
                "opened %s (journal mode wal, synchronous %s, schema version %d, %d read "
                "connections)",
                s->path, opt->sync_normal ? "normal" : "full", SCHEMA_VERSION, readers);
    *db = s;
    *where = s->path;
    return HR_OK;
}

/* ---- Transactions ------------------------------------------------------- */

/*
 * A prune chunk (bulk) runs with foreign keys off: with them on, SQLite
 * would walk stage_state and job_state, which have no index on
 * last_event_id, once for every event deleted (ON DELETE SET NULL), which
 * made a chunk three times slower with 200 stages and grows with every
 * stage and job. An index there would cost every event's insert instead.
 * The prune keeps the references whole itself (sqlite_write.c): it
 * deletes attempts, then deliveries, then events, never one a revision
 * names, and sets last_event_id to NULL once per chunk. PRAGMA
 * foreign_keys is a no-op inside a transaction, so it is set before BEGIN
 * and after the end.
 */
static int sqlite_begin(void *db, int bulk, hr_error *err)
{
    hr_sqlite *s = db;
    if (bulk) {
        int ret = hr_sqlite__run(s->wdb, s->st[ST_FK_OFF], "turn foreign keys off", err);
        if (ret != HR_OK)
            return ret;
        s->fk_off = 1;
    }
    return hr_sqlite__run(s->wdb, s->st[ST_BEGIN], "begin a transaction", err);
}

/* After the transaction ended: foreign keys back on after a prune. */
static void sqlite_after(hr_sqlite *s)
{
    hr_error fk;
    if (!s->fk_off)
        return;
    /* The pragma is silently a no-op inside a transaction, so one a failed
     * rollback left open would leave foreign keys off unseen. */
    if (!sqlite3_get_autocommit(s->wdb)) {
        hr_log_error(SUB, "cannot turn foreign keys back on: a transaction is still open "
                          "after a failed prune");
        return;
    }
    if (hr_sqlite__run(s->wdb, s->st[ST_FK_ON], "turn foreign keys back on", &fk) != HR_OK)
        hr_log_error(SUB, "%s", fk.msg);
    s->fk_off = 0;
}

static int sqlite_commit(void *db, hr_error *err)
{
    hr_sqlite *s = db;
    int ret = hr_sqlite__run(s->wdb, s->st[ST_COMMIT], "commit", err);
    if (ret == HR_OK)
        sqlite_after(s);
    return ret;
}

static void sqlite_rollback(void *db)
{
    hr_sqlite *s = db;
    if (!sqlite3_get_autocommit(s->wdb)) {
        hr_error ignored;
        if (hr_sqlite__run(s->wdb, s->st[ST_ROLLBACK], "roll back", &ignored) != HR_OK)
            hr_log_error(SUB, "%s", ignored.msg);
    }
    sqlite_after(s);
}

static int sqlite_item_begin(void *db, hr_error *err)
{
    hr_sqlite *s = db;
    return hr_sqlite__run(s->wdb, s->st[ST_SAVEPOINT], "start a savepoint", err);
}

static int sqlite_item_end(void *db, int ok, hr_error *err)
{
    hr_sqlite *s = db;
    if (!ok && hr_sqlite__run(s->wdb, s->st[ST_ROLLBACK_TO], "undo a failed event", err) != HR_OK)
        return err->code;
    return hr_sqlite__run(s->wdb, s->st[ST_RELEASE], "release a savepoint", err);
}

/* After an I/O error or a full disk SQLite may roll the whole transaction
 * back by itself. */
static int sqlite_lost(void *db)
{
    hr_sqlite *s = db;
    return sqlite3_get_autocommit(s->wdb);
}

/* One herald per data folder (its lock): it always leads. */
static int sqlite_lead(void *db, const char *job, int64_t now, int64_t ttl_ms, int *leader,
                       hr_error *err)
{
    (void)db;
    (void)job;
    (void)now;
    (void)ttl_ms;
    (void)err;
    *leader = 1;
    return HR_OK;
}

const hr_store_engine hr_store__sqlite = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .item_begin = sqlite_item_begin,
    .item_end = sqlite_item_end,
    .lost = sqlite_lost,
    .find_request = hr_sqlite__find_request,
    .find_revision = hr_sqlite__find_revision,
    .stage_last_result = hr_sqlite__stage_last_result,
    .job_history = hr_sqlite__job_history,
    .insert_event = hr_sqlite__insert_event,
    .save_stage = hr_sqlite__save_stage,
    .save_job = hr_sqlite__save_job,
    .save_revision = hr_sqlite__save_revision,
    .insert_delivery = hr_sqlite__insert_delivery,
    .save_attempt = hr_sqlite__save_attempt,
    .reset = hr_sqlite__reset,
    .save_settings = hr_sqlite__save_settings,
    .prune = hr_sqlite__prune,
    .list_events = hr_sqlite__list_events,
    .get_event = hr_sqlite__get_event,
    .list_stages = hr_sqlite__list_stages,
    .list_jobs = hr_sqlite__list_jobs,
    .get_settings = hr_sqlite__get_settings,
    .list_deliveries = hr_sqlite__list_deliveries,
    .target_health = hr_sqlite__target_health,
    .list_revisions = hr_sqlite__list_revisions,
    .list_packages = hr_sqlite__list_packages,
    .lead = sqlite_lead,
    .claim = hr_sqlite__claim,
    .get_health = hr_sqlite__get_health,
    .put_health = hr_sqlite__put_health,
    .held = hr_sqlite__held,
    .list_health = hr_sqlite__list_health,
};
