/*
 * package_int.h - what the two halves of package revisions share: the
 * publishing side (package.c) and GoCD's package-repository extension
 * (pkgrepo.c). Not public: hr_pkg__ names.
 */
#ifndef HR_INGEST_PACKAGE_INT_H
#define HR_INGEST_PACKAGE_INT_H

#include <stddef.h>
#include <stdint.h>

/* Longest JSON path written into a message; longer ones are cut. */
#define PATH_LEN 256
/* Room for an hr_json_brief or a quoted name of any value. */
#define BRIEF_LEN 256

#define NAME_EXPECTED "1 to 128 of A-Z a-z 0-9 _ . -"
#define TIME_EXPECTED                                                                              \
    "yyyy-MM-ddTHH:mm:ss.SSSZ from 1970 to 9999, such as 2011-07-14T19:43:37.100Z or "             \
    "2011-07-14T21:43:37.100+0200"

/* A sender's bytes (s, len) as a short quoted string into buf (BRIEF_LEN
 * bytes), safe in a message whatever the bytes; returns buf. */
const char *hr_pkg__quote(const char *s, size_t len, char *buf);
/* "at.key" (or "key" at the root) for a plain key, else at["key"] quoted;
 * into buf (PATH_LEN bytes); returns buf. */
const char *hr_pkg__key_path(char *buf, const char *at, const char *key, size_t len);
/* What is wrong with the name (s, len): "expected ...; got ..." into buf,
 * or NULL when it is a valid name. */
const char *hr_pkg__name_problem(const char *s, size_t len, char *buf, size_t size);
/* A timestamp GoCD can read back (s, len) into *out: HR_OK, or HR_EINVAL. */
int hr_pkg__parse_time(const char *s, size_t len, int64_t *out);

#endif
