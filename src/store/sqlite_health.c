/*
 * sqlite_health.c - the SQLite engine's statements for targets' health
 * (event/health.h): one row per target in target_health, read and written
 * by the writer in the attempt's transaction, listed by the readers; and
 * the held deliveries a target has (counted, or made due again at once
 * when its circuit closes or an operator releases it).
 *
 * A target's row is read and written with every attempt: those two
 * statements are the writer's, prepared once at open; the held
 * deliveries' run only when a target's state changes, prepared then.
 */
#include "store/sqlite.h"

#include "event/health.h"

#include <stdio.h>
#include <string.h>

#define HEALTH_COLS                                                                                \
    "target, state, paused, consecutive_failures, failing_since, last_success_at,"                 \
    " last_failure_at, opened_at, next_probe_at, probe_interval_ms, updated_at, version,"          \
    " last_error, disabled_reason"

static void copy_text(char *dst, size_t size, const unsigned char *src)
{
    snprintf(dst, size, "%s", src != NULL ? (const char *)src : "");
}

static void health_cols(sqlite3_stmt *st, hr_target_health *h)
{
    int state = hr_health_state_from_name((const char *)sqlite3_column_text(st, 1));
    copy_text(h->target, sizeof(h->target), sqlite3_column_text(st, 0));
    h->state = state < 0 ? HR_HEALTH_HEALTHY : (hr_health_state)state;
    h->paused = sqlite3_column_int(st, 2) != 0;
    h->consecutive_failures = sqlite3_column_int64(st, 3);
    h->failing_since = sqlite3_column_int64(st, 4);
    h->last_success_at = sqlite3_column_int64(st, 5);
    h->last_failure_at = sqlite3_column_int64(st, 6);
    h->opened_at = sqlite3_column_int64(st, 7);
    h->next_probe_at = sqlite3_column_int64(st, 8);
    h->probe_interval_ms = sqlite3_column_int64(st, 9);
    h->updated_at = sqlite3_column_int64(st, 10);
    h->version = sqlite3_column_int64(st, 11);
    copy_text(h->last_error, sizeof(h->last_error), sqlite3_column_text(st, 12));
    copy_text(h->disabled_reason, sizeof(h->disabled_reason), sqlite3_column_text(st, 13));
}

const char hr_sqlite__health_get_sql[] =
    "SELECT " HEALTH_COLS " FROM target_health WHERE target = ?1";
const char hr_sqlite__health_put_sql[] =
    "INSERT OR REPLACE INTO target_health (" HEALTH_COLS ")"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

int hr_sqlite__get_health(void *db, const char *target, hr_target_health *h, int *found,
                          hr_error *err)
{
    hr_sqlite *s = db;
    sqlite3_stmt *st = s->st[ST_HEALTH_GET];
    int rc, ret = HR_OK;

    *found = 0;
    hr_health_init(h, target);
    hr_sqlite__bind_str(st, 1, target);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        health_cols(st, h);
        *found = 1;
    } else if (rc != SQLITE_DONE) {
        ret = hr_sqlite__error(s->wdb, rc, "read a target's health", err);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

int hr_sqlite__put_health(void *db, const hr_target_health *h, hr_error *err)
{
    hr_sqlite *s = db;
    sqlite3_stmt *st = s->st[ST_HEALTH_PUT];

    hr_sqlite__bind_str(st, 1, h->target);
    hr_sqlite__bind_str(st, 2, hr_health_state_name(h->state));
    sqlite3_bind_int(st, 3, h->paused ? 1 : 0);
    sqlite3_bind_int64(st, 4, h->consecutive_failures);
    sqlite3_bind_int64(st, 5, h->failing_since);
    sqlite3_bind_int64(st, 6, h->last_success_at);
    sqlite3_bind_int64(st, 7, h->last_failure_at);
    sqlite3_bind_int64(st, 8, h->opened_at);
    sqlite3_bind_int64(st, 9, h->next_probe_at);
    sqlite3_bind_int64(st, 10, h->probe_interval_ms);
    sqlite3_bind_int64(st, 11, h->updated_at);
    sqlite3_bind_int64(st, 12, h->version);
    hr_sqlite__bind_str(st, 13, h->last_error[0] != '\0' ? h->last_error : NULL);
    hr_sqlite__bind_str(st, 14, h->disabled_reason[0] != '\0' ? h->disabled_reason : NULL);
    return hr_sqlite__run(s->wdb, st, "save a target's health", err);
}

/* The target's held deliveries (pending or retrying): counted, and with
 * release made due at now, so that they go oldest first (the claim orders
 * by next_at, then id). */
int hr_sqlite__held(void *db, const char *target, int64_t now, int release, int64_t *count,
                    hr_error *err)
{
    hr_sqlite *s = db;
    sqlite3_stmt *st = NULL;
    const char *sql = release ? "UPDATE deliveries SET next_at = ?2, updated_at = ?2"
                                " WHERE target = ?1 AND state IN ('pending', 'retrying')"
                              : "SELECT count(*) FROM deliveries"
                                " WHERE target = ?1 AND state IN ('pending', 'retrying')";
    int rc = sqlite3_prepare_v2(s->wdb, sql, -1, &st, NULL);
    int ret = HR_OK;

    *count = 0;
    if (rc != SQLITE_OK)
        return hr_sqlite__error(s->wdb, rc, "look at a target's held deliveries", err);
    hr_sqlite__bind_str(st, 1, target);
    if (release)
        sqlite3_bind_int64(st, 2, now);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *count = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_DONE && release)
        *count = sqlite3_changes(s->wdb);
    else if (rc != SQLITE_DONE)
        ret = hr_sqlite__error(s->wdb, rc, "look at a target's held deliveries", err);
    sqlite3_finalize(st);
    return ret;
}

static int health_row(sqlite3 *db, hr_rows *r, sqlite3_stmt *st, hr_error *err)
{
    (void)db;
    (void)err;
    health_cols(st, hr_rows_add(r));
    return HR_OK;
}

int hr_sqlite__list_health(void *db, hr_rows *rows, hr_error *err)
{
    return hr_sqlite__claims_health(db, "SELECT " HEALTH_COLS " FROM target_health ORDER BY target",
                                    "read the targets' health", health_row, rows, err);
}
