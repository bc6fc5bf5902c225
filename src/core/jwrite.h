/*
 * jwrite.h - a JSON writer into one growing buffer, bounded.
 *
 * Writes compact JSON exactly as jansson's json_dumps(JSON_COMPACT) does
 * (no spaces; strings escaped as jansson escapes them: \" \\ \b \f \n \r
 * \t, other control bytes as \u00XX in upper case, everything else as
 * the UTF-8 it is), so a document written here and one dumped from a
 * jansson tree are the same bytes. A string that is not valid UTF-8 is
 * not written (jansson cannot make one): the call fails and the buffer is
 * as before it, so a caller can take back the member's key too (hr_jw_mark,
 * hr_jw_undo), as json_object_set_new leaves out a member whose value
 * json_string could not make.
 *
 * The buffer grows by doubling up to max bytes; past it the writer stops
 * writing and hr_jw_take gives NULL.
 */
#ifndef HR_CORE_JWRITE_H
#define HR_CORE_JWRITE_H

#include "core/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hr_jw {
    char *buf; /* owned */
    size_t len, cap, max;
    bool comma; /* a value was written at this level: the next one needs ',' */
    bool over;  /* max was reached: nothing more is written */
} hr_jw;

/* Where the writer was, to take back what was written after it. */
typedef struct hr_jw_mark {
    size_t len;
    bool comma;
} hr_jw_mark;

void hr_jw_init(hr_jw *w, size_t max);
void hr_jw_free(hr_jw *w);
/* The document (new, NUL-terminated; its length in *len), or NULL when it
 * went over max. The writer is empty afterwards. */
char *hr_jw_take(hr_jw *w, size_t *len);

static inline hr_jw_mark hr_jw_at(const hr_jw *w)
{
    hr_jw_mark m = {w->len, w->comma};
    return m;
}
static inline void hr_jw_undo(hr_jw *w, hr_jw_mark m)
{
    if (!w->over) {
        w->len = m.len;
        w->comma = m.comma;
    }
}

void hr_jw_object(hr_jw *w);
void hr_jw_end_object(hr_jw *w);
void hr_jw_array(hr_jw *w);
void hr_jw_end_array(hr_jw *w);
/* A member's key (a NUL-terminated string; escaped like any string). */
void hr_jw_key(hr_jw *w, const char *key);
/* The same for a key of n bytes (not NUL-terminated). */
void hr_jw_keyn(hr_jw *w, const char *key, size_t n);
/* (s, n) as a JSON string; HR_EINVAL and nothing written when it is not
 * valid UTF-8. */
int hr_jw_string(hr_jw *w, const char *s, size_t n);
void hr_jw_int(hr_jw *w, int64_t v);
void hr_jw_bool(hr_jw *w, bool v);
void hr_jw_null(hr_jw *w);
/* Members already written as this writer writes them (`"k":v,"k2":v2`,
 * the inside of a stored object's braces), copied as they are into the
 * open object; nothing when n is 0. */
void hr_jw_members(hr_jw *w, const char *text, size_t n);
/* A jansson value as json_dumps(JSON_COMPACT | JSON_ENCODE_ANY) writes it;
 * HR_EINVAL and nothing written when jansson cannot dump it. v borrowed. */
int hr_jw_json(hr_jw *w, const json_t *v);

#endif
