/*
 * fuzz_jenkins.h - what the four build-status fuzz targets share: the
 * redactors they run under and the contract every parser keeps. Included
 * by one target each; static, so each target has its own copy.
 */
#ifndef HR_FUZZ_JENKINS_H
#define HR_FUZZ_JENKINS_H

#include "fuzz_doc.h"
#include "ingest/jenkins.h"

#include <stdlib.h>
#include <string.h>

/* The default rules, and narrower ones that hide and drop the variables
 * the mapping reads (created once; the fuzzer runs one thread). */
static hr_redact *redactor(int which)
{
    static hr_redact *r[2];
    static const char *const patterns[] = {"*URL*", "*NAME*", "*TOKEN*"};
    static const char *const keep[] = {"JOB_*", "BUILD_*", "body", "A*"};

    if (r[which] == NULL &&
        (which == 0 ? hr_redact_new(NULL, 0, NULL, 0, &r[0], NULL)
                    : hr_redact_new(patterns, 3, keep, 4, &r[1], NULL)) != HR_OK)
        abort();
    return r[which];
}

/* Crashes (so the fuzzer records the input) when a call breaks its
 * contract: HR_OK with an event and no message, or HR_EINVAL with at
 * least one message and no event; messages valid UTF-8 (they travel in
 * JSON); an event complete enough for the store and templates. */
static void check_outcome(int rc, const hr_event *ev, const hr_errlist *errs)
{
    if (rc == HR_OK && (ev == NULL || hr_errlist_count(errs) != 0))
        abort();
    if (rc != HR_OK && (rc != HR_EINVAL || ev != NULL || hr_errlist_count(errs) == 0))
        abort();
    for (size_t i = 0; i < errs->n; i++) {
        json_t *m = json_string(errs->msgs[i]);
        if (m == NULL)
            abort();
        json_decref(m);
    }
    if (ev == NULL)
        return;
    if (!ev->has_build || ev->source == NULL || ev->kind == NULL || ev->version == NULL ||
        ev->build.job_name == NULL || ev->build.job_base_name == NULL || ev->build.phase == NULL ||
        ev->raw == NULL || strlen(ev->raw) != ev->raw_len || ev->received_at != 0)
        abort();
    if ((ev->build.result == NULL) !=
        (strcmp(ev->build.phase, "completed") != 0 && strcmp(ev->build.phase, "finalized") != 0))
        abort();
    fuzz_check_doc(ev);
}

#endif
