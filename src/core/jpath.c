/*
 * jpath.c - the JSON paths validation messages name ("pipeline.stage.jobs[2].name").
 */
#include "core/jpath.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Formats a path into buf (HR_JPATH_LEN bytes), cutting it short when it is
 * too long: a cut path still tells the reader where to look. */
__attribute__((format(printf, 2, 3))) static const char *path_fmt(char *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, HR_JPATH_LEN, fmt, ap);
    va_end(ap);
    return buf;
}

/* "at.key", or "key" at the root. Returns buf. */
const char *hr_jpath_key(char *buf, const char *at, const char *key)
{
    return at[0] == '\0' ? path_fmt(buf, "%s", key) : path_fmt(buf, "%s.%s", at, key);
}

/* "at[i]". Returns buf. */
const char *hr_jpath_index(char *buf, const char *at, size_t i)
{
    return path_fmt(buf, "%s[%zu]", at, i);
}

/* A path step for a key the sender chose (a data or configuration map's
 * key): ".key" when it is a plain word, else ["key"] as JSON with every
 * non-ASCII character escaped and cut at 40 characters, so the message
 * stays short and a cut never splits a UTF-8 sequence. */
const char *hr_jpath_name(char *buf, const char *at, const char *key, size_t len)
{
    bool plain = len > 0 && len <= 64;
    json_t *k;
    char *enc;
    size_t n;

    for (size_t i = 0; plain && i < len; i++) {
        char ch = key[i];
        plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                ch == '_' || ch == '-';
    }
    if (plain)
        return hr_jpath_key(buf, at, key);
    k = json_stringn(key, len);
    enc = k != NULL ? json_dumps(k, JSON_ENCODE_ANY | JSON_ENSURE_ASCII) : NULL;
    json_decref(k);
    if (enc == NULL)
        return path_fmt(buf, "%s[?]", at);
    n = strlen(enc);
    if (n <= 42) {
        path_fmt(buf, "%s[%s]", at, enc);
        free(enc);
        return buf;
    }
    /* Keep the quote and 40 characters, cutting before an escape that
     * would not fit whole. */
    n = 41;
    for (size_t i = 1; i < n; i++) {
        if (enc[i] != '\\')
            continue;
        size_t esc = enc[i + 1] == 'u' ? 6 : 2;
        if (i + esc > n) {
            n = i;
            break;
        }
        i += esc - 1;
    }
    path_fmt(buf, "%s[%.*s...\"]", at, (int)n, enc);
    free(enc);
    return buf;
}
