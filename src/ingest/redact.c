/*
 * redact.c - hiding credentials in a build's environment and in URLs.
 *
 * Names are matched with fnmatch(3) and FNM_CASEFOLD, so "*token*" and
 * "*TOKEN*" are the same pattern. URLs are found by their "scheme://"
 * and scrubbed in the authority only (up to the first '/', '?', '#',
 * whitespace or quote), so an '@' in a path or query is never touched.
 */
#include "ingest/redact.h"

#include "core/mem.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The longest pattern accepted, in bytes. */
#define REDACT_MAX_PATTERN 256

/*
 * The defaults hide a little too much rather than too little: "*KEY*" also
 * hides MONKEY and KEYBOARD, "*PASS" also hides BYPASS. Two are narrower
 * than the obvious "*AUTH*" on purpose: that would hide GIT_AUTHOR_NAME,
 * CHANGE_AUTHOR and the like, which notifications want to show, so
 * authentication variables are caught as ...AUTH, ...AUTH_..., OAUTH...
 * and AUTHORIZATION instead. "*JWT*" covers GitLab's CI_JOB_JWT, "*PASS"
 * the PASS of Jenkins' usernamePassword binding examples, "*COOKIE*"
 * session cookies.
 */
const char *const HR_REDACT_DEFAULT_PATTERNS[] = {
    "*TOKEN*",         "*SECRET*",     "*PASSWORD*", "*PASSWD*", "*PASSPHRASE*", "*PASS",
    "*KEY*",           "*CREDENTIAL*", "*PRIVATE*",  "*AUTH",    "*AUTH_*",      "*OAUTH*",
    "*AUTHORIZATION*", "*JWT*",        "*COOKIE*",   NULL,
};

/*
 * How a pattern is matched. Nearly every pattern is a word with '*' at
 * either end ("*TOKEN*", "*PASS", "JOB_*"); those are matched as a
 * substring, suffix, prefix or whole name ignoring case, which costs a
 * build of a hundred variables far less than fnmatch(3) does. Anything
 * else goes to fnmatch.
 */
typedef enum { M_GLOB, M_EXACT, M_PREFIX, M_SUFFIX, M_INFIX } match_kind;

typedef struct matcher {
    match_kind kind;
    const char *word; /* into the pattern: the part between the stars */
    size_t len;
} matcher;

struct hr_redact {
    char **patterns;
    size_t npatterns;
    char **keep;
    size_t nkeep;
    matcher *pm, *km; /* one per pattern, one per keep */
};

static void free_list(char **list, size_t n)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

/* Copies n patterns into *out (new); HR_EINVAL naming a bad one. what says
 * which list it is, for the message. */
static int copy_list(const char *const *in, size_t n, const char *what, char ***out, hr_error *err)
{
    char **list;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        if (in[i] == NULL || in[i][0] == '\0')
            return hr_error_set(err, HR_EINVAL, "%s pattern %zu is empty", what, i + 1);
        len = strlen(in[i]);
        if (len > REDACT_MAX_PATTERN)
            return hr_error_set(err, HR_EINVAL,
                                "%s pattern %zu (\"%.40s...\") is %zu bytes long; "
                                "the most is %d",
                                what, i + 1, in[i], len, REDACT_MAX_PATTERN);
    }
    list = hr_calloc(n, sizeof(*list));
    for (size_t i = 0; i < n; i++)
        list[i] = hr_strdup(in[i]);
    *out = list;
    return HR_OK;
}

/* Sorts each pattern into the cheapest way to match it. */
static matcher *compile(char *const *list, size_t n)
{
    matcher *m = hr_calloc(n > 0 ? n : 1, sizeof(*m));
    for (size_t i = 0; i < n; i++) {
        const char *p = list[i];
        size_t len = strlen(p);
        bool lead = len > 0 && p[0] == '*';
        bool trail = len > 1 && p[len - 1] == '*';
        const char *word = p + lead;
        size_t wlen = len - lead - trail;

        m[i].kind = M_GLOB;
        if (wlen == 0 || strcspn(word, "*?[\\") < wlen)
            continue;
        m[i].word = word;
        m[i].len = wlen;
        m[i].kind = lead && trail ? M_INFIX : lead ? M_SUFFIX : trail ? M_PREFIX : M_EXACT;
    }
    return m;
}

int hr_redact_new(const char *const *patterns, size_t npatterns, const char *const *keep,
                  size_t nkeep, hr_redact **out, hr_error *err)
{
    hr_redact *r = NULL;
    char **pl = NULL, **kl = NULL;
    int rc;

    if (patterns == NULL) {
        patterns = HR_REDACT_DEFAULT_PATTERNS;
        for (npatterns = 0; HR_REDACT_DEFAULT_PATTERNS[npatterns] != NULL; npatterns++)
            ;
    }
    if (keep == NULL)
        nkeep = 0;
    rc = copy_list(patterns, npatterns, "redact", &pl, err);
    if (rc != HR_OK)
        goto out;
    rc = copy_list(keep, nkeep, "keep", &kl, err);
    if (rc != HR_OK)
        goto out;
    r = hr_calloc(1, sizeof(*r));
    r->patterns = pl;
    r->npatterns = npatterns;
    r->keep = kl;
    r->nkeep = nkeep;
    r->pm = compile(pl, npatterns);
    r->km = compile(kl, nkeep);
    pl = kl = NULL;
    *out = r;
out:
    free_list(kl, nkeep);
    free_list(pl, npatterns);
    return rc;
}

void hr_redact_free(hr_redact *r)
{
    if (r == NULL)
        return;
    free_list(r->patterns, r->npatterns);
    free_list(r->keep, r->nkeep);
    free(r->pm);
    free(r->km);
    free(r);
}

/* Whether word (len bytes) occurs in name, ignoring ASCII case. */
static bool contains_ci(const char *name, size_t nlen, const char *word, size_t len)
{
    for (size_t i = 0; i + len <= nlen; i++)
        if (strncasecmp(name + i, word, len) == 0)
            return true;
    return false;
}

static bool matches_any(char *const *list, const matcher *m, size_t n, const char *name)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < n; i++) {
        bool yes;
        switch (m[i].kind) {
        case M_EXACT:
            yes = nlen == m[i].len && strncasecmp(name, m[i].word, m[i].len) == 0;
            break;
        case M_PREFIX:
            yes = nlen >= m[i].len && strncasecmp(name, m[i].word, m[i].len) == 0;
            break;
        case M_SUFFIX:
            yes = nlen >= m[i].len && strncasecmp(name + nlen - m[i].len, m[i].word, m[i].len) == 0;
            break;
        case M_INFIX:
            yes = contains_ci(name, nlen, m[i].word, m[i].len);
            break;
        default:
            yes = fnmatch(list[i], name, FNM_CASEFOLD) == 0;
            break;
        }
        if (yes)
            return true;
    }
    return false;
}

bool hr_redact_hides(const hr_redact *r, const char *name)
{
    return matches_any(r->patterns, r->pm, r->npatterns, name);
}

bool hr_redact_keeps(const hr_redact *r, const char *name)
{
    return r->nkeep == 0 || matches_any(r->keep, r->km, r->nkeep, name);
}

/* ---- URLs ------------------------------------------------------------- */

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_scheme_char(char c)
{
    return is_alpha(c) || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

/* Where a URL's authority ends: at the path, query or fragment, or at
 * what cannot be inside a URL written in text. */
static bool ends_authority(char c)
{
    return c == '\0' || c == '/' || c == '?' || c == '#' || c == ' ' || c == '\t' || c == '\n' ||
           c == '\r' || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`' || c == '\\';
}

/* Whether the scheme [s, s+n) is HTTP(S), possibly wrapped ("git+https"):
 * there, git and most tools accept a token as the user name
 * (https://ghp_xxx@github.com/o/r), so a user without a password is hidden
 * too. Elsewhere (ssh://git@host) a lone user name is only a login name. */
static bool scheme_is_http(const char *s, size_t n)
{
    const char *plus = NULL;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '+')
            plus = s + i;
    if (plus != NULL) {
        n -= (size_t)(plus + 1 - s);
        s = plus + 1;
    }
    return (n == 4 && strncasecmp(s, "http", 4) == 0) ||
           (n == 5 && strncasecmp(s, "https", 5) == 0);
}

/*
 * Finds the next user information to hide in value, from position from.
 * On success sets [*start, *end) to the bytes between "://" and '@' and
 * returns true.
 */
static bool next_userinfo(const char *value, size_t from, size_t *start, size_t *end)
{
    const char *p = value + from;
    const char *sep;

    while ((sep = strstr(p, "://")) != NULL) {
        const char *s = sep, *a = sep + 3, *q, *at = NULL;
        bool colon = false;
        while (s > value && is_scheme_char(s[-1]))
            s--;
        /* A scheme starts with a letter; skip the non-letters in front
         * (say "1http://" or "-https://"). */
        while (s < sep && !is_alpha(*s))
            s++;
        for (q = a; !ends_authority(*q); q++)
            if (*q == '@')
                at = q;
        p = sep + 3;
        if (s == sep || at == NULL || at == a)
            continue;
        for (q = a; q < at; q++)
            if (*q == ':')
                colon = true;
        if (!colon && !scheme_is_http(s, (size_t)(sep - s)))
            continue;
        if ((size_t)(at - a) == strlen(HR_REDACTED) &&
            memcmp(a, HR_REDACTED, strlen(HR_REDACTED)) == 0)
            continue;
        *start = (size_t)(a - value);
        *end = (size_t)(at - value);
        return true;
    }
    return false;
}

char *hr_redact_url_credentials(const char *value)
{
    size_t start, end, from = 0, len, cap, n = 0;
    const size_t rlen = strlen(HR_REDACTED);
    char *out = NULL;

    if (value == NULL || !next_userinfo(value, 0, &start, &end))
        return NULL;
    /* The result is never longer than the value plus one HR_REDACTED
     * for every three bytes ("://" per URL) of it. */
    len = strlen(value);
    cap = len + (len / 3 + 1) * rlen + 1;
    out = hr_malloc(cap);
    do {
        memcpy(out + n, value + from, start - from);
        n += start - from;
        memcpy(out + n, HR_REDACTED, rlen);
        n += rlen;
        from = end;
    } while (next_userinfo(value, from, &start, &end));
    memcpy(out + n, value + from, len - from);
    n += len - from;
    out[n] = '\0';
    return out;
}

/* ---- JSON ------------------------------------------------------------- */

/* Scrubs the string j in place; whether it changed. */
static bool scrub_string(json_t *j)
{
    char *clean = hr_redact_url_credentials(json_string_value(j));
    if (clean == NULL)
        return false;
    json_string_set(j, clean);
    free(clean);
    return true;
}

size_t hr_redact_env(const hr_redact *r, json_t *env)
{
    const char *name;
    json_t *value;
    void *tmp;
    size_t n = 0;

    if (!json_is_object(env))
        return 0;
    json_object_foreach_safe(env, tmp, name, value)
    {
        if (!hr_redact_keeps(r, name)) {
            json_object_del(env, name);
            continue;
        }
        if (!json_is_string(value))
            continue;
        if (hr_redact_hides(r, name)) {
            json_string_set(value, HR_REDACTED);
            n++;
        } else if (scrub_string(value)) {
            n++;
        }
    }
    return n;
}

size_t hr_redact_urls_in(json_t *j)
{
    size_t n = 0, i;
    const char *key;
    json_t *v;

    if (json_is_string(j))
        return scrub_string(j) ? 1 : 0;
    if (json_is_object(j)) {
        json_object_foreach(j, key, v)
        {
            n += hr_redact_urls_in(v);
        }
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v)
        {
            n += hr_redact_urls_in(v);
        }
    }
    return n;
}
