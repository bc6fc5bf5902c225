/*
 * cursor.h - the cursor of a list paged by key (GET /api/v1/stages, jobs,
 * packages): the last key listed, its parts (pipeline, stage; source, job,
 * branch; repository, package) joined by a NUL byte and written in
 * lowercase hex, so that it travels in a query unescaped and says nothing
 * a client should parse. Pure functions: no I/O, no globals.
 */
#ifndef HR_API_CURSOR_H
#define HR_API_CURSOR_H

#include <stddef.h>

/* The cursor of the key of n parts (borrowed): a new string, or NULL when
 * it would be longer than HR_MAX_API_CURSOR (the list then ends there). */
char *hr_api_cursor_encode(const char *const *parts, size_t n);

/*
 * Reads the cursor (text, len: untrusted) of a key of exactly n parts
 * (n <= 3): the parts are written into buf (cap bytes, at least
 * HR_MAX_API_CURSOR / 2 + 1) and parts[i] points into it. Returns 0, or
 * -1 when the text is longer than HR_MAX_API_CURSOR, is not lowercase
 * hex, or holds another number of parts.
 */
int hr_api_cursor_decode(const char *text, size_t len, char *buf, size_t cap, const char **parts,
                         size_t n);

#endif
