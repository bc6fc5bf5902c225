/*
 * fuzz_doc.h - the check every ingest fuzz target makes of an accepted
 * event: its stored document written in one pass (hr_event_doc) is byte
 * for byte json_dumps(JSON_COMPACT) of hr_event_to_json without "id" and
 * "transition", the tree the store dumped before.
 */
#ifndef HR_FUZZ_DOC_H
#define HR_FUZZ_DOC_H

#include "event/event.h"

#include <stdlib.h>
#include <string.h>

static void fuzz_check_doc(const hr_event *ev)
{
    json_t *tree = hr_event_to_json(ev);
    size_t len = 0;
    char *want, *got = hr_event_doc(ev, &len);

    json_object_del(tree, "id");
    json_object_del(tree, "transition");
    want = json_dumps(tree, JSON_COMPACT);
    if (want == NULL || got == NULL || len != strlen(want) || strcmp(got, want) != 0)
        abort();
    free(want);
    free(got);
    json_decref(tree);
}

#endif
