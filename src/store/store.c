/*
 * store.c - the SQLite store: schema and migrations, the writer thread and
 * its group commit, and the pool of read connections.
 *
 * Threads and what they touch:
 *   - callers of hr_store_submit (HTTP workers) build the item on their own
 *     thread and only touch the queue, under qlock;
 *   - the writer thread owns wdb and its prepared statements; it takes
 *     batches off the queue under qlock and runs them without it;
 *   - read functions borrow one connection from the pool (under plock) and
 *     give it back; a connection is used by one thread at a time.
 *
 * An item's completion runs only after the transaction holding it has
 * committed (or failed), on the writer thread, exactly once.
 */
#include "store/store.h"

#include "core/json.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timefmt.h"
#include "store/datadir.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

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
    "  doc TEXT NOT NULL," /* the normalised JSON, without id and transition */
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
    "  state TEXT NOT NULL," /* pending, retrying, delivered, dead */
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
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* The writer's statements, prepared once at open. */
enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_PREV_RESULT,
    ST_INSERT_EVENT,
    ST_UPSERT_STAGE,
    ST_CLEAR_SETTINGS,
    ST_INSERT_SETTING,
    ST_INSERT_DELIVERY,
    ST_UPDATE_DELIVERY,
    ST_INSERT_ATTEMPT,
    ST_JOB_GET,
    ST_JOB_UPSERT,
    ST_PACKAGE_UPSERT,
    ST_REVISION_GET,
    ST_REVISION_INSERT,
    ST_REQUEST_GET,
    ST_PRUNE_SCAN_ATTEMPTS,
    ST_PRUNE_DEL_ATTEMPTS,
    ST_PRUNE_SCAN_EVENTS,
    ST_PRUNE_DEL_EVENT_ATTEMPTS,
    ST_PRUNE_DEL_EVENT_DELIVERIES,
    ST_PRUNE_DEL_EVENT,
    ST_PRUNE_NULL_STAGES,
    ST_PRUNE_NULL_JOBS,
    ST_FK_OFF,
    ST_FK_ON,
    NSTMT
};

static const char *const writer_sql[NSTMT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT item",
    [ST_RELEASE] = "RELEASE item",
    [ST_ROLLBACK_TO] = "ROLLBACK TO item",
    [ST_PREV_RESULT] = "SELECT last_result FROM stage_state WHERE pipeline = ?1 AND stage = ?2",
    [ST_INSERT_EVENT] = "INSERT INTO events (received_at, source, kind, version, pipeline,"
                        " pipeline_counter, stage, stage_counter, state, result, transition,"
                        " doc, raw, request_id, warnings, request_digest)"
                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
                        " ?15, ?16)",
    /* last_result changes only for a completed Passed or Failed (?3 is NULL
     * otherwise); everything else always follows the newest event. */
    [ST_UPSERT_STAGE] = "INSERT INTO stage_state (pipeline, stage, last_result, last_state,"
                        " last_counter, last_event_id, updated_at)"
                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                        " ON CONFLICT (pipeline, stage) DO UPDATE SET"
                        " last_result = coalesce(excluded.last_result, stage_state.last_result),"
                        " last_state = excluded.last_state, last_counter = excluded.last_counter,"
                        " last_event_id = excluded.last_event_id,"
                        " updated_at = excluded.updated_at",
    [ST_CLEAR_SETTINGS] = "DELETE FROM settings",
    [ST_INSERT_SETTING] = "INSERT INTO settings (key, value) VALUES (?1, ?2)",
    [ST_INSERT_DELIVERY] = "INSERT INTO deliveries (event_id, route, target, state, next_at,"
                           " created_at, updated_at) VALUES (?1, ?2, ?3, 'pending', ?4, ?4, ?4)",
    [ST_UPDATE_DELIVERY] = "UPDATE deliveries SET state = ?2, attempts = max(attempts, ?3),"
                           " next_at = ?4, updated_at = ?5, last_status = ?6, last_error = ?7"
                           " WHERE id = ?1",
    [ST_INSERT_ATTEMPT] =
        "INSERT INTO attempts (delivery_id, attempt, started_at, latency_ms,"
        " status, outcome, error, excerpt) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_JOB_GET] = "SELECT last_result, last_number, prev_result FROM job_state"
                   " WHERE source = ?1 AND job = ?2 AND branch = ?3",
    /* ?4..?6 are the new last_result, last_number and prev_result, already
     * decided by the writer (they keep their values for a build that is
     * not a completed Passed or Failed). */
    [ST_JOB_UPSERT] = "INSERT INTO job_state (source, job, branch, last_result, last_number,"
                      " prev_result, last_phase, last_status, last_event_id, updated_at)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                      " ON CONFLICT (source, job, branch) DO UPDATE SET"
                      " last_result = excluded.last_result, last_number = excluded.last_number,"
                      " prev_result = excluded.prev_result, last_phase = excluded.last_phase,"
                      " last_status = excluded.last_status,"
                      " last_event_id = excluded.last_event_id, updated_at = excluded.updated_at",
    [ST_PACKAGE_UPSERT] = "INSERT INTO packages (repository, package, created_at)"
                          " VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
    [ST_REVISION_GET] = "SELECT event_id, raw, timestamp, published_at FROM revisions"
                        " WHERE repository = ?1 AND package = ?2 AND revision = ?3",
    [ST_REVISION_INSERT] =
        "INSERT INTO revisions (repository, package, revision, timestamp, published_at,"
        " event_id, doc, raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_REQUEST_GET] = "SELECT id, transition, request_digest FROM events WHERE request_id = ?1",
    /* Retention walks events and attempts in id order from a cursor, along
     * the rowid: received_at and started_at grow with the id, so the walk
     * stops at the first row young enough to keep, and no index on a time
     * column has to slow every insert down. */
    [ST_PRUNE_SCAN_ATTEMPTS] = "SELECT id, started_at FROM attempts WHERE id > ?1 ORDER BY id"
                               " LIMIT ?2",
    [ST_PRUNE_DEL_ATTEMPTS] = "DELETE FROM attempts WHERE id > ?1 AND id <= ?2",
    /* The third column says whether the event must stay: a package
     * revision, or a delivery not yet final. */
    [ST_PRUNE_SCAN_EVENTS] = "SELECT e.id, e.received_at,"
                             " (e.source = ?3 AND e.kind = ?4)"
                             " OR EXISTS (SELECT 1 FROM revisions r WHERE r.event_id = e.id)"
                             " OR EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id"
                             "   AND d.state IN ('pending', 'retrying'))"
                             " FROM events e WHERE e.id > ?1 ORDER BY e.id LIMIT ?2",
    [ST_PRUNE_DEL_EVENT_ATTEMPTS] = "DELETE FROM attempts WHERE delivery_id IN"
                                    " (SELECT id FROM deliveries WHERE event_id = ?1)",
    [ST_PRUNE_DEL_EVENT_DELIVERIES] = "DELETE FROM deliveries WHERE event_id = ?1",
    [ST_PRUNE_DEL_EVENT] = "DELETE FROM events WHERE id = ?1",
    /* A prune runs with foreign keys off (run_batch says why), so it does
     * what ON DELETE SET NULL would: once per chunk, one walk of each
     * state table instead of one per deleted event. */
    [ST_PRUNE_NULL_STAGES] = "UPDATE stage_state SET last_event_id = NULL"
                             " WHERE last_event_id BETWEEN ?1 AND ?2"
                             " AND NOT EXISTS (SELECT 1 FROM events WHERE id = last_event_id)",
    [ST_PRUNE_NULL_JOBS] = "UPDATE job_state SET last_event_id = NULL"
                           " WHERE last_event_id BETWEEN ?1 AND ?2"
                           " AND NOT EXISTS (SELECT 1 FROM events WHERE id = last_event_id)",
    [ST_FK_OFF] = "PRAGMA foreign_keys = OFF",
    [ST_FK_ON] = "PRAGMA foreign_keys = ON",
};

typedef enum { ITEM_EVENT, ITEM_SETTINGS, ITEM_ATTEMPT, ITEM_RESET, ITEM_PRUNE } item_type;

/* One chunk of a prune: what it is to look at, and what it did. */
typedef struct prune_chunk {
    int64_t events_before;   /* delete events received before this (ms) */
    int64_t attempts_before; /* delete attempts started before this (ms) */
    int64_t event_cursor;    /* the last event id looked at */
    int64_t attempt_cursor;  /* the last attempt id looked at */
    int events_done, attempts_done;
    size_t events, deliveries, attempts; /* deleted by this chunk */
    int64_t db_bytes, free_bytes;
} prune_chunk;

/* One unit of work for the writer: an event, a settings replacement, a
 * delivery attempt's outcome, a reset of deliveries (retry, replay), or a
 * chunk of a prune. */
typedef struct item {
    struct item *next;
    item_type type;
    hr_event *ev; /* borrowed (ITEM_EVENT) */
    char *doc;    /* owned: compact normalised JSON (ITEM_EVENT) */
    size_t doc_len;
    json_t *settings;        /* owned: a private deep copy (ITEM_SETTINGS) */
    hr_attempt attempt;      /* ITEM_ATTEMPT; its strings are owned copies */
    hr_delivery_reset reset; /* ITEM_RESET; target is an owned copy */
    size_t count;            /* ITEM_RESET: deliveries reset */
    size_t ndeliveries;      /* ITEM_EVENT: deliveries created */
    char *rev_doc;           /* owned: a package revision's JSON (ITEM_EVENT) */
    char *package_name;      /* owned: "repository/package" (ITEM_EVENT) */
    int duplicate;           /* ITEM_EVENT: a revision stored before from the same bytes */
    int repeat;              /* ITEM_EVENT: its request id was stored before */
    size_t *count_out;       /* ITEM_RESET: where to put count after the commit */
    void (*attempt_done)(void *arg, int status); /* ITEM_ATTEMPT */
    prune_chunk prune;                           /* ITEM_PRUNE */
    prune_chunk *prune_out; /* ITEM_PRUNE: where to put prune after the commit */
    hr_store_done_fn done;
    void *ctx;
    /* Filled by the writer; handed to the caller only after the commit. */
    int status;
    int64_t id;
    hr_transition transition;
    hr_error err;
} item;

struct hr_store {
    char *dir, *path; /* owned */
    hr_datadir *lock; /* the data folder's lock, held until store_free */
    size_t max_queue, max_batch;

    /* The queue, guarded by qlock. The writer waits on wake; drainers wait
     * on idle, signalled whenever pending reaches 0. */
    pthread_mutex_t qlock;
    pthread_cond_t wake, idle;
    item *head, *tail; /* waiting, oldest first */
    size_t queued;     /* items between head and tail */
    size_t pending;    /* submitted and not yet completed (queued + in the writer) */
    int closing;       /* no more submits; the writer exits once the queue is empty */
    /* Whether the writer's last batch failed to write (and why), for
     * /healthz: set after every batch, before its completions run. */
    int write_failing;
    hr_error write_error;
    int writer_running;
    pthread_t writer;

    /* The writer's connection: written only by the writer thread once it
     * runs (before that, by hr_store_open; after, by hr_store_close). */
    sqlite3 *wdb;
    sqlite3_stmt *st[NSTMT];
    size_t fail_streak; /* batches in a row with a failure; writer only */

    /* The router the writer uses (writer only), and the one waiting to
     * replace it (guarded by qlock): the writer swaps them at the start of
     * a batch and frees the old one on its own thread. */
    hr_store_route_fn route_fn;
    void *route_ctx;
    void (*route_free)(void *ctx);
    int route_swap;
    hr_store_route_fn next_route_fn;
    void *next_route_ctx;
    void (*next_route_free)(void *ctx);
    /* Called after a commit that made deliveries due (set before events
     * flow; read by the writer only). */
    void (*notify_fn)(void *ctx);
    void *notify_ctx;

    /* The read pool, guarded by plock; free_readers is a stack. */
    pthread_mutex_t plock;
    pthread_cond_t reader_back;
    sqlite3 **readers;
    int nreaders;
    sqlite3 **free_readers;
    int nfree;
};

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

/* Sets err to "store: cannot <doing>: <SQLite's message><hint>" and returns
 * HR_ESTORE. Call it before resetting the failed statement. */
static int db_error(sqlite3 *db, int rc, const char *doing, hr_error *err)
{
    const char *msg =
        db != NULL && sqlite3_errcode(db) != SQLITE_OK ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return hr_error_set(err, HR_ESTORE, "store: cannot %s: %s%s", doing, msg, hint(rc));
}

/* Binds a string, or NULL when s is NULL. The string must outlive the step. */
static void bind_str(sqlite3_stmt *st, int i, const char *s)
{
    if (s == NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Steps a statement whose rows, if any, are not needed, then resets it and
 * clears its bindings so it holds no borrowed pointers. */
static int run(sqlite3 *db, sqlite3_stmt *st, const char *doing, hr_error *err)
{
    int rc = sqlite3_step(st);
    int ret = HR_OK;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        ret = db_error(db, rc, doing, err);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

/* Runs one SQL text that returns at most one row; copies its first column
 * as text into buf when buf is not NULL. */
static int exec1(sqlite3 *db, const char *sql, char *buf, size_t size, const char *doing,
                 hr_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return db_error(db, rc, doing, err);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        int ret = db_error(db, rc, doing, err);
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

/* ---- The queue ---------------------------------------------------------- */

static void item_free(item *it)
{
    if (it == NULL)
        return;
    free(it->doc);
    free(it->rev_doc);
    free(it->package_name);
    json_decref(it->settings);
    free((char *)it->attempt.error);
    free((char *)it->attempt.excerpt);
    free((char *)it->reset.target);
    free(it);
}

/* Appends it to the queue and wakes the writer; on failure it is freed. */
static int enqueue(hr_store *s, item *it, hr_error *err)
{
    int rc = HR_OK;
    pthread_mutex_lock(&s->qlock);
    if (s->closing) {
        rc = hr_error_set(err, HR_ECLOSED,
                          "store: herald is shutting down and takes no more "
                          "events; send it again once herald is back");
    } else if (s->queued >= s->max_queue) {
        rc = hr_error_set(err, HR_ETOOBIG, "store queue is full (%zu events waiting)", s->queued);
    } else {
        if (s->tail != NULL)
            s->tail->next = it;
        else
            s->head = it;
        s->tail = it;
        s->queued++;
        s->pending++;
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->qlock);
    if (rc != HR_OK)
        item_free(it);
    return rc;
}

int hr_store_submit(hr_store *s, hr_event *ev, hr_store_done_fn done, void *ctx, hr_error *err)
{
    json_t *doc;
    item *it;

    if (ev == NULL || ev->source == NULL || ev->kind == NULL)
        return hr_error_set(err, HR_EINVAL, "store: an event needs a source and a kind");
    if (strcmp(ev->kind, HR_KIND_STAGE_STATUS) == 0 &&
        (ev->pipeline_name == NULL || ev->stage_name == NULL))
        return hr_error_set(err, HR_EINVAL,
                            "store: a stage-status event needs a pipeline name and a stage name");
    if (ev->has_build && ev->build.job_name == NULL)
        return hr_error_set(err, HR_EINVAL, "store: a build-status event needs a job name");
    if (ev->has_package && (ev->package.repository == NULL || ev->package.package == NULL ||
                            ev->package.revision == NULL || ev->package.timestamp == HR_TIME_NONE))
        return hr_error_set(err, HR_EINVAL,
                            "store: a package revision needs a repository, a package, a "
                            "revision and a timestamp");
    if (ev->raw_len > HR_MAX_BODY_BYTES)
        return hr_error_set(err, HR_ETOOBIG,
                            "store: the event's body is %zu bytes; at most %u "
                            "are stored",
                            ev->raw_len, HR_MAX_BODY_BYTES);
    if (ev->received_at == 0)
        ev->received_at = hr_time_now_ms();

    /* The store owns id and transition: the stored document leaves them
     * out and readers add them from their columns. */
    doc = hr_event_to_json(ev);
    json_object_del(doc, "id");
    json_object_del(doc, "transition");
    it = hr_calloc(1, sizeof(*it));
    it->type = ITEM_EVENT;
    it->ev = ev;
    it->doc = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (it->doc == NULL) {
        item_free(it);
        return hr_error_set(err, HR_ENOMEM, "store: cannot serialise the event");
    }
    it->doc_len = strlen(it->doc);
    if (ev->has_package) {
        json_t *rev = hr_store_revision_doc(&ev->package);
        size_t n = strlen(ev->package.repository) + strlen(ev->package.package) + 2;
        it->rev_doc = json_dumps(rev, JSON_COMPACT);
        json_decref(rev);
        it->package_name = hr_malloc(n);
        snprintf(it->package_name, n, "%s/%s", ev->package.repository, ev->package.package);
        if (it->rev_doc == NULL) {
            item_free(it);
            return hr_error_set(err, HR_ENOMEM, "store: cannot serialise the revision");
        }
    }
    if (it->doc_len > INT_MAX) {
        item_free(it);
        return hr_error_set(err, HR_ETOOBIG, "store: the event's JSON form is too large");
    }
    it->done = done;
    it->ctx = ctx;
    return enqueue(s, it, err);
}

int hr_store_health(hr_store *s, hr_error *why)
{
    int rc = HR_OK;
    pthread_mutex_lock(&s->qlock);
    if (s->write_failing) {
        rc = s->write_error.code != HR_OK ? s->write_error.code : HR_ESTORE;
        if (why != NULL)
            *why = s->write_error;
    }
    pthread_mutex_unlock(&s->qlock);
    return rc;
}

size_t hr_store_queue_depth(hr_store *s)
{
    size_t n;
    pthread_mutex_lock(&s->qlock);
    n = s->pending;
    pthread_mutex_unlock(&s->qlock);
    return n;
}

/* A completion that a synchronous caller waits on. */
typedef struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int finished;
    int status;
    hr_error err;
} waiter;

static void waiter_init(waiter *w)
{
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->finished = 0;
    w->status = HR_OK;
    hr_error_clear(&w->err);
}

static void waiter_done(void *ctx, int status, const hr_error *err)
{
    waiter *w = ctx;
    pthread_mutex_lock(&w->lock);
    w->status = status;
    if (err != NULL)
        w->err = *err;
    w->finished = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* Waits for the completion, copies its error and returns its status. */
static int waiter_wait(waiter *w, hr_error *err)
{
    pthread_mutex_lock(&w->lock);
    while (!w->finished)
        pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    if (w->status != HR_OK && err != NULL)
        *err = w->err;
    return w->status;
}

int hr_store_put(hr_store *s, hr_event *ev, hr_error *err)
{
    waiter w;
    int rc;
    waiter_init(&w);
    rc = hr_store_submit(s, ev, waiter_done, &w, err);
    if (rc != HR_OK) {
        pthread_cond_destroy(&w.cond);
        pthread_mutex_destroy(&w.lock);
        return rc;
    }
    return waiter_wait(&w, err);
}

/* Queues it for the writer and waits for its completion; returns its
 * status. it is the writer's from here on (freed on failure too). */
static int enqueue_wait(hr_store *s, item *it, hr_error *err)
{
    waiter w;
    int rc;
    waiter_init(&w);
    it->done = waiter_done;
    it->ctx = &w;
    rc = enqueue(s, it, err);
    if (rc != HR_OK) {
        pthread_cond_destroy(&w.cond);
        pthread_mutex_destroy(&w.lock);
        return rc;
    }
    return waiter_wait(&w, err);
}

int hr_store_put_settings(hr_store *s, const json_t *settings, hr_error *err)
{
    item *it;

    if (!json_is_object(settings))
        return hr_error_set(err, HR_EINVAL, "store: settings must be a JSON object; got %s",
                            hr_json_type_name(settings));
    for (void *i = json_object_iter((json_t *)settings); i != NULL;
         i = json_object_iter_next((json_t *)settings, i)) {
        const char *key = json_object_iter_key(i);
        json_t *value = json_object_iter_value(i);
        if (!json_is_string(value))
            return hr_error_set(err, HR_EINVAL,
                                "store: setting \"%.100s\" must be a string; got %s", key,
                                hr_json_type_name(value));
        if (json_string_length(value) > HR_MAX_SETTING_BYTES)
            return hr_error_set(err, HR_EINVAL,
                                "store: setting \"%.100s\" is %zu bytes; at most %u are allowed",
                                key, json_string_length(value), HR_MAX_SETTING_BYTES);
    }
    it = hr_calloc(1, sizeof(*it));
    it->type = ITEM_SETTINGS;
    it->settings = json_deep_copy(settings);
    if (it->settings == NULL) {
        item_free(it);
        return hr_error_set(err, HR_ENOMEM, "store: cannot copy the settings");
    }
    return enqueue_wait(s, it, err);
}

/* ---- The writer --------------------------------------------------------- */

/* Asks the router where the event goes and creates one delivery per
 * (route, target), in the event's own savepoint: an event is never
 * acknowledged without its deliveries. */
static int save_deliveries(hr_store *s, item *it, hr_transition tr)
{
    const char *routes[HR_MAX_TARGETS_PER_EVENT], *targets[HR_MAX_TARGETS_PER_EVENT];
    sqlite3_stmt *st = s->st[ST_INSERT_DELIVERY];
    int64_t now = hr_time_now_ms();
    size_t n;
    int ret = HR_OK;

    /* The router sees the event as it will be stored. */
    it->ev->id = it->id;
    it->ev->transition = tr;
    n = s->route_fn(s->route_ctx, it->ev, it->doc, it->doc_len, routes, targets,
                    HR_MAX_TARGETS_PER_EVENT);
    for (size_t i = 0; i < n && ret == HR_OK; i++) {
        sqlite3_bind_int64(st, 1, it->id);
        bind_str(st, 2, routes[i]);
        bind_str(st, 3, targets[i]);
        sqlite3_bind_int64(st, 4, now);
        ret = run(s->wdb, st, "create a delivery", &it->err);
    }
    if (ret == HR_OK)
        it->ndeliveries = n;
    return ret;
}

static const char *outcome_state(hr_outcome o)
{
    return o == HR_OUTCOME_DELIVERED ? "delivered" : o == HR_OUTCOME_RETRY ? "retrying" : "dead";
}

static const char *outcome_name(hr_outcome o)
{
    return o == HR_OUTCOME_DELIVERED ? "delivered" : o == HR_OUTCOME_RETRY ? "retry" : "dead";
}

/* Records one attempt and moves its delivery to the attempt's state. */
static int save_attempt(hr_store *s, item *it)
{
    const hr_attempt *a = &it->attempt;
    sqlite3_stmt *st = s->st[ST_UPDATE_DELIVERY];
    int ret;

    sqlite3_bind_int64(st, 1, a->delivery_id);
    bind_str(st, 2, outcome_state(a->outcome));
    sqlite3_bind_int(st, 3, a->attempt);
    sqlite3_bind_int64(st, 4, a->outcome == HR_OUTCOME_RETRY ? a->next_at : 0);
    sqlite3_bind_int64(st, 5, hr_time_now_ms());
    if (a->status > 0)
        sqlite3_bind_int(st, 6, a->status);
    bind_str(st, 7, a->error);
    ret = run(s->wdb, st, "update the delivery", &it->err);
    if (ret != HR_OK)
        return ret;
    st = s->st[ST_INSERT_ATTEMPT];
    sqlite3_bind_int64(st, 1, a->delivery_id);
    sqlite3_bind_int(st, 2, a->attempt);
    sqlite3_bind_int64(st, 3, a->started_at);
    sqlite3_bind_int64(st, 4, a->latency_ms);
    if (a->status > 0)
        sqlite3_bind_int(st, 5, a->status);
    bind_str(st, 6, outcome_name(a->outcome));
    bind_str(st, 7, a->error);
    bind_str(st, 8, a->excerpt);
    return run(s->wdb, st, "record the attempt", &it->err);
}

/* Makes the deliveries a reset names due now (retry, replay). */
static int save_reset(hr_store *s, item *it)
{
    const hr_delivery_reset *r = &it->reset;
    char sql[256];
    size_t len;
    sqlite3_stmt *st = NULL;
    int rc, ret = HR_OK;

    /* Constant fragments only; every value is bound. */
    len = (size_t)snprintf(sql, sizeof(sql),
                           "UPDATE deliveries SET state = 'pending', next_at = ?1, updated_at = ?1"
                           " WHERE 1");
    if (r->id > 0)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND id = ?2");
    if (r->target != NULL)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND target = ?3");
    if (r->dead_only)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND state = 'dead'");
    if (r->since > 0)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND created_at >= ?4");
    if (r->until > 0)
        snprintf(sql + len, sizeof(sql) - len, " AND created_at < ?5");
    rc = sqlite3_prepare_v2(s->wdb, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return db_error(s->wdb, rc, "reset deliveries", &it->err);
    sqlite3_bind_int64(st, 1, hr_time_now_ms());
    if (r->id > 0)
        sqlite3_bind_int64(st, 2, r->id);
    if (r->target != NULL)
        bind_str(st, 3, r->target);
    if (r->since > 0)
        sqlite3_bind_int64(st, 4, r->since);
    if (r->until > 0)
        sqlite3_bind_int64(st, 5, r->until);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        ret = db_error(s->wdb, rc, "reset deliveries", &it->err);
    else
        it->count = (size_t)sqlite3_changes(s->wdb);
    sqlite3_finalize(st);
    return ret;
}

static int eq(const char *a, const char *b)
{
    return a != NULL && strcmp(a, b) == 0;
}

/* A GoCD stage's transition, from the stage's last completed result. */
static int stage_transition(hr_store *s, item *it, hr_transition *tr)
{
    hr_event *ev = it->ev;
    sqlite3_stmt *st = s->st[ST_PREV_RESULT];
    char *prev = NULL;
    int rc, ret = HR_OK;

    bind_str(st, 1, ev->pipeline_name);
    bind_str(st, 2, ev->stage_name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        prev = hr_strdup((const char *)sqlite3_column_text(st, 0));
    else if (rc != SQLITE_DONE)
        ret = db_error(s->wdb, rc, "read the stage's last result", &it->err);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (ret == HR_OK)
        *tr = hr_transition_of(ev->stage_state, ev->stage_result, prev);
    free(prev);
    return ret;
}

static int save_stage_state(hr_store *s, item *it)
{
    hr_event *ev = it->ev;
    const char *r = ev->stage_result;
    sqlite3_stmt *st = s->st[ST_UPSERT_STAGE];

    bind_str(st, 1, ev->pipeline_name);
    bind_str(st, 2, ev->stage_name);
    bind_str(st, 3, eq(r, "Passed") || eq(r, "Failed") ? r : NULL);
    bind_str(st, 4, ev->stage_state);
    bind_str(st, 5, ev->pipeline_counter);
    sqlite3_bind_int64(st, 6, it->id);
    sqlite3_bind_int64(st, 7, ev->received_at);
    return run(s->wdb, st, "update the stage's state", &it->err);
}

/* A job's result history as the writer reads and updates it. */
typedef struct job_hist {
    char *last_result, *prev_result;
    int64_t last_number;
} job_hist;

/*
 * The branch a job's history is kept per. Jenkins' multibranch jobs have
 * the branch in their full name already, and its plugins learn a branch
 * only after checkout (a build's first events have none), so Jenkins keys
 * on the job alone. `herald notify` names the branch of every run (GitLab
 * CI and GitHub Actions jobs are the same job on every branch), so it
 * keys per branch.
 */
static const char *history_branch(const hr_event *ev)
{
    if (eq(ev->version, "notify") && ev->build.branch != NULL)
        return ev->build.branch;
    return "";
}

/*
 * A CI build's transition, from its job's history (per source, job and
 * branch), and the history it leaves. Only a completed Passed or Failed
 * changes the history. A result re-sent for the same build number (a
 * retry, or two plugins) is judged against the result before that build,
 * so it names the same transition again instead of "still failing".
 * Queued, started and running are "building"; finalized (the
 * Notification plugin's last phase, after completed) has none, so a route
 * fires once per build.
 */
static int build_transition(hr_store *s, item *it, hr_transition *tr, job_hist *h)
{
    const hr_build *b = &it->ev->build;
    sqlite3_stmt *st = s->st[ST_JOB_GET];
    const char *prev;
    int same, rc, ret = HR_OK;

    bind_str(st, 1, it->ev->source);
    bind_str(st, 2, b->job_name);
    bind_str(st, 3, history_branch(it->ev));
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *lr = (const char *)sqlite3_column_text(st, 0);
        const char *pr = (const char *)sqlite3_column_text(st, 2);
        h->last_result = lr != NULL ? hr_strdup(lr) : NULL;
        h->last_number = sqlite3_column_int64(st, 1);
        h->prev_result = pr != NULL ? hr_strdup(pr) : NULL;
    } else if (rc != SQLITE_DONE) {
        ret = db_error(s->wdb, rc, "read the job's last result", &it->err);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (ret != HR_OK)
        return ret;

    same = b->number > 0 && b->number == h->last_number;
    prev = same ? h->prev_result : h->last_result;
    if (eq(b->phase, "queued") || eq(b->phase, "started") || eq(b->phase, "running"))
        *tr = HR_TRANSITION_BUILDING;
    else if (eq(b->phase, "completed"))
        *tr = hr_transition_of(NULL, b->result, prev);
    else
        *tr = HR_TRANSITION_NONE;

    if (eq(b->phase, "completed") && (eq(b->result, "Passed") || eq(b->result, "Failed"))) {
        if (!same) {
            free(h->prev_result);
            h->prev_result = h->last_result;
            h->last_number = b->number;
        } else {
            free(h->last_result);
        }
        h->last_result = hr_strdup(b->result);
    }
    return HR_OK;
}

static int save_job_state(hr_store *s, item *it, const job_hist *h)
{
    const hr_build *b = &it->ev->build;
    sqlite3_stmt *st = s->st[ST_JOB_UPSERT];

    bind_str(st, 1, it->ev->source);
    bind_str(st, 2, b->job_name);
    bind_str(st, 3, history_branch(it->ev));
    bind_str(st, 4, h->last_result);
    if (h->last_result != NULL)
        sqlite3_bind_int64(st, 5, h->last_number);
    bind_str(st, 6, h->prev_result);
    bind_str(st, 7, b->phase);
    bind_str(st, 8, b->status);
    sqlite3_bind_int64(st, 9, it->id);
    sqlite3_bind_int64(st, 10, it->ev->received_at);
    return run(s->wdb, st, "update the job's state", &it->err);
}

/*
 * Whether the event's request id was stored before: a sender retrying
 * after it lost herald's answer. The repeat then completes as the first
 * one did (its id and transition), and nothing is stored or delivered
 * again. The same id with another body is no retry: HR_ECONFLICT, so that
 * the second body is not silently dropped.
 */
static int check_request(hr_store *s, item *it)
{
    sqlite3_stmt *st = s->st[ST_REQUEST_GET];
    int rc, ret = HR_OK;

    bind_str(st, 1, it->ev->request_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const void *digest = sqlite3_column_blob(st, 2);
        int n = sqlite3_column_bytes(st, 2);
        if (digest != NULL && (n != (int)sizeof(it->ev->request_digest) ||
                               memcmp(digest, it->ev->request_digest, (size_t)n) != 0)) {
            ret = hr_error_set(&it->err, HR_ECONFLICT,
                               HR_REQUEST_ID_REUSED " (event %lld); a retry sends the same body, "
                                                    "another event needs another id",
                               (long long)sqlite3_column_int64(st, 0));
        } else {
            it->repeat = 1;
            it->id = sqlite3_column_int64(st, 0);
            it->transition = hr_transition_from_name((const char *)sqlite3_column_text(st, 1));
        }
    } else if (rc != SQLITE_DONE) {
        ret = db_error(s->wdb, rc, "look up the request id", &it->err);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

/*
 * Whether a published revision is new. A revision already stored from
 * the same bytes is a retry: it->duplicate is set and it->id is the first
 * event's. One stored from other bytes is HR_ECONFLICT.
 */
static int check_revision(hr_store *s, item *it)
{
    const hr_package_rev *p = &it->ev->package;
    sqlite3_stmt *st = s->st[ST_REVISION_GET];
    int rc, ret = HR_OK;

    bind_str(st, 1, p->repository);
    bind_str(st, 2, p->package);
    bind_str(st, 3, p->revision);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const void *raw = sqlite3_column_blob(st, 1);
        size_t len = (size_t)sqlite3_column_bytes(st, 1);
        if (len == it->ev->raw_len && (len == 0 || memcmp(raw, it->ev->raw, len) == 0)) {
            /* The answer is the first publish's: its times too (a body
             * without a timestamp took the time of publishing). */
            it->duplicate = 1;
            it->id = sqlite3_column_int64(st, 0);
            it->ev->package.timestamp = sqlite3_column_int64(st, 2);
            it->ev->received_at = sqlite3_column_int64(st, 3);
        } else {
            ret = hr_error_set(&it->err, HR_ECONFLICT,
                               "revision \"%s\" of %s/%s already exists with different content",
                               p->revision, p->repository, p->package);
        }
    } else if (rc != SQLITE_DONE) {
        ret = db_error(s->wdb, rc, "look up the revision", &it->err);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

static int save_revision(hr_store *s, item *it)
{
    const hr_package_rev *p = &it->ev->package;
    sqlite3_stmt *st = s->st[ST_PACKAGE_UPSERT];
    int ret;

    bind_str(st, 1, p->repository);
    bind_str(st, 2, p->package);
    sqlite3_bind_int64(st, 3, it->ev->received_at);
    ret = run(s->wdb, st, "record the package", &it->err);
    if (ret != HR_OK)
        return ret;
    st = s->st[ST_REVISION_INSERT];
    bind_str(st, 1, p->repository);
    bind_str(st, 2, p->package);
    bind_str(st, 3, p->revision);
    sqlite3_bind_int64(st, 4, p->timestamp);
    sqlite3_bind_int64(st, 5, it->ev->received_at);
    sqlite3_bind_int64(st, 6, it->id);
    bind_str(st, 7, it->rev_doc);
    if (it->ev->raw != NULL)
        sqlite3_bind_blob(st, 8, it->ev->raw, (int)it->ev->raw_len, SQLITE_STATIC);
    return run(s->wdb, st, "save the revision", &it->err);
}

/* Writes one event and what follows from it (the stage's or job's state,
 * the package revision, the deliveries) inside the open transaction. */
static int save_event(hr_store *s, item *it)
{
    hr_event *ev = it->ev;
    int is_stage =
        !ev->has_build && !ev->has_package && strcmp(ev->kind, HR_KIND_STAGE_STATUS) == 0;
    hr_transition tr = HR_TRANSITION_NONE;
    job_hist hist = {NULL, NULL, 0};
    char counter[24];
    sqlite3_stmt *st;
    int ret = HR_OK;

    if (ev->request_id != NULL) {
        ret = check_request(s, it);
        if (ret != HR_OK || it->repeat)
            return ret;
    }
    if (ev->has_package) {
        ret = check_revision(s, it);
        if (ret != HR_OK || it->duplicate)
            return ret;
    }
    if (is_stage)
        ret = stage_transition(s, it, &tr);
    else if (ev->has_build)
        ret = build_transition(s, it, &tr, &hist);
    if (ret != HR_OK)
        goto out;

    st = s->st[ST_INSERT_EVENT];
    sqlite3_bind_int64(st, 1, ev->received_at);
    bind_str(st, 2, ev->source);
    bind_str(st, 3, ev->kind);
    bind_str(st, 4, ev->version);
    if (is_stage) {
        bind_str(st, 5, ev->pipeline_name);
        bind_str(st, 6, ev->pipeline_counter);
        bind_str(st, 7, ev->stage_name);
        bind_str(st, 8, ev->stage_counter);
        bind_str(st, 9, ev->stage_state);
        bind_str(st, 10, ev->stage_result);
        bind_str(st, 11, hr_transition_name(tr));
    } else if (ev->has_build) {
        /* A job is filtered on as a pipeline: ?pipeline=folder/app. */
        snprintf(counter, sizeof(counter), "%lld", (long long)ev->build.number);
        bind_str(st, 5, ev->build.job_name);
        bind_str(st, 6, ev->build.number > 0 ? counter : NULL);
        bind_str(st, 9, ev->build.phase);
        bind_str(st, 10, ev->build.result);
        bind_str(st, 11, hr_transition_name(tr));
    } else if (ev->has_package) {
        bind_str(st, 5, it->package_name);
        bind_str(st, 6, ev->package.revision);
    }
    sqlite3_bind_text(st, 12, it->doc, (int)it->doc_len, SQLITE_STATIC);
    if (ev->raw != NULL)
        sqlite3_bind_blob(st, 13, ev->raw, (int)ev->raw_len, SQLITE_STATIC);
    bind_str(st, 14, ev->request_id);
    sqlite3_bind_int64(st, 15, (sqlite3_int64)hr_errlist_count(&ev->warnings));
    if (ev->request_id != NULL)
        sqlite3_bind_blob(st, 16, ev->request_digest, (int)sizeof(ev->request_digest),
                          SQLITE_STATIC);
    ret = run(s->wdb, st, "save the event", &it->err);
    if (ret != HR_OK)
        goto out;
    it->id = sqlite3_last_insert_rowid(s->wdb);
    it->transition = tr;

    if (is_stage)
        ret = save_stage_state(s, it);
    else if (ev->has_build)
        ret = save_job_state(s, it, &hist);
    else if (ev->has_package)
        ret = save_revision(s, it);
    if (ret == HR_OK && s->route_fn != NULL)
        ret = save_deliveries(s, it, tr);
out:
    free(hist.last_result);
    free(hist.prev_result);
    return ret;
}

/* Replaces every setting inside the open transaction. */
static int save_settings(hr_store *s, item *it)
{
    sqlite3_stmt *st = s->st[ST_INSERT_SETTING];
    int ret = run(s->wdb, s->st[ST_CLEAR_SETTINGS], "clear the settings", &it->err);

    for (void *i = json_object_iter(it->settings); i != NULL && ret == HR_OK;
         i = json_object_iter_next(it->settings, i)) {
        json_t *value = json_object_iter_value(i);
        bind_str(st, 1, json_object_iter_key(i));
        sqlite3_bind_text(st, 2, json_string_value(value), (int)json_string_length(value),
                          SQLITE_STATIC);
        ret = run(s->wdb, st, "save the settings", &it->err);
    }
    return ret;
}

/* ---- Retention ---------------------------------------------------------- */

/* An integer PRAGMA's value, or -1 when it cannot be read. */
static int64_t pragma_int(hr_store *s, const char *sql)
{
    char buf[32];
    hr_error ignored;
    if (exec1(s->wdb, sql, buf, sizeof(buf), "read a pragma", &ignored) != HR_OK)
        return -1;
    return strtoll(buf, NULL, 10);
}

/* Deletes, from the cursor on, attempts started before the cutoff: the
 * run of ids up to the first one too young, as one range. */
static int prune_attempts(hr_store *s, item *it)
{
    prune_chunk *p = &it->prune;
    sqlite3_stmt *st = s->st[ST_PRUNE_SCAN_ATTEMPTS];
    int64_t hi = p->attempt_cursor;
    int rows = 0, rc, ret = HR_OK;

    sqlite3_bind_int64(st, 1, p->attempt_cursor);
    sqlite3_bind_int(st, 2, HR_PRUNE_CHUNK_ATTEMPTS);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rows++;
        if (sqlite3_column_int64(st, 1) >= p->attempts_before) {
            p->attempts_done = 1;
            break;
        }
        hi = sqlite3_column_int64(st, 0);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = db_error(s->wdb, rc, "look for old attempts", &it->err);
    else if (rows < HR_PRUNE_CHUNK_ATTEMPTS)
        p->attempts_done = 1;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (ret != HR_OK || hi == p->attempt_cursor)
        return ret;

    st = s->st[ST_PRUNE_DEL_ATTEMPTS];
    sqlite3_bind_int64(st, 1, p->attempt_cursor);
    sqlite3_bind_int64(st, 2, hi);
    ret = run(s->wdb, st, "delete old attempts", &it->err);
    if (ret == HR_OK) {
        p->attempts += (size_t)sqlite3_changes(s->wdb);
        p->attempt_cursor = hi;
    }
    return ret;
}

/* Deletes one event with its deliveries and their attempts; counts them. */
static int prune_event(hr_store *s, item *it, int64_t id)
{
    static const int order[] = {ST_PRUNE_DEL_EVENT_ATTEMPTS, ST_PRUNE_DEL_EVENT_DELIVERIES,
                                ST_PRUNE_DEL_EVENT};
    size_t *counts[] = {&it->prune.attempts, &it->prune.deliveries, &it->prune.events};
    for (int i = 0; i < 3; i++) {
        sqlite3_stmt *st = s->st[order[i]];
        int ret;
        sqlite3_bind_int64(st, 1, id);
        ret = run(s->wdb, st, "delete an old event", &it->err);
        if (ret != HR_OK)
            return ret;
        *counts[i] += (size_t)sqlite3_changes(s->wdb);
    }
    return HR_OK;
}

/*
 * Looks at up to HR_PRUNE_CHUNK_EVENTS events from the cursor on and
 * deletes those received before the cutoff that may go. The walk stops at
 * the first event too young: events after it are younger still (but for
 * a clock stepped back, whose events wait for the ones before them).
 */
static int prune_events(hr_store *s, item *it)
{
    prune_chunk *p = &it->prune;
    sqlite3_stmt *st = s->st[ST_PRUNE_SCAN_EVENTS];
    int64_t ids[HR_PRUNE_CHUNK_EVENTS];
    size_t n = 0;
    int rows = 0, rc, ret = HR_OK;

    sqlite3_bind_int64(st, 1, p->event_cursor);
    sqlite3_bind_int(st, 2, HR_PRUNE_CHUNK_EVENTS);
    bind_str(st, 3, HR_SOURCE_PACKAGE);
    bind_str(st, 4, HR_KIND_PACKAGE_REVISION);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rows++;
        if (sqlite3_column_int64(st, 1) >= p->events_before) {
            p->events_done = 1;
            break;
        }
        p->event_cursor = sqlite3_column_int64(st, 0);
        if (!sqlite3_column_int(st, 2))
            ids[n++] = p->event_cursor;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = db_error(s->wdb, rc, "look for old events", &it->err);
    else if (rows < HR_PRUNE_CHUNK_EVENTS)
        p->events_done = 1;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    for (size_t i = 0; i < n && ret == HR_OK; i++)
        ret = prune_event(s, it, ids[i]);
    for (int k = ST_PRUNE_NULL_STAGES; k <= ST_PRUNE_NULL_JOBS && n > 0 && ret == HR_OK; k++) {
        sqlite3_bind_int64(s->st[k], 1, ids[0]);
        sqlite3_bind_int64(s->st[k], 2, ids[n - 1]);
        ret = run(s->wdb, s->st[k], "forget a deleted event", &it->err);
    }
    return ret;
}

/*
 * One chunk of a prune, in a transaction of its own: old attempts first,
 * then old events. What a chunk holds the writer for, measured on a
 * virtual machine's disk (synchronous=FULL) over a database of 100,000
 * events of 3 KB, each with one delivered delivery and one attempt,
 * across 600 stages and 200 jobs: about 55 ms for 1,000 events and 5,000
 * attempts (200 ms for the first chunk, read from a cold cache); an
 * event waits for one chunk at most. With foreign keys on it was 300 ms.
 */
static int prune_chunk_run(hr_store *s, item *it)
{
    prune_chunk *p = &it->prune;
    int ret = HR_OK;
    if (!p->attempts_done)
        ret = prune_attempts(s, it);
    if (ret == HR_OK && !p->events_done)
        ret = prune_events(s, it);
    if (ret == HR_OK) {
        int64_t size = pragma_int(s, "PRAGMA page_size");
        int64_t pages = pragma_int(s, "PRAGMA page_count");
        int64_t free_pages = pragma_int(s, "PRAGMA freelist_count");
        p->db_bytes = size > 0 && pages >= 0 ? size * pages : 0;
        p->free_bytes = size > 0 && free_pages >= 0 ? size * free_pages : 0;
    }
    return ret;
}

/*
 * Runs one batch in one transaction. Each item runs inside its own
 * savepoint, so an item that fails (and only it) is undone. A failure that
 * ends the transaction (BEGIN, COMMIT, or SQLite rolling everything back
 * after an I/O error) fails every item. Sets each item's status; returns
 * the number of items that failed. *latency_us is BEGIN..COMMIT.
 *
 * A prune chunk comes alone (writer_main) and runs with foreign keys off:
 * with them on, SQLite would walk stage_state and job_state, which have no
 * index on last_event_id, once for every event deleted (ON DELETE SET
 * NULL), which made a chunk three times slower with 200 stages and grows
 * with every stage and job. An index there would cost every event's
 * insert instead. The prune keeps the references whole itself: it deletes
 * attempts, then deliveries, then events, never one a revision names, and
 * sets last_event_id to NULL once per chunk.
 */
static size_t run_batch(hr_store *s, item *batch, int64_t *latency_us, hr_error *cause)
{
    int64_t t0 = hr_time_mono_us();
    size_t nfailed = 0;
    int aborted = 0, fk_off = batch->type == ITEM_PRUNE;
    item *it;

    hr_error_clear(cause);
    /* PRAGMA foreign_keys is a no-op inside a transaction. */
    if (fk_off && run(s->wdb, s->st[ST_FK_OFF], "turn foreign keys off", cause) != HR_OK)
        aborted = 1;
    if (!aborted && run(s->wdb, s->st[ST_BEGIN], "begin a transaction", cause) != HR_OK)
        aborted = 1;
    for (it = batch; it != NULL && !aborted; it = it->next) {
        int rc;
        if (run(s->wdb, s->st[ST_SAVEPOINT], "start a savepoint", cause) != HR_OK) {
            aborted = 1;
            break;
        }
        switch (it->type) {
        case ITEM_EVENT:
            rc = save_event(s, it);
            break;
        case ITEM_SETTINGS:
            rc = save_settings(s, it);
            break;
        case ITEM_ATTEMPT:
            rc = save_attempt(s, it);
            break;
        case ITEM_RESET:
            rc = save_reset(s, it);
            break;
        default:
            rc = prune_chunk_run(s, it);
            break;
        }
        if (rc == HR_OK) {
            if (run(s->wdb, s->st[ST_RELEASE], "release a savepoint", cause) != HR_OK)
                aborted = 1;
            continue;
        }
        it->status = rc;
        if (sqlite3_get_autocommit(s->wdb)) {
            /* SQLite already rolled the whole transaction back. */
            *cause = it->err;
            aborted = 1;
        } else if (run(s->wdb, s->st[ST_ROLLBACK_TO], "undo a failed event", cause) != HR_OK ||
                   run(s->wdb, s->st[ST_RELEASE], "release a savepoint", cause) != HR_OK) {
            aborted = 1;
        } else if (cause->code == HR_OK) {
            *cause = it->err;
        }
    }
    if (!aborted && run(s->wdb, s->st[ST_COMMIT], "commit", cause) != HR_OK)
        aborted = 1;
    if (aborted && !sqlite3_get_autocommit(s->wdb)) {
        hr_error ignored;
        if (run(s->wdb, s->st[ST_ROLLBACK], "roll back", &ignored) != HR_OK)
            hr_log_error(SUB, "%s", ignored.msg);
    }
    if (fk_off) {
        hr_error fk;
        /* The pragma is silently a no-op inside a transaction, so one a
         * failed rollback left open would leave foreign keys off unseen. */
        if (!sqlite3_get_autocommit(s->wdb))
            hr_log_error(SUB, "cannot turn foreign keys back on: a transaction is still open "
                              "after a failed prune");
        else if (run(s->wdb, s->st[ST_FK_ON], "turn foreign keys back on", &fk) != HR_OK)
            hr_log_error(SUB, "%s", fk.msg);
    }
    *latency_us = hr_time_mono_us() - t0;

    for (it = batch; it != NULL; it = it->next) {
        if (aborted && it->status == HR_OK) {
            it->status = cause->code;
            it->err = *cause;
        }
        /* A conflict is the caller's mistake, answered as such, not a
         * store that cannot write. */
        if (it->status != HR_OK && it->status != HR_ECONFLICT)
            nfailed++;
    }
    return nfailed;
}

/* The new events a finished batch stored: repeats of a request id and
 * duplicates of a package revision store none. */
static size_t events_stored(const item *batch)
{
    size_t n = 0;
    for (const item *it = batch; it != NULL; it = it->next)
        n += it->type == ITEM_EVENT && it->status == HR_OK && !it->repeat && !it->duplicate;
    return n;
}

/* Calls every completion of a finished batch, in order, and frees the
 * items. Returns whether the batch made deliveries due. */
static int complete(item *batch)
{
    item *it, *next;
    int due = 0;
    for (it = batch; it != NULL; it = next) {
        next = it->next;
        if (it->type == ITEM_EVENT) {
            it->ev->id = it->status == HR_OK ? it->id : 0;
            it->ev->transition = it->status == HR_OK ? it->transition : HR_TRANSITION_NONE;
            if (it->ev->has_package)
                it->ev->package.duplicate = it->status == HR_OK && it->duplicate;
            it->ev->repeat = it->status == HR_OK && it->repeat;
            due |= it->status == HR_OK && it->ndeliveries > 0;
        }
        if (it->type == ITEM_RESET && it->status == HR_OK) {
            *it->count_out = it->count;
            due |= it->count > 0;
        }
        if (it->type == ITEM_PRUNE && it->status == HR_OK)
            *it->prune_out = it->prune;
        if (it->type == ITEM_ATTEMPT)
            it->attempt_done(it->ctx, it->status);
        else if (it->done != NULL)
            it->done(it->ctx, it->status, it->status == HR_OK ? NULL : &it->err);
        item_free(it);
    }
    return due;
}

static void *writer_main(void *arg)
{
    hr_store *s = arg;

    pthread_mutex_lock(&s->qlock);
    for (;;) {
        item *batch, *last;
        size_t n = 0, nfailed, remaining;
        int64_t latency_us;
        hr_error cause;

        while (s->head == NULL && !s->closing)
            pthread_cond_wait(&s->wake, &s->qlock);
        if (s->head == NULL)
            break;
        /* A prune chunk is a transaction of its own (run_batch). */
        batch = last = s->head;
        for (n = 1; n < s->max_batch && last->next != NULL && last->type != ITEM_PRUNE &&
                    last->next->type != ITEM_PRUNE;
             n++)
            last = last->next;
        s->head = last->next;
        if (s->head == NULL)
            s->tail = NULL;
        last->next = NULL;
        s->queued -= n;
        hr_store_route_fn old_fn = NULL;
        void *old_ctx = NULL;
        void (*old_free)(void *) = NULL;
        if (s->route_swap) {
            old_fn = s->route_fn;
            old_ctx = s->route_ctx;
            old_free = s->route_free;
            s->route_fn = s->next_route_fn;
            s->route_ctx = s->next_route_ctx;
            s->route_free = s->next_route_free;
            s->route_swap = 0;
        }
        pthread_mutex_unlock(&s->qlock);
        /* The old router was last used by the previous batch, on this
         * thread; it is freed here too (jq state is not thread-safe). */
        if (old_fn != NULL && old_free != NULL)
            old_free(old_ctx);

        nfailed = run_batch(s, batch, &latency_us, &cause);
        if (nfailed == 0 && s->fail_streak > 0) {
            hr_log_info(SUB, "commits succeed again after %zu failed batches", s->fail_streak);
            s->fail_streak = 0;
        } else if (nfailed > 0 && s->fail_streak++ == 0) {
            hr_log_warn(SUB,
                        "%zu of %zu items in a batch were not stored: %s (further failures "
                        "are not logged until a batch commits again)",
                        nfailed, n, cause.msg);
        }
        /* A prune's transaction is not counted; the batch size counts
         * events alone, not the attempts and resets sharing their
         * transaction. */
        if (nfailed < n && batch->type != ITEM_PRUNE)
            hr_metrics_commit(events_stored(batch), latency_us);
        pthread_mutex_lock(&s->qlock);
        s->write_failing = nfailed > 0;
        s->write_error = cause;
        pthread_mutex_unlock(&s->qlock);
        if (complete(batch) && s->notify_fn != NULL)
            s->notify_fn(s->notify_ctx);

        pthread_mutex_lock(&s->qlock);
        s->pending -= n;
        remaining = s->queued;
        if (s->pending == 0)
            pthread_cond_broadcast(&s->idle);
        hr_metrics_queue_depth(remaining);
    }
    pthread_mutex_unlock(&s->qlock);
    return NULL;
}

/* ---- Open and close ----------------------------------------------------- */

static int migrate(hr_store *s, hr_error *err)
{
    char buf[64];
    int version, ret;

    ret = exec1(s->wdb, "PRAGMA user_version", buf, sizeof(buf), "read the schema version", err);
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
            rc = sqlite3_exec(s->wdb, sql, NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(s->wdb, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            char doing[64];
            snprintf(doing, sizeof(doing), "migrate the schema to version %d", version + 1);
            ret = db_error(s->wdb, rc, doing, err);
            if (!sqlite3_get_autocommit(s->wdb))
                sqlite3_exec(s->wdb, "ROLLBACK", NULL, NULL, NULL);
            return ret;
        }
        hr_log_info(SUB, "migrated %s to schema version %d", s->path, version + 1);
    }
    return HR_OK;
}

static int open_writer(hr_store *s, const hr_store_options *opt, hr_error *err)
{
    char buf[64];
    int rc, ret;

    rc = sqlite3_open_v2(s->path, &s->wdb,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return db_error(s->wdb, rc, "open the database", err);
    sqlite3_extended_result_codes(s->wdb, 1);
    sqlite3_busy_timeout(s->wdb, BUSY_TIMEOUT_MS);

    ret = exec1(s->wdb, "PRAGMA journal_mode = WAL", buf, sizeof(buf),
                "switch to write-ahead logging", err);
    if (ret != HR_OK)
        return ret;
    if (strcmp(buf, "wal") != 0)
        return hr_error_set(err, HR_ESTORE,
                            "store: %s stays in journal mode \"%s\", not \"wal\"; keep the data "
                            "folder on a local file system",
                            s->path, buf);
    ret = exec1(s->wdb,
                opt->sync_normal ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL",
                NULL, 0, "set synchronous", err);
    if (ret == HR_OK)
        ret = exec1(s->wdb, "PRAGMA foreign_keys = ON", NULL, 0, "enable foreign keys", err);
    if (ret == HR_OK && opt->max_pages > 0) {
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %zu", opt->max_pages);
        ret = exec1(s->wdb, sql, buf, sizeof(buf), "set max_page_count", err);
        if (ret == HR_OK)
            hr_log_info(SUB, "the database may grow to %s pages", buf);
    }
    if (ret == HR_OK)
        ret = migrate(s, err);
    for (int i = 0; i < NSTMT && ret == HR_OK; i++) {
        rc = sqlite3_prepare_v3(s->wdb, writer_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                                NULL);
        if (rc != SQLITE_OK)
            ret = db_error(s->wdb, rc, "prepare the writer's statements", err);
    }
    return ret;
}

static int open_readers(hr_store *s, int n, hr_error *err)
{
    s->readers = hr_calloc((size_t)n, sizeof(*s->readers));
    s->free_readers = hr_calloc((size_t)n, sizeof(*s->free_readers));
    for (int i = 0; i < n; i++) {
        sqlite3 *db = NULL;
        int rc = sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
        s->readers[s->nreaders++] = db; /* closed by store_free even on failure */
        if (rc != SQLITE_OK)
            return db_error(db, rc, "open a read connection", err);
        sqlite3_extended_result_codes(db, 1);
        sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
        s->free_readers[s->nfree++] = db;
    }
    return HR_OK;
}

/* The database and its -wal and -shm files hold GoCD's settings, secret
 * header values included: only herald's user may read them. */
static int private_files(hr_store *s, hr_error *err)
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

/* Releases everything; the writer must have stopped. */
static void store_free(hr_store *s)
{
    int rc;
    if (s->route_free != NULL)
        s->route_free(s->route_ctx);
    if (s->route_swap && s->next_route_free != NULL)
        s->next_route_free(s->next_route_ctx);
    for (int i = 0; i < s->nreaders; i++) {
        rc = sqlite3_close(s->readers[i]);
        if (rc != SQLITE_OK)
            hr_log_error(SUB, "cannot close a read connection: %s", sqlite3_errstr(rc));
    }
    for (int i = 0; i < NSTMT; i++)
        sqlite3_finalize(s->st[i]);
    if (s->wdb != NULL) {
        sqlite3_exec(s->wdb, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
        rc = sqlite3_close(s->wdb);
        if (rc != SQLITE_OK)
            hr_log_error(SUB, "cannot close %s: %s", s->path, sqlite3_errstr(rc));
    }
    pthread_mutex_destroy(&s->qlock);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->plock);
    pthread_cond_destroy(&s->reader_back);
    free(s->readers);
    free(s->free_readers);
    hr_datadir_unlock(s->lock);
    free(s->dir);
    free(s->path);
    free(s);
}

int hr_store_open(const hr_store_options *opt, hr_store **out, hr_error *err)
{
    hr_store *s = NULL;
    hr_datadir *lock = NULL;
    int readers, ret;
    size_t n;

    if (opt == NULL || opt->dir == NULL || opt->dir[0] == '\0')
        return hr_error_set(err, HR_EINVAL, "store: no data folder given");
    readers = opt->readers == 0 ? DEFAULT_READERS : opt->readers;
    if (readers < 1 || readers > MAX_READERS)
        return hr_error_set(err, HR_EINVAL, "store: readers must be from 1 to %d; got %d",
                            MAX_READERS, opt->readers);
    if (opt->max_queue > HR_MAX_STORE_QUEUE || opt->max_batch > HR_MAX_STORE_BATCH)
        return hr_error_set(err, HR_EINVAL,
                            "store: max_queue may be at most %d and max_batch at most %d",
                            HR_MAX_STORE_QUEUE, HR_MAX_STORE_BATCH);
    /* Before anything else in the folder is touched: a second herald on
     * it would send every delivery twice. */
    ret = hr_datadir_lock(opt->dir, &lock, err);
    if (ret != HR_OK)
        return ret;

    s = hr_calloc(1, sizeof(*s));
    s->lock = lock;
    pthread_mutex_init(&s->qlock, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_cond_init(&s->idle, NULL);
    pthread_mutex_init(&s->plock, NULL);
    pthread_cond_init(&s->reader_back, NULL);
    s->dir = hr_strdup(opt->dir);
    n = strlen(opt->dir) + sizeof("/" DB_FILE);
    s->path = hr_malloc(n);
    snprintf(s->path, n, "%s/%s", opt->dir, DB_FILE);
    s->max_queue = opt->max_queue ? opt->max_queue : HR_MAX_STORE_QUEUE;
    s->max_batch = opt->max_batch ? opt->max_batch : HR_MAX_STORE_BATCH;

    ret = private_files(s, err);
    if (ret == HR_OK)
        ret = open_writer(s, opt, err);
    if (ret == HR_OK)
        ret = open_readers(s, readers, err);
    if (ret == HR_OK) {
        int rc = pthread_create(&s->writer, NULL, writer_main, s);
        if (rc != 0)
            ret = hr_error_set(err, HR_EIO, "store: cannot start the writer thread: %s",
                               strerror(rc));
        else
            s->writer_running = 1;
    }
    if (ret != HR_OK)
        goto out;
    hr_log_info(SUB,
                "opened %s (journal mode wal, synchronous %s, schema version %d, %d read "
                "connections)",
                s->path, opt->sync_normal ? "normal" : "full", SCHEMA_VERSION, readers);
    *out = s;
    s = NULL;
out:
    if (s != NULL)
        store_free(s);
    return ret;
}

void hr_store_drain(hr_store *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->qlock);
    s->closing = 1;
    pthread_cond_signal(&s->wake);
    while (s->pending > 0)
        pthread_cond_wait(&s->idle, &s->qlock);
    pthread_mutex_unlock(&s->qlock);
}

void hr_store_close(hr_store *s)
{
    if (s == NULL)
        return;
    hr_store_drain(s);
    if (s->writer_running)
        pthread_join(s->writer, NULL);
    hr_log_info(SUB, "closed %s", s->path);
    store_free(s);
}

/* ---- Readers ------------------------------------------------------------ */

static sqlite3 *reader_take(hr_store *s)
{
    sqlite3 *db;
    pthread_mutex_lock(&s->plock);
    while (s->nfree == 0)
        pthread_cond_wait(&s->reader_back, &s->plock);
    db = s->free_readers[--s->nfree];
    pthread_mutex_unlock(&s->plock);
    return db;
}

static void reader_give(hr_store *s, sqlite3 *db)
{
    pthread_mutex_lock(&s->plock);
    s->free_readers[s->nfree++] = db;
    pthread_cond_signal(&s->reader_back);
    pthread_mutex_unlock(&s->plock);
}

/* Builds {"id", ...doc..., "transition"} from a row's id, transition and
 * doc columns, in that order starting at column col. */
static int row_event(sqlite3_stmt *st, int col, json_t **out, hr_error *err)
{
    int64_t id = sqlite3_column_int64(st, col);
    const char *tr = (const char *)sqlite3_column_text(st, col + 1);
    const char *text = (const char *)sqlite3_column_blob(st, col + 2);
    size_t len = (size_t)sqlite3_column_bytes(st, col + 2);
    json_error_t jerr;
    json_t *doc = text != NULL ? json_loadb(text, len, 0, &jerr) : NULL;
    json_t *o;

    if (!json_is_object(doc)) {
        json_decref(doc);
        return hr_error_set(err, HR_ESTORE,
                            "store: event %lld's stored document cannot be read; the database may "
                            "be damaged (restore it from a backup)",
                            (long long)id);
    }
    o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)id));
    json_object_update(o, doc);
    json_decref(doc);
    json_object_set_new(o, "transition", tr != NULL ? json_string(tr) : json_null());
    *out = o;
    return HR_OK;
}

static json_t *col_text_or_null(sqlite3_stmt *st, int col)
{
    const char *t = (const char *)sqlite3_column_text(st, col);
    return t != NULL ? json_string(t) : json_null();
}

static json_t *col_time_or_null(sqlite3_stmt *st, int col)
{
    char buf[HR_TIME_STR_MAX];
    int64_t ms = sqlite3_column_int64(st, col);
    if (sqlite3_column_type(st, col) == SQLITE_NULL || ms <= 0)
        return json_null();
    return json_string(hr_time_format(ms, buf, sizeof(buf)));
}

static json_t *col_int_or_null(sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return json_null();
    return json_integer((json_int_t)sqlite3_column_int64(st, col));
}

typedef int (*row_fn)(sqlite3 *db, sqlite3_stmt *st, json_t **out, hr_error *err);

static int event_row(sqlite3 *db, sqlite3_stmt *st, json_t **out, hr_error *err)
{
    (void)db;
    return row_event(st, 0, out, err);
}

/* Reads one page from st, which asks for limit + 1 rows with the id in
 * column 0: each row made into JSON by row. *out is a new array of at most
 * limit items; *next is the last id listed when there is a further row,
 * else 0. */
static int read_page(sqlite3 *db, sqlite3_stmt *st, size_t limit, row_fn row, const char *doing,
                     json_t **out, int64_t *next, hr_error *err)
{
    json_t *arr = json_array();
    int64_t last_id = 0;
    size_t rows = 0;
    int rc, more = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *one;
        if (rows == limit) {
            more = 1;
            break;
        }
        int ret = row(db, st, &one, err);
        if (ret != HR_OK) {
            json_decref(arr);
            return ret;
        }
        last_id = sqlite3_column_int64(st, 0);
        json_array_append_new(arr, one);
        rows++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        json_decref(arr);
        return db_error(db, rc, doing, err);
    }
    *out = arr;
    *next = more ? last_id : 0;
    return HR_OK;
}

/* Reads every row of sql (with param bound to ?1 when it is not NULL) on a
 * read connection into a new array, each row made into JSON by row. */
static int read_all(hr_store *s, const char *sql, const char *param, row_fn row, const char *doing,
                    json_t **out, hr_error *err)
{
    sqlite3_stmt *st = NULL;
    sqlite3 *db = reader_take(s);
    json_t *arr = json_array();
    int rc, ret = HR_OK;

    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        ret = db_error(db, rc, doing, err);
        goto out;
    }
    if (param != NULL)
        bind_str(st, 1, param);
    while (ret == HR_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *one = NULL;
        ret = row(db, st, &one, err);
        if (ret == HR_OK)
            json_array_append_new(arr, one);
    }
    if (ret == HR_OK && rc != SQLITE_DONE)
        ret = db_error(db, rc, doing, err);
    if (ret == HR_OK) {
        *out = arr;
        arr = NULL;
    }
out:
    json_decref(arr);
    sqlite3_finalize(st);
    reader_give(s, db);
    return ret;
}

int hr_store_list_events(hr_store *s, const hr_event_query *q, json_t **out, int64_t *next,
                         hr_error *err)
{
    static const char *const conds[] = {"source = ?", "kind = ?", "pipeline = ?", "stage = ?",
                                        "result = ?"};
    const char *vals[] = {q->source, q->kind, q->pipeline, q->stage, q->result};
    size_t limit = q->limit < 1 ? 1 : q->limit > HR_MAX_API_PAGE ? HR_MAX_API_PAGE : q->limit;
    char sql[512];
    size_t len = 0;
    int nparam = 0, rc, ret = HR_OK;
    sqlite3_stmt *st = NULL;
    sqlite3 *db;

    /* Only constant fragments go into the SQL; every value is bound. The
     * fragments fit: 40 + 5 * 18 + 20 + 20 + 30 bytes. */
    len += (size_t)snprintf(sql + len, sizeof(sql) - len, "SELECT id, transition, doc FROM events");
    for (size_t i = 0; i < sizeof(conds) / sizeof(conds[0]); i++) {
        if (vals[i] == NULL)
            continue;
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s%s",
                                nparam++ ? " AND " : " WHERE ", conds[i]);
    }
    if (q->with_warnings)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%swarnings > 0",
                                nparam++ ? " AND " : " WHERE ");
    if (q->before_id > 0)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%sid < ?",
                                nparam++ ? " AND " : " WHERE ");
    snprintf(sql + len, sizeof(sql) - len, " ORDER BY id DESC LIMIT ?");

    db = reader_take(s);
    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        ret = db_error(db, rc, "list events", err);
        goto out;
    }
    nparam = 0;
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
        if (vals[i] != NULL)
            bind_str(st, ++nparam, vals[i]);
    if (q->before_id > 0)
        sqlite3_bind_int64(st, ++nparam, q->before_id);
    sqlite3_bind_int64(st, ++nparam, (sqlite3_int64)limit + 1);

    ret = read_page(db, st, limit, event_row, "list events", out, next, err);
out:
    sqlite3_finalize(st);
    reader_give(s, db);
    return ret;
}

int hr_store_get_event(hr_store *s, int64_t id, json_t **out, hr_error *err)
{
    sqlite3_stmt *st = NULL;
    sqlite3 *db = reader_take(s);
    json_t *ev = NULL, *raw;
    int rc, ret = HR_OK;

    rc = sqlite3_prepare_v2(db, "SELECT id, transition, doc, raw FROM events WHERE id = ?1", -1,
                            &st, NULL);
    if (rc != SQLITE_OK) {
        ret = db_error(db, rc, "read the event", err);
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        ret = hr_error_set(err, HR_ENOTFOUND, "no event with id %lld", (long long)id);
        goto out;
    }
    if (rc != SQLITE_ROW) {
        ret = db_error(db, rc, "read the event", err);
        goto out;
    }
    ret = row_event(st, 0, &ev, err);
    if (ret != HR_OK)
        goto out;
    /* The raw body was valid UTF-8 JSON when it came in; a body that is not
     * (stored by an older or foreign writer) shows as null. */
    raw = NULL;
    if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
        const char *body = sqlite3_column_blob(st, 3);
        raw = json_stringn(body != NULL ? body : "", (size_t)sqlite3_column_bytes(st, 3));
    }
    *out = json_pack("{s:o,s:o}", "event", ev, "raw", raw != NULL ? raw : json_null());
    ev = NULL;
out:
    json_decref(ev);
    sqlite3_finalize(st);
    reader_give(s, db);
    return ret;
}

static int stage_row(sqlite3 *db, sqlite3_stmt *st, json_t **out, hr_error *err)
{
    static const char *const names[] = {"pipeline", "stage", "last_result", "last_state",
                                        "last_counter"};
    json_t *o = json_object();
    (void)db;
    (void)err;
    for (int i = 0; i < 5; i++)
        json_object_set_new(o, names[i], col_text_or_null(st, i));
    json_object_set_new(o, "last_event_id", col_int_or_null(st, 5));
    json_object_set_new(o, "updated_at", col_time_or_null(st, 6));
    *out = o;
    return HR_OK;
}

int hr_store_list_stages(hr_store *s, json_t **out, hr_error *err)
{
    return read_all(s,
                    "SELECT pipeline, stage, last_result, last_state, last_counter,"
                    " last_event_id, updated_at FROM stage_state ORDER BY pipeline, stage",
                    NULL, stage_row, "list stages", out, err);
}

int hr_store_get_settings(hr_store *s, json_t **out, hr_error *err)
{
    sqlite3_stmt *st = NULL;
    sqlite3 *db = reader_take(s);
    json_t *obj = NULL;
    int rc, ret = HR_OK;

    rc = sqlite3_prepare_v2(db, "SELECT key, value FROM settings ORDER BY key", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        ret = db_error(db, rc, "read the settings", err);
        goto out;
    }
    obj = json_object();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        const char *value = (const char *)sqlite3_column_text(st, 1);
        size_t vlen = (size_t)sqlite3_column_bytes(st, 1);
        if (key != NULL && value != NULL)
            json_object_set_new(obj, key, json_stringn(value, vlen));
    }
    if (rc != SQLITE_DONE) {
        ret = db_error(db, rc, "read the settings", err);
        goto out;
    }
    *out = obj;
    obj = NULL;
out:
    json_decref(obj);
    sqlite3_finalize(st);
    reader_give(s, db);
    return ret;
}

/* ---- Deliveries --------------------------------------------------------- */

void hr_store_set_router(hr_store *s, hr_store_route_fn fn, void *ctx, void (*free_ctx)(void *ctx))
{
    void (*drop)(void *) = NULL;
    void *drop_ctx = NULL;
    pthread_mutex_lock(&s->qlock);
    if (s->route_swap) { /* replaced before the writer ever used it */
        drop = s->next_route_free;
        drop_ctx = s->next_route_ctx;
    }
    s->next_route_fn = fn;
    s->next_route_ctx = ctx;
    s->next_route_free = free_ctx;
    s->route_swap = 1;
    pthread_mutex_unlock(&s->qlock);
    if (drop != NULL)
        drop(drop_ctx);
}

void hr_store_set_notify(hr_store *s, void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&s->qlock);
    s->notify_fn = fn;
    s->notify_ctx = ctx;
    pthread_mutex_unlock(&s->qlock);
}

void hr_store_record_attempt(hr_store *s, const hr_attempt *a, void (*done)(void *arg, int status),
                             void *arg)
{
    item *it = hr_calloc(1, sizeof(*it));
    hr_error err;
    it->type = ITEM_ATTEMPT;
    it->attempt = *a;
    it->attempt.error = hr_strdup(a->error);
    it->attempt.excerpt = hr_strdup(a->excerpt);
    it->attempt_done = done;
    it->ctx = arg;
    if (enqueue(s, it, &err) != HR_OK) {
        /* Not recorded: the delivery stays due and is attempted again. */
        hr_log_warn(SUB, "cannot record attempt %d of delivery %lld: %s", a->attempt,
                    (long long)a->delivery_id, err.msg);
        done(arg, err.code);
    }
}

int hr_store_reset_deliveries(hr_store *s, const hr_delivery_reset *r, size_t *count, hr_error *err)
{
    item *it;
    if (r->id <= 0 && r->target == NULL && !r->dead_only && r->since <= 0 && r->until <= 0)
        return hr_error_set(err, HR_EINVAL,
                            "store: a reset names a delivery, a target, dead letters or a time "
                            "range");
    it = hr_calloc(1, sizeof(*it));
    it->type = ITEM_RESET;
    it->reset = *r;
    it->reset.target = hr_strdup(r->target);
    it->count_out = count;
    *count = 0;
    return enqueue_wait(s, it, err);
}

int hr_store_prune(hr_store *s, const hr_prune_policy *policy, hr_prune_result *res, hr_error *err)
{
    int64_t t0 = hr_time_mono_us();
    int64_t now = policy->now_ms != 0 ? policy->now_ms : hr_time_now_ms();
    prune_chunk state;
    int rc = HR_OK;

    memset(res, 0, sizeof(*res));
    memset(&state, 0, sizeof(state));
    state.events_before = now - policy->events_ms;
    state.events_done = policy->events_ms <= 0;
    state.attempts_before = now - policy->attempts_ms;
    state.attempts_done = policy->attempts_ms <= 0;
    /* At least one chunk, even with nothing to delete: it measures the
     * database. */
    do {
        item *it = hr_calloc(1, sizeof(*it));
        it->type = ITEM_PRUNE;
        it->prune = state;
        it->prune.events = it->prune.deliveries = it->prune.attempts = 0;
        it->prune_out = &state;
        rc = enqueue_wait(s, it, err);
        if (rc != HR_OK)
            break;
        res->events += state.events;
        res->deliveries += state.deliveries;
        res->attempts += state.attempts;
        res->db_bytes = state.db_bytes;
        res->free_bytes = state.free_bytes;
        res->chunks++;
        if (policy->max_chunks > 0 && res->chunks >= policy->max_chunks)
            break;
        if (policy->stop != NULL && policy->stop(policy->stop_ctx))
            break;
    } while (!state.events_done || !state.attempts_done);
    res->done = rc == HR_OK && state.events_done && state.attempts_done;
    res->elapsed_ms = (hr_time_mono_us() - t0) / 1000;
    return rc;
}

/* The event as jq sees it: the stored event plus "raw", the raw body parsed
 * (null when it is not JSON). Columns: id, transition, doc, raw. */
static int row_input(sqlite3_stmt *st, int col, json_t **out, hr_error *err)
{
    json_t *ev;
    int ret = row_event(st, col, &ev, err);
    if (ret != HR_OK)
        return ret;
    json_t *raw = NULL;
    if (sqlite3_column_type(st, col + 3) != SQLITE_NULL)
        raw = json_loadb(sqlite3_column_blob(st, col + 3),
                         (size_t)sqlite3_column_bytes(st, col + 3), JSON_DECODE_ANY, NULL);
    json_object_set_new(ev, "raw", raw != NULL ? raw : json_null());
    *out = ev;
    return HR_OK;
}

int hr_store_claim_due(hr_store *s, const hr_claim_query *q, hr_delivery_job **jobs, size_t *n,
                       hr_error *err)
{
    sqlite3_stmt *st = NULL;
    sqlite3 *db;
    hr_delivery_job *out = NULL;
    size_t count = 0, cap, len;
    char *sql;
    int rc, ret = HR_OK, param = 1;

    *jobs = NULL;
    *n = 0;
    if (q->max == 0)
        return HR_OK;
    /* Constant fragments and one "?" per value; every value is bound. */
    cap = 512 + 3 * (q->n_other_than + q->n_skip_ids);
    sql = hr_malloc(cap);
    len = (size_t)snprintf(sql, cap,
                           "SELECT d.id, d.event_id, d.target, d.attempts,"
                           " e.id, e.transition, e.doc, e.raw"
                           " FROM deliveries d JOIN events e ON e.id = d.event_id"
                           " WHERE d.state IN ('pending', 'retrying') AND d.next_at <= ?");
    if (q->target != NULL)
        len += (size_t)snprintf(sql + len, cap - len, " AND d.target = ?");
    else if (q->n_other_than > 0) {
        len += (size_t)snprintf(sql + len, cap - len, " AND d.target NOT IN (?");
        for (size_t i = 1; i < q->n_other_than; i++)
            len += (size_t)snprintf(sql + len, cap - len, ",?");
        len += (size_t)snprintf(sql + len, cap - len, ")");
    }
    if (q->n_skip_ids > 0) {
        len += (size_t)snprintf(sql + len, cap - len, " AND d.id NOT IN (?");
        for (size_t i = 1; i < q->n_skip_ids; i++)
            len += (size_t)snprintf(sql + len, cap - len, ",?");
        len += (size_t)snprintf(sql + len, cap - len, ")");
    }
    snprintf(sql + len, cap - len, " ORDER BY d.next_at LIMIT ?");

    db = reader_take(s);
    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    free(sql);
    if (rc != SQLITE_OK) {
        ret = db_error(db, rc, "find due deliveries", err);
        goto out;
    }
    sqlite3_bind_int64(st, param++, q->now);
    if (q->target != NULL)
        bind_str(st, param++, q->target);
    else
        for (size_t i = 0; i < q->n_other_than; i++)
            bind_str(st, param++, q->other_than[i]);
    for (size_t i = 0; i < q->n_skip_ids; i++)
        sqlite3_bind_int64(st, param++, q->skip_ids[i]);
    sqlite3_bind_int64(st, param, (sqlite3_int64)q->max);
    out = hr_calloc(q->max, sizeof(*out));
    while (count < q->max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        hr_delivery_job *j = &out[count];
        ret = row_input(st, 4, &j->input, err);
        if (ret != HR_OK)
            goto out;
        j->id = sqlite3_column_int64(st, 0);
        j->event_id = sqlite3_column_int64(st, 1);
        j->target = hr_strdup((const char *)sqlite3_column_text(st, 2));
        j->attempt = sqlite3_column_int(st, 3) + 1;
        count++;
    }
    if (count < q->max && rc != SQLITE_DONE) {
        ret = db_error(db, rc, "find due deliveries", err);
        goto out;
    }
    *jobs = out;
    *n = count;
    out = NULL;
out:
    if (out != NULL) {
        for (size_t i = 0; i < count; i++) {
            free(out[i].target);
            json_decref(out[i].input);
        }
        free(out);
    }
    sqlite3_finalize(st);
    reader_give(s, db);
    return ret;
}

/* The attempts of one delivery, oldest first. */
static int attempts_json(sqlite3 *db, int64_t id, json_t **out, hr_error *err)
{
    sqlite3_stmt *st = NULL;
    json_t *arr = json_array();
    int rc =
        sqlite3_prepare_v2(db,
                           "SELECT attempt, started_at, latency_ms, status, outcome, error,"
                           " excerpt FROM attempts WHERE delivery_id = ?1 ORDER BY attempt, id",
                           -1, &st, NULL);
    if (rc != SQLITE_OK) {
        json_decref(arr);
        return db_error(db, rc, "read attempts", err);
    }
    sqlite3_bind_int64(st, 1, id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *a = json_object();
        json_object_set_new(a, "attempt", json_integer(sqlite3_column_int(st, 0)));
        json_object_set_new(a, "started_at", col_time_or_null(st, 1));
        json_object_set_new(a, "latency_ms", json_integer(sqlite3_column_int64(st, 2)));
        json_object_set_new(a, "status", col_int_or_null(st, 3));
        json_object_set_new(a, "outcome", col_text_or_null(st, 4));
        json_object_set_new(a, "error", col_text_or_null(st, 5));
        json_object_set_new(a, "excerpt", col_text_or_null(st, 6));
        json_array_append_new(arr, a);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        return db_error(db, rc, "read attempts", err);
    }
    *out = arr;
    return HR_OK;
}

#define DELIVERY_COLUMNS                                                                           \
    "id, event_id, route, target, state, attempts, next_at, created_at, updated_at,"               \
    " last_status, last_error"

static int row_delivery(sqlite3 *db, sqlite3_stmt *st, json_t **out, hr_error *err)
{
    json_t *d = json_object(), *attempts = NULL;
    int64_t id = sqlite3_column_int64(st, 0);
    const char *state = (const char *)sqlite3_column_text(st, 4);
    int due = state != NULL && (strcmp(state, "pending") == 0 || strcmp(state, "retrying") == 0);
    json_object_set_new(d, "id", json_integer((json_int_t)id));
    json_object_set_new(d, "event_id", json_integer((json_int_t)sqlite3_column_int64(st, 1)));
    json_object_set_new(d, "route", col_text_or_null(st, 2));
    json_object_set_new(d, "target", col_text_or_null(st, 3));
    json_object_set_new(d, "state", col_text_or_null(st, 4));
    json_object_set_new(d, "attempts", json_integer(sqlite3_column_int(st, 5)));
    json_object_set_new(d, "next_attempt_at", due ? col_time_or_null(st, 6) : json_null());
    json_object_set_new(d, "created_at", col_time_or_null(st, 7));
    json_object_set_new(d, "updated_at", col_time_or_null(st, 8));
    json_object_set_new(d, "last_status", col_int_or_null(st, 9));
    json_object_set_new(d, "last_error", col_text_or_null(st, 10));
    int ret = attempts_json(db, id, &attempts, err);
    if (ret != HR_OK) {
        json_decref(d);
        return ret;
    }
    json_object_set_new(d, "attempt_log", attempts);
    *out = d;
    return HR_OK;
}

int hr_store_list_deliveries(hr_store *s, const hr_delivery_query *q, json_t **out, int64_t *next,
                             hr_error *err)
{
    size_t limit = q->limit < 1 ? 1 : q->limit > HR_MAX_API_PAGE ? HR_MAX_API_PAGE : q->limit;
    char sql[512];
    size_t len;
    sqlite3_stmt *st = NULL;
    sqlite3 *db;
    int rc, ret = HR_OK;

    len = (size_t)snprintf(sql, sizeof(sql), "SELECT " DELIVERY_COLUMNS " FROM deliveries WHERE 1");
    if (q->state != NULL)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND state = ?1");
    if (q->target != NULL)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND target = ?2");
    if (q->event_id > 0)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND event_id = ?3");
    if (q->before_id > 0)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND id < ?4");
    snprintf(sql + len, sizeof(sql) - len, " ORDER BY id DESC LIMIT ?5");

    db = reader_take(s);
    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        ret = db_error(db, rc, "list deliveries", err);
        goto out;
    }
    if (q->state != NULL)
        bind_str(st, 1, q->state);
    if (q->target != NULL)
        bind_str(st, 2, q->target);
    if (q->event_id > 0)
        sqlite3_bind_int64(st, 3, q->event_id);
    if (q->before_id > 0)
        sqlite3_bind_int64(st, 4, q->before_id);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)limit + 1);
    ret = read_page(db, st, limit, row_delivery, "list deliveries", out, next, err);
out:
    sqlite3_finalize(st);
    reader_give(s, db);
    return ret;
}

int hr_store_get_delivery(hr_store *s, int64_t id, json_t **out, hr_error *err)
{
    sqlite3_stmt *st = NULL;
    sqlite3 *db = reader_take(s);
    int rc, ret;
    rc = sqlite3_prepare_v2(db, "SELECT " DELIVERY_COLUMNS " FROM deliveries WHERE id = ?1", -1,
                            &st, NULL);
    if (rc != SQLITE_OK) {
        ret = db_error(db, rc, "read the delivery", err);
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        ret = row_delivery(db, st, out, err);
    else if (rc == SQLITE_DONE)
        ret = hr_error_set(err, HR_ENOTFOUND, "no delivery with id %lld", (long long)id);
    else
        ret = db_error(db, rc, "read the delivery", err);
out:
    sqlite3_finalize(st);
    reader_give(s, db);
    return ret;
}

int hr_store_target_health(hr_store *s, int64_t since, json_t **out, hr_error *err)
{
    sqlite3_stmt *st = NULL;
    sqlite3 *db = reader_take(s);
    json_t *arr = json_array();
    int rc, ret = HR_OK;
    rc = sqlite3_prepare_v2(
        db,
        "SELECT target, sum(state = 'pending'), sum(state = 'retrying'),"
        " sum(state = 'dead' AND updated_at >= ?1), sum(state = 'delivered' AND updated_at >= ?1),"
        " (SELECT last_error FROM deliveries d2 WHERE d2.target = d.target"
        "   AND d2.state IN ('retrying', 'dead') ORDER BY d2.updated_at DESC LIMIT 1)"
        " FROM deliveries d WHERE updated_at >= ?1 OR state IN ('pending', 'retrying')"
        " GROUP BY target ORDER BY target",
        -1, &st, NULL);
    if (rc != SQLITE_OK) {
        ret = db_error(db, rc, "read the targets' health", err);
        goto out;
    }
    sqlite3_bind_int64(st, 1, since);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *t = json_object();
        json_object_set_new(t, "target", col_text_or_null(st, 0));
        json_object_set_new(t, "pending", json_integer(sqlite3_column_int64(st, 1)));
        json_object_set_new(t, "retrying", json_integer(sqlite3_column_int64(st, 2)));
        json_object_set_new(t, "dead", json_integer(sqlite3_column_int64(st, 3)));
        json_object_set_new(t, "delivered", json_integer(sqlite3_column_int64(st, 4)));
        json_object_set_new(t, "last_error", col_text_or_null(st, 5));
        json_array_append_new(arr, t);
    }
    if (rc != SQLITE_DONE)
        ret = db_error(db, rc, "read the targets' health", err);
out:
    sqlite3_finalize(st);
    reader_give(s, db);
    if (ret == HR_OK)
        *out = arr;
    else
        json_decref(arr);
    return ret;
}

/* ---- Packages ------------------------------------------------------------ */

json_t *hr_store_revision_doc(const hr_package_rev *p)
{
    json_t *o = json_object();
    char when[HR_TIME_STR_MAX];

    json_object_set_new(o, "repository", json_string(p->repository));
    json_object_set_new(o, "package", json_string(p->package));
    json_object_set_new(o, "revision", json_string(p->revision));
    json_object_set_new(o, "timestamp",
                        json_string(hr_time_format(p->timestamp, when, sizeof(when))));
    json_object_set_new(o, "user", p->user ? json_string(p->user) : json_null());
    json_object_set_new(o, "revisionComment", p->comment ? json_string(p->comment) : json_null());
    json_object_set_new(o, "trackbackUrl",
                        p->trackback_url ? json_string(p->trackback_url) : json_null());
    json_object_set_new(o, "data", p->data ? json_deep_copy(p->data) : json_object());
    return o;
}

/* One revision row (id, doc, published_at, event_id) as the API shows it. */
static int revision_row(sqlite3 *db, sqlite3_stmt *st, json_t **out, hr_error *err)
{
    const char *doc = (const char *)sqlite3_column_text(st, 1);
    json_error_t jerr;
    json_t *o = json_loads(doc != NULL ? doc : "", 0, &jerr);

    (void)db;
    if (!json_is_object(o)) {
        json_decref(o);
        return hr_error_set(err, HR_ESTORE, "store: revision %lld is damaged: %s",
                            (long long)sqlite3_column_int64(st, 0), jerr.text);
    }
    json_object_set_new(o, "published_at", col_time_or_null(st, 2));
    json_object_set_new(o, "event_id", col_int_or_null(st, 3));
    *out = o;
    return HR_OK;
}

int hr_store_list_revisions(hr_store *s, const char *repository, const char *package,
                            int64_t before_id, size_t limit, json_t **out, int64_t *next,
                            hr_error *err)
{
    sqlite3_stmt *st = NULL;
    sqlite3 *db = reader_take(s);
    int rc, ret;

    limit = limit < 1 ? 1 : limit > HR_MAX_API_PAGE ? HR_MAX_API_PAGE : limit;
    rc = sqlite3_prepare_v2(db,
                            "SELECT id, doc, published_at, event_id FROM revisions"
                            " WHERE repository = ?1 AND package = ?2 AND id < ?3"
                            " ORDER BY id DESC LIMIT ?4",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) {
        ret = db_error(db, rc, "list revisions", err);
        goto out;
    }
    bind_str(st, 1, repository);
    bind_str(st, 2, package);
    sqlite3_bind_int64(st, 3, before_id > 0 ? before_id : INT64_MAX);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)limit + 1);
    ret = read_page(db, st, limit, revision_row, "list revisions", out, next, err);
out:
    sqlite3_finalize(st);
    reader_give(s, db);
    return ret;
}

int hr_store_latest_revision(hr_store *s, const char *repository, const char *package, json_t **out,
                             hr_error *err)
{
    sqlite3_stmt *st = NULL;
    sqlite3 *db = reader_take(s);
    json_t *rev = NULL;
    int rc, ret = HR_OK;

    rc = sqlite3_prepare_v2(db,
                            "SELECT id, doc, published_at, event_id FROM revisions"
                            " WHERE repository = ?1 AND package = ?2 ORDER BY id DESC LIMIT 1",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) {
        ret = db_error(db, rc, "read the latest revision", err);
        goto out;
    }
    bind_str(st, 1, repository);
    bind_str(st, 2, package);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        ret = revision_row(db, st, &rev, err);
    else if (rc != SQLITE_DONE)
        ret = db_error(db, rc, "read the latest revision", err);
    if (ret == HR_OK)
        *out = rev;
out:
    sqlite3_finalize(st);
    reader_give(s, db);
    return ret;
}

static int package_row(sqlite3 *db, sqlite3_stmt *st, json_t **out, hr_error *err)
{
    json_t *o = json_object();
    (void)db;
    (void)err;
    json_object_set_new(o, "repository", col_text_or_null(st, 0));
    json_object_set_new(o, "package", col_text_or_null(st, 1));
    json_object_set_new(o, "created_at", col_time_or_null(st, 2));
    json_object_set_new(o, "revisions", col_int_or_null(st, 3));
    json_object_set_new(o, "latest", col_text_or_null(st, 4));
    json_object_set_new(o, "latest_published_at", col_time_or_null(st, 5));
    *out = o;
    return HR_OK;
}

int hr_store_list_packages(hr_store *s, const char *repository, json_t **out, hr_error *err)
{
    return read_all(s,
                    "SELECT p.repository, p.package, p.created_at,"
                    " (SELECT count(*) FROM revisions r WHERE r.repository = p.repository"
                    "   AND r.package = p.package),"
                    " (SELECT r.revision FROM revisions r WHERE r.repository = p.repository"
                    "   AND r.package = p.package ORDER BY r.id DESC LIMIT 1),"
                    " (SELECT r.published_at FROM revisions r WHERE r.repository = p.repository"
                    "   AND r.package = p.package ORDER BY r.id DESC LIMIT 1)"
                    " FROM packages p WHERE ?1 IS NULL OR p.repository = ?1"
                    " ORDER BY p.repository, p.package LIMIT 10001",
                    repository, package_row, "list packages", out, err);
}

static int job_row(sqlite3 *db, sqlite3_stmt *st, json_t **out, hr_error *err)
{
    json_t *o = json_object();
    const char *branch = (const char *)sqlite3_column_text(st, 2);
    (void)db;
    (void)err;
    json_object_set_new(o, "source", col_text_or_null(st, 0));
    json_object_set_new(o, "job", col_text_or_null(st, 1));
    json_object_set_new(o, "branch", branch != NULL && *branch ? json_string(branch) : json_null());
    json_object_set_new(o, "last_result", col_text_or_null(st, 3));
    json_object_set_new(o, "last_number", col_int_or_null(st, 4));
    json_object_set_new(o, "last_phase", col_text_or_null(st, 5));
    json_object_set_new(o, "last_status", col_text_or_null(st, 6));
    json_object_set_new(o, "last_event_id", col_int_or_null(st, 7));
    json_object_set_new(o, "updated_at", col_time_or_null(st, 8));
    *out = o;
    return HR_OK;
}

int hr_store_list_jobs(hr_store *s, json_t **out, hr_error *err)
{
    return read_all(s,
                    "SELECT source, job, branch, last_result, last_number, last_phase,"
                    " last_status, last_event_id, updated_at FROM job_state"
                    " ORDER BY source, job, branch LIMIT 10001",
                    NULL, job_row, "list jobs", out, err);
}
