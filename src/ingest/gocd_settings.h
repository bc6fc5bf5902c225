/*
 * gocd_settings.h - the plugin settings herald shows on GoCD's plugin page.
 *
 * The settings define one webhook (URL, method, headers, body template) and
 * which events it fires on. Pure functions, no I/O.
 *
 * Keys: webhook_url, webhook_method, webhook_headers (one "Name: value" per
 * line), webhook_body (optional template), notify_on (comma-separated list of
 * any, building, passed, failed, broken, fixed, still_failing, cancelled,
 * failing, agent).
 */
#ifndef HR_INGEST_GOCD_SETTINGS_H
#define HR_INGEST_GOCD_SETTINGS_H

#include "core/json.h"

#include <stddef.h>

/* go.plugin-settings.get-configuration: a new object
 * {"KEY": {"default-value", "secure", "required", "display-name", "display-order"}}. */
json_t *hr_gocd_settings_configuration(void);

/* go.plugin-settings.get-view: the AngularJS template (static string). */
const char *hr_gocd_settings_view(void);

/*
 * go.plugin-settings.validate-configuration. The body is
 * {"plugin-settings": {"KEY": {"value": "..."}}}. On success *out is a new
 * array [{"key", "message"}], at most one entry per key in display order,
 * empty when the settings are valid; *values (when values is not NULL) a
 * new flat object {"KEY": "value"} of every known key, as
 * hr_gocd_settings_changed would give it. A missing key, a missing "value" and
 * a null value all count as "" (GoCD may leave out fields never filled
 * in); unknown keys are ignored. A body that is not of that shape gives
 * HR_EINVAL with errs filled (JSON paths such as
 * "plugin-settings.notify_on.value"); errs may be NULL.
 */
int hr_gocd_settings_validate(const char *body, size_t len, json_t **out, json_t **values,
                              hr_errlist *errs);

/*
 * go.plugin-settings.plugin-settings-changed. The body is flat
 * {"KEY": "value"}. On success *out is a new object of the known keys the
 * body holds, with string values (null becomes ""; unknown keys are
 * dropped; values are not checked beyond HR_MAX_SETTING_BYTES, GoCD has
 * already run validate-configuration). HR_EINVAL with errs for a body of
 * another shape; errs may be NULL.
 */
int hr_gocd_settings_changed(const char *body, size_t len, json_t **out, hr_errlist *errs);

/* Names of keys whose values are secret (masked in every view). */
int hr_gocd_settings_is_secret(const char *key);

#endif
