/*
 * event_doc.c - an event's stored document: made once, kept or derived
 * (event_doc.h says which and why).
 */
#include "store/event_doc.h"

#include "core/error.h"
#include "ingest/gocd_notification.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *hr_store__doc_string(const hr_event *ev, size_t *len)
{
    /* The store owns id and transition: the stored document leaves them
     * out and readers add them from their columns (event/doc.c writes it
     * in one pass, no tree). */
    return hr_event_doc(ev, len);
}

/* Whether kind is one whose document the GoCD mapper rebuilds. */
static bool gocd_kind(const char *kind)
{
    return kind != NULL &&
           (strcmp(kind, HR_KIND_STAGE_STATUS) == 0 || strcmp(kind, HR_KIND_AGENT_STATUS) == 0);
}

/* The extension version of a version column ("1.0" .. "4.0", as the mapper
 * writes it), or 0 for anything else. */
static int gocd_version(const char *s)
{
    char again[8];
    int v;
    if (s == NULL || hr_gocd_parse_version(s, &v) != HR_OK)
        return 0;
    snprintf(again, sizeof(again), "%d.0", v);
    return strcmp(again, s) == 0 ? v : 0;
}

bool hr_store__doc_derived(const hr_event *ev)
{
    /* Only what the GoCD mapper made, as it made it (its caller says so):
     * a test event or herald's own carry more than their body says. */
    return ev->doc_from_raw && ev->source != NULL && strcmp(ev->source, HR_SOURCE_GOCD) == 0 &&
           gocd_kind(ev->kind) && ev->raw != NULL && ev->health == NULL &&
           ev->test_target == NULL && !ev->has_build && !ev->has_package &&
           gocd_version(ev->version) != 0;
}

void hr_store__event_doc(hr_rows *r, hr_event_row *e, const char *kind, const char *version,
                         int64_t received_at)
{
    hr_event *ev = NULL;
    char *doc;
    size_t len;
    int v = gocd_version(version), rc;

    if (e->doc != NULL || e->raw == NULL || !gocd_kind(kind) || v == 0)
        return;
    if (strcmp(kind, HR_KIND_STAGE_STATUS) == 0)
        rc = hr_gocd_stage_status(e->raw, e->raw_len, v, &ev, NULL);
    else
        rc = hr_gocd_agent_status(e->raw, e->raw_len, v, &ev, NULL);
    if (rc != HR_OK)
        return;
    ev->received_at = received_at;
    doc = hr_store__doc_string(ev, &len);
    hr_event_free(ev);
    if (doc == NULL)
        return;
    e->doc = hr_rows_str(r, doc, len);
    e->doc_len = len;
    free(doc);
}
