/*
 * test_route_route.c - which targets an event goes to: each condition alone
 * and combined, globs, transitions, agent events, jq filters, duplicate
 * targets, order and the output bound.
 *
 * Configs are built by hand (not parsed), so these tests depend only on
 * config.h's structs.
 */
#include "route/route.h"

#include "core/mem.h"
#include "event_test.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- configs by hand ---- */

static void strlist_free(hr_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
}

/* Adds every string up to the NULL. */
static void strlist_addv(hr_strlist *l, const char *const *items)
{
    for (; *items != NULL; items++) {
        l->items = hr_realloc(l->items, (l->n + 1) * sizeof(*l->items));
        l->items[l->n++] = hr_strdup(*items);
    }
}

#define LIST(l, ...) strlist_addv((l), (const char *const[]){__VA_ARGS__, NULL})

static void config_free_by_hand(hr_config *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nroutes; i++) {
        hr_route *r = &c->routes[i];
        free(r->name);
        free(r->filter);
        strlist_free(&r->sources);
        strlist_free(&r->kinds);
        strlist_free(&r->groups);
        strlist_free(&r->pipelines);
        strlist_free(&r->stages);
        strlist_free(&r->states);
        strlist_free(&r->results);
        strlist_free(&r->transitions);
        strlist_free(&r->targets);
    }
    free(c->routes);
    free(c);
}

/* Adds a route with no conditions. The pointer is valid until the next
 * route_add. */
static hr_route *route_add(hr_config *c, const char *name)
{
    hr_route *r;
    c->routes = hr_realloc(c->routes, (c->nroutes + 1) * sizeof(*c->routes));
    r = &c->routes[c->nroutes++];
    memset(r, 0, sizeof(*r));
    r->name = hr_strdup(name);
    return r;
}

/* ---- events ---- */

static hr_event *stage_event(const char *group, const char *pipeline, const char *stage,
                             const char *state, const char *result, hr_transition t)
{
    hr_event *ev = hr_event_new();
    ev->source = hr_strdup(HR_SOURCE_GOCD);
    ev->kind = hr_strdup(HR_KIND_STAGE_STATUS);
    ev->version = hr_strdup("4.0");
    ev->pipeline_group = hr_strdup(group);
    ev->pipeline_name = hr_strdup(pipeline);
    ev->pipeline_counter = hr_strdup("12");
    ev->stage_name = hr_strdup(stage);
    ev->stage_counter = hr_strdup("1");
    ev->stage_state = hr_strdup(state);
    ev->stage_result = hr_strdup(result);
    ev->transition = t;
    return ev;
}

/* A failed stage that passed last time. */
static hr_event *broken_event(void)
{
    return stage_event("first", "build-linux", "test", "Failed", "Failed", HR_TRANSITION_BROKEN);
}

static hr_event *agent_event(void)
{
    hr_event *ev = hr_event_new();
    ev->source = hr_strdup(HR_SOURCE_GOCD);
    ev->kind = hr_strdup(HR_KIND_AGENT_STATUS);
    ev->version = hr_strdup("4.0");
    ev->has_agent = true;
    ev->agent.uuid = hr_strdup("0f5c4f47-7d3f-4c5f-9c44-8d5b1f0c8a11");
    ev->agent.host_name = hr_strdup("agent-1");
    ev->agent.agent_state = hr_strdup("LostContact");
    ev->agent.build_state = hr_strdup("Unknown");
    ev->agent.config_state = hr_strdup("Enabled");
    return ev;
}

/* The event's input as jq programs see it (jq.h). */
static json_t *event_input(const hr_event *ev)
{
    json_t *in = event_served_json(ev);
    json_object_set_new(in, "raw", json_pack("{s:s}", "note", "raw body"));
    return in;
}

/* ---- matching ---- */

/* Matches ev against c with room for max and writes the decisions as
 * "route>target route>target" into buf. */
static const char *decide(const hr_config *c, const hr_event *ev, size_t max, char *buf,
                          size_t size)
{
    hr_router *r = NULL;
    hr_match out[16];
    hr_error err;
    json_t *input = event_input(ev);
    size_t n = 99, used = 0;

    cr_assert_leq(max, 16);
    cr_assert_eq(hr_router_new(c, &r, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(hr_router_match(r, ev, input, out, max, &n), HR_OK);
    cr_assert_leq(n, max);
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s>%s", i ? " " : "", out[i].route,
                                 out[i].target);
    hr_router_free(r);
    json_decref(input);
    return buf;
}

/* Expects ev to go exactly where want says ("" for nowhere). Frees ev. */
static void expect_decisions(const hr_config *c, hr_event *ev, const char *want, const char *why)
{
    char buf[512];
    cr_expect_str_eq(decide(c, ev, 16, buf, sizeof(buf)), want, "%s", why);
    hr_event_free(ev);
}

/* A config with one route "r" to target "t", for testing one condition. */
static hr_config *one_route(hr_route **route)
{
    hr_config *c = hr_calloc(1, sizeof(*c));
    *route = route_add(c, "r");
    LIST(&(*route)->targets, "t");
    return c;
}

Test(route, no_conditions_match_everything)
{
    hr_route *r;
    hr_config *c = one_route(&r);

    expect_decisions(c, broken_event(), "r>t", "stage event");
    expect_decisions(c, agent_event(), "r>t", "agent event");
    expect_decisions(c, stage_event(NULL, NULL, NULL, NULL, NULL, HR_TRANSITION_NONE), "r>t",
                     "event with no fields");
    config_free_by_hand(c);
}

/* herald's own target-health event, about target "x". */
static hr_event *health_event(void)
{
    hr_event *ev = hr_event_new();
    ev->source = hr_strdup(HR_SOURCE_HERALD);
    ev->kind = hr_strdup(HR_KIND_TARGET_HEALTH);
    ev->health = json_pack("{s:s,s:s}", "target", "x", "change", "circuit-opened");
    return ev;
}

Test(route, own_events_only_where_asked_for)
{
    hr_route *r;
    hr_config *c = one_route(&r);

    expect_decisions(c, health_event(), "", "a catch-all route does not get them");
    config_free_by_hand(c);
    c = one_route(&r);
    LIST(&r->kinds, HR_KIND_TARGET_HEALTH);
    expect_decisions(c, health_event(), "r>t", "by kind");
    config_free_by_hand(c);
    c = one_route(&r);
    LIST(&r->sources, HR_SOURCE_HERALD);
    expect_decisions(c, health_event(), "r>t", "by source");
    config_free_by_hand(c);
}

Test(route, sources)
{
    hr_route *r;
    hr_config *c = one_route(&r);

    LIST(&r->sources, "jenkins", "gocd");
    expect_decisions(c, broken_event(), "r>t", "gocd among sources");
    expect_decisions(c, agent_event(), "r>t", "agent event from gocd");
    config_free_by_hand(c);

    c = one_route(&r);
    LIST(&r->sources, "GoCD", "jenkins");
    expect_decisions(c, broken_event(), "", "sources are case-sensitive");
    config_free_by_hand(c);
}

Test(route, kinds)
{
    hr_route *r;
    hr_config *c = one_route(&r);

    LIST(&r->kinds, HR_KIND_STAGE_STATUS);
    expect_decisions(c, broken_event(), "r>t", "stage kind");
    expect_decisions(c, agent_event(), "", "agent event, stage kind");
    config_free_by_hand(c);

    c = one_route(&r);
    LIST(&r->kinds, HR_KIND_AGENT_STATUS);
    expect_decisions(c, broken_event(), "", "stage event, agent kind");
    expect_decisions(c, agent_event(), "r>t", "agent kind");
    config_free_by_hand(c);
}

/* One glob list (0: groups, 1: pipelines, 2: stages) against values. */
static void expect_glob(int which, const char *pattern, const char *value, bool want)
{
    hr_route *r;
    hr_config *c = one_route(&r);
    hr_strlist *l = which == 0 ? &r->groups : which == 1 ? &r->pipelines : &r->stages;
    hr_event *ev = stage_event(which == 0 ? value : "g", which == 1 ? value : "p",
                               which == 2 ? value : "s", "Passed", "Passed", HR_TRANSITION_PASSED);
    char why[256];

    LIST(l, "no-such-thing", pattern);
    snprintf(why, sizeof(why), "list %d: pattern %s, value %s", which, pattern,
             value ? value : "NULL");
    expect_decisions(c, ev, want ? "r>t" : "", why);
    config_free_by_hand(c);
}

Test(route, globs)
{
    static const struct {
        const char *pattern, *value;
        bool want;
    } cases[] = {
        {"build-linux", "build-linux", true},
        {"build-*", "build-linux", true},
        {"*", "anything", true},
        {"*-linux", "build-linux", true},
        {"build-?inux", "build-linux", true},
        {"build-[lm]inux", "build-linux", true},
        {"build-[!l]inux", "build-linux", false},
        {"deploy-*", "build-linux", false},
        {"Build-*", "build-linux", false},
        {"build", "build-linux", false},
        {"*", "", true},
        {"*", NULL, false},
        {"a/*", "a/b", true},
    };
    for (int which = 0; which < 3; which++)
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
            expect_glob(which, cases[i].pattern, cases[i].value, cases[i].want);
}

Test(route, states_and_results)
{
    hr_route *r;
    hr_config *c = one_route(&r);

    LIST(&r->states, "Building", "Failed");
    expect_decisions(c, broken_event(), "r>t", "state Failed");
    expect_decisions(c, stage_event("g", "p", "s", "Passed", "Passed", HR_TRANSITION_PASSED), "",
                     "state Passed");
    config_free_by_hand(c);

    c = one_route(&r);
    LIST(&r->states, "failed");
    expect_decisions(c, broken_event(), "", "states are case-sensitive");
    config_free_by_hand(c);

    c = one_route(&r);
    LIST(&r->states, "Fail*");
    expect_decisions(c, broken_event(), "", "states are exact, not globs");
    config_free_by_hand(c);

    c = one_route(&r);
    LIST(&r->results, "Failed");
    expect_decisions(c, broken_event(), "r>t", "result Failed");
    expect_decisions(c, stage_event("g", "p", "s", "Building", "Unknown", HR_TRANSITION_BUILDING),
                     "", "result Unknown");
    expect_decisions(c, stage_event("g", "p", "s", "Building", NULL, HR_TRANSITION_BUILDING), "",
                     "no result");
    config_free_by_hand(c);
}

Test(route, transitions)
{
    static const hr_transition all[] = {
        HR_TRANSITION_BUILDING,      HR_TRANSITION_FAILING,   HR_TRANSITION_PASSED,
        HR_TRANSITION_FIXED,         HR_TRANSITION_FAILED,    HR_TRANSITION_BROKEN,
        HR_TRANSITION_STILL_FAILING, HR_TRANSITION_CANCELLED, HR_TRANSITION_UNKNOWN,
        HR_TRANSITION_NONE,
    };
    static const char *const names[] = {"building", "failing", "passed",        "fixed",
                                        "failed",   "broken",  "still_failing", "cancelled",
                                        "unknown",  "any"};

    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
            hr_route *r;
            hr_config *c = one_route(&r);
            const char *tname = hr_transition_name(all[i]);
            bool want = strcmp(names[k], "any") == 0 ||
                        (tname != NULL && strcmp(names[k], tname) == 0) ||
                        (strcmp(names[k], "failed") == 0 &&
                         (all[i] == HR_TRANSITION_BROKEN || all[i] == HR_TRANSITION_STILL_FAILING));
            char why[128];

            LIST(&r->transitions, names[k]);
            snprintf(why, sizeof(why), "route on %s, event %s", names[k], tname ? tname : "(none)");
            expect_decisions(c, stage_event("g", "p", "s", "x", "y", all[i]), want ? "r>t" : "",
                             why);
            config_free_by_hand(c);
        }
    }
}

Test(route, failed_includes_broken_and_still_failing)
{
    hr_route *r;
    hr_config *c = one_route(&r);

    LIST(&r->transitions, "failed");
    expect_decisions(c, stage_event("g", "p", "s", "Failed", "Failed", HR_TRANSITION_FAILED), "r>t",
                     "failed");
    expect_decisions(c, broken_event(), "r>t", "broken");
    expect_decisions(c, stage_event("g", "p", "s", "Failed", "Failed", HR_TRANSITION_STILL_FAILING),
                     "r>t", "still_failing");
    expect_decisions(c, stage_event("g", "p", "s", "Failing", "Unknown", HR_TRANSITION_FAILING), "",
                     "failing is not failed");
    expect_decisions(c, stage_event("g", "p", "s", "Passed", "Passed", HR_TRANSITION_FIXED), "",
                     "fixed");
    config_free_by_hand(c);

    c = one_route(&r);
    LIST(&r->transitions, "broken");
    expect_decisions(c, stage_event("g", "p", "s", "Failed", "Failed", HR_TRANSITION_FAILED), "",
                     "broken does not include failed");
    config_free_by_hand(c);
}

Test(route, agent_events)
{
    hr_route *r;
    hr_config *c;

    /* Every stage-only condition keeps agent events out, even "*". */
    for (int which = 0; which < 6; which++) {
        c = one_route(&r);
        switch (which) {
        case 0:
            LIST(&r->groups, "*");
            break;
        case 1:
            LIST(&r->pipelines, "*");
            break;
        case 2:
            LIST(&r->stages, "*");
            break;
        case 3:
            LIST(&r->states, "Building", "Passed", "Failed");
            break;
        case 4:
            LIST(&r->results, "Passed", "Failed", "Unknown");
            break;
        case 5:
            LIST(&r->transitions, "building", "passed", "failed", "unknown");
            break;
        }
        expect_decisions(c, agent_event(), "", "stage condition on an agent event");
        config_free_by_hand(c);
    }

    c = one_route(&r);
    LIST(&r->transitions, "any");
    expect_decisions(c, agent_event(), "r>t", "any matches agent events");
    config_free_by_hand(c);

    c = one_route(&r);
    LIST(&r->transitions, "failed", "any");
    expect_decisions(c, agent_event(), "r>t", "any among others");
    config_free_by_hand(c);

    c = one_route(&r);
    LIST(&r->sources, "gocd");
    LIST(&r->kinds, HR_KIND_AGENT_STATUS);
    r->filter = hr_strdup(".agent.agent_state == \"LostContact\"");
    expect_decisions(c, agent_event(), "r>t", "source, kind and filter on an agent event");
    config_free_by_hand(c);

    /* Stage fields left on an agent event do not count. */
    c = one_route(&r);
    LIST(&r->pipelines, "p");
    {
        hr_event *ev = agent_event();
        ev->pipeline_name = hr_strdup("p");
        expect_decisions(c, ev, "", "stage field on an agent event");
    }
    config_free_by_hand(c);
}

/* A route with every condition set so that broken_event() matches; which
 * >= 0 spoils one condition. */
static hr_config *all_conditions(int which)
{
    hr_route *r;
    hr_config *c = one_route(&r);

    LIST(&r->sources, which == 0 ? "jenkins" : "gocd");
    LIST(&r->kinds, which == 1 ? HR_KIND_AGENT_STATUS : HR_KIND_STAGE_STATUS);
    LIST(&r->groups, which == 2 ? "second" : "fir*");
    LIST(&r->pipelines, which == 3 ? "deploy-*" : "build-*");
    LIST(&r->stages, which == 4 ? "package" : "test");
    LIST(&r->states, which == 5 ? "Passed" : "Failed");
    LIST(&r->results, which == 6 ? "Cancelled" : "Failed");
    LIST(&r->transitions, which == 7 ? "fixed" : "failed");
    r->filter = hr_strdup(which == 8 ? ".stage.counter == \"2\"" : ".pipeline.counter == \"12\"");
    return c;
}

Test(route, combined)
{
    hr_config *c = all_conditions(-1);
    expect_decisions(c, broken_event(), "r>t", "every condition holds");
    config_free_by_hand(c);

    for (int which = 0; which < 9; which++) {
        char why[64];
        snprintf(why, sizeof(why), "condition %d fails", which);
        c = all_conditions(which);
        expect_decisions(c, broken_event(), "", why);
        config_free_by_hand(c);
    }
}

Test(route, filters)
{
    hr_route *r;
    hr_config *c = one_route(&r);

    r->filter = hr_strdup(".pipeline.name | startswith(\"build-\")");
    expect_decisions(c, broken_event(), "r>t", "filter true");
    expect_decisions(c, stage_event("g", "deploy", "s", "Passed", "Passed", HR_TRANSITION_PASSED),
                     "", "filter false");
    config_free_by_hand(c);

    c = one_route(&r);
    r->filter = hr_strdup(".raw.note == \"raw body\" and .transition == \"broken\"");
    expect_decisions(c, broken_event(), "r>t", "filter reads raw");
    config_free_by_hand(c);

    c = one_route(&r);
    r->filter = hr_strdup("empty");
    expect_decisions(c, broken_event(), "", "no output is false");
    config_free_by_hand(c);

    c = one_route(&r);
    r->filter = hr_strdup(".stage.name");
    expect_decisions(c, broken_event(), "r>t", "a string is true");
    expect_decisions(c, agent_event(), "", "null is false");
    config_free_by_hand(c);
}

/* Standard error, captured in a temporary file. */
typedef struct capture {
    FILE *f;
    int saved;
} capture;

static void capture_start(capture *cap)
{
    fflush(stderr);
    cap->f = tmpfile();
    cr_assert_not_null(cap->f);
    cap->saved = dup(STDERR_FILENO);
    cr_assert_geq(dup2(fileno(cap->f), STDERR_FILENO), 0);
}

/* Stops capturing; returns what was written (new). */
static char *capture_end(capture *cap)
{
    char *text = hr_calloc(1, 65536);
    size_t n;

    fflush(stderr);
    dup2(cap->saved, STDERR_FILENO);
    close(cap->saved);
    rewind(cap->f);
    n = fread(text, 1, 65535, cap->f);
    text[n] = '\0';
    fclose(cap->f);
    return text;
}

static size_t count(const char *haystack, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(haystack, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

Test(route, filter_error_is_no_match_logged_once)
{
    hr_config *c = hr_calloc(1, sizeof(*c));
    hr_router *r = NULL;
    hr_match out[4];
    hr_error err;
    capture cap;
    hr_route *route;
    char *logged;
    size_t n;

    route = route_add(c, "bad");
    route->filter = hr_strdup(".pipeline.counter + 1 > 0");
    LIST(&route->targets, "t1");
    route = route_add(c, "boom");
    route->filter = hr_strdup("error(\"boom\")");
    LIST(&route->targets, "t2");
    route = route_add(c, "good");
    LIST(&route->targets, "t3");

    cr_assert_eq(hr_router_new(c, &r, &err), HR_OK, "%s", err.msg);
    capture_start(&cap);
    for (int i = 0; i < 5; i++) {
        hr_event *ev = broken_event();
        json_t *input = event_input(ev);
        n = 99;
        hr_router_match(r, ev, input, out, 4, &n);
        cr_expect_eq(n, 1);
        cr_expect_str_eq(out[0].route, "good");
        json_decref(input);
        hr_event_free(ev);
    }
    logged = capture_end(&cap);
    cr_expect_eq(count(logged, "filter failed"), 2, "logged:\n%s", logged);
    cr_expect_eq(count(logged, "[route] route bad: filter failed: jq: error: "), 1, "logged:\n%s",
                 logged);
    cr_expect_eq(count(logged, "cannot be added"), 1, "logged:\n%s", logged);
    cr_expect_eq(count(logged, "route boom: filter failed: jq: error: boom"), 1, "logged:\n%s",
                 logged);
    free(logged);
    hr_router_free(r);

    /* A new router logs again. */
    cr_assert_eq(hr_router_new(c, &r, &err), HR_OK, "%s", err.msg);
    capture_start(&cap);
    {
        hr_event *ev = broken_event();
        json_t *input = event_input(ev);
        hr_router_match(r, ev, input, out, 4, &n);
        json_decref(input);
        hr_event_free(ev);
    }
    logged = capture_end(&cap);
    cr_expect_eq(count(logged, "filter failed"), 2, "logged:\n%s", logged);
    free(logged);
    hr_router_free(r);
    config_free_by_hand(c);
}

Test(route, duplicate_targets_once)
{
    hr_config *c = hr_calloc(1, sizeof(*c));
    hr_route *r;

    r = route_add(c, "all");
    LIST(&r->targets, "slack", "email");
    r = route_add(c, "failures");
    LIST(&r->transitions, "failed");
    LIST(&r->targets, "pager", "slack");
    r = route_add(c, "again");
    LIST(&r->targets, "email", "pager", "audit", "audit");
    expect_decisions(c, broken_event(), "all>slack all>email failures>pager again>audit",
                     "each target once, the first route naming it wins");
    expect_decisions(c, agent_event(), "all>slack all>email again>pager again>audit",
                     "the failures route does not match agents");
    config_free_by_hand(c);
}

Test(route, order)
{
    hr_config *c = hr_calloc(1, sizeof(*c));
    hr_route *r;

    r = route_add(c, "z-first");
    LIST(&r->targets, "c", "a");
    r = route_add(c, "a-second");
    LIST(&r->kinds, HR_KIND_AGENT_STATUS);
    LIST(&r->targets, "d");
    r = route_add(c, "m-third");
    LIST(&r->targets, "b");
    expect_decisions(c, broken_event(), "z-first>c z-first>a m-third>b", "config order");
    config_free_by_hand(c);
}

Test(route, max_bound)
{
    hr_config *c = hr_calloc(1, sizeof(*c));
    hr_route *r;
    hr_event *ev = broken_event();
    char buf[256], *logged;
    capture cap;

    r = route_add(c, "one");
    LIST(&r->targets, "a", "b");
    r = route_add(c, "two");
    LIST(&r->targets, "b", "c");
    r = route_add(c, "three");
    r->filter = hr_strdup("error(\"ran\")");
    LIST(&r->targets, "d");
    /* Once out is full no later route is looked at: its filter would log. */
    capture_start(&cap);
    cr_expect_str_eq(decide(c, ev, 0, buf, sizeof(buf)), "");
    cr_expect_str_eq(decide(c, ev, 1, buf, sizeof(buf)), "one>a");
    cr_expect_str_eq(decide(c, ev, 2, buf, sizeof(buf)), "one>a one>b");
    cr_expect_str_eq(decide(c, ev, 3, buf, sizeof(buf)), "one>a one>b two>c");
    logged = capture_end(&cap);
    cr_expect_str_eq(logged, "");
    free(logged);
    capture_start(&cap);
    cr_expect_str_eq(decide(c, ev, 16, buf, sizeof(buf)), "one>a one>b two>c");
    logged = capture_end(&cap);
    cr_expect_eq(count(logged, "route three: filter failed: jq: error: ran"), 1, "%s", logged);
    free(logged);
    hr_event_free(ev);
    config_free_by_hand(c);
}

Test(route, no_routes_and_no_targets)
{
    hr_config *c = hr_calloc(1, sizeof(*c));
    hr_route *r;

    expect_decisions(c, broken_event(), "", "no routes");
    r = route_add(c, "empty");
    (void)r;
    expect_decisions(c, broken_event(), "", "a route with no targets");
    config_free_by_hand(c);
}

Test(route, filter_compile_error)
{
    hr_config *c = hr_calloc(1, sizeof(*c));
    hr_router *r = NULL;
    hr_route *route;
    hr_error err;

    route = route_add(c, "fine");
    route->filter = hr_strdup(".kind == \"stage-status\"");
    route = route_add(c, "broken-filter");
    route->filter = hr_strdup(".pipeline.name ==");
    cr_expect_eq(hr_router_new(c, &r, &err), HR_EINVAL);
    cr_expect_null(r);
    cr_expect_eq(strncmp(err.msg, "route broken-filter: filter: jq: error", 38), 0, "%s", err.msg);
    cr_expect_eq(hr_router_new(c, &r, NULL), HR_EINVAL);
    config_free_by_hand(c);
    hr_router_free(NULL);
}

static hr_event *build_event(const char *job, const char *phase, const char *result,
                             hr_transition t)
{
    hr_event *ev = hr_event_new();
    ev->source = hr_strdup("jenkins");
    ev->kind = hr_strdup(HR_KIND_BUILD_STATUS);
    ev->version = hr_strdup("job-status");
    ev->has_build = true;
    ev->build.job_name = hr_strdup(job);
    ev->build.number = 7;
    ev->build.phase = hr_strdup(phase);
    ev->build.result = result ? hr_strdup(result) : NULL;
    ev->transition = t;
    return ev;
}

Test(route, build_events_read_like_stages)
{
    hr_route *r;
    hr_config *c;

    /* pipeline is the job's full name; state its phase; result and
     * transition as for stages. */
    c = one_route(&r);
    LIST(&r->pipelines, "folder/*");
    LIST(&r->states, "completed");
    LIST(&r->results, "Failed");
    LIST(&r->transitions, "broken");
    expect_decisions(c, build_event("folder/app", "completed", "Failed", HR_TRANSITION_BROKEN),
                     "r>t", "every condition on a build");
    expect_decisions(c, build_event("other/app", "completed", "Failed", HR_TRANSITION_BROKEN), "",
                     "another job");
    expect_decisions(c, build_event("folder/app", "completed", "Passed", HR_TRANSITION_FIXED), "",
                     "another result");
    config_free_by_hand(c);

    /* "failed" reaches broken and still failing builds too. */
    c = one_route(&r);
    LIST(&r->transitions, "failed");
    expect_decisions(c, build_event("a", "completed", "Failed", HR_TRANSITION_STILL_FAILING), "r>t",
                     "still failing build");
    expect_decisions(c, build_event("a", "finalized", "Failed", HR_TRANSITION_NONE), "",
                     "a finalized build has no transition");
    config_free_by_hand(c);

    /* Builds have no group or stage. */
    c = one_route(&r);
    LIST(&r->stages, "*");
    expect_decisions(c, build_event("a", "completed", "Failed", HR_TRANSITION_FAILED), "",
                     "stage condition on a build");
    config_free_by_hand(c);
}

Test(route, package_events_have_no_stage_fields)
{
    hr_route *r;
    hr_config *c = one_route(&r);
    hr_event *ev = hr_event_new();

    ev->source = hr_strdup(HR_SOURCE_PACKAGE);
    ev->kind = hr_strdup(HR_KIND_PACKAGE_REVISION);
    ev->has_package = true;
    ev->package.repository = hr_strdup("rel");
    ev->package.package = hr_strdup("app");
    ev->package.revision = hr_strdup("1.0");
    ev->package.data = json_object();
    LIST(&r->transitions, "passed");
    expect_decisions(c, ev, "", "a transition condition on a package revision");
    config_free_by_hand(c);

    c = one_route(&r);
    LIST(&r->sources, "package");
    r->filter = hr_strdup(".package.name == \"app\"");
    ev = hr_event_new();
    ev->source = hr_strdup(HR_SOURCE_PACKAGE);
    ev->kind = hr_strdup(HR_KIND_PACKAGE_REVISION);
    ev->has_package = true;
    ev->package.repository = hr_strdup("rel");
    ev->package.package = hr_strdup("app");
    ev->package.revision = hr_strdup("1.0");
    ev->package.data = json_object();
    expect_decisions(c, ev, "r>t", "source and filter on a package revision");
    config_free_by_hand(c);
}

/* ---- order keys ---- */

/* Each matched target's order_by rendered for the event: a key, NULL for a
 * target without one, and NULL (unordered, not dropped) for a key that
 * renders empty or fails. latest_wins comes with a key only. */
Test(route, order_keys_are_rendered_per_target)
{
    hr_route *r;
    hr_config *c = one_route(&r);
    hr_router *router = NULL;
    hr_match out[8];
    hr_error err;
    size_t n = 0;
    static const char *const names[] = {"t", "u", "e", "f"};
    static const char *const orders[] = {"{{ .pipeline.name }}/{{ .stage.name }}", NULL,
                                         "{{ .nothing }}", "{{ error(\"no\") }}"};

    c->targets = hr_calloc(4, sizeof(*c->targets));
    c->ntargets = 4;
    for (size_t i = 0; i < 4; i++) {
        c->targets[i].name = (char *)names[i];
        c->targets[i].order_by = (char *)orders[i];
        c->targets[i].latest_wins = 1;
    }
    LIST(&r->targets, "u", "e", "f");
    hr_event *ev = broken_event();
    json_t *input = event_input(ev);
    cr_assert_eq(hr_router_new(c, &router, &err), HR_OK, "%s", err.msg);
    for (int round = 0; round < 2; round++) { /* keys of the last match are freed */
        cr_assert_eq(hr_router_match(router, ev, input, out, 8, &n), HR_OK);
        cr_assert_eq(n, 4);
        cr_expect_str_eq(out[0].target, "t");
        cr_expect_str_eq(out[0].key, "build-linux/test");
        cr_expect_eq(out[0].latest_wins, 1);
        cr_expect_null(out[1].key, "no order_by");
        cr_expect_eq(out[1].latest_wins, 0, "latest_wins goes with a key");
        cr_expect_null(out[2].key, "an empty key is no key");
        cr_expect_null(out[3].key, "a failing key is no key");
    }
    hr_router_free(router);
    json_decref(input);
    hr_event_free(ev);
    free(c->targets);
    config_free_by_hand(c);
}

Test(route, an_order_by_that_does_not_compile_is_refused)
{
    hr_route *r;
    hr_config *c = one_route(&r);
    hr_router *router = NULL;
    hr_error err;

    c->targets = hr_calloc(1, sizeof(*c->targets));
    c->ntargets = 1;
    c->targets[0].name = (char *)"t";
    c->targets[0].order_by = (char *)"{{ .a ";
    cr_expect_eq(hr_router_new(c, &router, &err), HR_EINVAL);
    cr_expect(strstr(err.msg, "target t: order_by:") != NULL, "%s", err.msg);
    free(c->targets);
    config_free_by_hand(c);
}
