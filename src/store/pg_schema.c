/*
 * pg_schema.c - the PostgreSQL engine's schema: its versions (migrations,
 * applied once among every herald starting at the same time, under an
 * advisory lock) and the writer's statements, prepared on each new writer
 * connection. The connection and the transactions are pg.c's.
 */
#include "store/pg.h"

#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>

#define SUB "store"
/* The advisory lock every herald takes to create or migrate the schema. */
#define SCHEMA_LOCK "4851027100"

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

/* ---- Setting up ---------------------------------------------------------- */

/* Sets up a new writer connection: its statements prepared, and lz4 for
 * the values it writes that PostgreSQL compresses (an event's doc and raw
 * over about 2 KB): less of the server's CPU than pglz, the default. A
 * server without lz4 (or older than 14) keeps its default; rows
 * compressed either way read the same. */
int hr_pg__prepare(PGconn *c, hr_error *err)
{
    PQclear(PQexec(c, "SET default_toast_compression = lz4"));
    for (size_t i = 0; i < NSTMT; i++) {
        int ret = hr_pg__check(c, PQprepare(c, writer_sql[i].name, writer_sql[i].sql, 0, NULL),
                               NULL, "prepare the writer's statements", err);
        if (ret != HR_OK)
            return ret;
    }
    return HR_OK;
}

/* Creates or migrates the schema, once among every herald starting at the
 * same time: they wait for each other on an advisory lock. */
int hr_pg__migrate(hr_pg *g, hr_error *err)
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

int hr_pg__schema_version(void)
{
    return SCHEMA_VERSION;
}
