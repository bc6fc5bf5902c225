/*
 * notify.c - `herald notify`: a build's status, from any CI, to herald.
 *
 * The body is herald's /ci/notify format (ingest/jenkins.h, hr_ci_notify):
 *   {"ci", "job", "build", "status", "url", "job_url", "branch", "commit",
 *    "scm_url", "display_name", "body", "environment"}
 * with absent members left out and build an integer. What the flags do
 * not say is read from the variables the CI running the command sets
 * (see detect()); a flag always wins over a variable.
 */
#include "cli/cli.h"

#include "cli/http.h"
#include "core/error.h"
#include "core/limits.h"
#include "core/mem.h"
#include "ingest/redact.h"

#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CMD "notify"
#define DEFAULT_DEADLINE "5m"
#define DEFAULT_TIMEOUT "30s"

/* The members that are plain strings, in the order they are sent. */
enum { F_JOB, F_URL, F_JOB_URL, F_BRANCH, F_COMMIT, F_SCM_URL, F_DISPLAY_NAME, F_COUNT };
static const char *const field_names[F_COUNT] = {"job",    "url",     "job_url",     "branch",
                                                 "commit", "scm_url", "display_name"};

/* What the CI's variables say; every string is new or NULL. */
typedef struct facts {
    const char *ci; /* static; NULL when no CI was recognised */
    char *field[F_COUNT];
    char *build;
} facts;

static void facts_clear(facts *f)
{
    for (int i = 0; i < F_COUNT; i++)
        free(f->field[i]);
    free(f->build);
}

/* A variable's value, or NULL when it is unset or empty. */
static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

static char *dup_env(const char *name)
{
    return hr_strdup(env(name));
}

/* A new string formatted like printf. */
static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    int n;
    char *out;
    va_start(ap, f);
    n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    out = hr_malloc((size_t)n + 1);
    va_start(ap, f);
    vsnprintf(out, (size_t)n + 1, f, ap);
    va_end(ap);
    return out;
}

/* "a/b/c" from the parts that are set (NULL when none is). */
static char *join3(const char *a, const char *b, const char *c)
{
    const char *parts[3] = {a, b, c};
    char *out = NULL;
    for (int i = 0; i < 3; i++) {
        char *next;
        if (parts[i] == NULL)
            continue;
        next = out == NULL ? hr_strdup(parts[i]) : fmt("%s/%s", out, parts[i]);
        free(out);
        out = next;
    }
    return out;
}

/* A base URL without its trailing slashes (new). */
static char *trim_slash(const char *url)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    return hr_strndup(url, n);
}

/* GoCD names each material's revision GO_REVISION_<material>: the one
 * there is when there is exactly one (new), else NULL. */
static char *gocd_sole_revision(void)
{
    extern char **environ;
    const char *found = NULL;
    for (char **e = environ; *e != NULL; e++) {
        if (strncmp(*e, "GO_REVISION_", 12) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (eq == NULL || eq[1] == '\0')
            continue;
        if (found != NULL)
            return NULL;
        found = eq + 1;
    }
    return hr_strdup(found);
}

/*
 * Reads what the CI running the command says about the build. The CIs
 * are recognised by the variable each sets on every job: GITLAB_CI,
 * GITHUB_ACTIONS, GO_PIPELINE_NAME (GoCD agents), JENKINS_URL or
 * JENKINS_HOME. The names come from each CI's documentation of its
 * variables (docs/jenkins.md lists them).
 */
static void detect(facts *f)
{
    memset(f, 0, sizeof(*f));
    if (env("GITLAB_CI") != NULL) {
        f->ci = "gitlab";
        f->field[F_JOB] = join3(env("CI_PROJECT_PATH"), env("CI_JOB_NAME"), NULL);
        f->build = dup_env(env("CI_PIPELINE_IID") != NULL ? "CI_PIPELINE_IID" : "CI_JOB_ID");
        f->field[F_URL] = dup_env("CI_JOB_URL");
        f->field[F_BRANCH] = dup_env("CI_COMMIT_REF_NAME");
        f->field[F_COMMIT] = dup_env("CI_COMMIT_SHA");
        f->field[F_SCM_URL] = dup_env("CI_PROJECT_URL");
    } else if (env("GITHUB_ACTIONS") != NULL) {
        const char *server = env("GITHUB_SERVER_URL"), *repo = env("GITHUB_REPOSITORY");
        const char *run = env("GITHUB_RUN_ID");
        f->ci = "github";
        f->field[F_JOB] = join3(repo, env("GITHUB_WORKFLOW"), env("GITHUB_JOB"));
        f->build = dup_env("GITHUB_RUN_NUMBER");
        if (server != NULL && repo != NULL) {
            char *s = trim_slash(server);
            if (run != NULL)
                f->field[F_URL] = fmt("%s/%s/actions/runs/%s", s, repo, run);
            f->field[F_SCM_URL] = fmt("%s/%s", s, repo);
            free(s);
        }
        f->field[F_BRANCH] = dup_env("GITHUB_REF_NAME");
        f->field[F_COMMIT] = dup_env("GITHUB_SHA");
    } else if (env("GO_PIPELINE_NAME") != NULL) {
        const char *server = env("GO_SERVER_URL"), *p = env("GO_PIPELINE_NAME");
        const char *c = env("GO_PIPELINE_COUNTER"), *st = env("GO_STAGE_NAME");
        const char *sc = env("GO_STAGE_COUNTER"), *j = env("GO_JOB_NAME");
        f->ci = "gocd";
        f->field[F_JOB] = join3(p, st, j);
        f->build = dup_env("GO_PIPELINE_COUNTER");
        f->field[F_DISPLAY_NAME] = dup_env("GO_PIPELINE_LABEL");
        if (server != NULL) {
            char *s = trim_slash(server);
            if (c != NULL && st != NULL && sc != NULL && j != NULL)
                f->field[F_URL] = fmt("%s/tab/build/detail/%s/%s/%s/%s/%s", s, p, c, st, sc, j);
            f->field[F_JOB_URL] = fmt("%s/pipeline/activity/%s", s, p);
            free(s);
        }
        f->field[F_COMMIT] =
            env("GO_REVISION") != NULL ? dup_env("GO_REVISION") : gocd_sole_revision();
    } else if (env("JENKINS_URL") != NULL || env("JENKINS_HOME") != NULL) {
        f->ci = "jenkins";
        f->field[F_JOB] = dup_env("JOB_NAME");
        f->build = dup_env("BUILD_NUMBER");
        f->field[F_URL] = dup_env("BUILD_URL");
        f->field[F_JOB_URL] = dup_env("JOB_URL");
        f->field[F_BRANCH] = dup_env(env("BRANCH_NAME") != NULL ? "BRANCH_NAME" : "GIT_BRANCH");
        f->field[F_COMMIT] = dup_env("GIT_COMMIT");
        f->field[F_SCM_URL] = dup_env("GIT_URL");
        f->field[F_DISPLAY_NAME] = dup_env("BUILD_DISPLAY_NAME");
    }
}

/* ---- flags ------------------------------------------------------------ */

/* The status words /ci/notify takes, and the aliases this command adds
 * for people typing them (compared ignoring case). */
static const struct {
    const char *word, *means;
} status_words[] = {
    {"START", "START"},       {"RUNNING", "RUNNING"},   {"SUCCESS", "SUCCESS"},
    {"UNSTABLE", "UNSTABLE"}, {"FAILURE", "FAILURE"},   {"NOT_BUILT", "NOT_BUILT"},
    {"ABORTED", "ABORTED"},   {"COMPLETE", "COMPLETE"}, {"started", "START"},
    {"passed", "SUCCESS"},    {"failed", "FAILURE"},    {"cancelled", "ABORTED"},
    {"canceled", "ABORTED"},
};

static const char *status_word(const char *s)
{
    for (size_t i = 0; i < sizeof(status_words) / sizeof(status_words[0]); i++)
        if (strcasecmp(s, status_words[i].word) == 0)
            return status_words[i].means;
    return NULL;
}

/* A build number: 1 or more, digits only. */
static bool parse_build(const char *s, json_int_t *out)
{
    json_int_t n = 0;
    if (s == NULL || *s == '\0')
        return false;
    for (const char *c = s; *c != '\0'; c++) {
        if (*c < '0' || *c > '9' || n > (json_int_t)1e15)
            return false;
        n = n * 10 + (*c - '0');
    }
    if (n < 1)
        return false;
    *out = n;
    return true;
}

/* herald's rule for a CI name: 1 to 32 of a-z, 0-9 and '-'. */
static bool ci_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 32)
        return false;
    for (const char *c = s; *c != '\0'; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-'))
            return false;
    return true;
}

/* Reads a whole file ("-" for standard input) of at most max bytes into
 * *out (new), *len. HR_ETOOBIG past max, HR_EIO when it cannot be read. */
static int read_file(const char *path, size_t max, char **out, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *buf;
    size_t n = 0, got;
    if (f == NULL)
        return HR_EIO;
    buf = hr_malloc(max + 2);
    while ((got = fread(buf + n, 1, max + 1 - n, f)) > 0) {
        n += got;
        if (n > max)
            break;
    }
    if (ferror(f)) {
        if (f != stdin)
            fclose(f);
        free(buf);
        return HR_EIO;
    }
    if (f != stdin)
        fclose(f);
    if (n > max) {
        free(buf);
        return HR_ETOOBIG;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return HR_OK;
}

/* The environment variables the --env globs keep, redacted by the default
 * patterns and with credentials scrubbed from the other values (new; NULL
 * when none is left). */
static json_t *environment(const char **globs, size_t n)
{
    extern char **environ;
    hr_redact *r = NULL;
    json_t *out;

    if (n == 0 || hr_redact_new(NULL, 0, globs, n, &r, NULL) != HR_OK)
        return NULL;
    out = json_object();
    for (char **e = environ; *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        char *name;
        json_t *v;
        if (eq == NULL || eq == *e)
            continue;
        name = hr_strndup(*e, (size_t)(eq - *e));
        /* Variables that are not UTF-8 cannot travel in JSON; skipped. */
        v = hr_redact_keeps(r, name) ? json_string(eq + 1) : NULL;
        if (v != NULL)
            json_object_set_new(out, name, v);
        free(name);
    }
    hr_redact_env(r, out);
    hr_redact_free(r);
    if (json_object_size(out) == 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

typedef struct notify_opts {
    const char *url, *token, *token_file, *status, *build, *body, *body_file, *ci;
    const char *deadline, *timeout, *proxy;
    const char *field[F_COUNT];
    const char **env;
    size_t nenv;
    bool quiet;
} notify_opts;

enum {
    O_URL = 256,
    O_TOKEN,
    O_TOKEN_FILE,
    O_STATUS,
    O_JOB,
    O_BUILD,
    O_BODY,
    O_BODY_FILE,
    O_ENV,
    O_BRANCH,
    O_COMMIT,
    O_BUILD_URL,
    O_JOB_URL,
    O_SCM_URL,
    O_DISPLAY_NAME,
    O_CI,
    O_DEADLINE,
    O_TIMEOUT,
    O_PROXY,
    O_QUIET,
};

/* Builds the body from the flags and the CI's variables. Returns
 * HR_CLI_EXIT_OK with *out (new), or prints why and returns
 * HR_CLI_EXIT_USAGE. */
static int build_body(const notify_opts *o, json_t **out)
{
    facts f;
    json_t *doc = json_object(), *v;
    const char *status = status_word(o->status), *ci;
    json_int_t build;
    char *text = NULL;
    size_t len = 0;
    int rc = HR_CLI_EXIT_USAGE;

    detect(&f);
    if (status == NULL) {
        hr_cli__usage(CMD,
                      "--status %s: expected START, RUNNING, SUCCESS, UNSTABLE, FAILURE, "
                      "NOT_BUILT, ABORTED or COMPLETE (or started, passed, failed, cancelled)",
                      o->status);
        goto out;
    }
    ci = o->ci != NULL ? o->ci : f.ci;
    if (ci != NULL)
        json_object_set_new(doc, "ci", json_string(ci));
    for (int i = 0; i < F_COUNT; i++) {
        const char *given = o->field[i];
        const char *val = given != NULL ? given : f.field[i];
        if (val == NULL || val[0] == '\0')
            continue;
        if (i == F_JOB) {
            if ((v = json_string(val)) == NULL) {
                hr_cli__usage(CMD, "the job name is not UTF-8 text");
                goto out;
            }
            json_object_set_new(doc, "job", v);
            if (o->build != NULL) {
                if (!parse_build(o->build, &build)) {
                    hr_cli__usage(CMD, "--build %s: expected a build number, 1 or more", o->build);
                    goto out;
                }
                json_object_set_new(doc, "build", json_integer(build));
            } else if (parse_build(f.build, &build)) {
                json_object_set_new(doc, "build", json_integer(build));
            }
            json_object_set_new(doc, "status", json_string(status));
            continue;
        }
        if ((v = json_string(val)) == NULL) {
            if (given != NULL) {
                hr_cli__usage(CMD, "--%s: not UTF-8 text", field_names[i]);
                goto out;
            }
            continue; /* a CI variable that is not UTF-8: left out */
        }
        json_object_set_new(doc, field_names[i], v);
    }
    if (json_object_get(doc, "job") == NULL) {
        hr_cli__usage(CMD, "--job NAME is needed (no CI variable names the job: JOB_NAME, "
                           "CI_JOB_NAME, GITHUB_WORKFLOW, GO_PIPELINE_NAME)");
        goto out;
    }
    if (o->body != NULL) {
        v = json_string(o->body);
        if (v == NULL) {
            hr_cli__usage(CMD, "--body: not UTF-8 text");
            goto out;
        }
        json_object_set_new(doc, "body", v);
    } else if (o->body_file != NULL) {
        int r = read_file(o->body_file, HR_MAX_BODY_BYTES, &text, &len);
        if (r != HR_OK) {
            hr_cli__usage(CMD, "--body-file %s: %s", o->body_file,
                          r == HR_ETOOBIG ? "larger than herald takes (1 MiB)" : "cannot read it");
            goto out;
        }
        v = json_stringn(text, len);
        if (v == NULL) {
            hr_cli__usage(CMD, "--body-file %s: not UTF-8 text", o->body_file);
            goto out;
        }
        json_object_set_new(doc, "body", v);
    }
    if ((v = environment(o->env, o->nenv)) != NULL)
        json_object_set_new(doc, "environment", v);
    /* herald scrubs them too; they need not travel at all. */
    hr_redact_values_in(doc);
    *out = doc;
    doc = NULL;
    rc = HR_CLI_EXIT_OK;
out:
    json_decref(doc);
    free(text);
    facts_clear(&f);
    return rc;
}

static void print_ack(const hr_cli__answer *a)
{
    json_t *j = json_loadb(a->body, a->len, 0, NULL);
    json_t *id = json_object_get(j, "id");
    const char *t = json_string_value(json_object_get(j, "transition"));
    if (json_is_integer(id) && t != NULL)
        printf("herald stored event %lld (%s)\n", (long long)json_integer_value(id), t);
    else if (json_is_integer(id))
        printf("herald stored event %lld\n", (long long)json_integer_value(id));
    else
        printf("herald acknowledged (HTTP %ld)\n", a->status);
    json_decref(j);
}

int hr_cli_notify(int argc, char **argv, hr_cli_usage_fn *usage)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, O_URL},
        {"token", required_argument, NULL, O_TOKEN},
        {"token-file", required_argument, NULL, O_TOKEN_FILE},
        {"status", required_argument, NULL, O_STATUS},
        {"job", required_argument, NULL, O_JOB},
        {"build", required_argument, NULL, O_BUILD},
        {"body", required_argument, NULL, O_BODY},
        {"body-file", required_argument, NULL, O_BODY_FILE},
        {"env", required_argument, NULL, O_ENV},
        {"branch", required_argument, NULL, O_BRANCH},
        {"commit", required_argument, NULL, O_COMMIT},
        {"build-url", required_argument, NULL, O_BUILD_URL},
        {"job-url", required_argument, NULL, O_JOB_URL},
        {"scm-url", required_argument, NULL, O_SCM_URL},
        {"display-name", required_argument, NULL, O_DISPLAY_NAME},
        {"ci", required_argument, NULL, O_CI},
        {"deadline", required_argument, NULL, O_DEADLINE},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"proxy", required_argument, NULL, O_PROXY},
        {"quiet", no_argument, NULL, O_QUIET},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    notify_opts o = {.deadline = DEFAULT_DEADLINE, .timeout = DEFAULT_TIMEOUT};
    hr_cli__post_opts p = {.cmd = CMD, .path = "/ci/notify"};
    char request_id[37];
    hr_cli__answer ans = {0};
    json_t *doc = NULL;
    char *token = NULL, *text = NULL, why[128];
    int c, rc = HR_CLI_EXIT_USAGE;

    o.env = hr_calloc((size_t)argc, sizeof(*o.env));
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_URL:
            o.url = optarg;
            break;
        case O_TOKEN:
            o.token = optarg;
            break;
        case O_TOKEN_FILE:
            o.token_file = optarg;
            break;
        case O_STATUS:
            o.status = optarg;
            break;
        case O_JOB:
            o.field[F_JOB] = optarg;
            break;
        case O_BUILD:
            o.build = optarg;
            break;
        case O_BODY:
            o.body = optarg;
            break;
        case O_BODY_FILE:
            o.body_file = optarg;
            break;
        case O_ENV:
            if (optarg[0] == '\0') {
                hr_cli__usage(CMD, "--env: expected a variable name or glob; got nothing");
                goto out;
            }
            if (strlen(optarg) > 256) {
                hr_cli__usage(CMD, "--env: expected a glob of at most 256 bytes");
                goto out;
            }
            o.env[o.nenv++] = optarg;
            break;
        case O_BRANCH:
            o.field[F_BRANCH] = optarg;
            break;
        case O_COMMIT:
            o.field[F_COMMIT] = optarg;
            break;
        case O_BUILD_URL:
            o.field[F_URL] = optarg;
            break;
        case O_JOB_URL:
            o.field[F_JOB_URL] = optarg;
            break;
        case O_SCM_URL:
            o.field[F_SCM_URL] = optarg;
            break;
        case O_DISPLAY_NAME:
            o.field[F_DISPLAY_NAME] = optarg;
            break;
        case O_CI:
            o.ci = optarg;
            break;
        case O_DEADLINE:
            o.deadline = optarg;
            break;
        case O_TIMEOUT:
            o.timeout = optarg;
            break;
        case O_PROXY:
            o.proxy = optarg;
            break;
        case O_QUIET:
            o.quiet = true;
            break;
        case 'h':
            usage(stdout);
            rc = HR_CLI_EXIT_OK;
            goto out;
        default:
            hr_cli__usage(CMD, "unknown option");
            goto out;
        }
    }
    if (optind < argc) {
        hr_cli__usage(CMD, "unexpected argument: %s", argv[optind]);
        goto out;
    }
    if (o.url == NULL) {
        hr_cli__usage(CMD, "--url URL (herald's address, such as http://herald:8190) is needed");
        goto out;
    }
    if (!hr_cli__check_base_url(o.url, why, sizeof(why))) {
        hr_cli__usage(CMD, "--url: %s", why);
        goto out;
    }
    if (o.status == NULL) {
        hr_cli__usage(CMD, "--status is needed: START, RUNNING, SUCCESS, UNSTABLE, FAILURE, "
                           "NOT_BUILT, ABORTED or COMPLETE");
        goto out;
    }
    if (o.body != NULL && o.body_file != NULL) {
        hr_cli__usage(CMD, "give --body or --body-file, not both");
        goto out;
    }
    if (o.ci != NULL && !ci_name_ok(o.ci)) {
        hr_cli__usage(CMD, "--ci %s: expected 1 to 32 of a-z, 0-9 and -", o.ci);
        goto out;
    }
    if (hr_cli__parse_duration(o.deadline, &p.deadline_ms) != HR_OK) {
        hr_cli__usage(CMD, "--deadline %s: expected a duration such as 90s, 5m or 1h", o.deadline);
        goto out;
    }
    if (hr_cli__parse_duration(o.timeout, &p.attempt_ms) != HR_OK) {
        hr_cli__usage(CMD, "--timeout %s: expected a duration such as 10s or 1m", o.timeout);
        goto out;
    }
    if (hr_cli__token(CMD, o.token, o.token_file, &token) != HR_OK)
        goto out;
    if (build_body(&o, &doc) != HR_CLI_EXIT_OK)
        goto out;
    text = json_dumps(doc, JSON_COMPACT);
    if (text == NULL)
        hr_oom(0);
    if (strlen(text) > HR_MAX_BODY_BYTES) {
        hr_cli__usage(CMD, "the notification is %zu bytes; herald takes at most %u (fewer --env?)",
                      strlen(text), HR_MAX_BODY_BYTES);
        goto out;
    }
    p.base = o.url;
    p.token = token;
    hr_cli__request_id(request_id);
    p.request_id = request_id;
    p.proxy = o.proxy;
    p.body = text;
    p.len = strlen(text);
    p.deadline_text = o.deadline;
    p.quiet = o.quiet;
    rc = hr_cli__post(&p, &ans);
    if (rc == HR_CLI_EXIT_OK && !o.quiet)
        print_ack(&ans);
    else if (rc == HR_CLI_EXIT_REFUSED && ans.status != 0)
        hr_cli__print_refusal(CMD, "the notification", &ans);
out:
    hr_cli__answer_clear(&ans);
    free(text);
    json_decref(doc);
    if (token != NULL) {
        memset(token, 0, strlen(token));
        free(token);
    }
    free(o.env);
    return rc;
}
