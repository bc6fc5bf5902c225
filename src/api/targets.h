/*
 * targets.h - the targets' health over HTTP (targets.c):
 *
 *   GET  /api/v1/targets                      every target with its health
 *   GET  /api/v1/targets/<name>               one target
 *   POST /api/v1/targets/<name>/pause         hold its deliveries
 *   POST /api/v1/targets/<name>/resume        release them
 *   POST /api/v1/targets/<name>/enable        after a 410 or a long outage
 *   POST /api/v1/targets/<name>/test          a test event to it alone (target_test.c)
 *
 * plus the health lines of /metrics and GoCD's health messages.
 */
#ifndef HR_API_TARGETS_H
#define HR_API_TARGETS_H

#include "api/api.h"

#include <jansson.h>

void hr_api_list_targets(hr_http_req *req, void *ctx);
void hr_api_get_target(hr_http_req *req, void *ctx);
void hr_api_target_action(hr_http_req *req, void *ctx);
/* target_test.c: answers a test event for target (configured). */
void hr_api__target_test(hr_api *api, hr_http_req *req, const char *target);
/* Prometheus lines: herald_target_state{target,state} and
 * herald_target_consecutive_failures{target} (a new string). */
char *hr_api_health_metrics(hr_api *api);
/* Appends GoCD health messages for disabled, paused and open targets. */
void hr_api_health_gocd_messages(hr_api *api, json_t *out);

#endif
