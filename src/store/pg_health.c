/*
 * pg_health.c - the PostgreSQL engine's statements for targets' health,
 * as sqlite_health.c does them on SQLite. The writer locks a target's row
 * (FOR UPDATE) while it moves it, so instances sharing a store take turns.
 */
#include "store/pg.h"

#include "event/health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEALTH_COLS                                                                                \
    "target, state, paused, consecutive_failures, failing_since, last_success_at,"                 \
    " last_failure_at, opened_at, next_probe_at, probe_interval_ms, updated_at, version,"          \
    " last_error, disabled_reason"

static void copy_text(char *dst, size_t size, const PGresult *res, int i, int col)
{
    snprintf(dst, size, "%s", PQgetisnull(res, i, col) ? "" : PQgetvalue(res, i, col));
}

static int64_t num(const PGresult *res, int i, int col)
{
    return PQgetisnull(res, i, col) ? 0 : strtoll(PQgetvalue(res, i, col), NULL, 10);
}

static void health_cols(const PGresult *res, int i, hr_target_health *h)
{
    int state = hr_health_state_from_name(PQgetvalue(res, i, 1));
    copy_text(h->target, sizeof(h->target), res, i, 0);
    h->state = state < 0 ? HR_HEALTH_HEALTHY : (hr_health_state)state;
    h->paused = num(res, i, 2) != 0;
    h->consecutive_failures = num(res, i, 3);
    h->failing_since = num(res, i, 4);
    h->last_success_at = num(res, i, 5);
    h->last_failure_at = num(res, i, 6);
    h->opened_at = num(res, i, 7);
    h->next_probe_at = num(res, i, 8);
    h->probe_interval_ms = num(res, i, 9);
    h->updated_at = num(res, i, 10);
    h->version = num(res, i, 11);
    copy_text(h->last_error, sizeof(h->last_error), res, i, 12);
    copy_text(h->disabled_reason, sizeof(h->disabled_reason), res, i, 13);
}

const char hr_pg__health_get_sql[] =
    "SELECT " HEALTH_COLS " FROM target_health WHERE target = $1 FOR UPDATE";
const char hr_pg__health_put_sql[] =
    "INSERT INTO target_health (" HEALTH_COLS ")"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    " ON CONFLICT (target) DO UPDATE SET state = excluded.state, paused = excluded.paused,"
    " consecutive_failures = excluded.consecutive_failures,"
    " failing_since = excluded.failing_since, last_success_at = excluded.last_success_at,"
    " last_failure_at = excluded.last_failure_at, opened_at = excluded.opened_at,"
    " next_probe_at = excluded.next_probe_at, probe_interval_ms = excluded.probe_interval_ms,"
    " updated_at = excluded.updated_at, version = excluded.version,"
    " last_error = excluded.last_error, disabled_reason = excluded.disabled_reason";

int hr_pg__get_health(void *db, const char *target, hr_target_health *h, int *found, hr_error *err)
{
    hr_pg *g = db;
    hr_pg_params p = {0};
    PGresult *res;
    int ret;

    *found = 0;
    hr_health_init(h, target);
    hr_pg__str(&p, target);
    ret = hr_pg__wexec(g, "health_get", hr_pg__health_get_sql, &p, &res, "read a target's health",
                       err);
    if (ret != HR_OK)
        return ret;
    if (PQntuples(res) > 0) {
        health_cols(res, 0, h);
        *found = 1;
    }
    PQclear(res);
    return HR_OK;
}

int hr_pg__put_health(void *db, const hr_target_health *h, hr_error *err)
{
    hr_pg *g = db;
    hr_pg_params p = {0};

    hr_pg__str(&p, h->target);
    hr_pg__str(&p, hr_health_state_name(h->state));
    hr_pg__int(&p, h->paused ? 1 : 0);
    hr_pg__int(&p, h->consecutive_failures);
    hr_pg__int(&p, h->failing_since);
    hr_pg__int(&p, h->last_success_at);
    hr_pg__int(&p, h->last_failure_at);
    hr_pg__int(&p, h->opened_at);
    hr_pg__int(&p, h->next_probe_at);
    hr_pg__int(&p, h->probe_interval_ms);
    hr_pg__int(&p, h->updated_at);
    hr_pg__int(&p, h->version);
    hr_pg__str(&p, h->last_error[0] != '\0' ? h->last_error : NULL);
    hr_pg__str(&p, h->disabled_reason[0] != '\0' ? h->disabled_reason : NULL);
    return hr_pg__wsend(g, "health_put", hr_pg__health_put_sql, &p, "save a target's health", err);
}

int hr_pg__held(void *db, const char *target, int64_t now, int release, int64_t *count,
                hr_error *err)
{
    hr_pg *g = db;
    hr_pg_params p = {0};
    PGresult *res;
    int ret;

    *count = 0;
    hr_pg__str(&p, target);
    if (release)
        hr_pg__int(&p, now);
    ret = hr_pg__wexec(g, NULL,
                       release ? "UPDATE deliveries SET next_at = $2, updated_at = $2"
                                 " WHERE target = $1 AND state IN ('pending', 'retrying')"
                               : "SELECT count(*) FROM deliveries"
                                 " WHERE target = $1 AND state IN ('pending', 'retrying')",
                       &p, &res, "look at a target's held deliveries", err);
    if (ret != HR_OK)
        return ret;
    *count = release ? strtoll(PQcmdTuples(res), NULL, 10) : num(res, 0, 0);
    PQclear(res);
    return HR_OK;
}

static void health_row(hr_rows *r, const PGresult *res, int i, const void *how)
{
    health_cols(res, i, hr_rows_add(r));
}

int hr_pg__list_health(void *db, hr_rows *rows, hr_error *err)
{
    return hr_pg__read_rows(db, "SELECT " HEALTH_COLS " FROM target_health ORDER BY target", NULL,
                            "read the targets' health", health_row, rows, err);
}
