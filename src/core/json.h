/*
 * json.h - untrusted JSON in, and validation errors that name JSON paths.
 *
 * hr_json_load is the only way herald parses JSON that came from outside:
 * it bounds nesting depth before jansson sees the bytes, and rejects
 * duplicate keys, invalid UTF-8, NUL bytes in strings and trailing bytes.
 *
 * hr_errlist collects "path: expected X; got Y" messages. It keeps at most
 * HR_MAX_ERRORS messages and counts the rest, so a hostile body cannot make
 * herald build an unbounded answer.
 */
#ifndef HR_CORE_JSON_H
#define HR_CORE_JSON_H

#include "core/error.h"
#include "core/limits.h"

#include <jansson.h>
#include <stddef.h>

/*
 * Parses (buf, len) as one JSON document. On success *out is a new
 * reference. On failure returns HR_EINVAL with a message naming where the
 * problem is, such as "invalid JSON at line 3, column 7: ..." or
 * "JSON nests deeper than 32 levels at byte 120".
 */
int hr_json_load(const char *buf, size_t len, json_t **out, hr_error *err);

/* hr_json_load for a request body that must be a JSON object, read
 * through core/jscan.h's hr_jscan_load (the same tree, refusals and
 * messages, without jansson's parser unless the body is refused). On failure
 * adds the one message ("invalid JSON ..." or "body: expected an object;
 * got ...") to errs and returns HR_EINVAL; *out is a new reference. */
struct hr_errlist;
int hr_json_load_object(const char *body, size_t len, struct hr_errlist *errs, json_t **out);

/* Installs hr_malloc-backed allocators in jansson (call once at start). */
void hr_json_init(void);

typedef struct hr_errlist {
    char *msgs[HR_MAX_ERRORS]; /* owned */
    size_t n;                  /* messages kept */
    size_t dropped;            /* messages counted but not kept */
} hr_errlist;

#define HR_ERRLIST_INIT                                                                            \
    {                                                                                              \
        {0}, 0, 0                                                                                  \
    }

/* Adds one message, formatted like "pipeline.stage.state: expected ...".
 * Bytes that are not valid UTF-8 become '?', so the message always fits in
 * a JSON string. l may be NULL (the message is then dropped). */
void hr_errlist_add(hr_errlist *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Total problems seen, kept or not. */
size_t hr_errlist_count(const hr_errlist *l);
/* Frees the messages; the list is empty and reusable afterwards. */
void hr_errlist_clear(hr_errlist *l);
/* A new JSON array of the messages, ending with "... and N more problems"
 * when some were dropped. */
json_t *hr_errlist_to_json(const hr_errlist *l);

/*
 * Describes a JSON value briefly for an error message, into buf:
 * strings quoted and cut at 40 characters, numbers and literals as written,
 * "an object" and "an array" for containers, "nothing" for NULL.
 */
const char *hr_json_brief(const json_t *v, char *buf, size_t size);

/* The length of the valid UTF-8 sequence at s (n >= 1 bytes left): 1 to 4,
 * or 0 when the bytes there are not valid UTF-8 (overlong forms,
 * surrogates and code points past U+10FFFF included). */
size_t hr_utf8_len(const unsigned char *s, size_t n);

/* The name of a JSON value's type as users read it: "a string", "a number",
 * "a boolean", "null", "an object", "an array", "nothing" (NULL). */
const char *hr_json_type_name(const json_t *v);
/* The same words for a value of type t. */
const char *hr_json_kind_name(json_type t);

#endif
