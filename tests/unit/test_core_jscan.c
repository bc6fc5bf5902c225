/*
 * Tests for src/core/jscan.c: what the single-pass reader accepts and
 * refuses (the same as hr_json_load, with byte offsets), the token links,
 * key lookups, unescaping, integers and the jansson tree built from tokens.
 */
#include <criterion/criterion.h>

#include "core/jscan.h"
#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void refused(const char *buf, size_t len, const char *msg)
{
    hr_jscan js;
    hr_error err;
    json_t *j = NULL;

    hr_error_clear(&err);
    cr_expect_eq(hr_jscan_parse(&js, buf, len, NULL, 0, &err), HR_EINVAL, "accepted %.*s", (int)len,
                 buf);
    cr_expect_str_eq(err.msg, msg);
    /* jansson refuses it too. */
    cr_expect_eq(hr_json_load(buf, len, &j, &err), HR_EINVAL, "jansson accepted %.*s", (int)len,
                 buf);
}

#define REFUSED(text, msg) refused((text), sizeof(text) - 1, (msg))

static void parse_ok(hr_jscan *js, const char *buf, size_t len)
{
    hr_error err;
    int rc = hr_jscan_parse(js, buf, len, NULL, 0, &err);
    cr_assert_eq(rc, HR_OK, "refused %.*s: %s", (int)len, buf, err.msg);
}

#define PARSE_OK(js, text) parse_ok((js), (text), sizeof(text) - 1)

Test(jscan, refuses_what_jansson_refuses)
{
    REFUSED("", "invalid JSON: the body is empty");
    REFUSED("  ", "invalid JSON at byte 2: the document ends where a value should be");
    REFUSED("{\"a\":1,}", "invalid JSON at byte 7: expected a string as an object key");
    REFUSED("[1,]", "invalid JSON at byte 3: an unexpected byte where a value should be");
    REFUSED("{\"a\" 1}", "invalid JSON at byte 5: expected ':' after an object key");
    REFUSED("[1 2]", "invalid JSON at byte 3: expected ',' or the container's end");
    REFUSED("{} x", "invalid JSON at byte 3: bytes after the document");
    REFUSED("[01]", "invalid JSON at byte 2: expected ',' or the container's end");
    REFUSED("[-]", "invalid JSON at byte 2: a number without digits");
    REFUSED("[1.]", "invalid JSON at byte 3: a number without digits after its point");
    REFUSED("[1e+]", "invalid JSON at byte 4: a number without digits in its exponent");
    REFUSED("[.5]", "invalid JSON at byte 1: an unexpected byte where a value should be");
    REFUSED("[+1]", "invalid JSON at byte 1: an unexpected byte where a value should be");
    REFUSED("[NaN]", "invalid JSON at byte 1: an unexpected byte where a value should be");
    REFUSED("[tru]", "invalid JSON at byte 1: an unexpected byte where a value should be");
    REFUSED("9223372036854775808",
            "invalid JSON at byte 0: an integer that does not fit in 64 bits");
    REFUSED("-9223372036854775809",
            "invalid JSON at byte 0: an integer that does not fit in 64 bits");
    REFUSED("[1e400]", "invalid JSON at byte 1: a real number too large for a double");
    REFUSED("\"abc", "invalid JSON at byte 4: a string is not closed");
    REFUSED("\"a\tb\"", "invalid JSON at byte 2: a control byte in a string");
    REFUSED("\"a\\qb\"", "invalid JSON at byte 2: an invalid escape or \\u code point");
    REFUSED("\"\\u00\"", "invalid JSON at byte 1: an invalid escape or \\u code point");
    REFUSED("\"\\u0000\"", "invalid JSON at byte 1: an invalid escape or \\u code point");
    REFUSED("\"\\ud800\"", "invalid JSON at byte 1: an invalid escape or \\u code point");
    REFUSED("\"\\udc00\"", "invalid JSON at byte 1: an invalid escape or \\u code point");
    REFUSED("\"\\ud800\\u0041\"", "invalid JSON at byte 1: an invalid escape or \\u code point");
    REFUSED("\"\xff\"", "invalid JSON at byte 1: bytes that are not UTF-8");
    REFUSED("\"\xc0\xaf\"", "invalid JSON at byte 1: bytes that are not UTF-8");
    REFUSED("\"\xed\xa0\x80\"", "invalid JSON at byte 1: bytes that are not UTF-8");
    REFUSED("\"a\0b\"", "invalid JSON at byte 2: a control byte in a string");
    REFUSED("\xef\xbb\xbf{}", "invalid JSON at byte 0: an unexpected byte where a value should be");
    REFUSED("{\"a\":1,\"b\":2,\"a\":3}", "invalid JSON at byte 13: a duplicate object key");
    REFUSED("{\"a\":1,\"\\u0061\":2}", "invalid JSON at byte 7: a duplicate object key");
}

Test(jscan, duplicates_in_a_large_object)
{
    char buf[4096], msg[80];
    size_t n = 0;
    hr_jscan js;

    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"key%d\":%d", i ? "," : "", i, i);
    parse_ok(&js, buf, n + (size_t)snprintf(buf + n, sizeof(buf) - n, "}"));
    cr_expect_eq(js.tok[0].n, 100);
    hr_jscan_free(&js);
    snprintf(buf + n, sizeof(buf) - n, ",\"key\\u00357\":0}");
    snprintf(msg, sizeof(msg), "invalid JSON at byte %zu: a duplicate object key", n + 1);
    refused(buf, strlen(buf), msg);
}

Test(jscan, depth_is_bounded)
{
    char buf[80];
    hr_jscan js;

    memset(buf, '[', 32);
    memset(buf + 32, ']', 32);
    parse_ok(&js, buf, 64);
    hr_jscan_free(&js);
    memset(buf, '[', 33);
    memset(buf + 33, ']', 33);
    refused(buf, 66, "invalid JSON: nested deeper than 32 levels at byte 32");
}

Test(jscan, tokens_and_lookups)
{
    static const char doc[] = " {\"a\": [1, {\"b\": null}, \"x\"], \"c\": {}, \"d\": true} ";
    hr_jscan js;
    uint32_t a, c, d, k;

    PARSE_OK(&js, doc);
    cr_expect_eq(js.ntok, 12);
    cr_expect_eq(hr_jscan_type(&js, 0), HR_JS_OBJECT);
    cr_expect_eq(js.tok[0].n, 3);
    cr_expect_eq(js.tok[0].next, 12);
    cr_expect_eq(js.tok[0].off, 1);
    cr_expect_eq(js.tok[0].len, sizeof(doc) - 3);
    a = hr_jscan_get(&js, 0, "a");
    cr_expect_eq(a, 2);
    cr_expect_eq(hr_jscan_type(&js, a), HR_JS_ARRAY);
    cr_expect_eq(js.tok[a].n, 3);
    k = hr_jscan_first(a);
    cr_expect_eq(hr_jscan_type(&js, k), HR_JS_NUMBER);
    k = hr_jscan_next(&js, k);
    cr_expect_eq(hr_jscan_type(&js, k), HR_JS_OBJECT);
    cr_expect_eq(hr_jscan_type(&js, hr_jscan_get(&js, k, "b")), HR_JS_NULL);
    k = hr_jscan_next(&js, k);
    cr_expect(hr_jscan_streq(&js, k, "x", 1));
    c = hr_jscan_get(&js, 0, "c");
    cr_expect_eq(hr_jscan_type(&js, c), HR_JS_OBJECT);
    cr_expect_eq(js.tok[c].n, 0);
    d = hr_jscan_get(&js, 0, "d");
    cr_expect_eq(hr_jscan_type(&js, d), HR_JS_TRUE);
    cr_expect_eq(hr_jscan_get(&js, 0, "b"), 0);
    cr_expect_eq(hr_jscan_get(&js, a, "a"), 0);
    hr_jscan_free(&js);
}

Test(jscan, grows_past_the_callers_array_once)
{
    static const char doc[] = "[1,2,3,4,5,6,7,8,9,10,[11,12]]";
    hr_jtok stack[4];
    hr_jscan js;
    hr_error err;

    cr_assert_eq(hr_jscan_parse(&js, doc, sizeof(doc) - 1, stack, 4, &err), HR_OK);
    cr_expect_neq(js.tok, stack);
    cr_expect_eq(js.ntok, 14);
    cr_expect_eq(js.cap, (sizeof(doc) - 1) / 2 + 2);
    cr_expect_eq(js.tok[11].n, 2);
    hr_jscan_free(&js);
    cr_assert_eq(hr_jscan_parse(&js, "[1]", 3, stack, 4, &err), HR_OK);
    cr_expect_eq(js.tok, stack);
    hr_jscan_free(&js);
}

Test(jscan, strings_unescape_when_copied)
{
    static const char doc[] =
        "{\"p\\u0069pe\": \"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\u20ac\\ud83d\\ude00\", \"e\": "
        "\"\"}";
    hr_jscan js;
    uint32_t v;
    char *s;

    PARSE_OK(&js, doc);
    v = hr_jscan_get(&js, 0, "pipe");
    cr_assert_neq(v, 0);
    s = hr_jscan_strdup(&js, v);
    cr_expect_str_eq(s, "a\"b\\c/d\b\f\n\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    cr_expect_eq(hr_jscan_strlen(&js, v), strlen(s));
    cr_expect(hr_jscan_streq(&js, v, s, strlen(s)));
    cr_expect_not(hr_jscan_streq(&js, v, s, strlen(s) - 1));
    free(s);
    v = hr_jscan_get(&js, 0, "e");
    s = hr_jscan_strdup(&js, v);
    cr_expect_str_eq(s, "");
    free(s);
    hr_jscan_free(&js);
}

Test(jscan, numbers)
{
    static const char doc[] = "[0, -0, 42, -9223372036854775808, 9223372036854775807, 1.5, 1e2, "
                              "-2E-3, 1e-400]";
    hr_jscan js;
    int64_t v;
    uint32_t k = 1;

    PARSE_OK(&js, doc);
    int64_t want[] = {0, 0, 42, INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < 5; i++, k = hr_jscan_next(&js, k)) {
        cr_expect_eq(hr_jscan_int64(&js, k, &v), HR_OK);
        cr_expect_eq(v, want[i]);
    }
    for (size_t i = 0; i < 4; i++, k = hr_jscan_next(&js, k)) {
        cr_expect_eq(hr_jscan_type(&js, k), HR_JS_NUMBER);
        cr_expect_eq(hr_jscan_int64(&js, k, &v), HR_EINVAL);
    }
    hr_jscan_free(&js);
}

/* The tree from tokens equals jansson's, key order included. */
Test(jscan, to_json_matches_jansson)
{
    static const char doc[] = "{\"z\":1,\"a\":[1.5,-0,\"\\u00e9\",{\"q\":null,\"b\":false}],"
                              "\"m\":true,\"big\":1e300,\"s\":\"x\\ny\"}";
    hr_jscan js;
    hr_error err;
    json_t *want = NULL, *got;
    char *a, *b;

    PARSE_OK(&js, doc);
    cr_assert_eq(hr_json_load(doc, sizeof(doc) - 1, &want, &err), HR_OK);
    got = hr_jscan_to_json(&js, 0);
    cr_expect(json_equal(got, want));
    a = json_dumps(got, JSON_COMPACT);
    b = json_dumps(want, JSON_COMPACT);
    cr_expect_str_eq(a, b);
    free(a);
    free(b);
    json_decref(got);
    json_decref(want);
    hr_jscan_free(&js);
}

Test(jscan, scalars_at_the_root)
{
    hr_jscan js;
    PARSE_OK(&js, " \"only\"\n");
    cr_expect_eq(js.ntok, 1);
    cr_expect(hr_jscan_streq(&js, 0, "only", 4));
    cr_expect_eq(hr_jscan_get(&js, 0, "only"), 0);
    hr_jscan_free(&js);
    PARSE_OK(&js, "null");
    cr_expect_eq(hr_jscan_type(&js, 0), HR_JS_NULL);
    hr_jscan_free(&js);
}

/* hr_jscan_load answers as hr_json_load does: the same tree, the same
 * message for a refused body. */
static void same_load(const char *buf, size_t len)
{
    json_t *a = NULL, *b = NULL;
    hr_error ea, eb;
    int ra = hr_json_load(buf, len, &a, &ea), rb = hr_jscan_load(buf, len, &b, &eb);

    cr_expect_eq(ra, rb, "%.*s", (int)len, buf);
    if (ra == HR_OK) {
        char *da = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
        char *db = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
        cr_expect_str_eq(db, da);
        free(da);
        free(db);
    } else {
        cr_expect_str_eq(eb.msg, ea.msg);
    }
    json_decref(a);
    json_decref(b);
}

#define SAME_LOAD(text) same_load((text), sizeof(text) - 1)

Test(jscan, load_as_jansson)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    json_t *out = NULL;
    hr_error err;

    SAME_LOAD("{\"b\":[1,2.5,-0,1e2,\"\\u00e9\"],\"a\":{\"x\":null,\"y\":true}}");
    SAME_LOAD("");
    SAME_LOAD("{\"a\":1,}");
    SAME_LOAD("{\"a\":1,\"a\":2}");
    SAME_LOAD("[\"\xff\"]");
    SAME_LOAD("{} trailing");
    SAME_LOAD("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
    /* jansson skips the NUL; the reader refuses it, with its own message. */
    cr_expect_eq(hr_jscan_load("[1\0]", 4, &out, &err), HR_EINVAL);
    cr_expect_str_eq(err.msg, "invalid JSON at byte 2: expected ',' or the container's end");

    cr_expect_eq(hr_json_load_object("[1]", 3, &errs, &out), HR_EINVAL);
    cr_expect_eq(hr_json_load_object("{\"a\":", 5, &errs, &out), HR_EINVAL);
    cr_assert_eq(errs.n, 2);
    cr_expect_str_eq(errs.msgs[0], "body: expected an object; got an array");
    cr_expect_eq(strncmp(errs.msgs[1], "invalid JSON at line 1", 22), 0, "%s", errs.msgs[1]);
    hr_errlist_clear(&errs);
    cr_assert_eq(hr_json_load_object("{\"a\":\"b\"}", 9, &errs, &out), HR_OK);
    cr_expect_str_eq(json_string_value(json_object_get(out, "a")), "b");
    json_decref(out);
}

/* hr_jscan_parse_object refuses with hr_json_load_object's messages, and
 * names a token's type as hr_json_type_name does. */
Test(jscan, parse_object_as_load_object)
{
    static const char *const bodies[] = {"[1]", "{\"a\":", "", "\"s\"", "{\"a\":1,\"a\":2}", "7 x"};
    static const char *const names[] = {"an object", "an array",  "a string", "a number",
                                        "a boolean", "a boolean", "null"};
    hr_jtok stack[16];
    hr_jscan js;

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        hr_errlist want = HR_ERRLIST_INIT, got = HR_ERRLIST_INIT;
        json_t *out = NULL;
        size_t len = strlen(bodies[i]);
        cr_expect_eq(hr_json_load_object(bodies[i], len, &want, &out), HR_EINVAL);
        cr_expect_eq(hr_jscan_parse_object(&js, bodies[i], len, stack, 16, &got), HR_EINVAL);
        cr_assert_eq(got.n, 1, "%s", bodies[i]);
        cr_expect_str_eq(got.msgs[0], want.msgs[0]);
        hr_errlist_clear(&want);
        hr_errlist_clear(&got);
    }
    const char *all = "{\"o\":{},\"a\":[],\"s\":\"\",\"n\":1.5,\"t\":true,\"f\":false,\"z\":null}";
    cr_assert_eq(hr_jscan_parse_object(&js, all, strlen(all), stack, 16, NULL), HR_OK);
    cr_expect_str_eq(hr_jscan_type_name(&js, 0), "an object");
    /* Each member's value is the token after its key. */
    for (uint32_t i = 0; i < 7; i++)
        cr_expect_str_eq(hr_jscan_type_name(&js, 2 * i + 2), names[i]);
    hr_jscan_free(&js);
}
