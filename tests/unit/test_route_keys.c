/*
 * test_route_keys.c - order keys rendered on the accepting thread
 * (route/keys.h): which templates qualify, and that every key the plain
 * walk decides is the one jq renders (hr_template_render over the input
 * the router gives jq); what it cannot tell it leaves to the router.
 */
#include "route/keys.h"

#include "core/mem.h"
#include "route/jq.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

/* A configuration of one target per template (built by hand). */
static hr_config *config_of(const char *const *orders, size_t n)
{
    hr_config *c = hr_calloc(1, sizeof(*c));
    c->targets = hr_calloc(n, sizeof(*c->targets));
    c->ntargets = n;
    for (size_t i = 0; i < n; i++)
        c->targets[i].order_by = orders[i] != NULL ? hr_strdup(orders[i]) : NULL;
    return c;
}

static void config_drop(hr_config *c)
{
    for (size_t i = 0; i < c->ntargets; i++)
        free(c->targets[i].order_by);
    free(c->targets);
    free(c);
}

static const char *const DOC =
    "{\"source\":\"gocd\",\"pipeline\":{\"name\":\"app\",\"counter\":12,\"group\":null,"
    "\"flag\":true,\"ratio\":1.5,\"stage\":{\"name\":\"build\",\"jobs\":[{\"name\":\"j1\"},"
    "{\"name\":\"j2\"}]}},\"stage\":{\"name\":\"build\",\"result\":\"Passed\"},"
    "\"nl\":\"a\\nb\",\"big\":9007199254740993,\"s\":\"text\"}";

/* jq's key for template t over DOC as the router's input (id 7,
 * transition "fixed"), NULL when empty or failing; new. */
static char *jq_key(const char *t)
{
    hr_template *tpl;
    hr_error e;
    char *out = NULL;
    json_t *in = json_loads(DOC, 0, NULL);
    json_object_set_new(in, "id", json_integer(7));
    json_object_set_new(in, "transition", json_string("fixed"));
    cr_assert_eq(hr_template_compile(t, &tpl, &e), HR_OK, "%s: %s", t, e.msg);
    if (hr_template_render(tpl, in, false, &out, &e) != HR_OK || out[0] == '\0') {
        free(out);
        out = NULL;
    }
    hr_template_free(tpl);
    json_decref(in);
    return out;
}

Test(route_keys, plain_keys_are_what_jq_renders_and_the_rest_is_left_to_the_router)
{
    static const struct {
        const char *order_by;
        int decided;
    } cases[] = {
        {"{{ .pipeline.name }}/{{ .stage.name }}", 1},
        {"{{.pipeline.stage.jobs[1].name}}", 1},
        {"x-{{ .pipeline.counter }}-{{ .pipeline.flag }}", 1},
        {"{{ .pipeline.group }}", 1},              /* null: empty, unordered */
        {"{{ .missing.deeper }}", 1},              /* null all the way */
        {"{{ .pipeline.stage.jobs[9].name }}", 1}, /* past the end: null */
        {"literal only", 1},
        {"{{ .transition }}", 0}, /* the writer decides it */
        {"{{ .pipeline.name }}/{{ .transition }}", 0},
        {"{{ .id }}", 0},
        {"{{ .raw.x }}", 0},
        {"{{ .pipeline.ratio }}", 0}, /* jq's own number printing */
        {"{{ .big }}", 0},
        {"{{ .pipeline.stage }}", 0}, /* an object */
        {"{{ .nl }}", 0},             /* a line break: jq's template refuses it */
        {"{{ .s.x }}", 0},            /* a string indexed: jq's error */
        {"{{ .pipeline.name | ascii_upcase }}", 0},
        {"{{ .[\"pipeline\"].name }}", 0},
        {NULL, 0},
    };
    size_t n = sizeof(cases) / sizeof(cases[0]);
    const char *orders[sizeof(cases) / sizeof(cases[0])];
    for (size_t i = 0; i < n; i++)
        orders[i] = cases[i].order_by;
    hr_config *c = config_of(orders, n);
    hr_key_plan *p = hr_key_plan_new(c);
    json_t *doc = json_loads(DOC, 0, NULL);
    cr_assert_not_null(doc);
    cr_assert_not_null(p);
    hr_route_keys *k = hr_key_plan_render(p, doc);
    for (size_t i = 0; i < n; i++) {
        const char *key = NULL;
        bool got = hr_route_keys_get(k, c, i, &key);
        cr_assert_eq(got, cases[i].decided, "%s", cases[i].order_by ? cases[i].order_by : "none");
        if (got) {
            char *want = jq_key(cases[i].order_by);
            cr_assert_eq(key == NULL, want == NULL, "%s: %s / %s", cases[i].order_by,
                         key ? key : "NULL", want ? want : "NULL");
            if (want != NULL)
                cr_assert_str_eq(key, want, "%s", cases[i].order_by);
            free(want);
        }
    }
    /* Keys of another configuration are never taken. */
    hr_config *other = config_of(orders, n);
    const char *key;
    cr_assert(!hr_route_keys_get(k, other, 0, &key));
    cr_assert(!hr_route_keys_get(NULL, c, 0, &key));
    hr_route_keys_free(k);
    json_decref(doc);
    hr_key_plan_free(p);
    config_drop(other);
    config_drop(c);
}

Test(route_keys, no_plan_without_a_plain_order_by)
{
    const char *orders[] = {NULL, "{{ .transition }}", "{{ .a | tostring }}"};
    hr_config *c = config_of(orders, 3);
    cr_assert_null(hr_key_plan_new(c));
    config_drop(c);
}
