/*
 * rows.h - what the store's reads give back: rows, as plain structs.
 *
 * Every engine's read fills an hr_rows: an array of one row type and an
 * arena that owns every string and nested array the rows point to, so one
 * hr_rows_free releases a whole answer. Rows say nothing about JSON; the
 * API's JSON is built from them in one place (store/json.c).
 *
 * Integers a column may leave empty use HR_ROW_NULL; times (ms since the
 * epoch) use 0 for none. Text columns are NULL when empty; the length
 * beside a text (doc_len, raw_len, value_len) counts its bytes, which may
 * hold NUL.
 */
#ifndef HR_STORE_ROWS_H
#define HR_STORE_ROWS_H

#include <stddef.h>
#include <stdint.h>

#define HR_ROW_NULL INT64_MIN

/* An event: its columns as stored. doc is the normalised JSON without id
 * and transition (for a row that stores none, derived from raw as the
 * engine fills the row: event_doc.h); raw the exact body (NULL when it
 * had none, or when a list leaves it out). */
typedef struct hr_event_row {
    int64_t id;
    const char *kind; /* HR_KIND_* */
    const char *transition;
    const char *doc;
    size_t doc_len;
    const char *raw;
    size_t raw_len;
} hr_event_row;

typedef struct hr_stage_row {
    const char *pipeline, *stage, *last_result, *last_state, *last_counter;
    int64_t last_event_id; /* HR_ROW_NULL once that event was pruned */
    int64_t updated_at;
} hr_stage_row;

typedef struct hr_job_row {
    const char *source, *job, *branch; /* branch "" when the build named none */
    const char *last_result;
    int64_t last_number; /* HR_ROW_NULL before a completed result */
    const char *last_phase, *last_status;
    int64_t last_event_id; /* HR_ROW_NULL once that event was pruned */
    int64_t updated_at;
} hr_job_row;

typedef struct hr_setting_row {
    const char *key, *value;
    size_t value_len;
} hr_setting_row;

typedef struct hr_attempt_row {
    int attempt;
    int64_t started_at, latency_ms;
    int64_t status; /* HR_ROW_NULL when there was no answer */
    const char *outcome, *error, *excerpt;
    const char *request_headers; /* JSON array of {name, value}, masked; NULL when none */
} hr_attempt_row;

typedef struct hr_delivery_row {
    int64_t id, event_id;
    const char *route, *target, *state;
    int attempts;
    int64_t next_at, created_at, updated_at;
    int64_t last_status; /* HR_ROW_NULL when none */
    const char *last_error;
    const char *run_key;     /* NULL when the event has no run */
    const char *service_ref; /* JSON: what the service said about the message, or NULL */
    const char *order_key;   /* NULL: unordered */
    const char *subject;     /* what it reports on (store.h's hr_store_route); NULL: the event */
    /* Waiting in its key's queue (pending, retrying): how many older
     * deliveries with its target and key wait before it; HR_ROW_NULL
     * otherwise. */
    int64_t queue_position;
    hr_attempt_row *log; /* the attempts, oldest first (in the arena) */
    size_t nlog;
} hr_delivery_row;

typedef struct hr_target_row {
    const char *target;
    int64_t pending, retrying, dead, delivered;
    const char *last_error;
} hr_target_row;

typedef struct hr_revision_row {
    int64_t id;
    const char *doc; /* the revision's JSON, without published_at and event_id */
    int64_t published_at;
    int64_t event_id;
} hr_revision_row;

typedef struct hr_package_row {
    const char *repository, *package;
    int64_t created_at;
    int64_t revisions;
    const char *latest; /* NULL when it has none */
    int64_t latest_published_at;
} hr_package_row;

/* A due delivery with the event it carries. */
typedef struct hr_claim_row {
    int64_t id, event_id;
    const char *target;
    int attempts;          /* made so far */
    int64_t claim_token;   /* the claim's fencing token; 0 when not leased */
    const char *run_key;   /* NULL when the event has no run */
    const char *run_ref;   /* JSON: the run's first message to the target, or NULL */
    const char *order_key; /* NULL: unordered */
    const char *subject;   /* what it reports on; NULL: the event as a whole */
    int64_t superseded_by; /* latest_wins: the newest delivery waiting with its key; 0: none */
    hr_event_row event;
} hr_claim_row;

/* One answer: n rows of size bytes each at items, and the memory they point
 * into. Fill it with hr_rows_add and hr_rows_str. */
typedef struct hr_rows {
    void *items;
    size_t n, cap, size;
    struct hr_rows_block *arena;
} hr_rows;

/* Starts an empty answer whose rows are size bytes each. */
void hr_rows_init(hr_rows *r, size_t size);
/* A new zeroed row at the end (the array may move: earlier row pointers
 * do not stay valid). Aborts when out of memory, as hr_malloc does. */
void *hr_rows_add(hr_rows *r);
/* A zeroed block of size bytes that lives as long as r. */
void *hr_rows_alloc(hr_rows *r, size_t size);
/* A NUL-terminated copy of len bytes at s, owned by r; NULL for NULL. */
const char *hr_rows_str(hr_rows *r, const char *s, size_t len);
/* The i-th row. */
void *hr_rows_at(const hr_rows *r, size_t i);
/* Releases every row and everything they point to; r may be reused after
 * hr_rows_init. NULL is fine. */
void hr_rows_free(hr_rows *r);

#endif
