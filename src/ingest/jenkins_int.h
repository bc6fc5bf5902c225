/*
 * jenkins_int.h - what the Jenkins and `herald notify` parsers share
 * (ingest/jenkins.c) and nothing outside them includes: the check that
 * collects messages, the status words, and the checks of one member.
 */
#ifndef HR_INGEST_JENKINS_INT_H
#define HR_INGEST_JENKINS_INT_H

#include "core/error.h"
#include "core/jscan.h"
#include "core/jwrite.h"
#include "core/vars.h"
#include "event/event.h"
#include "ingest/jenkins.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest path written into a message; longer ones are cut. */
#define PATH_LEN HR_JPATH_LEN
/* Room for an hr_json_brief of any value. */
#define BRIEF_LEN 64
/* Longest part of a raw query pair quoted in a message. */
#define PAIR_QUOTE 40
/* The longest build number accepted, in digits (fits an int64). */
#define NUMBER_DIGITS 18

/* Where messages go, how many problems were seen (errs may be NULL), and
 * the body's tokens the checks read (borrowed; NULL for a body read
 * without them). */
typedef struct check {
    hr_errlist *errs;
    size_t problems;
    const hr_jscan *js;
} check;

/* A status word and what it means. */
typedef struct status_word {
    const char *word;
    const char *phase;  /* "started", "running" or "completed" */
    const char *result; /* GoCD's word; NULL for START and RUNNING */
} status_word;

#define JOB_STATUS_EXPECTED                                                                        \
    "one of START, RUNNING, SUCCESS, UNSTABLE, FAILURE, NOT_BUILT, ABORTED, COMPLETE"
#define RESULT_EXPECTED "one of SUCCESS, UNSTABLE, FAILURE, NOT_BUILT, ABORTED"
#define PHASE_EXPECTED "one of QUEUED, STARTED, COMPLETED, FINALIZED"
#define NOTIFY_STATUS_EXPECTED                                                                     \
    "one of START, RUNNING, SUCCESS, UNSTABLE, FAILURE, NOT_BUILT, ABORTED, COMPLETE (in any "     \
    "case), started, passed, failed, cancelled or canceled"

/* jenkins.c: messages, words, small helpers, checks, redaction, events.
 * A uint32_t value is a token of c->js (or js), 0 for a missing one. */
__attribute__((format(printf, 2, 3))) void hr_jk__problem(check *c, const char *fmt, ...);
void hr_jk__report(check *c, const char *at, const char *expected, uint32_t got);
void hr_jk__report_str(check *c, const char *at, const char *expected, const char *s, size_t n);
void hr_jk__report_type(check *c, const char *at, const char *expected, uint32_t got);
const status_word *hr_jk__find_status_str(const char *s, size_t n, bool results_only);
const status_word *hr_jk__find_status(const hr_jscan *js, uint32_t v, bool results_only);
void hr_jk__set_status(hr_build *b, const status_word *w, bool mid_run);
char *hr_jk__tok_str(const hr_jscan *js, uint32_t i, size_t *n);
char *hr_jk__base_name(const char *full);
bool hr_jk__clean_utf8(const char *s, size_t n);
bool hr_jk__percent_decode(const char *s, size_t n, bool plus, char *out, size_t *outlen);
uint32_t hr_jk__want_string(check *c, uint32_t obj, const char *at, const char *key, bool required);
uint32_t hr_jk__want_object(check *c, uint32_t obj, const char *at, const char *key, bool required);
bool hr_jk__want_int(check *c, uint32_t obj, const char *at, const char *key, int64_t min,
                     int64_t *out);
void hr_jk__check_string_map(check *c, uint32_t map, const char *at);
void hr_jk__check_string_array(check *c, uint32_t obj, const char *at, const char *key);
int hr_jk__want_word(check *c, uint32_t obj, const char *at, const char *key,
                     const char *const *names, const char *expected, bool required);
char *hr_jk__scrubbed(const hr_jscan *js, uint32_t v);
json_t *hr_jk__scrubbed_json(const hr_jscan *js, uint32_t v, hr_jtype type);
void hr_jk__write_key(hr_jw *w, const hr_jscan *js, uint32_t k);
size_t hr_jk__write_scrubbed(hr_jw *w, const hr_jscan *js, uint32_t i);
hr_vars *hr_jk__vars_of(const hr_jscan *js, uint32_t obj);
hr_event *hr_jk__new_build_event(const char *source, const char *version);
void hr_jk__set_raw(hr_event *ev, hr_jw *w);

#endif
