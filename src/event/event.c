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
    hr_vars_free(b->parameters);
    json_decref(b->test_summary);
    json_decref(b->artifacts);
    free(b->log);
    free(b->notes);
    free(b->body);
    hr_vars_free(b->environment);
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
    free(j->kind);
    free(j->order_key);
    json_decref(j->input);
    free(j->body);
    free(j->run_key);
    json_decref(j->run_ref);
    free(j->subject);
    j->target = NULL;
    j->kind = NULL;
    j->order_key = NULL;
    j->input = NULL;
    j->body = NULL;
    j->body_len = 0;
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
