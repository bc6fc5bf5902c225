/*
 * fuzz_jenkins_notification.c - the Notification plugin's JSON
 * (hr_jenkins_notification) under two sets of redaction rules, and
 * hr_jenkins_is_xml.
 *
 * Besides the contract every parser keeps (see check_outcome): an input
 * that looks like XML gives exactly the one XML message; with the default
 * rules, the raw body an accepted input produces must be accepted again
 * and produce itself byte for byte. Everything is freed here, so
 * LeakSanitizer reports any forgotten path.
 */
#include "fuzz_jenkins.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static hr_event *run(const char *body, size_t len, int which)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_event *ev = NULL;
    int rc = hr_jenkins_notification(body, len, redactor(which), &ev, &errs);

    check_outcome(rc, ev, &errs);
    if (hr_jenkins_is_xml(body, len) &&
        (errs.n != 1 || strcmp(errs.msgs[0], HR_JENKINS_XML_REFUSED) != 0))
        abort();
    hr_errlist_clear(&errs);
    return ev;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hr_event *ev = run((const char *)data, size, 0), *again;

    if (ev != NULL) {
        again = run(ev->raw, ev->raw_len, 0);
        if (again == NULL || again->raw_len != ev->raw_len ||
            memcmp(again->raw, ev->raw, ev->raw_len) != 0)
            abort();
        hr_event_free(again);
    }
    hr_event_free(ev);
    hr_event_free(run((const char *)data, size, 1));
    return 0;
}
