/*
 * test_route_jq.c - compiled jq programs (errors, first output, bounds,
 * runtime errors, truthiness) and {{ jq }} templates (parsing, rendering,
 * URL encoding).
 */
#include "route/jq.h"

#include "core/mem.h"
#include "event/event.h"
#include "event_test.h"
#include "jq_test.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

/* A stage event's JSON as programs see it, with "raw" set. */
static json_t *event_input(void)
{
    hr_event *ev = hr_event_new();
    json_t *in;

    ev->source = hr_strdup(HR_SOURCE_GOCD);
    ev->kind = hr_strdup(HR_KIND_STAGE_STATUS);
    ev->pipeline_name = hr_strdup("build-linux");
    ev->pipeline_counter = hr_strdup("42");
    ev->pipeline_group = hr_strdup("first");
    ev->stage_name = hr_strdup("test");
    ev->stage_state = hr_strdup("Failed");
    ev->stage_result = hr_strdup("Failed");
    ev->transition = HR_TRANSITION_BROKEN;
    in = event_served_json(ev);
    json_object_set_new(in, "raw", parse("{\"pipeline\":{\"name\":\"build-linux\",\"n\":7}}"));
    hr_event_free(ev);
    return in;
}

Test(jq, compile_errors)
{
    static const char *const bad[] = {".a |||",
                                      "foo(1)",
                                      "$x",
                                      "{",
                                      ".[",
                                      "if . then 1",
                                      "include \"x\"; .",
                                      "import \"a\" as a; ."};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        hr_jq *q = NULL;
        hr_error err;
        cr_expect_eq(hr_jq_compile(bad[i], &q, &err), HR_EINVAL, "%s compiled", bad[i]);
        cr_expect_null(q);
        cr_expect_eq(strncmp(err.msg, "jq: error", 9), 0, "%s: %s", bad[i], err.msg);
        cr_expect_null(strchr(err.msg, '\n'), "message on one line: %s", err.msg);
        cr_expect_null(strstr(err.msg, "compile error"), "summary kept: %s", err.msg);
    }
}

Test(jq, compile_error_names_the_problem)
{
    hr_jq *q = NULL;
    hr_error err;

    cr_assert_eq(hr_jq_compile(".a | nosuchfn", &q, &err), HR_EINVAL);
    cr_expect_neq(strstr(err.msg, "nosuchfn/0 is not defined"), NULL, "%s", err.msg);
    cr_expect_neq(strstr(err.msg, "line 1"), NULL, "%s", err.msg);

    /* Modules would read files: the prelude leaves no place for them. */
    const char *modules[] = {"include \"x\"; .", "import \"x\" as x; .",
                             "import \"passwd\" as $p {search: \"/etc\"}; $p", "  module {a: 1}; .",
                             "# a comment\ninclude \"x\"; ."};
    for (size_t i = 0; i < sizeof(modules) / sizeof(modules[0]); i++) {
        cr_assert_eq(hr_jq_compile(modules[i], &q, &err), HR_EINVAL, "%s", modules[i]);
        cr_expect_str_eq(err.msg,
                         "jq: error: import, include and module are not available: a program "
                         "sees only its event");
    }
    /* Messages quote the program's line, not the prelude before it, and
     * count its lines. */
    cr_assert_eq(hr_jq_compile(".a |\n .b | ]", &q, &err), HR_EINVAL);
    cr_expect_null(strstr(err.msg, "def "), "%s", err.msg);
    cr_expect_neq(strstr(err.msg, "line 2"), NULL, "%s", err.msg);
    /* The program keeps its own shape after the prelude: definitions,
     * commas and pipes at the top, a comment at the end. */
    expect_run("def f: .a; f, 2 | . # the name", "{\"a\":1}", "1");

    cr_assert_eq(hr_jq_compile(NULL, &q, &err), HR_EINVAL);
    cr_expect_eq(hr_jq_compile(".x | nosuch", &q, NULL), HR_EINVAL);
}

Test(jq, outputs)
{
    expect_run(".a", "{\"a\":\"x\"}", "\"x\"");
    expect_run("{n: .a, list: [1, 2]}", "{\"a\":\"x\"}", "{\"n\":\"x\",\"list\":[1,2]}");
    expect_run(".a + 1", "{\"a\":41}", "42");
    expect_run(".a / 2", "{\"a\":3}", "1.5");
    expect_run(".missing", "{}", "null");
    expect_run("true, false", "{}", "true");
    expect_run(".", "[1,\"two\",null]", "[1,\"two\",null]");
    expect_run(".", "\"a string input\"", "\"a string input\"");
}

Test(jq, first_output_only)
{
    expect_run(".[]", "[3,2,1]", "3");
    expect_run("1, error(\"never reached\")", "{}", "1");
    expect_run("limit(3; repeat(1))", "{}", "1");
    expect_run("[limit(3; repeat(1))]", "{}", "[1,1,1]");
    expect_run("repeat(.)", "7", "7");
    expect_run("first(range(10; 1000000000))", "{}", "10");
}

Test(jq, numbers)
{
    json_t *input = parse("{}"), *got = NULL;
    hr_jq *q = NULL;
    hr_error err;

    expect_run("9007199254740992", "{}", "9007199254740992");
    /* Integral but past json_int_t: jansson would overflow. */
    cr_assert_eq(hr_jq_compile("12345678901234567890", &q, &err), HR_OK);
    cr_assert_eq(hr_jq_run(q, input, &got, &err), HR_OK, "%s", err.msg);
    cr_expect(json_is_real(got));
    cr_expect_float_eq(json_real_value(got), 12345678901234567890.0, 1e4);
    json_decref(got);
    hr_jq_free(q);

    expect_run("nan", "{}", "null");
    expect_run("1e1000 > 1e300", "{}", "true");
    json_decref(input);
}

Test(jq, no_output)
{
    expect_run_error("empty", "{}", HR_ENOTFOUND, "no output");
    expect_run_error(".[] | select(. > 5)", "[1,2]", HR_ENOTFOUND, "no output");
    expect_run_error("halt", "{}", HR_ENOTFOUND, "no output");
    /* jq 1.6: an error whose message is null is indistinguishable from
     * the end of the outputs. */
    expect_run_error("error(null)", "{}", HR_ENOTFOUND, "no output");
}

Test(jq, runtime_errors)
{
    expect_run_error("error(\"boom\")", "{}", HR_EINVAL, "jq: error: boom");
    expect_run_error("error({code: 7})", "{}", HR_EINVAL, "{\"code\":7} (not a string)");
    expect_run_error("error(\"two\\nlines\")", "{}", HR_EINVAL, "two lines");
    expect_run_error(".a.b", "{\"a\":5}", HR_EINVAL, "Cannot index number with");
    expect_run_error(".[0]", "{}", HR_EINVAL, "Cannot index object with number");
    expect_run_error("\"x\" | halt_error", "{}", HR_EINVAL, "halt_error: x");
    expect_run_error("{a: 1} | halt_error(3)", "{}", HR_EINVAL, "{\"a\":1}");
    expect_run_error("input", "{}", HR_EINVAL, "jq: error");
}

Test(jq, reusable_after_errors)
{
    json_t *good = parse("{\"a\":\"ok\"}"), *bad = parse("{\"a\":5}"), *got = NULL;
    hr_jq *q = NULL;
    hr_error err;

    cr_assert_eq(hr_jq_compile("if .a == 5 then error(\"five\") else .a end", &q, &err), HR_OK);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(hr_jq_run(q, bad, &got, &err), HR_EINVAL);
        cr_expect_neq(strstr(err.msg, "five"), NULL);
        cr_assert_eq(hr_jq_run(q, good, &got, &err), HR_OK, "%s", err.msg);
        cr_expect_str_eq(json_string_value(got), "ok");
        json_decref(got);
        got = NULL;
    }
    json_decref(good);
    json_decref(bad);
    hr_jq_free(q);
}

/* libjq 1.6 frees halt_error's message again at every later reset unless
 * jq.c works around it: run, rerun and free under valgrind. */
Test(jq, reusable_after_halt_error)
{
    json_t *halts = parse("{\"a\":\"stop\"}"), *good = parse("{\"a\":1}"), *got = NULL;
    hr_jq *q = NULL;
    hr_error err;

    cr_assert_eq(
        hr_jq_compile("if .a == \"stop\" then {why: .a} | halt_error(2) else .a end", &q, &err),
        HR_OK);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(hr_jq_run(q, halts, &got, &err), HR_EINVAL);
        cr_expect_neq(strstr(err.msg, "{\"why\":\"stop\"}"), NULL, "%s", err.msg);
        cr_assert_eq(hr_jq_run(q, halts, &got, &err), HR_EINVAL);
        cr_assert_eq(hr_jq_run(q, good, &got, &err), HR_OK, "%s", err.msg);
        cr_expect_eq(json_integer_value(got), 1);
        json_decref(got);
        got = NULL;
    }
    cr_assert_eq(hr_jq_run(q, halts, &got, &err), HR_EINVAL);
    hr_jq_free(q);
    json_decref(halts);
    json_decref(good);
}

Test(jq, event_and_raw)
{
    json_t *input = event_input(), *got = NULL;
    hr_jq *q = NULL;
    hr_error err;

    cr_assert_eq(
        hr_jq_compile("[.pipeline.name, .stage.result, .transition, .raw.pipeline.n]", &q, &err),
        HR_OK, "%s", err.msg);
    cr_assert_eq(hr_jq_run(q, input, &got, &err), HR_OK, "%s", err.msg);
    cr_expect_str_eq(json_string_value(json_array_get(got, 0)), "build-linux");
    cr_expect_str_eq(json_string_value(json_array_get(got, 1)), "Failed");
    cr_expect_str_eq(json_string_value(json_array_get(got, 2)), "broken");
    cr_expect_eq(json_integer_value(json_array_get(got, 3)), 7);
    json_decref(got);
    hr_jq_free(q);
    json_decref(input);
}

Test(jq, unicode_round_trip)
{
    const char *text = "{\"s\":\"caf\\u00e9 \\u65e5\\u672c \\ud83c\\udf89 \\u0000 \\\"q\\\"\"}";
    json_t *input = parse(text), *got = NULL;
    hr_jq *q = NULL;
    hr_error err;

    cr_assert_eq(hr_jq_compile(".s", &q, &err), HR_OK);
    cr_assert_eq(hr_jq_run(q, input, &got, &err), HR_OK, "%s", err.msg);
    cr_assert(json_is_string(got));
    cr_expect_eq(json_string_length(got), strlen("café 日本 🎉 ") + 1 + strlen(" \"q\""));
    cr_expect_eq(memcmp(json_string_value(got), "café 日本 🎉 \0 \"q\"", json_string_length(got)),
                 0);
    json_decref(got);
    hr_jq_free(q);

    expect_run(".", "{\"ключ\":[\"\\u2603\",\"\\ud834\\udd1e\"]}",
               "{\"ключ\":[\"☃\",\"\xf0\x9d\x84\x9e\"]}");
    expect_run(".s | length", text, "15");
    json_decref(input);
}

Test(jq, output_bound)
{
    char *text = big_json('x', HR_JQ_MAX_OUTPUT);
    json_t *input = parse(text), *got = NULL;
    hr_jq *q = NULL;
    hr_error err;

    /* A string of exactly the bound is 2 bytes over it once quoted. */
    free(text);
    cr_assert_eq(hr_jq_compile(".s", &q, &err), HR_OK, "%s", err.msg);
    cr_expect_eq(hr_jq_run(q, input, &got, &err), HR_ETOOBIG);
    cr_expect_null(got);
    cr_expect_str_eq(err.msg, "jq output is larger than 1048576 bytes");
    json_decref(input);
    text = big_json('x', HR_JQ_MAX_OUTPUT - 2);
    input = parse(text);
    free(text);
    cr_assert_eq(hr_jq_run(q, input, &got, &err), HR_OK, "%s", err.msg);
    cr_expect_eq(json_string_length(got), HR_JQ_MAX_OUTPUT - 2);
    json_decref(got);
    hr_jq_free(q);

    /* Only the first output counts: a huge second one is never built. */
    cr_assert_eq(hr_jq_compile("1, ([range(100000000)] | length)", &q, &err), HR_OK);
    cr_assert_eq(hr_jq_run(q, input, &got, &err), HR_OK, "%s", err.msg);
    cr_expect_eq(json_integer_value(got), 1);
    json_decref(got);
    hr_jq_free(q);
    json_decref(input);
}

Test(jq, too_deep_output)
{
    expect_run_error("reduce range(300) as $i (0; [.])", "{}", HR_EINVAL,
                     "jq output cannot be read as JSON");
}

Test(jq, truthiness)
{
    static const struct {
        const char *program;
        bool want;
    } cases[] = {
        {"true", true},
        {"false", false},
        {"null", false},
        {"0", true},
        {"\"\"", true},
        {"[]", true},
        {"{}", true},
        {"empty", false},
        {"false, true", false},
        {".kind == \"stage-status\"", true},
        {".transition == \"fixed\"", false},
        {".pipeline.group | test(\"^fir\")", true},
        {".nope", false},
        {"halt", false},
    };
    json_t *input = event_input();

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hr_jq *q = NULL;
        hr_error err;
        bool got = !cases[i].want;
        cr_assert_eq(hr_jq_compile(cases[i].program, &q, &err), HR_OK, "%s: %s", cases[i].program,
                     err.msg);
        cr_expect_eq(hr_jq_test(q, input, &got, &err), HR_OK, "%s: %s", cases[i].program, err.msg);
        cr_expect_eq(got, cases[i].want, "%s", cases[i].program);
        hr_jq_free(q);
    }
    json_decref(input);
}

Test(jq, test_runtime_error)
{
    json_t *input = event_input();
    hr_jq *q = NULL;
    hr_error err;
    bool got = true;

    cr_assert_eq(hr_jq_compile(".pipeline.counter + 1", &q, &err), HR_OK);
    cr_expect_eq(hr_jq_test(q, input, &got, &err), HR_EINVAL);
    cr_expect_neq(strstr(err.msg, "cannot be added"), NULL, "%s", err.msg);
    hr_jq_free(q);
    json_decref(input);
}

Test(jq, free_null)
{
    hr_jq_free(NULL);
    hr_template_free(NULL);
}

/* ---- templates ---- */

static void expect_template_error(const char *text, const char *want_msg)
{
    hr_template *t = NULL;
    hr_error err;

    cr_expect_eq(hr_template_compile(text, &t, &err), HR_EINVAL, "%s compiled", text);
    cr_expect_null(t);
    cr_expect_neq(strstr(err.msg, want_msg), NULL, "%s: message \"%s\" lacks \"%s\"", text, err.msg,
                  want_msg);
}

Test(template, plain_text)
{
    expect_render("https://example.com/hook?a=b", "{}", false, "https://example.com/hook?a=b");
    expect_render("https://example.com/hook?a=b", "{}", true, "https://example.com/hook?a=b");
    expect_render("", "{}", false, "");
    expect_render("a } b }} c { d", "{}", false, "a } b }} c { d");
}

Test(template, several_parts)
{
    const char *in =
        "{\"pipeline\":{\"name\":\"p1\",\"counter\":\"12\"},\"stage\":{\"name\":\"s\"}}";
    expect_render("{{ .pipeline.name }}", in, false, "p1");
    expect_render("https://ci/{{.pipeline.name}}/{{ .pipeline.counter }}/{{ .stage.name }}", in,
                  false, "https://ci/p1/12/s");
    expect_render("{{.pipeline.name}}{{.stage.name}}", in, false, "p1s");
    expect_render("[{{ .pipeline.name }}] ends", in, false, "[p1] ends");
    expect_render("{{ .pipeline.name | ascii_upcase }}-{{ .pipeline.counter | tonumber + 1 }}", in,
                  false, "P1-13");
}

Test(template, value_kinds)
{
    const char *in = "{\"s\":\"a \\\"b\\\"\",\"n\":3,\"f\":1.5,\"o\":{\"k\":[1,\"x\"]},"
                     "\"t\":true,\"z\":null}";
    expect_render("s={{ .s }}", in, false, "s=a \"b\"");
    expect_render("n={{ .n }} f={{ .f }}", in, false, "n=3 f=1.5");
    expect_render("o={{ .o }}", in, false, "o={\"k\":[1,\"x\"]}");
    expect_render("t={{ .t }}", in, false, "t=true");
    expect_render("z=[{{ .z }}] m=[{{ .missing }}] e=[{{ empty }}]", in, false, "z=[] m=[] e=[]");
    expect_render("first={{ .o.k[] }}", in, false, "first=1");
    expect_render("{{ \"caf\\u00e9\" }}", in, false, "café");
}

Test(template, url_encoding)
{
    const char *in = "{\"q\":\"a b/c?d\",\"u\":\"caf\\u00e9~x-y_z.0\",\"o\":{\"k\":1}}";
    expect_render("https://x/search?q={{ .q }}", in, true, "https://x/search?q=a%20b%2Fc%3Fd");
    expect_render("{{ .q }}", in, false, "a b/c?d");
    expect_render("{{ .u }}", in, true, "caf%C3%A9~x-y_z.0");
    expect_render("/{{ .o }}", in, true, "/%7B%22k%22%3A1%7D");
    expect_render("{{ \"%&=+#\" }}", in, true, "%25%26%3D%2B%23");
}

Test(template, compile_errors)
{
    expect_template_error("https://x/{{ .a", "the \"{{\" at byte 10 has no closing \"}}\"");
    expect_template_error("{{ .a }} and {{ .b", "byte 13 has no closing");
    expect_template_error("x{{ }}", "the \"{{ }}\" at byte 1 is empty");
    expect_template_error("ab{{ .a | }}", "template: the part at byte 2: jq: error");
    /* A part ends at the first "}}", even inside a jq literal. */
    expect_template_error("{{ {a:{b:1}} }}", "jq: error");
    expect_template_error(NULL, "no text");
}

Test(template, nested_braces_with_spaces)
{
    expect_render("{{ { a: { b: 1 } } }}", "{}", false, "{\"a\":{\"b\":1}}");
}

Test(template, render_errors)
{
    expect_render_error("x/{{ error(\"boom\") }}", "{}", false, HR_EINVAL,
                        "template: the part at byte 2: jq: error: boom");
    expect_render_error("{{ .a }}", "{\"a\":\"one\\r\\nX-Evil: 1\"}", false, HR_EINVAL,
                        "line break or NUL");
    expect_render_error("{{ .a }}", "{\"a\":\"nul\\u0000\"}", false, HR_EINVAL,
                        "line break or NUL");
    expect_render("{{ .a }}", "{\"a\":\"one\\r\\nX\\u0000\"}", true, "one%0D%0AX%00");
}

Test(template, output_bound)
{
    char *input = big_json('x', HR_JQ_MAX_OUTPUT), *out;

    /* One part at the bound, then one byte more. */
    out = render("{{ .s }}", input, false);
    cr_expect_eq(strlen(out), HR_JQ_MAX_OUTPUT);
    free(out);
    expect_render_error("!{{ .s }}", input, false, HR_ETOOBIG, "larger than 1048576 bytes");
    free(input);
    /* Encoding triples a byte. */
    input = big_json(' ', HR_JQ_MAX_OUTPUT / 3 + 1);
    expect_render_error("{{ .s }}", input, true, HR_ETOOBIG, "larger than 1048576 bytes");
    free(input);
}

Test(template, reusable)
{
    json_t *a = parse("{\"n\":\"a\"}"), *b = parse("{\"n\":\"b\"}");
    hr_template *t = NULL;
    hr_error err;
    char *out = NULL;

    cr_assert_eq(hr_template_compile("<{{ .n }}>", &t, &err), HR_OK);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(hr_template_render(t, i % 2 ? b : a, false, &out, &err), HR_OK);
        cr_expect_str_eq(out, i % 2 ? "<b>" : "<a>");
        free(out);
    }
    hr_template_free(t);
    json_decref(a);
    json_decref(b);
}
