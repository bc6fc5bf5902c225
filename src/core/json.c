#include "core/json.h"

#include "core/jscan.h"
#include "core/mem.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void *json_alloc(size_t n)
{
    return hr_malloc(n);
}

void hr_json_init(void)
{
    json_set_alloc_funcs(json_alloc, free);
    /* Seed the hash function once, before any thread exists (jansson's
     * advice for threaded programs). */
    json_object_seed(0);
}

/* Finds the first byte at which nesting exceeds the limit, skipping string
 * contents. Returns 1 and sets *at when it does. */
static int too_deep(const char *buf, size_t len, size_t *at)
{
    int depth = 0, in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
            continue;
        }
        if (c == '"') {
            in_string = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > HR_MAX_JSON_DEPTH) {
                *at = i;
                return 1;
            }
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return 0;
}

int hr_json_load(const char *buf, size_t len, json_t **out, hr_error *err)
{
    json_error_t jerr;
    json_t *v;
    size_t at;

    if (len == 0)
        return hr_error_set(err, HR_EINVAL, "invalid JSON: the body is empty");
    if (too_deep(buf, len, &at))
        return hr_error_set(err, HR_EINVAL,
                            "invalid JSON: nested deeper than %d levels at byte %zu",
                            HR_MAX_JSON_DEPTH, at);
    v = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (v == NULL)
        return hr_error_set(err, HR_EINVAL, "invalid JSON at line %d, column %d: %s", jerr.line,
                            jerr.column, jerr.text);
    *out = v;
    return HR_OK;
}

/* The length of the valid UTF-8 sequence at s (n bytes left), or 0. */
size_t hr_utf8_len(const unsigned char *s, size_t n)
{
    uint32_t cp, min;
    size_t len;

    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2;
        cp = s[0] & 0x1Fu;
        min = 0x80;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3;
        cp = s[0] & 0x0Fu;
        min = 0x800;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4;
        cp = s[0] & 0x07u;
        min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

void hr_errlist_add(hr_errlist *l, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    size_t n;

    if (l == NULL)
        return;
    if (l->n >= HR_MAX_ERRORS) {
        l->dropped++;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    /* Messages quote untrusted bytes (jansson's error text, a brief cut at
     * 40 characters) and travel inside JSON, where jansson refuses invalid
     * UTF-8: replace every byte that is not part of a valid sequence. */
    n = strlen(buf);
    for (size_t i = 0; i < n;) {
        size_t k = hr_utf8_len((const unsigned char *)buf + i, n - i);
        if (k == 0) {
            buf[i] = '?';
            k = 1;
        }
        i += k;
    }
    l->msgs[l->n++] = hr_strdup(buf);
}

int hr_json_load_object(const char *body, size_t len, hr_errlist *errs, json_t **out)
{
    hr_error err;
    char brief[64];
    json_t *root;

    /* Through the single-pass reader: jansson's tree and messages, faster. */
    if (hr_jscan_load(body, len, &root, &err) != HR_OK) {
        hr_errlist_add(errs, "%s", err.msg);
        return HR_EINVAL;
    }
    if (!json_is_object(root)) {
        hr_errlist_add(errs, "body: expected an object; got %s",
                       hr_json_brief(root, brief, sizeof(brief)));
        json_decref(root);
        return HR_EINVAL;
    }
    *out = root;
    return HR_OK;
}

size_t hr_errlist_count(const hr_errlist *l)
{
    return l->n + l->dropped;
}

void hr_errlist_clear(hr_errlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->msgs[i]);
    l->n = 0;
    l->dropped = 0;
}

json_t *hr_errlist_to_json(const hr_errlist *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(a, json_string(l->msgs[i]));
    if (l->dropped > 0) {
        char buf[64];
        snprintf(buf, sizeof(buf), "... and %zu more problems", l->dropped);
        json_array_append_new(a, json_string(buf));
    }
    return a;
}

const char *hr_json_kind_name(json_type t)
{
    switch (t) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}

const char *hr_json_type_name(const json_t *v)
{
    return v == NULL ? "nothing" : hr_json_kind_name(json_typeof(v));
}

const char *hr_json_brief(const json_t *v, char *buf, size_t size)
{
    if (v == NULL || json_is_object(v) || json_is_array(v)) {
        snprintf(buf, size, "%s", hr_json_type_name(v));
    } else if (json_is_string(v)) {
        /* Re-encode so quotes and control bytes stay readable, then cut. */
        char *enc = json_dumps(v, JSON_ENCODE_ANY);
        size_t n = enc ? strlen(enc) : 0;
        if (enc != NULL && n > 42)
            snprintf(buf, size, "%.41s...\"", enc);
        else
            snprintf(buf, size, "%s", enc ? enc : "\"\"");
        free(enc);
    } else {
        char *enc = json_dumps(v, JSON_ENCODE_ANY);
        snprintf(buf, size, "%s", enc ? enc : "?");
        free(enc);
    }
    return buf;
}
