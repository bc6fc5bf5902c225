/*
 * doc.c - the stored document of an event, written in one pass.
 *
 * hr_event_doc writes the normalised event (docs/events.md), minus "id"
 * and "transition", straight into one buffer: the store builds no tree
 * and dumps nothing. The bytes are those herald stored when it dumped a
 * jansson tree of the event with json_dumps(JSON_COMPACT): every value is
 * written as jansson writes it, and where the tree had no member (a string
 * that is not valid UTF-8, a NULL json_t) neither does the document.
 * tests/unit/test_event_doc.c compares the documents of every payload
 * with golden files that matched that tree's dump when they were written;
 * the ingest fuzz targets check that jansson reads each one back into the
 * same bytes (fuzz/fuzz_doc.h).
 */
#include "event/event.h"

#include "core/jwrite.h"
#include "core/mem.h"
#include "core/limits.h"
#include "core/timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* key: the string, or null when s is NULL; the member is left out when s
 * is not valid UTF-8. */
static void put_str(hr_jw *w, const char *key, const char *s)
{
    hr_jw_mark m = hr_jw_at(w);

    hr_jw_key(w, key);
    if (s == NULL)
        hr_jw_null(w);
    else if (hr_jw_string(w, s, strlen(s)) != HR_OK)
        hr_jw_undo(w, m);
}

static void put_time(hr_jw *w, const char *key, int64_t ms)
{
    char buf[HR_TIME_STR_MAX];

    if (ms == HR_TIME_NONE) {
        hr_jw_key(w, key);
        hr_jw_null(w);
    } else {
        put_str(w, key, hr_time_format(ms, buf, sizeof(buf)));
    }
}

/* key: j as jansson writes it, or null when j is NULL (none_is_null), else
 * no member at all. */
static void put_json(hr_jw *w, const char *key, const json_t *j, bool none_is_null)
{
    hr_jw_mark m = hr_jw_at(w);

    if (j == NULL && !none_is_null)
        return;
    hr_jw_key(w, key);
    if (j == NULL)
        hr_jw_null(w);
    else if (hr_jw_json(w, j) != HR_OK)
        hr_jw_undo(w, m);
}

/* key: the list as an object, or null when vs is NULL. */
static void put_vars(hr_jw *w, const char *key, const hr_vars *vs)
{
    hr_jw_key(w, key);
    if (vs == NULL)
        hr_jw_null(w);
    else
        hr_vars_write(w, vs);
}

static void put_int_or_null(hr_jw *w, const char *key, int64_t v, int64_t none)
{
    hr_jw_key(w, key);
    if (v == none)
        hr_jw_null(w);
    else
        hr_jw_int(w, v);
}

static void put_bool(hr_jw *w, const char *key, bool v)
{
    hr_jw_key(w, key);
    hr_jw_bool(w, v);
}

/* The fields every CI's build shares, so one template reads them all. */
static void put_summary(hr_jw *w, const char *name, const char *number, const char *result,
                        const char *url)
{
    hr_jw_key(w, "summary");
    hr_jw_object(w);
    put_str(w, "name", name);
    put_str(w, "number", number);
    put_str(w, "result", result);
    put_str(w, "url", url);
    hr_jw_end_object(w);
}

static void write_jobs(hr_jw *w, const hr_event *ev)
{
    hr_jw_key(w, "jobs");
    hr_jw_array(w);
    for (size_t i = 0; i < ev->njobs; i++) {
        const hr_job *j = &ev->jobs[i];
        hr_jw_object(w);
        put_str(w, "name", j->name);
        put_str(w, "state", j->state);
        put_str(w, "result", j->result);
        put_str(w, "agent_uuid", j->agent_uuid);
        put_time(w, "scheduled_at", j->scheduled_at);
        put_time(w, "assigned_at", j->assigned_at);
        put_time(w, "completed_at", j->completed_at);
        hr_jw_end_object(w);
    }
    hr_jw_end_array(w);
}

static void write_causes(hr_jw *w, const hr_event *ev)
{
    hr_jw_key(w, "build_cause");
    hr_jw_array(w);
    for (size_t i = 0; i < ev->ncauses; i++) {
        const hr_cause *c = &ev->causes[i];
        hr_jw_object(w);
        put_str(w, "material_type", c->material_type);
        put_str(w, "material", c->material);
        put_str(w, "fingerprint", c->fingerprint);
        hr_jw_key(w, "config");
        if (c->config == NULL || hr_jw_json(w, c->config) != HR_OK) {
            hr_jw_object(w);
            hr_jw_end_object(w);
        }
        put_bool(w, "changed", c->changed);
        put_str(w, "revision", c->nmods > 0 ? c->mods[0].revision : NULL);
        hr_jw_key(w, "modifications");
        hr_jw_array(w);
        for (size_t k = 0; k < c->nmods; k++) {
            hr_jw_object(w);
            put_str(w, "revision", c->mods[k].revision);
            put_time(w, "modified_at", c->mods[k].modified_at);
            put_json(w, "data", c->mods[k].data, false);
            hr_jw_end_object(w);
        }
        hr_jw_end_array(w);
        hr_jw_end_object(w);
    }
    hr_jw_end_array(w);
}

static void write_stage(hr_jw *w, const hr_event *ev)
{
    const char *p = ev->pipeline_name ? ev->pipeline_name : "";
    const char *s = ev->stage_name ? ev->stage_name : "";
    size_t n = strlen(p) + strlen(s) + 2;
    char small[256], *name = n <= sizeof(small) ? small : hr_malloc(n);

    hr_jw_key(w, "pipeline");
    hr_jw_object(w);
    put_str(w, "name", ev->pipeline_name);
    put_str(w, "counter", ev->pipeline_counter);
    put_str(w, "label", ev->pipeline_label);
    put_str(w, "group", ev->pipeline_group);
    hr_jw_end_object(w);

    hr_jw_key(w, "stage");
    hr_jw_object(w);
    put_str(w, "name", ev->stage_name);
    put_str(w, "counter", ev->stage_counter);
    put_str(w, "state", ev->stage_state);
    put_str(w, "result", ev->stage_result);
    put_str(w, "approval_type", ev->approval_type);
    put_str(w, "approved_by", ev->approved_by);
    put_str(w, "previous_stage_name", ev->previous_stage_name);
    hr_jw_key(w, "previous_stage_counter");
    hr_jw_int(w, ev->previous_stage_counter);
    put_time(w, "created_at", ev->stage_created_at);
    put_time(w, "last_transition_at", ev->stage_transition_at);
    write_jobs(w, ev);
    hr_jw_end_object(w);

    write_causes(w, ev);
    snprintf(name, n, "%s/%s", p, s);
    put_summary(w, name, ev->pipeline_counter, ev->stage_result, NULL);
    if (name != small)
        free(name);
}

static void write_build(hr_jw *w, const hr_build *b)
{
    char number[24];

    hr_jw_key(w, "job");
    hr_jw_object(w);
    put_str(w, "name", b->job_name);
    put_str(w, "base_name", b->job_base_name);
    put_str(w, "url", b->job_url);
    put_str(w, "branch", b->branch);
    hr_jw_end_object(w);

    hr_jw_key(w, "build");
    hr_jw_object(w);
    put_int_or_null(w, "number", b->number, 0);
    put_str(w, "display_name", b->display_name);
    put_str(w, "url", b->url);
    put_str(w, "phase", b->phase);
    put_str(w, "status", b->status);
    put_str(w, "result", b->result);
    put_int_or_null(w, "queue_id", b->queue_id, 0);
    put_time(w, "started_at", b->started_at);
    put_int_or_null(w, "duration_ms", b->duration_ms, -1);
    hr_jw_key(w, "scm");
    hr_jw_object(w);
    put_str(w, "url", b->scm_url);
    put_str(w, "branch", b->scm_branch);
    put_str(w, "commit", b->scm_commit);
    put_json(w, "changes", b->scm_changes, true);
    put_json(w, "culprits", b->scm_culprits, true);
    hr_jw_end_object(w);
    put_vars(w, "parameters", b->parameters);
    put_json(w, "test_summary", b->test_summary, true);
    put_json(w, "artifacts", b->artifacts, true);
    put_str(w, "log", b->log);
    put_str(w, "notes", b->notes);
    put_str(w, "body", b->body);
    hr_jw_end_object(w);

    put_vars(w, "environment", b->environment);
    if (b->number > 0)
        snprintf(number, sizeof(number), "%lld", (long long)b->number);
    put_summary(w, b->job_name, b->number > 0 ? number : NULL, b->result, b->url);
}

static void write_package(hr_jw *w, const hr_package_rev *p)
{
    char name[2 * 256 + 2];

    hr_jw_key(w, "package");
    hr_jw_object(w);
    put_str(w, "repository", p->repository);
    put_str(w, "name", p->package);
    put_str(w, "revision", p->revision);
    put_time(w, "timestamp", p->timestamp);
    put_str(w, "user", p->user);
    put_str(w, "revision_comment", p->comment);
    put_str(w, "trackback_url", p->trackback_url);
    hr_jw_key(w, "data");
    if (p->data == NULL || hr_jw_json(w, p->data) != HR_OK) {
        hr_jw_object(w);
        hr_jw_end_object(w);
    }
    hr_jw_end_object(w);
    snprintf(name, sizeof(name), "%s/%s", p->repository ? p->repository : "",
             p->package ? p->package : "");
    put_summary(w, name, p->revision, NULL, p->trackback_url);
}

static void write_agent(hr_jw *w, const hr_agent *a)
{
    hr_jw_key(w, "agent");
    hr_jw_object(w);
    put_str(w, "uuid", a->uuid);
    put_str(w, "host_name", a->host_name);
    put_str(w, "ip_address", a->ip_address);
    put_str(w, "operating_system", a->operating_system);
    put_str(w, "free_space", a->free_space);
    put_str(w, "config_state", a->config_state);
    put_str(w, "agent_state", a->agent_state);
    put_str(w, "build_state", a->build_state);
    put_bool(w, "is_elastic", a->is_elastic);
    put_time(w, "transition_at", a->transition_at);
    hr_jw_end_object(w);
}

/* A test event's own member; left out whole when its target is not
 * UTF-8, as the tree herald stored before left it out. */
static void write_test(hr_jw *w, const char *target)
{
    hr_jw_mark m = hr_jw_at(w);

    hr_jw_key(w, "test");
    hr_jw_object(w);
    hr_jw_key(w, "target");
    if (hr_jw_string(w, target, strlen(target)) != HR_OK) {
        hr_jw_undo(w, m);
    } else {
        put_str(w, "message", "A test event from herald: nothing happened in CI.");
        hr_jw_end_object(w);
    }
    put_summary(w, "herald test event", NULL, NULL, NULL);
}

static void write_warnings(hr_jw *w, const hr_errlist *l)
{
    char buf[64];

    hr_jw_key(w, "warnings");
    hr_jw_array(w);
    for (size_t i = 0; i < l->n; i++)
        hr_jw_string(w, l->msgs[i], strlen(l->msgs[i]));
    if (l->dropped > 0) {
        snprintf(buf, sizeof(buf), "... and %zu more problems", l->dropped);
        hr_jw_string(w, buf, strlen(buf));
    }
    hr_jw_end_array(w);
}

char *hr_event_doc(const hr_event *ev, size_t *len)
{
    hr_jw w;

    hr_jw_init(&w, HR_MAX_EVENT_DOC_BYTES);
    hr_jw_object(&w);
    put_time(&w, "received_at", ev->received_at ? ev->received_at : HR_TIME_NONE);
    put_str(&w, "source", ev->source);
    put_str(&w, "kind", ev->kind);
    put_str(&w, "version", ev->version);
    if (ev->health != NULL)
        put_json(&w, "target_health", ev->health, false);
    else if (ev->has_agent)
        write_agent(&w, &ev->agent);
    else if (ev->has_package)
        write_package(&w, &ev->package);
    else if (ev->has_build)
        write_build(&w, &ev->build);
    else if (ev->test_target != NULL)
        write_test(&w, ev->test_target);
    else
        write_stage(&w, ev);
    if (hr_errlist_count(&ev->warnings) > 0)
        write_warnings(&w, &ev->warnings);
    hr_jw_end_object(&w);
    return hr_jw_take(&w, len);
}
