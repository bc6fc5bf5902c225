/*
 * keys.h - order keys rendered where the event is accepted, on the HTTP
 * thread, instead of inside its transaction on the store writer.
 *
 * A target's order_by qualifies when every {{ }} part is a plain path
 * (".pipeline.name", ".stage.jobs[0].name"): it then reads only the
 * event's stored document, never what the writer decides (.id,
 * .transition) nor .raw, and needs no jq run. A plan is built once per
 * configuration and only read afterwards, so any thread may render with
 * it. Where the plain walk cannot tell what jq would print (a number
 * that is not a small integer, an object, a step into a string, a key
 * too long or holding a line break), the key is left to the writer's
 * router, which renders it with jq as before (route.c).
 */
#ifndef HR_ROUTE_KEYS_H
#define HR_ROUTE_KEYS_H

#include "route/config.h"

#include <jansson.h>
#include <stdbool.h>

typedef struct hr_key_plan hr_key_plan;

/* The keys of one event, per target of the plan's configuration. */
typedef struct hr_route_keys {
    const hr_config *config; /* the configuration they were rendered for */
    size_t n;                /* its targets */
    bool *decided;           /* per target: the key below is the one jq would render */
    char **keys;             /* per target, when decided: the key (NULL: none, unordered) */
} hr_route_keys;

/* The plan for c's targets (borrowed: c must outlive it); NULL when no
 * target has a plain order_by. */
hr_key_plan *hr_key_plan_new(const hr_config *c);
void hr_key_plan_free(hr_key_plan *p);

/* Renders every plain order_by of the plan over doc (the event's stored
 * document, without id and transition). Any thread. */
hr_route_keys *hr_key_plan_render(const hr_key_plan *p, const json_t *doc);
void hr_route_keys_free(hr_route_keys *k);

/* Whether k holds target ti's key of configuration c (then *key is it). */
bool hr_route_keys_get(const hr_route_keys *k, const hr_config *c, size_t ti, const char **key);

#endif
