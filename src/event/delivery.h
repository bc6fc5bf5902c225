/*
 * delivery.h - a delivery as the store and the delivery engine both see it.
 *
 * A delivery is one (event, target) pair (with a subject when the target
 * reports the event on several commits). The store hands due ones out as
 * jobs (hr_delivery_job) for a claim (hr_claim_query), and records what
 * each attempt came to (hr_attempt). These types sit with the event model
 * so that neither side includes the other: the store knows nothing of
 * HTTP, and the engine nothing of SQL.
 */
#ifndef HR_EVENT_DELIVERY_H
#define HR_EVENT_DELIVERY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hr_delivery_job {
    int64_t id; /* the delivery */
    int64_t event_id;
    char *target; /* target name (owned) */
    int attempt;  /* 1 for the first attempt */
    /* The claim's fencing token, handed back in hr_attempt: a store shared
     * by several instances records an attempt only while it is the
     * delivery's latest claim. 0 where claims are not leased (SQLite). */
    int64_t claim_token;
    char *kind; /* the event's kind, HR_KIND_* (owned) */
    /* The event as jq sees it (owned reference), see route/jq.h; NULL when
     * the claim made body instead. */
    json_t *input;
    /* The default body (the event as the API serves it, without "raw", as
     * compact JSON: input's bytes but for "raw"), spliced from the stored
     * document by the claim when the target runs no jq on the event
     * (no_raw); input is then NULL: nothing reads it, and parsing each
     * document into a tree cost about a fifth of the delivery thread.
     * NULL otherwise. Owned. */
    char *body;
    size_t body_len;
    /* The run the event belongs to ("app/42": a GoCD pipeline run, a
     * Jenkins build), or NULL; owned. */
    char *run_key;
    /* What the service answered about the run's first message to this
     * target (Slack's channel and ts, Discord's id, the e-mail's
     * Message-ID), or NULL before it is known (owned reference). */
    json_t *run_ref;
    /* Ordered delivery (deliver/order.c): the delivery's order key (owned;
     * NULL: unordered), and, when the store found a newer delivery with the
     * same target and key waiting while this one may not be sent any more
     * (latest_wins), that delivery's id: the job is then recorded as
     * superseded, never sent. 0 otherwise. */
    char *order_key;
    int64_t superseded_by;
    /* What the delivery reports on when its target reports one event on
     * several things (a commit status's "owner/repo@sha", one per changed
     * git material of a GoCD stage: route.h), or NULL: the event as a
     * whole. Owned. */
    char *subject;
} hr_delivery_job;

/* Frees the job's members (not the struct itself). */
void hr_delivery_job_clear(hr_delivery_job *j);

/* SKIPPED: the event is not for the target (a state target given a
 * build with no commit on its host); final, nothing was sent, and the
 * attempt's error says why. */
/* SUPERSEDED: never sent, because a newer delivery with the same order key
 * took its place (latest_wins); the attempt's error says which. */
typedef enum {
    HR_OUTCOME_DELIVERED = 0,
    HR_OUTCOME_RETRY,
    HR_OUTCOME_DEAD,
    HR_OUTCOME_SKIPPED,
    HR_OUTCOME_SUPERSEDED,
} hr_outcome;

/* When a target's circuit opens and when it is disabled (the circuit:
 * settings, event/health.h). Carried with each attempt, so that the store
 * judges the target by the settings the attempt was made under. */
typedef struct hr_health_policy {
    int failures;             /* consecutive failures that open the circuit; 0: never */
    int64_t probe_initial_ms; /* the first wait before a probe */
    int64_t probe_max_ms;     /* the longest wait between probes */
    int64_t disable_after_ms; /* failing continuously this long disables; 0: never */
} hr_health_policy;

typedef struct hr_attempt {
    int64_t delivery_id;
    int attempt;
    int64_t started_at; /* ms since the epoch */
    int64_t latency_ms;
    int status;          /* HTTP status; 0 when there was no answer */
    const char *error;   /* NULL, or what went wrong; never a secret */
    const char *excerpt; /* the answer's first bytes (max_response_bytes), valid UTF-8 */
    /* The request's headers as sent, a JSON array of {"name", "value"}
     * objects with every secret already masked (deliver/transfer.c): what reaches
     * the store is safe to show. NULL when there were none (e-mail). */
    const char *request_headers;
    hr_outcome outcome;
    int64_t next_at;     /* when outcome is RETRY: when to try again (ms) */
    int64_t claim_token; /* the job's claim_token */
    /* Delivered: what the service said about the message it made or
     * changed, as compact JSON (a JSON object), or NULL. Kept with the
     * delivery, and as the run's message when the run has none yet. */
    const char *service_ref;
    /* The target's health (event/health.h): its name (NULL: the store
     * keeps no health for this attempt), the policy, and whether the
     * delivery carries one of herald's own health events (its dead letter
     * makes no new event: no loop). */
    const char *target;
    hr_health_policy policy;
    bool own_event;
} hr_attempt;

/* What the engine asks its source for. The engine claims per target, so a
 * target with a long backlog at its cap costs the others nothing; and once
 * a second, deliveries whose target is no longer configured (other_than:
 * every configured name), which it records as dead. */
typedef struct hr_claim_query {
    int64_t now;
    const char *target;            /* only this target; NULL: any */
    const char *const *other_than; /* with target NULL: none of these */
    size_t n_other_than;
    const int64_t *skip_ids; /* deliveries the engine is busy with (sorted) */
    size_t n_skip_ids;
    size_t max;
    /* Where instances share a store: how long a claimed delivery stays
     * this instance's before another may take it (longer than a request
     * may take); 0: the store's default. */
    int64_t lease_ms;
    /* With target set: the target's deliveries of one run build on the
     * run's first message (edit it, answer in its thread), so a delivery
     * whose run has no message yet waits while an older delivery of the
     * same run and target is pending or retrying. */
    int run_order;
    /* The target's requests run no jq on the event (a webhook with literal
     * URL and headers and the default body): the claim makes the job's
     * body from the stored document's bytes and no input, instead of
     * parsing the document and the raw body for each delivery. */
    int no_raw;
} hr_claim_query;

#endif
