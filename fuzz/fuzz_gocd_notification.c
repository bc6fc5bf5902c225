/*
 * fuzz_gocd_notification.c - every GoCD notification parser on the same
 * bytes: stage-status and agent-status under each extension version, and
 * both plugin-settings bodies.
 *
 * Whatever the input, each call must return HR_OK with a result or
 * HR_EINVAL with at least one message, never both and never neither; an
 * accepted event names what it warns about in its own list (valid UTF-8,
 * at most HR_MAX_ERRORS kept) and always carries its identity (pipeline
 * and stage name, or agent uuid); and everything it returns is freed here,
 * so LeakSanitizer (or valgrind on the replay program) reports any path
 * that forgets to free.
 */
#include "fuzz_doc.h"
#include "ingest/gocd_notification.h"
#include "ingest/gocd_settings.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Crashes (so the fuzzer records the input) when a call breaks its
 * contract. Messages travel to GoCD inside JSON, so each must be valid
 * UTF-8: jansson refuses to make a string of one that is not, and the
 * message would be lost. */
static void check_messages(const hr_errlist *l)
{
    if (l->n > HR_MAX_ERRORS)
        abort();
    for (size_t i = 0; i < l->n; i++) {
        json_t *m = json_string(l->msgs[i]);
        if (m == NULL)
            abort();
        json_decref(m);
    }
}

static void check_outcome(int rc, const void *out, const hr_errlist *errs)
{
    if (rc == HR_OK && (out == NULL || hr_errlist_count(errs) != 0))
        abort();
    if (rc != HR_OK && (rc != HR_EINVAL || out != NULL || hr_errlist_count(errs) == 0))
        abort();
    check_messages(errs);
}

static void run_event(int (*parse)(const char *, size_t, int, hr_event **, hr_errlist *),
                      const char *body, size_t len, int version)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event *ev = NULL;
    int rc = parse(body, len, version, &ev, &errs);

    check_outcome(rc, ev, &errs);
    if (ev != NULL && (ev->raw_len != len || ev->raw == NULL))
        abort();
    if (ev != NULL) {
        check_messages(&ev->warnings);
        if (ev->has_agent ? ev->agent.uuid == NULL || ev->agent.uuid[0] == '\0'
                          : ev->pipeline_name == NULL || ev->pipeline_name[0] == '\0' ||
                                ev->stage_name == NULL || ev->stage_name[0] == '\0')
            abort();
    }
    /* The JSON form must be buildable from any accepted event, and the
     * stored document written in one pass must be its bytes. */
    if (ev != NULL)
        fuzz_check_doc(ev);
    hr_event_free(ev);
    hr_errlist_clear(&errs);
}

static void run_settings(int (*parse)(const char *, size_t, json_t **, hr_errlist *),
                         const char *body, size_t len)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    json_t *out = NULL;
    int rc = parse(body, len, &out, &errs);

    check_outcome(rc, out, &errs);
    json_decref(out);
    hr_errlist_clear(&errs);
}

/* validate-configuration, with the flat values it also reads. */
static int validate(const char *body, size_t len, json_t **out, hr_errlist *errs)
{
    json_t *values = NULL;
    int rc = hr_gocd_settings_validate(body, len, out, &values, errs);
    json_decref(values);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;

    for (int version = HR_GOCD_MIN_VERSION; version <= HR_GOCD_MAX_VERSION; version++) {
        run_event(hr_gocd_stage_status, body, size, version);
        run_event(hr_gocd_agent_status, body, size, version);
    }
    run_settings(validate, body, size);
    run_settings(hr_gocd_settings_changed, body, size);
    return 0;
}
