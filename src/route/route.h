/*
 * route.h - which targets an event goes to.
 *
 * An hr_router is built from a config and owns compiled jq filters, so it
 * belongs to one thread (the store writer). Matching is a pure function of
 * the event, its normalised JSON and the config.
 */
#ifndef HR_ROUTE_ROUTE_H
#define HR_ROUTE_ROUTE_H

#include "event/event.h"
#include "route/config.h"

typedef struct hr_router hr_router;

/* Builds a router over c (borrowed: c must outlive the router). Fails only
 * when a filter or an order_by template does not compile (HR_EINVAL with
 * jq's message). Each is compiled once here, not per event. */
int hr_router_new(const hr_config *c, hr_router **out, hr_error *err);
void hr_router_free(hr_router *r);

/* One delivery the router decided: (route, target), with route and
 * target borrowed from the config. key is the target's order key for this
 * event (its order_by rendered), owned by the router until its next
 * match (or by ev->route_keys, when the key was rendered where the event
 * was accepted: route/keys.h); NULL when the target has no order_by, or
 * the key came out empty or failed (logged once per target). latest_wins is the target's.
 * subject (owned like key) is what the delivery reports on when the
 * target reports the event on several things: a commit-status target
 * (GitHub, GitLab, Bitbucket) without a repository gets one delivery per
 * changed git material of a GoCD stage on its host, each with the subject
 * "owner/repo@sha" (route/commits.h) and a key that ends with " " and the
 * subject, so that the states of two materials never supersede each
 * other. NULL: the event as a whole. */
typedef struct hr_match {
    const char *route;
    const char *target;
    const char *key;
    int latest_wins;
    const char *subject;
} hr_match;

/*
 * Decides where ev goes. input is the event's JSON as jq programs see it
 * (jq.h). Fills out (room for max) with every (route, target) pair that
 * matches, each target once per event (the first route naming it wins;
 * a target reporting per git material once per changed material), in
 * config order; *n is how many. Matching stops once out is full. A filter
 * that fails at run time does not match, and its message is logged once
 * per route for the router's life. input may be NULL only when
 * hr_router_needs_input says so. Returns HR_OK.
 *
 * Conditions are tried before the filter: sources, kinds, states and
 * results exactly (case-sensitive); groups, pipelines and stages with
 * fnmatch(pattern, value, 0); transitions by name, "failed" also matching
 * broken and still_failing, "any" matching every event. An event without
 * the field (NULL) matches no non-empty list, and an agent event has no
 * stage fields: a route with a stage condition (other than transition
 * "any") never matches agent events.
 */
int hr_router_match(hr_router *r, const hr_event *ev, const json_t *input, hr_match *out,
                    size_t max, size_t *n);

/* Whether hr_router_match needs the event's JSON: some route has a filter,
 * some target an order_by or deliveries per git material. */
bool hr_router_needs_input(const hr_router *r);
/* The same for one event: not when every order_by key it needs came
 * rendered with it (ev->route_keys, route/keys.h) and nothing else reads
 * the JSON. */
bool hr_router_needs_input_for(const hr_router *r, const hr_event *ev);

#endif
