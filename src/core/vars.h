/*
 * vars.h - an ordered list of (name, value) strings: a build's environment
 * or parameters, as a body sent them.
 *
 * The list is what a JSON object of strings says, without a JSON tree: an
 * array of pairs and one text buffer they point into by offset, so reading
 * a hundred variables costs two growing allocations instead of a few
 * hundred, and the buffer may move without a pair changing. Names are
 * unique (a caller adds a name once, or sets it, which replaces the value
 * where the name first stood, as json_object_set does) and hold no NUL;
 * values are (pointer, length) and may hold any bytes. Every string in the
 * text is followed by a NUL, so a name or value can be read as a C string.
 * Order is the order names were first added; removing a pair keeps the
 * others' order.
 *
 * Both buffers are bounded by what they are given: the text never holds
 * more than the bytes added, each once.
 */
#ifndef HR_CORE_VARS_H
#define HR_CORE_VARS_H

#include "core/jwrite.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hr_var {
    size_t name, name_len;   /* offset into text, bytes */
    size_t value, value_len; /* offset into text, bytes */
    uint32_t hash;           /* of the name, so a lookup compares few names */
} hr_var;

typedef struct hr_vars {
    hr_var *v; /* owned */
    size_t n, cap;
    char *text; /* owned: every name and value, each followed by a NUL */
    size_t len, tcap;
} hr_vars;

/* A new empty list (never NULL); free with hr_vars_free, which accepts NULL. */
hr_vars *hr_vars_new(void);
void hr_vars_free(hr_vars *vs);

/* Makes room for n more pairs and bytes more text, so that many adds do
 * not reallocate: for a caller that knows the size of what it reads. */
void hr_vars_reserve(hr_vars *vs, size_t n, size_t bytes);

/* Appends (name, nlen) = (value, vlen); the caller knows the name is not
 * in the list yet. Both are copied, and neither may point into the list's
 * own text (it may move); the same holds for the calls below. */
void hr_vars_add(hr_vars *vs, const char *name, size_t nlen, const char *value, size_t vlen);
/* Replaces the value of name when it is in the list, else appends it. */
void hr_vars_set(hr_vars *vs, const char *name, size_t nlen, const char *value, size_t vlen);
/* Replaces the value of pair i. */
void hr_vars_set_value(hr_vars *vs, size_t i, const char *value, size_t vlen);
/* Removes pair i (its text stays until the list is freed). */
void hr_vars_remove(hr_vars *vs, size_t i);

/* The index of name in the list, or -1. Linear, comparing hashes first:
 * lists are short (a query form has at most HR_JENKINS_MAX_PAIRS). */
long hr_vars_find(const hr_vars *vs, const char *name, size_t nlen);

/* Pair i's name (NUL-terminated) and value (value_len bytes and a NUL);
 * borrowed until the list changes. */
static inline const char *hr_vars_name(const hr_vars *vs, size_t i)
{
    return vs->text + vs->v[i].name;
}
static inline const char *hr_vars_value(const hr_vars *vs, size_t i)
{
    return vs->text + vs->v[i].value;
}

/* Writes the list as a JSON object of strings, members in order, leaving
 * out a member whose value is not valid UTF-8 as jansson's
 * json_object_set_new(json_stringn(...)) would. */
void hr_vars_write(hr_jw *w, const hr_vars *vs);

#endif
