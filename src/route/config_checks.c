/*
 * config_checks.c - the checks the file and GoCD's settings share: URLs (the one
 * rule), methods, header names and values, jq programs and templates (tried
 * once on an empty event), signing secrets and host names.
 *
 * Included by config.c (as config_target.c is): it uses the parser, the
 * sink and the helpers config.c defines, which stay private to it.
 */
/* ---- checks shared by the file and GoCD's settings ---------------------- */

/* A target or route name: [A-Za-z0-9_.-]{1,100}. */
static bool check_name(const sink *s, const yaml_mark_t *m, const char *path, const char *v,
                       size_t n)
{
    char brief[BRIEF_LEN];
    bool ok = n > 0 && n <= NAME_MAX_LEN;
    for (size_t i = 0; ok && i < n; i++)
        ok = hr_is_alpha(v[i]) || hr_is_digit(v[i]) || v[i] == '_' || v[i] == '.' || v[i] == '-';
    if (!ok)
        report(s, m, path,
               "expected a name of 1 to %d letters, digits, \"_\", \".\" or \"-\"; got %s",
               NAME_MAX_LEN, quote(v, n, brief, sizeof(brief)));
    return ok;
}

static bool check_method(const sink *s, const yaml_mark_t *m, const char *path, const char *v,
                         size_t n)
{
    char brief[BRIEF_LEN];
    if (in_list(v, n, methods))
        return true;
    report(s, m, path, "expected one of GET, POST, PUT, DELETE; got %s",
           quote(v, n, brief, sizeof(brief)));
    return false;
}

/* Checks a URL by the one rule (core/url.h), with templates after the
 * host for a target and none for a proxy. The URL itself is never quoted:
 * it may carry a token. */
static bool check_url(const sink *s, const yaml_mark_t *m, const char *path, const char *v,
                      size_t n, unsigned flags)
{
    hr_error err;
    if (hr_url_check(v, n, flags, NULL, &err) == HR_OK)
        return true;
    report(s, m, path, "%s", err.msg);
    return false;
}

#define TARGET_URL_EXPECTED "an http:// or https:// URL with a host"

/* Makes jq's message one line: its newlines become spaces. */
static const char *one_line(char *msg)
{
    for (char *p = msg; *p; p++)
        if (hr_is_control((unsigned char)*p))
            *p = ' ';
    return msg;
}

static bool check_jq(const sink *s, const yaml_mark_t *m, const char *path, const char *program)
{
    hr_jq *q = NULL;
    hr_error err;
    hr_error_clear(&err);
    if (hr_jq_compile(program, &q, &err) != HR_OK) {
        report(s, m, path, "jq program does not compile: %s", one_line(err.msg));
        return false;
    }
    /* The file's programs are tried once on an empty event, so one that
     * runs away whatever its event is refused here, not at delivery.
     * GoCD's settings are not: their stored copy is loaded at every
     * start, and a refusal there would keep herald from starting. */
    if (s->file != NULL && hr_jq_probe(q, &err) != HR_OK) {
        report(s, m, path, "jq program does not stay within its budget on an empty event: %s",
               one_line(err.msg));
        hr_jq_free(q);
        return false;
    }
    hr_jq_free(q);
    return true;
}

/* A secret value's template is checked without showing jq's message,
 * which quotes the program text. */
static bool check_template(const sink *s, const yaml_mark_t *m, const char *path, const char *text,
                           bool secret)
{
    hr_template *t = NULL;
    hr_error err;
    hr_error_clear(&err);
    if (hr_template_compile(text, &t, &err) != HR_OK) {
        if (secret)
            report(s, m, path,
                   "template does not compile (jq's message is not shown: the value is secret)");
        else
            report(s, m, path, "template does not compile: %s", one_line(err.msg));
        return false;
    }
    /* As check_jq; the budget's messages never quote the template. */
    if (s->file != NULL && hr_template_probe(t, &err) != HR_OK) {
        report(s, m, path, "template does not stay within its budget on an empty event: %s",
               one_line(err.msg));
        hr_template_free(t);
        return false;
    }
    hr_template_free(t);
    return true;
}

static bool check_header_name(const sink *s, const yaml_mark_t *m, const char *path,
                              const char *name, size_t n)
{
    char brief[BRIEF_LEN];
    bool ok = n > 0;
    for (size_t i = 0; ok && i < n; i++)
        ok = hr_is_tchar(name[i]);
    if (!ok)
        report(s, m, path,
               "%s is not a header name (RFC 7230: letters, digits and !#$%%&'*+-.^_`|~)",
               quote(name, n, brief, sizeof(brief)));
    return ok;
}

/* Header values may hold tabs but no other control character (CR and LF
 * would split the request). */
static bool check_header_value(const sink *s, const yaml_mark_t *m, const char *path, const char *v,
                               size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (hr_is_control((unsigned char)v[i]) && v[i] != '\t') {
            report(s, m, path, "the value must not contain CR, LF or other control characters");
            return false;
        }
    return true;
}

bool hr_config_header_always_secret(const char *name)
{
    for (size_t i = 0; always_secret[i] != NULL; i++)
        if (eq_ci(name, always_secret[i]))
            return true;
    return false;
}

/* The index of the header named (name, n), case-insensitively, or -1. */
static long header_index(const hr_target *t, const char *name, size_t n)
{
    for (size_t i = 0; i < t->nheaders; i++) {
        const char *h = t->headers[i].name;
        size_t k = 0;
        while (k < n && h[k] != '\0' && lower(h[k]) == lower(name[k]))
            k++;
        if (k == n && h[k] == '\0')
            return (long)i;
    }
    return -1;
}

/* Base64 (standard alphabet), padded or not, as delivery decodes it. */
static bool is_base64(const char *v, size_t n)
{
    size_t pad = 0;
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = v[i];
        if (ch == '=') {
            pad++;
            continue;
        }
        if (pad > 0 || !(hr_is_alpha(ch) || hr_is_digit(ch) || ch == '+' || ch == '/'))
            return false;
    }
    return pad <= 2 && (pad == 0 || n % 4 == 0) && (n - pad) % 4 != 1;
}

/* Standard Webhooks: "whsec_<base64>" is decoded by delivery, anything
 * else is used as raw bytes. The value is never quoted. */
static bool check_signing_secret(const sink *s, const yaml_mark_t *m, const char *path,
                                 const char *v, size_t n)
{
    if (n == 0) {
        report(s, m, path, "must not be empty (leave the key out to send unsigned requests)");
        return false;
    }
    if (n >= 6 && memcmp(v, "whsec_", 6) == 0 && !is_base64(v + 6, n - 6)) {
        report(s, m, path, "expected base64 after \"whsec_\"");
        return false;
    }
    return true;
}
