/*
 * migrate_store.c - herald migrate-store --from DIR --to URI: moves a
 * store kept in SQLite (DIR/herald.db) into an empty PostgreSQL database,
 * ids and all, so that herald serve --store URI answers as herald serve
 * --data DIR did: the same events, deliveries and their attempts, stage
 * and job state (the next transition), package revisions, GoCD's settings
 * and the request ids retried requests are recognised by.
 *
 * Both stores are opened as herald opens them first, which locks DIR (no
 * herald may serve it meanwhile) and brings both schemas to this herald's
 * version; then each table is read from SQLite row by row and streamed to
 * PostgreSQL with COPY, in chunks, all in one transaction: a migration
 * that fails leaves the database as empty as it found it. The columns
 * copied are those both engines have, so a table's columns only one
 * engine keeps (a claim's lease) take their defaults. Last, each id
 * sequence is set past the highest id SQLite ever gave, so new rows never
 * reuse one. The URI is never printed: it may hold a password.
 */
#include "cli/cli.h"

#include "core/mem.h"
#include "store/store.h"

#include <getopt.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* COPY data is sent to PostgreSQL in chunks of about this many bytes. */
#define CHUNK_BYTES (256 * 1024)

/* The tables in an order their references allow; tables that neither
 * list nor skip names (added by later schema versions) come after. */
static const char *const ordered[] = {"events",   "stage_state", "job_state",  "settings",
                                      "packages", "revisions",   "deliveries", "attempts"};
/* Per-instance state, not data: never copied. */
static const char *const skipped[] = {"herald_schema", "herald_leader"};

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        b->p = hr_realloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void puts_(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("herald migrate-store: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* PostgreSQL's message on one line. */
static const char *pg_msg(PGconn *c, const PGresult *res)
{
    static char clean[400];
    const char *m = res != NULL ? PQresultErrorMessage(res) : "";
    size_t n = 0;
    if (m == NULL || *m == '\0')
        m = PQerrorMessage(c);
    for (; *m != '\0' && n + 1 < sizeof(clean); m++)
        clean[n++] = *m == '\n' ? ' ' : *m;
    while (n > 0 && clean[n - 1] == ' ')
        n--;
    clean[n] = '\0';
    return clean;
}

/* Runs sql with up to one parameter; the result when it succeeded, else
 * NULL after saying what could not be done. */
static PGresult *pg_run(PGconn *c, const char *sql, const char *param, const char *doing)
{
    PGresult *res = PQexecParams(c, sql, param != NULL, NULL, &param, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    fail("cannot %s: %s", doing, pg_msg(c, res));
    PQclear(res);
    return NULL;
}

/* One column both engines have: its name, and whether PostgreSQL keeps it
 * as bytea (the COPY text is then hex). */
typedef struct column {
    char *name;
    int bytea;
} column;

/* The columns of table both have, in PostgreSQL's order; *n may be 0. */
static column *common_columns(sqlite3 *lite, PGconn *pg, const char *table, size_t *n)
{
    PGresult *res = pg_run(pg,
                           "SELECT column_name, data_type FROM information_schema.columns"
                           " WHERE table_schema = current_schema() AND table_name = $1"
                           " ORDER BY ordinal_position",
                           table, "read the PostgreSQL table's columns");
    column *cols;
    *n = 0;
    if (res == NULL)
        return NULL;
    cols = hr_calloc((size_t)PQntuples(res) + 1, sizeof(*cols));
    for (int i = 0; i < PQntuples(res); i++) {
        const char *name = PQgetvalue(res, i, 0);
        int found = sqlite3_table_column_metadata(lite, "main", table, name, NULL, NULL, NULL, NULL,
                                                  NULL) == SQLITE_OK;
        if (!found)
            continue;
        cols[*n].name = hr_strdup(name);
        cols[*n].bytea = strcmp(PQgetvalue(res, i, 1), "bytea") == 0;
        (*n)++;
    }
    PQclear(res);
    return cols;
}

static void free_columns(column *cols, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(cols[i].name);
    free(cols);
}

/* A quoted identifier: the names come from PostgreSQL's own catalogue,
 * quoted all the same. */
static void put_ident(buf *b, const char *name)
{
    put(b, "\"", 1);
    for (const char *c = name; *c != '\0'; c++) {
        put(b, c, 1);
        if (*c == '"')
            put(b, "\"", 1);
    }
    put(b, "\"", 1);
}

/* One value of a row in COPY's text format. */
static void put_value(buf *b, sqlite3_stmt *st, int i, int bytea)
{
    static const char hex[] = "0123456789abcdef";
    int type = sqlite3_column_type(st, i);

    if (type == SQLITE_NULL) {
        puts_(b, "\\N");
    } else if (bytea) {
        const unsigned char *p = sqlite3_column_blob(st, i);
        int n = sqlite3_column_bytes(st, i);
        puts_(b, "\\\\x");
        for (int k = 0; k < n; k++) {
            char two[2] = {hex[p[k] >> 4], hex[p[k] & 15]};
            put(b, two, 2);
        }
    } else if (type == SQLITE_INTEGER) {
        char num[24];
        snprintf(num, sizeof(num), "%" PRId64, (int64_t)sqlite3_column_int64(st, i));
        puts_(b, num);
    } else {
        const char *s = (const char *)sqlite3_column_text(st, i);
        int n = sqlite3_column_bytes(st, i);
        for (int k = 0; k < n; k++) {
            switch (s[k]) {
            case '\\':
                puts_(b, "\\\\");
                break;
            case '\n':
                puts_(b, "\\n");
                break;
            case '\r':
                puts_(b, "\\r");
                break;
            case '\t':
                puts_(b, "\\t");
                break;
            default:
                put(b, s + k, 1);
            }
        }
    }
}

static int send_chunk(PGconn *pg, buf *b, const char *table)
{
    if (b->n > 0 && PQputCopyData(pg, b->p, (int)b->n) != 1) {
        fail("cannot copy %s: %s", table, pg_msg(pg, NULL));
        return -1;
    }
    b->n = 0;
    return 0;
}

/* Copies table; *rows is how many. */
static int copy_table(sqlite3 *lite, PGconn *pg, const char *table, int64_t *rows)
{
    size_t ncols = 0;
    column *cols = common_columns(lite, pg, table, &ncols);
    buf sel = {0}, copy = {0}, data = {0};
    sqlite3_stmt *st = NULL;
    PGresult *res;
    int ret = -1, rc;

    *rows = 0;
    if (cols == NULL)
        return -1;
    if (ncols == 0) {
        ret = 0;
        goto out;
    }
    puts_(&sel, "SELECT ");
    puts_(&copy, "COPY ");
    put_ident(&copy, table);
    puts_(&copy, " (");
    for (size_t i = 0; i < ncols; i++) {
        puts_(&sel, i ? ", " : "");
        put_ident(&sel, cols[i].name);
        puts_(&copy, i ? ", " : "");
        put_ident(&copy, cols[i].name);
    }
    puts_(&sel, " FROM ");
    put_ident(&sel, table); /* in any order: ids are kept */
    puts_(&copy, ") FROM STDIN");
    put(&sel, "", 1);
    put(&copy, "", 1);
    if (sqlite3_prepare_v2(lite, sel.p, -1, &st, NULL) != SQLITE_OK) {
        fail("cannot read %s from SQLite: %s", table, sqlite3_errmsg(lite));
        goto out;
    }
    res = PQexec(pg, copy.p);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        fail("cannot copy %s: %s", table, pg_msg(pg, res));
        PQclear(res);
        goto out;
    }
    PQclear(res);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (size_t i = 0; i < ncols; i++) {
            if (i > 0)
                put(&data, "\t", 1);
            put_value(&data, st, (int)i, cols[i].bytea);
        }
        put(&data, "\n", 1);
        (*rows)++;
        if (data.n >= CHUNK_BYTES && send_chunk(pg, &data, table) != 0)
            break;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        fail("cannot read %s from SQLite: %s", table, sqlite3_errmsg(lite));
    if (rc != SQLITE_DONE || send_chunk(pg, &data, table) != 0) {
        PQputCopyEnd(pg, "herald migrate-store stopped");
        PQclear(PQgetResult(pg));
        goto out;
    }
    if (PQputCopyEnd(pg, NULL) != 1) {
        fail("cannot copy %s: %s", table, pg_msg(pg, NULL));
        goto out;
    }
    res = PQgetResult(pg);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fail("cannot copy %s: %s", table, pg_msg(pg, res));
    else
        ret = 0;
    PQclear(res);
    while ((res = PQgetResult(pg)) != NULL)
        PQclear(res);
out:
    sqlite3_finalize(st);
    free(sel.p);
    free(copy.p);
    free(data.p);
    free_columns(cols, ncols);
    return ret;
}

/* Sets table's id sequence (when it has one) past the highest id it
 * holds and the highest SQLite ever gave it (AUTOINCREMENT keeps that in
 * sqlite_sequence, deleted rows' ids included). */
static int set_sequence(sqlite3 *lite, PGconn *pg, const char *table)
{
    PGresult *res = pg_run(pg,
                           "SELECT pg_get_serial_sequence(quote_ident($1), 'id')"
                           " FROM information_schema.columns WHERE table_schema = current_schema()"
                           " AND table_name = $1 AND column_name = 'id'",
                           table, "find an id sequence");
    sqlite3_stmt *st = NULL;
    int64_t used = 0;
    char sql[256], num[24];
    int ret;

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
        PQclear(res);
        return 0;
    }
    PQclear(res);
    if (sqlite3_prepare_v2(lite, "SELECT seq FROM sqlite_sequence WHERE name = ?", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            used = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    snprintf(num, sizeof(num), "%" PRId64, used);
    /* table is a name PostgreSQL listed; quote_ident keeps it one. */
    snprintf(sql, sizeof(sql),
             "SELECT setval(pg_get_serial_sequence(quote_ident($1), 'id'),"
             " greatest((SELECT max(id) FROM \"%s\"), %s, 0) + 1, false)",
             table, num);
    res = pg_run(pg, sql, table, "set an id sequence");
    ret = res != NULL ? 0 : -1;
    PQclear(res);
    return ret;
}

static int in(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, list[i]) == 0)
            return 1;
    return 0;
}

/* The tables to copy, in order: PostgreSQL's tables that SQLite has too,
 * but the per-instance ones. *n is how many; free the array (not its
 * strings, which live in *res). */
static const char **tables(sqlite3 *lite, PGconn *pg, PGresult **res, size_t *n)
{
    const size_t nord = sizeof(ordered) / sizeof(ordered[0]);
    const char **out;
    *n = 0;
    *res = pg_run(pg,
                  "SELECT table_name FROM information_schema.tables WHERE table_schema ="
                  " current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
                  NULL, "list the PostgreSQL tables");
    if (*res == NULL)
        return NULL;
    out = hr_calloc(nord + (size_t)PQntuples(*res) + 1, sizeof(*out));
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < (pass == 0 ? nord : 1); k++) {
            for (int i = 0; i < PQntuples(*res); i++) {
                const char *t = PQgetvalue(*res, i, 0);
                int listed = in(t, ordered, nord);
                if (pass == 0 ? strcmp(t, ordered[k]) != 0 : listed)
                    continue;
                if (in(t, skipped, sizeof(skipped) / sizeof(skipped[0])) ||
                    sqlite3_table_column_metadata(lite, "main", t, NULL, NULL, NULL, NULL, NULL,
                                                  NULL) != SQLITE_OK)
                    continue;
                out[(*n)++] = t;
            }
        }
    }
    return out;
}

/* Whether any of the tables holds a row; -1 on failure. */
static int holds_data(PGconn *pg, const char **names, size_t n, char *which, size_t size)
{
    for (size_t i = 0; i < n; i++) {
        char sql[160];
        PGresult *res;
        int found;
        snprintf(sql, sizeof(sql), "SELECT EXISTS (SELECT 1 FROM \"%s\")", names[i]);
        res = pg_run(pg, sql, NULL, "look into the PostgreSQL database");
        if (res == NULL)
            return -1;
        found = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
        if (found) {
            snprintf(which, size, "%s", names[i]);
            return 1;
        }
    }
    return 0;
}

/* Copies every table in one transaction. */
static int copy_all(const char *dir, const char *uri)
{
    char path[4096], which[64], where[200];
    sqlite3 *lite = NULL;
    PGconn *pg = NULL;
    PGresult *names = NULL;
    const char **list = NULL;
    size_t n = 0;
    int ret = 1;

    snprintf(path, sizeof(path), "%s/herald.db", dir);
    if (sqlite3_open_v2(path, &lite, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fail("cannot read %s: %s", path, sqlite3_errmsg(lite));
        goto out;
    }
    pg = PQconnectdb(uri);
    if (PQstatus(pg) != CONNECTION_OK) {
        fail("cannot connect to PostgreSQL: %s", pg_msg(pg, NULL));
        goto out;
    }
    /* What to call it, without the URI. */
    snprintf(where, sizeof(where), "the PostgreSQL database %s on %s:%s", PQdb(pg), PQhost(pg),
             PQport(pg));
    list = tables(lite, pg, &names, &n);
    if (list == NULL)
        goto out;
    switch (holds_data(pg, list, n, which, sizeof(which))) {
    case 0:
        break;
    case 1:
        fail("%s is not empty (its table %s has rows): migrate-store copies into an empty "
             "database only, so that no id is taken twice; give it a new database",
             where, which);
        /* fall through */
    default:
        goto out;
    }
    PQclear(pg_run(pg, "BEGIN", NULL, "begin"));
    for (size_t i = 0; i < n; i++) {
        int64_t rows;
        if (copy_table(lite, pg, list[i], &rows) != 0 || set_sequence(lite, pg, list[i]) != 0)
            goto out;
        printf("%s: %" PRId64 " rows\n", list[i], rows);
    }
    PGresult *res = pg_run(pg, "COMMIT", NULL, "commit");
    if (res != NULL) {
        printf("migrated %s to %s\n", path, where);
        ret = 0;
    }
    PQclear(res);
out:
    free(list);
    PQclear(names);
    PQfinish(pg); /* an open transaction is rolled back */
    sqlite3_close(lite);
    return ret;
}

int hr_cli_migrate_store(int argc, char **argv, hr_cli_usage_fn *usage)
{
    static const struct option longopts[] = {
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *from = NULL, *to = NULL;
    hr_store *lite = NULL, *pg = NULL;
    hr_store_options lo = {0}, po = {0};
    char path[4096];
    hr_error err;
    FILE *f;
    int c, ret = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'f') {
            from = optarg;
        } else if (c == 't') {
            to = optarg;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "Try 'herald --help'.\n");
            return 2;
        }
    }
    if (from == NULL || to == NULL || optind != argc) {
        fail("usage: herald migrate-store --from DIR --to postgresql://USER@HOST/DATABASE");
        return 2;
    }
    if (strncmp(to, "postgresql://", 13) != 0 && strncmp(to, "postgres://", 11) != 0) {
        fail("--to: expected a PostgreSQL connection URI (postgresql://USER@HOST/DATABASE)");
        return 2;
    }
    snprintf(path, sizeof(path), "%s/herald.db", from);
    f = fopen(path, "rb");
    if (f == NULL) {
        fail("--from %s: no herald store there (%s cannot be read)", from, path);
        return 1;
    }
    fclose(f);
    /* Opened as herald opens them: DIR locked (no herald may serve it
     * now), both schemas at this herald's version. */
    lo.dir = from;
    po.uri = to;
    if (hr_store_open(&lo, &lite, &err) != HR_OK || hr_store_open(&po, &pg, &err) != HR_OK) {
        fail("%s", err.msg);
        goto out;
    }
    hr_store_close(pg);
    pg = NULL;
    ret = copy_all(from, to);
out:
    hr_store_close(pg);
    hr_store_close(lite);
    return ret;
}
