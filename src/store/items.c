/*
 * items.c - what each kind of the writer's items does inside the open
 * transaction, the same for every engine: an event with its transition,
 * state, revision and deliveries; settings; an attempt; a reset; a prune
 * chunk. Writer thread only; the engine runs the statements.
 */
#include "store/event_doc.h"
#include "store/writer.h"

#include "core/limits.h"
#include "core/timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Asks the router where the event goes and creates one delivery per
 * (route, target), in the event's own savepoint: an event is never
 * acknowledged without its deliveries. */
static int save_deliveries(hr_store *s, item *it, hr_transition tr)
{
    hr_store_route out[HR_MAX_TARGETS_PER_EVENT];
    int64_t now = hr_time_now_ms();
    char *run_key;
    size_t n;
    int ret = HR_OK;

    if (it->ev->test_target != NULL) { /* a test goes to its target alone, unordered */
        hr_store_route test = {.route = "test", .target = it->ev->test_target};
        ret = s->eng->insert_delivery(s->db, it->id, &test, NULL, now, &it->err);
        if (ret == HR_OK)
            it->ndeliveries = 1;
        return ret;
    }
    run_key = hr_event_run_key(it->ev);
    /* The router sees the event as it will be stored. */
    it->ev->id = it->id;
    it->ev->transition = tr;
    it->ev->route_keys = it->prepared;
    n = s->route_fn(s->route_ctx, it->ev, it->doc, it->doc_len, out, HR_MAX_TARGETS_PER_EVENT);
    it->ndeliveries = 0;
    for (size_t i = 0; i < n && ret == HR_OK; i++) {
        /* A target's health event never goes to that target: no loop. */
        if (it->exclude_target != NULL && strcmp(out[i].target, it->exclude_target) == 0)
            continue;
        ret = s->eng->insert_delivery(s->db, it->id, &out[i], run_key, now, &it->err);
        it->ndeliveries += ret == HR_OK;
    }
    it->ev->route_keys = NULL; /* freed with the item */
    free(run_key);
    return ret;
}

/*
 * Whether the event's request id was stored before: a sender retrying
 * after it lost herald's answer. The repeat then completes as the first
 * one did (its id and transition), and nothing is stored or delivered
 * again. The same id with another body is no retry: HR_ECONFLICT, so that
 * the second body is not silently dropped.
 */
static int check_request(hr_store *s, item *it)
{
    hr_request_hit hit = {0};
    int ret =
        s->eng->find_request(s->db, it->ev->request_id, it->ev->request_digest, &hit, &it->err);
    if (ret != HR_OK || !hit.found)
        return ret;
    if (!hit.same_digest)
        return hr_error_set(&it->err, HR_ECONFLICT,
                            HR_REQUEST_ID_REUSED " (event %lld); a retry sends the same body, "
                                                 "another event needs another id",
                            (long long)hit.id);
    it->repeat = 1;
    it->id = hit.id;
    it->transition = hit.transition;
    return HR_OK;
}

/*
 * Whether a published revision is new. A revision already stored from
 * the same bytes is a retry: it->duplicate is set and it->id is the first
 * event's. One stored from other bytes is HR_ECONFLICT.
 */
static int check_revision(hr_store *s, item *it)
{
    const hr_package_rev *p = &it->ev->package;
    hr_revision_hit hit = {0};
    int ret = s->eng->find_revision(s->db, p, it->ev->raw, it->ev->raw_len, &hit, &it->err);
    if (ret != HR_OK || !hit.found)
        return ret;
    if (!hit.same_body)
        return hr_error_set(&it->err, HR_ECONFLICT,
                            "revision \"%s\" of %s/%s already exists with different content",
                            p->revision, p->repository, p->package);
    /* The answer is the first publish's: its times too (a body without a
     * timestamp took the time of publishing). */
    it->duplicate = 1;
    it->id = hit.event_id;
    it->ev->package.timestamp = hit.timestamp;
    it->ev->received_at = hit.published_at;
    return HR_OK;
}

/*
 * Writes one event and what follows from it (the stage's or job's state,
 * the package revision, the deliveries) inside the open transaction. The
 * transition is decided here, in the writer's transaction, from the state
 * the same transaction then moves forward: events of one stage or job are
 * judged one after the other, never against a stale read.
 */
static int save_event(hr_store *s, item *it)
{
    hr_event *ev = it->ev;
    int is_stage =
        !ev->has_build && !ev->has_package && strcmp(ev->kind, HR_KIND_STAGE_STATUS) == 0;
    hr_transition tr = HR_TRANSITION_NONE;
    hr_job_history hist = {NULL, NULL, 0};
    hr_event_columns c = {0};
    char counter[24];
    const char *branch = NULL;
    int ret = HR_OK;

    if (ev->request_id != NULL) {
        ret = check_request(s, it);
        if (ret != HR_OK || it->repeat)
            return ret;
    }
    if (ev->has_package) {
        ret = check_revision(s, it);
        if (ret != HR_OK || it->duplicate)
            return ret;
    }
    if (is_stage) {
        char *prev = NULL;
        ret = s->eng->stage_last_result(s->db, ev->pipeline_name, ev->stage_name, &prev, &it->err);
        if (ret == HR_OK)
            tr = hr_transition_of(ev->stage_state, ev->stage_result, prev);
        free(prev);
    } else if (ev->has_build) {
        branch = hr_build_history_branch(ev);
        ret = s->eng->job_history(s->db, ev->source, ev->build.job_name, branch, &hist, &it->err);
        if (ret == HR_OK)
            tr = hr_build_transition(&ev->build, &hist);
    }
    if (ret != HR_OK)
        goto out;

    c.received_at = ev->received_at;
    c.source = ev->source;
    c.kind = ev->kind;
    c.version = ev->version;
    if (is_stage) {
        c.pipeline = ev->pipeline_name;
        c.pipeline_counter = ev->pipeline_counter;
        c.stage = ev->stage_name;
        c.stage_counter = ev->stage_counter;
        c.state = ev->stage_state;
        c.result = ev->stage_result;
        c.transition = hr_transition_name(tr);
    } else if (ev->has_build) {
        /* A job is filtered on as a pipeline: ?pipeline=folder/app. */
        snprintf(counter, sizeof(counter), "%lld", (long long)ev->build.number);
        c.pipeline = ev->build.job_name;
        c.pipeline_counter = ev->build.number > 0 ? counter : NULL;
        c.state = ev->build.phase;
        c.result = ev->build.result;
        c.transition = hr_transition_name(tr);
    } else if (ev->has_package) {
        c.pipeline = it->package_name;
        c.pipeline_counter = ev->package.revision;
    }
    /* The router has the document in memory; the row keeps it only when
     * a read cannot derive it from the raw body (event_doc.h). */
    if (!hr_store__doc_derived(ev)) {
        c.doc = it->doc;
        c.doc_len = it->doc_len;
    }
    c.raw = ev->raw;
    c.raw_len = ev->raw_len;
    c.request_id = ev->request_id;
    c.request_digest = ev->request_id != NULL ? ev->request_digest : NULL;
    c.warnings = (int64_t)hr_errlist_count(&ev->warnings);
    ret = s->eng->insert_event(s->db, &c, &it->id, &it->err);
    if (ret != HR_OK)
        goto out;
    it->transition = tr;

    if (is_stage) {
        const char *r = ev->stage_result;
        ret = s->eng->save_stage(s->db, ev, hr_result_is_completed(r) ? r : NULL, it->id, &it->err);
    } else if (ev->has_build) {
        ret = s->eng->save_job(s->db, ev, branch, &hist, it->id, &it->err);
    } else if (ev->has_package) {
        ret = s->eng->save_revision(s->db, ev, it->rev_doc, it->id, &it->err);
    }
    if (ret == HR_OK && (s->route_fn != NULL || ev->test_target != NULL))
        ret = save_deliveries(s, it, tr);
out:
    hr_job_history_clear(&hist);
    return ret;
}

int hr_store__save_own_event(hr_store *s, hr_event *ev, const char *exclude_target, int *made_due,
                             hr_error *err)
{
    item it = {0};
    int ret;

    it.type = ITEM_EVENT;
    it.ev = ev;
    it.doc = hr_store__doc_string(ev, &it.doc_len);
    if (it.doc == NULL)
        return hr_error_set(err, HR_ENOMEM, "store: cannot serialise herald's own event");
    it.exclude_target = exclude_target;
    ret = save_event(s, &it);
    if (ret != HR_OK)
        *err = it.err;
    else if (it.ndeliveries > 0)
        *made_due = 1;
    free(it.doc);
    return ret;
}

const char *hr_store__outcome_state(hr_outcome o)
{
    return o == HR_OUTCOME_RETRY ? "retrying" : hr_store__outcome_name(o);
}

const char *hr_store__outcome_name(hr_outcome o)
{
    static const char *const names[] = {
        [HR_OUTCOME_DELIVERED] = "delivered",
        [HR_OUTCOME_RETRY] = "retry",
        [HR_OUTCOME_DEAD] = "dead",
        [HR_OUTCOME_SKIPPED] = "skipped",
        [HR_OUTCOME_SUPERSEDED] = "superseded",
    };
    return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o] : "dead";
}

int hr_store__run_item(hr_store *s, item *it)
{
    switch (it->type) {
    case ITEM_EVENT:
        return save_event(s, it);
    case ITEM_SETTINGS:
        return s->eng->save_settings(s->db, it->settings, &it->err);
    case ITEM_ATTEMPT:
        /* Its target's health moves at the end of the batch
         * (hr_store__health_batch). */
        return s->eng->save_attempt(s->db, &it->attempt, hr_time_now_ms(), &it->err);
    case ITEM_HEALTH:
        return hr_store__health_act(s, it);
    case ITEM_RESET:
        return s->eng->reset(s->db, &it->reset, hr_time_now_ms(), &it->count, &it->err);
    default:
        return s->eng->prune(s->db, &it->prune, &it->err);
    }
}
