/*
 * Tests for src/core/json.c: hr_json_load's refusals and their messages,
 * the nesting bound, hr_errlist's bound, and the brief descriptions used
 * in validation messages.
 */
#include <criterion/criterion.h>

#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void expect_refused(const char *buf, size_t len, const char *prefix)
{
    json_t *sentinel = json_object(), *out = sentinel;
    hr_error err;
    hr_error_clear(&err);
    cr_expect_eq(hr_json_load(buf, len, &out, &err), HR_EINVAL, "accepted %.*s", (int)len, buf);
    cr_expect_eq(out, sentinel, "out changed on failure");
    cr_expect_eq(err.code, HR_EINVAL);
    cr_expect_eq(strncmp(err.msg, prefix, strlen(prefix)), 0,
                 "message \"%s\" does not start \"%s\"", err.msg, prefix);
    json_decref(sentinel);
}

#define REFUSED(text, prefix) expect_refused((text), sizeof(text) - 1, (prefix))

static json_t *load_ok(const char *buf, size_t len)
{
    json_t *out = NULL;
    hr_error err;
    int rc = hr_json_load(buf, len, &out, &err);
    cr_assert_eq(rc, HR_OK, "refused: %s", err.msg);
    cr_assert_not_null(out);
    return out;
}

#define LOAD_OK(text) load_ok((text), sizeof(text) - 1)

/* n nested arrays, "[[...]]"; new. */
static char *nested(size_t n, char open, char close)
{
    char *s = malloc(2 * n + 1);
    cr_assert_not_null(s);
    for (size_t i = 0; i < n; i++) {
        s[i] = open;
        s[2 * n - 1 - i] = close;
    }
    s[2 * n] = '\0';
    return s;
}

/* ---- hr_json_load ----------------------------------------------------- */

Test(json_load, accepts_documents)
{
    json_t *v = LOAD_OK("{\"a\":[1,2,{\"b\":null}]}");
    cr_expect(json_is_object(v));
    cr_expect_eq(json_array_size(json_object_get(v, "a")), 3);
    json_decref(v);
    /* Any value may be the root; callers check the type they want. */
    v = LOAD_OK("[]");
    cr_expect(json_is_array(v));
    json_decref(v);
    v = LOAD_OK("\"x\"");
    cr_expect_str_eq(json_string_value(v), "x");
    json_decref(v);
    v = LOAD_OK(" 42 \n");
    cr_expect_eq(json_integer_value(v), 42);
    json_decref(v);
    v = LOAD_OK("{\"s\":\"caf\xc3\xa9 \\u00e9 \\ud83d\\ude00\"}");
    cr_expect_str_eq(json_string_value(json_object_get(v, "s")),
                     "caf\xc3\xa9 \xc3\xa9 \xf0\x9f\x98\x80");
    json_decref(v);
}

Test(json_load, reads_only_len_bytes)
{
    const char text[] = "{\"a\":1}garbage";
    char *buf = malloc(7);
    cr_assert_not_null(buf);
    memcpy(buf, text, 7);
    json_t *v = load_ok(buf, 7);
    cr_expect_eq(json_integer_value(json_object_get(v, "a")), 1);
    json_decref(v);
    free(buf);
    REFUSED("{\"a\":1}garbage",
            "invalid JSON at line 1, column 14: end of file expected near 'garbage'");
}

Test(json_load, error_messages)
{
    expect_refused("", 0, "invalid JSON: the body is empty");
    expect_refused(NULL, 0, "invalid JSON: the body is empty");
    REFUSED("{", "invalid JSON at line 1, column 1: string or '}' expected near end of file");
    REFUSED("{\"pipeline\": }", "invalid JSON at line 1, column 14: unexpected token near '}'");
    REFUSED("{\"a\":1,}", "invalid JSON at line 1, column 8: string or '}' expected near '}'");
    REFUSED("{\n  \"a\": tru\n}", "invalid JSON at line 2, column ");
    REFUSED("{} x", "invalid JSON at line 1, column 4: end of file expected near 'x'");
    REFUSED("[1] [2]", "invalid JSON at line 1, column ");
}

Test(json_load, refuses_duplicate_keys)
{
    REFUSED("{\"pipeline\":{},\"pipeline\":{}}",
            "invalid JSON at line 1, column 25: duplicate object key near '\"pipeline\"'");
    REFUSED("{\"a\":{\"b\":1,\"b\":2}}", "invalid JSON at line 1, column ");
    /* The same key in different objects is fine. */
    json_t *v = LOAD_OK("{\"a\":{\"b\":1},\"c\":{\"b\":2}}");
    json_decref(v);
}

Test(json_load, refuses_invalid_utf8_and_nul)
{
    REFUSED("{\"a\":\"\xff\"}", "invalid JSON at line 1, column 6: unable to decode byte 0xff");
    REFUSED("{\"a\":\"\xc3\x28\"}", "invalid JSON at line 1, column 6: unable to decode byte 0xc3");
    REFUSED("{\"a\":\"\xed\xa0\x80\"}", "invalid JSON at line 1, column "); /* surrogate */
    REFUSED("{\"a\":\"\xc0\xaf\"}", "invalid JSON at line 1, column ");     /* overlong */
    REFUSED("{\"\xff\":1}", "invalid JSON at line 1, column ");
    REFUSED("{\"a\":\"\\u0000\"}",
            "invalid JSON at line 1, column 13: \\u0000 is not allowed without JSON_ALLOW_NUL");
    REFUSED("{\"a\\u0000b\":1}", "invalid JSON at line 1, column ");
    REFUSED("{\"a\":\"\x01\"}", "invalid JSON at line 1, column 6: control character 0x1");
    REFUSED("{\"a\":1}\0", "invalid JSON at line 1, column ");
}

Test(json_load, depth_limit_boundary)
{
    char *ok = nested(HR_MAX_JSON_DEPTH, '[', ']');
    char *deep = nested(HR_MAX_JSON_DEPTH + 1, '[', ']');
    json_t *v = load_ok(ok, strlen(ok));
    json_decref(v);
    expect_refused(deep, strlen(deep), "invalid JSON: nested deeper than 32 levels at byte 32");
    free(deep);
    free(ok);

    /* Objects count the same as arrays. */
    char buf[512];
    size_t n = 0;
    for (int i = 0; i < HR_MAX_JSON_DEPTH; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{\"k\":");
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "1");
    for (int i = 0; i < HR_MAX_JSON_DEPTH; i++)
        buf[n++] = '}';
    v = load_ok(buf, n);
    json_decref(v);
    n = 0;
    for (int i = 0; i <= HR_MAX_JSON_DEPTH; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{\"k\":");
    expect_refused(buf, n, "invalid JSON: nested deeper than 32 levels at byte 160");
}

Test(json_load, depth_counts_brackets_outside_strings_only)
{
    /* 40 brackets inside a string, and an escaped quote before them. */
    char buf[128];
    size_t n = (size_t)snprintf(buf, sizeof(buf), "[\"\\\"");
    for (int i = 0; i < 40; i++)
        buf[n++] = '[';
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\\\\\", \"{{{{\"]");
    json_t *v = load_ok(buf, n);
    cr_expect_eq(json_array_size(v), 2);
    json_decref(v);
    /* Siblings do not add up: depth is nesting, not count. */
    char *wide = malloc(4 * 100 + 3);
    cr_assert_not_null(wide);
    n = 0;
    wide[n++] = '[';
    for (int i = 0; i < 100; i++) {
        if (i)
            wide[n++] = ',';
        wide[n++] = '[';
        wide[n++] = ']';
    }
    wide[n++] = ']';
    v = load_ok(wide, n);
    cr_expect_eq(json_array_size(v), 100);
    json_decref(v);
    free(wide);
}

Test(json_load, err_may_be_null)
{
    json_t *out = NULL;
    cr_expect_eq(hr_json_load("{", 1, &out, NULL), HR_EINVAL);
    cr_expect_null(out);
}

/* ---- hr_errlist ------------------------------------------------------- */

Test(errlist, keeps_the_first_and_counts_the_rest)
{
    hr_errlist l = HR_ERRLIST_INIT;
    json_t *a;
    for (int i = 0; i < HR_MAX_ERRORS + 5; i++)
        hr_errlist_add(&l, "item[%d]: expected a string; got %d", i, i);
    cr_expect_eq(l.n, HR_MAX_ERRORS);
    cr_expect_eq(l.dropped, 5);
    cr_expect_eq(hr_errlist_count(&l), HR_MAX_ERRORS + 5);
    cr_expect_str_eq(l.msgs[0], "item[0]: expected a string; got 0");
    cr_expect_str_eq(l.msgs[HR_MAX_ERRORS - 1], "item[19]: expected a string; got 19");
    a = hr_errlist_to_json(&l);
    cr_assert_eq(json_array_size(a), HR_MAX_ERRORS + 1);
    cr_expect_str_eq(json_string_value(json_array_get(a, 0)), "item[0]: expected a string; got 0");
    cr_expect_str_eq(json_string_value(json_array_get(a, HR_MAX_ERRORS)),
                     "... and 5 more problems");
    json_decref(a);
    hr_errlist_clear(&l);
    cr_expect_eq(l.n, 0);
    cr_expect_eq(l.dropped, 0);
    cr_expect_eq(hr_errlist_count(&l), 0);
}

Test(errlist, exactly_full_has_no_tail)
{
    hr_errlist l = HR_ERRLIST_INIT;
    for (int i = 0; i < HR_MAX_ERRORS; i++)
        hr_errlist_add(&l, "m%d", i);
    json_t *a = hr_errlist_to_json(&l);
    cr_expect_eq(json_array_size(a), HR_MAX_ERRORS);
    cr_expect_str_eq(json_string_value(json_array_get(a, HR_MAX_ERRORS - 1)), "m19");
    json_decref(a);
    hr_errlist_add(&l, "one more");
    a = hr_errlist_to_json(&l);
    cr_expect_str_eq(json_string_value(json_array_get(a, HR_MAX_ERRORS)),
                     "... and 1 more problems");
    json_decref(a);
    hr_errlist_clear(&l);
}

Test(errlist, empty_and_reusable)
{
    hr_errlist l = HR_ERRLIST_INIT;
    json_t *a = hr_errlist_to_json(&l);
    cr_expect(json_is_array(a));
    cr_expect_eq(json_array_size(a), 0);
    json_decref(a);
    hr_errlist_clear(&l);
    hr_errlist_add(&l, "first");
    hr_errlist_clear(&l);
    hr_errlist_add(&l, "second");
    cr_expect_eq(l.n, 1);
    cr_expect_str_eq(l.msgs[0], "second");
    hr_errlist_clear(&l);
}

Test(errlist, long_messages_are_cut)
{
    hr_errlist l = HR_ERRLIST_INIT;
    char *big = malloc(5000);
    cr_assert_not_null(big);
    memset(big, 'a', 4999);
    big[4999] = '\0';
    hr_errlist_add(&l, "%s", big);
    cr_expect_lt(strlen(l.msgs[0]), 1024);
    cr_expect_gt(strlen(l.msgs[0]), 500);
    hr_errlist_clear(&l);
    free(big);
}

/* ---- hr_json_brief and hr_json_type_name ------------------------------ */

static void expect_brief(json_t *v, const char *want)
{
    char buf[64];
    cr_expect_eq(hr_json_brief(v, buf, sizeof(buf)), buf);
    cr_expect_str_eq(buf, want);
    json_decref(v);
}

Test(json_brief, values)
{
    expect_brief(json_string("Exploded"), "\"Exploded\"");
    expect_brief(json_string(""), "\"\"");
    expect_brief(json_string("say \"hi\"\n"), "\"say \\\"hi\\\"\\n\"");
    expect_brief(json_integer(42), "42");
    expect_brief(json_integer(-7), "-7");
    expect_brief(json_real(1.5), "1.5");
    expect_brief(json_true(), "true");
    expect_brief(json_false(), "false");
    expect_brief(json_null(), "null");
    expect_brief(json_object(), "an object");
    expect_brief(json_pack("[i]", 1), "an array");
    expect_brief(NULL, "nothing");
}

Test(json_brief, long_strings_are_cut_at_40_characters)
{
    char s[61], want[64];
    memset(s, 'x', 60);
    s[60] = '\0';
    snprintf(want, sizeof(want), "\"%.40s...\"", s);
    expect_brief(json_string(s), want);
    /* 40 characters exactly are shown whole. */
    s[40] = '\0';
    snprintf(want, sizeof(want), "\"%s\"", s);
    expect_brief(json_string(s), want);
}

Test(json_brief, small_buffer)
{
    char buf[6];
    json_t *v = json_string("Exploded");
    hr_json_brief(v, buf, sizeof(buf));
    cr_expect_str_eq(buf, "\"Expl");
    json_decref(v);
}

Test(json_brief, type_names)
{
    json_t *vals[] = {json_object(),  json_array(), json_string("s"), json_integer(1),
                      json_real(0.5), json_true(),  json_false(),     json_null()};
    const char *want[] = {"an object", "an array",  "a string",  "a number",
                          "a number",  "a boolean", "a boolean", "null"};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        cr_expect_str_eq(hr_json_type_name(vals[i]), want[i]);
        json_decref(vals[i]);
    }
    cr_expect_str_eq(hr_json_type_name(NULL), "nothing");
}

Test(json_init, allocators)
{
    /* After hr_json_init jansson allocates through hr_malloc; loading and
     * freeing must still balance. */
    hr_json_init();
    json_t *v = LOAD_OK("{\"a\":[1,\"b\"]}");
    json_decref(v);
}

Test(errlist, invalid_utf8_in_a_message_is_replaced_not_dropped)
{
    hr_errlist l = HR_ERRLIST_INIT;
    hr_errlist_add(&l, "a: got \"%s\"", "caf\xc3"); /* a character cut in two */
    hr_errlist_add(&l, "b: got \"%s\"", "\xff\xfe ok \xc3\xa9");
    json_t *a = hr_errlist_to_json(&l);
    cr_assert_eq(json_array_size(a), 2);
    cr_assert_str_eq(json_string_value(json_array_get(a, 0)), "a: got \"caf?\"");
    cr_assert_str_eq(json_string_value(json_array_get(a, 1)), "b: got \"?? ok \xc3\xa9\"");
    json_decref(a);
    hr_errlist_clear(&l);
}

Test(load_object, non_objects_and_bad_json_give_one_message)
{
    hr_errlist l = HR_ERRLIST_INIT;
    json_t *v = NULL;
    cr_assert_eq(hr_json_load_object("[1]", 3, &l, &v), HR_EINVAL);
    cr_assert_eq(hr_json_load_object("{", 1, &l, &v), HR_EINVAL);
    cr_assert_eq(hr_json_load_object("{\"a\":1}", 7, &l, &v), HR_OK);
    cr_assert_eq(l.n, 2);
    cr_assert_str_eq(l.msgs[0], "body: expected an object; got an array");
    cr_assert(strncmp(l.msgs[1], "invalid JSON at line 1", 22) == 0, "%s", l.msgs[1]);
    json_decref(v);
    hr_errlist_clear(&l);
}
