/*
 * test_route_jq_sandbox.c - what a jq program may reach (no environment,
 * no ~/.jq, no input, no modules) and its budget (time, value sizes,
 * output size), through the public hr_jq and hr_template calls.
 */
#include "core/mem.h"
#include "core/timefmt.h"
#include "jq_test.h"
#include "route/jq.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the sandbox: nothing of the process ---- */

#define SECRET "s3cr3t-token-value"

/* Runs program on {} and expects its output (as compact JSON) to be want
 * and not to hold the secret. */
static void expect_sandboxed(const char *program, const char *want)
{
    json_t *input = parse("{}"), *got = NULL;
    hr_jq *q = NULL;
    hr_error err;
    char *text;

    cr_assert_eq(hr_jq_compile(program, &q, &err), HR_OK, "%s: %s", program, err.msg);
    cr_assert_eq(hr_jq_run(q, input, &got, &err), HR_OK, "%s: %s", program, err.msg);
    text = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
    cr_expect_null(strstr(text, SECRET), "%s: %s", program, text);
    cr_expect_str_eq(text, want, "%s", program);
    free(text);
    json_decref(got);
    json_decref(input);
    hr_jq_free(q);
}

Test(sandbox, no_environment)
{
    setenv("HERALD_API_TOKEN", SECRET, 1);
    expect_sandboxed("env", "{}");
    expect_sandboxed("$ENV", "{}");
    expect_sandboxed("env.HERALD_API_TOKEN", "null");
    expect_sandboxed("$ENV.HERALD_API_TOKEN", "null");
    expect_sandboxed("$ENV.PATH", "null");
    expect_sandboxed("[env, $ENV] | map(length)", "[0,0]");
    expect_sandboxed("def f: $ENV; def g: env; [f, g]", "[{},{}]");
    expect_sandboxed("[$__loc__]", "[{\"file\":\"<top-level>\",\"line\":1}]");
    expect_sandboxed("get_search_list", "[]");
    expect_sandboxed("[input_filename]", "[null]");
    expect_sandboxed("\"x\" | stderr", "\"x\"");
    /* The template form, as URLs and header values use it. */
    expect_render("a{{ env.HERALD_API_TOKEN }}b{{ $ENV | tojson }}c", "{}", false, "ab{}c");
}

Test(sandbox, no_input_and_no_modules)
{
    expect_run_error("input", "{}", HR_EINVAL, "input is not available");
    expect_run_error("[inputs]", "{}", HR_EINVAL, "input is not available");
    expect_run_error("_input", "{}", HR_EINVAL, "input is not available");
    expect_sandboxed("try input catch .", "\"input is not available: a program reads only its "
                                          "event\"");
    expect_run_error("\"passwd\" | modulemeta", "{}", HR_EINVAL, "module not found");
}

Test(sandbox, no_home_jq)
{
    char dir[] = "/tmp/herald-jq-home-XXXXXX", path[64];
    hr_jq *q = NULL;
    hr_error err;
    FILE *f;

    setenv("HERALD_API_TOKEN", SECRET, 1);
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/.jq", dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("def leak: env.HERALD_API_TOKEN;\n", f);
    fclose(f);
    setenv("HOME", dir, 1);
    /* libjq itself would bind ~/.jq's leak, which reads the real env. */
    cr_assert_eq(hr_jq_compile("leak", &q, &err), HR_OK, "%s", err.msg);
    hr_jq_free(q);
    q = NULL;
    hr_jq_process_init();
    cr_expect_null(getenv("HOME"));
    cr_expect_eq(hr_jq_compile("leak", &q, &err), HR_EINVAL);
    cr_expect_neq(strstr(err.msg, "leak/0 is not defined"), NULL, "%s", err.msg);
    unlink(path);
    rmdir(dir);
}

/* ---- the budget ---- */

/* Runs program on {} and expects it stopped by the budget, in time. */
static void expect_stopped(const char *program)
{
    int64_t t0 = hr_time_mono_us();
    expect_run_error(program, "{}", HR_ETOOBIG, "ran past its budget of 100 ms and was stopped");
    cr_expect_lt(hr_time_mono_us() - t0, 3 * 1000 * 1000, "%s took too long", program);
}

Test(budget, runaway_programs_are_stopped)
{
    expect_stopped("def f: f; f");
    expect_stopped("last(repeat(1))");
    expect_stopped("[range(1e12)] | length");
    expect_stopped("reduce range(1e12) as $i (0; . + 1)");
    expect_stopped("[limit(1e12; repeat(1))] | length");
    expect_stopped("\"abc\" | gsub(\"\"; \"x\")");
    /* halt_error with a bad code is an error, not a halt: it may not
     * switch the watchdog off. */
    expect_stopped("def f: try halt_error(\"x\") catch f; f");
    expect_stopped("def f: try input catch f; f");
}

Test(budget, filters_and_templates)
{
    json_t *in = parse("{}");
    hr_jq *q = NULL;
    hr_error err;
    bool yes = true;

    cr_assert_eq(hr_jq_compile("def f: f; f", &q, &err), HR_OK);
    /* Stopped, then reused: each run has its own budget. */
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(hr_jq_test(q, in, &yes, &err), HR_ETOOBIG);
        cr_expect_neq(strstr(err.msg, "budget"), NULL, "%s", err.msg);
    }
    hr_jq_free(q);
    json_decref(in);
    expect_render_error("x/{{ .a }}/{{ last(repeat(1)) }}", "{}", true, HR_ETOOBIG,
                        "the part at byte 11: jq: error: the program ran past its budget");
}

Test(budget, reusable_after_stop)
{
    json_t *in = parse("{\"n\":0}"), *spin = parse("{\"n\":1}"), *got = NULL;
    hr_jq *q = NULL;
    hr_error err;

    cr_assert_eq(hr_jq_compile("if .n == 1 then last(repeat(1)) else \"ok\" end", &q, &err), HR_OK);
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(hr_jq_run(q, spin, &got, &err), HR_ETOOBIG);
        cr_assert_eq(hr_jq_run(q, in, &got, &err), HR_OK, "%s", err.msg);
        cr_expect_str_eq(json_string_value(got), "ok");
        json_decref(got);
        got = NULL;
    }
    hr_jq_free(q);
    json_decref(in);
    json_decref(spin);
}

/* A program that halts itself at about the moment its budget ends: libjq
 * aborts when a halted program is halted again. Each run ends either way,
 * never with a crash. */
Test(budget, halt_near_the_deadline)
{
    json_t *in = parse("{}"), *got = NULL;
    hr_error err;

    for (int n = 0; n < 12; n++) {
        char program[160];
        hr_jq *q = NULL;
        int rc;
        snprintf(program, sizeof(program),
                 "reduce range(%d) as $i (0; . + 1) | if %d %% 2 == 0 then halt else "
                 "halt_error(1) end",
                 200000 + n * 80000, n);
        cr_assert_eq(hr_jq_compile(program, &q, &err), HR_OK, "%s", err.msg);
        rc = hr_jq_run(q, in, &got, &err);
        cr_expect(rc == HR_ETOOBIG || rc == HR_ENOTFOUND || rc == HR_EINVAL, "%s: %d", program, rc);
        hr_jq_free(q);
    }
    json_decref(in);
}

static void *run_runaway(void *arg)
{
    json_t *in = parse("{}"), *got = NULL;
    hr_jq *q = NULL;
    hr_error err;
    int *rc = arg;

    cr_assert_eq(hr_jq_compile("def f: f; f", &q, &err), HR_OK);
    *rc = hr_jq_run(q, in, &got, &err);
    hr_jq_free(q);
    json_decref(in);
    return NULL;
}

/* Threads run programs at once (the store writer and the delivery
 * thread): the one watchdog stops each. */
Test(budget, threads_at_once)
{
    pthread_t t[4];
    int rc[4] = {0};

    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, run_runaway, &rc[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_expect_eq(rc[i], HR_ETOOBIG);
    }
}

/* Runs program on {"s": a string of 1 MiB} and expects the value limit. */
static void expect_too_long(const char *program)
{
    char *text = big_json('x', HR_JQ_MAX_OUTPUT);
    json_t *input = parse(text), *got = NULL;
    hr_jq *q = NULL;
    hr_error err;

    free(text);
    cr_assert_eq(hr_jq_compile(program, &q, &err), HR_OK, "%s: %s", program, err.msg);
    cr_expect_eq(hr_jq_run(q, input, &got, &err), HR_EINVAL, "%s: %s", program, err.msg);
    cr_expect_neq(strstr(err.msg, "longer than 2097152 (herald's limit)"), NULL, "%s: %s", program,
                  err.msg);
    json_decref(input);
    hr_jq_free(q);
}

Test(budget, values_stay_bounded)
{
    expect_too_long("\"x\" * 1e10");
    expect_too_long("1e10 * \"x\"");
    expect_too_long("reduce range(40) as $i (.s; . + .) | length");
    expect_too_long("reduce range(40) as $i (.s; [., .] | add) | length");
    expect_too_long("reduce range(40) as $i (.s; [., .] | join(\"\")) | length");
    expect_run_error("[] | .[1e9] = 1 | length", "{}", HR_EINVAL, "index past 1048576");
    expect_run_error("[] | .[1e9] |= 1 | length", "{}", HR_EINVAL, "index past 1048576");
    expect_run_error("null | setpath([\"a\", 1e9]; 1)", "{}", HR_EINVAL, "index past 1048576");
    expect_run_error("fromstream([[1e9], 1], [[1e9]])", "{}", HR_EINVAL, "index past 1048576");
    /* Ordinary use is untouched. */
    expect_run("[.a + 1, \"a\" + \"b\", [1] + [2], {a: 1} + {b: 2}, 2 * 3, \"ab\" * 2, "
               "([1, 2] | add), ([\"a\", 1, null] | join(\"-\")), ([] | .[2] = 1), "
               "(.x.y |= 3), ([(1, 2) + (10, 20)])]",
               "{\"a\":1}",
               "[2,\"ab\",[1,2],{\"a\":1,\"b\":2},6,\"abab\",3,\"a-1-\",[null,null,1],"
               "{\"a\":1,\"x\":{\"y\":3}},[11,12,21,22]]");
}

Test(budget, outputs_that_repeat_a_part)
{
    /* 2^40 leaves in 40 steps: never written out. */
    expect_run_error("reduce range(40) as $i (1; [., .])", "{}", HR_ETOOBIG,
                     "jq output is larger than 1048576 bytes");
    expect_run_error("error(reduce range(40) as $i (1; [., .]))", "{}", HR_EINVAL, "jq: error");
    expect_render_error("{{ reduce range(40) as $i (1; [., .]) }}", "{}", false, HR_ETOOBIG,
                        "larger than 1048576 bytes");
}

static void *run_deep(void *arg)
{
    int *rc = arg;
    json_t *in = parse("{}"), *got = NULL;
    hr_jq *q = NULL;
    hr_error err;

    cr_assert_eq(hr_jq_compile("reduce range(1e9) as $i (null; [.]) | 1", &q, &err), HR_OK);
    *rc = hr_jq_run(q, in, &got, &err);
    hr_jq_free(q);
    json_decref(in);
    return NULL;
}

/* Nesting a value as deep as the budget allows, then freeing it
 * (recursively, in libjq), fits in a thread made after
 * hr_jq_process_init. */
Test(budget, deep_values_fit_the_stack)
{
    pthread_t t;
    int rc = 0;

    hr_jq_process_init();
    cr_assert_eq(pthread_create(&t, NULL, run_deep, &rc), 0);
    pthread_join(t, NULL);
    cr_expect_eq(rc, HR_ETOOBIG);
}

Test(budget, probes)
{
    hr_template *t = NULL;
    hr_jq *q = NULL;
    hr_error err;

    cr_assert_eq(hr_jq_compile("def f: f; f", &q, &err), HR_OK);
    cr_expect_eq(hr_jq_probe(q, &err), HR_ETOOBIG);
    cr_expect_neq(strstr(err.msg, "ran past its budget"), NULL, "%s", err.msg);
    hr_jq_free(q);
    /* An error on {} is no finding; nor is a program that is fine. */
    cr_assert_eq(hr_jq_compile(".pipeline.name | ascii_downcase", &q, &err), HR_OK);
    cr_expect_eq(hr_jq_probe(q, &err), HR_OK);
    hr_jq_free(q);
    /* A deep value in a probe does not overflow the caller's stack. */
    cr_assert_eq(hr_jq_compile("reduce range(1e9) as $i (null; [.]) | 1", &q, &err), HR_OK);
    cr_expect_eq(hr_jq_probe(q, &err), HR_ETOOBIG);
    hr_jq_free(q);
    cr_assert_eq(
        hr_template_compile("a{{ .x }}b{{ reduce range(40) as $i (1; [., .]) }}", &t, &err), HR_OK);
    cr_expect_eq(hr_template_probe(t, &err), HR_ETOOBIG);
    cr_expect_neq(strstr(err.msg, "larger than 1048576 bytes"), NULL, "%s", err.msg);
    hr_template_free(t);
}
