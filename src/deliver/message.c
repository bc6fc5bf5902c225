/*
 * message.c - an event as a person reads it (message.h).
 *
 * One function per kind of event: a GoCD stage, a CI build (Jenkins and
 * herald notify), a GoCD agent, a package revision, a target's health.
 * Each reads the normalised event's fields (docs/events.md) and never the
 * raw body, so every CI is read the same way.
 */
#include "deliver/message.h"

#include "core/mem.h"
#include "core/timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A short revision: git's 40 hex digits read well as their first 12. */
#define SHORT_REVISION 12

char *hr_msg_fmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return hr_strdup("");
    char *s = hr_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

const char *hr_tone_hex(hr_tone t)
{
    switch (t) {
    case HR_TONE_GOOD:
        return "#2EB67D";
    case HR_TONE_BAD:
        return "#E01E5A";
    case HR_TONE_WARN:
        return "#ECB22E";
    case HR_TONE_INFO:
        break;
    }
    return "#1D9BD1";
}

long hr_tone_rgb(hr_tone t)
{
    return strtol(hr_tone_hex(t) + 1, NULL, 16);
}

const char *hr_msg_str_at(const json_t *v, const char *path)
{
    char key[64];
    while (v != NULL && *path != '\0') {
        size_t n = strcspn(path, ".");
        if (n >= sizeof(key))
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        v = json_object_get(v, key);
        path += n + (path[n] == '.');
    }
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static const json_t *at(const json_t *v, const char *key)
{
    return json_object_get(v, key);
}

char *hr_msg_cut(char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return s;
    n = max - 3;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    memcpy(s + n, "\xE2\x80\xA6", 4);
    return s;
}

static char *bounded(char *s)
{
    return hr_msg_cut(s, HR_MSG_VALUE_MAX);
}

/* Adds a fact; value is stolen (NULL or "" adds nothing). */
static void fact(hr_message *m, const char *label, char *value)
{
    if (value == NULL || value[0] == '\0' || m->nfacts == HR_MSG_MAX_FACTS) {
        free(value);
        return;
    }
    m->facts[m->nfacts].label = hr_strdup(label);
    m->facts[m->nfacts].value = bounded(value);
    m->nfacts++;
}

static void fact_str(hr_message *m, const char *label, const char *value)
{
    fact(m, label, hr_strdup(value));
}

/* The transition (or, without one, the result or state) in words, and its
 * tone. */
static void word_and_tone(hr_message *m, const char *transition, const char *fallback)
{
    static const struct {
        const char *transition, *word;
        hr_tone tone;
    } words[] = {
        {"building", "building", HR_TONE_INFO},
        {"failing", "failing", HR_TONE_BAD},
        {"passed", "passed", HR_TONE_GOOD},
        {"fixed", "fixed", HR_TONE_GOOD},
        {"failed", "failed", HR_TONE_BAD},
        {"broken", "broken", HR_TONE_BAD},
        {"still_failing", "still failing", HR_TONE_BAD},
        {"cancelled", "cancelled", HR_TONE_WARN},
        {"unknown", "unknown", HR_TONE_WARN},
    };
    for (size_t i = 0; transition != NULL && i < sizeof(words) / sizeof(words[0]); i++)
        if (strcmp(transition, words[i].transition) == 0) {
            m->word = hr_strdup(words[i].word);
            m->tone = words[i].tone;
            return;
        }
    m->tone = HR_TONE_INFO;
    m->word = hr_strdup(fallback != NULL ? fallback : "updated");
    for (char *p = m->word; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    if (strcmp(m->word, "passed") == 0 || strcmp(m->word, "success") == 0)
        m->tone = HR_TONE_GOOD;
    else if (strcmp(m->word, "failed") == 0 || strcmp(m->word, "failure") == 0)
        m->tone = HR_TONE_BAD;
}

/* A duration as people write it: "45s", "3m 12s", "2h 5m"; NULL when
 * ms is negative. */
static char *duration(int64_t ms)
{
    int64_t s = ms / 1000;
    if (ms < 0)
        return NULL;
    if (s < 60)
        return hr_msg_fmt("%llds", (long long)s);
    if (s < 3600)
        return hr_msg_fmt("%lldm %llds", (long long)(s / 60), (long long)(s % 60));
    return hr_msg_fmt("%lldh %lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
}

/* The time between two instants of the event, or NULL. */
static char *between(const char *from, const char *to)
{
    int64_t a, b;
    if (from == NULL || to == NULL || hr_time_parse(from, strlen(from), &a) != HR_OK ||
        hr_time_parse(to, strlen(to), &b) != HR_OK)
        return NULL;
    return duration(b - a);
}

static char *short_rev(const char *rev)
{
    return rev != NULL ? hr_strndup(rev, strnlen(rev, SHORT_REVISION)) : NULL;
}

/* Adds the committer (stolen) unless one with the same address or name is
 * there already. */
static void add_committer(hr_message *m, hr_committer *c)
{
    for (size_t i = 0; i < m->ncommitters; i++) {
        const hr_committer *o = &m->committers[i];
        if ((c->email != NULL && o->email != NULL && strcasecmp(c->email, o->email) == 0) ||
            (c->name != NULL && o->name != NULL && strcmp(c->name, o->name) == 0)) {
            hr_committer_clear(c);
            return;
        }
    }
    if (m->ncommitters == HR_MSG_MAX_COMMITTERS) {
        hr_committer_clear(c);
        return;
    }
    m->committers[m->ncommitters++] = *c;
}

/* The fact naming the committers, in plain words (label: "Committers" or
 * Jenkins' "Culprits"). */
static void committers_fact(hr_message *m, const char *label)
{
    char *list = NULL;
    for (size_t i = 0; i < m->ncommitters; i++) {
        const char *who = hr_people_display(&m->committers[i], NULL);
        char *more = list ? hr_msg_fmt("%s, %s", list, who) : hr_strdup(who);
        free(list);
        list = bounded(more);
    }
    if (list != NULL && m->nfacts < HR_MSG_MAX_FACTS)
        m->committers_fact = (int)m->nfacts;
    fact(m, label, list);
}

/* GoCD's modifications, when the lookup found them (gocd_lookup.h): one
 * "Change" fact each (revision, comment's first line, author), and their
 * authors as the committers. */
static void gocd_modifications(const json_t *e, hr_message *m, bool facts)
{
    const json_t *mods = json_object_get(at(e, "gocd"), "modifications"), *c;
    size_t i, shown = 0;

    json_array_foreach(mods, i, c)
    {
        const char *comment = hr_msg_str_at(c, "comment"), *user = hr_msg_str_at(c, "user_name");
        hr_committer who;
        if (!facts && hr_committer_parse(user, hr_msg_str_at(c, "email_address"), &who))
            add_committer(m, &who);
        if (!facts || shown == HR_MSG_MAX_REVISIONS || hr_msg_str_at(c, "revision") == NULL)
            continue;
        char *r = short_rev(hr_msg_str_at(c, "revision"));
        size_t line = comment != NULL ? strcspn(comment, "\r\n") : 0;
        hr_committer author = {0};
        bool named = hr_committer_parse(user, NULL, &author);
        fact(m, "Change",
             hr_msg_fmt("%s %.*s%s%s%s", r, (int)line, comment != NULL ? comment : "",
                        named ? " (" : "", named ? hr_people_display(&author, NULL) : "",
                        named ? ")" : ""));
        hr_committer_clear(&author);
        free(r);
        shown++;
    }
}

/* A GoCD stage: its page on GoCD's site, its failed jobs, what triggered
 * it and the revisions of its materials. */
static void gocd_stage(const json_t *e, hr_message *m)
{
    const json_t *stage = at(e, "stage");
    const char *pipeline = hr_msg_str_at(e, "pipeline.name"),
               *counter = hr_msg_str_at(e, "pipeline.counter");
    const char *stage_name = hr_msg_str_at(e, "stage.name"),
               *stage_counter = hr_msg_str_at(e, "stage.counter");
    const char *site = hr_msg_str_at(e, "gocd.site_url"),
               *label = hr_msg_str_at(e, "pipeline.label");
    const json_t *jobs = at(stage, "jobs"), *causes = at(e, "build_cause"), *c;
    char *failed = NULL;
    size_t i, shown = 0;

    if (site != NULL && pipeline != NULL && counter != NULL && stage_name != NULL) {
        size_t n = strlen(site);
        while (n > 0 && site[n - 1] == '/')
            n--;
        m->url = hr_msg_fmt("%.*s/go/pipelines/%s/%s/%s/%s", (int)n, site, pipeline, counter,
                            stage_name, stage_counter != NULL ? stage_counter : "1");
    }
    if (pipeline != NULL && counter != NULL)
        m->run = hr_msg_fmt("%s/%s", pipeline, counter);
    if (pipeline != NULL && counter != NULL)
        fact(m, "Pipeline",
             label != NULL && strcmp(label, counter) != 0
                 ? hr_msg_fmt("%s #%s (%s)", pipeline, counter, label)
                 : hr_msg_fmt("%s #%s", pipeline, counter));
    if (stage_name != NULL)
        fact(m, "Stage",
             hr_msg_fmt("%s #%s", stage_name, stage_counter != NULL ? stage_counter : "1"));
    json_array_foreach(jobs, i, c)
    {
        const char *r = hr_msg_str_at(c, "result"), *name = hr_msg_str_at(c, "name");
        if (r == NULL || name == NULL || strcmp(r, "Failed") != 0)
            continue;
        char *more = failed ? hr_msg_fmt("%s, %s", failed, name) : hr_strdup(name);
        free(failed);
        failed = bounded(more);
    }
    fact(m, "Failed jobs", failed);
    fact_str(m, "Triggered by", hr_msg_str_at(e, "stage.approved_by"));
    gocd_modifications(e, m, false);
    committers_fact(m, "Committers");
    if (hr_msg_str_at(e, "stage.result") != NULL &&
        strcmp(hr_msg_str_at(e, "stage.result"), "Unknown") != 0)
        fact(m, "Duration",
             between(hr_msg_str_at(e, "stage.created_at"),
                     hr_msg_str_at(e, "stage.last_transition_at")));
    /* GoCD's modifications, when the lookup found some, say more than
     * the bare revisions: each change takes their place. */
    if (json_array_size(json_object_get(at(e, "gocd"), "modifications")) > 0)
        causes = NULL;
    json_array_foreach(causes, i, c)
    {
        const char *rev = hr_msg_str_at(c, "revision"), *material = hr_msg_str_at(c, "material");
        if (rev == NULL || shown == HR_MSG_MAX_REVISIONS)
            continue;
        char *r = short_rev(rev);
        fact(m, "Revision",
             hr_msg_fmt("%s %s%s", r, material != NULL ? material : "",
                        json_is_true(at(c, "changed")) ? " (changed)" : ""));
        free(r);
        shown++;
    }
    gocd_modifications(e, m, true);
    if (stage_name != NULL && pipeline != NULL && counter != NULL)
        m->subject = hr_msg_fmt("%s #%s %s (%s)", pipeline, counter, m->word, stage_name);
}

/* A CI build (Jenkins, herald notify): its branch, commit, culprits and
 * changes. */
static void ci_build(const json_t *e, hr_message *m)
{
    const json_t *culprits = json_object_get(at(at(e, "build"), "scm"), "culprits");
    const json_t *changes = json_object_get(at(at(e, "build"), "scm"), "changes"), *v;
    const char *status = hr_msg_str_at(e, "build.status");
    char *list = NULL;
    size_t i;

    m->url = hr_strdup(hr_msg_str_at(e, "summary.url"));
    if (hr_msg_str_at(e, "summary.name") != NULL && hr_msg_str_at(e, "summary.number") != NULL)
        m->run = hr_msg_fmt("%s/%s", hr_msg_str_at(e, "summary.name"),
                            hr_msg_str_at(e, "summary.number"));
    if (status != NULL)
        fact_str(m, "Status", status);
    fact_str(m, "Branch", hr_msg_str_at(e, "job.branch"));
    fact(m, "Commit", short_rev(hr_msg_str_at(e, "build.scm.commit")));
    if (json_is_integer(at(at(e, "build"), "duration_ms")))
        fact(m, "Duration", duration(json_integer_value(at(at(e, "build"), "duration_ms"))));
    json_array_foreach(culprits, i, v)
    {
        hr_committer who;
        if (json_is_string(v) && hr_committer_parse(json_string_value(v), NULL, &who))
            add_committer(m, &who);
    }
    committers_fact(m, "Culprits");
    list = NULL;
    json_array_foreach(changes, i, v)
    {
        if (!json_is_string(v) || i >= HR_MSG_MAX_REVISIONS)
            continue;
        char *more = list ? hr_msg_fmt("%s, %s", list, json_string_value(v))
                          : hr_strdup(json_string_value(v));
        free(list);
        list = bounded(more);
    }
    if (list != NULL && json_array_size(changes) > HR_MSG_MAX_REVISIONS) {
        char *more =
            hr_msg_fmt("%s and %zu more", list, json_array_size(changes) - HR_MSG_MAX_REVISIONS);
        free(list);
        list = bounded(more);
    }
    fact(m, "Changes", list);
}

static void agent(const json_t *e, hr_message *m)
{
    const char *host = hr_msg_str_at(e, "agent.host_name"),
               *ip = hr_msg_str_at(e, "agent.ip_address");
    const char *state = hr_msg_str_at(e, "agent.agent_state"),
               *config = hr_msg_str_at(e, "agent.config_state");
    const char *name = host != NULL ? host : hr_msg_str_at(e, "agent.uuid");

    m->word = hr_strdup(state != NULL ? state : "changed");
    m->tone = HR_TONE_INFO;
    if (state != NULL && (strcmp(state, "LostContact") == 0 || strcmp(state, "Missing") == 0))
        m->tone = HR_TONE_BAD;
    else if (config != NULL && strcmp(config, "Disabled") == 0)
        m->tone = HR_TONE_WARN;
    m->title = hr_msg_fmt("Agent %s is %s", name != NULL ? name : "?", m->word);
    fact_str(m, "Address", ip);
    fact_str(m, "Build state", hr_msg_str_at(e, "agent.build_state"));
    fact_str(m, "Config state", config);
    fact_str(m, "Operating system", hr_msg_str_at(e, "agent.operating_system"));
    m->timestamp = hr_strdup(hr_msg_str_at(e, "agent.transition_at"));
}

/* herald's own event about a target (docs/events.md, target-health). */
static void target_health(const json_t *e, hr_message *m)
{
    const char *target = hr_msg_str_at(e, "target_health.target");
    const char *change = hr_msg_str_at(e, "target_health.change");
    json_t *held = json_object_get(json_object_get(e, "target_health"), "held");
    char n[32];

    change = change != NULL ? change : "changed";
    m->word = hr_strdup(change);
    m->tone = strcmp(change, "circuit-closed") == 0 || strcmp(change, "enabled") == 0 ||
                      strcmp(change, "resumed") == 0
                  ? HR_TONE_GOOD
              : strcmp(change, "paused") == 0 ? HR_TONE_WARN
                                              : HR_TONE_BAD;
    m->title = hr_msg_fmt("herald: target %s %s", target != NULL ? target : "?", change);
    fact_str(m, "Reason", hr_msg_str_at(e, "target_health.reason"));
    fact_str(m, "State", hr_msg_str_at(e, "target_health.state"));
    if (json_is_integer(held)) {
        snprintf(n, sizeof(n), "%lld", (long long)json_integer_value(held));
        fact_str(m, "Held deliveries", n);
    }
    fact_str(m, "Last error", hr_msg_str_at(e, "target_health.last_error"));
    m->timestamp = hr_strdup(hr_msg_str_at(e, "received_at"));
}

int hr_message_from_event(const json_t *event, hr_message *m, hr_error *err)
{
    const char *kind = hr_msg_str_at(event, "kind");
    const char *name = hr_msg_str_at(event, "summary.name"),
               *number = hr_msg_str_at(event, "summary.number");

    memset(m, 0, sizeof(*m));
    m->committers_fact = -1;
    if (!json_is_object(event))
        return hr_error_set(err, HR_EINVAL, "the event is not an object");
    if (kind != NULL && strcmp(kind, "agent-status") == 0) {
        agent(event, m);
        return HR_OK;
    }
    if (kind != NULL && strcmp(kind, "target-health") == 0) {
        target_health(event, m);
        return HR_OK;
    }
    if (kind != NULL && strcmp(kind, "test") == 0) {
        m->word = hr_strdup("test");
        m->tone = HR_TONE_INFO;
        m->title =
            hr_msg_fmt("herald: a test event for %s", hr_msg_str_at(event, "test.target") != NULL
                                                          ? hr_msg_str_at(event, "test.target")
                                                          : "this target");
        m->text = hr_strdup(hr_msg_str_at(event, "test.message"));
        m->timestamp = hr_strdup(hr_msg_str_at(event, "received_at"));
        return HR_OK;
    }
    if (kind != NULL && strcmp(kind, "package-revision") == 0) {
        m->word = hr_strdup("published");
        m->tone = HR_TONE_INFO;
        m->title = hr_msg_fmt("%s: new revision %s", name != NULL ? name : "package",
                              number != NULL ? number : "?");
        m->url = hr_strdup(hr_msg_str_at(event, "summary.url"));
        m->timestamp = hr_strdup(hr_msg_str_at(event, "received_at"));
        return HR_OK;
    }
    word_and_tone(m, hr_msg_str_at(event, "transition"),
                  hr_msg_str_at(event, "summary.result") != NULL
                      ? hr_msg_str_at(event, "summary.result")
                      : hr_msg_str_at(event, "stage.state"));
    m->title = number != NULL
                   ? hr_msg_fmt("%s #%s %s", name != NULL ? name : "build", number, m->word)
                   : hr_msg_fmt("%s %s", name != NULL ? name : "build", m->word);
    m->timestamp = hr_strdup(hr_msg_str_at(event, "received_at"));
    if (kind != NULL && strcmp(kind, "stage-status") == 0)
        gocd_stage(event, m);
    else
        ci_build(event, m);
    if (m->subject == NULL)
        m->subject = hr_strdup(m->title);
    return HR_OK;
}

void hr_message_clear(hr_message *m)
{
    if (m == NULL)
        return;
    free(m->title);
    free(m->word);
    free(m->url);
    free(m->timestamp);
    free(m->run);
    free(m->text);
    free(m->subject);
    for (size_t i = 0; i < m->ncommitters; i++)
        hr_committer_clear(&m->committers[i]);
    for (size_t i = 0; i < m->nfacts; i++) {
        free(m->facts[i].label);
        free(m->facts[i].value);
    }
    memset(m, 0, sizeof(*m));
}
