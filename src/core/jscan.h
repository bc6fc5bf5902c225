/*
 * jscan.h - a single-pass JSON reader: bytes to a flat array of tokens.
 *
 * hr_jscan_parse reads one JSON document (RFC 8259, strict: what
 * hr_json_load refuses is refused here too) in one pass and records every
 * value as a token: its type, its byte span in the caller's buffer, how
 * many children it has and the index just past its last descendant, so a
 * walk skips a whole subtree in one step. Nothing is decoded or copied
 * while scanning: strings are checked (UTF-8, escapes, surrogate pairs, no
 * control bytes, no \u0000) and numbers checked (as JSON numbers and, like
 * jansson, refused when an integer does not fit in int64 or a real
 * overflows a double); a string is unescaped only when a caller copies it
 * out. Nesting is bounded by HR_MAX_JSON_DEPTH; duplicate keys in an
 * object are refused, as hr_json_load's JSON_REJECT_DUPLICATES does.
 *
 * Tokens live in the caller's array when they fit, else in one allocation
 * sized once for the worst case of the body (a token per two bytes), so a
 * document never grows a buffer more than once. Token 0 is the root; an
 * object's children come in key, value pairs. Index 0 is never a member's
 * value, so 0 stands for "not there" in lookups.
 *
 * The buffer is borrowed: it must outlive the hr_jscan, which only points
 * into it.
 */
#ifndef HR_CORE_JSCAN_H
#define HR_CORE_JSCAN_H

#include "core/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    HR_JS_OBJECT = 1,
    HR_JS_ARRAY,
    HR_JS_STRING,
    HR_JS_NUMBER,
    HR_JS_TRUE,
    HR_JS_FALSE,
    HR_JS_NULL,
} hr_jtype;

/* Token flags. */
#define HR_JS_ESCAPED 1u /* a string holding at least one escape */
#define HR_JS_INTEGER 2u /* a number with neither fraction nor exponent */

typedef struct hr_jtok {
    uint32_t off;  /* first byte: after the opening quote for a string */
    uint32_t len;  /* bytes: a string's without its quotes; a container's with its brackets */
    uint32_t next; /* the index just past this value's last descendant */
    uint32_t n;    /* an object's members or an array's elements */
    uint8_t type;  /* hr_jtype */
    uint8_t flags; /* HR_JS_* */
} hr_jtok;

typedef struct hr_jscan {
    const char *buf; /* borrowed */
    size_t len;
    hr_jtok *tok; /* the caller's array or own */
    size_t ntok, cap;
    hr_jtok *own; /* owned when the caller's array was too small */
} hr_jscan;

/*
 * Scans (buf, len) into js. stack (nstack tokens, may be NULL and 0) is
 * used while it holds every token. On failure returns HR_EINVAL with
 * "invalid JSON at byte N: ..." in err and js holds nothing to free.
 * Call hr_jscan_free after a success.
 */
int hr_jscan_parse(hr_jscan *js, const char *buf, size_t len, hr_jtok *stack, size_t nstack,
                   hr_error *err);
void hr_jscan_free(hr_jscan *js);

/* hr_jscan_parse for a request body: a refusal carries the message
 * hr_json_load gives (jansson's, the one herald has always answered; the
 * reader's own when jansson accepts the body, which only a NUL byte after
 * a number or literal makes it do). */
int hr_jscan_parse_body(hr_jscan *js, const char *buf, size_t len, hr_jtok *stack, size_t nstack,
                        hr_error *err);

/* hr_jscan_parse_body for a body that must be an object, as
 * hr_json_load_object reads one: on failure one message ("invalid JSON
 * ..." or "body: expected an object; got ...") is added to errs, HR_EINVAL
 * is returned and js holds nothing to free. */
struct hr_errlist;
int hr_jscan_parse_object(hr_jscan *js, const char *buf, size_t len, hr_jtok *stack, size_t nstack,
                          struct hr_errlist *errs);

static inline hr_jtype hr_jscan_type(const hr_jscan *js, uint32_t i)
{
    return (hr_jtype)js->tok[i].type;
}

/* The value of obj's member named key (a NUL-terminated key compared with
 * the member's unescaped name), or 0 when obj is not an object or has no
 * such member. */
uint32_t hr_jscan_get(const hr_jscan *js, uint32_t obj, const char *key);

/* The first child of a container (an object's first key) and the child
 * after child i (for an object: from a value to the next key). Iterate
 * n times; for an object the value of key k is k + 1. */
static inline uint32_t hr_jscan_first(uint32_t i)
{
    return i + 1;
}
static inline uint32_t hr_jscan_next(const hr_jscan *js, uint32_t i)
{
    return js->tok[i].next;
}

/* A string token's unescaped bytes: their length, and a new NUL-terminated
 * copy (hr_malloc; never NULL). The bytes hold no NUL (it is refused). */
size_t hr_jscan_strlen(const hr_jscan *js, uint32_t i);
char *hr_jscan_strdup(const hr_jscan *js, uint32_t i);
/* Unescapes string token i into out (at least its raw len bytes); returns
 * the length written. */
size_t hr_jscan_unescape(const hr_jscan *js, uint32_t i, char *out);
/* Whether string token i unescapes to exactly (s, n). */
bool hr_jscan_streq(const hr_jscan *js, uint32_t i, const char *s, size_t n);

/* A number token that is an integer (HR_JS_INTEGER) as int64: HR_OK, or
 * HR_EINVAL for any other token. */
int hr_jscan_int64(const hr_jscan *js, uint32_t i, int64_t *out);

/* A new jansson value equal to what json_loadb would have built for token
 * i and its descendants (same key order, integers and reals). */
json_t *hr_jscan_to_json(const hr_jscan *js, uint32_t i);

/*
 * hr_json_load (core/json.h) through the reader: the same tree (values,
 * key order), the same refusals and the same messages (a refused body is
 * given to jansson for the message herald has always answered; when
 * jansson accepts it, which only a NUL byte after a number or literal
 * does, the reader's message is given). The tree is built from the
 * tokens, without jansson's lexer (bench/README.md, "Ingest without a
 * DOM").
 * hr_json_load_object reads through it.
 */
int hr_jscan_load(const char *buf, size_t len, json_t **out, hr_error *err);

/* hr_json_type_name of token i: "an object", "a string", "a number",
 * "a boolean", "null", ... */
const char *hr_jscan_type_name(const hr_jscan *js, uint32_t i);

/* hr_json_brief of token i, for validation messages: "an object", "an
 * array", a string quoted and cut at 40 characters, a number as jansson
 * writes it. Returns buf. */
const char *hr_jscan_brief(const hr_jscan *js, uint32_t i, char *buf, size_t size);

#endif
