/*
 * config.h - herald's configuration file (YAML), loaded into plain structs.
 *
 * The file names targets (where events go), routes (which events go where)
 * and delivery settings. ${VAR} anywhere in a scalar is replaced by the
 * environment variable VAR (an unset variable is an error naming it;
 * "$${" writes a literal "${"). Every problem is reported with its line and
 * column, as "FILE:LINE:COL: message", and loading collects all of them.
 *
 * Ownership: hr_config owns everything in it; hr_config_free accepts NULL.
 * A loaded config is immutable and may be read from any thread.
 *
 * Example: examples/herald.yaml documents every key.
 */
#ifndef HR_ROUTE_CONFIG_H
#define HR_ROUTE_CONFIG_H

#include "core/json.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds on the configuration file: its size, how deeply its mappings
 * and lists may nest, how many targets and routes it may define, and how
 * many items one list (or one target's headers) may hold. Anchors and
 * aliases are refused, so what is read is never larger than the file. */
#define HR_CONFIG_MAX_BYTES (1024u * 1024u)
#define HR_CONFIG_MAX_DEPTH 32
#define HR_CONFIG_MAX_TARGETS 1000
#define HR_CONFIG_MAX_ROUTES 1000
#define HR_CONFIG_MAX_ITEMS 1000

typedef struct hr_header {
    char *name;
    char *value; /* may hold {{ jq }} interpolations */
    bool secret; /* masked in every log line, error and API answer */
} hr_header;

typedef struct hr_strlist {
    char **items;
    size_t n;
} hr_strlist;

/* The recipient that stands for the build's committers. */
#define HR_RECIPIENT_CULPRITS "culprits"

/* What a target is: a raw webhook (the default) or a service herald knows
 * (deliver/service.h renders its messages and reads its answers). Each
 * type's keys are rows of one table (route/config_target.c). */
typedef enum hr_target_type {
    HR_TARGET_WEBHOOK = 0,
    HR_TARGET_SLACK,
    HR_TARGET_TEAMS,
    HR_TARGET_DISCORD,
    HR_TARGET_MATTERMOST,
    HR_TARGET_GOOGLE_CHAT,
    HR_TARGET_EMAIL,
    /* The state types: a commit status per build, an incident per stage
     * or job (deliver/status.h). */
    HR_TARGET_GITHUB,
    HR_TARGET_GITLAB,
    HR_TARGET_BITBUCKET,
    HR_TARGET_PAGERDUTY,
    HR_TARGET_NTYPES
} hr_target_type;

/* The type's name as the file writes it ("webhook", "google-chat"). */
const char *hr_target_type_name(hr_target_type type);

/* Whether the type reports a state (GitHub, GitLab, Bitbucket, PagerDuty)
 * rather than posting a message. */
bool hr_target_type_is_state(hr_target_type type);

struct hr_target;
/* Fills a state type's defaults that the file left out (route/target_state.c):
 * context (one per GoCD pipeline and stage, or per CI job), severity, and
 * the order of its deliveries: order_by its commit and context, the latest
 * winning. Any other type is left as it is. */
void hr_target_state_defaults(struct hr_target *t);

/* A target's rate limit: at most count requests per per_ms milliseconds,
 * with bursts of up to burst at once (a token bucket). count 0: no limit.
 * Written "5/s", "30/min" or "1000/h", with " burst N" after it; a type
 * with a documented limit (Slack, Discord, Google Chat) has it as its
 * default (route/config_target.c). */
typedef struct hr_rate_limit {
    int64_t count;
    int64_t per_ms;
    int64_t burst;
} hr_rate_limit;

/* The limit as the file writes it ("5/s burst 10"), or "off". */
const char *hr_rate_limit_format(const hr_rate_limit *r, char *buf, size_t size);

/* A target's circuit breaker and disabling (circuit: under delivery, for
 * every target, and in a target, for its own; route/config_health.c). A
 * target's keys override delivery's one by one (set says which it wrote). */
#define HR_CIRCUIT_FAILURES 1u
#define HR_CIRCUIT_PROBE_INITIAL 2u
#define HR_CIRCUIT_PROBE_MAX 4u
#define HR_CIRCUIT_DISABLE_AFTER 8u
typedef struct hr_circuit_settings {
    int failures;             /* in a row, to open the circuit; default 10; 0: never opens */
    int64_t probe_initial_ms; /* the first wait before a probe; default 30 s */
    int64_t probe_max_ms;     /* the longest wait between probes; default 10 min */
    int64_t disable_after_ms; /* failing this long disables; default 3 days; 0: never */
    unsigned set;             /* HR_CIRCUIT_* bits of the keys written */
} hr_circuit_settings;

typedef struct hr_target {
    char *name; /* unique; [A-Za-z0-9_.-]+ */
    hr_target_type type;
    /* webhook: http:// or https://, may hold {{ jq }} interpolations. The
     * other types: the service's URL, literal, and secret as a whole (an
     * incoming-webhook URL is its own credential). */
    char *url;
    char *method; /* GET, POST, PUT or DELETE (default POST) */
    hr_header *headers;
    size_t nheaders;
    char *body;        /* a jq program whose output is the body; NULL: the default body */
    bool body_for_get; /* send a body with GET and DELETE too (default false) */
    /* Standard Webhooks secrets, one signature each (rotation); none:
     * unsigned. Secret. */
    hr_strlist signing_secrets;
    hr_rate_limit rate_limit; /* the file's, or the type's default */
    bool from_gocd;           /* made from GoCD's plugin settings, not the file */
    /* The service types' keys; NULL when not set. */
    char *api_url;  /* replaces the scheme, host and port of url (a proxy, a local server) */
    char *channel;  /* Mattermost, Slack with a token: the channel to post in */
    char *token;    /* Slack: a bot token (xoxb-...) used instead of url; the state types:
                     * the API token (PagerDuty: the routing key). Secret. */
    char *username; /* Mattermost, Discord: the name the message is posted as; e-mail: the login */
    char *icon_url; /* Mattermost, Discord: the avatar the message is posted with */
    /* One message per run (deliver/service.h): Slack with a token edits
     * the run's first message (chat.update) unless thread is set, which
     * answers in its thread instead; Discord edits it when edit is set. */
    bool thread;
    bool edit;
    /* Every type but webhook: jq programs whose first output (a string)
     * replaces the message's title, or adds a paragraph of text under it;
     * NULL: herald's own title, no text. */
    char *title;
    char *text;
    /* E-mail (SMTP): url is the server, smtp:// or smtps://. */
    bool starttls;  /* smtp://: refuse to send unless STARTTLS works (default true) */
    char *password; /* Secret. */
    char *from;     /* the sender's address */
    /* The recipients (at least one): each an address, a template whose
     * output is one ({{ jq }}), or HR_RECIPIENT_CULPRITS. */
    hr_strlist to;
    char *subject; /* a template for the subject line; NULL: herald's own */
    /* The state types (GitHub, GitLab, Bitbucket, PagerDuty). */
    char *host;       /* the git host whose commits it reports; NULL: from api_url or the service */
    char *repository; /* the git material (owner/repo or its URL) a GoCD stage reports; NULL: any */
    char *context;    /* template: GitHub's context, GitLab's name, Bitbucket's key,
                       * PagerDuty's dedup_key (route/target_state.c sets the default) */
    char *summary;    /* PagerDuty: template of the incident's summary; NULL: the title */
    char *severity;   /* PagerDuty: critical, error, warning or info (default error) */
    /* Ordered delivery (every type): a template whose text is the
     * delivery's order key, rendered once when the delivery is created (the state types default
     * to their commit and context, route/target_state.c);
     * deliveries with the same target and key are sent one at a time, in
     * the order their events were accepted. NULL: unordered. */
    char *order_by;
    /* With order_by: a delivery still waiting when a newer one with the
     * same key exists is superseded, never sent (a state, not a message). */
    int latest_wins;
    hr_circuit_settings circuit; /* only the keys the target wrote */
} hr_target;

typedef struct hr_route {
    char *name;
    /* Each list matches when empty or when any item matches. Globs (fnmatch
     * syntax) for group, pipeline and stage; exact words for the rest. */
    hr_strlist sources, kinds, groups, pipelines, stages, states, results;
    /* building, passed, failed, cancelled, broken, fixed, still_failing,
     * failing, unknown, any. "failed" matches broken and still_failing too. */
    hr_strlist transitions;
    char *filter;       /* optional jq program; the event matches when it yields true */
    hr_strlist targets; /* names of targets; each must exist */
} hr_route;

typedef struct hr_delivery_settings {
    int max_attempts;            /* default 10; 1..100 */
    int64_t backoff_initial_ms;  /* default 10 s */
    int64_t backoff_max_ms;      /* default 1 h */
    int64_t connect_timeout_ms;  /* default 5 s */
    int64_t timeout_ms;          /* default 15 s, whole request */
    size_t max_response_bytes;   /* of an answer kept as an excerpt; default 4096 */
    int connections_per_host;    /* default 4 */
    int max_in_flight;           /* whole process; default 64 */
    char *proxy;                 /* NULL: no proxy (environment proxies are ignored too) */
    hr_strlist allow;            /* CIDRs or host names delivery may reach despite the guard */
    hr_circuit_settings circuit; /* every target's, unless it writes its own */
} hr_delivery_settings;

/* Jenkins' plugins and other CIs (the jenkins: section). */
typedef struct hr_jenkins_settings {
    char *token;       /* needed by /jenkins/ and /ci/ endpoints; NULL: none. Secret. */
    char *tcp, *udp;   /* "HOST:PORT" listeners for the Notification plugin; NULL: off */
    bool redact_set;   /* redact was given (it replaces the default patterns) */
    hr_strlist redact; /* variable name globs whose values are hidden */
    hr_strlist keep;   /* allow-list of variable name globs; empty: keep all */
} hr_jenkins_settings;

typedef struct hr_package_decl {
    char *name;
    char *token; /* publish token; NULL: the repository's. Secret. */
} hr_package_decl;

typedef struct hr_repository_decl {
    char *name;
    char *token; /* publish token; NULL: packages.token. Secret. */
    hr_package_decl *packages;
    size_t npackages;
} hr_repository_decl;

/* Package revisions published to herald (the packages: section). */
typedef struct hr_packages_settings {
    char *token; /* publish token for every package without its own; NULL: none. Secret. */
    bool create; /* publishing creates unknown repositories and packages (default true) */
    hr_repository_decl *repositories;
    size_t nrepositories;
} hr_packages_settings;

/* How long herald keeps what it stored (the retention: section). 0 keeps
 * it forever. */
typedef struct hr_retention_settings {
    int64_t events_ms;   /* events, once every delivery is final; default 90 days */
    int64_t attempts_ms; /* attempt records; default 30 days */
    int64_t interval_ms; /* time between prunes; default 10 minutes */
} hr_retention_settings;

/* GoCD's API, asked for a pipeline run's modifications (who committed
 * what) before a message is rendered (the gocd: section,
 * route/config_people.c; deliver/gocd_lookup.h). */
typedef struct hr_gocd_api {
    char *api_url; /* http(s)://host[:port][/path] GoCD answers /go/api/ under; NULL: no lookups */
    char *token;   /* an access token (Authorization: Bearer), or NULL. Secret. */
    int attempts;  /* lookups of one run before its messages go out without (default 3) */
} hr_gocd_api;

/* One entry of the people: map: a committer (a glob on the e-mail
 * address or the name, case-insensitive) and the handle each service
 * mentions them by (NULL: not mentioned there). */
typedef struct hr_person {
    char *match;
    char *name;       /* the name a Teams mention shows; NULL: the committer's */
    char *slack;      /* a member id: U0123ABCD */
    char *teams;      /* the user's principal name (an address) */
    char *discord;    /* a user id (digits) */
    char *mattermost; /* a user name, without @ */
    char *email;      /* where mail to the culprits goes */
} hr_person;

typedef struct hr_config {
    char *path; /* NULL when built in code */
    hr_target *targets;
    size_t ntargets;
    hr_route *routes;
    size_t nroutes;
    hr_delivery_settings delivery;
    hr_jenkins_settings jenkins;
    hr_packages_settings packages;
    hr_retention_settings retention;
    /* Why GoCD's stored plugin settings were set aside (this herald does
     * not accept what an older one stored), or NULL. Never names a value. */
    char *gocd_set_aside;
    hr_gocd_api gocd;
    hr_person *people; /* in the file's order: the first entry that matches wins */
    size_t npeople;
    /* store: a PostgreSQL connection URI (it may hold a password: never
     * logged, never in hr_config_to_json), or NULL for the data folder.
     * herald serve --store and --data win over it; a reload does not
     * change the store herald started with. */
    char *store;
} hr_config;

/* A config with no targets or routes and every delivery default. */
hr_config *hr_config_new_default(void);

/*
 * Loads and checks path. On success *out is new. On failure returns
 * HR_EINVAL (HR_EIO when the file cannot be read, HR_ETOOBIG when it is
 * over HR_CONFIG_MAX_BYTES) and errs (may be NULL) holds every problem as
 * "PATH:LINE:COL: message" ("PATH: message" when there is no position).
 * No message ever shows a URL, a secret header's value or a signing
 * secret. An empty file is a valid config with every default. Checks
 * include: YAML syntax, anchors and aliases (refused), unknown keys,
 * wrong types, URL scheme and host, methods, header names (RFC 7230
 * tokens), target names unique, routes naming only known targets, jq
 * programs that do not compile (with jq's message), CIDRs, durations
 * ("500ms", "10s", "2m", "1h" or a number of seconds; retention's also
 * "90d" and "forever"), sizes, the
 * HR_CONFIG_MAX_* bounds, and the names GoCD's settings use (reserved).
 */
int hr_config_load(const char *path, hr_config **out, hr_errlist *errs);
/* The same from a buffer (for tests and the fuzz target); name is used in
 * messages instead of a path, and becomes (*out)->path. text is borrowed
 * and need not end with a NUL. */
int hr_config_parse(const char *name, const char *text, size_t len, hr_config **out,
                    hr_errlist *errs);
void hr_config_free(hr_config *c);

/* The declared repository and package (either may be NULL when not
 * declared; *pkg is NULL whenever *repo is). */
void hr_config_package(const hr_config *c, const char *repository, const char *package,
                       const hr_repository_decl **repo, const hr_package_decl **pkg);

/* The token that publishing to repository/package needs (package's, else
 * the repository's, else packages.token), or NULL when none. Borrowed. */
const char *hr_config_publish_token(const hr_config *c, const char *repository,
                                    const char *package);

/* Finds a target by name, or NULL (borrowed from c). */
const hr_target *hr_config_target(const hr_config *c, const char *name);

/* Whether a header of this name is secret whatever the file says
 * (Authorization, Proxy-Authorization, Cookie): a target's is marked
 * secret when loaded, and a recorded request masks herald's own. */
bool hr_config_header_always_secret(const char *name);

/* The circuit settings target t works under: its own keys, delivery's for
 * the rest (t may be NULL: delivery's). */
void hr_config_circuit(const hr_config *c, const hr_target *t, hr_circuit_settings *out);

/*
 * Adds the webhook target and route that GoCD's plugin settings describe
 * (keys of ingest/gocd_settings.h: webhook_url, webhook_method,
 * webhook_headers, webhook_body, notify_on), named "gocd-settings", unless
 * webhook_url is empty. settings is borrowed: the flat object that
 * hr_gocd_settings_changed returns (a missing key or null counts as "";
 * NULL settings count as none).
 *
 * The target has from_gocd set and every header secret (GoCD keeps that
 * field encrypted); webhook_body, when not empty, is its jq body program.
 * No ${VAR} substitution: the settings come from GoCD's users, not from
 * herald's operator. Routes: notify_on "any" or empty gives one route
 * "gocd-settings" for every GoCD event (source gocd); transition words
 * give "gocd-settings" with kind stage-status and those transitions;
 * "agent" gives kind agent-status, in "gocd-settings" when it is the only
 * word and in a second route "gocd-settings-agent" otherwise (the lists
 * of one route must all match, and agent events have no transition).
 *
 * What an earlier call added is replaced (or removed, when webhook_url is
 * empty); the file cannot use these names. Returns HR_EINVAL with errs
 * (may be NULL; messages start "GoCD plugin settings: ") when the settings
 * are invalid; c is then unchanged. Call it before sharing c between
 * threads.
 */
int hr_config_add_gocd_settings(hr_config *c, const json_t *settings, hr_errlist *errs);

/*
 * Checks GoCD's plugin settings as hr_config_add_gocd_settings would
 * apply them, without applying them: a new array [{"key", "message"}],
 * empty when they would be applied, else one entry (the first problem)
 * per key that has one ("webhook_headers line 2: ..." is key
 * webhook_headers with message "line 2: ..."). For the settings page's
 * validate-configuration, so that what the page accepts is never refused
 * when it is applied. settings is borrowed, as above.
 */
json_t *hr_config_check_gocd_settings(const json_t *settings);

/* A new JSON description of the config for the API and check-config:
 * {"path", "delivery": {... durations as *_ms}, "targets": [{"headers":
 * {name: value}, ...}], "routes": [{"match": {"source": [...], ...}, ...}],
 * "jenkins", "packages", "retention": {"events_ms", "attempts_ms",
 * "interval_ms"} (0: forever)},
 * with every secret header value, signing secret and URL password shown
 * as "******". */
json_t *hr_config_to_json(const hr_config *c);

#endif
