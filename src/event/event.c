#include "event/event.h"
#include "event/delivery.h"

#include "core/mem.h"
#include "core/timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

hr_event *hr_event_new(void)
{
    hr_event *ev = hr_calloc(1, sizeof(*ev));
    ev->stage_created_at = HR_TIME_NONE;
    ev->stage_transition_at = HR_TIME_NONE;
    ev->agent.transition_at = HR_TIME_NONE;
    ev->build.started_at = HR_TIME_NONE;
    ev->build.duration_ms = -1;
    ev->package.timestamp = HR_TIME_NONE;
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

static void build_free(hr_build *b)
{
    free(b->job_name);
    free(b->job_base_name);
    free(b->job_url);
    free(b->branch);
    free(b->display_name);
    free(b->url);
    free(b->phase);
    free(b->status);
    free(b->result);
    free(b->scm_url);
    free(b->scm_branch);
    free(b->scm_commit);
    json_decref(b->scm_changes);
    json_decref(b->scm_culprits);
    json_decref(b->parameters);
    json_decref(b->test_summary);
    json_decref(b->artifacts);
    free(b->log);
    free(b->notes);
    free(b->body);
    json_decref(b->environment);
}

void hr_event_free(hr_event *ev)
{
    if (ev == NULL)
        return;
    free(ev->source);
    free(ev->kind);
    free(ev->test_target);
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
    build_free(&ev->build);
    free(ev->package.repository);
    free(ev->package.package);
    free(ev->package.revision);
    free(ev->package.user);
    free(ev->package.comment);
    free(ev->package.trackback_url);
    json_decref(ev->package.data);
    json_decref(ev->health);
    free(ev->request_id);
    hr_errlist_clear(&ev->warnings);
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

hr_transition hr_transition_from_name(const char *name)
{
    for (int t = HR_TRANSITION_BUILDING; name != NULL && t <= HR_TRANSITION_UNKNOWN; t++)
        if (strcmp(hr_transition_name((hr_transition)t), name) == 0)
            return (hr_transition)t;
    return HR_TRANSITION_NONE;
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

bool hr_result_is_completed(const char *result)
{
    return eq(result, "Passed") || eq(result, "Failed");
}

void hr_job_history_clear(hr_job_history *h)
{
    if (h == NULL)
        return;
    free(h->last_result);
    free(h->prev_result);
    h->last_result = h->prev_result = NULL;
}

/*
 * Jenkins' multibranch jobs have the branch in their full name already,
 * and its plugins learn a branch only after checkout (a build's first
 * events have none), so Jenkins keys on the job alone. `herald notify`
 * names the branch of every run (GitLab CI and GitHub Actions jobs are the
 * same job on every branch), so it keys per branch.
 */
const char *hr_build_history_branch(const hr_event *ev)
{
    if (eq(ev->version, "notify") && ev->build.branch != NULL)
        return ev->build.branch;
    return "";
}

hr_transition hr_build_transition(const hr_build *b, hr_job_history *h)
{
    int same = b->number > 0 && b->number == h->last_number;
    const char *prev = same ? h->prev_result : h->last_result;
    hr_transition tr;

    if (eq(b->phase, "queued") || eq(b->phase, "started") || eq(b->phase, "running"))
        tr = HR_TRANSITION_BUILDING;
    else if (eq(b->phase, "completed"))
        tr = hr_transition_of(NULL, b->result, prev);
    else
        tr = HR_TRANSITION_NONE;

    if (eq(b->phase, "completed") && hr_result_is_completed(b->result)) {
        if (!same) {
            free(h->prev_result);
            h->prev_result = h->last_result;
            h->last_number = b->number;
        } else {
            free(h->last_result);
        }
        h->last_result = hr_strdup(b->result);
    }
    return tr;
}

void hr_delivery_job_clear(hr_delivery_job *j)
{
    if (j == NULL)
        return;
    free(j->target);
    free(j->order_key);
    json_decref(j->input);
    free(j->run_key);
    json_decref(j->run_ref);
    free(j->subject);
    j->target = NULL;
    j->order_key = NULL;
    j->input = NULL;
    j->run_key = NULL;
    j->run_ref = NULL;
    j->subject = NULL;
}

char *hr_event_run_key(const hr_event *ev)
{
    const char *name = ev->pipeline_name, *number = ev->pipeline_counter;
    char num[32];

    if (ev->has_build) {
        snprintf(num, sizeof(num), "%lld", (long long)ev->build.number);
        name = ev->build.job_name;
        number = ev->build.number > 0 ? num : NULL;
    } else if (ev->has_agent || ev->has_package) {
        return NULL;
    }
    if (name == NULL || number == NULL)
        return NULL;
    size_t n = strlen(name) + strlen(number) + 2;
    char *key = hr_malloc(n);
    snprintf(key, n, "%s/%s", name, number);
    return key;
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

/* Sets key to a new reference of j, or to null when j is NULL. */
static void put_json(json_t *o, const char *key, json_t *j)
{
    json_object_set_new(o, key, j ? json_incref(j) : json_null());
}

static void put_int_or_null(json_t *o, const char *key, int64_t v, int64_t none)
{
    json_object_set_new(o, key, v == none ? json_null() : json_integer((json_int_t)v));
}

/* The fields every CI's build shares, so one template reads them all. */
static json_t *summary_json(const char *name, const char *number, const char *result,
                            const char *url)
{
    json_t *o = json_object();
    put_str(o, "name", name);
    put_str(o, "number", number);
    put_str(o, "result", result);
    put_str(o, "url", url);
    return o;
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
    {
        size_t n = strlen(ev->pipeline_name ? ev->pipeline_name : "") +
                   strlen(ev->stage_name ? ev->stage_name : "") + 2;
        char *name = hr_malloc(n);
        snprintf(name, n, "%s/%s", ev->pipeline_name ? ev->pipeline_name : "",
                 ev->stage_name ? ev->stage_name : "");
        json_object_set_new(out, "summary",
                            summary_json(name, ev->pipeline_counter, ev->stage_result, NULL));
        free(name);
    }
    return out;
}

static void build_json(json_t *out, const hr_build *b)
{
    json_t *job = json_object(), *build = json_object(), *scm = json_object();
    char number[24];

    put_str(job, "name", b->job_name);
    put_str(job, "base_name", b->job_base_name);
    put_str(job, "url", b->job_url);
    put_str(job, "branch", b->branch);

    put_int_or_null(build, "number", b->number, 0);
    put_str(build, "display_name", b->display_name);
    put_str(build, "url", b->url);
    put_str(build, "phase", b->phase);
    put_str(build, "status", b->status);
    put_str(build, "result", b->result);
    put_int_or_null(build, "queue_id", b->queue_id, 0);
    put_time(build, "started_at", b->started_at);
    put_int_or_null(build, "duration_ms", b->duration_ms, -1);
    put_str(scm, "url", b->scm_url);
    put_str(scm, "branch", b->scm_branch);
    put_str(scm, "commit", b->scm_commit);
    put_json(scm, "changes", b->scm_changes);
    put_json(scm, "culprits", b->scm_culprits);
    json_object_set_new(build, "scm", scm);
    put_json(build, "parameters", b->parameters);
    put_json(build, "test_summary", b->test_summary);
    put_json(build, "artifacts", b->artifacts);
    put_str(build, "log", b->log);
    put_str(build, "notes", b->notes);
    put_str(build, "body", b->body);

    json_object_set_new(out, "job", job);
    json_object_set_new(out, "build", build);
    put_json(out, "environment", b->environment);
    if (b->number > 0)
        snprintf(number, sizeof(number), "%lld", (long long)b->number);
    json_object_set_new(
        out, "summary",
        summary_json(b->job_name, b->number > 0 ? number : NULL, b->result, b->url));
}

static void package_json(json_t *out, const hr_package_rev *p)
{
    json_t *o = json_object();
    char name[2 * 256 + 2];

    put_str(o, "repository", p->repository);
    put_str(o, "name", p->package);
    put_str(o, "revision", p->revision);
    put_time(o, "timestamp", p->timestamp);
    put_str(o, "user", p->user);
    put_str(o, "revision_comment", p->comment);
    put_str(o, "trackback_url", p->trackback_url);
    json_object_set_new(o, "data", p->data ? json_incref(p->data) : json_object());
    json_object_set_new(out, "package", o);
    snprintf(name, sizeof(name), "%s/%s", p->repository ? p->repository : "",
             p->package ? p->package : "");
    json_object_set_new(out, "summary", summary_json(name, p->revision, NULL, p->trackback_url));
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
    if (ev->health != NULL) {
        json_object_set(o, "target_health", ev->health);
    } else if (ev->has_agent) {
        json_object_set_new(o, "agent", agent_json(&ev->agent));
    } else if (ev->has_package) {
        package_json(o, &ev->package);
    } else if (ev->has_build) {
        build_json(o, &ev->build);
        put_str(o, "transition", hr_transition_name(ev->transition));
    } else if (ev->test_target != NULL) {
        /* Marked as a test wherever it is shown: its body says so. */
        json_object_set_new(o, "test",
                            json_pack("{s:s,s:s}", "target", ev->test_target, "message",
                                      "A test event from herald: nothing happened in CI."));
        json_object_set_new(o, "summary", summary_json("herald test event", NULL, NULL, NULL));
    } else {
        json_t *s = stage_json(ev);
        json_object_update(o, s);
        json_decref(s);
        put_str(o, "transition", hr_transition_name(ev->transition));
    }
    if (hr_errlist_count(&ev->warnings) > 0)
        json_object_set_new(o, "warnings", hr_errlist_to_json(&ev->warnings));
    return o;
}
