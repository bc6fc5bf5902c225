/*
 * vars.c - the ordered list of (name, value) strings vars.h describes.
 */
#include "core/vars.h"

#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

hr_vars *hr_vars_new(void)
{
    return hr_calloc(1, sizeof(hr_vars));
}

void hr_vars_free(hr_vars *vs)
{
    if (vs == NULL)
        return;
    free(vs->v);
    free(vs->text);
    free(vs);
}

void hr_vars_reserve(hr_vars *vs, size_t n, size_t bytes)
{
    if (vs->n + n > vs->cap) {
        vs->cap = vs->n + n;
        vs->v = hr_realloc(vs->v, vs->cap * sizeof(*vs->v));
    }
    if (vs->len + bytes > vs->tcap) {
        vs->tcap = vs->len + bytes;
        vs->text = hr_realloc(vs->text, vs->tcap);
    }
}

/* Copies (s, n) and a NUL to the end of the text; returns its offset. */
static size_t put_text(hr_vars *vs, const char *s, size_t n)
{
    size_t at = vs->len;

    if (at + n + 1 > vs->tcap) {
        size_t cap = vs->tcap > 0 ? vs->tcap : 256;
        while (cap < at + n + 1)
            cap *= 2;
        vs->text = hr_realloc(vs->text, cap);
        vs->tcap = cap;
    }
    memcpy(vs->text + at, s, n);
    vs->text[at + n] = '\0';
    vs->len = at + n + 1;
    return at;
}

/* FNV-1a, 32 bits. */
static uint32_t name_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

void hr_vars_add(hr_vars *vs, const char *name, size_t nlen, const char *value, size_t vlen)
{
    hr_var *p;

    if (vs->n == vs->cap) {
        vs->cap = vs->cap > 0 ? 2 * vs->cap : 16;
        vs->v = hr_realloc(vs->v, vs->cap * sizeof(*vs->v));
    }
    p = &vs->v[vs->n++];
    p->name = put_text(vs, name, nlen);
    p->name_len = nlen;
    p->hash = name_hash(name, nlen);
    p->value = put_text(vs, value, vlen);
    p->value_len = vlen;
}

void hr_vars_set(hr_vars *vs, const char *name, size_t nlen, const char *value, size_t vlen)
{
    long i = hr_vars_find(vs, name, nlen);

    if (i < 0)
        hr_vars_add(vs, name, nlen, value, vlen);
    else
        hr_vars_set_value(vs, (size_t)i, value, vlen);
}

void hr_vars_set_value(hr_vars *vs, size_t i, const char *value, size_t vlen)
{
    vs->v[i].value = put_text(vs, value, vlen);
    vs->v[i].value_len = vlen;
}

void hr_vars_remove(hr_vars *vs, size_t i)
{
    memmove(&vs->v[i], &vs->v[i + 1], (vs->n - i - 1) * sizeof(*vs->v));
    vs->n--;
}

long hr_vars_find(const hr_vars *vs, const char *name, size_t nlen)
{
    uint32_t h = name_hash(name, nlen);

    for (size_t i = 0; i < vs->n; i++)
        if (vs->v[i].hash == h && vs->v[i].name_len == nlen &&
            memcmp(vs->text + vs->v[i].name, name, nlen) == 0)
            return (long)i;
    return -1;
}

void hr_vars_write(hr_jw *w, const hr_vars *vs)
{
    hr_jw_object(w);
    for (size_t i = 0; i < vs->n; i++) {
        hr_jw_mark m = hr_jw_at(w);
        hr_jw_key(w, hr_vars_name(vs, i));
        if (hr_jw_string(w, hr_vars_value(vs, i), vs->v[i].value_len) != HR_OK)
            hr_jw_undo(w, m);
    }
    hr_jw_end_object(w);
}
