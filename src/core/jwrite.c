#include "core/jwrite.h"

#include "core/json.h"
#include "core/mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hr_jw_init(hr_jw *w, size_t max)
{
    memset(w, 0, sizeof(*w));
    w->max = max;
}

void hr_jw_free(hr_jw *w)
{
    if (w == NULL)
        return;
    free(w->buf);
    hr_jw_init(w, w->max);
}

char *hr_jw_take(hr_jw *w, size_t *len)
{
    char *doc = NULL;

    if (!w->over && w->buf != NULL) {
        w->buf[w->len] = '\0';
        doc = w->buf;
        *len = w->len;
        w->buf = NULL;
    }
    hr_jw_free(w);
    return doc;
}

/* Room for n more bytes and the final NUL; false once over max. */
static bool reserve(hr_jw *w, size_t n)
{
    size_t cap;

    if (w->over)
        return false;
    if (n > w->max || w->len + n + 1 > w->max) {
        w->over = true;
        return false;
    }
    if (w->len + n + 1 <= w->cap)
        return true;
    cap = w->cap ? w->cap : 1024;
    while (cap < w->len + n + 1)
        cap *= 2;
    if (cap > w->max)
        cap = w->max;
    w->buf = hr_realloc(w->buf, cap);
    w->cap = cap;
    return true;
}

static void put(hr_jw *w, const char *s, size_t n)
{
    if (reserve(w, n)) {
        memcpy(w->buf + w->len, s, n);
        w->len += n;
    }
}

static void put_c(hr_jw *w, char c)
{
    if (reserve(w, 1))
        w->buf[w->len++] = c;
}

/* The ',' before a value at a level that has one already. */
static void sep(hr_jw *w)
{
    if (w->comma)
        put_c(w, ',');
}

void hr_jw_object(hr_jw *w)
{
    sep(w);
    put_c(w, '{');
    w->comma = false;
}

void hr_jw_end_object(hr_jw *w)
{
    put_c(w, '}');
    w->comma = true;
}

void hr_jw_members(hr_jw *w, const char *text, size_t n)
{
    if (n == 0)
        return;
    sep(w);
    put(w, text, n);
    w->comma = true;
}

void hr_jw_array(hr_jw *w)
{
    sep(w);
    put_c(w, '[');
    w->comma = false;
}

void hr_jw_end_array(hr_jw *w)
{
    put_c(w, ']');
    w->comma = true;
}

/* (s, n) quoted and escaped; false (nothing kept) when not UTF-8. */
static bool put_string(hr_jw *w, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t start = w->len, i = 0;

    put_c(w, '"');
    while (i < n) {
        size_t run = i, k;
        char esc[8];

        while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        put(w, s + i, run - i);
        i = run;
        if (i >= n)
            break;
        if (p[i] >= 0x80) {
            k = hr_utf8_len(p + i, n - i);
            if (k == 0) {
                if (!w->over)
                    w->len = start;
                return false;
            }
            put(w, s + i, k);
            i += k;
            continue;
        }
        switch (p[i]) {
        case '"':
            put(w, "\\\"", 2);
            break;
        case '\\':
            put(w, "\\\\", 2);
            break;
        case '\b':
            put(w, "\\b", 2);
            break;
        case '\f':
            put(w, "\\f", 2);
            break;
        case '\n':
            put(w, "\\n", 2);
            break;
        case '\r':
            put(w, "\\r", 2);
            break;
        case '\t':
            put(w, "\\t", 2);
            break;
        default:
            snprintf(esc, sizeof(esc), "\\u%04X", (unsigned)p[i]);
            put(w, esc, 6);
        }
        i++;
    }
    put_c(w, '"');
    return true;
}

void hr_jw_key(hr_jw *w, const char *key)
{
    hr_jw_keyn(w, key, strlen(key));
}

void hr_jw_keyn(hr_jw *w, const char *key, size_t n)
{
    sep(w);
    put_string(w, key, n);
    put_c(w, ':');
    w->comma = false;
}

int hr_jw_string(hr_jw *w, const char *s, size_t n)
{
    hr_jw_mark m = hr_jw_at(w);

    sep(w);
    if (!put_string(w, s, n)) {
        hr_jw_undo(w, m);
        return HR_EINVAL;
    }
    w->comma = true;
    return HR_OK;
}

void hr_jw_int(hr_jw *w, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%" PRId64, v);

    sep(w);
    put(w, num, (size_t)n);
    w->comma = true;
}

void hr_jw_bool(hr_jw *w, bool v)
{
    sep(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
    w->comma = true;
}

void hr_jw_null(hr_jw *w)
{
    sep(w);
    put(w, "null", 4);
    w->comma = true;
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    hr_jw *w = data;
    put(w, buf, size);
    return w->over ? -1 : 0;
}

int hr_jw_json(hr_jw *w, const json_t *v)
{
    hr_jw_mark m = hr_jw_at(w);

    sep(w);
    if (v == NULL || json_dump_callback(v, dump_cb, w, JSON_COMPACT | JSON_ENCODE_ANY) != 0) {
        hr_jw_undo(w, m);
        return HR_EINVAL;
    }
    w->comma = true;
    return HR_OK;
}
