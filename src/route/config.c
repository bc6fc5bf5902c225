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
#include "core/size.h"
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

#include "route/config_checks.c"

#include "route/config_yaml.c"
#include "route/config_values.c"

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

#include "route/config_routes.c"
#include "route/config_sections.c"

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

#include "route/config_gocd.c"
#include "route/config_json.c"
