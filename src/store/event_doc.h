/*
 * event_doc.h - an event's stored document: made once, kept or derived.
 *
 * The events table keeps each event's normalised JSON (doc, without id and
 * transition) beside its raw body. For a GoCD stage-status or agent-status
 * event the document is a pure function of the raw body, the extension
 * version and received_at (the mapper's warnings included), so such a row
 * stores no document (doc NULL, schema SQLite 14 and PostgreSQL 10) and a
 * read rebuilds it from raw with the same mapper and the same
 * serialisation: readers get the bytes the ingest made. Every other event
 * (Jenkins, whose raw body is redacted under the configuration of the day;
 * packages; herald's own) keeps its document. Rows written before keep
 * theirs too, and read as before.
 */
#ifndef HR_STORE_EVENT_DOC_H
#define HR_STORE_EVENT_DOC_H

#include "event/event.h"
#include "store/rows.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The stored document of ev: the normalised JSON without id and
 * transition, compact, as a new string (*len its length); NULL when out of
 * memory. */
char *hr_store__doc_string(const hr_event *ev, size_t *len);

/* Whether ev's row stores no document because a read derives it from the
 * raw body: a GoCD stage-status or agent-status event with a body, marked
 * doc_from_raw by the API that mapped it. */
bool hr_store__doc_derived(const hr_event *ev);

/*
 * Fills e->doc (and doc_len) of a row that stores none from its raw body,
 * kind, version and received_at (the row's columns), in r's arena. A row
 * with a document, or one whose body cannot be mapped again, is left
 * alone: a NULL doc is then reported by the reader as a damaged row.
 */
void hr_store__event_doc(hr_rows *r, hr_event_row *e, const char *kind, const char *version,
                         int64_t received_at);

#endif
