/*
 * Tests for src/ingest/gocd_settings.c: the settings page's configuration
 * and view, the validate-configuration answer and its messages, and the
 * plugin-settings-changed body.
 */
#include <criterion/criterion.h>

#include "core/limits.h"
#include "ingest/gocd_settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const keys[] = {"webhook_url", "webhook_method", "webhook_headers",
                                   "webhook_body", "notify_on"};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* ---- helpers ---------------------------------------------------------- */

/* A validate-configuration body from (key, value) pairs; NULL-terminated.
 * New (free()). */
static char *validate_body(const char *const *kv)
{
    json_t *ps = json_object(), *doc;
    char *out;
    for (size_t i = 0; kv[i] != NULL; i += 2)
        json_object_set_new(ps, kv[i], json_pack("{s:s}", "value", kv[i + 1]));
    doc = json_pack("{s:o}", "plugin-settings", ps);
    out = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return out;
}

/* Validates a body that must be well-formed; returns the answer (new). */
static json_t *validate_ok(const char *body)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    json_t *out = NULL;
    int rc = hr_gocd_settings_validate(body, strlen(body), &out, NULL, &errs);
    cr_assert_eq(rc, HR_OK, "refused: %s", errs.n ? errs.msgs[0] : "?");
    cr_assert_eq(hr_errlist_count(&errs), 0);
    cr_assert(json_is_array(out));
    return out;
}

/* Expects the settings (pairs, NULL-terminated) to give exactly one
 * message, for key. */
static void expect_one_message(const char *const *kv, const char *key, const char *message)
{
    char *body = validate_body(kv);
    json_t *out = validate_ok(body);
    char *dump = json_dumps(out, 0);
    cr_expect_eq(json_array_size(out), 1, "answer: %s", dump);
    if (json_array_size(out) >= 1) {
        const json_t *e = json_array_get(out, 0);
        cr_expect_eq(json_object_size(e), 2);
        cr_expect_str_eq(json_string_value(json_object_get(e, "key")), key);
        cr_expect_str_eq(json_string_value(json_object_get(e, "message")), message, "got %s",
                         json_string_value(json_object_get(e, "message")));
    }
    free(dump);
    json_decref(out);
    free(body);
}

/* Expects the settings to be valid. */
static void expect_valid(const char *const *kv)
{
    char *body = validate_body(kv);
    json_t *out = validate_ok(body);
    char *dump = json_dumps(out, 0);
    cr_expect_eq(json_array_size(out), 0, "answer for %s: %s", body, dump);
    free(dump);
    json_decref(out);
    free(body);
}

#define PAIRS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define URL_IS(url, message)                                                                       \
    expect_one_message(PAIRS("webhook_url", (url)), "webhook_url", (message))

typedef int (*settings_fn)(const char *, size_t, json_t **, hr_errlist *);

/* validate-configuration's answer alone, in the shape of the other calls. */
static int validate_only(const char *body, size_t len, json_t **out, hr_errlist *errs)
{
    return hr_gocd_settings_validate(body, len, out, NULL, errs);
}

static void expect_shape_errors(settings_fn fn, const char *body, const char *const *want)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    json_t sentinel, *out = &sentinel;
    size_t n = 0;
    int rc = fn(body, strlen(body), &out, &errs);
    while (want[n] != NULL)
        n++;
    cr_expect_eq(rc, HR_EINVAL);
    cr_expect_eq(out, &sentinel, "out changed on failure");
    cr_expect_eq(hr_errlist_count(&errs), n, "expected %zu messages, got %zu", n,
                 hr_errlist_count(&errs));
    for (size_t i = 0; i < n && i < errs.n; i++)
        cr_expect_str_eq(errs.msgs[i], want[i], "message %zu:\n got  %s\n want %s", i, errs.msgs[i],
                         want[i]);
    hr_errlist_clear(&errs);
}

#define EXPECT_SHAPE(fn, body, ...) expect_shape_errors((fn), (body), PAIRS(__VA_ARGS__))

/* ---- get-configuration ------------------------------------------------ */

Test(gocd_settings, configuration_shape)
{
    json_t *c = hr_gocd_settings_configuration();
    cr_assert(json_is_object(c));
    cr_expect_eq(json_object_size(c), NKEYS);
    for (size_t i = 0; i < NKEYS; i++) {
        const json_t *k = json_object_get(c, keys[i]);
        char order[8];
        cr_assert(json_is_object(k), "no %s", keys[i]);
        cr_expect_eq(json_object_size(k), 5, "%s has extra members", keys[i]);
        cr_expect(json_is_string(json_object_get(k, "default-value")));
        cr_expect(json_is_boolean(json_object_get(k, "secure")));
        cr_expect(json_is_boolean(json_object_get(k, "required")));
        cr_expect(json_string_length(json_object_get(k, "display-name")) > 0);
        /* GoCD wants display-order as a string holding a number. */
        snprintf(order, sizeof(order), "%zu", i);
        cr_assert(json_is_string(json_object_get(k, "display-order")));
        cr_expect_str_eq(json_string_value(json_object_get(k, "display-order")), order);
        cr_expect_eq(json_is_true(json_object_get(k, "secure")),
                     hr_gocd_settings_is_secret(keys[i]) != 0);
    }
    cr_expect(json_is_true(json_object_get(json_object_get(c, "webhook_url"), "required")));
    cr_expect(json_is_false(json_object_get(json_object_get(c, "webhook_method"), "required")));
    cr_expect_str_eq(
        json_string_value(json_object_get(json_object_get(c, "webhook_method"), "default-value")),
        "POST");
    cr_expect_str_eq(
        json_string_value(json_object_get(json_object_get(c, "notify_on"), "default-value")),
        "any");
    cr_expect(json_is_true(json_object_get(json_object_get(c, "webhook_headers"), "secure")));
    json_decref(c);
}

Test(gocd_settings, secrets)
{
    cr_expect(hr_gocd_settings_is_secret("webhook_headers"));
    cr_expect_not(hr_gocd_settings_is_secret("webhook_url"));
    cr_expect_not(hr_gocd_settings_is_secret("webhook_body"));
    cr_expect_not(hr_gocd_settings_is_secret("nonsense"));
    cr_expect_not(hr_gocd_settings_is_secret(NULL));
}

/* ---- get-view --------------------------------------------------------- */

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* AngularJS evaluates every "{{ }}" in the view: besides the error
 * bindings, a "{{" may only stand inside an ng-non-bindable element (the
 * help text showing a URL template), or the page would break. */
Test(gocd_settings, view_shows_templates_only_where_angular_does_not_read_them)
{
    const char *v = hr_gocd_settings_view();
    size_t shown = 0;
    for (const char *p = strstr(v, "{{"); p != NULL; p = strstr(p + 2, "{{")) {
        const char *open = p, *close;
        if (strncmp(p, "{{GOINPUTNAME[", 14) == 0)
            continue;
        while (open > v && strncmp(open, "<span", 5) != 0)
            open--;
        close = strstr(open, "</span>");
        cr_assert(close != NULL && close > p, "a {{ outside any span");
        cr_expect(memmem(open, (size_t)(strchr(open, '>') - open), "ng-non-bindable", 15) != NULL,
                  "a {{ that AngularJS would read at byte %td", p - v);
        shown++;
    }
    cr_expect_gt(shown, 0, "the URL's help shows a template");
}

Test(gocd_settings, view_binds_every_key)
{
    const char *v = hr_gocd_settings_view();
    cr_assert_not_null(v);
    cr_expect_eq(count(v, "<div class=\"form_item_block\">"), NKEYS);
    cr_expect_eq(count(v, "<div"), count(v, "</div>"));
    cr_expect_eq(count(v, "<label>"), NKEYS);
    for (size_t i = 0; i < NKEYS; i++) {
        char want[256];
        snprintf(want, sizeof(want), "ng-model=\"%s\"", keys[i]);
        cr_expect_eq(count(v, want), 1, "no %s", want);
        snprintf(want, sizeof(want),
                 "<span class=\"form_error\" ng-show=\"GOINPUTNAME[%s].$error.server\">"
                 "{{GOINPUTNAME[%s].$error.server}}</span>",
                 keys[i], keys[i]);
        cr_expect_eq(count(v, want), 1, "no error span for %s", keys[i]);
    }
    cr_expect_eq(count(v, "<select ng-model=\"webhook_method\">"), 1);
    cr_expect_eq(count(v, "<option value=\"GET\">GET</option>"), 1);
    cr_expect_eq(count(v, "<option value=\"POST\">POST</option>"), 1);
    cr_expect_eq(count(v, "<option value=\"PUT\">PUT</option>"), 1);
    cr_expect_eq(count(v, "<option value=\"DELETE\">DELETE</option>"), 1);
    cr_expect_eq(count(v, "<textarea ng-model=\"webhook_headers\""), 1);
    cr_expect_eq(count(v, "<textarea ng-model=\"webhook_body\""), 1);
    cr_expect_eq(count(v, "<textarea"), count(v, "</textarea>"));
    cr_expect_eq(count(v, "<select"), count(v, "</select>"));
    cr_expect_eq(count(v, "<span"), count(v, "</span>"));
    /* It travels inside a JSON string: make sure it round-trips. */
    json_t *t = json_pack("{s:s}", "template", v);
    cr_assert_not_null(t);
    cr_expect_str_eq(json_string_value(json_object_get(t, "template")), v);
    json_decref(t);
}

/* ---- validate-configuration: values ----------------------------------- */

Test(gocd_settings, valid_settings)
{
    expect_valid(PAIRS("webhook_url", "https://hooks.example.com/gocd"));
    expect_valid(PAIRS("webhook_url", "http://10.0.0.5:8080/hook?x=1#f", "webhook_method", "PUT",
                       "webhook_headers", "Authorization: Bearer abc\r\nX-Team:  ci  \n\n",
                       "webhook_body", "{\"text\": \"{{.pipeline.name}}\"}", "notify_on",
                       "broken, fixed,still_failing"));
    expect_valid(PAIRS("webhook_url", "https://user:pw@[2001:db8::1]:443/x", "webhook_method", "",
                       "webhook_headers", "", "notify_on", ""));
    expect_valid(PAIRS("webhook_url", "HTTPS://Example.COM", "notify_on",
                       "any,building,passed,failed,broken,fixed,still_failing,cancelled,failing,"
                       "agent"));
    expect_valid(PAIRS("webhook_url", "http://h:65535", "webhook_method", "DELETE",
                       "webhook_headers", "X-Tab:\tvalue\twith tabs"));
    expect_valid(PAIRS("webhook_url", "http://h:1", "webhook_method", "GET"));
    /* Keys herald does not know are left alone. */
    expect_valid(PAIRS("webhook_url", "https://h", "colour", "blue"));
}

Test(gocd_settings, url_rules)
{
    URL_IS("", "the URL is empty");
    URL_IS("ftp://example.com/x", "the URL must start with http:// or https://");
    URL_IS("example.com", "the URL must start with http:// or https://");
    URL_IS("http:/example.com", "the URL must start with http:// or https://");
    URL_IS("https://", "the URL must name a host");
    URL_IS("https:///path", "the URL must name a host");
    URL_IS("https://user@/path", "the URL must name a host");
    URL_IS("https://:8080/", "the URL must name a host");
    URL_IS("https://exa mple.com",
           "the URL must not contain spaces or control characters (write %20 for a space)");
    URL_IS("https://example.com/\n",
           "the URL must not contain spaces or control characters (write %20 for a space)");
    URL_IS("https://example.com/a\x7f",
           "the URL must not contain spaces or control characters (write %20 for a space)");
    URL_IS("https://exa\"mple.com", "the URL's host must not contain '\"'");
    URL_IS("https://example.com:0/", "the URL's port must be a number from 1 to 65535");
    URL_IS("https://example.com:65536/", "the URL's port must be a number from 1 to 65535");
    URL_IS("https://example.com:99999999999999999999/",
           "the URL's port must be a number from 1 to 65535");
    URL_IS("https://example.com:/", "the URL's port must be a number from 1 to 65535");
    URL_IS("https://example.com:80a/", "the URL's port must be a number from 1 to 65535");
    URL_IS("https://example.com:-1/", "the URL's port must be a number from 1 to 65535");
    URL_IS("https://[::1/", "the URL's host is not a valid IPv6 address");
    URL_IS("https://[]/", "the URL's host is not a valid IPv6 address");
    URL_IS("https://[fe80::1%25eth0]/", "the URL's host is not a valid IPv6 address");
    URL_IS("https://[::1]x/", "the URL's port must be a number from 1 to 65535");
    /* A missing URL is as empty as an empty one. */
    expect_one_message(PAIRS("notify_on", "any"), "webhook_url", "the URL is empty");
}

Test(gocd_settings, method_rules)
{
    expect_one_message(PAIRS("webhook_url", "https://h", "webhook_method", "PATCH"),
                       "webhook_method",
                       "Method must be one of GET, POST, PUT, DELETE; got \"PATCH\"");
    expect_one_message(PAIRS("webhook_url", "https://h", "webhook_method", "post"),
                       "webhook_method",
                       "Method must be one of GET, POST, PUT, DELETE; got \"post\"");
    expect_one_message(
        PAIRS("webhook_url", "https://h", "webhook_method", "A-VERY-LONG-METHOD-NAME-INDEED\n"),
        "webhook_method",
        "Method must be one of GET, POST, PUT, DELETE; got \"A-VERY-LONG-METHOD-N\"");
}

Test(gocd_settings, header_rules)
{
    expect_one_message(PAIRS("webhook_url", "https://h", "webhook_headers",
                             "X-Ok: 1\nno colon here\nX-Bad Name: 2"),
                       "webhook_headers", "line 2: expected \"Name: value\"");
    expect_one_message(PAIRS("webhook_url", "https://h", "webhook_headers", ": value"),
                       "webhook_headers", "line 1: expected \"Name: value\"");
    expect_one_message(
        PAIRS("webhook_url", "https://h", "webhook_headers", "X-Ok: 1\r\n\r\nX Bad: 2"),
        "webhook_headers",
        "line 3: expected \"Name: value\" with a name made of letters, digits and "
        "!#$%&'*+-.^_`|~");
    expect_one_message(
        PAIRS("webhook_url", "https://h", "webhook_headers", "X-Ok: 1\nX-Bell: ding\a"),
        "webhook_headers", "line 2: the value must not contain control characters");
    expect_one_message(PAIRS("webhook_url", "https://h", "webhook_headers", "X-Cr: a\rb"),
                       "webhook_headers", "line 1: the value must not contain control characters");
}

Test(gocd_settings, notify_on_rules)
{
    expect_one_message(PAIRS("webhook_url", "https://h", "notify_on", "passed, pased"), "notify_on",
                       "\"pased\" is not one of any, building, passed, failed, broken, fixed, "
                       "still_failing, cancelled, failing, agent");
    expect_one_message(PAIRS("webhook_url", "https://h", "notify_on", "Passed"), "notify_on",
                       "\"Passed\" is not one of any, building, passed, failed, broken, fixed, "
                       "still_failing, cancelled, failing, agent");
    expect_one_message(PAIRS("webhook_url", "https://h", "notify_on", "still failing"), "notify_on",
                       "\"still failing\" is not one of any, building, passed, failed, broken, "
                       "fixed, still_failing, cancelled, failing, agent");
    /* Empty entries and surrounding blanks are harmless. */
    expect_valid(PAIRS("webhook_url", "https://h", "notify_on", " failed ,, broken ,"));
}

/* Quoted user text is cut without splitting a UTF-8 sequence: jansson
 * refuses a message that is not valid UTF-8, and a dropped message would
 * let the value pass. */
Test(gocd_settings, quoted_text_stays_valid_utf8)
{
    /* "PATCH" then eight 2-byte characters: byte 20 falls inside the
     * eighth, so seven are quoted. */
    expect_one_message(PAIRS("webhook_url", "https://h", "webhook_method",
                             "PATCH"
                             "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"),
                       "webhook_method",
                       "Method must be one of GET, POST, PUT, DELETE; got \"PATCH"
                       "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                       "\"");
    /* "xy" then fourteen 3-byte characters: the cut at 40 bytes keeps twelve. */
    expect_one_message(
        PAIRS(
            "webhook_url", "https://h", "notify_on",
            "xy"
            "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
            "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"),
        "notify_on",
        "\"xy"
        "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2"
        "\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
        "\" is not one of any, building, passed, failed, broken, "
        "fixed, still_failing, cancelled, failing, agent");
    URL_IS("https://b\xc3\xbc"
           "cher.example/",
           "the URL's host must be ASCII (write an international name in punycode)");
}

Test(gocd_settings, value_length_bound)
{
    size_t n = HR_MAX_SETTING_BYTES + 1;
    char *big = malloc(n + 1), msg[128];
    cr_assert_not_null(big);
    memset(big, 'x', n);
    big[n] = '\0';
    snprintf(msg, sizeof(msg), "Value must be at most %u bytes; got %zu", HR_MAX_SETTING_BYTES, n);
    expect_one_message(PAIRS("webhook_url", "https://h", "webhook_body", big), "webhook_body", msg);
    big[n - 1] = '\0';
    expect_valid(PAIRS("webhook_url", "https://h", "webhook_body", big));
    free(big);
}

Test(gocd_settings, several_keys_wrong_in_page_order)
{
    char *body = validate_body(
        PAIRS("notify_on", "never", "webhook_method", "PATCH", "webhook_url", "ftp://x"));
    json_t *out = validate_ok(body);
    cr_assert_eq(json_array_size(out), 3);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(out, 0), "key")),
                     "webhook_url");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(out, 1), "key")),
                     "webhook_method");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(out, 2), "key")),
                     "notify_on");
    json_decref(out);
    free(body);
}

/* ---- validate-configuration: body shape ------------------------------- */

Test(gocd_settings, validate_body_shape)
{
    EXPECT_SHAPE(validate_only, "[]", "body: expected an object; got an array");
    EXPECT_SHAPE(validate_only, "{}", "plugin-settings: expected an object; got nothing");
    EXPECT_SHAPE(validate_only, "{\"plugin-settings\":\"x\"}",
                 "plugin-settings: expected an object; got \"x\"");
    EXPECT_SHAPE(
        validate_only,
        "{\"plugin-settings\":{\"webhook_url\":\"https://h\",\"notify_on\":{\"value\":1}}}",
        "plugin-settings.webhook_url: expected an object like {\"value\": \"...\"}; got "
        "\"https://h\"",
        "plugin-settings.notify_on.value: expected a string or null; got 1");
    EXPECT_SHAPE(validate_only, "{\"plugin-settings\":{",
                 "invalid JSON at line 1, column 20: string or '}' expected near end of file");
    EXPECT_SHAPE(validate_only, "", "invalid JSON: the body is empty");
}

Test(gocd_settings, validate_null_and_missing_values_are_empty)
{
    const char *body = "{\"plugin-settings\":{\"webhook_url\":{\"value\":\"https://h\"},"
                       "\"webhook_headers\":{\"value\":null},\"webhook_body\":{},"
                       "\"colour\":{\"value\":42}}}";
    json_t *out = validate_ok(body);
    cr_expect_eq(json_array_size(out), 0);
    json_decref(out);
}

/* ---- plugin-settings-changed ------------------------------------------ */

Test(gocd_settings, changed_keeps_known_keys)
{
    const char *body = "{\"webhook_url\":\"https://h/x\",\"webhook_method\":\"PUT\","
                       "\"webhook_headers\":null,\"notify_on\":\"broken\",\"colour\":\"blue\","
                       "\"other\":42}";
    hr_errlist errs = HR_ERRLIST_INIT;
    json_t *out = NULL;
    cr_assert_eq(hr_gocd_settings_changed(body, strlen(body), &out, &errs), HR_OK);
    cr_expect_eq(hr_errlist_count(&errs), 0);
    json_t *want = json_pack("{s:s,s:s,s:s,s:s}", "webhook_url", "https://h/x", "webhook_method",
                             "PUT", "webhook_headers", "", "notify_on", "broken");
    char *got = json_dumps(out, JSON_SORT_KEYS);
    cr_expect(json_equal(out, want), "got %s", got);
    free(got);
    json_decref(want);
    json_decref(out);
}

Test(gocd_settings, changed_empty_object)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    json_t *out = NULL;
    cr_assert_eq(hr_gocd_settings_changed("{}", 2, &out, &errs), HR_OK);
    cr_expect_eq(json_object_size(out), 0);
    json_decref(out);
}

Test(gocd_settings, changed_body_shape)
{
    EXPECT_SHAPE(hr_gocd_settings_changed, "[\"webhook_url\"]",
                 "body: expected an object; got an array");
    EXPECT_SHAPE(hr_gocd_settings_changed,
                 "{\"webhook_url\":{\"value\":\"https://h\"},\"notify_on\":5}",
                 "webhook_url: expected a string or null; got an object",
                 "notify_on: expected a string or null; got 5");
    EXPECT_SHAPE(hr_gocd_settings_changed, "{\"webhook_url\":\"a\",\"webhook_url\":\"b\"}",
                 "invalid JSON at line 1, column 32: duplicate object key near '\"webhook_url\"'");
    EXPECT_SHAPE(hr_gocd_settings_changed, "{\"webhook_url\":\"\xc3\x28\"}",
                 "invalid JSON at line 1, column 16: unable to decode byte 0xc3 near '\"'");
}

Test(gocd_settings, changed_value_length_bound)
{
    size_t n = HR_MAX_SETTING_BYTES + 1;
    json_t *doc = json_object();
    char *big = malloc(n + 1), *body, msg[128];
    cr_assert_not_null(big);
    memset(big, 'y', n);
    big[n] = '\0';
    json_object_set_new(doc, "webhook_body", json_string(big));
    body = json_dumps(doc, JSON_COMPACT);
    snprintf(msg, sizeof(msg), "webhook_body: expected at most %u bytes; got %zu bytes",
             HR_MAX_SETTING_BYTES, n);
    EXPECT_SHAPE(hr_gocd_settings_changed, body, msg);
    free(body);
    json_decref(doc);
    free(big);
}

Test(gocd_settings, errs_may_be_null)
{
    json_t *out = NULL;
    cr_expect_eq(hr_gocd_settings_validate("[]", 2, &out, NULL, NULL), HR_EINVAL);
    cr_expect_eq(hr_gocd_settings_changed("[]", 2, &out, NULL), HR_EINVAL);
    cr_expect_null(out);
}
