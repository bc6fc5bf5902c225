#include "core/jscan.h"

#include "core/json.h"
#include "core/limits.h"
#include "core/mem.h"

#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Scanning ----------------------------------------------------------- */

typedef struct scan {
    hr_jscan *js;
    const unsigned char *b;
    size_t len, pos;
    hr_error *err;
} scan;

static int fail(scan *s, const char *what)
{
    return hr_error_set(s->err, HR_EINVAL, "invalid JSON at byte %zu: %s", s->pos, what);
}

static void skip_ws(scan *s)
{
    while (s->pos < s->len) {
        unsigned char c = s->b[s->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return;
        s->pos++;
    }
}

/* A new token at the end of the array: the caller's array while it has
 * room, then one allocation big enough for any document of this length
 * (a token takes at least two bytes but the last). */
static uint32_t add(scan *s, hr_jtype type, size_t off)
{
    hr_jscan *js = s->js;
    hr_jtok *t;

    if (js->ntok == js->cap) {
        size_t cap = js->len / 2 + 2;
        if (cap <= js->cap)
            cap = js->cap * 2;
        if (js->own == NULL) {
            js->own = hr_malloc(cap * sizeof(*js->own));
            if (js->ntok > 0)
                memcpy(js->own, js->tok, js->ntok * sizeof(*js->own));
        } else {
            js->own = hr_realloc(js->own, cap * sizeof(*js->own));
        }
        js->tok = js->own;
        js->cap = cap;
    }
    t = &js->tok[js->ntok];
    t->off = (uint32_t)off;
    t->len = 0;
    t->next = (uint32_t)js->ntok + 1;
    t->n = 0;
    t->type = (uint8_t)type;
    t->flags = 0;
    return (uint32_t)js->ntok++;
}

static int hex4(const unsigned char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* Checks a \u escape at p (the backslash; n bytes left) and the low half
 * that must follow a high surrogate. Returns the bytes the escape takes,
 * 0 when it is wrong. */
static size_t check_u(const unsigned char *p, size_t n)
{
    uint32_t cp, lo;

    if (n < 6 || hex4(p + 2, &cp) != 0 || cp == 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
        return 0;
    if (cp < 0xD800 || cp > 0xDBFF)
        return 6;
    if (n < 12 || p[6] != '\\' || p[7] != 'u' || hex4(p + 8, &lo) != 0 || lo < 0xDC00 ||
        lo > 0xDFFF)
        return 0;
    return 12;
}

/* A string at s->pos (its opening quote): a token, s->pos past it. */
static int scan_string(scan *s)
{
    const unsigned char *b = s->b;
    size_t i = s->pos + 1;
    uint32_t t = add(s, HR_JS_STRING, i);

    for (;;) {
        unsigned char c;
        while (i < s->len && b[i] >= 0x20 && b[i] < 0x80 && b[i] != '"' && b[i] != '\\')
            i++;
        if (i >= s->len) {
            s->pos = i;
            return fail(s, "a string is not closed");
        }
        c = b[i];
        if (c == '"')
            break;
        if (c == '\\') {
            size_t k = 2;
            if (i + 1 >= s->len) {
                s->pos = i;
                return fail(s, "a string is not closed");
            }
            switch (b[i + 1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                break;
            case 'u':
                k = check_u(b + i, s->len - i);
                break;
            default:
                k = 0;
            }
            if (k == 0) {
                s->pos = i;
                return fail(s, "an invalid escape or \\u code point");
            }
            s->js->tok[t].flags |= HR_JS_ESCAPED;
            i += k;
        } else if (c < 0x20) {
            s->pos = i;
            return fail(s, "a control byte in a string");
        } else {
            size_t k = hr_utf8_len(b + i, s->len - i);
            if (k == 0) {
                s->pos = i;
                return fail(s, "bytes that are not UTF-8");
            }
            i += k;
        }
    }
    s->js->tok[t].len = (uint32_t)(i - (s->pos + 1));
    s->pos = i + 1;
    return HR_OK;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Reads a real as jansson does: strtod on a copy (the span is not
 * NUL-terminated), overflow refused. */
static int read_real(const char *p, size_t n, double *out)
{
    char small[64], *copy = n < sizeof(small) ? small : hr_malloc(n + 1);
    double v;
    int rc = HR_OK;

    memcpy(copy, p, n);
    copy[n] = '\0';
    errno = 0;
    v = strtod(copy, NULL);
    if ((v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE)
        rc = HR_EINVAL;
    if (copy != small)
        free(copy);
    *out = v;
    return rc;
}

/* An integer's digits (with its sign) as int64, refusing overflow. */
static int read_int(const char *p, size_t n, int64_t *out)
{
    bool neg = n > 0 && p[0] == '-';
    uint64_t v = 0, max = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

    for (size_t i = neg ? 1 : 0; i < n; i++) {
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (max - d) / 10)
            return HR_EINVAL;
        v = v * 10 + d;
    }
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return HR_OK;
}

static int scan_number(scan *s)
{
    const unsigned char *b = s->b;
    size_t i = s->pos, start = s->pos;
    bool integer = true;
    uint32_t t;

    if (i < s->len && b[i] == '-')
        i++;
    if (i < s->len && b[i] == '0') {
        i++;
    } else if (i < s->len && b[i] >= '1' && b[i] <= '9') {
        while (i < s->len && is_digit(b[i]))
            i++;
    } else {
        s->pos = i;
        return fail(s, "a number without digits");
    }
    if (i < s->len && b[i] == '.') {
        integer = false;
        if (++i >= s->len || !is_digit(b[i])) {
            s->pos = i;
            return fail(s, "a number without digits after its point");
        }
        while (i < s->len && is_digit(b[i]))
            i++;
    }
    if (i < s->len && (b[i] == 'e' || b[i] == 'E')) {
        integer = false;
        if (++i < s->len && (b[i] == '+' || b[i] == '-'))
            i++;
        if (i >= s->len || !is_digit(b[i])) {
            s->pos = i;
            return fail(s, "a number without digits in its exponent");
        }
        while (i < s->len && is_digit(b[i]))
            i++;
    }
    if (integer) {
        int64_t v;
        if (read_int((const char *)b + start, i - start, &v) != HR_OK)
            return fail(s, "an integer that does not fit in 64 bits");
    } else {
        double d;
        if (read_real((const char *)b + start, i - start, &d) != HR_OK)
            return fail(s, "a real number too large for a double");
    }
    t = add(s, HR_JS_NUMBER, start);
    s->js->tok[t].len = (uint32_t)(i - start);
    s->js->tok[t].flags = integer ? HR_JS_INTEGER : 0;
    s->pos = i;
    return HR_OK;
}

static int scan_literal(scan *s)
{
    static const struct {
        const char *word;
        size_t len;
        hr_jtype type;
    } lits[] = {{"true", 4, HR_JS_TRUE}, {"false", 5, HR_JS_FALSE}, {"null", 4, HR_JS_NULL}};

    for (size_t k = 0; k < sizeof(lits) / sizeof(lits[0]); k++) {
        if (s->len - s->pos >= lits[k].len &&
            memcmp(s->b + s->pos, lits[k].word, lits[k].len) == 0) {
            uint32_t t = add(s, lits[k].type, s->pos);
            s->js->tok[t].len = (uint32_t)lits[k].len;
            s->pos += lits[k].len;
            return HR_OK;
        }
    }
    return fail(s, "an unexpected byte where a value should be");
}

/* ---- Duplicate keys ----------------------------------------------------- */

/* Whether keys a and b unescape to the same bytes. */
static bool key_eq(const hr_jscan *js, uint32_t a, uint32_t b)
{
    const hr_jtok *tb = &js->tok[b];
    char small[256], *buf;
    bool eq;

    if (!(tb->flags & HR_JS_ESCAPED))
        return hr_jscan_streq(js, a, js->buf + tb->off, tb->len);
    buf = tb->len < sizeof(small) ? small : hr_malloc(tb->len);
    eq = hr_jscan_streq(js, a, buf, hr_jscan_unescape(js, b, buf));
    if (buf != small)
        free(buf);
    return eq;
}

typedef struct keyhash {
    uint64_t h;
    uint32_t k;
} keyhash;

static int keyhash_cmp(const void *a, const void *b)
{
    const keyhash *x = a, *y = b;
    return x->h < y->h ? -1 : x->h > y->h;
}

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static uint64_t key_hash(const hr_jscan *js, uint32_t k)
{
    const hr_jtok *t = &js->tok[k];
    char small[256], *buf;
    uint64_t h;

    if (!(t->flags & HR_JS_ESCAPED))
        return fnv1a(js->buf + t->off, t->len);
    buf = t->len < sizeof(small) ? small : hr_malloc(t->len);
    h = fnv1a(buf, hr_jscan_unescape(js, k, buf));
    if (buf != small)
        free(buf);
    return h;
}

/* The first key of object obj that repeats an earlier one, or 0. Small
 * objects compare every pair; larger ones sort by a hash of the key, so a
 * body of many keys costs n log n, not n squared. */
static uint32_t duplicate_key(const hr_jscan *js, uint32_t obj)
{
    uint32_t n = js->tok[obj].n, k = obj + 1, found = 0;
    keyhash *hs;

    if (n < 2)
        return 0;
    if (n <= 16) {
        uint32_t keys[16];
        for (uint32_t m = 0; m < n; m++, k = js->tok[k + 1].next)
            keys[m] = k;
        for (uint32_t a = 1; a < n; a++)
            for (uint32_t b = 0; b < a; b++)
                if (key_eq(js, keys[a], keys[b]))
                    return keys[a];
        return 0;
    }
    hs = hr_malloc(n * sizeof(*hs));
    for (uint32_t m = 0; m < n; m++, k = js->tok[k + 1].next) {
        hs[m].k = k;
        hs[m].h = key_hash(js, k);
    }
    qsort(hs, n, sizeof(*hs), keyhash_cmp);
    for (uint32_t a = 0; a < n && found == 0; a++)
        for (uint32_t b = a + 1; b < n && hs[b].h == hs[a].h && found == 0; b++)
            if (key_eq(js, hs[a].k, hs[b].k))
                found = hs[a].k > hs[b].k ? hs[a].k : hs[b].k;
    free(hs);
    return found;
}

/* ---- The document ------------------------------------------------------- */

/* Closes container c at s->pos (its closing bracket). */
static int close_container(scan *s, uint32_t c)
{
    hr_jtok *t = &s->js->tok[c];
    t->len = (uint32_t)(s->pos + 1 - t->off);
    t->next = (uint32_t)s->js->ntok;
    s->pos++;
    if (t->type == HR_JS_OBJECT) {
        uint32_t dup = duplicate_key(s->js, c);
        if (dup != 0) {
            s->pos = s->js->tok[dup].off - 1;
            return fail(s, "a duplicate object key");
        }
    }
    return HR_OK;
}

static int scan_doc(scan *s)
{
    uint32_t stk[HR_MAX_JSON_DEPTH];
    int top = -1, rc;

value:
    skip_ws(s);
    if (s->pos >= s->len)
        return fail(s, "the document ends where a value should be");
    switch (s->b[s->pos]) {
    case '{':
    case '[': {
        bool obj = s->b[s->pos] == '{';
        if (top + 1 >= HR_MAX_JSON_DEPTH)
            return hr_error_set(s->err, HR_EINVAL,
                                "invalid JSON: nested deeper than %d levels at byte %zu",
                                HR_MAX_JSON_DEPTH, s->pos);
        stk[++top] = add(s, obj ? HR_JS_OBJECT : HR_JS_ARRAY, s->pos);
        s->pos++;
        skip_ws(s);
        if (s->pos < s->len && s->b[s->pos] == (obj ? '}' : ']')) {
            if ((rc = close_container(s, stk[top--])) != HR_OK)
                return rc;
            goto after;
        }
        if (obj)
            goto key;
        goto value;
    }
    case '"':
        if ((rc = scan_string(s)) != HR_OK)
            return rc;
        goto after;
    case 't':
    case 'f':
    case 'n':
        if ((rc = scan_literal(s)) != HR_OK)
            return rc;
        goto after;
    default:
        if (s->b[s->pos] == '-' || is_digit(s->b[s->pos])) {
            if ((rc = scan_number(s)) != HR_OK)
                return rc;
            goto after;
        }
        return fail(s, "an unexpected byte where a value should be");
    }

key:
    skip_ws(s);
    if (s->pos >= s->len || s->b[s->pos] != '"')
        return fail(s, "expected a string as an object key");
    if ((rc = scan_string(s)) != HR_OK)
        return rc;
    skip_ws(s);
    if (s->pos >= s->len || s->b[s->pos] != ':')
        return fail(s, "expected ':' after an object key");
    s->pos++;
    goto value;

after:
    skip_ws(s);
    if (top < 0) {
        if (s->pos != s->len)
            return fail(s, "bytes after the document");
        return HR_OK;
    }
    s->js->tok[stk[top]].n++;
    if (s->pos < s->len && s->b[s->pos] == ',') {
        s->pos++;
        if (s->js->tok[stk[top]].type == HR_JS_OBJECT)
            goto key;
        goto value;
    }
    if (s->pos < s->len &&
        s->b[s->pos] == (s->js->tok[stk[top]].type == HR_JS_OBJECT ? '}' : ']')) {
        if ((rc = close_container(s, stk[top--])) != HR_OK)
            return rc;
        goto after;
    }
    return fail(s, "expected ',' or the container's end");
}

int hr_jscan_parse(hr_jscan *js, const char *buf, size_t len, hr_jtok *stack, size_t nstack,
                   hr_error *err)
{
    scan s = {js, (const unsigned char *)buf, len, 0, err};
    int rc;

    js->buf = buf;
    js->len = len;
    js->tok = stack;
    js->ntok = 0;
    js->cap = stack != NULL ? nstack : 0;
    js->own = NULL;
    if (len >= UINT32_MAX)
        return hr_error_set(err, HR_EINVAL, "invalid JSON: the document is too large");
    if (len == 0)
        return hr_error_set(err, HR_EINVAL, "invalid JSON: the body is empty");
    rc = scan_doc(&s);
    if (rc != HR_OK)
        hr_jscan_free(js);
    return rc;
}

void hr_jscan_free(hr_jscan *js)
{
    if (js == NULL)
        return;
    free(js->own);
    js->own = NULL;
    js->tok = NULL;
    js->ntok = js->cap = 0;
}

/* ---- Reading ------------------------------------------------------------ */

static size_t put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t hr_jscan_unescape(const hr_jscan *js, uint32_t i, char *out)
{
    const hr_jtok *t = &js->tok[i];
    const unsigned char *p = (const unsigned char *)js->buf + t->off;
    size_t n = t->len, o = 0;

    if (!(t->flags & HR_JS_ESCAPED)) {
        memcpy(out, p, n);
        return n;
    }
    for (size_t k = 0; k < n;) {
        uint32_t cp = 0, lo = 0;
        if (p[k] != '\\') {
            out[o++] = (char)p[k++];
            continue;
        }
        switch (p[k + 1]) {
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'u':
            /* Checked while scanning: a pair is whole. */
            hex4(p + k + 2, &cp);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                hex4(p + k + 8, &lo);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                k += 6;
            }
            o += put_utf8(out + o, cp);
            k += 6;
            continue;
        default: /* " \ / */
            out[o++] = (char)p[k + 1];
        }
        k += 2;
    }
    return o;
}

size_t hr_jscan_strlen(const hr_jscan *js, uint32_t i)
{
    const hr_jtok *t = &js->tok[i];
    char small[256], *buf;
    size_t n;

    if (!(t->flags & HR_JS_ESCAPED))
        return t->len;
    buf = t->len < sizeof(small) ? small : hr_malloc(t->len);
    n = hr_jscan_unescape(js, i, buf);
    if (buf != small)
        free(buf);
    return n;
}

char *hr_jscan_strdup(const hr_jscan *js, uint32_t i)
{
    char *s = hr_malloc((size_t)js->tok[i].len + 1);
    s[hr_jscan_unescape(js, i, s)] = '\0';
    return s;
}

bool hr_jscan_streq(const hr_jscan *js, uint32_t i, const char *s, size_t n)
{
    const hr_jtok *t = &js->tok[i];
    char small[256], *buf;
    bool eq;

    if (t->type != HR_JS_STRING)
        return false;
    if (!(t->flags & HR_JS_ESCAPED))
        return t->len == n && memcmp(js->buf + t->off, s, n) == 0;
    if (n > t->len)
        return false;
    buf = t->len < sizeof(small) ? small : hr_malloc(t->len);
    eq = hr_jscan_unescape(js, i, buf) == n && memcmp(buf, s, n) == 0;
    if (buf != small)
        free(buf);
    return eq;
}

uint32_t hr_jscan_get(const hr_jscan *js, uint32_t obj, const char *key)
{
    size_t klen = strlen(key);
    uint32_t k;

    if (js->tok[obj].type != HR_JS_OBJECT)
        return 0;
    k = obj + 1;
    for (uint32_t m = 0; m < js->tok[obj].n; m++, k = js->tok[k + 1].next)
        if (hr_jscan_streq(js, k, key, klen))
            return k + 1;
    return 0;
}

int hr_jscan_int64(const hr_jscan *js, uint32_t i, int64_t *out)
{
    const hr_jtok *t = &js->tok[i];
    if (t->type != HR_JS_NUMBER || !(t->flags & HR_JS_INTEGER))
        return HR_EINVAL;
    return read_int(js->buf + t->off, t->len, out);
}

json_t *hr_jscan_to_json(const hr_jscan *js, uint32_t i)
{
    const hr_jtok *t = &js->tok[i];
    json_t *v = NULL;

    switch ((hr_jtype)t->type) {
    case HR_JS_OBJECT: {
        uint32_t k = i + 1;
        v = json_object();
        for (uint32_t m = 0; m < t->n; m++, k = js->tok[k + 1].next) {
            char *key = hr_jscan_strdup(js, k);
            json_object_set_new_nocheck(v, key, hr_jscan_to_json(js, k + 1));
            free(key);
        }
        break;
    }
    case HR_JS_ARRAY: {
        uint32_t k = i + 1;
        v = json_array();
        for (uint32_t m = 0; m < t->n; m++, k = js->tok[k].next)
            json_array_append_new(v, hr_jscan_to_json(js, k));
        break;
    }
    case HR_JS_STRING: {
        char *s = hr_malloc((size_t)t->len + 1);
        size_t n = hr_jscan_unescape(js, i, s);
        v = json_stringn_nocheck(s, n);
        free(s);
        break;
    }
    case HR_JS_NUMBER:
        if (t->flags & HR_JS_INTEGER) {
            int64_t x = 0;
            read_int(js->buf + t->off, t->len, &x);
            v = json_integer((json_int_t)x);
        } else {
            double d = 0;
            read_real(js->buf + t->off, t->len, &d);
            v = json_real(d);
        }
        break;
    case HR_JS_TRUE:
        v = json_true();
        break;
    case HR_JS_FALSE:
        v = json_false();
        break;
    case HR_JS_NULL:
        v = json_null();
        break;
    }
    return v;
}

const char *hr_jscan_brief(const hr_jscan *js, uint32_t i, char *buf, size_t size)
{
    json_t *v;

    /* Containers are named by type: no need to build them. */
    if (js->tok[i].type == HR_JS_OBJECT || js->tok[i].type == HR_JS_ARRAY) {
        snprintf(buf, size, "%s", hr_jscan_type_name(js, i));
        return buf;
    }
    v = hr_jscan_to_json(js, i);
    hr_json_brief(v, buf, size);
    json_decref(v);
    return buf;
}

/* Tokens a body scans into on the stack before one allocation. */
#define LOAD_TOKENS 256

int hr_jscan_parse_body(hr_jscan *js, const char *buf, size_t len, hr_jtok *stack, size_t nstack,
                        hr_error *err)
{
    json_t *v = NULL;
    hr_error mine;

    if (hr_jscan_parse(js, buf, len, stack, nstack, &mine) == HR_OK)
        return HR_OK;
    if (hr_json_load(buf, len, &v, err) == HR_OK) {
        json_decref(v);
        *err = mine;
    }
    return HR_EINVAL;
}

int hr_jscan_parse_object(hr_jscan *js, const char *buf, size_t len, hr_jtok *stack, size_t nstack,
                          hr_errlist *errs)
{
    char brief[64];
    hr_error err;

    if (hr_jscan_parse_body(js, buf, len, stack, nstack, &err) != HR_OK) {
        hr_errlist_add(errs, "%s", err.msg);
        return HR_EINVAL;
    }
    if (hr_jscan_type(js, 0) != HR_JS_OBJECT) {
        hr_errlist_add(errs, "body: expected an object; got %s",
                       hr_jscan_brief(js, 0, brief, sizeof(brief)));
        hr_jscan_free(js);
        return HR_EINVAL;
    }
    return HR_OK;
}

const char *hr_jscan_type_name(const hr_jscan *js, uint32_t i)
{
    static const json_type as_json[] = {
        [HR_JS_OBJECT] = JSON_OBJECT, [HR_JS_ARRAY] = JSON_ARRAY, [HR_JS_STRING] = JSON_STRING,
        [HR_JS_NUMBER] = JSON_REAL,   [HR_JS_TRUE] = JSON_TRUE,   [HR_JS_FALSE] = JSON_FALSE,
        [HR_JS_NULL] = JSON_NULL,
    };
    return hr_json_kind_name(as_json[js->tok[i].type]);
}

int hr_jscan_load(const char *buf, size_t len, json_t **out, hr_error *err)
{
    hr_jtok stack[LOAD_TOKENS];
    hr_jscan js;

    if (hr_jscan_parse_body(&js, buf, len, stack, LOAD_TOKENS, err) != HR_OK)
        return HR_EINVAL;
    *out = hr_jscan_to_json(&js, 0);
    hr_jscan_free(&js);
    return HR_OK;
}
