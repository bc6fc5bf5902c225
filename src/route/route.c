#include "route/route.h"

#include "core/limits.h"
#include "core/log.h"
#include "core/mem.h"
#include "route/commits.h"
#include "route/jq.h"
#include "route/keys.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A key longer than this is refused (the delivery goes unordered), so a
 * runaway template cannot bloat every delivery row and the claim's index. */
#define MAX_ORDER_KEY_BYTES 1024

struct hr_router {
    const hr_config *config; /* borrowed */
    hr_jq **filters;         /* one per route; NULL when the route has no filter */
    bool *warned;            /* one per route: its filter's failure was logged */
    hr_template **orders;    /* one per target; NULL when the target has no order_by */
    bool *order_warned;      /* one per target: its order_by's failure was logged */
    /* One per target: the git host whose commits it reports, when it
     * reports one delivery per changed git material (commits.h); NULL
     * otherwise. */
    char **hosts;
    char **keys; /* the keys and subjects the last match made (owned) */
    size_t nkeys;
    const hr_route_keys *pre; /* the keys rendered before the match (ev->route_keys) */
};

/* The strings one match may keep: a key and a subject per delivery. */
#define MAX_MATCH_STRINGS (2 * HR_MAX_TARGETS_PER_EVENT)

int hr_router_new(const hr_config *c, hr_router **out, hr_error *err)
{
    hr_router *r = hr_calloc(1, sizeof(*r));
    int rc = HR_OK;

    r->config = c;
    r->filters = hr_calloc(c->nroutes, sizeof(*r->filters));
    r->warned = hr_calloc(c->nroutes, sizeof(*r->warned));
    r->orders = hr_calloc(c->ntargets + 1, sizeof(*r->orders));
    r->order_warned = hr_calloc(c->ntargets + 1, sizeof(*r->order_warned));
    r->hosts = hr_calloc(c->ntargets + 1, sizeof(*r->hosts));
    r->keys = hr_calloc(MAX_MATCH_STRINGS, sizeof(*r->keys));
    for (size_t i = 0; i < c->ntargets; i++) {
        hr_error e;
        if (hr_commit_type(c->targets[i].type) && c->targets[i].repository == NULL)
            r->hosts[i] = hr_commit_host(&c->targets[i]);
        if (c->targets[i].order_by == NULL)
            continue;
        rc = hr_template_compile(c->targets[i].order_by, &r->orders[i], &e);
        if (rc != HR_OK) {
            rc = hr_error_set(err, rc, "target %s: order_by: %s", c->targets[i].name, e.msg);
            goto out;
        }
    }
    for (size_t i = 0; i < c->nroutes; i++) {
        const hr_route *route = &c->routes[i];
        hr_error e;

        if (route->filter == NULL)
            continue;
        rc = hr_jq_compile(route->filter, &r->filters[i], &e);
        if (rc != HR_OK) {
            rc = hr_error_set(err, rc, "route %s: filter: %s", route->name, e.msg);
            goto out;
        }
    }
    *out = r;
    r = NULL;
out:
    hr_router_free(r);
    return rc;
}

void hr_router_free(hr_router *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->config->nroutes; i++)
        hr_jq_free(r->filters[i]);
    free(r->filters);
    free(r->warned);
    for (size_t i = 0; i < r->config->ntargets; i++) {
        hr_template_free(r->orders[i]);
        free(r->hosts[i]);
    }
    free(r->orders);
    free(r->hosts);
    free(r->order_warned);
    for (size_t i = 0; i < r->nkeys; i++)
        free(r->keys[i]);
    free(r->keys);
    free(r);
}

/* An empty list matches anything; otherwise value must equal an item.
 * A NULL value (the event has no such field) matches no item. */
static bool match_word(const hr_strlist *l, const char *value)
{
    if (l->n == 0)
        return true;
    if (value == NULL)
        return false;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i], value) == 0)
            return true;
    return false;
}

/* The same with fnmatch patterns. */
static bool match_glob(const hr_strlist *l, const char *value)
{
    if (l->n == 0)
        return true;
    if (value == NULL)
        return false;
    for (size_t i = 0; i < l->n; i++)
        if (fnmatch(l->items[i], value, 0) == 0)
            return true;
    return false;
}

/* "any" matches every event, agent events too; "failed" also matches the
 * failures that have a history (broken, still_failing). */
static bool match_transition(const hr_strlist *l, hr_transition t)
{
    const char *name = hr_transition_name(t);

    if (l->n == 0)
        return true;
    for (size_t i = 0; i < l->n; i++) {
        const char *item = l->items[i];
        if (strcmp(item, "any") == 0)
            return true;
        if (name != NULL && strcmp(item, name) == 0)
            return true;
        if (strcmp(item, "failed") == 0 &&
            (t == HR_TRANSITION_BROKEN || t == HR_TRANSITION_STILL_FAILING))
            return true;
    }
    return false;
}

/*
 * Whether the route's lists all match ev. Stage fields count as absent on
 * an agent or package event, so a route that names any stage condition
 * does not match those. A CI build (Jenkins, herald notify) is matched as
 * GoCD's stages are: pipeline by the job's full name, state by its phase,
 * result by its result in GoCD's words (Passed, Failed, Cancelled,
 * Unknown), transition by its job's history; it has no group or stage.
 */
static bool match_lists(const hr_route *route, const hr_event *ev)
{
    bool stage = !ev->has_agent && !ev->has_package && !ev->has_build;
    const char *pipeline = NULL, *state = NULL, *result = NULL;
    hr_transition tr = HR_TRANSITION_NONE;

    if (stage) {
        pipeline = ev->pipeline_name;
        state = ev->stage_state;
        result = ev->stage_result;
        tr = ev->transition;
    } else if (ev->has_build) {
        pipeline = ev->build.job_name;
        state = ev->build.phase;
        result = ev->build.result;
        tr = ev->transition;
    }
    /* herald's own events (a target's health) go only where a route asks
     * for them by source or kind: a catch-all route for CI events does
     * not start receiving them. */
    if (ev->health != NULL && route->sources.n == 0 && route->kinds.n == 0)
        return false;
    return match_word(&route->sources, ev->source) && match_word(&route->kinds, ev->kind) &&
           match_glob(&route->groups, stage ? ev->pipeline_group : NULL) &&
           match_glob(&route->pipelines, pipeline) &&
           match_glob(&route->stages, stage ? ev->stage_name : NULL) &&
           match_word(&route->states, state) && match_word(&route->results, result) &&
           match_transition(&route->transitions, tr);
}

/* Runs route i's filter, if any. A failure is no match, logged once per
 * route for the router's life so that a broken filter cannot flood the
 * log. */
static bool match_filter(hr_router *r, size_t i, const json_t *input)
{
    const hr_route *route = &r->config->routes[i];
    bool yes = false;
    hr_error e;

    if (r->filters[i] == NULL)
        return true;
    if (hr_jq_test(r->filters[i], input, &yes, &e) != HR_OK) {
        if (!r->warned[i]) {
            hr_log_warn("route", "route %s: filter failed: %s", route->name, e.msg);
            r->warned[i] = true;
        }
        return false;
    }
    return yes;
}

static bool already_added(const hr_match *out, size_t n, const char *target)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(out[i].target, target) == 0)
            return true;
    return false;
}

/* The event's order key for target t (index ti), kept in r->keys; NULL
 * when t is unordered, or its key is empty, too long or fails (a failure
 * is logged once per target for the router's life: the delivery is then
 * sent unordered rather than not at all). */
static const char *order_key(hr_router *r, size_t ti, const json_t *input)
{
    const hr_target *t = &r->config->targets[ti];
    const char *pre;
    char *key = NULL;
    hr_error e;
    int rc;

    if (r->orders[ti] == NULL)
        return NULL;
    /* Rendered where the event was accepted (keys.h): only bound here. */
    if (hr_route_keys_get(r->pre, r->config, ti, &pre))
        return pre;
    if (input == NULL || r->nkeys >= MAX_MATCH_STRINGS)
        return NULL;
    rc = hr_template_render(r->orders[ti], input, false, &key, &e);
    if (rc == HR_OK && strlen(key) > MAX_ORDER_KEY_BYTES)
        rc = hr_error_set(&e, HR_ETOOBIG, "the key is longer than %d bytes", MAX_ORDER_KEY_BYTES);
    if (rc != HR_OK) {
        if (!r->order_warned[ti])
            hr_log_warn("route",
                        "target %s: order_by failed (deliveries without a key are sent "
                        "unordered): %s",
                        t->name, e.msg);
        r->order_warned[ti] = true;
        free(key);
        return NULL;
    }
    if (key[0] == '\0') {
        free(key);
        return NULL;
    }
    r->keys[r->nkeys++] = key;
    return key;
}

/* Keeps s (new) for the match's life; NULL when there is no room. */
static const char *keep(hr_router *r, char *s)
{
    if (r->nkeys >= MAX_MATCH_STRINGS) {
        free(s);
        return NULL;
    }
    r->keys[r->nkeys++] = s;
    return s;
}

/*
 * Adds target ti's deliveries of the event at out (room for room, at
 * least one): one per changed git material on its host when it reports
 * commit statuses per material (commits.h), each with its subject and an
 * order key that ends with the subject, so that two materials' states
 * never supersede each other; else one for the event. Returns how many.
 */
static size_t add_target(hr_router *r, size_t ti, const char *route, const char *target,
                         const json_t *input, hr_match *out, size_t room)
{
    char subjects[HR_MAX_COMMITS_PER_TARGET][HR_COMMIT_SUBJECT_MAX];
    const hr_target *t = ti < r->config->ntargets ? &r->config->targets[ti] : NULL;
    const char *key = t != NULL ? order_key(r, ti, input) : NULL;
    size_t n = 0;

    if (t != NULL && r->hosts[ti] != NULL && input != NULL)
        n = hr_commit_subjects(t, input, r->hosts[ti], subjects,
                               room < HR_MAX_COMMITS_PER_TARGET ? room : HR_MAX_COMMITS_PER_TARGET);
    for (size_t i = 0; i < (n > 0 ? n : 1); i++) {
        out[i].route = route;
        out[i].target = target;
        out[i].key = key;
        out[i].subject = NULL;
        if (n > 0) {
            size_t len = (key != NULL ? strlen(key) : 0) + HR_COMMIT_SUBJECT_MAX + 2;
            char *k = key != NULL ? hr_malloc(len) : NULL;
            if (k != NULL)
                snprintf(k, len, "%s %s", key, subjects[i]);
            out[i].subject = keep(r, hr_strdup(subjects[i]));
            out[i].key = k != NULL ? keep(r, k) : NULL;
        }
        out[i].latest_wins = out[i].key != NULL && t->latest_wins;
    }
    return n > 0 ? n : 1;
}

/* The index of the target named name (the config has it: it was checked). */
static size_t target_index(const hr_config *c, const char *name)
{
    size_t i = 0;
    while (i < c->ntargets && strcmp(c->targets[i].name, name) != 0)
        i++;
    return i;
}

int hr_router_match(hr_router *r, const hr_event *ev, const json_t *input, hr_match *out,
                    size_t max, size_t *n)
{
    size_t got = 0;

    for (size_t i = 0; i < r->nkeys; i++)
        free(r->keys[i]);
    r->nkeys = 0;
    r->pre = ev->route_keys;

    for (size_t i = 0; i < r->config->nroutes && got < max; i++) {
        const hr_route *route = &r->config->routes[i];

        if (!match_lists(route, ev) || !match_filter(r, i, input))
            continue;
        for (size_t k = 0; k < route->targets.n && got < max; k++) {
            const char *target = route->targets.items[k];
            if (already_added(out, got, target))
                continue;
            got += add_target(r, target_index(r->config, target), route->name, target, input,
                              &out[got], max - got);
        }
    }
    *n = got;
    return HR_OK;
}

bool hr_router_needs_input_for(const hr_router *r, const hr_event *ev)
{
    const char *key;
    for (size_t i = 0; i < r->config->nroutes; i++)
        if (r->filters[i] != NULL)
            return true;
    for (size_t i = 0; i < r->config->ntargets; i++)
        if (r->hosts[i] != NULL ||
            (r->orders[i] != NULL && !hr_route_keys_get(ev->route_keys, r->config, i, &key)))
            return true;
    return false;
}

bool hr_router_needs_input(const hr_router *r)
{
    for (size_t i = 0; i < r->config->nroutes; i++)
        if (r->filters[i] != NULL)
            return true;
    for (size_t i = 0; i < r->config->ntargets; i++)
        if (r->orders[i] != NULL || r->hosts[i] != NULL)
            return true;
    return false;
}
