/*
 * retention.c - retention's policy, the same for every engine: from the
 * ages it is given, the cutoffs; then chunk after chunk through the writer
 * (each a transaction of its own, queued behind whatever is waiting) until
 * everything old enough was looked at, a limit is reached or the caller
 * asks to stop. Where instances share a store, only the one holding the
 * leader row for retention prunes (engine.h, lead). What may go (hr_prune_policy in store.h) each
 * engine's prune statement says in its own SQL.
 */
#include "store/engine.h"

#include "core/timefmt.h"

#include <string.h>

/* How long a prune keeps retention's leader row when the policy says not. */
#define DEFAULT_LEAD_MS (10 * 60 * 1000)

int hr_store_prune(hr_store *s, const hr_prune_policy *policy, hr_prune_result *res, hr_error *err)
{
    int64_t t0 = hr_time_mono_us();
    int64_t now = policy->now_ms != 0 ? policy->now_ms : hr_time_now_ms();
    hr_prune_chunk state;
    int rc = HR_OK;

    void *db;
    const hr_store_engine *eng = hr_store__engine(s, &db);
    int leader = 0;

    memset(res, 0, sizeof(*res));
    memset(&state, 0, sizeof(state));
    rc = eng->lead(db, "retention", now, policy->lead_ms > 0 ? policy->lead_ms : DEFAULT_LEAD_MS,
                   &leader, err);
    if (rc != HR_OK || !leader) {
        res->not_leader = rc == HR_OK;
        res->done = 1;
        res->elapsed_ms = (hr_time_mono_us() - t0) / 1000;
        return rc;
    }
    state.events_before = now - policy->events_ms;
    state.events_done = policy->events_ms <= 0;
    state.attempts_before = now - policy->attempts_ms;
    state.attempts_done = policy->attempts_ms <= 0;
    /* At least one chunk, even with nothing to delete: it measures the
     * database. */
    do {
        rc = hr_store__prune_chunk(s, &state, err);
        if (rc != HR_OK)
            break;
        res->events += state.events;
        res->deliveries += state.deliveries;
        res->attempts += state.attempts;
        res->db_bytes = state.db_bytes;
        res->free_bytes = state.free_bytes;
        res->chunks++;
        if (policy->max_chunks > 0 && res->chunks >= policy->max_chunks)
            break;
        if (policy->stop != NULL && policy->stop(policy->stop_ctx))
            break;
    } while (!state.events_done || !state.attempts_done);
    res->done = rc == HR_OK && state.events_done && state.attempts_done;
    res->elapsed_ms = (hr_time_mono_us() - t0) / 1000;
    return rc;
}
