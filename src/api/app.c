#include "api/app.h"

#include "core/jscan.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timefmt.h"
#include "ingest/redact.h"
#include "route/keys.h"
#include "route/route.h"
#include "store/json.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The first prune comes this long after the start (or after one interval,
 * when that is shorter), so a herald that restarts often still prunes and
 * one that just started is not busy pruning. */
#define FIRST_PRUNE_MS (60 * 1000)

struct hr_app {
    char *config_path;
    hr_store *store;
    hr_deliver *deliver;  /* set by hr_app_run, cleared by hr_app_stop; guarded by lock */
    pthread_mutex_t lock; /* guards configs, nconfigs, current, deliver */
    hr_config **configs;  /* every configuration loaded, freed at stop */
    hr_redact **redacts;  /* each configuration's redactor (jenkins.redact, keep) */
    size_t nconfigs;
    hr_config *current;
    hr_redact *current_redact;
    json_t *gocd_info; /* guarded by lock; NULL until the bridge posts it */
    /* The pruner thread: sleeps on prune_wake (with lock) until the next
     * prune is due, a reload changes the interval, or stopping is set. */
    pthread_cond_t prune_wake; /* on CLOCK_MONOTONIC */
    pthread_t pruner;
    int pruner_running;
    int stopping; /* guarded by lock */
};

/* The router as the writer uses it: owned by the store once installed. */
typedef struct router_ctx {
    hr_router *router;
    int needs_input; /* hr_router_needs_input */
    hr_match matches[HR_MAX_TARGETS_PER_EVENT];
} router_ctx;

static void router_free(void *arg)
{
    router_ctx *rc = arg;
    hr_router_free(rc->router);
    free(rc);
}

/* The event as jq sees it, built only when a filter needs it. */
static json_t *jq_input(const hr_event *ev, const char *doc, size_t doc_len)
{
    json_t *in = json_loadb(doc, doc_len, 0, NULL);
    if (in == NULL)
        in = json_object();
    json_object_set_new(in, "id", json_integer((json_int_t)ev->id));
    const char *t = hr_transition_name(ev->transition);
    json_object_set_new(in, "transition", t ? json_string(t) : json_null());
    json_t *raw = ev->raw ? json_loadb(ev->raw, ev->raw_len, JSON_DECODE_ANY, NULL) : NULL;
    json_object_set_new(in, "raw", raw ? raw : json_null());
    return in;
}

static size_t route_event(void *arg, const hr_event *ev, const char *doc, size_t doc_len,
                          hr_store_route *out, size_t max)
{
    router_ctx *rc = arg;
    /* Not parsed at all when the keys came rendered with the event. */
    json_t *input = rc->needs_input && hr_router_needs_input_for(rc->router, ev)
                        ? jq_input(ev, doc, doc_len)
                        : NULL;
    size_t n = 0;
    if (max > HR_MAX_TARGETS_PER_EVENT)
        max = HR_MAX_TARGETS_PER_EVENT;
    hr_router_match(rc->router, ev, input, rc->matches, max, &n);
    for (size_t i = 0; i < n; i++) {
        out[i].route = rc->matches[i].route;
        out[i].target = rc->matches[i].target;
        out[i].order_key = rc->matches[i].key;
        out[i].latest_wins = rc->matches[i].latest_wins;
        out[i].subject = rc->matches[i].subject;
    }
    json_decref(input);
    return n;
}

static void unclaim(void *ctx, int64_t id, int64_t claim_token)
{
    hr_app *app = ctx;
    hr_error err;
    if (hr_store_unclaim(app->store, id, claim_token, &err) != HR_OK)
        hr_log_debug("deliver", "delivery %lld stays claimed until its lease ends: %s",
                     (long long)id, err.msg);
}

static int claim(void *ctx, const hr_claim_query *q, hr_delivery_job **jobs, size_t *n,
                 hr_error *err)
{
    hr_app *app = ctx;
    int rc = hr_store_claim_due(app->store, q, jobs, n, err);
    if (rc != HR_OK || *n == 0)
        return rc;
    /* Templates reach GoCD's site URL as .gocd.site_url; a no_raw claim's
     * jobs have no input (no template reads the event). */
    if (q->no_raw)
        return rc;
    pthread_mutex_lock(&app->lock);
    json_t *info = app->gocd_info ? json_deep_copy(app->gocd_info) : json_null();
    pthread_mutex_unlock(&app->lock);
    for (size_t i = 0; i < *n; i++)
        json_object_set((*jobs)[i].input, "gocd", info);
    json_decref(info);
    return rc;
}

void hr_app_set_gocd_info(hr_app *app, const json_t *info)
{
    json_t *copy = json_deep_copy(info);
    pthread_mutex_lock(&app->lock);
    json_decref(app->gocd_info);
    app->gocd_info = copy;
    pthread_mutex_unlock(&app->lock);
}

static void record(void *ctx, const hr_attempt *a, void (*done)(void *arg, int status), void *arg)
{
    static const char *const names[] = {"delivered", "retry", "dead", "skipped"};
    hr_app *app = ctx;
    /* A superseded delivery was never attempted (deliver/order.c counts it). */
    if ((unsigned)a->outcome < 3)
        hr_metrics_attempt(names[a->outcome], a->latency_ms);
    hr_store_record_attempt(app->store, a, done, arg);
}

static int health(void *ctx, hr_target_health **list, size_t *n, hr_error *err)
{
    hr_app *app = ctx;
    return hr_store_list_health(app->store, list, n, err);
}

static void notify(void *ctx)
{
    hr_app *app = ctx;
    hr_deliver_wake(app->deliver);
}

/* The redactor the configuration's jenkins section describes. */
static int build_redact(const hr_config *c, hr_redact **out, hr_errlist *errs)
{
    const hr_jenkins_settings *j = &c->jenkins;
    hr_error err;
    int rc = hr_redact_new(j->redact_set ? (const char *const *)j->redact.items : NULL, j->redact.n,
                           (const char *const *)j->keep.items, j->keep.n, out, &err);
    if (rc != HR_OK)
        hr_errlist_add(errs, "jenkins: %s", err.msg);
    return rc;
}

/* Adds GoCD's stored plugin settings to c. Settings this herald refuses
 * (an older herald accepted them, or a rule grew stricter) must not keep
 * herald from starting, which would lose every event the other sources
 * send: they are set aside instead, kept in the store as they are, and
 * the problem is logged and shown in GoCD's health messages until
 * someone saves the settings page again. */
static void set_aside_refused(hr_config *c, const json_t *settings)
{
    hr_errlist why = HR_ERRLIST_INIT;
    char msg[1024];
    size_t at = 0;

    if (hr_config_add_gocd_settings(c, settings, &why) == HR_OK) {
        hr_errlist_clear(&why);
        return;
    }
    hr_config_add_gocd_settings(c, NULL, NULL);
    msg[0] = '\0';
    for (size_t i = 0; i < why.n; i++) {
        int n = snprintf(msg + at, sizeof(msg) - at, "%s%s", i > 0 ? "; " : "", why.msgs[i]);
        if (n < 0 || (size_t)n >= sizeof(msg) - at)
            break;
        at += (size_t)n;
    }
    hr_errlist_clear(&why);
    hr_log_error("config",
                 "GoCD's stored plugin settings are set aside, and no GoCD webhook target is "
                 "configured until they are saved again on GoCD's plugin settings page: %s",
                 msg);
    free(c->gocd_set_aside);
    c->gocd_set_aside = hr_strdup(msg);
}

/* Builds the configuration: the file (when there is one) plus GoCD's
 * plugin settings. */
static int build_config(hr_app *app, hr_config **out, hr_errlist *errs)
{
    hr_config *c = NULL;
    json_t *settings = NULL;
    hr_error err;
    int rc;

    if (app->config_path != NULL)
        rc = hr_config_load(app->config_path, &c, errs);
    else
        rc = (c = hr_config_new_default()) != NULL ? HR_OK : HR_ENOMEM;
    if (rc != HR_OK)
        return rc;
    rc = hr_store_get_settings(app->store, &settings, &err);
    if (rc != HR_OK) {
        hr_errlist_add(errs, "cannot read GoCD's plugin settings: %s", err.msg);
        hr_config_free(c);
        return rc;
    }
    set_aside_refused(c, settings);
    json_decref(settings);
    *out = c;
    return HR_OK;
}

/* The plan exists only when some target has a plain order_by, so the
 * document is read back into a tree (core/jscan.h's builder) only then. */
static void *prepare_keys(void *plan, const hr_event *ev, const char *doc, size_t doc_len)
{
    json_t *tree = NULL;
    hr_route_keys *keys = NULL;
    hr_error err;
    (void)ev;
    if (hr_jscan_load(doc, doc_len, &tree, &err) == HR_OK) {
        keys = hr_key_plan_render(plan, tree);
        json_decref(tree);
    }
    return keys;
}

static void free_keys(void *keys)
{
    hr_route_keys_free(keys);
}

static void free_plan(void *plan)
{
    hr_key_plan_free(plan);
}

/* Builds a router over c and hands it to the store. */
static int install(hr_app *app, hr_config *c, hr_errlist *errs)
{
    router_ctx *rc = hr_calloc(1, sizeof(*rc));
    hr_error err;
    if (hr_router_new(c, &rc->router, &err) != HR_OK) {
        hr_errlist_add(errs, "%s", err.msg);
        free(rc);
        return HR_EINVAL;
    }
    rc->needs_input = hr_router_needs_input(rc->router);
    hr_store_set_router(app->store, route_event, rc, router_free);
    /* Order keys that read only the stored document are rendered on the
     * accepting thread (route/keys.h); the writer only binds them. */
    hr_key_plan *plan = hr_key_plan_new(c);
    hr_store_set_prepare(app->store, plan != NULL ? prepare_keys : NULL, free_keys, plan,
                         free_plan);
    return HR_OK;
}

static void keep(hr_app *app, hr_config *c, hr_redact *r)
{
    pthread_mutex_lock(&app->lock);
    app->configs = hr_realloc(app->configs, (app->nconfigs + 1) * sizeof(*app->configs));
    app->redacts = hr_realloc(app->redacts, (app->nconfigs + 1) * sizeof(*app->redacts));
    app->configs[app->nconfigs] = c;
    app->redacts[app->nconfigs++] = r;
    app->current = c;
    app->current_redact = r;
    pthread_cond_signal(&app->prune_wake); /* the interval may have changed */
    pthread_mutex_unlock(&app->lock);
}

/* A retention age as the configuration would write it: 90d, 12h, 30m,
 * 10s or 1500ms. */
static const char *age(int64_t ms, char *buf, size_t size)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (ms % units[i].ms == 0 || units[i].ms == 1) {
            snprintf(buf, size, "%" PRId64 "%s", ms / units[i].ms, units[i].unit);
            break;
        }
    }
    return buf;
}

static int prune_stop(void *ctx)
{
    hr_app *app = ctx;
    pthread_mutex_lock(&app->lock);
    int stop = app->stopping;
    pthread_mutex_unlock(&app->lock);
    return stop;
}

/* One prune by the retention settings r; logs a line when it deleted
 * something. A store that is draining (herald stopping) ends it quietly. */
static void prune_once(hr_app *app, const hr_retention_settings *r)
{
    hr_prune_policy policy = {.events_ms = r->events_ms,
                              .attempts_ms = r->attempts_ms,
                              .stop = prune_stop,
                              .stop_ctx = app,
                              /* Kept while this instance lives and prunes. */
                              .lead_ms = 2 * r->interval_ms + 60000};
    hr_prune_result res;
    hr_error err;
    char ev_age[32], at_age[32];
    int rc = hr_store_prune(app->store, &policy, &res, &err);

    hr_metrics_pruned(res.events, res.deliveries, res.attempts);
    if (res.chunks > 0)
        hr_metrics_store_size(res.db_bytes, res.free_bytes);
    if (res.events > 0 || res.deliveries > 0 || res.attempts > 0)
        hr_log_info("app",
                    "pruned %zu events, %zu deliveries (events older than %s) and %zu attempts "
                    "(older than %s) in %" PRId64 " ms",
                    res.events, res.deliveries,
                    r->events_ms > 0 ? age(r->events_ms, ev_age, sizeof(ev_age)) : "forever",
                    res.attempts,
                    r->attempts_ms > 0 ? age(r->attempts_ms, at_age, sizeof(at_age)) : "forever",
                    res.elapsed_ms);
    if (rc != HR_OK && rc != HR_ECLOSED)
        hr_log_warn("app", "retention: %s (tried again in one interval)", err.msg);
}

static int64_t mono_ms(void)
{
    return hr_time_mono_us() / 1000;
}

/* The pruner thread: prunes by the current configuration's retention,
 * every interval, until hr_app_stop. */
static void *prune_main(void *arg)
{
    hr_app *app = arg;
    int64_t next = mono_ms() + FIRST_PRUNE_MS;

    pthread_mutex_lock(&app->lock);
    if (app->current->retention.interval_ms < FIRST_PRUNE_MS)
        next = mono_ms() + app->current->retention.interval_ms;
    while (!app->stopping) {
        int64_t now = mono_ms();
        if (now < next) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t wait_ms = next - now;
            ts.tv_sec += (time_t)(wait_ms / 1000);
            ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&app->prune_wake, &app->lock, &ts);
            continue;
        }
        hr_retention_settings r = app->current->retention;
        pthread_mutex_unlock(&app->lock);
        prune_once(app, &r);
        pthread_mutex_lock(&app->lock);
        /* The next prune is one interval after this one ended, by the
         * configuration in use then (a reload wakes the wait above, but
         * the time of the next prune stays as set here). */
        next = mono_ms() + app->current->retention.interval_ms;
    }
    pthread_mutex_unlock(&app->lock);
    return NULL;
}

void hr_app_current(hr_app *app, const hr_config **c, const hr_redact **r)
{
    pthread_mutex_lock(&app->lock);
    if (c != NULL)
        *c = app->current;
    if (r != NULL)
        *r = app->current_redact;
    pthread_mutex_unlock(&app->lock);
}

int hr_app_start(const char *config_path, hr_store *store, hr_app **out, hr_errlist *errs)
{
    hr_app *app = hr_calloc(1, sizeof(*app));
    hr_config *c = NULL;
    hr_redact *r = NULL;
    int rc;

    pthread_mutex_init(&app->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&app->prune_wake, &ca);
    pthread_condattr_destroy(&ca);
    app->config_path = hr_strdup(config_path);
    app->store = store;
    rc = build_config(app, &c, errs);
    if (rc == HR_OK)
        rc = build_redact(c, &r, errs);
    if (rc == HR_OK)
        rc = install(app, c, errs);
    if (rc != HR_OK) {
        hr_config_free(c);
        hr_redact_free(r);
        goto fail;
    }
    keep(app, c, r);
    hr_log_info("app", "%zu targets, %zu routes%s%s", c->ntargets, c->nroutes,
                config_path ? " from " : "", config_path ? config_path : "");
    *out = app;
    return HR_OK;
fail:
    *out = app;
    return rc;
}

int hr_app_run(hr_app *app, hr_errlist *errs)
{
    hr_deliver_source src = {
        .claim = claim, .record = record, .ctx = app, .health = health, .unclaim = unclaim};
    hr_deliver *d = NULL;
    hr_error err;
    int rc;

    /* Under the lock, so a reload either comes before (and the engine
     * starts with its configuration) or finds the engine to hand it to. */
    pthread_mutex_lock(&app->lock);
    rc = hr_deliver_start(app->current, &src, &d, &err);
    app->deliver = d;
    pthread_mutex_unlock(&app->lock);
    if (rc != HR_OK) {
        hr_errlist_add(errs, "%s", err.msg);
        return rc;
    }
    hr_store_set_notify(app->store, notify, app);
    rc = pthread_create(&app->pruner, NULL, prune_main, app);
    if (rc != 0) {
        hr_errlist_add(errs, "cannot start the retention thread: %s", strerror(rc));
        return HR_EIO;
    }
    app->pruner_running = 1;
    return HR_OK;
}

/* The engine, once hr_app_run started it; NULL before. */
static hr_deliver *engine(hr_app *app)
{
    pthread_mutex_lock(&app->lock);
    hr_deliver *d = app->deliver;
    pthread_mutex_unlock(&app->lock);
    return d;
}

int hr_app_reload(hr_app *app, hr_errlist *errs)
{
    hr_config *c = NULL;
    hr_redact *r = NULL;
    int rc = build_config(app, &c, errs);
    if (rc == HR_OK)
        rc = build_redact(c, &r, errs);
    if (rc == HR_OK)
        rc = install(app, c, errs);
    if (rc != HR_OK) {
        hr_config_free(c);
        hr_redact_free(r);
        return rc;
    }
    keep(app, c, r);
    hr_deliver *d = engine(app);
    hr_deliver_reload(d, c);
    hr_deliver_wake(d);
    hr_log_info("app", "configuration reloaded: %zu targets, %zu routes", c->ntargets, c->nroutes);
    return HR_OK;
}

json_t *hr_app_config_json(hr_app *app)
{
    pthread_mutex_lock(&app->lock);
    json_t *j = hr_config_to_json(app->current);
    pthread_mutex_unlock(&app->lock);
    return j;
}

void hr_app_wake(hr_app *app)
{
    if (app != NULL)
        hr_deliver_wake(engine(app));
}

void hr_app_stop(hr_app *app)
{
    if (app == NULL)
        return;
    if (app->store != NULL)
        hr_store_set_notify(app->store, NULL, NULL);
    /* The pruner ends after the chunk in progress: the store, drained,
     * refuses the next one (HR_ECLOSED). */
    pthread_mutex_lock(&app->lock);
    app->stopping = 1;
    pthread_cond_signal(&app->prune_wake);
    pthread_mutex_unlock(&app->lock);
    if (app->pruner_running) {
        pthread_join(app->pruner, NULL);
        app->pruner_running = 0;
    }
    hr_deliver *d = engine(app);
    hr_deliver_stop(d);
    /* A second stop (hr_app_free's) touches neither: the store may be
     * closed by then. */
    pthread_mutex_lock(&app->lock);
    app->deliver = NULL;
    pthread_mutex_unlock(&app->lock);
    app->store = NULL;
}

void hr_app_free(hr_app *app)
{
    if (app == NULL)
        return;
    hr_app_stop(app);
    for (size_t i = 0; i < app->nconfigs; i++) {
        hr_config_free(app->configs[i]);
        hr_redact_free(app->redacts[i]);
    }
    free(app->configs);
    free(app->redacts);
    free(app->config_path);
    json_decref(app->gocd_info);
    pthread_cond_destroy(&app->prune_wake);
    pthread_mutex_destroy(&app->lock);
    free(app);
}
