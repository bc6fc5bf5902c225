/*
 * message.h - what a person should read about an event, whatever the CI
 * and whatever the service: a title ("app/test #42 broken"), the result in
 * one word and one tone (the colour each service shows), a link to the run,
 * and a few labelled facts (the stage, who or what triggered it, how long
 * it ran, the revisions that went in, the culprits). The chat services (svc_*.c) lay
 * the same message out each in its own format, so a GoCD stage and a
 * Jenkins build read alike everywhere.
 *
 * Built from the event as the engine hands it over (route/jq.h: the
 * normalised event, plus .gocd.site_url when GoCD told herald its site).
 * Pure: no I/O, safe on any thread. Every string is valid UTF-8 (jansson's
 * strings are) and bounded: a fact's value is cut at HR_MSG_VALUE_MAX
 * bytes, and at most HR_MSG_MAX_FACTS facts are kept.
 */
#ifndef HR_DELIVER_MESSAGE_H
#define HR_DELIVER_MESSAGE_H

#include "core/error.h"
#include "deliver/people.h"

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>

#define HR_MSG_MAX_FACTS 12
#define HR_MSG_VALUE_MAX 1000
/* A title and a text from the target's own programs are cut too: every
 * service shows a title of 250 bytes and a text of 2,000 (Slack's section
 * text takes 3,000 characters, Discord's description 4,096). */
#define HR_MSG_TITLE_MAX 250
#define HR_MSG_TEXT_MAX 2000
/* Revisions (GoCD materials, Jenkins changes) listed at most. */
#define HR_MSG_MAX_REVISIONS 5
/* Committers (GoCD's modifications, Jenkins' culprits) named at most. */
#define HR_MSG_MAX_COMMITTERS 10

typedef enum hr_tone {
    HR_TONE_GOOD = 0, /* passed, fixed */
    HR_TONE_BAD,      /* failed, broken, still failing, failing, an agent lost */
    HR_TONE_WARN,     /* cancelled, unknown, an agent disabled */
    HR_TONE_INFO,     /* building, a new package revision, anything else */
} hr_tone;

typedef struct hr_fact {
    char *label; /* "Stage", "Revision", ... */
    char *value;
} hr_fact;

typedef struct hr_message {
    char *title; /* "app/test #42 broken" */
    char *word;  /* the result in words: "broken", "still failing", "passed", ... */
    hr_tone tone;
    char *url;       /* the run's page (GoCD's stage page, Jenkins' build), or NULL */
    char *timestamp; /* when it happened (ISO 8601 UTC), or NULL */
    char *run;       /* the run every event of one build shares ("app/42"), or NULL */
    char *text;      /* a paragraph under the title (the target's text program), or NULL */
    hr_fact facts[HR_MSG_MAX_FACTS];
    size_t nfacts;
    /* Who changed what went in: GoCD's modifications (.gocd.modifications,
     * deliver/gocd_lookup.h) or Jenkins' culprits; the fact at
     * committers_fact (-1: none) names them in plain words, and a service
     * that can mention people writes that fact its own way (people.h). */
    hr_committer committers[HR_MSG_MAX_COMMITTERS];
    size_t ncommitters;
    int committers_fact;
    char *subject; /* one line for a mail subject: "deploy #42 broken (test)" */
} hr_message;

/* Fills *m (all new) from event (borrowed). Returns HR_EINVAL when event
 * is not an object. */
int hr_message_from_event(const json_t *event, hr_message *m, hr_error *err);
void hr_message_clear(hr_message *m);

/* The tone as #RRGGBB and as 0xRRGGBB (Discord's integer colour). */
const char *hr_tone_hex(hr_tone t);
long hr_tone_rgb(hr_tone t);

/* s (new, stolen) cut at max bytes on a UTF-8 character boundary, ending
 * with "…" when it was cut (max >= 3). Returns s. */
char *hr_msg_cut(char *s, size_t max);

/* A new string from a printf format (vsnprintf; never NULL). */
char *hr_msg_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The string at key path a.b.c in v (an event as jq sees it), or NULL
 * (borrowed). */
const char *hr_msg_str_at(const json_t *v, const char *path);

#endif
