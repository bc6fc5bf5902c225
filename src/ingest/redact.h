/*
 * redact.h - keeping credentials out of a build's environment.
 *
 * A CI build's environment holds secrets: Jenkins' withCredentials binds
 * them as variables, and URLs carry user:password@. Before an event is
 * stored, logged or delivered, herald replaces
 *   - the value of every variable whose name matches one of the patterns
 *     (fnmatch globs, compared ignoring case; the defaults are
 *     HR_REDACT_DEFAULT_PATTERNS), and
 *   - the user:password part of any URL inside any value
 *     ("https://u:p@host/x" becomes "https://" HR_REDACTED "@host/x"),
 * and, when an allow-list is given, drops every variable it does not name
 * (globs too), so a user can keep fewer variables than the build has.
 *
 * An hr_redact is immutable once built and may be shared between threads.
 */
#ifndef HR_INGEST_REDACT_H
#define HR_INGEST_REDACT_H

#include "core/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* What a redacted value becomes. */
#define HR_REDACTED "********"

/* The default name patterns, NULL-terminated. */
extern const char *const HR_REDACT_DEFAULT_PATTERNS[];

typedef struct hr_redact hr_redact;

/*
 * Builds a redactor. patterns (npatterns of them) replace the defaults;
 * patterns == NULL means the defaults. keep (nkeep) is the allow-list;
 * keep == NULL or nkeep == 0 keeps every variable. Arrays are borrowed
 * (copied). HR_EINVAL with a message naming the pattern when one is empty
 * or longer than 256 bytes.
 */
int hr_redact_new(const char *const *patterns, size_t npatterns, const char *const *keep,
                  size_t nkeep, hr_redact **out, hr_error *err);
void hr_redact_free(hr_redact *r);

/* Whether a variable of this name has its value hidden. */
bool hr_redact_hides(const hr_redact *r, const char *name);
/* Whether a variable of this name is kept (always true without an allow-list). */
bool hr_redact_keeps(const hr_redact *r, const char *name);

/* A new string: value with the credentials of every URL in it replaced
 * by HR_REDACTED; NULL when there were none (value is then fine as is). */
char *hr_redact_url_credentials(const char *value);

/*
 * Applies everything to env, an object of name -> string, in place: drops
 * the names the allow-list does not keep, hides the values of names that
 * match, scrubs URL credentials from the rest. Values that are not strings
 * are left alone. Returns how many values were hidden or scrubbed (dropped
 * variables do not count).
 */
size_t hr_redact_env(const hr_redact *r, json_t *env);

/* Scrubs URL credentials inside a string value of any JSON (objects and
 * arrays, recursively) in place; returns how many strings changed. For
 * the parts of a payload that are not the environment (SCM URLs, log). */
size_t hr_redact_urls_in(json_t *j);

#endif
