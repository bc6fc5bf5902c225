#include "api/app.h"

#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "ingest/redact.h"
#include "route/route.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct hr_app {
    char *config_path;
    hr_store *store;
    hr_deliver *deliver;
    pthread_mutex_t lock; /* guards configs, nconfigs, current */
    hr_config **configs;  /* every configuration loaded, freed at stop */
    hr_redact **redacts;  /* each configuration's redactor (jenkins.redact, keep) */
    size_t nconfigs;
    hr_config *current;
    hr_redact *current_redact;
    json_t *gocd_info; /* guarded by lock; NULL until the bridge posts it */
};

/* The router as the writer uses it: owned by the store once installed. */
typedef struct router_ctx {
    hr_router *router;
    int needs_input; /* some route has a jq filter */
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
                          const char **routes, const char **targets, size_t max)
{
    router_ctx *rc = arg;
    json_t *input = rc->needs_input ? jq_input(ev, doc, doc_len) : NULL;
    size_t n = 0;
    if (max > HR_MAX_TARGETS_PER_EVENT)
        max = HR_MAX_TARGETS_PER_EVENT;
    hr_router_match(rc->router, ev, input, rc->matches, max, &n);
    for (size_t i = 0; i < n; i++) {
        routes[i] = rc->matches[i].route;
        targets[i] = rc->matches[i].target;
    }
    json_decref(input);
    return n;
}

static int claim(void *ctx, const hr_claim_query *q, hr_delivery_job **jobs, size_t *n,
                 hr_error *err)
{
    hr_app *app = ctx;
    int rc = hr_store_claim_due(app->store, q, jobs, n, err);
    if (rc != HR_OK || *n == 0)
        return rc;
    /* Templates reach GoCD's site URL as .gocd.site_url. */
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
    static const char *const names[] = {"delivered", "retry", "dead"};
    hr_app *app = ctx;
    hr_metrics_attempt(names[a->outcome], a->latency_ms);
    hr_store_record_attempt(app->store, a, done, arg);
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
    int rc = hr_redact_new(j->redact_set ? (const char *const *)j->redact.items : NULL,
                           j->redact.n, (const char *const *)j->keep.items, j->keep.n, out, &err);
    if (rc != HR_OK)
        hr_errlist_add(errs, "jenkins: %s", err.msg);
    return rc;
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
    rc = hr_config_add_gocd_settings(c, settings, errs);
    json_decref(settings);
    if (rc != HR_OK) {
        hr_config_free(c);
        return rc;
    }
    *out = c;
    return HR_OK;
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
    for (size_t i = 0; i < c->nroutes; i++)
        rc->needs_input |= c->routes[i].filter != NULL;
    hr_store_set_router(app->store, route_event, rc, router_free);
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
    pthread_mutex_unlock(&app->lock);
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
    hr_deliver_source src;
    hr_config *c = NULL;
    hr_redact *r = NULL;
    hr_error err;
    int rc;

    pthread_mutex_init(&app->lock, NULL);
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
    src.claim = claim;
    src.record = record;
    src.ctx = app;
    rc = hr_deliver_start(c, &src, &app->deliver, &err);
    if (rc != HR_OK) {
        hr_errlist_add(errs, "%s", err.msg);
        goto fail;
    }
    hr_store_set_notify(store, notify, app);
    hr_log_info("app", "%zu targets, %zu routes%s%s", c->ntargets, c->nroutes,
                config_path ? " from " : "", config_path ? config_path : "");
    *out = app;
    return HR_OK;
fail:
    *out = app;
    return rc;
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
    hr_deliver_reload(app->deliver, c);
    hr_deliver_wake(app->deliver);
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
    if (app != NULL && app->deliver != NULL)
        hr_deliver_wake(app->deliver);
}

void hr_app_stop(hr_app *app)
{
    if (app == NULL)
        return;
    if (app->store != NULL)
        hr_store_set_notify(app->store, NULL, NULL);
    hr_deliver_stop(app->deliver);
    /* A second stop (hr_app_free's) touches neither: the store may be
     * closed by then. */
    app->deliver = NULL;
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
    pthread_mutex_destroy(&app->lock);
    free(app);
}
