/*
 * event.h - the one model every source maps into.
 *
 * An hr_event is what herald knows about one thing that happened in CI: a
 * GoCD stage was scheduled or completed, an agent changed state (and, later,
 * a Jenkins build changed phase, a package revision was published). Each
 * ingest module turns bytes into an hr_event; the store persists it with its
 * exact raw body; routes and templates read its JSON form.
 *
 * Ownership: an hr_event owns every pointer in it (strings, arrays, json_t
 * references, the raw body). hr_event_free releases all of them and accepts
 * NULL. Strings that the source did not send, or sent as null, are NULL;
 * times that were not sent or sent as "" are HR_TIME_NONE.
 */
#ifndef HR_EVENT_EVENT_H
#define HR_EVENT_EVENT_H

#include "core/json.h"
#include "core/vars.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sources and kinds, as stored and as filtered on in the API. */
#define HR_SOURCE_GOCD "gocd"
#define HR_KIND_STAGE_STATUS "stage-status"
#define HR_KIND_AGENT_STATUS "agent-status"
#define HR_SOURCE_JENKINS "jenkins"
#define HR_KIND_BUILD_STATUS "build-status"
#define HR_SOURCE_PACKAGE "package"
#define HR_KIND_PACKAGE_REVISION "package-revision"
/* herald's own events: a test (POST /api/v1/targets/NAME/test) and a
 * target's health changing. */
#define HR_SOURCE_HERALD "herald"
#define HR_KIND_TEST "test"
#define HR_KIND_TARGET_HEALTH "target-health"

typedef struct hr_job {
    char *name;
    char *state;      /* Scheduled, Assigned, ..., Completed (or as sent) */
    char *result;     /* Passed, Failed, Cancelled, Unknown (or as sent) */
    char *agent_uuid; /* NULL until assigned */
    int64_t scheduled_at, assigned_at, completed_at;
} hr_job;

typedef struct hr_modification {
    char *revision;
    int64_t modified_at;
    json_t *data; /* object as sent (string values, unless warned about); never NULL */
} hr_modification;

typedef struct hr_cause {
    char *material_type; /* git, mercurial, svn, tfs, perforce, pipeline, package, scm, or
                          * a newer GoCD's type, as sent */
    char *fingerprint;   /* v4 only; NULL otherwise */
    char *material;      /* a short description: the URL, "pipeline/stage", or the plugin id */
    json_t *config;      /* object: the material's configuration as GoCD sent it */
    bool changed;
    hr_modification *mods;
    size_t nmods;
} hr_cause;

typedef struct hr_agent {
    char *uuid, *host_name, *ip_address, *operating_system, *free_space;
    /* Known values are stored capitalised; others as sent. */
    char *config_state; /* Pending, Enabled, Disabled */
    char *agent_state;  /* Idle, Building, LostContact, Missing, Cancelled, Unknown */
    char *build_state;  /* Idle, Building, Cancelled, Unknown */
    bool is_elastic;
    int64_t transition_at;
} hr_agent;

/*
 * A CI build's status (source "jenkins" or whatever CI `herald notify`
 * names; kind "build-status"). Jenkins' two plugins and `herald notify`
 * all map here; the event's version says which ("job-status",
 * "notification" or "notify"). Strings the sender did not send are NULL;
 * json_t members are NULL when absent.
 */
typedef struct hr_build {
    char *job_name;      /* the job's full name ("folder/app/main"); never NULL */
    char *job_base_name; /* the last part ("main") */
    char *job_url;
    char *branch;        /* BRANCH_NAME (multibranch) or the SCM branch; NULL when unknown */
    int64_t number;      /* the build number; 0 when not sent */
    char *display_name;  /* the build's display name, such as "#42" */
    char *url;           /* the build's URL */
    char *phase;         /* queued, started, running, completed, finalized */
    char *status;        /* the sender's word, upper case: SUCCESS, UNSTABLE, FAILURE,
                          * NOT_BUILT, ABORTED, COMPLETE; NULL when it sent none (a
                          * running build may have one: a `notify` step after the
                          * result was set) */
    char *result;        /* status in GoCD's words: Passed (SUCCESS), Failed (FAILURE,
                          * UNSTABLE), Cancelled (ABORTED), Unknown (NOT_BUILT,
                          * COMPLETE); NULL while not completed */
    int64_t queue_id;    /* 0 when not sent */
    int64_t started_at;  /* HR_TIME_NONE when not sent */
    int64_t duration_ms; /* -1 when not sent */
    char *scm_url, *scm_branch, *scm_commit;
    json_t *scm_changes;  /* array of strings, or NULL */
    json_t *scm_culprits; /* array of strings, or NULL */
    hr_vars *parameters;  /* name -> value, in the body's order, already redacted; NULL
                           * when not sent */
    json_t *test_summary; /* object {total, failed, skipped, passed, ...}, or NULL */
    json_t *artifacts;    /* object as the Notification plugin sends it, or NULL */
    char *log, *notes;    /* Notification plugin extras */
    char *body;           /* the custom body of a `notify body:` step or --body */
    hr_vars *environment; /* name -> value, in the body's order, already redacted; NULL
                           * when none */
    size_t redacted;      /* how many values redaction replaced */
} hr_build;

/*
 * A package revision published to herald (source "package", kind
 * "package-revision"): what GoCD's package-repository extension answers
 * to latest-revision.
 */
typedef struct hr_package_rev {
    char *repository;
    char *package;
    char *revision;
    int64_t timestamp;                    /* the revision's time (default: when published) */
    char *user, *comment, *trackback_url; /* NULL when not sent */
    json_t *data;                         /* object of string -> string, never NULL */
    bool duplicate;                       /* set by the store: this revision was stored before, from
                                           * the same bytes; the event's id is then the first one's */
} hr_package_rev;

/* What a stage's result means next to the stage's previous completed
 * result. Computed by the store (it needs the previous state). */
typedef enum {
    HR_TRANSITION_NONE = 0,      /* not a stage event */
    HR_TRANSITION_BUILDING,      /* scheduled or re-run, still going */
    HR_TRANSITION_FAILING,       /* still going, a job already failed */
    HR_TRANSITION_PASSED,        /* passed, and it passed last time (or no history) */
    HR_TRANSITION_FIXED,         /* passed after failing */
    HR_TRANSITION_FAILED,        /* failed, with no earlier completed result */
    HR_TRANSITION_BROKEN,        /* failed after passing */
    HR_TRANSITION_STILL_FAILING, /* failed after failing */
    HR_TRANSITION_CANCELLED,     /* cancelled */
    HR_TRANSITION_UNKNOWN,       /* completed with result Unknown */
} hr_transition;

typedef struct hr_event {
    int64_t id;          /* assigned by the store; 0 before */
    int64_t received_at; /* when herald accepted it */
    char *source;        /* HR_SOURCE_* */
    char *kind;          /* HR_KIND_* */
    char *version;       /* the source's protocol version, such as "4.0" */

    /* stage-status */
    char *pipeline_name, *pipeline_counter, *pipeline_label, *pipeline_group;
    char *stage_name, *stage_counter, *stage_state, *stage_result;
    char *approval_type, *approved_by;
    char *previous_stage_name;      /* v4 */
    int64_t previous_stage_counter; /* v4; 0 when none */
    int64_t stage_created_at, stage_transition_at;
    hr_job *jobs;
    size_t njobs;
    hr_cause *causes;
    size_t ncauses;
    hr_transition transition; /* set by the store */

    /* agent-status */
    bool has_agent;
    hr_agent agent;

    /* build-status: Jenkins and other CIs */
    bool has_build;
    hr_build build;

    /* package-revision */
    bool has_package;
    hr_package_rev package;

    /* target-health: herald's own event about a target (docs/events.md):
     * an object {target, change, reason, state, ...}; NULL otherwise. */
    json_t *health;

    /*
     * The sender's name for this delivery of the event (the
     * X-Herald-Request-Id header: the GoCD bridge and herald notify send
     * one, and send it again when they retry). NULL when none. An event
     * whose request id the store has seen before is not stored again:
     * the store sets repeat, and id and transition are the first one's.
     */
    char *request_id;
    bool repeat;
    /* SHA-256 of what the request carried (its body; a GET's query), set
     * with request_id: the same id with another digest is refused
     * (HR_ECONFLICT, HR_REQUEST_ID_REUSED). */
    unsigned char request_digest[32];

    /*
     * What looked wrong in a body herald accepted anyway ("path: expected
     * X; got Y"): a source that never sends twice (GoCD) loses what herald
     * refuses, so only what identifies an event refuses it, and the rest
     * is kept as sent and named here. Empty for a clean body.
     */
    hr_errlist warnings;

    /* the exact bytes received (for Jenkins, after redaction) */
    char *raw;
    size_t raw_len;
    /* Set by whoever maps raw into this event when its document is the
     * mapper's output of raw, version and received_at alone (api/gocd.c):
     * the store then keeps no document and derives it on read
     * (store/event_doc.h). */
    bool doc_from_raw;

    /* A test event (HR_SOURCE_HERALD, HR_KIND_TEST): the one target it is
     * delivered to, whatever the routes say. NULL for every other event. */
    char *test_target;
    /* What the store's prepare hook made on the accepting thread for the
     * router (route/keys.h: order keys); set by the writer while it
     * routes the event, NULL otherwise. Borrowed. */
    const void *route_keys;
} hr_event;

/* How the store's refusal of a reused request id begins. */
#define HR_REQUEST_ID_REUSED "X-Herald-Request-Id was used before for another body"

/* A new, zeroed event with every time HR_TIME_NONE (and build.duration_ms
 * -1). Never NULL. */
hr_event *hr_event_new(void);
void hr_event_free(hr_event *ev);

/* The transition's name as users write it in routes: "building",
 * "passed", "fixed", "failed", "broken", "still_failing", "cancelled",
 * "failing", "unknown"; NULL for HR_TRANSITION_NONE. */
const char *hr_transition_name(hr_transition t);

/* The transition a name gives (hr_transition_name's inverse);
 * HR_TRANSITION_NONE for NULL or a name it does not know. */
hr_transition hr_transition_from_name(const char *name);

/*
 * Decides a stage event's transition from its state and result and the
 * stage's previous completed result (NULL when there is none). Only
 * "Passed" and "Failed" count as a previous completed result.
 */
hr_transition hr_transition_of(const char *state, const char *result, const char *prev_result);

/* Whether a result is one a stage's or job's history keeps ("Passed" or
 * "Failed"): only those change what the next event's transition is. */
bool hr_result_is_completed(const char *result);

/*
 * A CI job's result history, kept per (source, job, branch) by the store as
 * it keeps a stage's last result. Strings are owned (hr_job_history_clear
 * frees them); last_number is the build that set last_result.
 */
typedef struct hr_job_history {
    char *last_result, *prev_result;
    int64_t last_number;
} hr_job_history;

void hr_job_history_clear(hr_job_history *h);

/*
 * The branch a build event's job history is kept per: "" but for `herald
 * notify`, whose jobs are the same job on every branch. Borrowed from ev.
 */
const char *hr_build_history_branch(const hr_event *ev);

/*
 * A CI build's transition from its job's history h, which it then moves
 * forward to what the next build is judged against. Only a completed
 * Passed or Failed changes h. A result re-sent for the same build number
 * (a retry, or two plugins) is judged against the result before that
 * build, so it names the same transition again instead of "still
 * failing". Queued, started and running are "building"; finalized (the
 * Notification plugin's last phase, after completed) has none, so a route
 * fires once per build.
 */
hr_transition hr_build_transition(const hr_build *b, hr_job_history *h);

/* The run an event belongs to, as a new string: "pipeline/counter" for a
 * GoCD stage (every stage of one pipeline run), "job/number" for a build
 * (every phase of one build); NULL for anything else. Deliveries of one
 * run to one target share the run's message (deliver/service.h). */
char *hr_event_run_key(const hr_event *ev);

/*
 * The stored document of ev (event/doc.c): the normalised event
 * (docs/events.md) without "id" and "transition", which the store keeps
 * in columns and adds when it serves the event (store/json.c), and
 * without the raw body. Written in one pass into one buffer, byte for
 * byte what json_dumps(JSON_COMPACT) makes of the same object. New,
 * NUL-terminated, *len its length; NULL when it would be over
 * HR_MAX_EVENT_DOC_BYTES.
 */
char *hr_event_doc(const hr_event *ev, size_t *len);

#endif
