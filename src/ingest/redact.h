/*
 * redact.h - keeping credentials out of a build's environment.
 *
 * A CI build's environment holds secrets: Jenkins' withCredentials binds
 * them as variables, URLs carry user:password@, connection strings a
 * Password=, and a chat webhook's URL is itself the credential. Before an
 * event is stored, logged or delivered, herald replaces
 *   - the value of every variable whose name matches one of the patterns
 *     (fnmatch globs, compared ignoring case; the defaults are
 *     HR_REDACT_DEFAULT_PATTERNS), and, inside any other value,
 *   - the user:password part of any URL
 *     ("https://u:p@host/x" becomes "https://" HR_REDACTED "@host/x"),
 *   - the secret part of Slack, Discord, Teams and Google Chat webhook
 *     URLs ("https://hooks.slack.com/" HR_REDACTED), and
 *   - the value of password, pwd, secret, token, sig (and a few more)
 *     pairs ("Server=x;Password=" HR_REDACTED ";", "?token=" HR_REDACTED);
 * and, when an allow-list is given, drops every variable it does not name
 * (globs too), so a user can keep fewer variables than the build has. The
 * rules for values are fixed: the patterns configure names only.
 *
 * An hr_redact is immutable once built and may be shared between threads.
 */
#ifndef HR_INGEST_REDACT_H
#define HR_INGEST_REDACT_H

#include "core/error.h"
#include "core/vars.h"

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

/* A new string: value with the user information of every URL in it
 * replaced by HR_REDACTED; NULL when there was none (value is then fine as
 * is). For showing a URL herald was given; a value from a build goes
 * through hr_redact_value. */
char *hr_redact_url_credentials(const char *value);

/*
 * A new string: value (len bytes, value[len] == '\0', NULs inside allowed)
 * with every credential the value rules above find replaced by
 * HR_REDACTED, its length in *out_len (when not NULL); NULL when there
 * was none (value is then fine as is). Scrubbing the result again changes
 * nothing: the rules run until they find nothing more, a few passes at
 * most, each linear in len.
 */
char *hr_redact_value(const char *value, size_t len, size_t *out_len);

/*
 * What the name rules and the value rules make of one variable's value
 * (len bytes, value[len] == '\0'), the allow-list aside: a new string
 * (HR_REDACTED when the name hides it, else hr_redact_value's), its
 * length in *out_len (when not NULL), or NULL when it stays as it is.
 */
char *hr_redact_var(const hr_redact *r, const char *name, const char *value, size_t len,
                    size_t *out_len);

/*
 * Applies everything to vs in place: drops the names the allow-list does
 * not keep, hides the values of names that match, scrubs the rest with
 * hr_redact_value. Returns how many values were hidden or scrubbed
 * (dropped variables do not count).
 */
size_t hr_redact_vars(const hr_redact *r, hr_vars *vs);

/*
 * hr_redact_vars for env, an object of name -> string (the form `herald
 * notify` builds), in place: drops
 * the names the allow-list does not keep, hides the values of names that
 * match, scrubs the rest with hr_redact_value. Values that are not strings
 * are left alone. Returns how many values were hidden or scrubbed (dropped
 * variables do not count).
 */
size_t hr_redact_env(const hr_redact *r, json_t *env);

/* Scrubs every string value of any JSON (objects and arrays, recursively)
 * with hr_redact_value, in place; returns how many strings changed. For
 * the parts of a payload that are not the environment (SCM URLs, log). */
size_t hr_redact_values_in(json_t *j);

#endif
