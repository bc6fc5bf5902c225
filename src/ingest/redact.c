/*
 * redact.c - hiding credentials in a build's environment and in values.
 *
 * Names are matched with fnmatch(3) and FNM_CASEFOLD, so "*token*" and
 * "*TOKEN*" are the same pattern. In values, URLs are found by their
 * "scheme://" and scrubbed in the authority only (up to the first '/',
 * '?', '#', whitespace or quote), so an '@' in a path or query is never
 * touched; chat webhook URLs by their host; NAME=value pairs by their '='.
 * Each rule marks spans of the value, and the spans (merged where they
 * overlap) are replaced in one copy, so a value is copied once whatever
 * number of rules found something, and not at all when none did.
 */
#include "ingest/redact.h"

#include "core/ascii.h"
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
 * hides MONKEY and KEYBOARD, "*PASS" also hides BYPASS, "*CRED*" (CREDS,
 * CREDENTIALS, DOCKER_CRED) also ACCREDITED. Some are narrower than the
 * obvious on purpose, so that what notifications want to show stays:
 * "*AUTH*" would hide GIT_AUTHOR_NAME and CHANGE_AUTHOR, so authentication
 * variables are caught as ...AUTH, ...AUTH_..., OAUTH... and AUTHORIZATION
 * instead; "*PWD*" would hide PWD and OLDPWD, so a password is caught as
 * ..._PWD... (MYSQL_PWD) and ..._PW; "*PAT*" would hide PATH, so a
 * personal access token is PAT or ..._PAT (GH_PAT); "*LOGIN*" would hide
 * GitLab's GITLAB_USER_LOGIN, so only SonarQube's token SONAR_LOGIN is
 * named. "*JWT*" covers GitLab's CI_JOB_JWT, "*PASS" the PASS of Jenkins'
 * usernamePassword binding examples, "*COOKIE*" session cookies,
 * "*ROLE_ID" Vault's AppRole login (VAULT_ROLE_ID, beside its SECRET_ID),
 * "*WEBHOOK*" the URLs of chat webhooks, which are their own credential.
 */
const char *const HR_REDACT_DEFAULT_PATTERNS[] = {
    "*TOKEN*", "*SECRET*", "*PASSWORD*",      "*PASSWD*",  "*PASSPHRASE*", "*PASS",
    "*_PWD*",  "*_PW",     "*KEY*",           "*CRED*",    "*PRIVATE*",    "*AUTH",
    "*AUTH_*", "*OAUTH*",  "*AUTHORIZATION*", "*JWT*",     "*COOKIE*",     "PAT",
    "*_PAT",   "*ROLE_ID", "*SONAR_LOGIN",    "*WEBHOOK*", NULL,
};

/*
 * How a pattern is matched. Nearly every pattern is a word with '*' at
 * either end ("*TOKEN*", "*PASS", "JOB_*"); those are matched as a
 * substring, suffix, prefix or whole name ignoring case, which costs a
 * build of a hundred variables far less than fnmatch(3) does: the word is
 * folded to upper case once, when the redactor is built, and a name once
 * per call, so each pattern is a plain byte compare. Folding is ASCII
 * only, as strncasecmp(3) folds in the C locale herald runs in. Anything
 * else goes to fnmatch.
 */
typedef enum { M_GLOB, M_EXACT, M_PREFIX, M_SUFFIX, M_INFIX } match_kind;

typedef struct matcher {
    match_kind kind;
    char *word; /* owned: the part between the stars, upper case */
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
        m[i].word = hr_strndup(word, wlen);
        for (size_t k = 0; k < wlen; k++)
            m[i].word[k] = hr_ascii_upper(m[i].word[k]);
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

static void free_matchers(matcher *m, size_t n)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(m[i].word);
    free(m);
}

void hr_redact_free(hr_redact *r)
{
    if (r == NULL)
        return;
    free_matchers(r->pm, r->npatterns);
    free_matchers(r->km, r->nkeep);
    free_list(r->patterns, r->npatterns);
    free_list(r->keep, r->nkeep);
    free(r);
}

/* Whether a and b hold the same n bytes. Names and words are a few bytes
 * long: an inline loop costs less than calling memcmp(3). */
static bool same(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

/* Whether word (len bytes, len > 0) occurs in s (n bytes); for the same
 * reason a loop, not memmem(3) and its set-up. */
static bool contains(const char *s, size_t n, const char *word, size_t len)
{
    for (size_t i = 0; i + len <= n; i++)
        if (s[i] == word[0] && same(s + i + 1, word + 1, len - 1))
            return true;
    return false;
}

/* Names this long or shorter are folded on the stack; longer ones (rare)
 * in one allocation. */
#define FOLD_STACK 256

static bool matches_any(char *const *list, const matcher *m, size_t n, const char *name)
{
    size_t nlen = strlen(name);
    char stack[FOLD_STACK], *up = nlen <= sizeof(stack) ? stack : hr_malloc(nlen);
    bool yes = false;

    for (size_t i = 0; i < nlen; i++)
        up[i] = hr_ascii_upper(name[i]);
    for (size_t i = 0; i < n && !yes; i++) {
        const char *w = m[i].word;
        size_t len = m[i].len;
        switch (m[i].kind) {
        case M_EXACT:
            yes = nlen == len && same(up, w, len);
            break;
        case M_PREFIX:
            yes = nlen >= len && same(up, w, len);
            break;
        case M_SUFFIX:
            yes = nlen >= len && same(up + nlen - len, w, len);
            break;
        case M_INFIX:
            yes = contains(up, nlen, w, len);
            break;
        default:
            yes = fnmatch(list[i], name, FNM_CASEFOLD) == 0;
            break;
        }
    }
    if (up != stack)
        free(up);
    return yes;
}

bool hr_redact_hides(const hr_redact *r, const char *name)
{
    return matches_any(r->patterns, r->pm, r->npatterns, name);
}

bool hr_redact_keeps(const hr_redact *r, const char *name)
{
    return r->nkeep == 0 || matches_any(r->keep, r->km, r->nkeep, name);
}

/* ---- Values ----------------------------------------------------------- */

/* A part of a value to replace with HR_REDACTED: [start, end). */
typedef struct span {
    size_t start, end;
} span;

/* The spans found in one value. Each rule adds at most one span per "://"
 * or '=' of the value, so there are never more than the value has bytes. */
typedef struct spans {
    span *v;
    size_t n, cap;
} spans;

/* Adds [start, end) of value unless it is empty or is HR_REDACTED already,
 * so that scrubbing a scrubbed value changes nothing. */
static void add_span(spans *s, const char *value, size_t start, size_t end)
{
    const size_t rlen = strlen(HR_REDACTED);

    if (end <= start || (end - start == rlen && memcmp(value + start, HR_REDACTED, rlen) == 0))
        return;
    if (s->n == s->cap) {
        s->cap = s->cap > 0 ? s->cap * 2 : 8;
        s->v = hr_realloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n].start = start;
    s->v[s->n].end = end;
    s->n++;
}

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* A new copy of value (len bytes) with every span of s (merged where they
 * overlap or touch) replaced by HR_REDACTED, its length in *out_len; NULL
 * when s is empty. */
static char *replace_spans(const char *value, size_t len, spans *s, size_t *out_len)
{
    const size_t rlen = strlen(HR_REDACTED);
    size_t m = 0, n = 0, from = 0;
    char *out;

    if (s->n == 0)
        return NULL;
    qsort(s->v, s->n, sizeof(*s->v), span_cmp);
    for (size_t i = 0; i < s->n; i++) {
        if (m > 0 && s->v[i].start <= s->v[m - 1].end) {
            if (s->v[i].end > s->v[m - 1].end)
                s->v[m - 1].end = s->v[i].end;
        } else {
            s->v[m++] = s->v[i];
        }
    }
    /* Every span is at least one byte, so this is never too small. */
    out = hr_malloc(len + m * rlen + 1);
    for (size_t i = 0; i < m; i++) {
        memcpy(out + n, value + from, s->v[i].start - from);
        n += s->v[i].start - from;
        memcpy(out + n, HR_REDACTED, rlen);
        n += rlen;
        from = s->v[i].end;
    }
    memcpy(out + n, value + from, len - from);
    n += len - from;
    out[n] = '\0';
    *out_len = n;
    return out;
}

/* ---- URLs ------------------------------------------------------------- */

static bool is_scheme_char(char c)
{
    return hr_is_alnum(c) || c == '+' || c == '-' || c == '.';
}

/* Where a URL written in text ends: at what cannot be inside it. */
static bool ends_url(char c)
{
    return c == '\0' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '"' || c == '\'' ||
           c == '<' || c == '>' || c == '`' || c == '\\';
}

/* Where a URL's authority ends: at the path, query or fragment, or where
 * the URL does. So an authority never holds a "://". */
static bool ends_authority(char c)
{
    return c == '/' || c == '?' || c == '#' || ends_url(c);
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
 * Chat services whose webhook URLs are their own credential: whoever has
 * one can post to the channel. On a URL of host (and, with subdomains, of
 * any host under it) everything past the first `after` behind the
 * authority is hidden, so the service stays visible and the secret goes.
 */
static const struct webhook {
    const char *host;
    bool subdomains;
    const char *after;
} webhooks[] = {
    /* /services/T.../B.../secret, /workflows/..., /triggers/... */
    {"hooks.slack.com", false, "/"},
    /* /api/webhooks/id/token, /api/v10/webhooks/...; canary. and ptb. too */
    {"discord.com", true, "/webhooks/"},
    {"discordapp.com", true, "/webhooks/"},
    /* Teams: tenant.webhook.office.com/webhookb2/guid@guid/IncomingWebhook/... */
    {"webhook.office.com", true, "/"},
    /* Teams' older webhook host, which also serves the mail app */
    {"outlook.office.com", false, "/webhook/"},
    /* Teams workflows (Power Automate): ...?api-version=...&sig=secret */
    {"logic.azure.com", true, "?"},
    /* Google Chat: /v1/spaces/X/messages?key=...&token=... */
    {"chat.googleapis.com", false, "?"},
};

static const struct webhook *webhook_of(const char *host, size_t len)
{
    for (size_t i = 0; i < sizeof(webhooks) / sizeof(webhooks[0]); i++) {
        const struct webhook *w = &webhooks[i];
        size_t n = strlen(w->host);
        if (len == n && strncasecmp(host, w->host, n) == 0)
            return w;
        if (w->subdomains && len > n + 1 && host[len - n - 1] == '.' &&
            strncasecmp(host + len - n, w->host, n) == 0)
            return w;
    }
    return NULL;
}

/*
 * Marks, in value (len bytes, value[len] == '\0'), the user information of
 * every URL (the bytes between "://" and the authority's last '@': with a
 * password, or any user for HTTP(S)) and, with webhooks, the secret part
 * of every chat webhook URL. Linear in len: no authority holds a "://",
 * and a URL scanned to its end is not looked into again.
 */
static void find_urls(const char *value, size_t len, bool webhooks_too, spans *s)
{
    const char *p = value, *end = value + len, *sep;

    while ((sep = memmem(p, (size_t)(end - p), "://", 3)) != NULL) {
        const char *scheme = sep, *a = sep + 3, *q, *at = NULL, *host, *host_end;
        const struct webhook *w;
        bool http;

        p = sep + 3;
        while (scheme > value && is_scheme_char(scheme[-1]))
            scheme--;
        /* A scheme starts with a letter; skip the non-letters in front
         * (say "1http://" or "-https://"). */
        while (scheme < sep && !hr_is_alpha(*scheme))
            scheme++;
        if (scheme == sep)
            continue;
        for (q = a; q < end && !ends_authority(*q); q++)
            if (*q == '@')
                at = q;
        http = scheme_is_http(scheme, (size_t)(sep - scheme));
        if (at != NULL && at != a && (http || memchr(a, ':', (size_t)(at - a)) != NULL))
            add_span(s, value, (size_t)(a - value), (size_t)(at - value));
        if (!webhooks_too || !http)
            continue;
        host = at != NULL ? at + 1 : a;
        for (host_end = host; host_end < q && *host_end != ':'; host_end++)
            ;
        w = webhook_of(host, (size_t)(host_end - host));
        if (w == NULL)
            continue;
        const char *url_end = q, *mark;
        while (url_end < end && !ends_url(*url_end))
            url_end++;
        mark = memmem(q, (size_t)(url_end - q), w->after, strlen(w->after));
        if (mark != NULL)
            add_span(s, value, (size_t)(mark + strlen(w->after) - value),
                     (size_t)(url_end - value));
        p = url_end;
    }
}

/* ---- NAME=value pairs --------------------------------------------------- */

/*
 * The names whose value is hidden in a NAME=value pair anywhere in a value:
 * a connection string (Server=x;User Id=y;Password=z;), a query string
 * (?token=z, Azure's &sig=z), a command line (--password=z). The name is
 * the word of letters and digits right before the '=' (spaces between are
 * allowed), compared ignoring case: so client_secret= and DB_PASSWORD=
 * match, BYPASS= and tokens= do not.
 */
static const char *const pair_names[] = {
    "password", "passwd", "pass", "pwd", "passphrase", "secret", "token", "apikey", "sig",
};

static bool is_pair_name(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(pair_names) / sizeof(pair_names[0]); i++)
        if (strlen(pair_names[i]) == len && strncasecmp(name, pair_names[i], len) == 0)
            return true;
    return false;
}

/* Where a pair's value ends when it is not quoted: at the next pair of a
 * connection or query string, at the end of a line, or at a quote. Not at
 * a space: a connection string's password may hold one, and hiding the
 * rest of a command line is the safer mistake. */
static bool ends_pair_value(char c)
{
    return c == '\0' || c == ';' || c == '&' || c == '\n' || c == '\r' || c == '"' || c == '\'';
}

/* Marks the value of every pair named in pair_names in value (len bytes,
 * value[len] == '\0'). A value may be quoted ('...', "...") or braced
 * ({...}, as ODBC writes one holding ';'); without its closing character
 * it runs to the end. Linear in len: the search for the next '=' goes on
 * after a hidden value, and a name is never read past the '=' before it. */
static void find_pairs(const char *value, size_t len, spans *s)
{
    const char *p = value, *end = value + len, *eq;

    while ((eq = memchr(p, '=', (size_t)(end - p))) != NULL) {
        const char *name_end = eq, *name, *v = eq + 1, *v_end;

        p = eq + 1;
        while (name_end > value && (name_end[-1] == ' ' || name_end[-1] == '\t'))
            name_end--;
        for (name = name_end; name > value && hr_is_alnum(name[-1]); name--)
            ;
        if (!is_pair_name(name, (size_t)(name_end - name)))
            continue;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        if (v < end && *v == '{') {
            /* ODBC doubles a '}' inside braces: "}}" is one '}', and a
             * single '}' closes. */
            v_end = ++v;
            while (v_end < end && !(*v_end == '}' && (v_end + 1 == end || v_end[1] != '}')))
                v_end += *v_end == '}' ? 2 : 1;
        } else if (v < end && (*v == '"' || *v == '\'')) {
            const char *close = memchr(v + 1, *v, (size_t)(end - v - 1));
            v++;
            v_end = close != NULL ? close : end;
        } else {
            for (v_end = v; v_end < end && !ends_pair_value(*v_end); v_end++)
                ;
        }
        add_span(s, value, (size_t)(v - value), (size_t)(v_end - value));
        p = v_end < end ? v_end + 1 : end;
    }
}

/* The most passes scrub() makes over a value before it gives up on it. */
#define REDACT_MAX_PASSES 4

/*
 * Scrubs value (len bytes) with the URL rules and, with all_rules, the
 * others, until a pass finds nothing: a new string and its length, or
 * NULL when the first pass found nothing. One pass is not always enough,
 * because spans of two rules merge: in "sig=a&x://u:p@h" the pair's value
 * ends at the '&' that the URL's user information swallows, and in the
 * result the pair's value runs on to the end. A normal value takes one
 * pass to scrub and one to see it is done; a value still changing after
 * REDACT_MAX_PASSES is hidden whole, which is always stable.
 */
static char *scrub(const char *value, size_t len, bool all_rules, size_t *out_len)
{
    char *out = NULL;
    size_t n = len;

    for (int pass = 0; pass < REDACT_MAX_PASSES; pass++) {
        const char *in = out != NULL ? out : value;
        spans s = {0};
        size_t m = 0;
        char *next;

        find_urls(in, n, all_rules, &s);
        if (all_rules)
            find_pairs(in, n, &s);
        next = replace_spans(in, n, &s, &m);
        free(s.v);
        if (next == NULL) {
            *out_len = n;
            return out;
        }
        free(out);
        out = next;
        n = m;
    }
    free(out);
    *out_len = strlen(HR_REDACTED);
    return hr_strdup(HR_REDACTED);
}

char *hr_redact_url_credentials(const char *value)
{
    size_t n;
    return value != NULL ? scrub(value, strlen(value), false, &n) : NULL;
}

char *hr_redact_value(const char *value, size_t len, size_t *out_len)
{
    size_t n = 0;
    char *out = value != NULL ? scrub(value, len, true, &n) : NULL;
    if (out_len != NULL)
        *out_len = out != NULL ? n : 0;
    return out;
}

/* ---- JSON ------------------------------------------------------------- */

/* Scrubs the string j in place; whether it changed. */
static bool scrub_string(json_t *j)
{
    size_t n;
    char *clean = hr_redact_value(json_string_value(j), json_string_length(j), &n);
    if (clean == NULL)
        return false;
    json_string_setn(j, clean, n);
    free(clean);
    return true;
}

char *hr_redact_var(const hr_redact *r, const char *name, const char *value, size_t len,
                    size_t *out_len)
{
    if (!hr_redact_hides(r, name))
        return hr_redact_value(value, len, out_len);
    if (out_len != NULL)
        *out_len = strlen(HR_REDACTED);
    return hr_strdup(HR_REDACTED);
}

size_t hr_redact_vars(const hr_redact *r, hr_vars *vs)
{
    size_t n = 0, kept = 0;

    for (size_t i = 0; i < vs->n; i++) {
        const char *name = hr_vars_name(vs, i);
        size_t len;
        char *clean;

        if (!hr_redact_keeps(r, name))
            continue;
        vs->v[kept++] = vs->v[i];
        clean = hr_redact_var(r, name, hr_vars_value(vs, i), vs->v[i].value_len, &len);
        if (clean != NULL) {
            hr_vars_set_value(vs, kept - 1, clean, len);
            free(clean);
            n++;
        }
    }
    vs->n = kept;
    return n;
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

size_t hr_redact_values_in(json_t *j)
{
    size_t n = 0, i;
    const char *key;
    json_t *v;

    if (json_is_string(j))
        return scrub_string(j) ? 1 : 0;
    if (json_is_object(j)) {
        json_object_foreach(j, key, v)
        {
            n += hr_redact_values_in(v);
        }
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v)
        {
            n += hr_redact_values_in(v);
        }
    }
    return n;
}
