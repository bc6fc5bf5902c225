/*
 * jq_test.h - helpers shared by the jq tests (test_route_jq.c and
 * test_route_jq_sandbox.c): parse test JSON, run a program and compare
 * its output or its error.
 */
#ifndef HR_TEST_JQ_TEST_H
#define HR_TEST_JQ_TEST_H

#include "route/jq.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    cr_assert_not_null(v, "bad test JSON %s: %s", text, jerr.text);
    return v;
}

/* Compiles program, runs it on input_text and compares the output with
 * want_text (JSON). */
static void expect_run(const char *program, const char *input_text, const char *want_text)
{
    json_t *input = parse(input_text), *want = parse(want_text), *got = NULL;
    hr_jq *q = NULL;
    hr_error err;

    cr_assert_eq(hr_jq_compile(program, &q, &err), HR_OK, "%s: %s", program, err.msg);
    cr_assert_eq(hr_jq_run(q, input, &got, &err), HR_OK, "%s: %s", program, err.msg);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_ENCODE_ANY);
        cr_assert_fail("%s: got %s, want %s", program, g, want_text);
    }
    json_decref(got);
    json_decref(want);
    json_decref(input);
    hr_jq_free(q);
}

/* Runs program on input_text and expects code with a message holding
 * want_msg. */
static void expect_run_error(const char *program, const char *input_text, int code,
                             const char *want_msg)
{
    json_t *input = parse(input_text), *got = NULL;
    hr_jq *q = NULL;
    hr_error err;

    cr_assert_eq(hr_jq_compile(program, &q, &err), HR_OK, "%s: %s", program, err.msg);
    cr_assert_eq(hr_jq_run(q, input, &got, &err), code, "%s: code %d (%s)", program, err.code,
                 err.msg);
    cr_assert_null(got);
    cr_expect_neq(strstr(err.msg, want_msg), NULL, "%s: message \"%s\" lacks \"%s\"", program,
                  err.msg, want_msg);
    cr_expect_null(strchr(err.msg, '\n'), "message on one line: %s", err.msg);
    json_decref(input);
    hr_jq_free(q);
}

static char *render(const char *text, const char *input_text, bool url_encode)
{
    json_t *input = parse(input_text);
    hr_template *t = NULL;
    hr_error err;
    char *out = NULL;

    cr_assert_eq(hr_template_compile(text, &t, &err), HR_OK, "%s: %s", text, err.msg);
    cr_assert_eq(hr_template_render(t, input, url_encode, &out, &err), HR_OK, "%s: %s", text,
                 err.msg);
    hr_template_free(t);
    json_decref(input);
    return out;
}

static void expect_render(const char *text, const char *input_text, bool url_encode,
                          const char *want)
{
    char *got = render(text, input_text, url_encode);
    cr_expect_str_eq(got, want, "%s", text);
    free(got);
}

static void expect_render_error(const char *text, const char *input_text, bool url_encode, int code,
                                const char *want_msg)
{
    json_t *input = parse(input_text);
    hr_template *t = NULL;
    hr_error err;
    char *out = NULL;

    cr_assert_eq(hr_template_compile(text, &t, &err), HR_OK, "%s: %s", text, err.msg);
    cr_expect_eq(hr_template_render(t, input, url_encode, &out, &err), code, "%s: %s", text,
                 err.msg);
    cr_expect_null(out);
    cr_expect_neq(strstr(err.msg, want_msg), NULL, "%s: message \"%s\" lacks \"%s\"", text, err.msg,
                  want_msg);
    hr_template_free(t);
    json_decref(input);
}

/* The JSON text {"s": "ccc..."} with n copies of c (new): big strings come
 * in through the input, since building them in jq costs its budget (and
 * far more of it under valgrind). */
static char *big_json(char c, size_t n)
{
    char *text = malloc(n + 10);

    cr_assert_not_null(text);
    memcpy(text, "{\"s\":\"", 6);
    memset(text + 6, c, n);
    memcpy(text + 6 + n, "\"}", 3);
    return text;
}

#endif
