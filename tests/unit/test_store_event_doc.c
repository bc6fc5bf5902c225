/*
 * test_store_event_doc.c - GoCD events stored without their document
 * (store/event_doc.h): every GoCD body herald knows (GoCD's own fixtures in
 * HR_TEST_FIXTURES, tests/payloads/gocd, a body with warnings) reads back
 * through the API's readers byte for byte as the ingest made it, on the
 * engine under test; a store of the schema before keeps its documents.
 */
#include "test_files.h"
#include "store_test.h"

#include "ingest/gocd_notification.h"
#include "store/event_doc.h"

#include <dirent.h>

TestSuite(store_event_doc, .init = store_test_setup, .fini = store_test_teardown);

/* The body with each %s of a fixture template filled as GoCD would (see
 * the fixtures' README): v4 stage templates take (fingerprint, time)
 * pairs, the others times. New. */
static char *fill(const char *tmpl, bool stage, int version, size_t *len)
{
    size_t cap = strlen(tmpl) * 2 + 1024, used = 0, k = 0;
    char *out = malloc(cap);
    cr_assert_not_null(out);
    for (const char *p = tmpl; *p; p++) {
        if (p[0] == '%' && p[1] == 's') {
            const char *v = stage && version >= 4 && k % 2 == 0 ? "0123abcd"
                            : version <= 2                      ? "2011-07-13T19:43:37.100Z"
                                                                : "2011-07-13T19:43:37.100+0000";
            size_t vl = strlen(v);
            cr_assert_lt(used + vl, cap);
            memcpy(out + used, v, vl);
            used += vl;
            k++;
            p++;
        } else {
            cr_assert_lt(used + 1, cap);
            out[used++] = *p;
        }
    }
    out[used] = '\0';
    *len = used;
    return out;
}

static int version_in_name(const char *name)
{
    const char *v = strstr(name, "_v");
    return v != NULL && v[2] >= '1' && v[2] <= '9' && v[3] == '_' ? v[2] - '0' : 0;
}

/* The API's JSON of an event as the ingest made it: {"id", ...the stored
 * document..., "transition"} (store/json.c). New. */
static char *want_json(const hr_event *ev, const char *doc, size_t doc_len)
{
    json_t *o = json_object(), *d = json_loadb(doc, doc_len, 0, NULL);
    char *s;
    cr_assert_not_null(d);
    json_object_set_new(o, "id", json_integer(ev->id));
    json_object_update(o, d);
    const char *tr = hr_transition_name(ev->transition);
    json_object_set_new(o, "transition", tr != NULL ? json_string(tr) : json_null());
    s = json_dumps(o, JSON_COMPACT);
    json_decref(d);
    json_decref(o);
    return s;
}

static void expect_same(json_t *got, const char *want, const char *what)
{
    char *s = json_dumps(got, JSON_COMPACT);
    cr_expect_str_eq(s, want, "%s: the API answers\n%s\nwhere the ingest made\n%s", what, s, want);
    free(s);
}

/* How many GoCD bodies were checked, and their events' ids. */
static size_t nput;
static int64_t ids[64];
static char *wants[64];

/* Maps body as api/gocd.c does, stores it, and checks both readers (one
 * event, a page of the list) answer what the ingest made. */
static void put_and_check(const char *body, size_t len, bool stage, int version, const char *what)
{
    hr_event *ev = NULL;
    hr_errlist errs = HR_ERRLIST_INIT;
    size_t doc_len;
    char *doc;
    json_t *got;
    int rc = stage ? hr_gocd_stage_status(body, len, version, &ev, &errs)
                   : hr_gocd_agent_status(body, len, version, &ev, &errs);

    cr_assert_eq(rc, HR_OK, "%s: %s", what, errs.n ? errs.msgs[0] : "refused");
    ev->doc_from_raw = true;
    ev->received_at = 1700000000123 + (int64_t)nput;
    cr_assert(hr_store__doc_derived(ev), "%s: its document would be stored", what);
    doc = hr_store__doc_string(ev, &doc_len);
    put_ok(st, ev);
    cr_assert_lt(nput, sizeof(ids) / sizeof(ids[0]));
    ids[nput] = ev->id;
    wants[nput] = want_json(ev, doc, doc_len);
    got = get_event(st, ev->id);
    expect_same(json_object_get(got, "event"), wants[nput], what);
    json_decref(got);
    nput++;
    free(doc);
    hr_event_free(ev);
    hr_errlist_clear(&errs);
}

/* Every event's row holds no document, and a list of them all answers
 * each as the ingest made it. */
static void check_all(void)
{
    json_t *arr = list(st, (hr_event_query){.limit = 100}, NULL);
    cr_assert_eq(json_array_size(arr), nput);
    for (size_t i = 0; i < nput; i++) {
        char what[32];
        snprintf(what, sizeof(what), "list, event %lld", (long long)ids[i]);
        expect_same(json_array_get(arr, nput - 1 - i), wants[i], what);
        free(wants[i]);
    }
    json_decref(arr);
    if (on_pg()) {
        cr_expect_eq(pg_value("SELECT count(*) FROM events WHERE doc IS NULL"), (int64_t)nput);
    } else {
        char path[128], buf[32];
        sqlite3 *db;
        sqlite3_stmt *q;
        snprintf(path, sizeof(path), "%s/herald.db", dir);
        cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
        cr_assert_eq(
            sqlite3_prepare_v2(db, "SELECT count(*) FROM events WHERE doc IS NULL", -1, &q, NULL),
            SQLITE_OK);
        cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
        snprintf(buf, sizeof(buf), "%lld", (long long)sqlite3_column_int64(q, 0));
        cr_expect_eq(sqlite3_column_int64(q, 0), (int64_t)nput, "%s rows without doc", buf);
        sqlite3_finalize(q);
        sqlite3_close(db);
    }
}

static bool opendir_ok(const char *folder)
{
    DIR *d = opendir(folder);
    if (d != NULL)
        closedir(d);
    return d != NULL;
}

/* Every stage-status and agent-status body of a folder whose names give
 * the version; returns how many. */
static size_t put_folder(const char *folder)
{
    DIR *d = opendir(folder);
    struct dirent *e;
    size_t seen = 0;
    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        bool stage = strstr(e->d_name, "stage-status") != NULL;
        bool agent = strstr(e->d_name, "agent-status") != NULL;
        int version = version_in_name(e->d_name);
        char path[1024];
        size_t tlen, len;
        char *tmpl, *body;
        if (!stage && !agent)
            continue;
        cr_assert_neq(version, 0, "no version in %s", e->d_name);
        snprintf(path, sizeof(path), "%s/%s", folder, e->d_name);
        tmpl = test_slurp(path, &tlen);
        cr_assert_not_null(tmpl, "cannot open %s", path);
        body = fill(tmpl, stage, version, &len);
        put_and_check(body, len, stage, version, e->d_name);
        free(body);
        free(tmpl);
        seen++;
    }
    closedir(d);
    return seen;
}

Test(store_event_doc, every_gocd_body_reads_back_as_ingested)
{
    static const char warned[] = "{\"pipeline\":{\"name\":\"p\",\"counter\":7,\"stage\":"
                                 "{\"name\":\"s\",\"state\":\"Skipped\",\"result\":\"Passed\"}}}";
    st = open_store();
    nput = 0;
    cr_expect_geq(put_folder(HR_TEST_SRCDIR "/tests/payloads/gocd"), 11);
    if (opendir_ok(HR_TEST_FIXTURES))
        cr_expect_geq(put_folder(HR_TEST_FIXTURES), 9);
    else
        cr_log_warn("no GoCD fixtures at %s", HR_TEST_FIXTURES);
    put_and_check(warned, sizeof(warned) - 1, true, 4, "a body with warnings");
    check_all();
}

/* Only the GoCD mapper's own events, unchanged, lose their document. */
Test(store_event_doc, only_gocd_mapper_events_are_derived)
{
    hr_event *ev = stage_ev("p", "s", "1", "Passed", "Passed");
    cr_expect_not(hr_store__doc_derived(ev)); /* not marked by the API */
    ev->doc_from_raw = true;
    cr_expect(hr_store__doc_derived(ev));
    free(ev->version);
    ev->version = hr_strdup("4"); /* not as the mapper writes it */
    cr_expect_not(hr_store__doc_derived(ev));
    hr_event_free(ev);
}

/* A store of schema 13 (SQLite; PostgreSQL 9), whose events all keep
 * their document under doc NOT NULL, is migrated in place: the old rows
 * read as before, and new GoCD events are stored without a document. */
Test(store_event_doc, store_before_derived_documents_is_migrated)
{
    static const char body[] = "{\"pipeline\":{\"name\":\"p\",\"counter\":\"1\",\"stage\":"
                               "{\"name\":\"s\",\"counter\":\"1\",\"state\":\"Passed\","
                               "\"result\":\"Passed\"}}}";
    json_t *before, *after;
    int64_t id;

    st = open_store();
    id = put_stage(st, "p1", "build", "1", "Passed", "Passed", NULL);
    before = get_event(st, id);
    hr_store_close(st);
    st = NULL;
    if (on_pg()) {
        pg_exec("ALTER TABLE events ALTER COLUMN doc SET NOT NULL;"
                " UPDATE herald_schema SET version = 9");
    } else {
        char path[128];
        sqlite3 *db;
        snprintf(path, sizeof(path), "%s/herald.db", dir);
        cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
        cr_assert_eq(sqlite3_exec(db,
                                  "PRAGMA writable_schema = ON;"
                                  "UPDATE sqlite_schema SET sql = replace(sql, 'doc TEXT,', "
                                  "'doc TEXT NOT NULL,') WHERE name = 'events';"
                                  "PRAGMA writable_schema = OFF; PRAGMA user_version = 13",
                                  NULL, NULL, NULL),
                     SQLITE_OK, "%s", sqlite3_errmsg(db));
        sqlite3_close(db);
    }
    st = open_store();
    after = get_event(st, id);
    assert_json_eq(after, before);
    json_decref(before);
    json_decref(after);
    nput = 0;
    put_and_check(body, sizeof(body) - 1, true, 4, "after the migration");
}
