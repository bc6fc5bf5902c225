/*
 * app.h - the wiring of configuration, routing, storage and delivery.
 *
 * hr_app owns the current configuration (the file's targets and routes plus
 * the target and route GoCD's plugin settings describe), installs a router
 * built from it in the store's writer, and runs the delivery engine over
 * the store. A reload (SIGHUP, or GoCD's settings changing) builds a new
 * configuration and swaps it in without stopping either thread, so no
 * event is dropped. A configuration that does not load is refused and the
 * running one stays.
 *
 * A pruner thread deletes what the configuration's retention: section
 * says is too old (hr_store_prune), every retention.interval, by the
 * configuration in use at the time.
 *
 * Configurations are kept until hr_app_stop: the writer's router and the
 * engine switch over asynchronously, and reloads are rare.
 */
#ifndef HR_API_APP_H
#define HR_API_APP_H

#include "core/json.h"
#include "deliver/deliver.h"
#include "route/config.h"
#include "store/store.h"

typedef struct hr_app hr_app;

/* Loads config_path (may be NULL: defaults) and GoCD's saved settings and
 * installs the router: from now on events are stored with their
 * deliveries, but nothing is delivered or pruned until hr_app_run. On
 * failure errs holds every problem. *out is new even on failure: the store
 * may already hold a router that borrows the app's configuration, so the
 * caller stops and frees the app in the usual order either way. */
int hr_app_start(const char *config_path, hr_store *store, hr_app **out, hr_errlist *errs);
/* Starts the delivery engine (which claims due deliveries at once) and the
 * pruner. herald calls it only once every listener is bound, so a herald
 * that cannot serve never sends. On failure errs says why; stop and free
 * the app as usual. */
int hr_app_run(hr_app *app, hr_errlist *errs);
/* Reloads the file and the settings. On failure the running configuration
 * stays and errs says why. Any thread. */
int hr_app_reload(hr_app *app, hr_errlist *errs);
/* The configuration in use, as JSON with secrets masked (new). */
json_t *hr_app_config_json(hr_app *app);
/* The configuration in use and its redactor (either out may be NULL).
 * Both stay valid until hr_app_free, even after a reload replaced them. */
struct hr_redact;
void hr_app_current(hr_app *app, const hr_config **c, const struct hr_redact **r);
/* What GoCD says of itself (server-info: site_url, ...), given to every
 * delivery's jq input as "gocd" so bodies can link to GoCD pages. info is
 * borrowed (copied). Any thread. */
void hr_app_set_gocd_info(hr_app *app, const json_t *info);
/* New deliveries may be due. */
void hr_app_wake(hr_app *app);
/* Stops the pruner (after the chunk in progress) and the delivery engine.
 * Call it after hr_store_drain. NULL is fine. */
void hr_app_stop(hr_app *app);
/* Frees every configuration. Call it after hr_store_close, which frees the
 * store's router, the last user of a configuration. NULL is fine. */
void hr_app_free(hr_app *app);

#endif
