/*
 * gocd_notification.h - GoCD's notification extension, bytes to events.
 *
 * Pure functions: no I/O, no globals. Each maps a request body of the given
 * extension version (1 to 4) to an hr_event. GoCD never sends a
 * notification twice, so a body is refused only when herald cannot store or
 * identify it: it is not a JSON object, or what names the event is missing
 * or not a non-empty string (pipeline.name and pipeline.stage.name for
 * stage-status, uuid for agent-status). Anything else that breaks GoCD's
 * documented shape is kept as sent (an unknown enum value verbatim, a
 * member of the wrong type left unset) and named in ev->warnings. Every
 * message names a JSON path and what was expected, for example
 *   pipeline.stage.state: expected one of Building, Failing, Passed, Failed,
 *   Cancelled, Unknown; got "Skipped"
 * GoCD shows the refusals to its operator as a health message.
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
 * Maps a stage-status body (version 1..4). body is borrowed and read as
 * (body, len) only; it need not be NUL-terminated. On success *out is a new
 * event (source "gocd", kind "stage-status", version "N.0", raw a copy of
 * the body, received_at left 0 for the caller) whose warnings list what
 * looked wrong, and nothing is added to errs. On failure (the body cannot
 * be identified, above, or the version is not 1..4) returns HR_EINVAL,
 * leaves *out alone, and appends at least one message to errs (malformed
 * JSON gives the single message of hr_json_load; a root that is not an
 * object gives "body: expected an object; got ..."). errs may already hold
 * messages, and may be NULL when the caller does not want them.
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
 * "Building") and known ones stored capitalised; ev->has_agent is set. */
int hr_gocd_agent_status(const char *body, size_t len, int version, hr_event **out,
                         hr_errlist *errs);

#endif
