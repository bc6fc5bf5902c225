/*
 * config.c - herald.yaml, read with libyaml's event API into hr_config.
 *
 * The file is read as a stream of events, never as a document tree, and
 * checked against the schema while it streams. So memory stays in
 * proportion to the config itself; anchors and aliases are refused rather
 * than expanded (a small file can never grow into a huge one: "billion
 * laughs"); nesting stops at HR_CONFIG_MAX_DEPTH and input at
 * HR_CONFIG_MAX_BYTES.
 *
 * A problem does not end the reading: a value of the wrong shape is
 * reported, skipped whole, and the next key is read, so one run reports
 * every problem (hr_errlist keeps the first HR_MAX_ERRORS and counts the
 * rest). Only a YAML syntax error or a bound ends it.
 *
 * Secrets: the values of secret headers and signing secrets are never put
 * in a message, and neither is any URL (webhook URLs often carry a token
 * in their path). Other values are quoted, cut at 40 bytes.
 *
 * The jq programs and templates are compiled only to check them and freed
 * at once: an hr_jq belongs to one thread, and the threads that run them
 * compile their own.
 */
#include "route/config.h"

#include "core/ascii.h"
#include "core/mailaddr.h"
#include "core/mem.h"
#include "core/url.h"
#include "event/event.h"
#include "route/jq.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

/* What every secret looks like in hr_config_to_json. */
#define MASK "******"
/* The names of what GoCD's plugin settings add; reserved in the file. */
#define GOCD_NAME "gocd-settings"
#define GOCD_AGENT_ROUTE "gocd-settings-agent"
#define GOCD_PREFIX "GoCD plugin settings: "
/* Longest target or route name. */
#define NAME_MAX_LEN 100
/* Room for a key path such as "targets[12].headers.Authorization". */
#define PATH_LEN 256
/* Room for an hr_json_brief of any value. */
#define BRIEF_LEN 64
/* Longest duration: a day. */
#define MAX_DURATION_MS (24 * 3600 * 1000LL)
/* Retention's durations: from a second to ten years. */
#define DAY_MS (24 * 3600 * 1000LL)
#define MIN_RETENTION_MS 1000LL
#define MAX_RETENTION_MS (3650 * DAY_MS)

static const char *const transition_words[] = {
    "building",      "passed",  "failed",  "cancelled", "broken", "fixed",
    "still_failing", "failing", "unknown", "any",       NULL};
#define TRANSITIONS_LIST                                                                           \
    "building, passed, failed, cancelled, broken, fixed, still_failing, failing, unknown, any"

static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", NULL};

/* Header names whose values are secret whatever the file says. */
static const char *const always_secret[] = {"Authorization", "Proxy-Authorization", "Cookie", NULL};

/* The keys of one mapping seen so far (known_key): at most 64 names. */
typedef uint64_t key_mask;

/* ---- small helpers ----------------------------------------------------- */

static char lower(char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

static bool eq_ci(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (lower(*a) != lower(*b))
            return false;
    return *a == *b;
}

/* (s, n) equals the C string word. */
static bool eqn(const char *s, size_t n, const char *word)
{
    return n == strlen(word) && memcmp(s, word, n) == 0;
}

static bool in_list(const char *s, size_t n, const char *const *list)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (eqn(s, n, list[i]))
            return true;
    return false;
}

static bool is_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = hr_utf8_len((const unsigned char *)s + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

/* Quotes (s, n), valid UTF-8, for a message: JSON string syntax, cut at
 * 40 bytes. Returns buf. */
static const char *quote(const char *s, size_t n, char *buf, size_t size)
{
    json_t *v = json_stringn(s, n);
    hr_json_brief(v, buf, size);
    json_decref(v);
    return buf;
}

/* Joins a NULL-terminated list as "a, b, c" into buf. */
static const char *join(const char *const *list, char *buf, size_t size)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; list[i] != NULL && at < size; i++) {
        int k = snprintf(buf + at, size - at, "%s%s", i > 0 ? ", " : "", list[i]);
        if (k < 0)
            break;
        at += (size_t)k;
    }
    return buf;
}

static void strlist_add(hr_strlist *l, char *item)
{
    l->items = hr_realloc(l->items, (l->n + 1) * sizeof(*l->items));
    l->items[l->n++] = item;
}

static void strlist_clear(hr_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static void target_clear(hr_target *t);

static void route_clear(hr_route *r)
{
    free(r->name);
    strlist_clear(&r->sources);
    strlist_clear(&r->kinds);
    strlist_clear(&r->groups);
    strlist_clear(&r->pipelines);
    strlist_clear(&r->stages);
    strlist_clear(&r->states);
    strlist_clear(&r->results);
    strlist_clear(&r->transitions);
    free(r->filter);
    strlist_clear(&r->targets);
    memset(r, 0, sizeof(*r));
}

static void header_add(hr_target *t, const char *name, size_t name_len, const char *value,
                       size_t value_len, bool secret)
{
    hr_header *h;
    t->headers = hr_realloc(t->headers, (t->nheaders + 1) * sizeof(*t->headers));
    h = &t->headers[t->nheaders++];
    h->name = hr_strndup(name, name_len);
    h->value = hr_strndup(value, value_len);
    h->secret = secret;
}

/* ---- where messages go ------------------------------------------------- */

typedef struct sink {
    hr_errlist *errs;
    const char *file; /* the file's name; NULL: GoCD's plugin settings */
    json_t *keyed;    /* NULL, or [{"key", "message"}] for GoCD's settings page */
} sink;

/* Adds {"key", "message"} to s->keyed for a report on GoCD's settings:
 * the key is the path's first word ("webhook_headers line 2" is
 * webhook_headers, and "line 2: " starts the message), and only a key's
 * first message is kept, as the settings page shows one per field. */
static void report_keyed(const sink *s, const char *path, const char *msg)
{
    const char *space = strchr(path, ' ');
    size_t key_len = space != NULL ? (size_t)(space - path) : strlen(path);
    char text[1024];
    size_t i;
    json_t *e;

    if (key_len == 0)
        return;
    json_array_foreach(s->keyed, i, e)
    {
        const char *k = json_string_value(json_object_get(e, "key"));
        if (k != NULL && strlen(k) == key_len && memcmp(k, path, key_len) == 0)
            return;
    }
    if (space != NULL)
        snprintf(text, sizeof(text), "%s: %s", space + 1, msg);
    else
        snprintf(text, sizeof(text), "%s", msg);
    e = json_object();
    json_object_set_new(e, "key", json_stringn(path, key_len));
    json_object_set_new(e, "message", json_string(text));
    json_array_append_new(s->keyed, e);
}

/*
 * Adds "FILE:LINE:COL: PATH: message" (or "GoCD plugin settings: PATH:
 * message" when s->file is NULL). m (a libyaml mark, 0-based) and path may
 * be NULL.
 */
static void report(const sink *s, const yaml_mark_t *m, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void report(const sink *s, const yaml_mark_t *m, const char *path, const char *fmt, ...)
{
    char msg[768];
    const char *sep = path != NULL && path[0] != '\0' ? ": " : "";
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (path == NULL)
        path = "";
    if (s->keyed != NULL)
        report_keyed(s, path, msg);
    if (s->file == NULL)
        hr_errlist_add(s->errs, GOCD_PREFIX "%s%s%s", path, sep, msg);
    else if (m == NULL)
        hr_errlist_add(s->errs, "%s: %s%s%s", s->file, path, sep, msg);
    else
        hr_errlist_add(s->errs, "%s:%zu:%zu: %s%s%s", s->file, m->line + 1, m->column + 1, path,
                       sep, msg);
}

/* ---- checks shared by the file and GoCD's settings ---------------------- */

/* A target or route name: [A-Za-z0-9_.-]{1,100}. */
static bool check_name(const sink *s, const yaml_mark_t *m, const char *path, const char *v,
                       size_t n)
{
    char brief[BRIEF_LEN];
    bool ok = n > 0 && n <= NAME_MAX_LEN;
    for (size_t i = 0; ok && i < n; i++)
        ok = hr_is_alpha(v[i]) || hr_is_digit(v[i]) || v[i] == '_' || v[i] == '.' || v[i] == '-';
    if (!ok)
        report(s, m, path,
               "expected a name of 1 to %d letters, digits, \"_\", \".\" or \"-\"; got %s",
               NAME_MAX_LEN, quote(v, n, brief, sizeof(brief)));
    return ok;
}

static bool check_method(const sink *s, const yaml_mark_t *m, const char *path, const char *v,
                         size_t n)
{
    char brief[BRIEF_LEN];
    if (in_list(v, n, methods))
        return true;
    report(s, m, path, "expected one of GET, POST, PUT, DELETE; got %s",
           quote(v, n, brief, sizeof(brief)));
    return false;
}

/* Checks a URL by the one rule (core/url.h), with templates after the
 * host for a target and none for a proxy. The URL itself is never quoted:
 * it may carry a token. */
static bool check_url(const sink *s, const yaml_mark_t *m, const char *path, const char *v,
                      size_t n, unsigned flags)
{
    hr_error err;
    if (hr_url_check(v, n, flags, NULL, &err) == HR_OK)
        return true;
    report(s, m, path, "%s", err.msg);
    return false;
}

#define TARGET_URL_EXPECTED "an http:// or https:// URL with a host"

/* Makes jq's message one line: its newlines become spaces. */
static const char *one_line(char *msg)
{
    for (char *p = msg; *p; p++)
        if (hr_is_control((unsigned char)*p))
            *p = ' ';
    return msg;
}

static bool check_jq(const sink *s, const yaml_mark_t *m, const char *path, const char *program)
{
    hr_jq *q = NULL;
    hr_error err;
    hr_error_clear(&err);
    if (hr_jq_compile(program, &q, &err) != HR_OK) {
        report(s, m, path, "jq program does not compile: %s", one_line(err.msg));
        return false;
    }
    /* The file's programs are tried once on an empty event, so one that
     * runs away whatever its event is refused here, not at delivery.
     * GoCD's settings are not: their stored copy is loaded at every
     * start, and a refusal there would keep herald from starting. */
    if (s->file != NULL && hr_jq_probe(q, &err) != HR_OK) {
        report(s, m, path, "jq program does not stay within its budget on an empty event: %s",
               one_line(err.msg));
        hr_jq_free(q);
        return false;
    }
    hr_jq_free(q);
    return true;
}

/* A secret value's template is checked without showing jq's message,
 * which quotes the program text. */
static bool check_template(const sink *s, const yaml_mark_t *m, const char *path, const char *text,
                           bool secret)
{
    hr_template *t = NULL;
    hr_error err;
    hr_error_clear(&err);
    if (hr_template_compile(text, &t, &err) != HR_OK) {
        if (secret)
            report(s, m, path,
                   "template does not compile (jq's message is not shown: the value is secret)");
        else
            report(s, m, path, "template does not compile: %s", one_line(err.msg));
        return false;
    }
    /* As check_jq; the budget's messages never quote the template. */
    if (s->file != NULL && hr_template_probe(t, &err) != HR_OK) {
        report(s, m, path, "template does not stay within its budget on an empty event: %s",
               one_line(err.msg));
        hr_template_free(t);
        return false;
    }
    hr_template_free(t);
    return true;
}

static bool check_header_name(const sink *s, const yaml_mark_t *m, const char *path,
                              const char *name, size_t n)
{
    char brief[BRIEF_LEN];
    bool ok = n > 0;
    for (size_t i = 0; ok && i < n; i++)
        ok = hr_is_tchar(name[i]);
    if (!ok)
        report(s, m, path,
               "%s is not a header name (RFC 7230: letters, digits and !#$%%&'*+-.^_`|~)",
               quote(name, n, brief, sizeof(brief)));
    return ok;
}

/* Header values may hold tabs but no other control character (CR and LF
 * would split the request). */
static bool check_header_value(const sink *s, const yaml_mark_t *m, const char *path, const char *v,
                               size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (hr_is_control((unsigned char)v[i]) && v[i] != '\t') {
            report(s, m, path, "the value must not contain CR, LF or other control characters");
            return false;
        }
    return true;
}

bool hr_config_header_always_secret(const char *name)
{
    for (size_t i = 0; always_secret[i] != NULL; i++)
        if (eq_ci(name, always_secret[i]))
            return true;
    return false;
}

/* The index of the header named (name, n), case-insensitively, or -1. */
static long header_index(const hr_target *t, const char *name, size_t n)
{
    for (size_t i = 0; i < t->nheaders; i++) {
        const char *h = t->headers[i].name;
        size_t k = 0;
        while (k < n && h[k] != '\0' && lower(h[k]) == lower(name[k]))
            k++;
        if (k == n && h[k] == '\0')
            return (long)i;
    }
    return -1;
}

/* Base64 (standard alphabet), padded or not, as delivery decodes it. */
static bool is_base64(const char *v, size_t n)
{
    size_t pad = 0;
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = v[i];
        if (ch == '=') {
            pad++;
            continue;
        }
        if (pad > 0 || !(hr_is_alpha(ch) || hr_is_digit(ch) || ch == '+' || ch == '/'))
            return false;
    }
    return pad <= 2 && (pad == 0 || n % 4 == 0) && (n - pad) % 4 != 1;
}

/* Standard Webhooks: "whsec_<base64>" is decoded by delivery, anything
 * else is used as raw bytes. The value is never quoted. */
static bool check_signing_secret(const sink *s, const yaml_mark_t *m, const char *path,
                                 const char *v, size_t n)
{
    if (n == 0) {
        report(s, m, path, "must not be empty (leave the key out to send unsigned requests)");
        return false;
    }
    if (n >= 6 && memcmp(v, "whsec_", 6) == 0 && !is_base64(v + 6, n - 6)) {
        report(s, m, path, "expected base64 after \"whsec_\"");
        return false;
    }
    return true;
}

/* ---- the YAML reader ---------------------------------------------------- */

/* A route's target name, checked once every target is known. */
typedef struct ref {
    char *path; /* "routes[0].targets[1]" */
    char *name;
    yaml_mark_t mark;
} ref;

typedef struct parser {
    sink out;
    yaml_parser_t yp;
    yaml_event_t ev;
    bool have;    /* ev holds an event not consumed yet */
    bool stopped; /* a syntax error or a bound: no more events */
    int depth;
    const char *text;
    size_t len;
    hr_config *c;
    ref *refs;
    size_t nrefs;
} parser;

/* One scalar, after ${VAR} substitution. */
typedef struct scalar {
    char *s; /* new, NUL-terminated; NULL for null (an empty plain scalar, ~ or null) */
    size_t len;
    yaml_mark_t mark;
} scalar;

/* The line and column of byte offset in the input (libyaml gives reader
 * errors, such as invalid UTF-8, as an offset only). */
static yaml_mark_t mark_at(const parser *p, size_t offset)
{
    yaml_mark_t m = {offset, 0, 0};
    size_t line_start = 0;
    if (offset > p->len)
        offset = p->len;
    for (size_t i = 0; i < offset; i++)
        if (p->text[i] == '\n') {
            m.line++;
            line_start = i + 1;
        }
    m.column = offset - line_start;
    return m;
}

static void report_syntax_error(parser *p, const yaml_parser_t *y)
{
    const char *problem = y->problem != NULL ? y->problem : "invalid YAML";

    if (y->error == YAML_MEMORY_ERROR) {
        report(&p->out, NULL, NULL, "out of memory reading YAML");
    } else if (y->error == YAML_READER_ERROR) {
        yaml_mark_t m = mark_at(p, y->problem_offset);
        if (y->problem_value != -1)
            report(&p->out, &m, NULL, "%s (0x%X)", problem, (unsigned)y->problem_value);
        else
            report(&p->out, &m, NULL, "%s", problem);
    } else if (y->context != NULL) {
        report(&p->out, &y->problem_mark, NULL, "%s (%s at line %zu, column %zu)", problem,
               y->context, y->context_mark.line + 1, y->context_mark.column + 1);
    } else {
        report(&p->out, &y->problem_mark, NULL, "%s", problem);
    }
}

static void stop(parser *p)
{
    if (p->have)
        yaml_event_delete(&p->ev);
    p->have = false;
    p->stopped = true;
}

/*
 * Makes p->ev the next event, unless it already holds one. Refuses
 * anchors and aliases, and stops at a syntax error or too deep a nesting.
 * Returns false once stopped. (check_syntax has already looked for both;
 * they are checked again so that this reader's own recursion, skip_node,
 * is bounded by this function alone.)
 */
static bool peek(parser *p)
{
    const yaml_char_t *anchor = NULL;

    if (p->have)
        return true;
    if (p->stopped)
        return false;
    if (!yaml_parser_parse(&p->yp, &p->ev)) {
        report_syntax_error(p, &p->yp);
        stop(p);
        return false;
    }
    p->have = true;
    switch (p->ev.type) {
    case YAML_SCALAR_EVENT:
        anchor = p->ev.data.scalar.anchor;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = p->ev.data.sequence_start.anchor;
        p->depth++;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = p->ev.data.mapping_start.anchor;
        p->depth++;
        break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        p->depth--;
        break;
    default:
        break;
    }
    if (anchor != NULL || p->ev.type == YAML_ALIAS_EVENT)
        report(&p->out, &p->ev.start_mark, NULL,
               "YAML anchors (&) and aliases (*) are not allowed");
    if (p->depth > HR_CONFIG_MAX_DEPTH) {
        report(&p->out, &p->ev.start_mark, NULL, "nested deeper than %d levels",
               HR_CONFIG_MAX_DEPTH);
        stop(p);
        return false;
    }
    return true;
}

static void consume(parser *p)
{
    if (p->have)
        yaml_event_delete(&p->ev);
    p->have = false;
}

/* Consumes the whole node that starts at the next event. */
static void skip_node(parser *p)
{
    yaml_event_type_t t;
    if (!peek(p))
        return;
    t = p->ev.type;
    consume(p);
    if (t != YAML_SEQUENCE_START_EVENT && t != YAML_MAPPING_START_EVENT)
        return;
    while (peek(p) && p->ev.type != YAML_SEQUENCE_END_EVENT && p->ev.type != YAML_MAPPING_END_EVENT)
        skip_node(p);
    consume(p);
}

static bool is_null_event(const yaml_event_t *ev)
{
    const char *v;
    size_t n;
    if (ev->type != YAML_SCALAR_EVENT || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    v = (const char *)ev->data.scalar.value;
    n = ev->data.scalar.length;
    return n == 0 || eqn(v, n, "~") || eqn(v, n, "null") || eqn(v, n, "Null") || eqn(v, n, "NULL");
}

/* Describes the node at the next event for "expected X; got Y". The file's
 * own text is quoted (before substitution) unless secret. */
static const char *got(const parser *p, bool secret, char *buf, size_t size)
{
    const yaml_event_t *ev = &p->ev;
    switch (ev->type) {
    case YAML_MAPPING_START_EVENT:
        return "a mapping";
    case YAML_SEQUENCE_START_EVENT:
        return "a list";
    case YAML_ALIAS_EVENT:
        return "an alias";
    case YAML_SCALAR_EVENT:
        if (is_null_event(ev))
            return ev->data.scalar.length == 0 ? "nothing" : "null";
        if (secret)
            return "a string";
        return quote((const char *)ev->data.scalar.value, ev->data.scalar.length, buf, size);
    default:
        return "nothing";
    }
}

/* A growing string bounded by HR_CONFIG_MAX_BYTES. */
typedef struct buf {
    char *s;
    size_t n, cap;
} buf;

static bool buf_add(buf *b, const char *s, size_t n)
{
    if (n > HR_CONFIG_MAX_BYTES - b->n)
        return false;
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->s = hr_realloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
    return true;
}

/*
 * Replaces each ${VAR} in (s, n) by the environment variable VAR, and
 * "$${" by "${". Returns a new string of *out_len bytes, or NULL after
 * reporting the first problem (at m: a variable that is not set, a "${"
 * that is not a variable).
 */
static char *substitute(const parser *p, const yaml_mark_t *m, const char *s, size_t n,
                        size_t *out_len)
{
    buf b = {NULL, 0, 0};
    size_t i = 0, plain = 0;

    buf_add(&b, "", 0);
    while (i < n) {
        size_t name_start, name_end;
        char name[256];
        const char *value;

        if (s[i] == '$' && i + 2 < n && s[i + 1] == '$' && s[i + 2] == '{') {
            if (!buf_add(&b, s + plain, i - plain) || !buf_add(&b, "${", 2))
                goto too_long;
            i += 3;
            plain = i;
            continue;
        }
        if (!(s[i] == '$' && i + 1 < n && s[i + 1] == '{')) {
            i++;
            continue;
        }
        name_start = i + 2;
        for (name_end = name_start;
             name_end < n && (hr_is_alpha(s[name_end]) || s[name_end] == '_' ||
                              (name_end > name_start && hr_is_digit(s[name_end])));
             name_end++)
            ;
        if (name_end == name_start || name_end >= n || s[name_end] != '}' ||
            name_end - name_start >= sizeof(name)) {
            report(&p->out, m, NULL,
                   "\"${\" must start a variable such as ${NAME} (write \"$${\" for a literal "
                   "\"${\")");
            free(b.s);
            return NULL;
        }
        memcpy(name, s + name_start, name_end - name_start);
        name[name_end - name_start] = '\0';
        value = getenv(name);
        if (value == NULL) {
            report(&p->out, m, NULL, "environment variable %s is not set", name);
            free(b.s);
            return NULL;
        }
        if (!buf_add(&b, s + plain, i - plain) || !buf_add(&b, value, strlen(value)))
            goto too_long;
        i = name_end + 1;
        plain = i;
    }
    if (!buf_add(&b, s + plain, n - plain))
        goto too_long;
    *out_len = b.n;
    return b.s;
too_long:
    report(&p->out, m, NULL, "the value is longer than %u bytes once ${VAR} are replaced",
           HR_CONFIG_MAX_BYTES);
    free(b.s);
    return NULL;
}

/*
 * Reads a scalar into *out (null gives out->s == NULL). Another kind of
 * node is reported as "PATH: expected WHAT; got ..." and skipped. Returns
 * false when the value was not read (the problem is already reported).
 */
static bool read_scalar(parser *p, const char *path, const char *what, bool secret, scalar *out)
{
    char brief[BRIEF_LEN];
    char *s;
    size_t n;

    out->s = NULL;
    out->len = 0;
    if (!peek(p))
        return false;
    out->mark = p->ev.start_mark;
    if (p->ev.type == YAML_ALIAS_EVENT) {
        consume(p); /* peek reported it */
        return false;
    }
    if (p->ev.type != YAML_SCALAR_EVENT) {
        report(&p->out, &p->ev.start_mark, path, "expected %s; got %s", what,
               got(p, secret, brief, sizeof(brief)));
        skip_node(p);
        return false;
    }
    if (is_null_event(&p->ev)) {
        consume(p);
        return true;
    }
    s = substitute(p, &out->mark, (const char *)p->ev.data.scalar.value, p->ev.data.scalar.length,
                   &n);
    consume(p);
    if (s == NULL)
        return false;
    if (memchr(s, '\0', n) != NULL) {
        report(&p->out, &out->mark, path, "NUL bytes are not allowed");
        free(s);
        return false;
    }
    if (!is_utf8(s, n)) {
        report(&p->out, &out->mark, path,
               "not valid UTF-8 once environment variables are replaced");
        free(s);
        return false;
    }
    out->s = s;
    out->len = n;
    return true;
}

/*
 * Opens a mapping (start == YAML_MAPPING_START_EVENT) or a list. Returns
 * 1 when one was opened (read it with next_key or next_item), 0 for null
 * (an empty one, consumed), -1 for another node (reported as "PATH:
 * expected WHAT; got ..." and skipped). *mark is where the node starts.
 * secret: a string found instead is not quoted (a target written as its
 * URL, headers written as "Authorization: Bearer ...").
 */
static int begin(parser *p, yaml_event_type_t start, const char *path, const char *what,
                 bool secret, yaml_mark_t *mark)
{
    char brief[BRIEF_LEN];
    if (!peek(p))
        return -1;
    *mark = p->ev.start_mark;
    if (p->ev.type == start) {
        consume(p);
        return 1;
    }
    if (p->ev.type == YAML_SCALAR_EVENT && is_null_event(&p->ev)) {
        consume(p);
        return 0;
    }
    if (p->ev.type != YAML_ALIAS_EVENT)
        report(&p->out, &p->ev.start_mark, path, "expected %s; got %s", what,
               got(p, secret, brief, sizeof(brief)));
    skip_node(p);
    return -1;
}

/* Reads the next key of an open mapping into *key (new). Returns false at
 * the mapping's end (consumed). Keys that are not strings are reported and
 * skipped with their values. */
static bool next_key(parser *p, const char *path, scalar *key)
{
    char brief[BRIEF_LEN];
    for (;;) {
        if (!peek(p))
            return false;
        if (p->ev.type == YAML_MAPPING_END_EVENT) {
            consume(p);
            return false;
        }
        if (p->ev.type == YAML_SCALAR_EVENT && is_null_event(&p->ev)) {
            report(&p->out, &p->ev.start_mark, path, "expected a key; got %s",
                   got(p, false, brief, sizeof(brief)));
            skip_node(p);
            skip_node(p);
            continue;
        }
        if (!read_scalar(p, path, "a key", false, key)) {
            skip_node(p);
            continue;
        }
        return true;
    }
}

/*
 * Whether an open list has another item (false at its end, consumed).
 * *n counts the items: past max, the rest of the list is reported once
 * ("PATH: at most MAX WHAT") and skipped.
 */
static bool next_item(parser *p, const char *path, size_t *n, size_t max, const char *what)
{
    if (!peek(p))
        return false;
    if (p->ev.type == YAML_SEQUENCE_END_EVENT) {
        consume(p);
        return false;
    }
    if (*n < max) {
        (*n)++;
        return true;
    }
    report(&p->out, &p->ev.start_mark, path, "at most %zu %s are allowed", max, what);
    while (peek(p) && p->ev.type != YAML_SEQUENCE_END_EVENT)
        skip_node(p);
    consume(p);
    return false;
}

/*
 * Finds key in keys (NULL-terminated, at most 32). Returns its index, or
 * -1 for an unknown or repeated key, which is reported and whose value is
 * skipped. seen records the keys read so far.
 */
static int known_key(parser *p, const char *path, const scalar *key, const char *const *keys,
                     key_mask *seen)
{
    char brief[BRIEF_LEN], list[512];
    for (int i = 0; keys[i] != NULL; i++) {
        if (!eqn(key->s, key->len, keys[i]))
            continue;
        if (*seen & ((key_mask)1 << i)) {
            report(&p->out, &key->mark, path, "duplicate key \"%s\"", keys[i]);
            skip_node(p);
            return -1;
        }
        *seen |= (key_mask)1 << i;
        return i;
    }
    report(&p->out, &key->mark, path, "unknown key %s (expected %s)",
           quote(key->s, key->len, brief, sizeof(brief)), join(keys, list, sizeof(list)));
    skip_node(p);
    return -1;
}

static void missing_keys(parser *p, const yaml_mark_t *m, const char *path, const char *const *keys,
                         key_mask required, key_mask seen)
{
    for (int i = 0; keys[i] != NULL; i++)
        if ((required & ((key_mask)1 << i)) && !(seen & ((key_mask)1 << i)))
            report(&p->out, m, path, "missing required key \"%s\"", keys[i]);
}

/* Joins path and a key into out ("targets[0]" and "url" give
 * "targets[0].url"); a path too long for out is cut. */
static const char *sub_path(char *out, size_t size, const char *path, const char *key)
{
    if (snprintf(out, size, "%s%s%s", path != NULL ? path : "",
                 path != NULL && path[0] != '\0' ? "." : "", key) < 0)
        out[0] = '\0';
    return out;
}

/* ---- typed values -------------------------------------------------------- */

/* Reads a string that must be there; null is reported as "expected WHAT". */
static bool read_required(parser *p, const char *path, const char *what, bool secret, scalar *v)
{
    if (!read_scalar(p, path, what, secret, v))
        return false;
    if (v->s == NULL) {
        report(&p->out, &v->mark, path, "expected %s; got nothing", what);
        return false;
    }
    return true;
}

/* Digits only, at most max. */
static bool parse_uint(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!hr_is_digit(s[i]))
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > max)
            return false;
    }
    *out = v;
    return true;
}

static void read_int(parser *p, const char *path, int min, int max, int *out)
{
    char brief[BRIEF_LEN];
    uint64_t v;
    scalar sc;
    if (!read_required(p, path, "a whole number", false, &sc))
        return;
    if (parse_uint(sc.s, sc.len, (uint64_t)max, &v) && v >= (uint64_t)min)
        *out = (int)v;
    else
        report(&p->out, &sc.mark, path, "expected a whole number from %d to %d; got %s", min, max,
               quote(sc.s, sc.len, brief, sizeof(brief)));
    free(sc.s);
}

/* "500ms", "10s", "2m", "1h" or a number of seconds; with days, "90d"
 * too. */
static bool parse_duration(const char *s, size_t n, bool days, int64_t *ms)
{
    size_t i = 0;
    uint64_t v = 0;
    int64_t unit;
    while (i < n && hr_is_digit(s[i])) {
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > 1000000000000ULL)
            return false;
        i++;
    }
    if (i == 0)
        return false;
    if (i == n || eqn(s + i, n - i, "s"))
        unit = 1000;
    else if (eqn(s + i, n - i, "ms"))
        unit = 1;
    else if (eqn(s + i, n - i, "m"))
        unit = 60 * 1000;
    else if (eqn(s + i, n - i, "h"))
        unit = 3600 * 1000;
    else if (days && eqn(s + i, n - i, "d"))
        unit = DAY_MS;
    else
        return false;
    if (v > (uint64_t)(INT64_MAX / unit))
        return false;
    *ms = (int64_t)v * unit;
    return true;
}

static void read_duration(parser *p, const char *path, int64_t *out, yaml_mark_t *mark)
{
    char brief[BRIEF_LEN];
    int64_t ms = 0;
    scalar sc;
    if (!read_required(p, path, "a duration", false, &sc))
        return;
    *mark = sc.mark;
    if (parse_duration(sc.s, sc.len, false, &ms) && ms >= 1 && ms <= MAX_DURATION_MS)
        *out = ms;
    else
        report(&p->out, &sc.mark, path,
               "expected a duration from 1ms to 24h, such as 500ms, 10s, 2m or 1h; got %s",
               quote(sc.s, sc.len, brief, sizeof(brief)));
    free(sc.s);
}

/*
 * A retention duration: 1s to 3650d, days allowed; with forever, also
 * "forever" or 0, which give 0 (keep forever).
 */
static void read_retention(parser *p, const char *path, bool forever, int64_t *out)
{
    char brief[BRIEF_LEN];
    int64_t ms = 0;
    scalar sc;
    if (!read_required(p, path, "a duration", false, &sc))
        return;
    if (forever && (eqn(sc.s, sc.len, "forever") || eqn(sc.s, sc.len, "0")))
        *out = 0;
    else if (parse_duration(sc.s, sc.len, true, &ms) && ms >= MIN_RETENTION_MS &&
             ms <= MAX_RETENTION_MS)
        *out = ms;
    else
        report(&p->out, &sc.mark, path,
               "expected a duration from 1s to 3650d, such as 90d, 12h or 10m%s; got %s",
               forever ? ", or forever" : "", quote(sc.s, sc.len, brief, sizeof(brief)));
    free(sc.s);
}

/* A number of bytes, or a number followed by B, KiB or MiB. */
static bool parse_size(const char *s, size_t n, uint64_t *bytes)
{
    size_t i = 0;
    uint64_t v = 0, unit;
    while (i < n && hr_is_digit(s[i])) {
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > 1000000000000ULL)
            return false;
        i++;
    }
    if (i == 0)
        return false;
    if (i == n || eqn(s + i, n - i, "B"))
        unit = 1;
    else if (eqn(s + i, n - i, "KiB"))
        unit = 1024;
    else if (eqn(s + i, n - i, "MiB"))
        unit = 1024 * 1024;
    else
        return false;
    *bytes = v * unit;
    return true;
}

static void read_size(parser *p, const char *path, size_t max, size_t *out)
{
    char brief[BRIEF_LEN];
    uint64_t v;
    scalar sc;
    if (!read_required(p, path, "a size", false, &sc))
        return;
    if (parse_size(sc.s, sc.len, &v) && v <= max)
        *out = (size_t)v;
    else
        report(&p->out, &sc.mark, path,
               "expected a size from 0 to %zu bytes, such as 4096, 4KiB or 1MiB; got %s", max,
               quote(sc.s, sc.len, brief, sizeof(brief)));
    free(sc.s);
}

static void read_bool(parser *p, const char *path, bool *out)
{
    char brief[BRIEF_LEN];
    scalar sc;
    if (!read_required(p, path, "true or false", false, &sc))
        return;
    if (eqn(sc.s, sc.len, "true") || eqn(sc.s, sc.len, "True") || eqn(sc.s, sc.len, "TRUE"))
        *out = true;
    else if (eqn(sc.s, sc.len, "false") || eqn(sc.s, sc.len, "False") || eqn(sc.s, sc.len, "FALSE"))
        *out = false;
    else
        report(&p->out, &sc.mark, path, "expected true or false; got %s",
               quote(sc.s, sc.len, brief, sizeof(brief)));
    free(sc.s);
}

/* Checks one item of a string list; true keeps it. */
typedef bool (*item_fn)(parser *p, const char *path, const scalar *item);

/*
 * Reads a string or a list of strings, appending to out the items that
 * check accepts. Null is an empty list. Each item is named "PATH[i]" in
 * messages, or PATH when the value is a single string.
 */
static void read_list(parser *p, const char *path, hr_strlist *out, item_fn check, bool secret)
{
    char ipath[PATH_LEN];
    yaml_mark_t start;
    scalar sc;
    size_t n = 0;

    if (!peek(p))
        return;
    if (p->ev.type == YAML_SCALAR_EVENT) {
        if (read_scalar(p, path, "a string", secret, &sc) && sc.s != NULL) {
            if (check(p, path, &sc))
                strlist_add(out, sc.s);
            else
                free(sc.s);
        }
        return;
    }
    if (begin(p, YAML_SEQUENCE_START_EVENT, path, "a string or a list of strings", secret,
              &start) != 1)
        return;
    while (next_item(p, path, &n, HR_CONFIG_MAX_ITEMS, "items")) {
        snprintf(ipath, sizeof(ipath), "%s[%zu]", path, n - 1);
        if (!read_scalar(p, ipath, "a string", secret, &sc))
            continue;
        if (sc.s == NULL) {
            report(&p->out, &sc.mark, ipath, "expected a string; got nothing");
            continue;
        }
        if (check(p, ipath, &sc))
            strlist_add(out, sc.s);
        else
            free(sc.s);
    }
}

/* read_list for values that are not secret (they may be quoted). */
static void read_strlist(parser *p, const char *path, hr_strlist *out, item_fn check)
{
    read_list(p, path, out, check, false);
}

/* ---- the schema ----------------------------------------------------------- */

static bool item_word(parser *p, const char *path, const scalar *item)
{
    char brief[BRIEF_LEN];
    bool ok = item->len > 0;
    for (size_t i = 0; ok && i < item->len; i++) {
        char ch = item->s[i];
        ok = hr_is_alpha(ch) || hr_is_digit(ch) || ch == '_' || ch == '-' || ch == '.';
    }
    if (!ok)
        report(&p->out, &item->mark, path,
               "expected a word of letters, digits, \"_\", \"-\" and \".\"; got %s",
               quote(item->s, item->len, brief, sizeof(brief)));
    return ok;
}

static bool item_glob(parser *p, const char *path, const scalar *item)
{
    bool ok = item->len > 0;
    for (size_t i = 0; ok && i < item->len; i++)
        ok = !hr_is_control((unsigned char)item->s[i]);
    if (!ok)
        report(&p->out, &item->mark, path,
               "expected a name or a pattern such as \"deploy-*\" (no control characters)");
    return ok;
}

static bool item_transition(parser *p, const char *path, const scalar *item)
{
    char brief[BRIEF_LEN];
    if (in_list(item->s, item->len, transition_words))
        return true;
    report(&p->out, &item->mark, path, "expected one of " TRANSITIONS_LIST "; got %s",
           quote(item->s, item->len, brief, sizeof(brief)));
    return false;
}

/* A host name: dot-separated labels of letters, digits, '-' and '_', none
 * starting or ending with '-'. */
static bool is_host_name(const char *s, size_t n)
{
    size_t label = 0;
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
        } else if (hr_is_alpha(ch) || hr_is_digit(ch) || ch == '_' || (ch == '-' && label > 0)) {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return label > 0 && s[n - 1] != '-';
}

/* delivery.allow: a CIDR (IPv4 or IPv6), an IP address or a host name. */
static bool item_allow(parser *p, const char *path, const scalar *item)
{
    char brief[BRIEF_LEN], addr[64];
    const char *slash = memchr(item->s, '/', item->len);
    size_t alen = slash != NULL ? (size_t)(slash - item->s) : item->len;
    unsigned char bin[16];
    bool v4 = false, v6 = false, digits_and_dots = alen > 0;
    uint64_t prefix;

    for (size_t i = 0; i < alen; i++)
        digits_and_dots = digits_and_dots && (hr_is_digit(item->s[i]) || item->s[i] == '.');
    if (alen < sizeof(addr)) {
        memcpy(addr, item->s, alen);
        addr[alen] = '\0';
        v4 = inet_pton(AF_INET, addr, bin) == 1;
        v6 = !v4 && inet_pton(AF_INET6, addr, bin) == 1;
    }
    if (slash != NULL) {
        size_t plen = item->len - alen - 1;
        unsigned max = v6 ? 128 : 32;
        if (!v4 && !v6)
            goto bad;
        if (!parse_uint(slash + 1, plen, 1000, &prefix) || prefix > max) {
            report(&p->out, &item->mark, path, "the prefix length of %s must be 0 to %u",
                   quote(item->s, item->len, brief, sizeof(brief)), max);
            return false;
        }
        return true;
    }
    if (v4 || v6)
        return true;
    if (!digits_and_dots && is_host_name(item->s, item->len))
        return true;
bad:
    report(&p->out, &item->mark, path,
           "expected a CIDR such as 10.0.0.0/8 or fd00::/8, an IP address or a host name; got %s",
           quote(item->s, item->len, brief, sizeof(brief)));
    return false;
}

/* A route's target name, kept to check once every target is read. */
static bool item_target_ref(parser *p, const char *path, const scalar *item)
{
    ref *r;
    p->refs = hr_realloc(p->refs, (p->nrefs + 1) * sizeof(*p->refs));
    r = &p->refs[p->nrefs++];
    r->path = hr_strdup(path);
    r->name = hr_strndup(item->s, item->len);
    r->mark = item->mark;
    return true;
}

/* The circuit: mapping (delivery's and each target's). */
#include "route/config_health.c"

static void parse_delivery(parser *p)
{
    static const char *const keys[] = {"max_attempts",
                                       "backoff_initial",
                                       "backoff_max",
                                       "connect_timeout",
                                       "timeout",
                                       "max_response_bytes",
                                       "connections_per_host",
                                       "max_in_flight",
                                       "proxy",
                                       "allow",
                                       "circuit",
                                       NULL};
    hr_delivery_settings *d = &p->c->delivery;
    char path[PATH_LEN];
    yaml_mark_t start, initial_mark = {0, 0, 0}, max_mark = {0, 0, 0}, other;
    key_mask seen = 0;
    scalar key;

    if (begin(p, YAML_MAPPING_START_EVENT, "delivery", "a mapping", false, &start) != 1)
        return;
    while (next_key(p, "delivery", &key)) {
        int i = known_key(p, "delivery", &key, keys, &seen);
        sub_path(path, sizeof(path), "delivery", i >= 0 ? keys[i] : "");
        switch (i) {
        case 0:
            read_int(p, path, 1, 100, &d->max_attempts);
            break;
        case 1:
            read_duration(p, path, &d->backoff_initial_ms, &initial_mark);
            break;
        case 2:
            read_duration(p, path, &d->backoff_max_ms, &max_mark);
            break;
        case 3:
            read_duration(p, path, &d->connect_timeout_ms, &other);
            break;
        case 4:
            read_duration(p, path, &d->timeout_ms, &other);
            break;
        case 5:
            read_size(p, path, HR_MAX_BODY_BYTES, &d->max_response_bytes);
            break;
        case 6:
            read_int(p, path, 1, 100, &d->connections_per_host);
            break;
        case 7:
            read_int(p, path, 1, 1000, &d->max_in_flight);
            break;
        case 8: {
            scalar v;
            if (read_scalar(p, path, "a URL", false, &v) && v.s != NULL) {
                if (check_url(&p->out, &v.mark, path, v.s, v.len, HR_URL_PROXY))
                    d->proxy = v.s;
                else
                    free(v.s);
            }
            break;
        }
        case 9:
            read_strlist(p, path, &d->allow, item_allow);
            break;
        case 10:
            parse_circuit(p, path, &d->circuit);
            break;
        default:
            break;
        }
        free(key.s);
    }
    if (d->backoff_initial_ms > d->backoff_max_ms) {
        if (seen & (1u << 2))
            report(&p->out, &max_mark, "delivery.backoff_max",
                   "must not be shorter than backoff_initial");
        else
            report(&p->out, &initial_mark, "delivery.backoff_initial",
                   "must not be longer than backoff_max (1h unless set)");
    }
}

/* The targets: section, from its table of keys. */
#include "route/config_target.c"
#include "route/config_people.c"
#include "route/config_store.c"

static void parse_match(parser *p, const char *path, hr_route *r)
{
    static const char *const keys[] = {"source", "kind",   "group",      "pipeline", "stage",
                                       "state",  "result", "transition", NULL};
    hr_strlist *lists[] = {&r->sources, &r->kinds,  &r->groups,  &r->pipelines,
                           &r->stages,  &r->states, &r->results, &r->transitions};
    item_fn checks[] = {item_word, item_word, item_glob, item_glob,
                        item_glob, item_word, item_word, item_transition};
    char kpath[PATH_LEN];
    yaml_mark_t start;
    key_mask seen = 0;
    scalar key;

    if (begin(p, YAML_MAPPING_START_EVENT, path, "a mapping", false, &start) != 1)
        return;
    while (next_key(p, path, &key)) {
        int i = known_key(p, path, &key, keys, &seen);
        if (i >= 0)
            read_strlist(p, sub_path(kpath, sizeof(kpath), path, keys[i]), lists[i], checks[i]);
        free(key.s);
    }
}

static void parse_route(parser *p, const char *path, size_t idx)
{
    static const char *const keys[] = {"name", "match", "filter", "targets", NULL};
    enum { NAME, MATCH, FILTER, TARGETS };
    hr_route *r = &p->c->routes[idx];
    char kpath[PATH_LEN], brief[BRIEF_LEN];
    yaml_mark_t start;
    key_mask seen = 0;
    scalar key, v;
    int opened = begin(p, YAML_MAPPING_START_EVENT, path, "a mapping", false, &start);

    if (opened < 0)
        return;
    while (opened == 1 && next_key(p, path, &key)) {
        int i = known_key(p, path, &key, keys, &seen);
        sub_path(kpath, sizeof(kpath), path, i >= 0 ? keys[i] : "");
        switch (i) {
        case NAME:
            if (!read_required(p, kpath, "a name", false, &v))
                break;
            if (!check_name(&p->out, &v.mark, kpath, v.s, v.len)) {
                free(v.s);
                break;
            }
            if (strcmp(v.s, GOCD_NAME) == 0 || strcmp(v.s, GOCD_AGENT_ROUTE) == 0) {
                report(&p->out, &v.mark, kpath,
                       "%s is reserved for the routes of GoCD's plugin settings",
                       quote(v.s, v.len, brief, sizeof(brief)));
                free(v.s);
                break;
            }
            for (size_t j = 0; j < idx; j++)
                if (p->c->routes[j].name != NULL && strcmp(p->c->routes[j].name, v.s) == 0) {
                    report(&p->out, &v.mark, kpath, "%s is already used by routes[%zu]",
                           quote(v.s, v.len, brief, sizeof(brief)), j);
                    break;
                }
            r->name = v.s;
            break;
        case MATCH:
            parse_match(p, kpath, r);
            break;
        case FILTER:
            if (!read_scalar(p, kpath, "a jq program", false, &v) || v.s == NULL)
                break;
            if (v.len > 0 && check_jq(&p->out, &v.mark, kpath, v.s))
                r->filter = v.s;
            else
                free(v.s);
            break;
        case TARGETS: {
            size_t refs = p->nrefs, problems = hr_errlist_count(p->out.errs);
            if (!peek(p))
                break;
            v.mark = p->ev.start_mark;
            read_strlist(p, kpath, &r->targets, item_target_ref);
            if (p->nrefs == refs && hr_errlist_count(p->out.errs) == problems)
                report(&p->out, &v.mark, kpath, "expected at least one target name");
            break;
        }
        default:
            break;
        }
        free(key.s);
    }
    missing_keys(p, &start, path, keys, (1u << NAME) | (1u << TARGETS), seen);
}

static void parse_routes(parser *p)
{
    hr_config *c = p->c;
    char path[PATH_LEN];
    yaml_mark_t start;
    size_t n = 0;

    if (begin(p, YAML_SEQUENCE_START_EVENT, "routes", "a list of routes", false, &start) != 1)
        return;
    while (next_item(p, "routes", &n, HR_CONFIG_MAX_ROUTES, "routes")) {
        c->routes = hr_realloc(c->routes, (c->nroutes + 1) * sizeof(*c->routes));
        memset(&c->routes[c->nroutes], 0, sizeof(*c->routes));
        snprintf(path, sizeof(path), "routes[%zu]", c->nroutes);
        parse_route(p, path, c->nroutes++);
    }
}

/* "HOST:PORT" for a listener: an IPv4 address, "[IPv6]" or a host name,
 * and a port from 1 to 65535. */
static bool item_listen(parser *p, const char *path, const scalar *item)
{
    char brief[BRIEF_LEN];
    const char *colon = item->len > 0 ? memrchr(item->s, ':', item->len) : NULL;
    size_t hlen = colon != NULL ? (size_t)(colon - item->s) : 0;
    uint64_t port = 0;
    bool ok = colon != NULL && hlen > 0 &&
              parse_uint(colon + 1, item->len - hlen - 1, 65535, &port) && port > 0;

    if (ok && item->s[0] == '[')
        ok = hlen > 2 && item->s[hlen - 1] == ']';
    else
        ok = ok && is_host_name(item->s, hlen);
    if (!ok)
        report(&p->out, &item->mark, path,
               "expected HOST:PORT (such as 127.0.0.1:8191) or a port (loopback), the port "
               "from 1 to 65535; got %s",
               quote(item->s, item->len, brief, sizeof(brief)));
    return ok;
}

/* A listener's address; a bare port means loopback ("8191" is
 * "127.0.0.1:8191"), since these listeners take no token. */
static void read_listen(parser *p, const char *path, char **out)
{
    uint64_t port;
    scalar v;
    if (!read_scalar(p, path, "HOST:PORT", false, &v) || v.s == NULL)
        return;
    if (parse_uint(v.s, v.len, 65535, &port) && port > 0) {
        size_t n = sizeof("127.0.0.1:") + v.len;
        *out = hr_malloc(n);
        snprintf(*out, n, "127.0.0.1:%s", v.s);
        free(v.s);
    } else if (item_listen(p, path, &v)) {
        *out = v.s;
    } else {
        free(v.s);
    }
}

/* A secret string (a token): never quoted in messages. Empty is refused,
 * so that "${TOKEN}" with TOKEN set to "" cannot open an endpoint. */
static void read_token(parser *p, const char *path, char **out)
{
    scalar v;
    if (!read_scalar(p, path, "a token", true, &v) || v.s == NULL)
        return;
    if (v.len == 0 || v.len > 1024) {
        report(&p->out, &v.mark, path, "expected a token of 1 to 1024 bytes");
        free(v.s);
        return;
    }
    *out = v.s;
}

static void parse_jenkins(parser *p)
{
    static const char *const keys[] = {"token", "tcp", "udp", "redact", "keep", NULL};
    hr_jenkins_settings *j = &p->c->jenkins;
    char path[PATH_LEN];
    yaml_mark_t start;
    key_mask seen = 0;
    scalar key;

    if (begin(p, YAML_MAPPING_START_EVENT, "jenkins", "a mapping", false, &start) != 1)
        return;
    while (next_key(p, "jenkins", &key)) {
        int i = known_key(p, "jenkins", &key, keys, &seen);
        sub_path(path, sizeof(path), "jenkins", i >= 0 ? keys[i] : "");
        switch (i) {
        case 0:
            read_token(p, path, &j->token);
            break;
        case 1:
            read_listen(p, path, &j->tcp);
            break;
        case 2:
            read_listen(p, path, &j->udp);
            break;
        case 3:
            j->redact_set = true;
            read_strlist(p, path, &j->redact, item_glob);
            break;
        case 4:
            read_strlist(p, path, &j->keep, item_glob);
            break;
        default:
            break;
        }
        free(key.s);
    }
}

/* A repository or package name: a name that is not "." or "..", since it
 * is a part of the API's paths. */
static bool read_package_name(parser *p, const char *path, char **out)
{
    scalar v;
    if (!read_required(p, path, "a name", false, &v))
        return false;
    if (!check_name(&p->out, &v.mark, path, v.s, v.len)) {
        free(v.s);
        return false;
    }
    if (strcmp(v.s, ".") == 0 || strcmp(v.s, "..") == 0) {
        report(&p->out, &v.mark, path, "\".\" and \"..\" are not names");
        free(v.s);
        return false;
    }
    *out = v.s;
    return true;
}

static void parse_package_decl(parser *p, const char *path, hr_repository_decl *r, size_t idx)
{
    static const char *const keys[] = {"name", "token", NULL};
    hr_package_decl *d = &r->packages[idx];
    char kpath[PATH_LEN];
    yaml_mark_t start;
    key_mask seen = 0;
    scalar key;

    if (begin(p, YAML_MAPPING_START_EVENT, path, "a mapping", false, &start) != 1)
        return;
    while (next_key(p, path, &key)) {
        int i = known_key(p, path, &key, keys, &seen);
        sub_path(kpath, sizeof(kpath), path, i >= 0 ? keys[i] : "");
        if (i == 0 && read_package_name(p, kpath, &d->name)) {
            for (size_t k = 0; k < idx; k++)
                if (r->packages[k].name != NULL && strcmp(r->packages[k].name, d->name) == 0)
                    report(&p->out, &key.mark, kpath, "\"%s\" is already declared", d->name);
        } else if (i == 1) {
            read_token(p, kpath, &d->token);
        }
        free(key.s);
    }
    missing_keys(p, &start, path, keys, 1u, seen);
}

static void parse_repository_decl(parser *p, const char *path, size_t idx)
{
    static const char *const keys[] = {"name", "token", "packages", NULL};
    hr_packages_settings *ps = &p->c->packages;
    hr_repository_decl *r = &ps->repositories[idx];
    char kpath[PATH_LEN], ipath[PATH_LEN + 24];
    yaml_mark_t start, lstart;
    key_mask seen = 0;
    scalar key;

    if (begin(p, YAML_MAPPING_START_EVENT, path, "a mapping", false, &start) != 1)
        return;
    while (next_key(p, path, &key)) {
        int i = known_key(p, path, &key, keys, &seen);
        sub_path(kpath, sizeof(kpath), path, i >= 0 ? keys[i] : "");
        if (i == 0 && read_package_name(p, kpath, &r->name)) {
            for (size_t k = 0; k < idx; k++)
                if (ps->repositories[k].name != NULL &&
                    strcmp(ps->repositories[k].name, r->name) == 0)
                    report(&p->out, &key.mark, kpath, "\"%s\" is already declared", r->name);
        } else if (i == 1) {
            read_token(p, kpath, &r->token);
        } else if (i == 2 && begin(p, YAML_SEQUENCE_START_EVENT, kpath, "a list of packages", false,
                                   &lstart) == 1) {
            size_t n = 0;
            while (next_item(p, kpath, &n, HR_CONFIG_MAX_ITEMS, "packages")) {
                r->packages = hr_realloc(r->packages, n * sizeof(*r->packages));
                memset(&r->packages[n - 1], 0, sizeof(*r->packages));
                r->npackages = n;
                snprintf(ipath, sizeof(ipath), "%s[%zu]", kpath, n - 1);
                parse_package_decl(p, ipath, r, n - 1);
            }
        }
        free(key.s);
    }
    missing_keys(p, &start, path, keys, 1u, seen);
}

static void parse_packages(parser *p)
{
    static const char *const keys[] = {"token", "create", "repositories", NULL};
    hr_packages_settings *ps = &p->c->packages;
    char path[PATH_LEN], ipath[PATH_LEN + 24];
    yaml_mark_t start, lstart;
    key_mask seen = 0;
    scalar key;

    if (begin(p, YAML_MAPPING_START_EVENT, "packages", "a mapping", false, &start) != 1)
        return;
    while (next_key(p, "packages", &key)) {
        int i = known_key(p, "packages", &key, keys, &seen);
        sub_path(path, sizeof(path), "packages", i >= 0 ? keys[i] : "");
        if (i == 0) {
            read_token(p, path, &ps->token);
        } else if (i == 1) {
            read_bool(p, path, &ps->create);
        } else if (i == 2 && begin(p, YAML_SEQUENCE_START_EVENT, path, "a list of repositories",
                                   false, &lstart) == 1) {
            size_t n = 0;
            while (next_item(p, path, &n, HR_CONFIG_MAX_ITEMS, "repositories")) {
                ps->repositories = hr_realloc(ps->repositories, n * sizeof(*ps->repositories));
                memset(&ps->repositories[n - 1], 0, sizeof(*ps->repositories));
                ps->nrepositories = n;
                snprintf(ipath, sizeof(ipath), "%s[%zu]", path, n - 1);
                parse_repository_decl(p, ipath, n - 1);
            }
        }
        free(key.s);
    }
}

static void parse_retention(parser *p)
{
    static const char *const keys[] = {"events", "attempts", "interval", NULL};
    hr_retention_settings *r = &p->c->retention;
    char path[PATH_LEN];
    yaml_mark_t start;
    key_mask seen = 0;
    scalar key;

    if (begin(p, YAML_MAPPING_START_EVENT, "retention", "a mapping", false, &start) != 1)
        return;
    while (next_key(p, "retention", &key)) {
        int i = known_key(p, "retention", &key, keys, &seen);
        sub_path(path, sizeof(path), "retention", i >= 0 ? keys[i] : "");
        if (i == 0)
            read_retention(p, path, true, &r->events_ms);
        else if (i == 1)
            read_retention(p, path, true, &r->attempts_ms);
        else if (i == 2)
            read_retention(p, path, false, &r->interval_ms);
        free(key.s);
    }
}

static void parse_root(parser *p)
{
    static const char *const keys[] = {"delivery",  "targets", "routes", "jenkins", "packages",
                                       "retention", "gocd",    "people", "store",   NULL};
    yaml_mark_t start;
    key_mask seen = 0;
    scalar key;

    if (begin(p, YAML_MAPPING_START_EVENT, NULL,
              "a mapping with the keys delivery, targets, routes, jenkins, packages, retention, "
              "gocd, people and store",
              false, &start) != 1)
        return;
    while (next_key(p, NULL, &key)) {
        switch (known_key(p, NULL, &key, keys, &seen)) {
        case 0:
            parse_delivery(p);
            break;
        case 1:
            parse_targets(p);
            break;
        case 2:
            parse_routes(p);
            break;
        case 3:
            parse_jenkins(p);
            break;
        case 4:
            parse_packages(p);
            break;
        case 5:
            parse_retention(p);
            break;
        case 6:
            parse_gocd(p);
            break;
        case 7:
            parse_people(p);
            break;
        case 8:
            parse_store(p);
            break;
        default:
            break;
        }
        free(key.s);
    }
}

/*
 * The first pass: YAML syntax and nesting depth only. A file that is not
 * valid YAML gets one message, libyaml's, rather than messages about the
 * part read before the problem too. Returns false after reporting.
 */
static bool check_syntax(parser *p)
{
    yaml_parser_t y;
    yaml_event_t ev;
    int depth = 0;
    bool ok = true, end = false;

    if (!yaml_parser_initialize(&y))
        hr_oom(sizeof(y));
    yaml_parser_set_input_string(&y, (const unsigned char *)p->text, p->len);
    while (ok && !end) {
        if (!yaml_parser_parse(&y, &ev)) {
            report_syntax_error(p, &y);
            ok = false;
            break;
        }
        if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT)
            depth++;
        else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT)
            depth--;
        end = ev.type == YAML_STREAM_END_EVENT;
        if (depth > HR_CONFIG_MAX_DEPTH) {
            report(&p->out, &ev.start_mark, NULL, "nested deeper than %d levels",
                   HR_CONFIG_MAX_DEPTH);
            ok = false;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&y);
    return ok;
}

/* The stream: at most one document, whose root is the config. */
static void parse_stream(parser *p)
{
    if (!peek(p)) /* STREAM-START */
        return;
    consume(p);
    if (!peek(p) || p->ev.type == YAML_STREAM_END_EVENT) /* an empty file */
        return;
    consume(p); /* DOCUMENT-START */
    parse_root(p);
    if (!peek(p)) /* DOCUMENT-END */
        return;
    consume(p);
    if (peek(p) && p->ev.type == YAML_DOCUMENT_START_EVENT)
        report(&p->out, &p->ev.start_mark, NULL,
               "expected one YAML document; found a second one (\"---\")");
}

static void check_refs(parser *p)
{
    char brief[BRIEF_LEN];
    for (size_t i = 0; i < p->nrefs; i++)
        if (hr_config_target(p->c, p->refs[i].name) == NULL)
            report(&p->out, &p->refs[i].mark, p->refs[i].path, "no target named %s",
                   quote(p->refs[i].name, strlen(p->refs[i].name), brief, sizeof(brief)));
}

/* ---- the public functions ------------------------------------------------ */

hr_config *hr_config_new_default(void)
{
    hr_config *c = hr_calloc(1, sizeof(*c));
    c->delivery.max_attempts = 10;
    c->delivery.backoff_initial_ms = 10 * 1000;
    c->delivery.backoff_max_ms = 3600 * 1000;
    c->delivery.connect_timeout_ms = 5 * 1000;
    c->delivery.timeout_ms = 15 * 1000;
    c->delivery.max_response_bytes = 4096;
    c->delivery.connections_per_host = 4;
    c->delivery.max_in_flight = 64;
    circuit_defaults(&c->delivery.circuit);
    c->packages.create = true;
    c->retention.events_ms = 90 * DAY_MS;
    c->retention.attempts_ms = 30 * DAY_MS;
    c->retention.interval_ms = 10 * 60 * 1000;
    c->gocd.attempts = GOCD_ATTEMPTS_DEFAULT;
    return c;
}

void hr_config_free(hr_config *c)
{
    if (c == NULL)
        return;
    free(c->path);
    free(c->gocd_set_aside);
    gocd_clear(c);
    for (size_t i = 0; i < c->ntargets; i++)
        target_clear(&c->targets[i]);
    free(c->targets);
    for (size_t i = 0; i < c->nroutes; i++)
        route_clear(&c->routes[i]);
    free(c->routes);
    free(c->delivery.proxy);
    strlist_clear(&c->delivery.allow);
    free(c->jenkins.token);
    free(c->jenkins.tcp);
    free(c->jenkins.udp);
    strlist_clear(&c->jenkins.redact);
    strlist_clear(&c->jenkins.keep);
    free(c->packages.token);
    free(c->store);
    for (size_t i = 0; i < c->packages.nrepositories; i++) {
        hr_repository_decl *r = &c->packages.repositories[i];
        free(r->name);
        free(r->token);
        for (size_t k = 0; k < r->npackages; k++) {
            free(r->packages[k].name);
            free(r->packages[k].token);
        }
        free(r->packages);
    }
    free(c->packages.repositories);
    free(c);
}

int hr_config_parse(const char *name, const char *text, size_t len, hr_config **out,
                    hr_errlist *errs)
{
    hr_errlist scratch = HR_ERRLIST_INIT;
    parser p;
    size_t before;
    int rc = HR_EINVAL;

    if (errs == NULL)
        errs = &scratch;
    before = hr_errlist_count(errs);
    if (name == NULL)
        name = "config";
    if (len > HR_CONFIG_MAX_BYTES) {
        hr_errlist_add(errs, "%s: the file is larger than the limit of %u bytes", name,
                       HR_CONFIG_MAX_BYTES);
        hr_errlist_clear(&scratch);
        return HR_ETOOBIG;
    }
    memset(&p, 0, sizeof(p));
    p.out.errs = errs;
    p.out.file = name;
    p.text = text != NULL ? text : "";
    p.len = len;
    p.c = hr_config_new_default();
    p.c->path = hr_strdup(name);
    if (!yaml_parser_initialize(&p.yp))
        hr_oom(sizeof(p.yp));
    yaml_parser_set_input_string(&p.yp, (const unsigned char *)p.text, len);
    if (check_syntax(&p)) {
        parse_stream(&p);
        check_refs(&p);
    }
    if (hr_errlist_count(errs) == before) {
        *out = p.c;
        p.c = NULL;
        rc = HR_OK;
    }
    consume(&p);
    yaml_parser_delete(&p.yp);
    for (size_t i = 0; i < p.nrefs; i++) {
        free(p.refs[i].path);
        free(p.refs[i].name);
    }
    free(p.refs);
    hr_config_free(p.c);
    hr_errlist_clear(&scratch);
    return rc;
}

int hr_config_load(const char *path, hr_config **out, hr_errlist *errs)
{
    char *text = NULL;
    size_t len = 0;
    int fd, rc = HR_EIO;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        hr_errlist_add(errs, "%s: cannot open: %s", path, strerror(errno));
        return HR_EIO;
    }
    /* Read up to one byte past the limit, so a larger file (or a pipe
     * that never ends) is refused without reading all of it. */
    text = hr_malloc(HR_CONFIG_MAX_BYTES + 1);
    while (len <= HR_CONFIG_MAX_BYTES) {
        ssize_t k = read(fd, text + len, HR_CONFIG_MAX_BYTES + 1 - len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            hr_errlist_add(errs, "%s: cannot read: %s", path, strerror(errno));
            goto out;
        }
        if (k == 0)
            break;
        len += (size_t)k;
    }
    rc = hr_config_parse(path, text, len, out, errs);
out:
    close(fd);
    free(text);
    return rc;
}

void hr_config_package(const hr_config *c, const char *repository, const char *package,
                       const hr_repository_decl **repo, const hr_package_decl **pkg)
{
    *repo = NULL;
    *pkg = NULL;
    for (size_t i = 0; i < c->packages.nrepositories; i++) {
        const hr_repository_decl *r = &c->packages.repositories[i];
        if (r->name == NULL || strcmp(r->name, repository) != 0)
            continue;
        *repo = r;
        for (size_t k = 0; package != NULL && k < r->npackages; k++)
            if (r->packages[k].name != NULL && strcmp(r->packages[k].name, package) == 0)
                *pkg = &r->packages[k];
        return;
    }
}

const char *hr_config_publish_token(const hr_config *c, const char *repository, const char *package)
{
    const hr_repository_decl *r;
    const hr_package_decl *d;

    hr_config_package(c, repository, package, &r, &d);
    if (d != NULL && d->token != NULL)
        return d->token;
    if (r != NULL && r->token != NULL)
        return r->token;
    return c->packages.token;
}

const hr_target *hr_config_target(const hr_config *c, const char *name)
{
    if (c == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < c->ntargets; i++)
        if (c->targets[i].name != NULL && strcmp(c->targets[i].name, name) == 0)
            return &c->targets[i];
    return NULL;
}

/* ---- GoCD's plugin settings ---------------------------------------------- */

/* One settings value as (s, n); a missing key or null is "". Reports a
 * value that is not a string (without showing it: headers are secret). */
static bool setting(const sink *s, const json_t *settings, const char *key, const char **v,
                    size_t *n)
{
    const json_t *j = json_object_get(settings, key);
    *v = "";
    *n = 0;
    if (j == NULL || json_is_null(j))
        return true;
    if (!json_is_string(j)) {
        report(s, NULL, key, "expected a string; got %s", hr_json_type_name(j));
        return false;
    }
    *v = json_string_value(j);
    *n = json_string_length(j);
    if (*n > HR_MAX_SETTING_BYTES) {
        report(s, NULL, key, "longer than %u bytes", HR_MAX_SETTING_BYTES);
        return false;
    }
    return true;
}

/* "Name: value" lines into t's headers, all secret (GoCD keeps the field
 * encrypted). Blank lines are skipped; a line may end with "\r\n". */
static void gocd_headers(const sink *s, hr_target *t, const char *v, size_t n)
{
    char path[64];
    size_t at = 0, line = 0;

    while (at < n) {
        size_t end = at, stop, colon, vs, ve;
        while (end < n && v[end] != '\n')
            end++;
        line++;
        stop = end;
        if (stop > at && v[stop - 1] == '\r')
            stop--;
        snprintf(path, sizeof(path), "webhook_headers line %zu", line);
        for (colon = at; colon < stop && v[colon] != ':'; colon++)
            ;
        if (stop == at) {
            /* a blank line */
        } else if (t->nheaders >= HR_CONFIG_MAX_ITEMS) {
            report(s, NULL, path, "at most %d headers are allowed", HR_CONFIG_MAX_ITEMS);
            return;
        } else if (colon == stop) {
            report(s, NULL, path, "expected \"Name: value\"");
        } else if (check_header_name(s, NULL, path, v + at, colon - at)) {
            for (vs = colon + 1; vs < stop && (v[vs] == ' ' || v[vs] == '\t'); vs++)
                ;
            for (ve = stop; ve > vs && (v[ve - 1] == ' ' || v[ve - 1] == '\t'); ve--)
                ;
            if (header_index(t, v + at, colon - at) >= 0) {
                char brief[BRIEF_LEN];
                report(s, NULL, path, "%s is set twice (header names are case-insensitive)",
                       quote(v + at, colon - at, brief, sizeof(brief)));
            } else if (check_header_value(s, NULL, path, v + vs, ve - vs)) {
                char *value = hr_strndup(v + vs, ve - vs);
                if (check_template(s, NULL, path, value, true))
                    header_add(t, v + at, colon - at, v + vs, ve - vs, true);
                free(value);
            }
        }
        at = end + 1;
    }
}

static void route_add(hr_config *c, const char *name, const char *kind,
                      const hr_strlist *transitions)
{
    hr_route *r;
    c->routes = hr_realloc(c->routes, (c->nroutes + 1) * sizeof(*c->routes));
    r = &c->routes[c->nroutes++];
    memset(r, 0, sizeof(*r));
    r->name = hr_strdup(name);
    strlist_add(&r->sources, hr_strdup(HR_SOURCE_GOCD));
    if (kind != NULL)
        strlist_add(&r->kinds, hr_strdup(kind));
    for (size_t i = 0; transitions != NULL && i < transitions->n; i++)
        strlist_add(&r->transitions, hr_strdup(transitions->items[i]));
    strlist_add(&r->targets, hr_strdup(GOCD_NAME));
}

/* Removes what an earlier call added. */
static void remove_gocd(hr_config *c)
{
    size_t k = 0;
    for (size_t i = 0; i < c->ntargets; i++) {
        if (c->targets[i].from_gocd)
            target_clear(&c->targets[i]);
        else
            c->targets[k++] = c->targets[i];
    }
    c->ntargets = k;
    k = 0;
    for (size_t i = 0; i < c->nroutes; i++) {
        const char *name = c->routes[i].name;
        if (name != NULL && (strcmp(name, GOCD_NAME) == 0 || strcmp(name, GOCD_AGENT_ROUTE) == 0))
            route_clear(&c->routes[i]);
        else
            c->routes[k++] = c->routes[i];
    }
    c->nroutes = k;
}

/* hr_config_add_gocd_settings, reporting to s. */
static int add_gocd_settings(hr_config *c, const json_t *settings, const sink *s)
{
    static const char *const notify_words[] = {"any",       "building", "passed", "failed",
                                               "cancelled", "broken",   "fixed",  "still_failing",
                                               "failing",   "unknown",  "agent",  NULL};
    hr_target t;
    hr_strlist transitions = {NULL, 0};
    const char *url, *method, *headers, *body, *notify;
    size_t url_n, method_n, headers_n, body_n, notify_n, before = hr_errlist_count(s->errs);
    bool any = false, agent = false;
    int rc = HR_EINVAL;

    memset(&t, 0, sizeof(t));
    if (settings == NULL) {
        remove_gocd(c);
        rc = HR_OK;
        goto out;
    }
    if (!json_is_object(settings)) {
        report(s, NULL, NULL, "expected an object; got %s", hr_json_type_name(settings));
        goto out;
    }
    setting(s, settings, "webhook_url", &url, &url_n);
    setting(s, settings, "webhook_method", &method, &method_n);
    setting(s, settings, "webhook_headers", &headers, &headers_n);
    setting(s, settings, "webhook_body", &body, &body_n);
    setting(s, settings, "notify_on", &notify, &notify_n);
    if (hr_errlist_count(s->errs) != before)
        goto out;
    if (url_n == 0) {
        remove_gocd(c);
        rc = HR_OK;
        goto out;
    }

    t.name = hr_strdup(GOCD_NAME);
    t.from_gocd = true;
    if (check_url(s, NULL, "webhook_url", url, url_n, HR_URL_TEMPLATES)) {
        t.url = hr_strndup(url, url_n);
        check_template(s, NULL, "webhook_url", t.url, false);
    }
    if (method_n == 0)
        t.method = hr_strdup("POST");
    else if (check_method(s, NULL, "webhook_method", method, method_n))
        t.method = hr_strndup(method, method_n);
    gocd_headers(s, &t, headers, headers_n);
    if (memchr(body, '\0', body_n) != NULL) {
        report(s, NULL, "webhook_body", "NUL bytes are not allowed");
    } else if (body_n > 0) {
        t.body = hr_strndup(body, body_n);
        check_jq(s, NULL, "webhook_body", t.body);
    }

    /* notify_on: "any" (or nothing) is every GoCD event; "agent" is
     * agent-status events; the other words are stage transitions. */
    for (size_t at = 0; at <= notify_n;) {
        size_t end = at, a, b;
        char brief[BRIEF_LEN];
        while (end < notify_n && notify[end] != ',')
            end++;
        for (a = at; a < end && (notify[a] == ' ' || notify[a] == '\t'); a++)
            ;
        for (b = end; b > a && (notify[b - 1] == ' ' || notify[b - 1] == '\t'); b--)
            ;
        if (b > a && !in_list(notify + a, b - a, notify_words))
            report(s, NULL, "notify_on",
                   "%s is not one of any, building, passed, failed, "
                   "cancelled, broken, fixed, still_failing, failing, unknown, agent",
                   quote(notify + a, b - a, brief, sizeof(brief)));
        else if (eqn(notify + a, b - a, "any"))
            any = true;
        else if (eqn(notify + a, b - a, "agent"))
            agent = true;
        else if (b > a)
            strlist_add(&transitions, hr_strndup(notify + a, b - a));
        at = end + 1;
    }
    if (hr_errlist_count(s->errs) != before)
        goto out;

    remove_gocd(c);
    c->targets = hr_realloc(c->targets, (c->ntargets + 1) * sizeof(*c->targets));
    c->targets[c->ntargets++] = t;
    memset(&t, 0, sizeof(t));
    if (any || (!agent && transitions.n == 0)) {
        route_add(c, GOCD_NAME, NULL, NULL);
    } else if (transitions.n == 0) {
        route_add(c, GOCD_NAME, HR_KIND_AGENT_STATUS, NULL);
    } else {
        route_add(c, GOCD_NAME, HR_KIND_STAGE_STATUS, &transitions);
        if (agent)
            route_add(c, GOCD_AGENT_ROUTE, HR_KIND_AGENT_STATUS, NULL);
    }
    rc = HR_OK;
out:
    target_clear(&t);
    strlist_clear(&transitions);
    return rc;
}

int hr_config_add_gocd_settings(hr_config *c, const json_t *settings, hr_errlist *errs)
{
    hr_errlist scratch = HR_ERRLIST_INIT;
    sink s = {errs != NULL ? errs : &scratch, NULL, NULL};
    int rc = add_gocd_settings(c, settings, &s);
    hr_errlist_clear(&scratch);
    return rc;
}

json_t *hr_config_check_gocd_settings(const json_t *settings)
{
    hr_errlist scratch = HR_ERRLIST_INIT;
    hr_config *c = hr_config_new_default();
    sink s = {&scratch, NULL, json_array()};

    add_gocd_settings(c, settings, &s);
    hr_config_free(c);
    hr_errlist_clear(&scratch);
    return s.keyed;
}

/* ---- hr_config_to_json ---------------------------------------------------- */

/* A URL with the password of its user information masked. New. */
static json_t *url_json(const char *url)
{
    const char *scheme, *at, *colon, *end;
    char *masked;
    json_t *j;
    size_t n;

    if (url == NULL)
        return json_null();
    scheme = strstr(url, "://");
    if (scheme == NULL)
        return json_string(url);
    scheme += 3;
    end = scheme + strcspn(scheme, "/?#");
    at = memchr(scheme, '@', (size_t)(end - scheme));
    /* The last '@' of the authority ends the user information. */
    while (at != NULL && memchr(at + 1, '@', (size_t)(end - at - 1)) != NULL)
        at = memchr(at + 1, '@', (size_t)(end - at - 1));
    colon = at != NULL ? memchr(scheme, ':', (size_t)(at - scheme)) : NULL;
    if (colon == NULL)
        return json_string(url);
    n = (size_t)(colon + 1 - url);
    masked = hr_malloc(n + strlen(MASK) + strlen(at) + 1);
    memcpy(masked, url, n);
    memcpy(masked + n, MASK, strlen(MASK));
    memcpy(masked + n + strlen(MASK), at, strlen(at) + 1);
    j = json_string(masked);
    free(masked);
    return j;
}

static json_t *str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

/* A secret as the API shows it: masked when set, null when not. */
static json_t *masked(const char *secret)
{
    return secret != NULL ? json_string(MASK) : json_null();
}

/* Secrets as the API shows them: null for none, one mask for one (as
 * before rotation), a list of masks for several. */
static json_t *masked_list(const hr_strlist *l)
{
    json_t *a;
    if (l->n <= 1)
        return masked(l->n == 1 ? l->items[0] : NULL);
    a = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(a, json_string(MASK));
    return a;
}

static json_t *strlist_json(const hr_strlist *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(a, json_string(l->items[i]));
    return a;
}

json_t *hr_config_to_json(const hr_config *c)
{
    const hr_delivery_settings *d = &c->delivery;
    json_t *targets = json_array(), *routes = json_array();

    for (size_t i = 0; i < c->ntargets; i++) {
        const hr_target *t = &c->targets[i];
        json_t *headers = json_object();
        char rate[64];
        for (size_t k = 0; k < t->nheaders; k++)
            json_object_set_new(headers, t->headers[k].name,
                                json_string(t->headers[k].secret ? MASK : t->headers[k].value));
        /* A service's URL is its credential: shown masked as a whole. */
        json_t *url = t->type == HR_TARGET_WEBHOOK || t->type == HR_TARGET_EMAIL ? url_json(t->url)
                                                                                 : masked(t->url);
        json_t *tj = json_pack(
            "{s:o,s:s,s:o,s:o,s:o,s:o,s:b,s:o,s:b}", "name", str_or_null(t->name), "type",
            hr_target_type_name(t->type), "url", url, "method", str_or_null(t->method), "headers",
            headers, "body", str_or_null(t->body), "body_for_get", t->body_for_get,
            "signing_secret", masked_list(&t->signing_secrets), "from_gocd", t->from_gocd);
        json_object_update_new(tj, json_pack("{s:o,s:b}", "order_by", str_or_null(t->order_by),
                                             "latest_wins", t->latest_wins));
        json_object_set_new(tj, "rate_limit",
                            json_string(hr_rate_limit_format(&t->rate_limit, rate, sizeof(rate))));
        if (t->type == HR_TARGET_EMAIL)
            json_object_update_new(tj, json_pack("{s:b,s:o,s:o,s:o,s:o}", "starttls", t->starttls,
                                                 "username", str_or_null(t->username), "password",
                                                 masked(t->password), "from", str_or_null(t->from),
                                                 "to", strlist_json(&t->to)));
        if (t->type == HR_TARGET_EMAIL)
            json_object_set_new(tj, "subject", str_or_null(t->subject));
        if (t->type != HR_TARGET_WEBHOOK)
            json_object_update_new(tj, json_pack("{s:o,s:o}", "title", str_or_null(t->title),
                                                 "text", str_or_null(t->text)));
        if (t->type == HR_TARGET_SLACK || hr_target_type_is_state(t->type))
            json_object_set_new(tj, "token", masked(t->token));
        if (t->type == HR_TARGET_SLACK)
            json_object_set_new(tj, "thread", json_boolean(t->thread));
        if (t->type == HR_TARGET_DISCORD)
            json_object_set_new(tj, "edit", json_boolean(t->edit));
        if (hr_target_type_is_state(t->type))
            json_object_update_new(
                tj, json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:b}", "host", str_or_null(t->host),
                              "repository", str_or_null(t->repository), "context",
                              str_or_null(t->context), "summary", str_or_null(t->summary),
                              "severity", str_or_null(t->severity), "order_by",
                              str_or_null(t->order_by), "latest_wins", t->latest_wins != 0));
        if (t->type != HR_TARGET_WEBHOOK && t->type != HR_TARGET_EMAIL)
            json_object_update_new(
                tj, json_pack("{s:o,s:o,s:o,s:o}", "api_url", url_json(t->api_url), "channel",
                              str_or_null(t->channel), "username", str_or_null(t->username),
                              "icon_url", url_json(t->icon_url)));
        json_array_append_new(targets, tj);
    }
    for (size_t i = 0; i < c->nroutes; i++) {
        const hr_route *r = &c->routes[i];
        json_t *match =
            json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "source", strlist_json(&r->sources),
                      "kind", strlist_json(&r->kinds), "group", strlist_json(&r->groups),
                      "pipeline", strlist_json(&r->pipelines), "stage", strlist_json(&r->stages),
                      "state", strlist_json(&r->states), "result", strlist_json(&r->results),
                      "transition", strlist_json(&r->transitions));
        json_array_append_new(routes, json_pack("{s:o,s:o,s:o,s:o}", "name", str_or_null(r->name),
                                                "match", match, "filter", str_or_null(r->filter),
                                                "targets", strlist_json(&r->targets)));
    }
    json_t *repos = json_array();
    for (size_t i = 0; i < c->packages.nrepositories; i++) {
        const hr_repository_decl *r = &c->packages.repositories[i];
        json_t *pkgs = json_array();
        for (size_t k = 0; k < r->npackages; k++)
            json_array_append_new(pkgs,
                                  json_pack("{s:o,s:o}", "name", str_or_null(r->packages[k].name),
                                            "token", masked(r->packages[k].token)));
        json_array_append_new(repos, json_pack("{s:o,s:o,s:o}", "name", str_or_null(r->name),
                                               "token", masked(r->token), "packages", pkgs));
    }
    json_t *out = json_pack(
        "{s:o,s:{s:i,s:I,s:I,s:I,s:I,s:I,s:i,s:i,s:o,s:o},s:o,s:o}", "path", str_or_null(c->path),
        "delivery", "max_attempts", d->max_attempts, "backoff_initial_ms",
        (json_int_t)d->backoff_initial_ms, "backoff_max_ms", (json_int_t)d->backoff_max_ms,
        "connect_timeout_ms", (json_int_t)d->connect_timeout_ms, "timeout_ms",
        (json_int_t)d->timeout_ms, "max_response_bytes", (json_int_t)d->max_response_bytes,
        "connections_per_host", d->connections_per_host, "max_in_flight", d->max_in_flight, "proxy",
        url_json(d->proxy), "allow", strlist_json(&d->allow), "targets", targets, "routes", routes);
    json_object_set_new(
        out, "jenkins",
        json_pack("{s:o,s:o,s:o,s:o,s:o}", "token", masked(c->jenkins.token), "tcp",
                  str_or_null(c->jenkins.tcp), "udp", str_or_null(c->jenkins.udp), "redact",
                  c->jenkins.redact_set ? strlist_json(&c->jenkins.redact) : json_string("default"),
                  "keep", strlist_json(&c->jenkins.keep)));
    json_object_set_new(out, "packages",
                        json_pack("{s:o,s:b,s:o}", "token", masked(c->packages.token), "create",
                                  c->packages.create, "repositories", repos));
    json_object_set_new(out, "retention",
                        json_pack("{s:I,s:I,s:I}", "events_ms", (json_int_t)c->retention.events_ms,
                                  "attempts_ms", (json_int_t)c->retention.attempts_ms,
                                  "interval_ms", (json_int_t)c->retention.interval_ms));
    people_json(c, out);
    return out;
}
