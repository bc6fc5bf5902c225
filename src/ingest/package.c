/*
 * package.c - package revisions in: a published revision read from its
 * body's tokens into an hr_event, checked as GoCD will judge it when it
 * polls (pkgrepo.c says what GoCD does with it), and the messages and name
 * rules both files share (package_int.h).
 */
#include "ingest/package.h"
#include "ingest/package_int.h"

#include "core/jscan.h"
#include "core/limits.h"
#include "core/mem.h"
#include "core/timefmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Characters of a sender's string quoted in a message. */
#define QUOTE_CHARS 40

#define DOTS_EXPECTED "a name other than \".\" and \"..\""
#define KEY_EXPECTED "a key of A-Z a-z 0-9 _ (GoCD refuses others)"
#define MEMBERS "revision, timestamp, user, revisionComment, trackbackUrl and data"

/* 9999-12-31T23:59:59.999Z, the last instant GoCD's four-digit years show. */
#define LAST_MS INT64_C(253402300799999)

_Static_assert(HR_MAX_PACKAGE_NAME_BYTES == 128, "NAME_EXPECTED spells the limit out");

/* ---- messages ---------------------------------------------------------- */

/*
 * A sender's bytes (s, len) as a short quoted string, into buf (BRIEF_LEN
 * bytes): '"' and '\' escaped, control characters as \n, \t or \u00XX,
 * valid UTF-8 kept, any other byte as '?', cut after QUOTE_CHARS characters
 * with "..." before the closing quote. Names from a URL need not be UTF-8,
 * and every message must be, so hr_json_brief (which needs a json_t) does
 * not serve here.
 */
const char *hr_pkg__quote(const char *s, size_t len, char *buf)
{
    size_t at = 0, chars = 0, i = 0;

    buf[at++] = '"';
    while (i < len && chars < QUOTE_CHARS) {
        unsigned char c = (unsigned char)s[i];
        size_t k = hr_utf8_len((const unsigned char *)s + i, len - i);
        if (c == '"' || c == '\\') {
            buf[at++] = '\\';
            buf[at++] = (char)c;
        } else if (c == '\n') {
            memcpy(buf + at, "\\n", 2);
            at += 2;
        } else if (c == '\t') {
            memcpy(buf + at, "\\t", 2);
            at += 2;
        } else if (c < 0x20 || c == 0x7f) {
            at += (size_t)snprintf(buf + at, BRIEF_LEN - at, "\\u%04x", c);
        } else if (k == 0) {
            buf[at++] = '?';
        } else {
            memcpy(buf + at, s + i, k);
            at += k;
            i += k;
            chars++;
            continue;
        }
        i++;
        chars++;
    }
    if (i < len) {
        memcpy(buf + at, "...", 3);
        at += 3;
    }
    buf[at++] = '"';
    buf[at] = '\0';
    return buf;
}

/* "at.key" (or "key" at the root) for a plain key of [A-Za-z0-9_-], else
 * at["key"] quoted; into buf (PATH_LEN bytes). */
const char *hr_pkg__key_path(char *buf, const char *at, const char *key, size_t len)
{
    char q[BRIEF_LEN];
    bool plain = len > 0 && len <= 64;

    for (size_t i = 0; plain && i < len; i++) {
        char ch = key[i];
        plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                ch == '_' || ch == '-';
    }
    if (plain)
        snprintf(buf, PATH_LEN, "%s%s%.*s", at, at[0] ? "." : "", (int)len, key);
    else
        snprintf(buf, PATH_LEN, "%s[%s]", at, hr_pkg__quote(key, len, q));
    return buf;
}

/* ---- names ------------------------------------------------------------- */

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

/* What is wrong with the name (s, len): "expected ...; got ..." into buf
 * (BRIEF_LEN + 64 bytes), or NULL when it is a valid name. */
const char *hr_pkg__name_problem(const char *s, size_t len, char *buf, size_t size)
{
    char q[BRIEF_LEN];
    bool ok = len >= 1 && len <= HR_MAX_PACKAGE_NAME_BYTES;

    for (size_t i = 0; ok && i < len; i++)
        ok = name_char(s[i]);
    if (!ok) {
        snprintf(buf, size, "expected " NAME_EXPECTED "; got %s", hr_pkg__quote(s, len, q));
        return buf;
    }
    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.')) {
        snprintf(buf, size, "expected " DOTS_EXPECTED "; got %s", hr_pkg__quote(s, len, q));
        return buf;
    }
    return NULL;
}

int hr_package_check_name(const char *what, const char *name, hr_error *err)
{
    char problem[BRIEF_LEN + 64];

    if (name == NULL)
        return hr_error_set(err, HR_EINVAL, "%s: expected " NAME_EXPECTED "; got nothing", what);
    if (hr_pkg__name_problem(name, strlen(name), problem, sizeof(problem)) != NULL)
        return hr_error_set(err, HR_EINVAL, "%s: %s", what, problem);
    hr_error_clear(err);
    return HR_OK;
}

/* ---- publishing -------------------------------------------------------- */

static bool data_key_ok(const char *k, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

/* ---- publishing: the body's tokens straight into the revision ----------- */

/* Tokens a revision's body scans into on the stack before one allocation
 * (its six members and a few data keys). */
#define REV_TOKENS 64

/* "at: expected X; got Y" for token got (0: missing) of js. */
static void report_tok(hr_errlist *errs, const hr_jscan *js, const char *at, const char *expected,
                       uint32_t got)
{
    char brief[BRIEF_LEN];
    hr_errlist_add(errs, "%s: expected %s; got %s", at, expected,
                   got != 0 ? hr_jscan_brief(js, got, brief, sizeof(brief))
                            : hr_json_brief(NULL, brief, sizeof(brief)));
}

static bool tok_is(const hr_jscan *js, uint32_t v, hr_jtype type)
{
    return v != 0 && hr_jscan_type(js, v) == type;
}

/* Reads root[key] as a string or null into *out (new; NULL when missing or
 * null). The reader refuses NUL in strings, so the copy is the whole
 * string. */
static void take_optional_string(hr_errlist *errs, const hr_jscan *js, const char *key, char **out)
{
    uint32_t v = hr_jscan_get(js, 0, key);

    if (v == 0 || hr_jscan_type(js, v) == HR_JS_NULL)
        return;
    if (hr_jscan_type(js, v) != HR_JS_STRING) {
        report_tok(errs, js, key, "a string or null", v);
        return;
    }
    *out = hr_jscan_strdup(js, v);
}

static void take_revision(hr_errlist *errs, const hr_jscan *js, char **out)
{
    uint32_t v = hr_jscan_get(js, 0, "revision");
    size_t len = tok_is(js, v, HR_JS_STRING) ? hr_jscan_strlen(js, v) : 0;

    if (len == 0) {
        report_tok(errs, js, "revision", "a non-empty string", v);
        return;
    }
    if (len > HR_MAX_PACKAGE_REVISION_BYTES) {
        hr_errlist_add(errs, "revision: expected at most %u bytes; got %zu",
                       HR_MAX_PACKAGE_REVISION_BYTES, len);
        return;
    }
    *out = hr_jscan_strdup(js, v);
}

/* A timestamp GoCD can read back: one of hr_time_parse's forms, from 1970
 * (GoCD stores modification times as SQL timestamps; earlier ones are
 * surely mistakes) to 9999 (four-digit years). */
int hr_pkg__parse_time(const char *s, size_t len, int64_t *out)
{
    int64_t t;

    if (hr_time_parse(s, len, &t) != HR_OK || t < 0 || t > LAST_MS)
        return HR_EINVAL;
    *out = t;
    return HR_OK;
}

static void take_timestamp(hr_errlist *errs, const hr_jscan *js, int64_t now_ms, int64_t *out)
{
    uint32_t v = hr_jscan_get(js, 0, "timestamp");
    char *s;
    int rc = HR_EINVAL;

    if (v == 0 || hr_jscan_type(js, v) == HR_JS_NULL) {
        *out = now_ms;
        return;
    }
    if (hr_jscan_type(js, v) == HR_JS_STRING) {
        s = hr_jscan_strdup(js, v);
        rc = hr_pkg__parse_time(s, strlen(s), out);
        free(s);
    }
    if (rc != HR_OK)
        report_tok(errs, js, "timestamp", TIME_EXPECTED " or null", v);
}

/* Reads "data" into *out (a new object, {} when missing or null): its
 * keys and values checked on the tokens, the tree made only of it. */
static void take_data(hr_errlist *errs, const hr_jscan *js, json_t **out)
{
    char path[PATH_LEN];
    uint32_t data = hr_jscan_get(js, 0, "data"), k;
    size_t before = hr_errlist_count(errs), n;

    if (data == 0 || hr_jscan_type(js, data) == HR_JS_NULL) {
        *out = json_object();
        return;
    }
    if (hr_jscan_type(js, data) != HR_JS_OBJECT) {
        report_tok(errs, js, "data", "an object of strings or null", data);
        return;
    }
    n = js->tok[data].n;
    if (n > HR_MAX_PACKAGE_DATA_KEYS) {
        hr_errlist_add(errs, "data: expected at most %u keys; got %zu", HR_MAX_PACKAGE_DATA_KEYS,
                       n);
        return;
    }
    k = hr_jscan_first(data);
    for (size_t m = 0; m < n; m++, k = hr_jscan_next(js, k + 1)) {
        char *key = hr_jscan_strdup(js, k);
        size_t klen = strlen(key);
        uint32_t v = k + 1;
        hr_pkg__key_path(path, "data", key, klen);
        if (!data_key_ok(key, klen))
            hr_errlist_add(errs, "%s: expected " KEY_EXPECTED, path);
        else if (klen > HR_MAX_PACKAGE_DATA_KEY_BYTES)
            hr_errlist_add(errs, "%s: expected a key of at most %u bytes; got %zu", path,
                           HR_MAX_PACKAGE_DATA_KEY_BYTES, klen);
        if (hr_jscan_type(js, v) != HR_JS_STRING)
            report_tok(errs, js, path, "a string", v);
        else if (hr_jscan_strlen(js, v) > HR_MAX_PACKAGE_DATA_VALUE_BYTES)
            hr_errlist_add(errs, "%s: expected at most %u bytes; got %zu", path,
                           HR_MAX_PACKAGE_DATA_VALUE_BYTES, hr_jscan_strlen(js, v));
        free(key);
    }
    if (hr_errlist_count(errs) == before)
        *out = hr_jscan_to_json(js, data);
}

static void refuse_unknown_members(hr_errlist *errs, const hr_jscan *js)
{
    static const char *const known[] = {"revision",     "timestamp", "user", "revisionComment",
                                        "trackbackUrl", "data",      NULL};
    char path[PATH_LEN];
    uint32_t k = hr_jscan_first(0);

    for (size_t m = 0; m < js->tok[0].n; m++, k = hr_jscan_next(js, k + 1)) {
        bool found = false;
        for (size_t i = 0; known[i] != NULL && !found; i++)
            found = hr_jscan_streq(js, k, known[i], strlen(known[i]));
        if (!found) {
            char *key = hr_jscan_strdup(js, k);
            hr_errlist_add(errs, "%s: unknown member (herald reads " MEMBERS ")",
                           hr_pkg__key_path(path, "", key, strlen(key)));
            free(key);
        }
    }
}

int hr_package_revision_parse(const char *repository, const char *package, const char *body,
                              size_t len, int64_t now_ms, hr_event **out, hr_errlist *errs)
{
    hr_errlist scratch = HR_ERRLIST_INIT;
    hr_error err;
    hr_jtok stack[REV_TOKENS];
    hr_jscan js;
    bool scanned = false;
    hr_event *ev = NULL;
    hr_package_rev *p;
    size_t before;
    int rc = HR_EINVAL;

    if (errs == NULL)
        errs = &scratch;
    before = hr_errlist_count(errs);
    if (hr_package_check_name("repository", repository, &err) != HR_OK)
        hr_errlist_add(errs, "%s", err.msg);
    if (hr_package_check_name("package", package, &err) != HR_OK)
        hr_errlist_add(errs, "%s", err.msg);
    if (len > HR_MAX_PACKAGE_BODY_BYTES) {
        hr_errlist_add(errs, "body: expected at most %u bytes; got %zu", HR_MAX_PACKAGE_BODY_BYTES,
                       len);
        rc = HR_ETOOBIG;
        goto out;
    }
    if (hr_jscan_parse_object(&js, body, len, stack, REV_TOKENS, errs) != HR_OK)
        goto out;
    scanned = true;

    ev = hr_event_new();
    ev->has_package = true;
    p = &ev->package;
    take_revision(errs, &js, &p->revision);
    take_timestamp(errs, &js, now_ms, &p->timestamp);
    take_optional_string(errs, &js, "user", &p->user);
    take_optional_string(errs, &js, "revisionComment", &p->comment);
    take_optional_string(errs, &js, "trackbackUrl", &p->trackback_url);
    take_data(errs, &js, &p->data);
    refuse_unknown_members(errs, &js);
    if (hr_errlist_count(errs) != before)
        goto out;

    p->repository = hr_strdup(repository);
    p->package = hr_strdup(package);
    ev->source = hr_strdup(HR_SOURCE_PACKAGE);
    ev->kind = hr_strdup(HR_KIND_PACKAGE_REVISION);
    ev->version = hr_strdup(HR_PACKAGE_EVENT_VERSION);
    ev->raw = hr_strndup(body, len);
    ev->raw_len = len;
    *out = ev;
    ev = NULL;
    rc = HR_OK;
out:
    hr_event_free(ev);
    if (scanned)
        hr_jscan_free(&js);
    hr_errlist_clear(&scratch);
    return rc;
}

json_t *hr_package_revision_json(const hr_package_rev *p)
{
    json_t *o = json_object();
    char ts[HR_TIME_STR_MAX];

    json_object_set_new(o, "revision", json_string(p->revision ? p->revision : ""));
    if (p->timestamp != HR_TIME_NONE)
        json_object_set_new(o, "timestamp",
                            json_string(hr_time_format(p->timestamp, ts, sizeof(ts))));
    if (p->user != NULL)
        json_object_set_new(o, "user", json_string(p->user));
    if (p->comment != NULL)
        json_object_set_new(o, "revisionComment", json_string(p->comment));
    if (p->trackback_url != NULL)
        json_object_set_new(o, "trackbackUrl", json_string(p->trackback_url));
    json_object_set_new(o, "data", p->data ? json_deep_copy(p->data) : json_object());
    return o;
}
