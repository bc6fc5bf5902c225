/*
 * cursor.c - the cursor of a list paged by key (cursor.h).
 */
#include "api/cursor.h"

#include "core/ascii.h"
#include "core/limits.h"
#include "core/mem.h"

#include <string.h>

static const char hexdigits[] = "0123456789abcdef";

char *hr_api_cursor_encode(const char *const *parts, size_t n)
{
    size_t total = 0, at = 0;
    char *out;

    for (size_t i = 0; i < n; i++)
        total += strlen(parts[i]) + (i > 0);
    if (total * 2 > HR_MAX_API_CURSOR)
        return NULL;
    out = hr_malloc(total * 2 + 1);
    for (size_t i = 0; i < n; i++) {
        const unsigned char *p = (const unsigned char *)parts[i];
        if (i > 0) {
            out[at++] = '0';
            out[at++] = '0';
        }
        for (; *p != '\0'; p++) {
            out[at++] = hexdigits[*p >> 4];
            out[at++] = hexdigits[*p & 15];
        }
    }
    out[at] = '\0';
    return out;
}

/* A cursor is spelt in lower case only, so that each has one spelling. */
static int hexval(char c)
{
    return c >= 'A' && c <= 'F' ? -1 : hr_hex_value(c);
}

int hr_api_cursor_decode(const char *text, size_t len, char *buf, size_t cap, const char **parts,
                         size_t n)
{
    size_t nparts = 1, at = 0;

    if (n == 0 || n > 3 || len > HR_MAX_API_CURSOR || len % 2 != 0 || len / 2 + 1 > cap)
        return -1;
    parts[0] = buf;
    for (size_t i = 0; i < len; i += 2) {
        int hi = hexval(text[i]), lo = hexval(text[i + 1]);
        unsigned char c;
        if (hi < 0 || lo < 0)
            return -1;
        c = (unsigned char)(hi << 4 | lo);
        if (c == 0) {
            if (nparts == n)
                return -1;
            buf[at++] = '\0';
            parts[nparts++] = buf + at;
            continue;
        }
        buf[at++] = (char)c;
    }
    buf[at] = '\0';
    return nparts == n ? 0 : -1;
}
