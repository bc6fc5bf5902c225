/*
 * fuzz_jenkins_query.c - the Job Status plugin's GET query
 * (hr_jenkins_job_status_query) under two sets of redaction rules.
 *
 * Besides the contract every parser keeps (see check_outcome): the token
 * comes back (or not) whatever the outcome and is valid UTF-8 without NUL;
 * with the default rules, the raw query an accepted input produces must
 * be accepted again, carry no token, and produce itself byte for byte.
 * Everything is freed here, so LeakSanitizer reports any forgotten path.
 */
#include "core/json.h"
#include "fuzz_jenkins.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static hr_event *run(const char *q, size_t len, int which, char **token)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event *ev = NULL;
    int rc = hr_jenkins_job_status_query(q, len, redactor(which), token, &ev, &errs);

    check_outcome(rc, ev, &errs);
    if (*token != NULL) {
        size_t n = strlen(*token);
        for (size_t i = 0; i < n;) {
            size_t k = hr_utf8_len((const unsigned char *)*token + i, n - i);
            if (k == 0)
                abort();
            i += k;
        }
    }
    hr_errlist_clear(&errs);
    return ev;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *token = NULL, *token2 = NULL;
    hr_event *ev = run((const char *)data, size, 0, &token), *again;

    if (ev != NULL) {
        again = run(ev->raw, ev->raw_len, 0, &token2);
        if (again == NULL || token2 != NULL || again->raw_len != ev->raw_len ||
            memcmp(again->raw, ev->raw, ev->raw_len) != 0)
            abort();
        hr_event_free(again);
    }
    hr_event_free(ev);
    free(token);
    token = NULL;
    hr_event_free(run((const char *)data, size, 1, &token));
    free(token);
    return 0;
}
