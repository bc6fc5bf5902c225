/*
 * gocd_settings.c - the plugin settings page: its keys, its AngularJS view,
 * and the checks behind "Save".
 *
 * Two kinds of failure are kept apart. A body that is not the shape GoCD
 * sends (not an object, no "plugin-settings", a value that is not a string)
 * is a protocol error: HR_EINVAL with JSON paths in errs. A well-formed body
 * whose values break a rule (no URL, a header line without a colon) is a
 * normal answer: [{"key", "message"}] entries, which GoCD shows beside the
 * fields of the settings page.
 */
#include "ingest/gocd_settings.h"

#include "core/ascii.h"
#include "core/limits.h"
#include "core/url.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Room for an hr_json_brief of any value. */
#define BRIEF_LEN 64

/* One settings key, in the order the page shows them. */
typedef struct setting {
    const char *key;
    const char *display_name;
    const char *default_value;
    bool required, secure;
} setting;

static const setting settings[] = {
    {"webhook_url", "Webhook URL", "", true, false},
    {"webhook_method", "Method", "POST", false, false},
    {"webhook_headers", "Headers", "", false, true},
    {"webhook_body", "Body template", "", false, false},
    {"notify_on", "Notify on", "any", false, false},
};
#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", NULL};
static const char *const notify_words[] = {
    "any",           "building",  "passed",  "failed", "broken", "fixed",
    "still_failing", "cancelled", "failing", "agent",  NULL};

json_t *hr_gocd_settings_configuration(void)
{
    json_t *o = json_object();
    for (size_t i = 0; i < NSETTINGS; i++) {
        char order[8];
        const setting *s = &settings[i];
        snprintf(order, sizeof(order), "%zu", i);
        json_object_set_new(o, s->key,
                            json_pack("{s:s,s:b,s:b,s:s,s:s}", "default-value", s->default_value,
                                      "secure", s->secure, "required", s->required, "display-name",
                                      s->display_name, "display-order", order));
    }
    return o;
}

/* The GOINPUTNAME placeholder is replaced by GoCD with the form's name, so
 * validation messages appear under the field they belong to. */
#define FIELD_ERROR(key)                                                                           \
    "  <span class=\"form_error\" ng-show=\"GOINPUTNAME[" key "].$error.server\">"                 \
    "{{GOINPUTNAME[" key "].$error.server}}</span>\n"

/* One line of HTML a line of C; the formatter would reflow it. */
/* clang-format off */
static const char view[] =
    "<div class=\"form_item_block\">\n"
    "  <label>Webhook URL:<span class=\"asterix\">*</span></label>\n"
    "  <input type=\"text\" ng-model=\"webhook_url\""
    " placeholder=\"https://hooks.example.com/gocd\"/>\n"
    FIELD_ERROR("webhook_url")
    /* ng-non-bindable: AngularJS must not read the {{ }} as its own. */
    "  <span class=\"form_help\" ng-non-bindable>Where herald sends each notification: http:// "
    "or https://, a host and an optional port, then a path that may hold {{ jq }} templates "
    "(https://chat.example.com/{{ .pipeline.name }}).</span>\n"
    "</div>\n"
    "<div class=\"form_item_block\">\n"
    "  <label>Method:</label>\n"
    "  <select ng-model=\"webhook_method\">\n"
    "    <option value=\"GET\">GET</option>\n"
    "    <option value=\"POST\">POST</option>\n"
    "    <option value=\"PUT\">PUT</option>\n"
    "    <option value=\"DELETE\">DELETE</option>\n"
    "  </select>\n"
    FIELD_ERROR("webhook_method")
    "  <span class=\"form_help\">POST when left empty.</span>\n"
    "</div>\n"
    "<div class=\"form_item_block\">\n"
    "  <label>Headers:</label>\n"
    "  <textarea ng-model=\"webhook_headers\" rows=\"4\""
    " placeholder=\"Authorization: Bearer ...\"></textarea>\n"
    FIELD_ERROR("webhook_headers")
    "  <span class=\"form_help\">One \"Name: value\" per line. Stored encrypted: they often hold "
    "tokens.</span>\n"
    "</div>\n"
    "<div class=\"form_item_block\">\n"
    "  <label>Body template:</label>\n"
    "  <textarea ng-model=\"webhook_body\" rows=\"8\"></textarea>\n"
    FIELD_ERROR("webhook_body")
    "  <span class=\"form_help\">Leave empty to send herald's JSON form of the event.</span>\n"
    "</div>\n"
    "<div class=\"form_item_block\">\n"
    "  <label>Notify on:</label>\n"
    "  <input type=\"text\" ng-model=\"notify_on\" placeholder=\"any\"/>\n"
    FIELD_ERROR("notify_on")
    "  <span class=\"form_help\">Comma-separated: any, building, passed, failed, broken, fixed, "
    "still_failing, cancelled, failing, agent. Empty means any.</span>\n"
    "</div>\n";
/* clang-format on */

const char *hr_gocd_settings_view(void)
{
    return view;
}

int hr_gocd_settings_is_secret(const char *key)
{
    if (key == NULL)
        return 0;
    for (size_t i = 0; i < NSETTINGS; i++)
        if (strcmp(key, settings[i].key) == 0)
            return settings[i].secure;
    return 0;
}

/* ---- value checks: each returns NULL when the value is fine, or writes
 * the message into msg and returns it. Values are read as (s, len);
 * hr_json_load refuses NUL bytes and invalid UTF-8, so (s, len) is the
 * whole value and valid UTF-8. */

typedef const char *(*check_fn)(const char *s, size_t len, char *msg, size_t size);

/* How many of the first len bytes of s to quote in a message: at most max,
 * without splitting a UTF-8 sequence (s is valid UTF-8, hr_json_load saw
 * to that), since jansson refuses a message that is not. */
static int shown(const char *s, size_t len, size_t max)
{
    size_t n = len;
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    return (int)n;
}

/* Replaces control characters in a message (quoted user text) by '?'. */
static const char *printable(char *msg)
{
    for (char *p = msg; *p; p++)
        if (hr_is_control((unsigned char)*p))
            *p = '?';
    return msg;
}

static const char *say(char *msg, size_t size, const char *text)
{
    snprintf(msg, size, "%s", text);
    return msg;
}

/* The one URL rule (core/url.h), with templates after the host: the
 * same verdict and message as the YAML config and the apply path. */
static const char *check_url(const char *s, size_t len, char *msg, size_t size)
{
    hr_error err;

    if (hr_url_check(s, len, HR_URL_TEMPLATES, NULL, &err) == HR_OK)
        return NULL;
    return say(msg, size, err.msg);
}

static const char *check_method(const char *s, size_t len, char *msg, size_t size)
{
    if (len == 0)
        return NULL;
    for (size_t i = 0; methods[i] != NULL; i++)
        if (len == strlen(methods[i]) && memcmp(s, methods[i], len) == 0)
            return NULL;
    snprintf(msg, size, "Method must be one of GET, POST, PUT, DELETE; got \"%.*s\"",
             shown(s, len, 20), s);
    return printable(msg);
}

/* One "Name: value" per line; blank lines are skipped, and a line may end
 * with "\r\n". The name is an RFC 7230 token; the value may hold tabs but
 * no other control character. */
static const char *check_headers(const char *s, size_t len, char *msg, size_t size)
{
    size_t line = 0, at = 0;

    while (at < len) {
        size_t end = at, stop, colon;
        while (end < len && s[end] != '\n')
            end++;
        line++;
        stop = end;
        if (stop > at && s[stop - 1] == '\r')
            stop--;
        if (stop > at) {
            for (colon = at; colon < stop && s[colon] != ':'; colon++)
                ;
            if (colon == stop || colon == at) {
                snprintf(msg, size, "line %zu: expected \"Name: value\"", line);
                return msg;
            }
            for (size_t i = at; i < colon; i++)
                if (!hr_is_tchar(s[i])) {
                    snprintf(msg, size,
                             "line %zu: expected \"Name: value\" with a name made of letters, "
                             "digits and !#$%%&'*+-.^_`|~",
                             line);
                    return msg;
                }
            for (size_t i = colon + 1; i < stop; i++)
                if (hr_is_control((unsigned char)s[i]) && s[i] != '\t') {
                    snprintf(msg, size, "line %zu: the value must not contain control characters",
                             line);
                    return msg;
                }
        }
        at = end + 1;
    }
    return NULL;
}

static const char *check_notify_on(const char *s, size_t len, char *msg, size_t size)
{
    size_t at = 0;

    while (at < len) {
        size_t end = at, a, b;
        bool known = false;
        while (end < len && s[end] != ',')
            end++;
        for (a = at; a < end && (s[a] == ' ' || s[a] == '\t'); a++)
            ;
        for (b = end; b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'); b--)
            ;
        for (size_t i = 0; b > a && notify_words[i] != NULL; i++)
            known = known || (b - a == strlen(notify_words[i]) &&
                              memcmp(s + a, notify_words[i], b - a) == 0);
        if (b > a && !known) {
            snprintf(msg, size,
                     "\"%.*s\" is not one of any, building, passed, failed, broken, fixed, "
                     "still_failing, cancelled, failing, agent",
                     shown(s + a, b - a, 40), s + a);
            return printable(msg);
        }
        at = end + 1;
    }
    return NULL;
}

/* The check for each key, in settings[] order (webhook_body has none
 * beyond the length bound every key shares). */
static const check_fn checks[NSETTINGS] = {check_url, check_method, check_headers, NULL,
                                           check_notify_on};

/* Checks one value; appends {"key", "message"} to out when it is wrong. */
static void check_value(json_t *out, size_t i, const char *s, size_t len)
{
    char msg[256];
    const char *problem = NULL;

    if (len > HR_MAX_SETTING_BYTES) {
        snprintf(msg, sizeof(msg), "Value must be at most %u bytes; got %zu", HR_MAX_SETTING_BYTES,
                 len);
        problem = msg;
    } else if (checks[i] != NULL) {
        problem = checks[i](s, len, msg, sizeof(msg));
    }
    /* Every message above is valid UTF-8; should one ever not be, the key
     * must still be reported, or a bad value would pass as valid. */
    if (problem != NULL) {
        json_t *m = json_string(problem);
        json_array_append_new(out, json_pack("{s:s,s:o}", "key", settings[i].key, "message",
                                             m != NULL ? m : json_string("invalid value")));
    }
}

/* A setting's value as GoCD sends it: a string, or null (or, in the
 * validate request, no "value" at all) for a field never filled in. Sets
 * (*s, *len) and returns true; reports and returns false otherwise. */
static bool value_of(const json_t *v, const char *path, hr_errlist *errs, const char **s,
                     size_t *len)
{
    char brief[BRIEF_LEN];

    if (v == NULL || json_is_null(v)) {
        *s = "";
        *len = 0;
        return true;
    }
    if (!json_is_string(v)) {
        hr_errlist_add(errs, "%s: expected a string or null; got %s", path,
                       hr_json_brief(v, brief, sizeof(brief)));
        return false;
    }
    *s = json_string_value(v);
    *len = json_string_length(v);
    return true;
}

int hr_gocd_settings_validate(const char *body, size_t len, json_t **out, json_t **values,
                              hr_errlist *errs)
{
    hr_errlist scratch = HR_ERRLIST_INIT;
    char brief[BRIEF_LEN], path[128];
    json_t *root = NULL, *result = NULL;
    const json_t *ps;
    const char *vals[NSETTINGS];
    size_t lens[NSETTINGS];
    size_t before;
    int rc = HR_EINVAL;

    if (errs == NULL)
        errs = &scratch;
    before = hr_errlist_count(errs);
    if (hr_json_load_object(body, len, errs, &root) != HR_OK)
        goto out;
    ps = json_object_get(root, "plugin-settings");
    if (!json_is_object(ps)) {
        hr_errlist_add(errs, "plugin-settings: expected an object; got %s",
                       hr_json_brief(ps, brief, sizeof(brief)));
        goto out;
    }
    /* Unknown keys are left alone: GoCD sends back whatever it stored. */
    for (size_t i = 0; i < NSETTINGS; i++) {
        const json_t *entry = json_object_get(ps, settings[i].key);
        vals[i] = "";
        lens[i] = 0;
        snprintf(path, sizeof(path), "plugin-settings.%s", settings[i].key);
        if (entry != NULL && !json_is_object(entry)) {
            hr_errlist_add(errs, "%s: expected an object like {\"value\": \"...\"}; got %s", path,
                           hr_json_brief(entry, brief, sizeof(brief)));
            continue;
        }
        snprintf(path, sizeof(path), "plugin-settings.%s.value", settings[i].key);
        value_of(json_object_get(entry, "value"), path, errs, &vals[i], &lens[i]);
    }
    if (hr_errlist_count(errs) != before)
        goto out;

    result = json_array();
    for (size_t i = 0; i < NSETTINGS; i++)
        check_value(result, i, vals[i], lens[i]);
    if (values != NULL) {
        *values = json_object();
        for (size_t i = 0; i < NSETTINGS; i++)
            json_object_set_new(*values, settings[i].key, json_stringn(vals[i], lens[i]));
    }
    *out = result;
    rc = HR_OK;
out:
    json_decref(root);
    hr_errlist_clear(&scratch);
    return rc;
}

int hr_gocd_settings_changed(const char *body, size_t len, json_t **out, hr_errlist *errs)
{
    hr_errlist scratch = HR_ERRLIST_INIT;
    json_t *root = NULL, *result = NULL;
    size_t before;
    int rc = HR_EINVAL;

    if (errs == NULL)
        errs = &scratch;
    before = hr_errlist_count(errs);
    if (hr_json_load_object(body, len, errs, &root) != HR_OK)
        goto out;
    result = json_object();
    for (size_t i = 0; i < NSETTINGS; i++) {
        const json_t *v = json_object_get(root, settings[i].key);
        const char *s;
        size_t n;
        if (v == NULL || !value_of(v, settings[i].key, errs, &s, &n))
            continue;
        if (n > HR_MAX_SETTING_BYTES) {
            hr_errlist_add(errs, "%s: expected at most %u bytes; got %zu bytes", settings[i].key,
                           HR_MAX_SETTING_BYTES, n);
            continue;
        }
        json_object_set_new(result, settings[i].key, json_stringn(s, n));
    }
    if (hr_errlist_count(errs) != before)
        goto out;
    *out = result;
    result = NULL;
    rc = HR_OK;
out:
    json_decref(result);
    json_decref(root);
    hr_errlist_clear(&scratch);
    return rc;
}
