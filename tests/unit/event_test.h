/*
 * event_test.h - an event's JSON as the unit tests read it: its stored
 * document (event/doc.c) parsed, and that document as the store serves it
 * and jq programs read it. The functions are static inline so a test that
 * uses one of them does not warn about the other.
 */
#ifndef HR_TEST_EVENT_TEST_H
#define HR_TEST_EVENT_TEST_H

#include "event/event.h"

#include <criterion/criterion.h>
#include <stdlib.h>

/* ev's stored document (hr_event_doc) parsed: a new object. It has no
 * "id" and no "transition": the store keeps those in columns. */
static inline json_t *event_doc_json(const hr_event *ev)
{
    size_t len = 0;
    char *doc = hr_event_doc(ev, &len);
    json_error_t jerr;
    json_t *o;

    cr_assert_not_null(doc, "the event has no document");
    o = json_loadb(doc, len, 0, &jerr);
    cr_assert(json_is_object(o), "the document is not a JSON object (%s): %s", jerr.text, doc);
    free(doc);
    return o;
}

/* ev's document with "id" and "transition" (null when it has none) added,
 * as the store adds them from its columns when it serves an event
 * (store/json.c) and as the router's jq input has them (api/app.c): a new
 * object. */
static inline json_t *event_served_json(const hr_event *ev)
{
    json_t *o = event_doc_json(ev);
    const char *t = hr_transition_name(ev->transition);

    json_object_set_new(o, "id", json_integer((json_int_t)ev->id));
    json_object_set_new(o, "transition", t != NULL ? json_string(t) : json_null());
    return o;
}

#endif
