#include "route/jq.h"

#include "core/limits.h"
#include "core/mem.h"
#include "route/jq_sandbox.h"

#include <jq.h>
#include <jv.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A value is written out (as output, or as an error's message) only when
 * an upper bound of its JSON text is under this: libjq would otherwise
 * write a value that repeats one part 2^40 times, built in 40 steps. */
#define DUMP_GUARD_BYTES (32u * HR_JQ_MAX_OUTPUT)

struct hr_jq {
    jq_state *jq;
    hr__jq_watch watch; /* the budget of its runs */
};

typedef struct tpl_part {
    char *text; /* literal text, or NULL for a {{ jq }} part */
    size_t len;
    hr_jq *q;     /* the part's program, or NULL for literal text */
    size_t where; /* byte offset of the part's "{{" in the template, for messages */
} tpl_part;

struct hr_template {
    tpl_part *parts;
    size_t n;
};

/* What jq reports while compiling, joined into one line. */
typedef struct compile_msgs {
    char buf[HR_ERROR_MSG_MAX];
    size_t len;
    bool modules; /* the program uses import, include or module */
} compile_msgs;

/* Appends s to m as one line: line breaks and tabs become spaces, trailing
 * spaces are dropped, and messages are separated by "; ". */
static void msgs_add(compile_msgs *m, const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == '\t'))
        n--;
    if (n == 0)
        return;
    if (m->len > 0 && m->len + 2 < sizeof(m->buf)) {
        memcpy(m->buf + m->len, "; ", 2);
        m->len += 2;
    }
    for (size_t i = 0; i < n && m->len + 1 < sizeof(m->buf); i++) {
        char c = s[i];
        m->buf[m->len++] = (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
    }
    m->buf[m->len] = '\0';
}

/* Whether s is jq's closing summary of a failed compile, such as
 * "jq: 1 compile error": it adds nothing to the messages before it. */
static bool is_summary(const char *s)
{
    return strncmp(s, "jq: error", 9) != 0 && strncmp(s, "jq: ", 4) == 0 &&
           strstr(s, " compile error") != NULL;
}

/* Adds s to m without the prelude: jq quotes the program's line, and its
 * first line follows the prelude. Both halves go in as one message
 * (msgs_add separates messages). */
static void msgs_add_program(compile_msgs *m, const char *s, size_t n)
{
    const char *at = memmem(s, n, hr__jq_prelude, hr__jq_prelude_len);
    char buf[HR_ERROR_MSG_MAX];
    size_t head, tail;

    if (at == NULL) {
        msgs_add(m, s, n);
        return;
    }
    head = (size_t)(at - s);
    tail = n - head - hr__jq_prelude_len;
    if (head > sizeof(buf))
        head = sizeof(buf);
    if (tail > sizeof(buf) - head)
        tail = sizeof(buf) - head;
    memcpy(buf, s, head);
    memcpy(buf + head, at + hr__jq_prelude_len, tail);
    msgs_add(m, buf, head + tail);
}

/* jq's error callback while compiling. It owns msg. */
static void collect_msg(void *data, jv msg)
{
    compile_msgs *m = data;

    if (jv_get_kind(msg) == JV_KIND_INVALID)
        msg = jv_invalid_get_msg(msg); /* null when it has none */
    if (jv_get_kind(msg) != JV_KIND_STRING && jv_get_kind(msg) != JV_KIND_NULL)
        msg = jv_dump_string(msg, 0);
    if (jv_get_kind(msg) == JV_KIND_STRING && !is_summary(jv_string_value(msg))) {
        const char *s = jv_string_value(msg);
        size_t n = (size_t)jv_string_length_bytes(jv_copy(msg));
        /* After the prelude, jq's parser meets these where only an
         * expression may stand. */
        if (memmem(s, n, "unexpected import", 17) != NULL ||
            memmem(s, n, "unexpected include", 18) != NULL ||
            memmem(s, n, "unexpected module", 17) != NULL)
            m->modules = true;
        msgs_add_program(m, s, n);
    }
    jv_free(msg);
}

/* jq's error callback after compiling: run-time errors come back from
 * jq_next instead, so anything reported here is dropped. */
static void drop_msg(void *data, jv msg)
{
    jv_free(msg);
}

/* libjq's out-of-memory handler: herald's one policy. */
static _Noreturn void jq_oom(void *data)
{
    hr_oom(0);
}

int hr_jq_compile(const char *program, hr_jq **out, hr_error *err)
{
    compile_msgs m = {{0}, 0, false};
    size_t n;
    char *text;
    jq_state *jq;
    hr_jq *q;
    int ok;

    if (program == NULL)
        return hr_error_set(err, HR_EINVAL, "jq: error: no program");
    jq = jq_init();
    if (jq == NULL)
        hr_oom(0);
    q = hr_calloc(1, sizeof(*q));
    /* libjq 1.6's jq_init leaves these callbacks uninitialised: `input`
     * would call whatever the input callback's bytes point to, and
     * jq_start installs the garbage out-of-memory handler. Only the
     * prelude's halt reaches the input callback. */
    q->watch.jq = jq;
    jq_set_input_cb(jq, hr__jq_watch_on_input, &q->watch);
    jq_set_debug_cb(jq, NULL, NULL);
    jq_set_nomem_handler(jq, jq_oom, NULL);
    /* libjq 1.6 asserts (and so aborts the process) when it looks for a
     * module and no library path is set. The prelude leaves import and
     * include no place; the empty path keeps `modulemeta` from finding any
     * file ("module not found"). */
    jq_set_attr(jq, jv_string("JQ_LIBRARY_PATH"), jv_array());
    jq_set_error_cb(jq, collect_msg, &m);
    n = strlen(program);
    text = hr_malloc(hr__jq_prelude_len + n + 1);
    memcpy(text, hr__jq_prelude, hr__jq_prelude_len);
    memcpy(text + hr__jq_prelude_len, program, n + 1);
    ok = jq_compile(jq, text);
    free(text);
    if (!ok) {
        jq_teardown(&jq);
        free(q);
        if (m.modules)
            return hr_error_set(err, HR_EINVAL,
                                "jq: error: import, include and module are not available: a "
                                "program sees only its event");
        return hr_error_set(err, HR_EINVAL, "%s",
                            m.len > 0 ? m.buf : "jq: error: the program does not compile");
    }
    jq_set_error_cb(jq, drop_msg, NULL);
    q->jq = jq;
    *out = q;
    return HR_OK;
}

void hr_jq_free(hr_jq *q)
{
    if (q == NULL)
        return;
    jq_teardown(&q->jq);
    free(q);
}

/* Converts a jansson value to a new jv through its JSON text. */
static int to_jv(const json_t *input, jv *out, hr_error *err)
{
    char *text;
    size_t len;
    jv v;

    if (input == NULL)
        return hr_error_set(err, HR_EINVAL, "jq: error: no input");
    text = json_dumps(input, JSON_ENCODE_ANY | JSON_COMPACT);
    if (text == NULL)
        return hr_error_set(err, HR_EINVAL, "jq: error: the input cannot be written as JSON");
    len = strlen(text);
    if (len > INT_MAX) {
        free(text);
        return hr_error_set(err, HR_ETOOBIG, "jq: error: the input is larger than %d bytes",
                            INT_MAX);
    }
    v = jv_parse_sized(text, (int)len);
    free(text);
    if (!jv_is_valid(v)) {
        jv msg = jv_invalid_get_msg(v);
        int rc = hr_error_set(err, HR_EINVAL, "jq: error: cannot read the input: %s",
                              jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg)
                                                                 : "unknown error");
        jv_free(msg);
        return rc;
    }
    *out = v;
    return HR_OK;
}

/* Takes from *left an upper bound of the size of v's JSON text as libjq
 * writes it (every string byte escaped as \uXXXX at worst; anything deeper
 * than libjq's 256 levels as its short marker). Returns false, and stops
 * walking, once *left is spent. v is borrowed. */
static bool take_size(jv v, int depth, size_t *left)
{
    size_t cost;
    bool ok = true;

    if (depth > 257) {
        cost = 32;
    } else {
        switch (jv_get_kind(v)) {
        case JV_KIND_STRING:
            cost = 6 * (size_t)jv_string_length_bytes(jv_copy(v)) + 2;
            break;
        case JV_KIND_ARRAY:
            cost = 2 + (size_t)jv_array_length(jv_copy(v));
            break;
        case JV_KIND_OBJECT:
            cost = 2;
            break;
        default:
            cost = 32; /* a number, null, true or false */
            break;
        }
    }
    if (cost > *left)
        return false;
    *left -= cost;
    if (depth > 257)
        return true;
    if (jv_get_kind(v) == JV_KIND_ARRAY) {
        jv_array_foreach(v, i, e)
        {
            ok = ok && take_size(e, depth + 1, left);
            jv_free(e);
            if (!ok)
                break;
        }
    } else if (jv_get_kind(v) == JV_KIND_OBJECT) {
        jv_object_foreach(v, k, e)
        {
            ok = ok && take_size(k, depth + 1, left) && take_size(e, depth + 1, left);
            jv_free(k);
            jv_free(e);
            if (!ok)
                break;
        }
    }
    return ok;
}

/* Writes v (consumed) as JSON text, or gives an invalid value when its
 * text could be longer than DUMP_GUARD_BYTES. */
static jv dump_bounded(jv v)
{
    size_t left = DUMP_GUARD_BYTES;

    if (!take_size(v, 0, &left)) {
        jv_free(v);
        return jv_invalid();
    }
    return jv_dump_string(v, 0);
}

/* Turns the message of a run-time error (consumed) into err, on one line:
 * the message is written by the program and goes to logs. */
static int runtime_error(jv msg, const char *what, hr_error *err)
{
    bool is_string = jv_get_kind(msg) == JV_KIND_STRING;

    if (!is_string)
        msg = dump_bounded(msg);
    hr_error_set(err, HR_EINVAL, "jq: error: %s%s%s", what,
                 jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) : "?",
                 is_string ? "" : " (not a string)");
    jv_free(msg);
    if (err != NULL)
        for (char *c = err->msg; *c != '\0'; c++)
            if (*c == '\n' || *c == '\r' || *c == '\t')
                *c = ' ';
    return HR_EINVAL;
}

/*
 * Runs q on in (consumed) and gives its first output in *out (new). Later
 * outputs are never computed: jq produces outputs lazily, so a program such
 * as `repeat(1)` stops here after one. Returns HR_ENOTFOUND when the program
 * ends with no output, HR_EINVAL for a run-time error or halt_error, and
 * HR_ETOOBIG when the watchdog stopped it (an output it gave at that very
 * moment is dropped: the budget was spent).
 */
static int run_first(hr_jq *q, jv in, jv *out, hr_error *err)
{
    int rc;
    jv v;

    jq_start(q->jq, in, 0);
    hr__jq_watch_arm(&q->watch);
    v = jq_next(q->jq);
    if (hr__jq_watch_disarm(&q->watch)) {
        jv_free(v);
        rc = hr_error_set(err, HR_ETOOBIG,
                          "jq: error: the program ran past its budget of %d ms and was stopped",
                          HR_MAX_JQ_RUN_MS);
    } else if (jv_is_valid(v)) {
        *out = v;
        rc = HR_OK;
    } else if (jv_invalid_has_msg(jv_copy(v))) {
        rc = runtime_error(jv_invalid_get_msg(v), "", err);
    } else {
        jv_free(v);
        rc = hr_error_set(err, HR_ENOTFOUND, "jq: the program gave no output");
        if (jq_halted(q->jq)) {
            /* halt gives no output; halt_error sets a message. */
            jv msg = jq_get_error_message(q->jq);
            if (jv_is_valid(msg))
                rc = runtime_error(msg, "halt_error: ", err);
            else
                jv_free(msg);
        }
    }
    /* Starting again on null drops the state of this run, input included,
     * so an idle program does not keep the last event alive. */
    jq_start(q->jq, jv_null(), 0);
    /* libjq 1.6's reset frees the exit code and message that halt_error
     * stored but leaves the pointers in place, so the next reset (the next
     * run, or jq_teardown) would free them again and corrupt the heap
     * (fixed upstream in 2024, commit 7be68707). Halting the fresh run
     * stores unallocated values over them; nothing runs it, and the next
     * jq_start clears the flag. */
    jq_halt(q->jq, jv_invalid(), jv_invalid());
    return rc;
}

/* Converts v (consumed) to a new jansson value, bounded to
 * HR_JQ_MAX_OUTPUT bytes of JSON text. */
static int from_jv(jv v, json_t **out, hr_error *err)
{
    json_error_t jerr;
    jv text = dump_bounded(v);
    size_t len;
    json_t *j;
    int rc = HR_OK;

    if (!jv_is_valid(text)) {
        jv_free(text);
        return hr_error_set(err, HR_ETOOBIG, "jq output is larger than %u bytes", HR_JQ_MAX_OUTPUT);
    }
    len = (size_t)jv_string_length_bytes(jv_copy(text));
    if (len > HR_JQ_MAX_OUTPUT) {
        rc = hr_error_set(err, HR_ETOOBIG, "jq output is larger than %u bytes", HR_JQ_MAX_OUTPUT);
        goto out;
    }
    j = json_loadb(jv_string_value(text), len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    /* jq numbers are doubles and jq writes integral ones in full, such as
     * 12345678901234567000, which overflows jansson's integers. */
    if (j == NULL && json_error_code(&jerr) == json_error_numeric_overflow)
        j = json_loadb(jv_string_value(text), len,
                       JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr);
    if (j == NULL) {
        /* libjq writes values nested deeper than 256 levels as a marker
         * that is not JSON. */
        rc = hr_error_set(err, HR_EINVAL, "jq output cannot be read as JSON: %s", jerr.text);
        goto out;
    }
    *out = j;
out:
    jv_free(text);
    return rc;
}

int hr_jq_run(hr_jq *q, const json_t *input, json_t **out, hr_error *err)
{
    jv in, v;
    int rc;

    rc = to_jv(input, &in, err);
    if (rc != HR_OK)
        return rc;
    rc = run_first(q, in, &v, err);
    if (rc != HR_OK)
        return rc;
    return from_jv(v, out, err);
}

int hr_jq_test(hr_jq *q, const json_t *input, bool *out, hr_error *err)
{
    jv in, v;
    jv_kind kind;
    int rc;

    rc = to_jv(input, &in, err);
    if (rc != HR_OK)
        return rc;
    rc = run_first(q, in, &v, err);
    if (rc == HR_ENOTFOUND) {
        hr_error_clear(err);
        *out = false;
        return HR_OK;
    }
    if (rc != HR_OK)
        return rc;
    kind = jv_get_kind(v);
    jv_free(v);
    *out = kind != JV_KIND_FALSE && kind != JV_KIND_NULL;
    return HR_OK;
}

/* ---- probes ---- */

/* One probe run: a program or a template, on an empty event. */
typedef struct probe {
    hr_jq *q;
    hr_template *t;
    int rc;
    hr_error err;
} probe;

static void *probe_main(void *arg)
{
    probe *p = arg;
    json_t *in = json_object(), *out = NULL;
    char *text = NULL;

    if (in == NULL)
        hr_oom(0);
    if (p->q != NULL)
        p->rc = hr_jq_run(p->q, in, &out, &p->err);
    else
        p->rc = hr_template_render(p->t, in, false, &text, &p->err);
    json_decref(out);
    free(text);
    json_decref(in);
    return NULL;
}

/* Runs p on a thread of its own, with the stack a deep value needs
 * whatever the caller's is (check-config runs on the main thread). */
static int probe_run(probe *p, hr_error *err)
{
    pthread_attr_t attr;
    pthread_t th;
    int created;

    hr_error_clear(&p->err);
    p->rc = HR_OK;
    if (pthread_attr_init(&attr) != 0)
        return HR_OK; /* no probe: no finding */
    pthread_attr_setstacksize(&attr, HR__JQ_STACK_BYTES);
    created = pthread_create(&th, &attr, probe_main, p) == 0;
    pthread_attr_destroy(&attr);
    if (!created)
        return HR_OK;
    pthread_join(th, NULL);
    if (p->rc != HR_ETOOBIG)
        return HR_OK;
    return hr_error_set(err, HR_ETOOBIG, "%s", p->err.msg);
}

int hr_jq_probe(hr_jq *q, hr_error *err)
{
    probe p = {q, NULL, HR_OK, {HR_OK, {0}}};
    return probe_run(&p, err);
}

int hr_template_probe(hr_template *t, hr_error *err)
{
    probe p = {NULL, t, HR_OK, {HR_OK, {0}}};
    size_t i = 0;

    /* Literal text cannot exceed a budget: no thread for it (a config of
     * a thousand targets has a thousand literal URLs). */
    while (i < t->n && t->parts[i].q == NULL)
        i++;
    if (i == t->n)
        return HR_OK;
    return probe_run(&p, err);
}

/* ---- templates ---- */

void hr_template_free(hr_template *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->parts[i].text);
        hr_jq_free(t->parts[i].q);
    }
    free(t->parts);
    free(t);
}

static tpl_part *add_part(hr_template *t, size_t *cap)
{
    if (t->n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        t->parts = hr_realloc(t->parts, *cap * sizeof(*t->parts));
    }
    memset(&t->parts[t->n], 0, sizeof(t->parts[0]));
    return &t->parts[t->n++];
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false;
    return true;
}

int hr_template_compile(const char *text, hr_template **out, hr_error *err)
{
    hr_template *t;
    const char *p;
    size_t cap = 0;
    int rc = HR_OK;

    if (text == NULL)
        return hr_error_set(err, HR_EINVAL, "template: no text");
    t = hr_calloc(1, sizeof(*t));
    p = text;
    while (*p != '\0') {
        const char *open = strstr(p, "{{"), *close;
        tpl_part *part;
        char *program;
        hr_error e;

        if (open == NULL) {
            part = add_part(t, &cap);
            part->len = strlen(p);
            part->text = hr_strndup(p, part->len);
            break;
        }
        if (open > p) {
            part = add_part(t, &cap);
            part->len = (size_t)(open - p);
            part->text = hr_strndup(p, part->len);
        }
        close = strstr(open + 2, "}}");
        if (close == NULL) {
            rc = hr_error_set(err, HR_EINVAL,
                              "template: the \"{{\" at byte %zu has no closing \"}}\"",
                              (size_t)(open - text));
            goto out;
        }
        if (blank(open + 2, (size_t)(close - open - 2))) {
            rc = hr_error_set(err, HR_EINVAL, "template: the \"{{ }}\" at byte %zu is empty",
                              (size_t)(open - text));
            goto out;
        }
        program = hr_strndup(open + 2, (size_t)(close - open - 2));
        part = add_part(t, &cap);
        part->where = (size_t)(open - text);
        rc = hr_jq_compile(program, &part->q, &e);
        free(program);
        if (rc != HR_OK) {
            rc = hr_error_set(err, rc, "template: the part at byte %zu: %s", part->where, e.msg);
            goto out;
        }
        p = close + 2;
    }
    *out = t;
    t = NULL;
out:
    hr_template_free(t);
    return rc;
}

/* The rendered text, at most HR_JQ_MAX_OUTPUT bytes plus its NUL. */
typedef struct tpl_buf {
    char *s;
    size_t len, cap;
} tpl_buf;

static int buf_append(tpl_buf *b, const char *s, size_t n, hr_error *err)
{
    if (n > HR_JQ_MAX_OUTPUT - b->len)
        return hr_error_set(err, HR_ETOOBIG, "template output is larger than %u bytes",
                            HR_JQ_MAX_OUTPUT);
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (cap > HR_JQ_MAX_OUTPUT + 1)
            cap = HR_JQ_MAX_OUTPUT + 1;
        b->s = hr_realloc(b->s, cap);
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
    return HR_OK;
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Appends (s, n) percent-encoded: every byte but RFC 3986's unreserved
 * characters becomes %XX. */
static int buf_append_encoded(tpl_buf *b, const char *s, size_t n, hr_error *err)
{
    static const char hex[] = "0123456789ABCDEF";
    char chunk[192];
    size_t used = 0;
    int rc;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c)) {
            chunk[used++] = (char)c;
        } else {
            chunk[used++] = '%';
            chunk[used++] = hex[c >> 4];
            chunk[used++] = hex[c & 0x0F];
        }
        if (used + 3 > sizeof(chunk)) {
            rc = buf_append(b, chunk, used, err);
            if (rc != HR_OK)
                return rc;
            used = 0;
        }
    }
    return buf_append(b, chunk, used, err);
}

/* Appends the text of one part's output v (consumed). */
static int append_value(tpl_buf *b, const tpl_part *part, jv v, bool url_encode, hr_error *err)
{
    jv text;
    const char *s;
    size_t n;
    int rc;

    switch (jv_get_kind(v)) {
    case JV_KIND_NULL:
        jv_free(v);
        return HR_OK;
    case JV_KIND_STRING:
        text = v;
        break;
    default:
        text = dump_bounded(v);
        if (!jv_is_valid(text)) {
            jv_free(text);
            return hr_error_set(err, HR_ETOOBIG, "template output is larger than %u bytes",
                                HR_JQ_MAX_OUTPUT);
        }
        break;
    }
    s = jv_string_value(text);
    n = (size_t)jv_string_length_bytes(jv_copy(text));
    if (url_encode) {
        rc = buf_append_encoded(b, s, n, err);
    } else if (memchr(s, '\0', n) != NULL || memchr(s, '\r', n) != NULL ||
               memchr(s, '\n', n) != NULL) {
        /* The text becomes a header value or a URL: a line break would
         * let event data add headers, and a NUL would cut it short. */
        rc = hr_error_set(err, HR_EINVAL,
                          "template: the part at byte %zu gave a line break or NUL byte",
                          part->where);
    } else {
        rc = buf_append(b, s, n, err);
    }
    jv_free(text);
    return rc;
}

int hr_template_render(hr_template *t, const json_t *input, bool url_encode, char **out,
                       hr_error *err)
{
    tpl_buf b = {NULL, 0, 0};
    jv in = jv_invalid();
    int rc = HR_OK;

    rc = buf_append(&b, "", 0, err);
    for (size_t i = 0; i < t->n && rc == HR_OK; i++) {
        const tpl_part *part = &t->parts[i];
        hr_error e;
        jv v;

        if (part->q == NULL) {
            rc = buf_append(&b, part->text, part->len, err);
            continue;
        }
        if (!jv_is_valid(in)) {
            rc = to_jv(input, &in, err);
            if (rc != HR_OK)
                break;
        }
        rc = run_first(part->q, jv_copy(in), &v, &e);
        if (rc == HR_ENOTFOUND) {
            rc = HR_OK; /* no output inserts nothing, like null */
        } else if (rc != HR_OK) {
            rc = hr_error_set(err, rc, "template: the part at byte %zu: %s", part->where, e.msg);
        } else {
            rc = append_value(&b, part, v, url_encode, err);
        }
    }
    jv_free(in);
    if (rc != HR_OK) {
        free(b.s);
        return rc;
    }
    *out = b.s;
    return HR_OK;
}
