#include "event/event.h"

#include "core/mem.h"
#include "core/timefmt.h"

#include <stdlib.h>
#include <string.h>

hr_event *hr_event_new(void)
{
    hr_event *ev = hr_calloc(1, sizeof(*ev));
    ev->stage_created_at = HR_TIME_NONE;
    ev->stage_transition_at = HR_TIME_NONE;
    ev->agent.transition_at = HR_TIME_NONE;
    return ev;
}

static void cause_free(hr_cause *c)
{
    free(c->material_type);
    free(c->fingerprint);
    free(c->material);
    json_decref(c->config);
    for (size_t i = 0; i < c->nmods; i++) {
        free(c->mods[i].revision);
        json_decref(c->mods[i].data);
    }
    free(c->mods);
}

void hr_event_free(hr_event *ev)
{
    if (ev == NULL)
        return;
    free(ev->source);
    free(ev->kind);
    free(ev->version);
    free(ev->pipeline_name);
    free(ev->pipeline_counter);
    free(ev->pipeline_label);
    free(ev->pipeline_group);
    free(ev->stage_name);
    free(ev->stage_counter);
    free(ev->stage_state);
    free(ev->stage_result);
    free(ev->approval_type);
    free(ev->approved_by);
    free(ev->previous_stage_name);
    for (size_t i = 0; i < ev->njobs; i++) {
        free(ev->jobs[i].name);
        free(ev->jobs[i].state);
        free(ev->jobs[i].result);
        free(ev->jobs[i].agent_uuid);
    }
    free(ev->jobs);
    for (size_t i = 0; i < ev->ncauses; i++)
        cause_free(&ev->causes[i]);
    free(ev->causes);
    free(ev->agent.uuid);
    free(ev->agent.host_name);
    free(ev->agent.ip_address);
    free(ev->agent.operating_system);
    free(ev->agent.free_space);
    free(ev->agent.config_state);
    free(ev->agent.agent_state);
    free(ev->agent.build_state);
    free(ev->raw);
    free(ev);
}

const char *hr_transition_name(hr_transition t)
{
    switch (t) {
    case HR_TRANSITION_NONE:
        return NULL;
    case HR_TRANSITION_BUILDING:
        return "building";
    case HR_TRANSITION_FAILING:
        return "failing";
    case HR_TRANSITION_PASSED:
        return "passed";
    case HR_TRANSITION_FIXED:
        return "fixed";
    case HR_TRANSITION_FAILED:
        return "failed";
    case HR_TRANSITION_BROKEN:
        return "broken";
    case HR_TRANSITION_STILL_FAILING:
        return "still_failing";
    case HR_TRANSITION_CANCELLED:
        return "cancelled";
    case HR_TRANSITION_UNKNOWN:
        return "unknown";
    }
    return NULL;
}

static int eq(const char *a, const char *b)
{
    return a != NULL && strcmp(a, b) == 0;
}

hr_transition hr_transition_of(const char *state, const char *result, const char *prev_result)
{
    if (eq(state, "Building"))
        return HR_TRANSITION_BUILDING;
    if (eq(state, "Failing"))
        return HR_TRANSITION_FAILING;
    if (eq(result, "Passed"))
        return eq(prev_result, "Failed") ? HR_TRANSITION_FIXED : HR_TRANSITION_PASSED;
    if (eq(result, "Failed")) {
        if (eq(prev_result, "Passed"))
            return HR_TRANSITION_BROKEN;
        if (eq(prev_result, "Failed"))
            return HR_TRANSITION_STILL_FAILING;
        return HR_TRANSITION_FAILED;
    }
    if (eq(result, "Cancelled") || eq(state, "Cancelled"))
        return HR_TRANSITION_CANCELLED;
    return HR_TRANSITION_UNKNOWN;
}

/* Sets key to the string, or to null when s is NULL. */
static void put_str(json_t *o, const char *key, const char *s)
{
    json_object_set_new(o, key, s ? json_string(s) : json_null());
}

static void put_time(json_t *o, const char *key, int64_t ms)
{
    char buf[HR_TIME_STR_MAX];
    if (ms == HR_TIME_NONE)
        json_object_set_new(o, key, json_null());
    else
        json_object_set_new(o, key, json_string(hr_time_format(ms, buf, sizeof(buf))));
}

static json_t *stage_json(const hr_event *ev)
{
    json_t *pipeline = json_object(), *stage = json_object(), *jobs = json_array();
    json_t *causes = json_array(), *out = json_object();

    put_str(pipeline, "name", ev->pipeline_name);
    put_str(pipeline, "counter", ev->pipeline_counter);
    put_str(pipeline, "label", ev->pipeline_label);
    put_str(pipeline, "group", ev->pipeline_group);

    put_str(stage, "name", ev->stage_name);
    put_str(stage, "counter", ev->stage_counter);
    put_str(stage, "state", ev->stage_state);
    put_str(stage, "result", ev->stage_result);
    put_str(stage, "approval_type", ev->approval_type);
    put_str(stage, "approved_by", ev->approved_by);
    put_str(stage, "previous_stage_name", ev->previous_stage_name);
    json_object_set_new(stage, "previous_stage_counter",
                        json_integer((json_int_t)ev->previous_stage_counter));
    put_time(stage, "created_at", ev->stage_created_at);
    put_time(stage, "last_transition_at", ev->stage_transition_at);

    for (size_t i = 0; i < ev->njobs; i++) {
        const hr_job *j = &ev->jobs[i];
        json_t *o = json_object();
        put_str(o, "name", j->name);
        put_str(o, "state", j->state);
        put_str(o, "result", j->result);
        put_str(o, "agent_uuid", j->agent_uuid);
        put_time(o, "scheduled_at", j->scheduled_at);
        put_time(o, "assigned_at", j->assigned_at);
        put_time(o, "completed_at", j->completed_at);
        json_array_append_new(jobs, o);
    }
    json_object_set_new(stage, "jobs", jobs);

    for (size_t i = 0; i < ev->ncauses; i++) {
        const hr_cause *c = &ev->causes[i];
        json_t *o = json_object(), *mods = json_array();
        put_str(o, "material_type", c->material_type);
        put_str(o, "material", c->material);
        put_str(o, "fingerprint", c->fingerprint);
        json_object_set_new(o, "config", c->config ? json_incref(c->config) : json_object());
        json_object_set_new(o, "changed", json_boolean(c->changed));
        put_str(o, "revision", c->nmods > 0 ? c->mods[0].revision : NULL);
        for (size_t k = 0; k < c->nmods; k++) {
            json_t *m = json_object();
            put_str(m, "revision", c->mods[k].revision);
            put_time(m, "modified_at", c->mods[k].modified_at);
            json_object_set(m, "data", c->mods[k].data);
            json_array_append_new(mods, m);
        }
        json_object_set_new(o, "modifications", mods);
        json_array_append_new(causes, o);
    }
    json_object_set_new(out, "pipeline", pipeline);
    json_object_set_new(out, "stage", stage);
    json_object_set_new(out, "build_cause", causes);
    return out;
}

static json_t *agent_json(const hr_agent *a)
{
    json_t *o = json_object();
    put_str(o, "uuid", a->uuid);
    put_str(o, "host_name", a->host_name);
    put_str(o, "ip_address", a->ip_address);
    put_str(o, "operating_system", a->operating_system);
    put_str(o, "free_space", a->free_space);
    put_str(o, "config_state", a->config_state);
    put_str(o, "agent_state", a->agent_state);
    put_str(o, "build_state", a->build_state);
    json_object_set_new(o, "is_elastic", json_boolean(a->is_elastic));
    put_time(o, "transition_at", a->transition_at);
    return o;
}

json_t *hr_event_to_json(const hr_event *ev)
{
    json_t *o = json_object();
    if (ev->id > 0)
        json_object_set_new(o, "id", json_integer((json_int_t)ev->id));
    put_time(o, "received_at", ev->received_at ? ev->received_at : HR_TIME_NONE);
    put_str(o, "source", ev->source);
    put_str(o, "kind", ev->kind);
    put_str(o, "version", ev->version);
    if (ev->has_agent) {
        json_object_set_new(o, "agent", agent_json(&ev->agent));
    } else {
        json_t *s = stage_json(ev);
        json_object_update(o, s);
        json_decref(s);
        put_str(o, "transition", hr_transition_name(ev->transition));
    }
    return o;
}
