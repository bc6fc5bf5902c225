/*
 * jenkins.h - Jenkins' two notification plugins and `herald notify`, bytes
 * to build-status events.
 *
 * Pure functions: no I/O, no globals. Each checks a body against the shape
 * its sender really sends, redacts it, and maps it to an hr_event with
 * source "jenkins" (or the CI `herald notify` names), kind "build-status",
 * has_build set, and version saying which format it was:
 *
 *   "job-status"    the Job Status Notification plugin
 *                   (environment-variables-status-sync): one flat JSON
 *                   object of strings, the build's whole environment plus
 *                   jobExecuteStatus, JOB_EXECUTE_STATUS, buildNo and, from
 *                   its `notify body: '...'` step, body. Sent as the body of
 *                   POST, PUT and DELETE, or URL-encoded into the query
 *                   string of GET.
 *   "notification"  the Notification plugin (notification-plugin): Gson's
 *                   JSON of {name, display_name, url, build{...}}, sent over
 *                   HTTP, TCP or UDP. Its XML format is refused.
 *   "notify"        herald's own `herald notify` body for any CI.
 *
 * Validation collects every problem it finds, each message naming where it
 * is and what was expected, for example
 *   jobExecuteStatus: expected one of START, RUNNING, SUCCESS, UNSTABLE,
 *   FAILURE, NOT_BUILT, ABORTED, COMPLETE; got "EXPLODED"
 *
 * Secrets never leave these functions: the environment and Notification
 * build.parameters go through the name and value rules (hr_redact_vars,
 * hr_redact_var), and every other string through the value rules
 * (hr_redact_value), before anything is mapped. ev->raw is the redacted data
 * serialised again (never the bytes received), and ev->build.redacted
 * counts the values redaction replaced.
 *
 * Every parser: body is borrowed and read as (body, len) only, it need not
 * be NUL-terminated; r is borrowed and must not be NULL. On success *out is
 * a new event with received_at left 0 for the caller. On failure returns
 * HR_EINVAL, leaves *out alone, and appends at least one message to errs
 * (which may already hold messages, and may be NULL).
 */
#ifndef HR_INGEST_JENKINS_H
#define HR_INGEST_JENKINS_H

#include "core/json.h"
#include "event/event.h"
#include "ingest/redact.h"

#include <stdbool.h>
#include <stddef.h>

#define HR_JENKINS_VERSION_JOB_STATUS "job-status"
#define HR_JENKINS_VERSION_NOTIFICATION "notification"
#define HR_JENKINS_VERSION_NOTIFY "notify"

/* The source of a `herald notify` event that names no CI. */
#define HR_SOURCE_CI "ci"

/* Most name=value pairs read from one query string (a Jenkins build's
 * environment holds about a hundred). */
#define HR_JENKINS_MAX_PAIRS 4096

/* The one message for a Notification plugin body in XML. */
#define HR_JENKINS_XML_REFUSED                                                                     \
    "body: XML is not supported; set the Notification plugin's Format to JSON"

/*
 * The Job Status plugin's JSON body (POST, PUT, DELETE). The body must be an
 * object whose every value is a string ("body: expected a JSON object of
 * strings; got an array", "BUILD_NUMBER: expected a string; got 5"); it
 * needs JOB_NAME and jobExecuteStatus (JOB_EXECUTE_STATUS when
 * jobExecuteStatus is absent). Mapping:
 *   JOB_NAME -> job_name; JOB_BASE_NAME -> job_base_name (else the part
 *   after the last '/'); JOB_URL -> job_url; BRANCH_NAME -> branch (else
 *   GIT_BRANCH); BUILD_NUMBER (else buildNo) -> number;
 *   BUILD_DISPLAY_NAME -> display_name; BUILD_URL -> url; GIT_URL,
 *   GIT_BRANCH, GIT_COMMIT -> scm_*; body -> body; every other variable ->
 *   environment (redacted; NULL when none is left).
 *   jobExecuteStatus START -> phase "started"; RUNNING -> "running";
 *   SUCCESS, UNSTABLE, FAILURE, NOT_BUILT, ABORTED, COMPLETE -> "completed"
 *   with status the word and result Passed, Failed, Failed, Unknown,
 *   Cancelled, Unknown. Words are compared ignoring case and stored upper
 *   case.
 * One exception, read from the plugin's NotificationStep: a `notify` step
 * sends the run's result when one is already set (currentBuild.result =
 * 'UNSTABLE' earlier in the pipeline), so a body with a result word and a
 * body member is a step call in a running build: phase "running", status
 * the word, result NULL.
 * Empty strings in the optional variables count as not sent. Variables the
 * allow-list drops are still read for the mapping (redacted by the same
 * name rules) but leave the environment and raw.
 */
int hr_jenkins_job_status_json(const char *body, size_t len, const hr_redact *r, hr_event **out,
                               hr_errlist *errs);

/*
 * The Job Status plugin's GET form. query is the raw text after the FIRST
 * '?' of the request URI; the plugin appends "?" and its pairs even when
 * its URL already has a query, so "token=x?JOB_NAME=a%2Fb&BUILD_NUMBER=3"
 * is one query of three pairs. Pairs are separated by '&' or '?'; a pair
 * without '=' has the value ""; empty pairs are skipped; '+' and %XX are
 * decoded (an invalid escape, invalid UTF-8 or a NUL after decoding is an
 * error naming the pair, as is an empty name); when a name appears twice
 * the last value wins (in the first one's place). More than
 * HR_JENKINS_MAX_PAIRS pairs is an error. The pairs are then checked and
 * mapped exactly as hr_jenkins_job_status_json's object.
 *
 * A pair named "token" is not data: it is removed, and *token is set to its
 * decoded value (new) or NULL. Unlike other out-parameters, *token is set
 * even when the function fails, so the caller can refuse a request with a
 * wrong token before reporting its body's problems. ev->raw is the
 * redacted pairs, form-encoded again (as Java's URLEncoder does) and joined
 * by '&', without the token.
 */
int hr_jenkins_job_status_query(const char *query, size_t len, const hr_redact *r, char **token,
                                hr_event **out, hr_errlist *errs);

/*
 * The Notification plugin's JSON (Format JSON; its XML is refused with the
 * single message HR_JENKINS_XML_REFUSED, see hr_jenkins_is_xml). Checked:
 * name (a non-empty string) and build (an object) are required;
 * build.phase is one of QUEUED, STARTED, COMPLETED, FINALIZED;
 * build.status, when sent, one of SUCCESS, UNSTABLE, FAILURE, NOT_BUILT,
 * ABORTED (both compared ignoring case); numbers are integers (number 1 or
 * more, queue_id, timestamp, duration 0 or more); strings are strings;
 * build.scm.changes, build.scm.culprits and build.test_summary.failed_tests
 * are arrays of strings; build.parameters an object of strings;
 * build.artifacts an object of objects of strings. null counts as not
 * sent, and unknown members are ignored. Mapping:
 *   name -> job_base_name; the folders in url ("job/a/job/b/") ->
 *   job_name "a/b" (name when url has none); full_url minus build.url,
 *   plus url -> job_url (url as sent when that cannot be done);
 *   build.full_url (else build.url) -> url; build.number, queue_id,
 *   display_name, log, notes -> the same; phase -> lower case; status ->
 *   status; result (Passed, Failed, Cancelled, Unknown) only in phases
 *   completed and finalized, Unknown when no status was sent;
 *   duration -> duration_ms only in those phases (it is 0 before);
 *   started_at: timestamp in phase started, timestamp - duration in phase
 *   completed (the plugin sends start + duration there), else not known;
 *   scm.{url,branch,commit,changes,culprits} -> scm_*, scm.branch ->
 *   branch; parameters, test_summary, artifacts -> the same objects.
 * ev->raw is the redacted object as compact JSON, members in received
 * order.
 */
int hr_jenkins_notification(const char *body, size_t len, const hr_redact *r, hr_event **out,
                            hr_errlist *errs);

/* Whether (body, len) is XML rather than JSON: its first byte after any
 * whitespace and UTF-8 byte-order mark is '<'. */
bool hr_jenkins_is_xml(const char *body, size_t len);

/*
 * `herald notify`'s body (POST /ci/notify), version "notify":
 *   ci           optional; 1 to 32 of a-z, 0-9 and '-'; the event's source
 *                (HR_SOURCE_CI when absent)
 *   job          required non-empty string -> job_name (base: the part
 *                after the last '/')
 *   build        optional integer, 1 or more -> number
 *   status       required; START, RUNNING, SUCCESS, UNSTABLE, FAILURE,
 *                NOT_BUILT, ABORTED, COMPLETE in any case, or the aliases
 *                started (START), passed (SUCCESS), failed (FAILURE),
 *                cancelled and canceled (ABORTED); mapped as the Job Status
 *                plugin's words
 *   url, job_url, display_name, body   optional strings -> the same
 *   branch       optional string -> branch and scm_branch
 *   commit, scm_url                    optional strings -> scm_commit, scm_url
 *   environment  optional object of strings -> environment (redacted)
 * null counts as not sent. Unknown members are refused, each named.
 * ev->raw is the redacted object as compact JSON, members in received
 * order.
 */
int hr_ci_notify(const char *body, size_t len, const hr_redact *r, hr_event **out,
                 hr_errlist *errs);

#endif
