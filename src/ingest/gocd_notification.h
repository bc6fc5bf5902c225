/*
 * gocd_notification.h - GoCD's notification extension, bytes to events.
 *
 * Pure functions: no I/O, no globals. Each checks a request body against the
 * shape GoCD sends for the given extension version (1 to 4), then maps it to
 * an hr_event. Validation collects every problem it finds, each message
 * naming a JSON path and what was expected, for example
 *   pipeline.stage.state: expected one of Building, Failing, Passed, Failed,
 *   Cancelled, Unknown; got "Exploded"
 * GoCD shows these messages to its operator as a health message.
 */
#ifndef HR_INGEST_GOCD_NOTIFICATION_H
#define HR_INGEST_GOCD_NOTIFICATION_H

#include "core/json.h"
#include "event/event.h"

#include <stddef.h>

#define HR_GOCD_MIN_VERSION 1
#define HR_GOCD_MAX_VERSION 4

/* Parses an X-Go-Extension-Version value ("1.0" .. "4.0"; "4" is also
 * accepted). NULL or empty gives HR_GOCD_MAX_VERSION. HR_EINVAL otherwise. */
int hr_gocd_parse_version(const char *s, int *out);

/*
 * Validates a stage-status body (version 1..4) and maps it. body is
 * borrowed and read as (body, len) only; it need not be NUL-terminated. On
 * success *out is a new event (source "gocd", kind "stage-status", version
 * "N.0", raw a copy of the body, received_at left 0 for the caller). On
 * failure returns HR_EINVAL, leaves *out alone, and appends at least one
 * message to errs (malformed JSON gives the single message of
 * hr_json_load; a root that is not an object gives "body: expected an
 * object; got ..."). errs may already hold messages, and may be NULL when
 * the caller does not want them.
 *
 * Members a version does not define (label and assign-time before 2.0,
 * previous-stage-* and fingerprint before 4.0) and unknown members are
 * ignored. Both timestamp forms are accepted in every version.
 */
int hr_gocd_stage_status(const char *body, size_t len, int version, hr_event **out,
                         hr_errlist *errs);

/* The same for agent-status (versions 3 and 4 only; 1 and 2 give HR_EINVAL
 * with a message saying agent-status needs 3.0 or later). The enum values
 * are compared ignoring case (the docs show "building", the server sends
 * "Building") and stored capitalised; ev->has_agent is set. */
int hr_gocd_agent_status(const char *body, size_t len, int version, hr_event **out,
                         hr_errlist *errs);

#endif
