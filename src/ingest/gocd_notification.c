/*
 * gocd_notification.c - maps GoCD notification bodies to events in one
 * pass, keeping whatever GoCD sent.
 *
 * GoCD never sends a notification twice: a body herald refuses is lost.
 * So only what identifies an event can refuse it: the body is not a JSON
 * object; for stage-status, pipeline or pipeline.stage is not an object, or
 * pipeline.name or pipeline.stage.name is not a non-empty string; for
 * agent-status, uuid is not one. Every other member is taken as sent: an
 * enum value herald does not know (a newer GoCD's stage state, material
 * type, ...) is kept verbatim, and a member of the wrong type is left unset
 * (the raw body keeps it). Each such problem becomes a warning on the
 * event.
 *
 * Each take_* helper reads one member of a JSON object, checks it against
 * the rule the caller names, and on a problem adds a "path: expected X;
 * got Y" message: to the refusals when the rule says the member identifies
 * the event, to the event's warnings otherwise. The walk always goes on,
 * so one call reports every problem (hr_errlist keeps the first
 * HR_MAX_ERRORS and counts the rest).
 *
 * Versions differ only in which members are read: pipeline.label and
 * jobs[].assign-time from 2.0, stage.previous-stage-name,
 * stage.previous-stage-counter and material.fingerprint from 4.0. Members
 * a version does not define are ignored like any other unknown member.
 * Both timestamp forms are accepted in every version, because servers up
 * to 25.4 sent local time with a literal 'Z' and later ones send +0000.
 */
#include "ingest/gocd_notification.h"

#include "core/ascii.h"
#include "core/jpath.h"
#include "core/jscan.h"
#include "core/mem.h"
#include "core/timefmt.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest JSON path written into a message; longer ones are cut. */
#define PATH_LEN HR_JPATH_LEN
/* Room for an hr_json_brief of any value. */
#define BRIEF_LEN 64
/* Tokens a body scans into on the stack (20 bytes each): a typical
 * stage-status takes about 150; a larger body takes one allocation. */
#define SCAN_TOKENS 512

/* What every helper needs: the scanned body, where messages go, and the
 * version's rules. Values are token indexes of js; 0 is "not there". */
typedef struct check {
    const hr_jscan *js;
    hr_errlist *errs;  /* refusals: the event cannot be identified */
    hr_errlist *warns; /* the event's warnings */
    int version;
} check;

/* Rules for the take_* and want_* helpers. */
enum {
    OPTIONAL = 0,      /* may be missing */
    REQUIRED = 1 << 0, /* missing is a problem */
    NULLABLE = 1 << 1, /* null is fine and stored as NULL */
    NONEMPTY = 1 << 2, /* "" is a problem */
    IDENTITY = 1 << 3, /* a problem refuses the event instead of warning */
};

static const char *const stage_states[] = {"Building",  "Failing", "Passed", "Failed",
                                           "Cancelled", "Unknown", NULL};
static const char *const results[] = {"Passed", "Failed", "Cancelled", "Unknown", NULL};
static const char *const job_states[] = {"Unknown",     "Scheduled",  "Assigned",  "Preparing",
                                         "Building",    "Completing", "Completed", "Discontinued",
                                         "Rescheduled", "Paused",     "Waiting",   NULL};
static const char *const approval_types[] = {"success", "manual", NULL};
static const char *const config_states[] = {"Pending", "Enabled", "Disabled", NULL};
static const char *const agent_states[] = {"Idle",      "Building", "LostContact", "Missing",
                                           "Cancelled", "Unknown",  NULL};
static const char *const build_states[] = {"Idle", "Building", "Cancelled", "Unknown", NULL};

/* Material types, in GoCD's order. The first five are source-control
 * materials described by the URL in their "<type>-configuration". */
enum { MAT_GIT, MAT_HG, MAT_SVN, MAT_TFS, MAT_P4, MAT_PIPELINE, MAT_PACKAGE, MAT_SCM };
static const char *const material_types[] = {"git",      "mercurial", "svn", "tfs", "perforce",
                                             "pipeline", "package",   "scm", NULL};
static const char *const material_configs[] = {"git-configuration",      "mercurial-configuration",
                                               "svn-configuration",      "tfs-configuration",
                                               "perforce-configuration", "pipeline-configuration",
                                               "package-configuration",  "scm-configuration"};

#define TIME_EXPECTED                                                                              \
    "a timestamp like 2011-07-13T19:43:37.100Z or 2011-07-13T19:43:37.100+0000, or \"\""

/* Adds "at: expected X; got Y" to the refusals when rules has IDENTITY,
 * else to the event's warnings. got is a token, 0 when missing. */
static void report(check *c, unsigned rules, const char *at, const char *expected, uint32_t got)
{
    char brief[BRIEF_LEN];
    hr_errlist_add((rules & IDENTITY) ? c->errs : c->warns, "%s: expected %s; got %s", at, expected,
                   got != 0 ? hr_jscan_brief(c->js, got, brief, sizeof(brief))
                            : hr_json_brief(NULL, brief, sizeof(brief)));
}

/* "A, B, C" from a NULL-terminated list, into buf. */
static const char *join(char *buf, size_t size, const char *const *names)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; names[i] != NULL && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%s", i ? ", " : "", names[i]);
    return buf;
}

static bool is_type(const check *c, uint32_t v, hr_jtype type)
{
    return v != 0 && hr_jscan_type(c->js, v) == type;
}

/* obj[key], 0 when missing. */
static uint32_t member(const check *c, uint32_t obj, const char *key)
{
    return hr_jscan_get(c->js, obj, key);
}

/* Reads obj[key] as a string under the given rules into *out (new; left
 * NULL when missing, null or not a string). A "" that NONEMPTY flags is
 * kept unless it identifies the event. */
static void take_string(check *c, uint32_t obj, const char *at, const char *key, unsigned rules,
                        char **out)
{
    char path[PATH_LEN];
    uint32_t v = member(c, obj, key);

    if ((v == 0 && !(rules & REQUIRED)) || (is_type(c, v, HR_JS_NULL) && (rules & NULLABLE)))
        return;
    if (!is_type(c, v, HR_JS_STRING)) {
        report(c, rules, hr_jpath_key(path, at, key),
               (rules & NULLABLE) ? "a string or null" : "a string", v);
        return;
    }
    /* An escape never unescapes to nothing: a raw length of 0 is "". */
    if ((rules & NONEMPTY) && c->js->tok[v].len == 0) {
        report(c, rules, hr_jpath_key(path, at, key), "a non-empty string", v);
        if (rules & IDENTITY)
            return;
    }
    *out = hr_jscan_strdup(c->js, v);
}

/*
 * Reads obj[key] as one of names into *out (new). GoCD's own enums are
 * compared exactly; agent-status values are compared ignoring case (the
 * docs show them lower-case, the server sends them capitalised) and stored
 * capitalised. Any other string is a warning and is kept as sent, so a
 * value a newer GoCD adds is stored and routable; a value that is not a
 * string is a warning and leaves *out NULL.
 */
static void take_enum(check *c, uint32_t obj, const char *at, const char *key,
                      const char *const *names, unsigned rules, bool any_case, char **out)
{
    char path[PATH_LEN], expected[256] = "one of ";
    uint32_t v = member(c, obj, key);

    if (v == 0 && !(rules & REQUIRED))
        return;
    if (is_type(c, v, HR_JS_STRING)) {
        char *s = hr_jscan_strdup(c->js, v);
        size_t len = strlen(s);
        for (size_t i = 0; names[i] != NULL; i++) {
            bool match = any_case ? hr_ascii_same_ignoring_case(s, len, names[i])
                                  : len == strlen(names[i]) && memcmp(s, names[i], len) == 0;
            if (match) {
                free(s);
                *out = hr_strdup(names[i]);
                return;
            }
        }
        *out = s;
    }
    join(expected + 7, sizeof(expected) - 7, names);
    report(c, rules, hr_jpath_key(path, at, key), expected, v);
}

/* Reads obj[key] as a timestamp or "" into *out; missing and "" leave it
 * HR_TIME_NONE. */
static void take_time(check *c, uint32_t obj, const char *at, const char *key, int64_t *out)
{
    char path[PATH_LEN];
    uint32_t v = member(c, obj, key);
    const hr_jtok *t = &c->js->tok[v];
    int64_t when;
    int rc;

    if (v == 0 || (t->type == HR_JS_STRING && t->len == 0))
        return;
    if (t->type != HR_JS_STRING) {
        rc = HR_EINVAL;
    } else if (!(t->flags & HR_JS_ESCAPED)) {
        rc = hr_time_parse(c->js->buf + t->off, t->len, &when);
    } else {
        char *s = hr_jscan_strdup(c->js, v);
        rc = hr_time_parse(s, strlen(s), &when);
        free(s);
    }
    if (rc != HR_OK) {
        report(c, OPTIONAL, hr_jpath_key(path, at, key), TIME_EXPECTED, v);
        return;
    }
    *out = when;
}

/* Reads an optional boolean obj[key] into *out. */
static void take_bool(check *c, uint32_t obj, const char *at, const char *key, bool *out)
{
    char path[PATH_LEN];
    uint32_t v = member(c, obj, key);

    if (v == 0)
        return;
    if (!is_type(c, v, HR_JS_TRUE) && !is_type(c, v, HR_JS_FALSE)) {
        report(c, OPTIONAL, hr_jpath_key(path, at, key), "true or false", v);
        return;
    }
    *out = is_type(c, v, HR_JS_TRUE);
}

/* obj[key] when it is an object, else 0; a missing member is a problem
 * only when rules has REQUIRED. */
static uint32_t want_object(check *c, uint32_t obj, const char *at, const char *key, unsigned rules)
{
    char path[PATH_LEN];
    uint32_t v = member(c, obj, key);

    if (is_type(c, v, HR_JS_OBJECT))
        return v;
    if (v != 0 || (rules & REQUIRED))
        report(c, rules, hr_jpath_key(path, at, key), "an object", v);
    return 0;
}

/* obj[key] when it is an array, else 0; a missing member is a problem
 * only when required. *n is how many entries to read: all of them, or
 * the first max with a warning. */
static uint32_t want_array(check *c, uint32_t obj, const char *at, const char *key, bool required,
                           size_t max, size_t *n)
{
    char path[PATH_LEN];
    uint32_t v = member(c, obj, key);

    *n = 0;
    if (v == 0 && !required)
        return 0;
    if (!is_type(c, v, HR_JS_ARRAY)) {
        report(c, OPTIONAL, hr_jpath_key(path, at, key), "an array", v);
        return 0;
    }
    *n = c->js->tok[v].n;
    if (*n > max) {
        hr_errlist_add(c->warns,
                       "%s: expected at most %zu entries; got %zu (the first %zu are kept)",
                       hr_jpath_key(path, at, key), max, *n, max);
        *n = max;
    }
    return v;
}

/* Warns about every value of the object map that is not a string. */
static void check_string_map(check *c, uint32_t map, const char *at)
{
    char path[PATH_LEN];
    uint32_t k = hr_jscan_first(map);

    for (uint32_t m = 0; m < c->js->tok[map].n; m++, k = hr_jscan_next(c->js, k + 1)) {
        if (hr_jscan_type(c->js, k + 1) != HR_JS_STRING) {
            char *key = hr_jscan_strdup(c->js, k);
            report(c, OPTIONAL, hr_jpath_name(path, at, key, strlen(key)), "a string", k + 1);
            free(key);
        }
    }
}

/* Reads obj[key] as an object of string values (kept as sent whatever its
 * values), or 0. */
static uint32_t want_string_map(check *c, uint32_t obj, const char *at, const char *key,
                                unsigned rules)
{
    char path[PATH_LEN];
    uint32_t map = want_object(c, obj, at, key, rules);

    if (map != 0)
        check_string_map(c, map, hr_jpath_key(path, at, key));
    return map;
}

/* "a/b", new. */
static char *slash_join(const char *a, const char *b)
{
    size_t alen = strlen(a), blen = strlen(b);
    char *s = hr_malloc(alen + blen + 2);
    memcpy(s, a, alen);
    s[alen] = '/';
    memcpy(s + alen + 1, b, blen + 1);
    return s;
}

/* Index of a material type name, or -1. */
static int material_kind(const char *type)
{
    for (int i = 0; material_types[i] != NULL; i++)
        if (strcmp(type, material_types[i]) == 0)
            return i;
    return -1;
}

/* A package or scm material: the plugin's maps sit beside the plugin id;
 * the event's config keeps them together, as sent (a jansson object built
 * for this part only). */
static void map_plugin_material(check *c, uint32_t m, const char *at, int kind, hr_cause *cause)
{
    uint32_t plugin = member(c, m, "plugin-id"), pkg, repo = 0;

    take_string(c, m, at, "plugin-id", REQUIRED | NONEMPTY, &cause->material);
    pkg = want_string_map(c, m, at, material_configs[kind], REQUIRED);
    if (kind == MAT_PACKAGE)
        repo = want_string_map(c, m, at, "repository-configuration", REQUIRED);
    cause->config = json_object();
    if (plugin != 0)
        json_object_set_new(cause->config, "plugin-id", hr_jscan_to_json(c->js, plugin));
    if (pkg != 0)
        json_object_set_new(cause->config, material_configs[kind], hr_jscan_to_json(c->js, pkg));
    if (repo != 0)
        json_object_set_new(cause->config, "repository-configuration",
                            hr_jscan_to_json(c->js, repo));
}

/* A material of a type herald does not know (the type itself was warned
 * about): its "<type>-configuration" object, if any, is kept as the
 * config, and its url, if any, describes it. */
static void map_unknown_material(check *c, uint32_t m, const char *type, hr_cause *cause)
{
    char key[PATH_LEN];
    uint32_t cfg, url;

    snprintf(key, sizeof(key), "%s-configuration", type);
    cfg = member(c, m, key);
    if (!is_type(c, cfg, HR_JS_OBJECT))
        return;
    cause->config = hr_jscan_to_json(c->js, cfg);
    url = member(c, cfg, "url");
    if (is_type(c, url, HR_JS_STRING))
        cause->material = hr_jscan_strdup(c->js, url);
}

/* Maps a build cause's material: its type, its configuration and the short
 * description routes and templates show. */
static void map_material(check *c, uint32_t m, const char *at, hr_cause *cause)
{
    char path[PATH_LEN];
    uint32_t cfg;
    char *pipeline = NULL, *stage = NULL;
    int kind;

    take_enum(c, m, at, "type", material_types, REQUIRED, false, &cause->material_type);
    if (c->version >= 4)
        take_string(c, m, at, "fingerprint", OPTIONAL, &cause->fingerprint);
    if (cause->material_type == NULL)
        return;
    kind = material_kind(cause->material_type);

    switch (kind) {
    case -1:
        map_unknown_material(c, m, cause->material_type, cause);
        break;
    case MAT_PIPELINE:
        cfg = want_object(c, m, at, material_configs[kind], REQUIRED);
        if (cfg == 0)
            break;
        hr_jpath_key(path, at, material_configs[kind]);
        take_string(c, cfg, path, "pipeline-name", REQUIRED | NONEMPTY, &pipeline);
        take_string(c, cfg, path, "stage-name", REQUIRED | NONEMPTY, &stage);
        if (pipeline != NULL && stage != NULL)
            cause->material = slash_join(pipeline, stage);
        cause->config = hr_jscan_to_json(c->js, cfg);
        break;
    case MAT_PACKAGE:
    case MAT_SCM:
        map_plugin_material(c, m, at, kind, cause);
        break;
    default:
        /* git, mercurial, svn, tfs, perforce: described by their URL. */
        cfg = want_object(c, m, at, material_configs[kind], REQUIRED);
        if (cfg == 0)
            break;
        take_string(c, cfg, hr_jpath_key(path, at, material_configs[kind]), "url",
                    REQUIRED | NONEMPTY, &cause->material);
        cause->config = hr_jscan_to_json(c->js, cfg);
        break;
    }
    free(pipeline);
    free(stage);
}

static void map_modification(check *c, uint32_t m, const char *at, hr_modification *mod)
{
    uint32_t data;

    take_string(c, m, at, "revision", REQUIRED, &mod->revision);
    take_time(c, m, at, "modified-time", &mod->modified_at);
    /* A null map is taken as empty: the server serialises unset values as
     * null, and an empty map says the same. */
    data = member(c, m, "data");
    if (is_type(c, data, HR_JS_NULL))
        data = 0;
    else
        data = want_string_map(c, m, at, "data", OPTIONAL);
    mod->data = data != 0 ? hr_jscan_to_json(c->js, data) : json_object();
}

static void map_cause(check *c, uint32_t bc, const char *at, hr_cause *cause)
{
    char path[PATH_LEN], ipath[PATH_LEN];
    uint32_t m, mods, mv;
    size_t n;

    if ((m = want_object(c, bc, at, "material", REQUIRED)) != 0)
        map_material(c, m, hr_jpath_key(path, at, "material"), cause);
    take_bool(c, bc, at, "changed", &cause->changed);
    mods = want_array(c, bc, at, "modifications", false, SIZE_MAX, &n);
    if (mods == 0 || n == 0)
        return;
    hr_jpath_key(path, at, "modifications");
    cause->nmods = n;
    cause->mods = hr_calloc(cause->nmods, sizeof(*cause->mods));
    mv = hr_jscan_first(mods);
    for (size_t i = 0; i < cause->nmods; i++, mv = hr_jscan_next(c->js, mv)) {
        cause->mods[i].modified_at = HR_TIME_NONE;
        if (!is_type(c, mv, HR_JS_OBJECT)) {
            report(c, OPTIONAL, hr_jpath_index(ipath, path, i), "an object", mv);
            cause->mods[i].data = json_object();
            continue;
        }
        map_modification(c, mv, hr_jpath_index(ipath, path, i), &cause->mods[i]);
    }
}

static void map_job(check *c, uint32_t j, const char *at, hr_job *job)
{
    take_string(c, j, at, "name", REQUIRED | NONEMPTY, &job->name);
    take_enum(c, j, at, "state", job_states, REQUIRED, false, &job->state);
    take_enum(c, j, at, "result", results, REQUIRED, false, &job->result);
    take_time(c, j, at, "schedule-time", &job->scheduled_at);
    if (c->version >= 2)
        take_time(c, j, at, "assign-time", &job->assigned_at);
    take_time(c, j, at, "complete-time", &job->completed_at);
    take_string(c, j, at, "agent-uuid", NULLABLE, &job->agent_uuid);
}

/* Reads v4's previous-stage-counter: a JSON integer, 0 when none. */
static void take_counter(check *c, uint32_t obj, const char *at, const char *key, int64_t *out)
{
    char path[PATH_LEN];
    uint32_t v = member(c, obj, key);
    int64_t n;

    if (v == 0)
        return;
    if (hr_jscan_int64(c->js, v, &n) != HR_OK || n < 0) {
        report(c, OPTIONAL, hr_jpath_key(path, at, key), "a whole number >= 0", v);
        return;
    }
    *out = n;
}

static void map_stage(check *c, uint32_t s, const char *at, hr_event *ev)
{
    char path[PATH_LEN], ipath[PATH_LEN];
    uint32_t jobs, j;
    size_t n;

    take_string(c, s, at, "name", IDENTITY | REQUIRED | NONEMPTY, &ev->stage_name);
    take_string(c, s, at, "counter", REQUIRED, &ev->stage_counter);
    take_enum(c, s, at, "approval-type", approval_types, OPTIONAL, false, &ev->approval_type);
    take_string(c, s, at, "approved-by", OPTIONAL, &ev->approved_by);
    if (c->version >= 4) {
        take_string(c, s, at, "previous-stage-name", NULLABLE, &ev->previous_stage_name);
        take_counter(c, s, at, "previous-stage-counter", &ev->previous_stage_counter);
    }
    take_enum(c, s, at, "state", stage_states, REQUIRED, false, &ev->stage_state);
    take_enum(c, s, at, "result", results, REQUIRED, false, &ev->stage_result);
    take_time(c, s, at, "create-time", &ev->stage_created_at);
    take_time(c, s, at, "last-transition-time", &ev->stage_transition_at);

    jobs = want_array(c, s, at, "jobs", true, HR_MAX_JOBS, &n);
    if (jobs == 0 || n == 0)
        return;
    hr_jpath_key(path, at, "jobs");
    ev->njobs = n;
    ev->jobs = hr_calloc(ev->njobs, sizeof(*ev->jobs));
    j = hr_jscan_first(jobs);
    for (size_t i = 0; i < ev->njobs; i++, j = hr_jscan_next(c->js, j)) {
        hr_job *job = &ev->jobs[i];
        job->scheduled_at = job->assigned_at = job->completed_at = HR_TIME_NONE;
        if (!is_type(c, j, HR_JS_OBJECT)) {
            report(c, OPTIONAL, hr_jpath_index(ipath, path, i), "an object", j);
            continue;
        }
        map_job(c, j, hr_jpath_index(ipath, path, i), job);
    }
}

static void map_pipeline(check *c, uint32_t p, hr_event *ev)
{
    char ipath[PATH_LEN];
    const char *at = "pipeline";
    uint32_t causes, stage, bc;
    size_t n;

    take_string(c, p, at, "name", IDENTITY | REQUIRED | NONEMPTY, &ev->pipeline_name);
    take_string(c, p, at, "counter", REQUIRED, &ev->pipeline_counter);
    if (c->version >= 2)
        take_string(c, p, at, "label", NULLABLE, &ev->pipeline_label);
    take_string(c, p, at, "group", NULLABLE, &ev->pipeline_group);

    causes = want_array(c, p, at, "build-cause", false, HR_MAX_CAUSES, &n);
    if (causes != 0 && n > 0) {
        ev->ncauses = n;
        ev->causes = hr_calloc(ev->ncauses, sizeof(*ev->causes));
        bc = hr_jscan_first(causes);
        for (size_t i = 0; i < ev->ncauses; i++, bc = hr_jscan_next(c->js, bc)) {
            if (!is_type(c, bc, HR_JS_OBJECT)) {
                report(c, OPTIONAL, hr_jpath_index(ipath, "pipeline.build-cause", i), "an object",
                       bc);
                continue;
            }
            map_cause(c, bc, hr_jpath_index(ipath, "pipeline.build-cause", i), &ev->causes[i]);
        }
    }

    if ((stage = want_object(c, p, at, "stage", IDENTITY | REQUIRED)) != 0)
        map_stage(c, stage, "pipeline.stage", ev);
}

/* Sets the fields every GoCD event carries. */
static void set_header(hr_event *ev, const char *kind, int version, const char *body, size_t len)
{
    char v[16];
    snprintf(v, sizeof(v), "%d.0", version);
    ev->source = hr_strdup(HR_SOURCE_GOCD);
    ev->kind = hr_strdup(kind);
    ev->version = hr_strdup(v);
    ev->raw = hr_strndup(body, len);
    ev->raw_len = len;
}

int hr_gocd_parse_version(const char *s, int *out)
{
    static const char *const names[] = {"1.0", "2.0", "3.0", "4.0"};

    if (s == NULL || s[0] == '\0') {
        *out = HR_GOCD_MAX_VERSION;
        return HR_OK;
    }
    for (int v = HR_GOCD_MIN_VERSION; v <= HR_GOCD_MAX_VERSION; v++) {
        const char *name = names[v - HR_GOCD_MIN_VERSION];
        if (strcmp(s, name) == 0 || (s[0] == name[0] && s[1] == '\0')) {
            *out = v;
            return HR_OK;
        }
    }
    return HR_EINVAL;
}

int hr_gocd_stage_status(const char *body, size_t len, int version, hr_event **out,
                         hr_errlist *errs)
{
    hr_errlist scratch = HR_ERRLIST_INIT;
    hr_jtok stack[SCAN_TOKENS];
    hr_jscan js = {0};
    hr_event *ev = NULL;
    uint32_t pipeline;
    check c;
    size_t before;
    int rc = HR_EINVAL;

    if (errs == NULL)
        errs = &scratch;
    before = hr_errlist_count(errs);
    c.js = &js;
    c.errs = errs;
    c.warns = NULL;
    c.version = version;
    if (version < HR_GOCD_MIN_VERSION || version > HR_GOCD_MAX_VERSION) {
        hr_errlist_add(errs,
                       "stage-status: herald speaks notification extension versions 1.0 to "
                       "4.0; got %d.0",
                       version);
        goto out;
    }
    if (hr_jscan_parse_object(&js, body, len, stack, SCAN_TOKENS, errs) != HR_OK)
        goto out;

    ev = hr_event_new();
    c.warns = &ev->warnings;
    if ((pipeline = want_object(&c, 0, "", "pipeline", IDENTITY | REQUIRED)) != 0)
        map_pipeline(&c, pipeline, ev);
    if (hr_errlist_count(errs) != before)
        goto out;

    set_header(ev, HR_KIND_STAGE_STATUS, version, body, len);
    *out = ev;
    ev = NULL;
    rc = HR_OK;
out:
    hr_event_free(ev);
    hr_jscan_free(&js);
    hr_errlist_clear(&scratch);
    return rc;
}

int hr_gocd_agent_status(const char *body, size_t len, int version, hr_event **out,
                         hr_errlist *errs)
{
    hr_errlist scratch = HR_ERRLIST_INIT;
    hr_jtok stack[SCAN_TOKENS];
    hr_jscan js = {0};
    hr_event *ev = NULL;
    hr_agent *a;
    check c;
    size_t before;
    int rc = HR_EINVAL;

    if (errs == NULL)
        errs = &scratch;
    before = hr_errlist_count(errs);
    c.js = &js;
    c.errs = errs;
    c.warns = NULL;
    c.version = version;
    if (version < 3 || version > HR_GOCD_MAX_VERSION) {
        if (version >= HR_GOCD_MIN_VERSION && version < 3)
            hr_errlist_add(errs,
                           "agent-status: needs notification extension version 3.0 or "
                           "later; got %d.0",
                           version);
        else
            hr_errlist_add(errs,
                           "agent-status: herald speaks notification extension versions "
                           "3.0 to 4.0; got %d.0",
                           version);
        goto out;
    }
    if (hr_jscan_parse_object(&js, body, len, stack, SCAN_TOKENS, errs) != HR_OK)
        goto out;

    ev = hr_event_new();
    c.warns = &ev->warnings;
    ev->has_agent = true;
    a = &ev->agent;
    take_string(&c, 0, "", "uuid", IDENTITY | REQUIRED | NONEMPTY, &a->uuid);
    take_enum(&c, 0, "", "agent_config_state", config_states, REQUIRED, true, &a->config_state);
    take_enum(&c, 0, "", "agent_state", agent_states, REQUIRED, true, &a->agent_state);
    take_enum(&c, 0, "", "build_state", build_states, REQUIRED, true, &a->build_state);
    take_bool(&c, 0, "", "is_elastic", &a->is_elastic);
    take_string(&c, 0, "", "host_name", NULLABLE, &a->host_name);
    take_string(&c, 0, "", "ip_address", NULLABLE, &a->ip_address);
    take_string(&c, 0, "", "operating_system", NULLABLE, &a->operating_system);
    take_string(&c, 0, "", "free_space", NULLABLE, &a->free_space);
    take_time(&c, 0, "", "transition_time", &a->transition_at);
    if (hr_errlist_count(errs) != before)
        goto out;

    set_header(ev, HR_KIND_AGENT_STATUS, version, body, len);
    *out = ev;
    ev = NULL;
    rc = HR_OK;
out:
    hr_event_free(ev);
    hr_jscan_free(&js);
    hr_errlist_clear(&scratch);
    return rc;
}
