/*
 * package.c - package revisions in (publishing) and out (GoCD's
 * package-repository extension 1.0).
 *
 * What GoCD does with the answers (gocd/gocd, plugin-infra/go-plugin-access,
 * packagematerial/JsonMessageHandler1_0.java and its test, and
 * PluginRequestHelper.java):
 * - toPackageRevision casts "revision", "user", "revisionComment" and
 *   "trackbackUrl" to String (a missing member and a null both give null),
 *   parses "timestamp" with Dates.parseIso8601StrictOffset (ISO offset date
 *   time: "2011-07-14T19:43:37.100Z" works) and fails when it is missing,
 *   and hands "data" to PackageRevision, whose validateDataKey refuses a key
 *   that is empty or not [a-zA-Z0-9_]*. So herald refuses such a revision
 *   when it is published, not when GoCD polls.
 * - responseMessageForLatestRevision turns a null revision (empty body,
 *   null, or {}) into "Empty response body";
 *   responseMessageForLatestRevisionSince returns null for the same bodies,
 *   which PackageMaterialPoller reads as "no new modification".
 * - PluginRequestHelper.submitRequest calls the handler only for status
 *   200; any other status becomes "The plugin sent a response that could
 *   not be understood by Go. Plugin returned with code '404' and the
 *   following response: '<body>'", which MaterialDatabaseUpdater shows as
 *   the description of "Modification check failed for material: ...".
 */
#include "ingest/package.h"

#include "core/jscan.h"
#include "core/limits.h"
#include "core/mem.h"
#include "core/timefmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest JSON path written into a message; longer ones are cut. */
#define PATH_LEN 256
/* Room for an hr_json_brief or a quoted name of any value. */
#define BRIEF_LEN 256
/* Characters of a sender's string quoted in a message. */
#define QUOTE_CHARS 40

#define CT_JSON "application/json"
#define CT_TEXT "text/plain; charset=utf-8"

#define NAME_EXPECTED "1 to 128 of A-Z a-z 0-9 _ . -"
#define DOTS_EXPECTED "a name other than \".\" and \"..\""
#define KEY_EXPECTED "a key of A-Z a-z 0-9 _ (GoCD refuses others)"
#define TIME_EXPECTED                                                                              \
    "yyyy-MM-ddTHH:mm:ss.SSSZ from 1970 to 9999, such as 2011-07-14T19:43:37.100Z or "             \
    "2011-07-14T21:43:37.100+0200"
#define MEMBERS "revision, timestamp, user, revisionComment, trackbackUrl and data"

/* 9999-12-31T23:59:59.999Z, the last instant GoCD's four-digit years show. */
#define LAST_MS INT64_C(253402300799999)

_Static_assert(HR_MAX_PACKAGE_NAME_BYTES == 128, "NAME_EXPECTED spells the limit out");

static const char *const kind_names[HR_PKGREPO_NKINDS] = {
    "repository-configuration",
    "package-configuration",
    "validate-repository-configuration",
    "validate-package-configuration",
    "check-repository-connection",
    "check-package-connection",
    "latest-revision",
    "latest-revision-since",
};

/* ---- messages ---------------------------------------------------------- */

/*
 * A sender's bytes (s, len) as a short quoted string, into buf (BRIEF_LEN
 * bytes): '"' and '\' escaped, control characters as \n, \t or \u00XX,
 * valid UTF-8 kept, any other byte as '?', cut after QUOTE_CHARS characters
 * with "..." before the closing quote. Names from a URL need not be UTF-8,
 * and every message must be, so hr_json_brief (which needs a json_t) does
 * not serve here.
 */
static const char *quote(const char *s, size_t len, char *buf)
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
static const char *key_path(char *buf, const char *at, const char *key, size_t len)
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
        snprintf(buf, PATH_LEN, "%s[%s]", at, quote(key, len, q));
    return buf;
}

static void report(hr_errlist *errs, const char *at, const char *expected, const json_t *got)
{
    char brief[BRIEF_LEN];
    hr_errlist_add(errs, "%s: expected %s; got %s", at, expected,
                   hr_json_brief(got, brief, sizeof(brief)));
}

/* ---- names ------------------------------------------------------------- */

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

/* What is wrong with the name (s, len): "expected ...; got ..." into buf
 * (BRIEF_LEN + 64 bytes), or NULL when it is a valid name. */
static const char *name_problem(const char *s, size_t len, char *buf, size_t size)
{
    char q[BRIEF_LEN];
    bool ok = len >= 1 && len <= HR_MAX_PACKAGE_NAME_BYTES;

    for (size_t i = 0; ok && i < len; i++)
        ok = name_char(s[i]);
    if (!ok) {
        snprintf(buf, size, "expected " NAME_EXPECTED "; got %s", quote(s, len, q));
        return buf;
    }
    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.')) {
        snprintf(buf, size, "expected " DOTS_EXPECTED "; got %s", quote(s, len, q));
        return buf;
    }
    return NULL;
}

int hr_package_check_name(const char *what, const char *name, hr_error *err)
{
    char problem[BRIEF_LEN + 64];

    if (name == NULL)
        return hr_error_set(err, HR_EINVAL, "%s: expected " NAME_EXPECTED "; got nothing", what);
    if (name_problem(name, strlen(name), problem, sizeof(problem)) != NULL)
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
static int parse_time_text(const char *s, size_t len, int64_t *out)
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
        rc = parse_time_text(s, strlen(s), out);
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
        key_path(path, "data", key, klen);
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
                           key_path(path, "", key, strlen(key)));
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

/* ---- reading GoCD's requests ------------------------------------------ */

/* ---- GoCD's package-repository requests (a jansson tree: small, rare) -- */

/* A new copy of a JSON string's bytes (hr_json_load refuses NUL in
 * strings, so the copy is the whole string). */
static char *copy_string(const json_t *v)
{
    return hr_strndup(json_string_value(v), json_string_length(v));
}

/* parse_time_text of a JSON string; HR_EINVAL for anything else. */
static int parse_time(const json_t *v, int64_t *out)
{
    if (!json_is_string(v))
        return HR_EINVAL;
    return parse_time_text(json_string_value(v), json_string_length(v), out);
}

int hr_pkgrepo_kind_of(const char *request_name, hr_pkgrepo_kind *out)
{
    for (int i = 0; i < HR_PKGREPO_NKINDS; i++) {
        if (request_name != NULL && strcmp(request_name, kind_names[i]) == 0) {
            *out = (hr_pkgrepo_kind)i;
            return HR_OK;
        }
    }
    return HR_ENOTFOUND;
}

const char *hr_pkgrepo_request_name(hr_pkgrepo_kind kind)
{
    return (unsigned)kind < HR_PKGREPO_NKINDS ? kind_names[kind] : "?";
}

static bool has_package_config(hr_pkgrepo_kind k)
{
    return k == HR_PKGREPO_VALIDATE_PACKAGE || k == HR_PKGREPO_CHECK_PACKAGE ||
           k == HR_PKGREPO_LATEST_REVISION || k == HR_PKGREPO_LATEST_REVISION_SINCE;
}

/* Requests herald answers by looking a name up: their names must be
 * right, or the answer would be about another package or none. */
static bool is_lookup(hr_pkgrepo_kind k)
{
    return k == HR_PKGREPO_CHECK_REPOSITORY || k == HR_PKGREPO_CHECK_PACKAGE ||
           k == HR_PKGREPO_LATEST_REVISION || k == HR_PKGREPO_LATEST_REVISION_SINCE;
}

/* Flattens root[member], a configuration map, into a new {"KEY": "value"}
 * object; NULL (with messages) when it is not of GoCD's shape. */
static json_t *flatten_config(hr_errlist *errs, const json_t *root, const char *member)
{
    char path[PATH_LEN], vpath[PATH_LEN + 8];
    const json_t *map = json_object_get(root, member);
    json_t *flat = json_object(), *entry;
    const char *key;
    size_t before = hr_errlist_count(errs);

    if (map == NULL || json_is_null(map))
        return flat;
    if (!json_is_object(map)) {
        report(errs, member, "an object", map);
        json_decref(flat);
        return NULL;
    }
    json_object_foreach((json_t *)map, key, entry)
    {
        const json_t *value;
        key_path(path, member, key, strlen(key));
        if (json_is_null(entry)) {
            json_object_set_new(flat, key, json_string(""));
            continue;
        }
        if (!json_is_object(entry)) {
            report(errs, path, "{\"value\": \"...\"} or null", entry);
            continue;
        }
        value = json_object_get(entry, "value");
        if (value == NULL || json_is_null(value)) {
            json_object_set_new(flat, key, json_string(""));
        } else if (json_is_string(value)) {
            json_object_set(flat, key, (json_t *)value);
        } else {
            snprintf(vpath, sizeof(vpath), "%s.value", path);
            report(errs, vpath, "a string or null", value);
        }
    }
    if (hr_errlist_count(errs) != before) {
        json_decref(flat);
        return NULL;
    }
    return flat;
}

/* The value of key in a flattened map when it is not "", new; else NULL. */
static char *config_value(const json_t *flat, const char *key)
{
    const json_t *v = json_object_get(flat, key);
    return json_is_string(v) && json_string_length(v) > 0 ? copy_string(v) : NULL;
}

/* For lookups: checks the name at member.key is present and valid. */
static void need_name(hr_errlist *errs, const json_t *flat, const char *member, const char *key)
{
    char problem[BRIEF_LEN + 64];
    const json_t *v = json_object_get(flat, key);

    if (v == NULL)
        hr_errlist_add(errs, "%s.%s: expected " NAME_EXPECTED "; got nothing", member, key);
    else if (name_problem(json_string_value(v), json_string_length(v), problem, sizeof(problem)) !=
             NULL)
        hr_errlist_add(errs, "%s.%s: %s", member, key, problem);
}

static void take_previous(hr_errlist *errs, const json_t *root, hr_pkgrepo_request *r)
{
    char path[PATH_LEN];
    const json_t *prev = json_object_get(root, "previous-revision"), *v, *data;
    const char *key;
    json_t *dv;
    size_t before = hr_errlist_count(errs);

    if (!json_is_object(prev)) {
        report(errs, "previous-revision", "an object", prev);
        return;
    }
    v = json_object_get(prev, "revision");
    if (!json_is_string(v))
        report(errs, "previous-revision.revision", "a string", v);
    /* GoCD writes a revision without a time as "" (Dates.formatIso8601UtcWithMillis). */
    v = json_object_get(prev, "timestamp");
    r->previous_timestamp = HR_TIME_NONE;
    if (v != NULL && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0) &&
        parse_time(v, &r->previous_timestamp) != HR_OK)
        report(errs, "previous-revision.timestamp", TIME_EXPECTED ", \"\" or null", v);
    /* GoCD leaves "data" out when the revision has none (Gson drops nulls). */
    data = json_object_get(prev, "data");
    if (data != NULL && !json_is_null(data) && !json_is_object(data)) {
        report(errs, "previous-revision.data", "an object of strings or null", data);
    } else if (json_is_object(data)) {
        json_object_foreach((json_t *)data, key, dv)
        {
            if (!json_is_string(dv))
                report(errs, key_path(path, "previous-revision.data", key, strlen(key)), "a string",
                       dv);
        }
    }
    if (hr_errlist_count(errs) != before)
        return;
    r->previous_revision = copy_string(json_object_get(prev, "revision"));
    r->previous_data = json_is_object(data) ? json_deep_copy(data) : json_object();
}

int hr_pkgrepo_parse(const char *request_name, const char *body, size_t len,
                     hr_pkgrepo_request *out, hr_errlist *errs)
{
    hr_errlist scratch = HR_ERRLIST_INIT;
    hr_pkgrepo_request r;
    hr_pkgrepo_kind kind;
    json_t *root = NULL;
    size_t before;
    int rc = HR_EINVAL;

    if (hr_pkgrepo_kind_of(request_name, &kind) != HR_OK)
        return HR_ENOTFOUND;
    if (errs == NULL)
        errs = &scratch;
    before = hr_errlist_count(errs);
    memset(&r, 0, sizeof(r));
    r.kind = kind;
    r.previous_timestamp = HR_TIME_NONE;
    if (kind == HR_PKGREPO_REPOSITORY_CONFIGURATION || kind == HR_PKGREPO_PACKAGE_CONFIGURATION) {
        rc = HR_OK;
        goto out;
    }
    if (hr_json_load_object(body, len, errs, &root) != HR_OK)
        goto out;

    r.repository_config = flatten_config(errs, root, "repository-configuration");
    if (has_package_config(kind))
        r.package_config = flatten_config(errs, root, "package-configuration");
    if (is_lookup(kind) && r.repository_config != NULL)
        need_name(errs, r.repository_config, "repository-configuration", HR_PKGREPO_REPOSITORY_KEY);
    if (is_lookup(kind) && r.package_config != NULL)
        need_name(errs, r.package_config, "package-configuration", HR_PKGREPO_PACKAGE_KEY);
    if (kind == HR_PKGREPO_LATEST_REVISION_SINCE)
        take_previous(errs, root, &r);
    if (hr_errlist_count(errs) != before)
        goto out;

    r.repository = config_value(r.repository_config, HR_PKGREPO_REPOSITORY_KEY);
    if (r.package_config != NULL)
        r.package = config_value(r.package_config, HR_PKGREPO_PACKAGE_KEY);
    rc = HR_OK;
out:
    json_decref(root);
    hr_errlist_clear(&scratch);
    if (rc != HR_OK) {
        hr_pkgrepo_request_clear(&r);
        r.kind = kind;
    }
    *out = r;
    return rc;
}

void hr_pkgrepo_request_clear(hr_pkgrepo_request *r)
{
    if (r == NULL)
        return;
    json_decref(r->repository_config);
    json_decref(r->package_config);
    free(r->repository);
    free(r->package);
    free(r->previous_revision);
    json_decref(r->previous_data);
    memset(r, 0, sizeof(*r));
    r->previous_timestamp = HR_TIME_NONE;
}

/* ---- answers ----------------------------------------------------------- */

static json_t *property(const char *display_name)
{
    return json_pack("{s:s,s:b,s:b,s:b,s:s,s:s}", "default-value", "", "part-of-identity", 1,
                     "secure", 0, "required", 1, "display-name", display_name, "display-order",
                     "0");
}

json_t *hr_pkgrepo_repository_configuration(void)
{
    return json_pack("{s:o}", HR_PKGREPO_REPOSITORY_KEY, property("Repository name in herald"));
}

json_t *hr_pkgrepo_package_configuration(void)
{
    return json_pack("{s:o}", HR_PKGREPO_PACKAGE_KEY, property("Package name in herald"));
}

static void add_problem(json_t *answer, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_problem(json_t *answer, const char *key, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_array_append_new(answer, json_pack("{s:s,s:s}", "key", key, "message", msg));
}

/* The validate-* answer for one flattened map whose only key is want. */
static json_t *validate_map(const json_t *flat, const char *want, const char *what)
{
    json_t *answer = json_array();
    const json_t *v = flat != NULL ? json_object_get(flat, want) : NULL;
    char problem[BRIEF_LEN + 64];
    const char *key;
    json_t *entry;

    if (v == NULL)
        add_problem(answer, want,
                    "%s is required: the %s name used in POST "
                    "/api/v1/packages/<repository>/<package>/revisions",
                    want, what);
    else if (json_string_length(v) == 0)
        add_problem(answer, want, "%s must not be empty", want);
    else if (name_problem(json_string_value(v), json_string_length(v), problem, sizeof(problem)) !=
             NULL)
        add_problem(answer, want, "%s", problem);
    if (flat == NULL)
        return answer;
    json_object_foreach((json_t *)flat, key, entry)
    {
        if (strcmp(key, want) != 0)
            add_problem(answer, key,
                        "herald does not use this key (the %s configuration has only %s)", what,
                        want);
    }
    return answer;
}

json_t *hr_pkgrepo_validate_repository(const hr_pkgrepo_request *r)
{
    return validate_map(r->repository_config, HR_PKGREPO_REPOSITORY_KEY, "repository");
}

json_t *hr_pkgrepo_validate_package(const hr_pkgrepo_request *r)
{
    return validate_map(r->package_config, HR_PKGREPO_PACKAGE_KEY, "package");
}

json_t *hr_pkgrepo_check_answer(bool ok, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return json_pack("{s:s,s:[s]}", "status", ok ? "success" : "failure", "messages", msg);
}

json_t *hr_pkgrepo_check_repository(const char *repository, size_t npackages)
{
    if (npackages == 0)
        return hr_pkgrepo_check_answer(
            false,
            "herald has no package in repository \"%s\" yet: publish "
            "a revision with POST /api/v1/packages/%s/<package>/revisions",
            repository, repository);
    return hr_pkgrepo_check_answer(true, "herald has %zu package%s in repository \"%s\"", npackages,
                                   npackages == 1 ? "" : "s", repository);
}

const char *hr_pkgrepo_no_revision(const char *repository, const char *package, char *buf,
                                   size_t size)
{
    snprintf(buf, size,
             "herald has no revision of package %s/%s yet: publish one with POST "
             "/api/v1/packages/%s/%s/revisions",
             repository, package, repository, package);
    return buf;
}

json_t *hr_pkgrepo_check_package(const char *repository, const char *package,
                                 const hr_package_rev *latest, size_t nrevisions)
{
    char buf[1024], ts[HR_TIME_STR_MAX];

    if (latest == NULL)
        return hr_pkgrepo_check_answer(
            false, "%s", hr_pkgrepo_no_revision(repository, package, buf, sizeof(buf)));
    quote(latest->revision ? latest->revision : "", latest->revision ? strlen(latest->revision) : 0,
          buf);
    /* A revision read back from elsewhere may have lost its time. */
    if (latest->timestamp == HR_TIME_NONE)
        return hr_pkgrepo_check_answer(true,
                                       "herald has package %s/%s with %zu revision%s; latest "
                                       "revision %s",
                                       repository, package, nrevisions, nrevisions == 1 ? "" : "s",
                                       buf);
    return hr_pkgrepo_check_answer(
        true, "herald has package %s/%s with %zu revision%s; latest revision %s of %s", repository,
        package, nrevisions, nrevisions == 1 ? "" : "s", buf,
        hr_time_format(latest->timestamp, ts, sizeof(ts)));
}

void hr_pkgrepo_answer_clear(hr_pkgrepo_answer *a)
{
    if (a == NULL)
        return;
    free(a->body);
    memset(a, 0, sizeof(*a));
}

/* Sets a 200 JSON answer from v (stolen). */
static void answer_json(hr_pkgrepo_answer *out, int status, json_t *v)
{
    out->status = status;
    out->content_type = CT_JSON;
    out->body = json_dumps(v, JSON_COMPACT);
    if (out->body == NULL)
        hr_oom(0);
    out->len = strlen(out->body);
    json_decref(v);
}

static void answer_text(hr_pkgrepo_answer *out, int status, const char *text)
{
    out->status = status;
    out->content_type = CT_TEXT;
    out->body = hr_strdup(text);
    out->len = strlen(text);
}

/*
 * No revision yet. GoCD's documented answer, {}, and an empty body both
 * reach the operator as a bare "Empty response body"
 * (JsonMessageHandler1_0.responseMessageForLatestRevision, asserted by
 * JsonMessageHandler1_0Test.shouldThrowExceptionWhenAttemptingToGetLatest-
 * RevisionFromEmptyResponse), which says nothing about why. A 200 body can
 * only bring GoCD's own fixed texts ("Package revision timestamp should
 * be ..."), which would mislead. Any other status makes
 * PluginRequestHelper.submitRequest fail with "... Plugin returned with code
 * '404' and the following response: '<body>'", and that text is what
 * MaterialDatabaseUpdater shows under "Modification check failed for
 * material". So herald answers 404 with one plain sentence that says what
 * is missing and how to publish it; GoCD polls again and succeeds once a
 * revision is there.
 */
void hr_pkgrepo_latest_answer(const hr_package_rev *latest, const char *repository,
                              const char *package, hr_pkgrepo_answer *out)
{
    char buf[1024];

    if (latest == NULL) {
        answer_text(out, 404, hr_pkgrepo_no_revision(repository, package, buf, sizeof(buf)));
        return;
    }
    answer_json(out, 200, hr_package_revision_json(latest));
}

/*
 * Nothing new. JsonMessageHandler1_0.responseMessageForLatestRevisionSince
 * returns null for an empty body, a null body and {} alike
 * (JsonMessageHandler1_0Test.shouldBuildNullPackageRevisionFromLatest-
 * RevisionSinceWhenEmptyResponse), and PackageMaterialPoller turns null
 * into "no modifications". herald sends {}: it is what the extension's
 * documentation names, it is valid JSON for every relay between herald and
 * GoCD (an empty body may become null or "" on the way, both fine, but {}
 * needs no such luck), and it reads as intended in a log.
 */
void hr_pkgrepo_since_answer(const hr_package_rev *latest, const hr_pkgrepo_request *req,
                             hr_pkgrepo_answer *out)
{
    if (latest == NULL) {
        hr_pkgrepo_latest_answer(NULL, req->repository, req->package, out);
        return;
    }
    if (req->previous_revision != NULL && latest->revision != NULL &&
        strcmp(req->previous_revision, latest->revision) == 0) {
        answer_json(out, 200, json_object());
        return;
    }
    answer_json(out, 200, hr_package_revision_json(latest));
}

void hr_pkgrepo_refusal(hr_pkgrepo_kind kind, const hr_errlist *errs, hr_pkgrepo_answer *out)
{
    json_t *msgs = hr_errlist_to_json(errs), *m;
    size_t i;

    switch (kind) {
    case HR_PKGREPO_VALIDATE_REPOSITORY:
    case HR_PKGREPO_VALIDATE_PACKAGE: {
        /* A ValidationError without a key is shown as a general error. */
        json_t *answer = json_array();
        json_array_foreach(msgs, i, m)
        {
            json_array_append_new(answer, json_pack("{s:O}", "message", m));
        }
        json_decref(msgs);
        answer_json(out, 200, answer);
        return;
    }
    case HR_PKGREPO_LATEST_REVISION:
    case HR_PKGREPO_LATEST_REVISION_SINCE: {
        /* GoCD quotes a non-200 body in its error (see the top of this
         * file); a 200 body could not carry these messages. */
        char text[4096];
        size_t at = (size_t)snprintf(text, sizeof(text),
                                     "herald cannot answer %s: ", hr_pkgrepo_request_name(kind));
        json_array_foreach(msgs, i, m)
        {
            if (at >= sizeof(text))
                break;
            at += (size_t)snprintf(text + at, sizeof(text) - at, "%s%s", i ? "; " : "",
                                   json_string_value(m));
        }
        json_decref(msgs);
        answer_text(out, 400, text);
        return;
    }
    default:
        /* check-*: GoCD lists a failure's messages to the operator. The
         * two configuration requests are never refused. */
        answer_json(out, 200, json_pack("{s:s,s:o}", "status", "failure", "messages", msgs));
        return;
    }
}
