/*
 * gocd_lookup.h - who changed what in a GoCD pipeline run, asked of GoCD's
 * API before a chat or mail message about the run is rendered.
 *
 * GoCD's notification carries each material's revision but not who made
 * it or why. With the config's gocd: section (route/config_people.c),
 * the delivery engine asks GET <api_url>/go/api/pipelines/<name>/<counter>
 * (Accept: application/vnd.go.cd+json, Authorization: Bearer <token>) and
 * keeps build_cause.material_revisions[].modifications[] (revision,
 * user_name, email_address, comment), which the message shows as changes
 * and committers (message.h) and people: turns into mentions (people.h).
 *
 * Never on the acknowledgement path: the event is stored and acknowledged
 * first; the lookup runs on the delivery thread, as its own libcurl
 * transfer in the engine's multi handle, so it blocks nothing. A delivery
 * whose run is being looked up is not started (it stays due and the
 * engine takes it again); when the lookup ends the engine looks for due
 * deliveries at once. A failed lookup (a connection error, a timeout, 408,
 * 429, 5xx, an answer that is not GoCD's JSON) is tried again after the
 * delivery backoff (delivery.backoff_initial doubling, with jitter), up to
 * gocd.attempts lookups of the run; after them, or at once on another
 * answer (401, 403, 404), the run's messages go out with revisions only.
 *
 * What was learnt (or that the lookups gave up) is cached in memory per
 * pipeline and counter, at most HR_GOCD_CACHE_MAX runs (the oldest settled
 * run makes room), and dropped when gocd: changes. A run's modifications
 * never change, so nothing expires otherwise; after a restart a run is
 * asked again.
 *
 * GoCD's address is the operator's own (GoCD's server is usually inside):
 * the lookup is not judged by the address guard, and nothing of an event
 * chooses the host (the pipeline's name is percent-encoded into the path,
 * its counter must be digits). No proxy, no redirects, the delivery
 * timeouts, an answer of at most HR_GOCD_ANSWER_MAX bytes. The token is
 * never logged.
 *
 * Threads: the delivery thread only.
 */
#ifndef HR_DELIVER_GOCD_LOOKUP_H
#define HR_DELIVER_GOCD_LOOKUP_H

#include "route/config.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>

#define HR_GOCD_CACHE_MAX 256
#define HR_GOCD_ANSWER_MAX (1024u * 1024u)
/* Modifications kept per run, and the bytes kept of each comment. */
#define HR_GOCD_MAX_MODIFICATIONS 20
#define HR_GOCD_COMMENT_MAX 500

typedef struct hr_gocd_lookup hr_gocd_lookup;

hr_gocd_lookup *hr_gocd_lookup_new(void);
/* Abandons the lookups in flight (their handles leave multi). NULL is fine. */
void hr_gocd_lookup_free(hr_gocd_lookup *l, CURLM *multi);

/*
 * Whether a message about event may be rendered now. True with *mods a new
 * reference to the run's modifications (a JSON array: material, revision,
 * user_name, email_address, comment), or NULL when there is nothing to add
 * (not a GoCD stage, no gocd: API, or the lookups gave up). False when the
 * run is being looked up or waits for its next lookup: the delivery waits.
 * Starts the run's lookup (in multi) when it is due. rnd in [0, 1) is the
 * backoff's jitter.
 */
bool hr_gocd_lookup_ready(hr_gocd_lookup *l, CURLM *multi, const hr_gocd_api *api,
                          const hr_delivery_settings *s, const json_t *event, double rnd,
                          json_t **mods);

/* When easy is one of the lookup's transfers, judges its answer (rc is its
 * result), removes it from multi, frees it and returns true; false when it
 * is not the lookup's. */
bool hr_gocd_lookup_done(hr_gocd_lookup *l, CURLM *multi, CURL *easy, CURLcode rc);

/* The modifications in GoCD's answer to a pipeline instance (body, n
 * bytes), as hr_gocd_lookup_ready gives them (new), or NULL when it is
 * not such an answer. Exposed for tests and the fuzz target. */
json_t *hr_gocd_modifications_parse(const char *body, size_t n);

#endif
