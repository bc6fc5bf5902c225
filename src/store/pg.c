/*
 * pg.c - the PostgreSQL engine: connecting (and reconnecting), the schema
 * and its migrations under an advisory lock, the writer's transactions and
 * statements, and the engine's table (hr_store__pg). Its reads and its
 * claim are in pg_read.c; what they share is in pg.h.
 */
#include "store/pg.h"

#include "core/limits.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SUB "store"
#define DEFAULT_READERS 4
#define MAX_READERS 64
/* The advisory lock every herald takes to create or migrate the schema. */
#define SCHEMA_LOCK "4851027100"
/* Reconnecting waits from this long, doubling, up to the maximum. */
#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 5000

/*
 * The schema, one entry per version, as on SQLite (store/sqlite.c) but in
 * PostgreSQL's types, and with the claim's lease (lease_until, ms) and
 * fencing token (claim_token) on each delivery. Append new versions; never
 * edit a released one.
 */
static const char *const migrations[] = {
    /* v1 */
    "CREATE TABLE events ("
    "  id BIGSERIAL PRIMARY KEY,"
    "  received_at BIGINT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  version TEXT, pipeline TEXT, pipeline_counter TEXT, stage TEXT, stage_counter TEXT,"
    "  state TEXT, result TEXT, transition TEXT,"
    "  doc TEXT NOT NULL,"
    "  raw BYTEA,"
    "  request_id TEXT,"
    "  warnings BIGINT NOT NULL DEFAULT 0,"
    "  request_digest BYTEA"
    ");"
    "CREATE INDEX events_by_pipeline ON events(pipeline, id);"
    "CREATE INDEX events_by_stage ON events(stage, id);"
    "CREATE UNIQUE INDEX events_by_request ON events(request_id) WHERE request_id IS NOT NULL;"
    "CREATE TABLE stage_state ("
    "  pipeline TEXT NOT NULL, stage TEXT NOT NULL,"
    "  last_result TEXT, last_state TEXT, last_counter TEXT,"
    "  last_event_id BIGINT REFERENCES events(id) ON DELETE SET NULL,"
    "  updated_at BIGINT NOT NULL,"
    "  PRIMARY KEY (pipeline, stage));"
    "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE deliveries ("
    "  id BIGSERIAL PRIMARY KEY,"
    "  event_id BIGINT NOT NULL REFERENCES events(id),"
    "  route TEXT NOT NULL, target TEXT NOT NULL, state TEXT NOT NULL,"
    "  attempts INT NOT NULL DEFAULT 0,"
    "  next_at BIGINT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,"
    "  last_status INT, last_error TEXT,"
    "  lease_until BIGINT NOT NULL DEFAULT 0,"
    "  claim_token BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX deliveries_due ON deliveries(next_at) WHERE state IN ('pending', 'retrying');"
    "CREATE INDEX deliveries_by_event ON deliveries(event_id);"
    "CREATE INDEX deliveries_by_target ON deliveries(target, state, id);"
    "CREATE INDEX deliveries_by_state ON deliveries(state, id);"
    "CREATE TABLE attempts ("
    "  id BIGSERIAL PRIMARY KEY,"
    "  delivery_id BIGINT NOT NULL REFERENCES deliveries(id),"
    "  attempt INT NOT NULL, started_at BIGINT NOT NULL, latency_ms BIGINT NOT NULL,"
    "  status INT, outcome TEXT NOT NULL, error TEXT, excerpt TEXT);"
    "CREATE INDEX attempts_by_delivery ON attempts(delivery_id, attempt);"
    "CREATE TABLE job_state ("
    "  source TEXT NOT NULL, job TEXT NOT NULL, branch TEXT NOT NULL,"
    "  last_result TEXT, last_number BIGINT, prev_result TEXT,"
    "  last_phase TEXT, last_status TEXT,"
    "  last_event_id BIGINT REFERENCES events(id) ON DELETE SET NULL,"
    "  updated_at BIGINT NOT NULL,"
    "  PRIMARY KEY (source, job, branch));"
    "CREATE TABLE packages ("
    "  repository TEXT NOT NULL, package TEXT NOT NULL, created_at BIGINT NOT NULL,"
    "  PRIMARY KEY (repository, package));"
    "CREATE TABLE revisions ("
    "  id BIGSERIAL PRIMARY KEY,"
    "  repository TEXT NOT NULL, package TEXT NOT NULL, revision TEXT NOT NULL,"
    "  timestamp BIGINT NOT NULL, published_at BIGINT NOT NULL,"
    "  event_id BIGINT NOT NULL REFERENCES events(id),"
    "  doc TEXT NOT NULL, raw BYTEA,"
    "  UNIQUE (repository, package, revision));"
    "CREATE INDEX revisions_by_package ON revisions(repository, package, id);"
    "CREATE INDEX revisions_by_event ON revisions(event_id);",
    /* v2: leader rows for periodic work (retention), one per job, held by
     * one instance until it expires (River's leader election). Unlogged:
     * after a crash of the server nobody leads until the next claim. */
    "CREATE UNLOGGED TABLE herald_leader ("
    "  job TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at BIGINT NOT NULL);",
    /* v3: the message a run keeps, as on SQLite (store/sqlite.c, v8). */
    "ALTER TABLE deliveries ADD COLUMN run_key TEXT;"
    "ALTER TABLE deliveries ADD COLUMN service_ref TEXT;"
    "CREATE INDEX deliveries_by_run ON deliveries(target, run_key, id)"
    "  WHERE run_key IS NOT NULL;"
    "CREATE TABLE run_messages ("
    "  target TEXT NOT NULL, run_key TEXT NOT NULL, service_ref TEXT NOT NULL,"
    "  first_delivery_id BIGINT NOT NULL, updated_at BIGINT NOT NULL,"
    "  PRIMARY KEY (target, run_key));",
    /* v4: ordered delivery, as SQLite's v9 (store/sqlite.c). */
    "ALTER TABLE deliveries ADD COLUMN order_key TEXT;"
    "ALTER TABLE deliveries ADD COLUMN latest_wins BOOLEAN NOT NULL DEFAULT false;"
    "CREATE INDEX deliveries_by_key ON deliveries(target, order_key, id)"
    "  WHERE order_key IS NOT NULL AND state IN ('pending', 'retrying');",
    /* v5: the dashboard's filters and an attempt's request headers, as
     * SQLite's v10 (store/sqlite.c says why these indexes). */
    "CREATE INDEX events_by_time ON events(received_at);"
    "CREATE INDEX events_by_transition ON events(transition, id)"
    "  WHERE transition = 'broken' OR transition = 'fixed' OR transition = 'failed'"
    "  OR transition = 'still_failing' OR transition = 'failing'"
    "  OR transition = 'cancelled' OR transition = 'unknown';"
    "CREATE INDEX deliveries_by_time ON deliveries(created_at);"
    "ALTER TABLE attempts ADD COLUMN request_headers TEXT;",
    /* v6: each target's health, as on SQLite (its v11). */
    "CREATE TABLE target_health ("
    "  target TEXT PRIMARY KEY, state TEXT NOT NULL,"
    "  paused INT NOT NULL DEFAULT 0,"
    "  consecutive_failures BIGINT NOT NULL DEFAULT 0,"
    "  failing_since BIGINT NOT NULL DEFAULT 0, last_success_at BIGINT NOT NULL DEFAULT 0,"
    "  last_failure_at BIGINT NOT NULL DEFAULT 0, opened_at BIGINT NOT NULL DEFAULT 0,"
    "  next_probe_at BIGINT NOT NULL DEFAULT 0, probe_interval_ms BIGINT NOT NULL DEFAULT 0,"
    "  updated_at BIGINT NOT NULL, version BIGINT NOT NULL DEFAULT 0,"
    "  last_error TEXT, disabled_reason TEXT);",
    /* v7: what a delivery reports on, as SQLite's v12 (store/sqlite.c). */
    "ALTER TABLE deliveries ADD COLUMN subject TEXT;",
    /* v8: a revision's request body is its event's (events.raw, the very
     * same bytes, kept as long as the revision: retention keeps an event
     * with a revision); the copy in revisions goes. */
    "ALTER TABLE revisions DROP COLUMN IF EXISTS raw;",
    /* v9: the indexes of flat reads, as SQLite's v13 (store/sqlite.c says
     * why each). */
    HR_STORE_FLAT_INDEXES,
    /* v10: a GoCD event's document is derived from its raw body on read,
     * as SQLite's v14 (store/event_doc.h). */
    "ALTER TABLE events ALTER COLUMN doc DROP NOT NULL;",
    /* v11: the text of keys and filters compared byte by byte (COLLATE
     * "C"), as SQLite's BINARY does: one order on both engines, whatever
     * the database's locale, and every index entry compared with memcmp
     * rather than the locale's strcoll (bench/README.md measures it). The
     * tables are not rewritten; their indexes are rebuilt. */
    "ALTER TABLE events ALTER COLUMN source TYPE TEXT COLLATE \"C\","
    "  ALTER COLUMN kind TYPE TEXT COLLATE \"C\", ALTER COLUMN pipeline TYPE TEXT COLLATE \"C\","
    "  ALTER COLUMN stage TYPE TEXT COLLATE \"C\", ALTER COLUMN result TYPE TEXT COLLATE \"C\","
    "  ALTER COLUMN transition TYPE TEXT COLLATE \"C\","
    "  ALTER COLUMN request_id TYPE TEXT COLLATE \"C\";"
    "ALTER TABLE stage_state ALTER COLUMN pipeline TYPE TEXT COLLATE \"C\","
    "  ALTER COLUMN stage TYPE TEXT COLLATE \"C\", ALTER COLUMN last_result TYPE TEXT COLLATE "
    "\"C\";"
    "ALTER TABLE job_state ALTER COLUMN source TYPE TEXT COLLATE \"C\","
    "  ALTER COLUMN job TYPE TEXT COLLATE \"C\", ALTER COLUMN branch TYPE TEXT COLLATE \"C\","
    "  ALTER COLUMN last_result TYPE TEXT COLLATE \"C\";"
    "ALTER TABLE deliveries ALTER COLUMN target TYPE TEXT COLLATE \"C\","
    "  ALTER COLUMN state TYPE TEXT COLLATE \"C\", ALTER COLUMN run_key TYPE TEXT COLLATE \"C\","
    "  ALTER COLUMN order_key TYPE TEXT COLLATE \"C\";"
    "ALTER TABLE run_messages ALTER COLUMN target TYPE TEXT COLLATE \"C\","
    "  ALTER COLUMN run_key TYPE TEXT COLLATE \"C\";"
    "ALTER TABLE packages ALTER COLUMN repository TYPE TEXT COLLATE \"C\","
    "  ALTER COLUMN package TYPE TEXT COLLATE \"C\";"
    "ALTER TABLE revisions ALTER COLUMN repository TYPE TEXT COLLATE \"C\","
    "  ALTER COLUMN package TYPE TEXT COLLATE \"C\", ALTER COLUMN revision TYPE TEXT COLLATE \"C\";"
    "ALTER TABLE target_health ALTER COLUMN target TYPE TEXT COLLATE \"C\";",
    /* v12: a history row's last event is no longer a foreign key. Its
     * check ran for every row a batch writes (a query, and a lock written
     * on the event the batch had just inserted, each with its WAL), and
     * ON DELETE SET NULL scanned the whole table for every event
     * retention deleted (last_event_id has no index). Retention now clears
     * them itself, once per chunk (pg_write.c's prune_ids). */
    "ALTER TABLE stage_state DROP CONSTRAINT IF EXISTS stage_state_last_event_id_fkey;"
    "ALTER TABLE job_state DROP CONSTRAINT IF EXISTS job_state_last_event_id_fkey;",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* The writer's statements, prepared on each new writer connection. */
static const struct {
    const char *name, *sql;
} writer_sql[] = {
    {"request_get", "SELECT id, transition, request_digest FROM events WHERE request_id = $1"},
    {"health_get", hr_pg__health_get_sql},
    {"health_put", hr_pg__health_put_sql},
    {"revision_get", "SELECT r.event_id, e.raw, r.timestamp, r.published_at FROM revisions r"
                     " JOIN events e ON e.id = r.event_id"
                     " WHERE r.repository = $1 AND r.package = $2 AND r.revision = $3"},
    /* The history row is created, locked and read by one statement (an
     * upsert whose update changes nothing), so that two instances deciding
     * transitions of one stage (or job) take turns: the second waits for
     * the first's commit and then reads what it wrote. */
    {"stage_lock",
     "INSERT INTO stage_state (pipeline, stage, updated_at) VALUES ($1, $2, 0)"
     " ON CONFLICT (pipeline, stage) DO UPDATE SET updated_at = stage_state.updated_at"
     " RETURNING last_result"},
    {"job_lock",
     "INSERT INTO job_state (source, job, branch, updated_at) VALUES ($1, $2, $3, 0)"
     " ON CONFLICT (source, job, branch) DO UPDATE SET updated_at = job_state.updated_at"
     " RETURNING last_result, last_number, prev_result"},
    /* A batch's history rows (pg_batch.c): $1.. are text arrays of the
     * keys' parts, in the order the rows are to be locked. The upsert
     * creates the missing rows and locks the others without writing them
     * (ON CONFLICT DO UPDATE locks the row it meets before its WHERE, which
     * here holds for none: no new version of the row, no dead one); the
     * read that follows in the same pipeline runs once the locks are held,
     * so it sees what the last holder committed. */
    {"stages_lock",
     "INSERT INTO stage_state (pipeline, stage, updated_at)"
     " SELECT k.p, k.s, 0 FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(p, s, n)"
     " ORDER BY k.n"
     " ON CONFLICT (pipeline, stage) DO UPDATE SET updated_at = stage_state.updated_at"
     " WHERE false"},
    /* Each key looked up by its primary key: LIMIT 1 keeps the planner
     * from a join that reads the whole table (a hash join over a
     * sequential scan of every stage, which it chose for a prepared plan). */
    {"stages_read",
     "SELECT t.pipeline, t.stage, t.last_result FROM unnest($1::text[], $2::text[]) AS k(p, s)"
     " CROSS JOIN LATERAL (SELECT pipeline, stage, last_result FROM stage_state"
     " WHERE pipeline = k.p AND stage = k.s LIMIT 1) t"},
    {"jobs_lock",
     "INSERT INTO job_state (source, job, branch, updated_at)"
     " SELECT k.s, k.j, k.b, 0 FROM unnest($1::text[], $2::text[], $3::text[])"
     " WITH ORDINALITY AS k(s, j, b, n) ORDER BY k.n"
     " ON CONFLICT (source, job, branch) DO UPDATE SET updated_at = job_state.updated_at"
     " WHERE false"},
    {"jobs_read",
     "SELECT t.source, t.job, t.branch, t.last_result, t.last_number, t.prev_result"
     " FROM unnest($1::text[], $2::text[], $3::text[]) AS k(s, j, b) CROSS JOIN LATERAL"
     " (SELECT source, job, branch, last_result, last_number, prev_result FROM job_state"
     " WHERE source = k.s AND job = k.j AND branch = k.b LIMIT 1) t"},
    /* A batch's event ids, taken at its start, so that its events'
     * INSERT (one for the batch, pg_batch.c) need not be waited for. The
     * sequence is named (BIGSERIAL's name for it), so that it is looked up
     * once, when the statement is prepared, not once per row. */
    {"event_ids", "SELECT nextval('events_id_seq') FROM generate_series(1, $1::int)"},
    /* A batch's rows, each column an array ($1.. in the columns' order, one
     * element per row; pg_batch.c): one statement for any number of rows,
     * parsed and planned once per connection. The events carry the ids
     * taken at the batch's start; the deliveries take theirs in the
     * arrays' order. */
    {"events_insert",
     "INSERT INTO events (received_at, source, kind, version, pipeline, pipeline_counter, stage,"
     " stage_counter, state, result, transition, doc, raw, request_id, warnings, request_digest,"
     " id) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],"
     " $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],"
     " $13::bytea[], $14::text[], $15::bigint[], $16::bytea[], $17::bigint[])"},
    {"deliveries_insert",
     "INSERT INTO deliveries (event_id, route, target, state, next_at, created_at, updated_at,"
     " run_key, order_key, latest_wins, subject)"
     " SELECT r.e, r.r, r.t, 'pending', r.n, r.c, r.u, r.k, r.o, r.l, r.s"
     " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[],"
     " $6::bigint[], $7::text[], $8::text[], $9::boolean[], $10::text[])"
     " WITH ORDINALITY AS r(e, r, t, n, c, u, k, o, l, s, i) ORDER BY r.i"},
    /* As stage_upsert and job_upsert, for a batch's held rows (distinct
     * keys, locked at its start). */
    {"stages_save",
     "INSERT INTO stage_state (pipeline, stage, last_result, last_state, last_counter,"
     " last_event_id, updated_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[],"
     " $4::text[], $5::text[], $6::bigint[], $7::bigint[])"
     " ON CONFLICT (pipeline, stage) DO UPDATE SET"
     " last_result = coalesce(excluded.last_result, stage_state.last_result),"
     " last_state = excluded.last_state, last_counter = excluded.last_counter,"
     " last_event_id = excluded.last_event_id, updated_at = excluded.updated_at"},
    {"jobs_save",
     "INSERT INTO job_state (source, job, branch, last_result, last_number, prev_result,"
     " last_phase, last_status, last_event_id, updated_at)"
     " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],"
     " $6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[])"
     " ON CONFLICT (source, job, branch) DO UPDATE SET"
     " last_result = excluded.last_result, last_number = excluded.last_number,"
     " prev_result = excluded.prev_result, last_phase = excluded.last_phase,"
     " last_status = excluded.last_status, last_event_id = excluded.last_event_id,"
     " updated_at = excluded.updated_at"},
    {"event_insert",
     "INSERT INTO events (received_at, source, kind, version, pipeline, pipeline_counter, stage,"
     " stage_counter, state, result, transition, doc, raw, request_id, warnings, request_digest)"
     " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
     " RETURNING id"},
    {"stage_upsert",
     "INSERT INTO stage_state (pipeline, stage, last_result, last_state, last_counter,"
     " last_event_id, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
     " ON CONFLICT (pipeline, stage) DO UPDATE SET"
     " last_result = coalesce(excluded.last_result, stage_state.last_result),"
     " last_state = excluded.last_state, last_counter = excluded.last_counter,"
     " last_event_id = excluded.last_event_id, updated_at = excluded.updated_at"},
    {"job_upsert",
     "INSERT INTO job_state (source, job, branch, last_result, last_number, prev_result,"
     " last_phase, last_status, last_event_id, updated_at)"
     " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
     " ON CONFLICT (source, job, branch) DO UPDATE SET"
     " last_result = excluded.last_result, last_number = excluded.last_number,"
     " prev_result = excluded.prev_result, last_phase = excluded.last_phase,"
     " last_status = excluded.last_status, last_event_id = excluded.last_event_id,"
     " updated_at = excluded.updated_at"},
    {"package_upsert", "INSERT INTO packages (repository, package, created_at)"
                       " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"},
    {"revision_insert",
     "INSERT INTO revisions (repository, package, revision, timestamp, published_at, event_id,"
     " doc) VALUES ($1, $2, $3, $4, $5, $6, $7)"},
    {"delivery_insert", "INSERT INTO deliveries (event_id, route, target, state, next_at,"
                        " created_at, updated_at, run_key, order_key, latest_wins, subject)"
                        " VALUES ($1, $2, $3, 'pending', $4, $4, $4, $5, $6, $7, $8)"
                        " RETURNING id"},
    /* An ordered delivery is created under a transaction-scoped advisory
     * lock on its (target, key): instances that accept events of one key at
     * once take turns, so a key's ids grow in commit order and the claim
     * never sees a newer delivery of a key before an older one commits. */
    {"delivery_key_lock",
     "SELECT pg_advisory_xact_lock(hashtextextended($1::text || '/' || $2::text, 15))"},
    /* As SQLite's ST_SUPERSEDE_DUE (store/sqlite_write.c). */
    {"delivery_supersede_due",
     "UPDATE deliveries SET next_at = $4 WHERE target = $1 AND order_key = $2 AND id < $3"
     " AND order_key IS NOT NULL AND state IN ('pending', 'retrying') AND next_at > $4"},
    /* Only while the attempt's claim is the delivery's latest (fencing);
     * the lease ends with the record. A retry is due at $4, unless a newer
     * delivery with its key waits (latest_wins): then at once, for the
     * claim to supersede it. */
    {"delivery_update",
     "UPDATE deliveries SET state = $2, attempts = greatest(attempts, $3),"
     " next_at = CASE WHEN $2 = 'retrying' AND latest_wins AND EXISTS"
     "   (SELECT 1 FROM deliveries n WHERE n.target = deliveries.target"
     "   AND n.order_key = deliveries.order_key AND n.id > deliveries.id"
     "   AND n.state IN ('pending', 'retrying')) THEN $5::bigint ELSE $4::bigint END,"
     " updated_at = $5, last_status = $6, last_error = $7, lease_until = 0,"
     " service_ref = coalesce($9, service_ref) WHERE id = $1 AND claim_token = $8"
     " AND state <> 'dropped'"},
    /* The run's first message stays the run's (as on SQLite). */
    {"run_message_save", "INSERT INTO run_messages (target, run_key, service_ref,"
                         " first_delivery_id, updated_at)"
                         " SELECT target, run_key, $2, id, $3 FROM deliveries"
                         " WHERE id = $1 AND run_key IS NOT NULL"
                         " ON CONFLICT (target, run_key) DO UPDATE SET"
                         " updated_at = excluded.updated_at"},
    /* Never sent: the state and why, under the same fencing. */
    {"delivery_supersede",
     "UPDATE deliveries SET state = 'superseded', next_at = 0, updated_at = $2,"
     " last_error = $3, lease_until = 0 WHERE id = $1 AND claim_token = $4"
     " AND state IN ('pending', 'retrying')"},
    {"attempt_insert", "INSERT INTO attempts (delivery_id, attempt, started_at, latency_ms,"
                       " status, outcome, error, excerpt, request_headers)"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"},
};
#define NSTMT (sizeof(writer_sql) / sizeof(writer_sql[0]))

/* ---- Parameters and errors ---------------------------------------------- */

void hr_pg__str(hr_pg_params *p, const char *s)
{
    p->v[p->n] = s;
    p->len[p->n] = 0;
    p->fmt[p->n] = 0;
    p->n++;
}

void hr_pg__int(hr_pg_params *p, int64_t v)
{
    snprintf(p->num[p->n], sizeof(p->num[p->n]), "%lld", (long long)v);
    hr_pg__str(p, p->num[p->n]);
}

void hr_pg__bin(hr_pg_params *p, const void *b, size_t len)
{
    p->v[p->n] = b;
    p->len[p->n] = (int)len;
    p->fmt[p->n] = b != NULL;
    p->n++;
}

int hr_pg__error(PGconn *c, const PGresult *res, const char *doing, hr_error *err)
{
    const char *msg = res != NULL ? PQresultErrorMessage(res) : "";
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char clean[400];
    size_t n = 0;
    /* The connection may still look fine when the server's goodbye
     * (57P01 at a shutdown, 57P02 at a crash) or a broken
     * link (class 08) arrives as a statement's result, in pipeline mode
     * above all: those say PostgreSQL is going away too. */
    int down = c == NULL || PQstatus(c) != CONNECTION_OK ||
               (state != NULL && (strncmp(state, "57P", 3) == 0 || strncmp(state, "08", 2) == 0));

    if (msg == NULL || *msg == '\0')
        msg = c != NULL ? PQerrorMessage(c) : "no connection";
    /* One line: libpq ends its messages with a newline, some have two. */
    for (; *msg != '\0' && n + 1 < sizeof(clean); msg++)
        clean[n++] = *msg == '\n' || *msg == '\r' ? ' ' : *msg;
    while (n > 0 && clean[n - 1] == ' ')
        n--;
    clean[n] = '\0';
    return hr_error_set(err, HR_ESTORE, "store: cannot %s: %s%s", doing, clean,
                        down ? " (PostgreSQL is unreachable; herald reconnects by itself)" : "");
}

static int check(PGconn *c, PGresult *res, PGresult **out, const char *doing, hr_error *err)
{
    ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int ret = hr_pg__error(c, res, doing, err);
        PQclear(res);
        return ret;
    }
    if (out != NULL)
        *out = res;
    else
        PQclear(res);
    return HR_OK;
}

int hr_pg__exec(PGconn *c, const char *sql, const hr_pg_params *p, PGresult **out,
                const char *doing, hr_error *err)
{
    /* Without parameters sql may hold several statements (a migration). */
    if (p == NULL)
        return check(c, PQexec(c, sql), out, doing, err);
    return check(c, PQexecParams(c, sql, p->n, NULL, p->v, p->len, p->fmt, 0), out, doing, err);
}

int hr_pg__exec_prepared(PGconn *c, const char *name, const hr_pg_params *p, PGresult **out,
                         const char *doing, hr_error *err)
{
    return check(c, PQexecPrepared(c, name, p->n, p->v, p->len, p->fmt, 0), out, doing, err);
}

const char *hr_pg__col_str(hr_rows *r, const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    return hr_rows_str(r, PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
}

int64_t hr_pg__col_int(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return HR_ROW_NULL;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

const char *hr_pg__col_bytea(hr_rows *r, const PGresult *res, int row, int col, size_t *len)
{
    unsigned char *b;
    const char *copy;
    *len = 0;
    if (PQgetisnull(res, row, col))
        return NULL;
    b = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, col), len);
    if (b == NULL)
        hr_oom(PQgetlength(res, row, col));
    copy = hr_rows_str(r, (const char *)b, *len);
    PQfreemem(b);
    return copy;
}

/* ---- Connections and the schema ------------------------------------------ */

/* PostgreSQL's notices ("relation already exists, skipping") are not
 * herald's to print. */
static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/*
 * Every connection gives up connecting after HR_PG_CONNECT_TIMEOUT_S (a
 * server that accepts and never answers, an address that drops packets)
 * and has TCP keepalives and a TCP user timeout, so that a server that
 * vanished mid-statement (a host or a network gone) is found within about
 * HR_PG_TCP_TIMEOUT_S instead of never. The URI's own settings win: it is
 * read last.
 */
int hr_pg__connect(const char *uri, PGconn **out, hr_error *err)
{
    char timeout[16], idle[16], interval[16], user_ms[24];
    const char *keys[] = {
        "connect_timeout",  "keepalives",       "keepalives_idle", "keepalives_interval",
        "keepalives_count", "tcp_user_timeout", "dbname",          NULL};
    const char *values[] = {timeout, "1", idle, interval, "3", user_ms, uri, NULL};
    PGconn *c;

    snprintf(timeout, sizeof(timeout), "%d", HR_PG_CONNECT_TIMEOUT_S);
    snprintf(idle, sizeof(idle), "%d", HR_PG_TCP_TIMEOUT_S / 3);
    snprintf(interval, sizeof(interval), "%d", HR_PG_TCP_TIMEOUT_S / 9);
    snprintf(user_ms, sizeof(user_ms), "%d", HR_PG_TCP_TIMEOUT_S * 1000);
    c = PQconnectdbParams(keys, values, 1);
    if (c == NULL)
        hr_oom(sizeof(void *));
    if (PQstatus(c) != CONNECTION_OK) {
        int ret = hr_pg__error(c, NULL, "connect to PostgreSQL", err);
        PQfinish(c);
        return ret;
    }
    PQsetNoticeProcessor(c, quiet, NULL);
    *out = c;
    return HR_OK;
}

/* Sets up a new writer connection: its statements prepared, and lz4 for
 * the values it writes that PostgreSQL compresses (an event's doc and raw
 * over about 2 KB): less of the server's CPU than pglz, the default. A
 * server without lz4 (or older than 14) keeps its default; rows
 * compressed either way read the same. */
static int prepare(PGconn *c, hr_error *err)
{
    PQclear(PQexec(c, "SET default_toast_compression = lz4"));
    for (size_t i = 0; i < NSTMT; i++) {
        int ret = check(c, PQprepare(c, writer_sql[i].name, writer_sql[i].sql, 0, NULL), NULL,
                        "prepare the writer's statements", err);
        if (ret != HR_OK)
            return ret;
    }
    return HR_OK;
}

/* Creates or migrates the schema, once among every herald starting at the
 * same time: they wait for each other on an advisory lock. */
static int migrate(hr_pg *g, hr_error *err)
{
    PGresult *res = NULL;
    int version, ret;

    ret = hr_pg__exec(g->w, "SELECT pg_advisory_lock(" SCHEMA_LOCK ")", NULL, NULL,
                      "lock the schema", err);
    if (ret != HR_OK)
        return ret;
    ret = hr_pg__exec(g->w,
                      "CREATE TABLE IF NOT EXISTS herald_schema (version INT NOT NULL);"
                      "INSERT INTO herald_schema SELECT 0 WHERE NOT EXISTS"
                      " (SELECT 1 FROM herald_schema)",
                      NULL, NULL, "create the schema table", err);
    if (ret == HR_OK)
        ret = hr_pg__exec(g->w, "SELECT version FROM herald_schema", NULL, &res,
                          "read the schema version", err);
    if (ret != HR_OK)
        goto out;
    version = PQntuples(res) > 0 ? (int)strtol(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    if (version > SCHEMA_VERSION) {
        ret = hr_error_set(err, HR_ESTORE,
                           "store: %s has schema version %d, newer than this herald knows (%d); "
                           "run a newer herald on it",
                           g->where, version, SCHEMA_VERSION);
        goto out;
    }
    for (; version < SCHEMA_VERSION && ret == HR_OK; version++) {
        hr_pg_params p = {0};
        char doing[64];
        snprintf(doing, sizeof(doing), "migrate the schema to version %d", version + 1);
        hr_pg__int(&p, version + 1);
        ret = hr_pg__exec(g->w, "BEGIN", NULL, NULL, doing, err);
        if (ret == HR_OK)
            ret = hr_pg__exec(g->w, migrations[version], NULL, NULL, doing, err);
        if (ret == HR_OK)
            ret = hr_pg__exec(g->w, "UPDATE herald_schema SET version = $1", &p, NULL, doing, err);
        if (ret == HR_OK)
            ret = hr_pg__exec(g->w, "COMMIT", NULL, NULL, doing, err);
        if (ret != HR_OK)
            PQclear(PQexec(g->w, "ROLLBACK"));
        else
            hr_log_info(SUB, "migrated %s to schema version %d", g->where, version + 1);
    }
out:
    PQclear(res);
    PQclear(PQexec(g->w, "SELECT pg_advisory_unlock(" SCHEMA_LOCK ")"));
    return ret;
}

/* Says which database, for logs, without the URI (it may hold a password). */
static void describe(hr_pg *g)
{
    snprintf(g->where, sizeof(g->where), "postgresql database %s on %s:%s", PQdb(g->w),
             PQhost(g->w), PQport(g->w));
}

static void pg_close(void *db)
{
    hr_pg *g = db;
    if (g == NULL)
        return;
    hr_pg__unwatch(g);
    hr_pg__close_readers(g);
    hr_pg__close_claims(g);
    PQfinish(g->w);
    free(g->uri);
    free(g);
}

static int pg_open(const hr_store_options *opt, void **db, const char **where, hr_error *err)
{
    int readers = opt->readers == 0 ? DEFAULT_READERS : opt->readers;
    hr_pg *g;
    int ret;

    if (readers < 1 || readers > MAX_READERS)
        return hr_error_set(err, HR_EINVAL, "store: readers must be from 1 to %d; got %d",
                            MAX_READERS, opt->readers);
    g = hr_calloc(1, sizeof(*g));
    g->uri = hr_strdup(opt->uri);
    /* This instance's name in leader rows: unique among live instances. */
    snprintf(g->instance, sizeof(g->instance), "%ld-%lld-%lld", (long)getpid(),
             (long long)hr_time_now_ms(), (long long)hr_time_mono_us());
    ret = hr_pg__connect(g->uri, &g->w, err);
    if (ret == HR_OK) {
        describe(g);
        ret = migrate(g, err);
    }
    if (ret == HR_OK)
        ret = prepare(g->w, err);
    if (ret == HR_OK)
        ret = hr_pg__open_readers(g, readers, err);
    if (ret == HR_OK)
        ret = hr_pg__open_claims(g, err);
    if (ret != HR_OK) {
        pg_close(g);
        return ret;
    }
    hr_log_info(SUB, "opened %s (schema version %d, %d read connections)", g->where, SCHEMA_VERSION,
                readers);
    *db = g;
    *where = g->where;
    return HR_OK;
}

/* ---- Transactions ------------------------------------------------------- */

/*
 * A writer connection that broke (PostgreSQL restarted, a failover) is
 * opened again here, at the start of the next batch, no sooner than the
 * backoff allows; until it works, every batch fails and says why.
 */
static int writer_ready(hr_pg *g, hr_error *err)
{
    int64_t now = hr_time_mono_us() / 1000;
    PGconn *c = NULL;
    int ret;

    if (g->w != NULL && PQstatus(g->w) == CONNECTION_OK)
        return HR_OK;
    if (now < g->w_retry_at)
        return hr_error_set(err, HR_ESTORE,
                            "store: PostgreSQL is unreachable; herald reconnects by itself");
    ret = hr_pg__connect(g->uri, &c, err);
    if (ret == HR_OK)
        ret = prepare(c, err);
    if (ret != HR_OK) {
        PQfinish(c);
        g->w_backoff_ms = g->w_backoff_ms == 0 ? RECONNECT_MIN_MS : g->w_backoff_ms * 2;
        if (g->w_backoff_ms > RECONNECT_MAX_MS)
            g->w_backoff_ms = RECONNECT_MAX_MS;
        g->w_retry_at = now + g->w_backoff_ms;
        return ret;
    }
    PQfinish(g->w);
    g->w = c;
    g->w_backoff_ms = 0;
    hr_log_info(SUB, "connected to %s again", g->where);
    return HR_OK;
}

static int pg_begin(void *db, int bulk, hr_error *err)
{
    hr_pg *g = db;
    int ret = writer_ready(g, err);
    (void)bulk;
    if (ret == HR_OK)
        ret = hr_pg__exec(g->w, "BEGIN", NULL, NULL, "begin a transaction", err);
    return ret;
}

/* The writer's pipelined transaction (pg_pipe.c): no savepoint per item. */
static int pg_begin_piped(void *db, const hr_event *const *events, size_t nevents, hr_error *err)
{
    hr_pg *g = db;
    int ret = writer_ready(g, err);
    if (ret == HR_OK)
        ret = hr_pg__pipe_begin(g, events, nevents, err);
    return ret;
}

static int pg_commit(void *db, hr_error *err)
{
    hr_pg *g = db;
    if (g->piped)
        return hr_pg__pipe_commit(g, err);
    return hr_pg__exec(g->w, "COMMIT", NULL, NULL, "commit", err);
}

static void pg_rollback(void *db)
{
    hr_pg *g = db;
    hr_pg__pipe_abort(g);
    if (g->w != NULL && PQtransactionStatus(g->w) != PQTRANS_IDLE &&
        PQstatus(g->w) == CONNECTION_OK)
        PQclear(PQexec(g->w, "ROLLBACK"));
}

static int pg_redo(void *db)
{
    return hr_pg__pipe_redo(db);
}

/* Savepoints: in a pipelined transaction (the health updates at a batch's
 * end) they are sent ahead like any statement. */
static int pg_item_begin(void *db, hr_error *err)
{
    hr_pg *g = db;
    return hr_pg__wsend(g, NULL, "SAVEPOINT item", NULL, "start a savepoint", err);
}

static int pg_item_end(void *db, int ok, hr_error *err)
{
    hr_pg *g = db;
    if (!ok && hr_pg__wsend(g, NULL, "ROLLBACK TO SAVEPOINT item", NULL, "undo a failed event",
                            err) != HR_OK)
        return err->code;
    return hr_pg__wsend(g, NULL, "RELEASE SAVEPOINT item", NULL, "release a savepoint", err);
}

/* The transaction is lost when the connection is, or it ended, or (in a
 * pipelined one) a statement failed. */
static int pg_lost(void *db)
{
    hr_pg *g = db;
    PGTransactionStatusType t = PQtransactionStatus(g->w);
    if (g->piped)
        return PQstatus(g->w) != CONNECTION_OK || g->pipe_failed;
    return PQstatus(g->w) != CONNECTION_OK || t == PQTRANS_IDLE || t == PQTRANS_UNKNOWN;
}

const hr_store_engine hr_store__pg = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .begin = pg_begin,
    .begin_piped = pg_begin_piped,
    .redo = pg_redo,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .item_begin = pg_item_begin,
    .item_end = pg_item_end,
    .lost = pg_lost,
    .find_request = hr_pg__find_request,
    .find_revision = hr_pg__find_revision,
    .stage_last_result = hr_pg__stage_last_result,
    .job_history = hr_pg__job_history,
    .insert_event = hr_pg__insert_event,
    .save_stage = hr_pg__save_stage,
    .save_job = hr_pg__save_job,
    .save_revision = hr_pg__save_revision,
    .insert_delivery = hr_pg__insert_delivery,
    .save_attempt = hr_pg__save_attempt,
    .reset = hr_pg__reset,
    .save_settings = hr_pg__save_settings,
    .prune = hr_pg__prune,
    .list_events = hr_pg__list_events,
    .get_event = hr_pg__get_event,
    .list_stages = hr_pg__list_stages,
    .list_jobs = hr_pg__list_jobs,
    .get_settings = hr_pg__get_settings,
    .list_deliveries = hr_pg__list_deliveries,
    .target_health = hr_pg__target_health,
    .list_revisions = hr_pg__list_revisions,
    .list_packages = hr_pg__list_packages,
    .lead = hr_pg__lead,
    .claim = hr_pg__claim,
    .unclaim = hr_pg__unclaim,
    .get_health = hr_pg__get_health,
    .put_health = hr_pg__put_health,
    .held = hr_pg__held,
    .list_health = hr_pg__list_health,
    .announce = hr_pg__announce,
    .watch = hr_pg__watch,
};
