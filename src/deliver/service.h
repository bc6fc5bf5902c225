/*
 * service.h - the services herald delivers to, each behind one table of
 * functions (as curl's lib/vtls/ keeps one file per TLS backend).
 *
 * The delivery engine (deliver.c) owns everything services share: claims,
 * the per-target cap, libcurl, the address guard, retries with backoff,
 * Retry-After, dead letters and the attempt records. A service adds only
 * what is its own: the request it makes from an event (URL, method,
 * headers, body) and what its answers mean. One file each:
 * svc_webhook.c (the raw webhook's answers; its request is rendered by the
 * engine from the target's templates), svc_slack.c, svc_teams.c,
 * svc_discord.c, svc_mattermost.c, svc_google_chat.c, svc_email.c (SMTP:
 * the engine then speaks SMTP with the request's envelope, and the
 * answer's status is the server's last reply code), and the state types
 * svc_github.c, svc_gitlab.c, svc_bitbucket.c and svc_pagerduty.c (what
 * they share: status.h). Their keys in the config are rows of
 * route/config_target.c.
 *
 * A renderer may decline an event that is not for its target (a state
 * target given a build with no commit, or a commit on another host): it
 * sets the request's skip, and the engine records the delivery as
 * skipped, with that reason, without sending anything.
 *
 * The message a run keeps: a service whose keeps_run says so for a target
 * builds on the run's first message. What a delivered answer says about
 * the message (remember: Slack's channel and ts, Discord's id, Google
 * Chat's thread; or what the render knew before sending, req->ref: the
 * e-mail's Message-ID) is stored with the delivery and, for the run's
 * first message, per (target, run) in the store; later deliveries of the
 * run get it back in ctx->run_ref, durably across restarts, and edit that
 * message or answer in its thread. Until the run's first message is
 * known, its later deliveries wait (hr_claim_query.run_order).
 *
 * Every function here is pure: no I/O, no globals, safe on any thread.
 * Nothing a service writes into an error quotes the target's URL.
 */
#ifndef HR_DELIVER_SERVICE_H
#define HR_DELIVER_SERVICE_H

#include "core/error.h"
#include "deliver/deliver.h"
#include "deliver/message.h"
#include "route/config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most a service's reason (its error code and message) takes in an
 * attempt's error. */
#define HR_SVC_REASON_MAX 200

/* What a renderer may need besides the target and the message. */
typedef struct hr_svc_context {
    int64_t delivery_id; /* stable across retries */
    int64_t now_ms;      /* the attempt's time (ms since the epoch) */
    /* The config's people: map (borrowed), for mentions (people.h). */
    const hr_person *people;
    size_t npeople;
    /* E-mail: the recipients, once templates and culprits are rendered
     * (request.c); NULL: the target's to as written. */
    const hr_strlist *to;
    /* What an earlier delivery of the same run remembered about the run's
     * first message to this target (borrowed), or NULL: this delivery
     * makes the run's message. */
    const json_t *run_ref;
    const json_t *event; /* the event as jq sees it (route/jq.h), or NULL */
    /* What this delivery reports on (hr_delivery_job's subject: a commit
     * status's "owner/repo@sha"), or NULL: the event as a whole. */
    const char *subject;
} hr_svc_context;

/* A request a service built. Every member is new (hr_svc_request_clear). */
typedef struct hr_svc_request {
    char *url;
    const char *method;  /* static: "POST", "PATCH", ...; NULL for SMTP */
    char *content_type;  /* HTTP: the body's type */
    char *authorization; /* HTTP: the Authorization header's value, or NULL. Secret. */
    char *body;          /* HTTP: the body; SMTP: the whole message (RFC 5322, CRLF) */
    size_t body_len;
    /* SMTP only (url is smtp:// or smtps://): the envelope. */
    char *mail_from;
    hr_strlist rcpt;
    /* What the service knows about the message before any answer (the
     * e-mail's Message-ID), a JSON object handed to remember; or NULL. */
    json_t *ref;
    hr_strlist headers; /* HTTP: more header lines ("Accept: ..."), not secret */
    /* Instead of all of the above: why the event is not for this target
     * (the delivery is skipped, not sent), or NULL. */
    char *skip;
} hr_svc_request;

void hr_svc_request_clear(hr_svc_request *r);

/* An answer, as the engine read it (all borrowed). */
typedef struct hr_svc_answer {
    long status;      /* HTTP status */
    const char *body; /* its first bytes (delivery.max_response_bytes), not NUL-terminated */
    size_t body_len;
    int64_t retry_after_ms; /* Retry-After, or -1 */
    int64_t reset_after_ms; /* X-RateLimit-Reset-After (Discord), or -1 */
    int64_t reset_at_ms; /* X-RateLimit-Reset (GitHub: epoch seconds) as a wait from now, or -1 */
} hr_svc_answer;

/* What a service makes of an answer. */
typedef struct hr_svc_verdict {
    hr_outcome outcome;
    int64_t wait_ms; /* RETRY: the wait the service asks for, or -1 for the engine's backoff */
    char error[HR_SVC_REASON_MAX + 64]; /* "" when delivered; never a secret */
} hr_svc_verdict;

typedef struct hr_service {
    const char *name; /* the type's name in the config */
    /* Builds the request for message m to target t (both borrowed). NULL
     * for the webhook, which the engine renders from its templates. On
     * failure returns HR_EINVAL with a message that quotes no URL. */
    int (*render)(const hr_target *t, const hr_message *m, const hr_svc_context *ctx,
                  hr_svc_request *req, hr_error *err);
    /* Judges an answer. */
    void (*classify)(const hr_svc_answer *a, hr_svc_verdict *v);
    /* What a delivered answer a says about the message it made or
     * changed, with what the render kept (sent: req->ref, or NULL), as a
     * new JSON object, or NULL for nothing worth keeping. NULL: sent is
     * kept as it is. */
    json_t *(*remember)(const hr_svc_answer *a, const json_t *sent);
    /* Whether deliveries of one run to t build on the run's first message
     * (and so wait for it). NULL: never. */
    bool (*keeps_run)(const hr_target *t);
} hr_service;

/* The service of a target type (never NULL for a valid type). */
const hr_service *hr_service_of(hr_target_type type);

/* Whether t's deliveries of one run build on the run's first message
 * (its service's keeps_run). */
bool hr_service_keeps_run(const hr_target *t);

extern const hr_service hr_svc_webhook, hr_svc_slack, hr_svc_teams, hr_svc_discord,
    hr_svc_mattermost, hr_svc_google_chat, hr_svc_email, hr_svc_github, hr_svc_gitlab,
    hr_svc_bitbucket, hr_svc_pagerduty;

/* ---- Shared by the services (hr__svc: not for the engine) ------------- */

/*
 * HTTP's own meaning, which every service starts from: 2xx delivers; 408,
 * 429 and 5xx retry (429 and 503 after Retry-After when given); 3xx is
 * dead (redirects are not followed); any other status is dead. reason, when
 * not NULL or empty, is added to the error: "HTTP 404: channel_not_found".
 */
void hr__svc_classify_http(const hr_svc_answer *a, const char *reason, hr_svc_verdict *v);

/* The URL to send to: t->url, or with t->api_url set, api_url's scheme,
 * host and port (and path, with one '/' between) before url's path and
 * query. extra_query, when not NULL, is appended with '?' or '&'. New. */
char *hr__svc_url(const hr_target *t, const char *extra_query);

/* body as compact JSON, UTF-8 as is, into req (body stolen and freed). */
void hr__svc_json_body(hr_svc_request *req, json_t *body);

/* The answer's body parsed as JSON, or NULL (new). */
json_t *hr__svc_answer_json(const hr_svc_answer *a);

/* The string at key in ref (a run's message, borrowed), or NULL. */
const char *hr__svc_ref(const json_t *ref, const char *key);

/* Copies (p, n) into out as one printable line of at most size - 1 bytes
 * (control characters become spaces; a cut UTF-8 sequence is dropped). */
void hr__svc_reason(const char *p, size_t n, char *out, size_t size);

/* s with &, < and > (and with quotes, ") written as HTML entities: what
 * Slack's mrkdwn and Google Chat's card HTML need. New. */
char *hr__svc_escape(const char *s, bool quotes);

/* The message's committers, each as mention(person) writes them when
 * people: gives them a handle there (mention returns NULL when it gives
 * none), else as plain(their name) writes it (both return new strings),
 * joined by ", " (new). NULL when the message names no committers. */
char *hr__svc_committers(const hr_svc_context *ctx, const hr_message *m,
                         char *(*mention)(const hr_person *p), char *(*plain)(const char *name));

/* The reason "first: second" (either may be NULL; "" when both are) as
 * hr__svc_reason writes it. For services whose errors carry a code and a
 * message. */
void hr__svc_reason_pair(const char *first, const char *second, char *out, size_t size);

#endif
