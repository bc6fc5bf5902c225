/*
 * Tests for src/event/doc.c and src/core/jwrite.c: the stored document of
 * every payload under tests/payloads, the fuzz corpora, bench/ and the
 * GoCD fixtures, run through every parser that accepts it, and of events
 * made by hand that reach the corners (escapes, strings that are not
 * UTF-8, reals, dropped warnings, test and health events), is byte for
 * byte the one in its golden file under tests/unit/golden/.
 *
 * The golden files were written once while this test still compared each
 * document with json_dumps(JSON_COMPACT) of the jansson tree herald built
 * before event/doc.c (hr_event_to_json, now gone), and every one matched.
 * A change to a golden file is a change to the format herald stores and
 * serves, and to what every route and template reads: review its diff as
 * such, and keep docs/events.md true. To rewrite them after a reviewed
 * change:
 *   HR_GOLDEN_WRITE=1 build/tests/unit/test_event_doc
 */
#include "test_files.h"
#include <criterion/criterion.h>

#include "core/jwrite.h"
#include "event/event.h"
#include "ingest/gocd_notification.h"
#include "ingest/jenkins.h"
#include "ingest/package.h"
#include "ingest/redact.h"

#include "core/mem.h"
#include "core/timefmt.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOLDEN HR_TEST_SRCDIR "/tests/unit/golden/"

/* One document: the payload and parser (or the hand-made event) it comes
 * from, and its bytes. */
typedef struct entry {
    char *key;
    char *doc;
} entry;

/* The documents one test made, or read from its golden file. */
typedef struct doc_set {
    entry *v;
    size_t n, cap;
} doc_set;

/* Adds key's document; steals both strings. Neither may hold a newline
 * nor the key a tab: they are the golden file's separators (a compact
 * JSON document escapes both). */
static void set_add(doc_set *s, char *key, char *doc)
{
    cr_assert_null(strpbrk(key, "\t\n"), "%s: a key cannot hold a tab or a newline", key);
    cr_assert_null(strchr(doc, '\n'), "%s: the document holds a newline", key);
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->v = hr_realloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n].key = key;
    s->v[s->n].doc = doc;
    s->n++;
}

static void set_free(doc_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].key);
        free(s->v[i].doc);
    }
    free(s->v);
}

static int by_key(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->key, ((const entry *)b)->key);
}

/* Adds ev's document under key. */
static void add_doc(doc_set *s, const char *key, const hr_event *ev)
{
    size_t len = 0;
    char *doc = hr_event_doc(ev, &len);

    cr_assert_not_null(doc, "%s: no document", key);
    cr_expect_eq(len, strlen(doc), "%s: length", key);
    set_add(s, hr_strdup(key), doc);
}

static void write_golden(const doc_set *s, const char *path)
{
    FILE *f = fopen(path, "wb");

    cr_assert_not_null(f, "cannot write %s", path);
    fputs("# The stored document (src/event/doc.c) of each event tests/unit/test_event_doc.c\n"
          "# makes, one \"KEY<tab>DOCUMENT\" a line, sorted by key. A change here is a change\n"
          "# to the format herald stores and serves: review it. Rewritten by\n"
          "#   HR_GOLDEN_WRITE=1 build/tests/unit/test_event_doc\n",
          f);
    for (size_t i = 0; i < s->n; i++)
        fprintf(f, "%s\t%s\n", s->v[i].key, s->v[i].doc);
    cr_assert_eq(fclose(f), 0, "cannot write %s", path);
}

/* The golden file's documents; lines that begin with '#' are comments. */
static void read_golden(doc_set *s, const char *path)
{
    size_t len;
    char *text = test_slurp(path, &len), *line = text;

    cr_assert_not_null(text, "cannot open %s", path);

    while (*line != '\0') {
        char *end = strchr(line, '\n'), *tab;
        if (end == NULL)
            end = line + strlen(line);
        tab = memchr(line, '\t', (size_t)(end - line));
        if (line[0] != '#' && end > line) {
            cr_assert_not_null(tab, "%s: a line without a tab: %.*s", path, (int)(end - line),
                               line);
            set_add(s, hr_strndup(line, (size_t)(tab - line)),
                    hr_strndup(tab + 1, (size_t)(end - tab - 1)));
        }
        line = *end != '\0' ? end + 1 : end;
    }
    free(text);
}

/*
 * Compares the documents made now with the golden file name, naming each
 * payload whose document differs, has none in the file, or has one in the
 * file but was not made now (a payload gone, or a parser that refuses it
 * now). HR_GOLDEN_WRITE=1 rewrites the file first.
 */
static void expect_golden(doc_set *made, const char *name)
{
    char path[512];
    doc_set want = {0};
    size_t i = 0, j = 0;

    qsort(made->v, made->n, sizeof(*made->v), by_key);
    for (size_t k = 1; k < made->n; k++)
        cr_assert_neq(strcmp(made->v[k - 1].key, made->v[k].key), 0, "two documents named %s",
                      made->v[k].key);
    snprintf(path, sizeof(path), GOLDEN "%s", name);
    if (getenv("HR_GOLDEN_WRITE") != NULL)
        write_golden(made, path);
    read_golden(&want, path);
    qsort(want.v, want.n, sizeof(*want.v), by_key);
    while (i < made->n || j < want.n) {
        int c = i == made->n ? 1 : j == want.n ? -1 : strcmp(made->v[i].key, want.v[j].key);
        if (c < 0) {
            cr_expect_fail("%s: no document in %s (HR_GOLDEN_WRITE=1 adds it)", made->v[i].key,
                           name);
            cr_log_error("%s: got %s", made->v[i].key, made->v[i].doc);
            i++;
        } else if (c > 0) {
            cr_expect_fail("%s: in %s but not made now", want.v[j].key, name);
            j++;
        } else {
            if (strcmp(made->v[i].doc, want.v[j].doc) != 0) {
                cr_log_error("%s:\n got %s\nwant %s", made->v[i].key, made->v[i].doc,
                             want.v[j].doc);
                cr_expect_fail("%s: the document differs from %s", made->v[i].key, name);
            }
            i++;
            j++;
        }
    }
    set_free(&want);
}

/* Every parser that accepts the body; each accepted event's document is
 * added under "NAME via PARSER". */
static size_t every_parser(doc_set *s, const char *body, size_t len, const char *name,
                           const hr_redact *r)
{
    hr_event *ev;
    size_t accepted = 0;
    char what[1100];

#define TRY(call, label, ...)                                                                      \
    do {                                                                                           \
        ev = NULL;                                                                                 \
        if ((call) == HR_OK) {                                                                     \
            ev->received_at = 1700000000123;                                                       \
            ev->id = 42;                                                                           \
            ev->transition = HR_TRANSITION_FIXED;                                                  \
            snprintf(what, sizeof(what), "%s via " label, name, __VA_ARGS__);                      \
            add_doc(s, what, ev);                                                                  \
            accepted++;                                                                            \
        }                                                                                          \
        hr_event_free(ev);                                                                         \
    } while (0)

    for (int v = HR_GOCD_MIN_VERSION; v <= HR_GOCD_MAX_VERSION; v++) {
        TRY(hr_gocd_stage_status(body, len, v, &ev, NULL), "stage-status v%d", v);
        TRY(hr_gocd_agent_status(body, len, v, &ev, NULL), "agent-status v%d", v);
    }
    TRY(hr_jenkins_job_status_json(body, len, r, &ev, NULL), "%s", "job-status");
    TRY(hr_jenkins_notification(body, len, r, &ev, NULL), "%s", "notification");
    TRY(hr_ci_notify(body, len, r, &ev, NULL), "%s", "notify");
    TRY(hr_package_revision_parse("repo", "pkg", body, len, 1700000000000, &ev, NULL), "%s",
        "package");
    if (strstr(name, ".query") != NULL) {
        char *token = NULL;
        TRY(hr_jenkins_job_status_query(body, len, r, &token, &ev, NULL), "%s", "query");
        free(token);
    }
#undef TRY
    return accepted;
}

/* Every file in dir but the README files; each is named by its path from
 * the source root (root), so the golden file is the same in any checkout. */
static size_t every_file(doc_set *s, const char *dir, const char *root, const hr_redact *r)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t accepted = 0;

    cr_assert_not_null(d, "cannot open %s", dir);
    while ((e = readdir(d)) != NULL) {
        char path[1024], name[1024];
        size_t len;
        char *body;
        if (e->d_name[0] == '.' || strstr(e->d_name, ".md") != NULL)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        snprintf(name, sizeof(name), "%s/%s", root, e->d_name);
        body = test_slurp(path, &len);
        cr_assert_not_null(body, "cannot open %s", path);
        accepted += every_parser(s, body, len, name, r);
        free(body);
    }
    closedir(d);
    return accepted;
}

/* Each directory under the source root, by its path from there. */
#define EVERY_FILE(s, root, r) every_file(s, HR_TEST_SRCDIR "/" root, root, r)

Test(event_doc, every_payload_as_golden)
{
    hr_redact *r = NULL;
    hr_error err;
    doc_set s = {0};

    cr_assert_eq(hr_redact_new(NULL, 0, NULL, 0, &r, &err), HR_OK);
    cr_expect_geq(EVERY_FILE(&s, "tests/payloads/gocd", r), 11);
    cr_expect_geq(EVERY_FILE(&s, "tests/payloads/jenkins", r), 20);
    cr_expect_geq(EVERY_FILE(&s, "tests/payloads/package", r), 2);
    /* HR_TEST_FIXTURES is this folder (tests/unit/meson.build). */
    cr_expect_geq(every_file(&s, HR_TEST_FIXTURES, "../shared/fixtures/gocd", r), 3);
    cr_expect_geq(EVERY_FILE(&s, "fuzz/corpus/gocd_notification", r), 10);
    cr_expect_geq(EVERY_FILE(&s, "fuzz/corpus/jenkins_job_status", r), 1);
    cr_expect_geq(EVERY_FILE(&s, "bench", r), 3);
    expect_golden(&s, "event_doc_payloads.txt");
    set_free(&s);
    hr_redact_free(r);
}

Test(event_doc, corners_as_golden)
{
    hr_event *ev = hr_event_new();
    doc_set s = {0};

    ev->source = hr_strdup("gocd");
    ev->kind = hr_strdup("stage-status");
    ev->version = hr_strdup("4.0");
    ev->pipeline_name = hr_strdup("p\"q\\r/\x01\x1f\x7f\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80");
    ev->stage_name = hr_strdup("bad \xff utf-8");
    ev->stage_counter = hr_strdup("");
    ev->previous_stage_counter = -3;
    ev->stage_created_at = 0;
    ev->ncauses = 2;
    ev->causes = hr_calloc(2, sizeof(*ev->causes));
    ev->causes[0].config = json_pack("{s:f,s:f,s:f,s:I,s:[]}", "a", 0.1, "b", 1e300, "c", -2.5, "d",
                                     (json_int_t)-9, "e");
    ev->causes[0].nmods = 2;
    ev->causes[0].mods = hr_calloc(2, sizeof(*ev->causes[0].mods));
    ev->causes[0].mods[0].data = json_pack("{s:s}", "k\n", "v\xe2\x80\xa8");
    ev->causes[0].mods[0].modified_at = HR_TIME_NONE;
    ev->causes[0].mods[1].revision = hr_strdup("r\xc0\xaf");
    ev->causes[0].mods[1].modified_at = 1;
    for (int i = 0; i < HR_MAX_ERRORS + 3; i++)
        hr_errlist_add(&ev->warnings, "warning %d: \"x\"", i);
    add_doc(&s, "stage corners", ev);
    hr_event_free(ev);

    ev = hr_event_new();
    ev->source = hr_strdup("herald");
    ev->kind = hr_strdup("test");
    ev->test_target = hr_strdup("t\xff");
    add_doc(&s, "test event, target not UTF-8", ev);
    free(ev->test_target);
    ev->test_target = hr_strdup("team-\"chat\"");
    add_doc(&s, "test event", ev);
    hr_event_free(ev);

    ev = hr_event_new();
    ev->source = hr_strdup("herald");
    ev->kind = hr_strdup("target-health");
    ev->health = json_pack("{s:s,s:f,s:n}", "target", "x", "ratio", 0.25, "none");
    add_doc(&s, "health event", ev);
    hr_event_free(ev);

    ev = hr_event_new();
    ev->source = hr_strdup("jenkins");
    ev->kind = hr_strdup("build-status");
    ev->version = hr_strdup("notification");
    ev->has_build = true;
    ev->build.job_name = hr_strdup("a/b");
    ev->build.number = 7;
    ev->build.queue_id = -1;
    ev->build.duration_ms = 0;
    ev->build.test_summary = json_pack("{s:i,s:f}", "total", 3, "rate", 1.0 / 3);
    ev->build.environment = hr_vars_new();
    add_doc(&s, "build event", ev);
    hr_event_free(ev);

    ev = hr_event_new();
    ev->source = hr_strdup("package");
    ev->kind = hr_strdup("package-revision");
    ev->has_package = true;
    ev->package.repository = hr_strdup("r");
    ev->package.package = hr_strdup("\xe2\x82");
    ev->package.timestamp = 5;
    add_doc(&s, "package event, no data, name cut UTF-8", ev);
    hr_event_free(ev);

    ev = hr_event_new();
    ev->has_agent = true;
    add_doc(&s, "agent event with nothing set", ev);
    hr_event_free(ev);
    expect_golden(&s, "event_doc_corners.txt");
    set_free(&s);
}

Test(jwrite, bounded)
{
    hr_jw w;
    size_t len = 0;
    char *doc;

    hr_jw_init(&w, 16);
    hr_jw_array(&w);
    hr_jw_string(&w, "0123456789", 10);
    cr_expect_not(w.over);
    hr_jw_string(&w, "0123456789", 10);
    cr_expect(w.over);
    hr_jw_end_array(&w);
    cr_expect_null(hr_jw_take(&w, &len));

    hr_jw_init(&w, 64);
    hr_jw_object(&w);
    hr_jw_key(&w, "a");
    hr_jw_int(&w, INT64_MIN);
    hr_jw_key(&w, "b");
    cr_expect_eq(hr_jw_string(&w, "\xff", 1), HR_EINVAL);
    hr_jw_null(&w);
    hr_jw_key(&w, "c");
    hr_jw_array(&w);
    hr_jw_bool(&w, true);
    hr_jw_array(&w);
    hr_jw_end_array(&w);
    hr_jw_bool(&w, false);
    hr_jw_end_array(&w);
    hr_jw_end_object(&w);
    doc = hr_jw_take(&w, &len);
    cr_expect_str_eq(doc, "{\"a\":-9223372036854775808,\"b\":null,\"c\":[true,[],false]}");
    cr_expect_eq(len, strlen(doc));
    free(doc);
}
