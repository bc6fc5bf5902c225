/*
 * fuzz_doc.h - the check every ingest fuzz target makes of an accepted
 * event: its stored document (hr_event_doc) exists and is byte for byte
 * json_dumps(JSON_COMPACT) of what jansson reads back from it. So it is
 * JSON, names no member twice, and writes every escape and number as
 * jansson does, whatever bytes the body carried. Which members it has and
 * their values are pinned by the golden documents of
 * tests/unit/test_event_doc.c.
 */
#ifndef HR_FUZZ_DOC_H
#define HR_FUZZ_DOC_H

#include "event/event.h"

#include <stdlib.h>
#include <string.h>

static void fuzz_check_doc(const hr_event *ev)
{
    size_t len = 0;
    char *got = hr_event_doc(ev, &len), *again;
    json_t *tree;

    if (got == NULL)
        abort();
    tree = json_loadb(got, len, JSON_ALLOW_NUL, NULL);
    again = json_is_object(tree) ? json_dumps(tree, JSON_COMPACT) : NULL;
    if (again == NULL || strlen(again) != len || memcmp(again, got, len) != 0)
        abort();
    free(again);
    json_decref(tree);
    free(got);
}

#endif
