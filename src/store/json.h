/*
 * json.h - the store's reads as the API answers them.
 *
 * Every engine's reads give rows (store/rows.h); these functions build the
 * API's JSON from them, the same for every engine (store/json.c). Any
 * thread; none waits for the writer. Every *out is new (the caller
 * decrefs it) and set only on HR_OK.
 */
#ifndef HR_STORE_JSON_H
#define HR_STORE_JSON_H

#include "store/store.h"

#include <jansson.h>

/*
 * Lists events newest first. *out is a new JSON array of normalised events
 * (the stored document, event/doc.c, with "id" and "transition" from
 * their columns; "transition" is null for events that have none);
 * *next is the cursor for the next page (the last id listed) or 0 when
 * this page is the last.
 */
int hr_store_list_events(hr_store *s, const hr_event_query *q, json_t **out, int64_t *next,
                         hr_error *err);

/* One event: *out is a new {"event": {...normalised...}, "raw": "<exact
 * body>"} ("raw" null when the event had no body); HR_ENOTFOUND with
 * "no event with id N" when there is no such id. */
int hr_store_get_event(hr_store *s, int64_t id, json_t **out, hr_error *err);

/* A page of the stages' states (hr_key_query): a new array of {"pipeline",
 * "stage", "last_result" (last Passed/Failed, or null), "last_state",
 * "last_counter" (pipeline counter), "last_event_id", "updated_at" (the
 * newest event's received_at, formatted like every time)}, ordered by
 * pipeline, stage; *more is 1 when rows follow the page's last. */
int hr_store_list_stages(hr_store *s, const hr_key_query *q, json_t **out, int *more,
                         hr_error *err);

/* The GoCD plugin settings: a new object of string values, {} when
 * nothing was ever saved. */
int hr_store_get_settings(hr_store *s, json_t **out, hr_error *err);

/* ---- Deliveries ----------------------------------------------------------- */

/* The delivery engine's claim (event/delivery.h): due deliveries, oldest due
 * first, each with the event as jq sees it. Reads only. */
/* Hands back a claim the delivery engine did not start (engine.h unclaim). */
int hr_store_unclaim(hr_store *s, int64_t id, int64_t claim_token, hr_error *err);
int hr_store_claim_due(hr_store *s, const hr_claim_query *q, hr_delivery_job **jobs, size_t *n,
                       hr_error *err);

/* Deliveries newest first, each with its attempts ("attempt_log"); paging
 * as hr_store_list_events. */
int hr_store_list_deliveries(hr_store *s, const hr_delivery_query *q, json_t **out, int64_t *next,
                             hr_error *err);
/* One delivery with its attempts; HR_ENOTFOUND when there is none. */
int hr_store_get_delivery(hr_store *s, int64_t id, json_t **out, hr_error *err);

/* Per target: deliveries pending and retrying now, and dead and delivered
 * since `since` (ms), with the last error: a new array. */
int hr_store_target_health(hr_store *s, int64_t since, json_t **out, hr_error *err);

/* ---- CI jobs ----------------------------------------------------------- */

/* A page of the jobs' states, as hr_store_list_stages: a new array of
 * {"source", "job", "branch" (or null), "last_result" (last Passed/Failed,
 * or null), "last_number", "last_phase", "last_status", "last_event_id",
 * "updated_at"}, ordered by source, job, branch ("" for null). */
int hr_store_list_jobs(hr_store *s, const hr_key_query *q, json_t **out, int *more, hr_error *err);

/* ---- Package revisions -------------------------------------------------
 *
 * Revisions as the API shows them: {"repository", "package", "revision",
 * "timestamp", "user", "revisionComment", "trackbackUrl" (null when not
 * given), "data", "published_at", "event_id"}. Newest means last
 * published.
 */

/* A new object: p in that form, without published_at and event_id. */
json_t *hr_store_revision_doc(const hr_package_rev *p);

/* A package's revisions newest first; paging as hr_store_list_events. An
 * unknown package gives an empty page. */
int hr_store_list_revisions(hr_store *s, const char *repository, const char *package,
                            int64_t before_id, size_t limit, json_t **out, int64_t *next,
                            hr_error *err);

/* The package's newest revision (the last published), or *out = NULL
 * when it has none. Whether it is new to GoCD is decided by comparing
 * revision strings (ingest/package.h, hr_pkgrepo_since_answer). */
int hr_store_latest_revision(hr_store *s, const char *repository, const char *package, json_t **out,
                             hr_error *err);

/* Packages that have revisions (all, or one repository's when repository
 * is not NULL): a new array of {"repository", "package", "created_at",
 * "revisions" (count), "latest" (revision), "latest_published_at"}. */
int hr_store_list_packages(hr_store *s, const char *repository, json_t **out, hr_error *err);

/* A page of them, as hr_store_list_stages: ordered by repository, package. */
int hr_store_page_packages(hr_store *s, const hr_key_query *q, json_t **out, int *more,
                           hr_error *err);

#endif
