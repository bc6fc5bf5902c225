/*
 * publish.c - `herald publish`: a package revision, for GoCD to poll.
 *
 * POSTs {"revision", "timestamp", "user", "revisionComment",
 * "trackbackUrl", "data"} (absent members left out) to
 * /api/v1/packages/<repository>/<package>/revisions. herald answers 201
 * for a new revision and 200 for one it already holds identically; 409
 * for the same revision string with other content (exit 1).
 */
#include "cli/cli.h"

#include "cli/http.h"
#include "core/error.h"
#include "core/limits.h"
#include "core/mem.h"

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD "publish"
#define DEFAULT_DEADLINE "5m"
#define DEFAULT_TIMEOUT "30s"
/* herald's rule for repository and package names (ingest/package.h). */
#define NAME_MAX_BYTES 128

/* Whether name is 1 to NAME_MAX_BYTES of [A-Za-z0-9_.-] and not "." or
 * "..": herald's rule, checked here so the name is safe in the URL. */
static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > NAME_MAX_BYTES || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (const char *c = name; *c != '\0'; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '.' || *c == '-'))
            return false;
    return true;
}

enum {
    O_URL = 256,
    O_TOKEN,
    O_TOKEN_FILE,
    O_REPOSITORY,
    O_PACKAGE,
    O_REVISION,
    O_USER,
    O_COMMENT,
    O_TRACKBACK,
    O_TIMESTAMP,
    O_DATA,
    O_DEADLINE,
    O_TIMEOUT,
    O_PROXY,
    O_QUIET,
};

/* Sets member to the string s, or prints why it cannot and returns false. */
static bool set_string(json_t *doc, const char *member, const char *flag, const char *s)
{
    json_t *v;
    if (s == NULL)
        return true;
    v = json_string(s);
    if (v == NULL) {
        hr_cli__usage(CMD, "--%s: not UTF-8 text", flag);
        return false;
    }
    json_object_set_new(doc, member, v);
    return true;
}

static void print_stored(const hr_cli__answer *a, const char *repo, const char *pkg,
                         const char *revision)
{
    json_t *j = json_loadb(a->body, a->len, 0, NULL);
    const char *rev = json_string_value(json_object_get(j, "revision"));
    const char *ts = json_string_value(json_object_get(j, "timestamp"));
    printf("herald %s revision %s of %s/%s", a->status == 201 ? "stored" : "already had",
           rev != NULL ? rev : revision, repo, pkg);
    if (ts != NULL)
        printf(" (%s)", ts);
    printf("\n");
    json_decref(j);
}

int hr_cli_publish(int argc, char **argv, hr_cli_usage_fn *usage)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, O_URL},
        {"token", required_argument, NULL, O_TOKEN},
        {"token-file", required_argument, NULL, O_TOKEN_FILE},
        {"repository", required_argument, NULL, O_REPOSITORY},
        {"package", required_argument, NULL, O_PACKAGE},
        {"revision", required_argument, NULL, O_REVISION},
        {"user", required_argument, NULL, O_USER},
        {"comment", required_argument, NULL, O_COMMENT},
        {"trackback-url", required_argument, NULL, O_TRACKBACK},
        {"timestamp", required_argument, NULL, O_TIMESTAMP},
        {"data", required_argument, NULL, O_DATA},
        {"deadline", required_argument, NULL, O_DEADLINE},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"proxy", required_argument, NULL, O_PROXY},
        {"quiet", no_argument, NULL, O_QUIET},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *url = NULL, *tok = NULL, *tok_file = NULL, *repo = NULL, *pkg = NULL;
    const char *revision = NULL, *user = NULL, *comment = NULL, *trackback = NULL;
    const char *timestamp = NULL, *deadline = DEFAULT_DEADLINE, *timeout = DEFAULT_TIMEOUT;
    const char *proxy = NULL;
    bool quiet = false;
    hr_cli__post_opts p = {.cmd = CMD};
    hr_cli__answer ans = {0};
    json_t *doc = json_object(), *data = json_object();
    char *token = NULL, *text = NULL, path[3 * NAME_MAX_BYTES], why[128];
    int c, rc = HR_CLI_EXIT_USAGE;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_URL:
            url = optarg;
            break;
        case O_TOKEN:
            tok = optarg;
            break;
        case O_TOKEN_FILE:
            tok_file = optarg;
            break;
        case O_REPOSITORY:
            repo = optarg;
            break;
        case O_PACKAGE:
            pkg = optarg;
            break;
        case O_REVISION:
            revision = optarg;
            break;
        case O_USER:
            user = optarg;
            break;
        case O_COMMENT:
            comment = optarg;
            break;
        case O_TRACKBACK:
            trackback = optarg;
            break;
        case O_TIMESTAMP:
            timestamp = optarg;
            break;
        case O_DATA: {
            char *eq = strchr(optarg, '=');
            char *key;
            json_t *v;
            if (eq == NULL || eq == optarg) {
                hr_cli__usage(CMD, "--data %s: expected KEY=VALUE", optarg);
                goto out;
            }
            key = hr_strndup(optarg, (size_t)(eq - optarg));
            v = json_string(eq + 1);
            if (v == NULL || json_object_set_new(data, key, v) != 0) {
                hr_cli__usage(CMD, "--data %s: not UTF-8 text", key);
                free(key);
                goto out;
            }
            free(key);
            break;
        }
        case O_DEADLINE:
            deadline = optarg;
            break;
        case O_TIMEOUT:
            timeout = optarg;
            break;
        case O_PROXY:
            proxy = optarg;
            break;
        case O_QUIET:
            quiet = true;
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
    if (url == NULL || repo == NULL || pkg == NULL || revision == NULL) {
        hr_cli__usage(CMD, "--url, --repository, --package and --revision are needed");
        goto out;
    }
    if (!hr_cli__check_base_url(url, why, sizeof(why))) {
        hr_cli__usage(CMD, "--url: %s", why);
        goto out;
    }
    if (!name_ok(repo) || !name_ok(pkg)) {
        const char *bad = name_ok(repo) ? pkg : repo;
        hr_cli__usage(CMD, "--%s %s: expected 1 to 128 of A-Z a-z 0-9 _ . - (not . or ..)",
                      bad == repo ? "repository" : "package", bad);
        goto out;
    }
    if (revision[0] == '\0') {
        hr_cli__usage(CMD, "--revision: expected a revision; got nothing");
        goto out;
    }
    if (hr_cli__parse_duration(deadline, &p.deadline_ms) != HR_OK) {
        hr_cli__usage(CMD, "--deadline %s: expected a duration such as 90s, 5m or 1h", deadline);
        goto out;
    }
    if (hr_cli__parse_duration(timeout, &p.attempt_ms) != HR_OK) {
        hr_cli__usage(CMD, "--timeout %s: expected a duration such as 10s or 1m", timeout);
        goto out;
    }
    if (!set_string(doc, "revision", "revision", revision) ||
        !set_string(doc, "timestamp", "timestamp", timestamp) ||
        !set_string(doc, "user", "user", user) ||
        !set_string(doc, "revisionComment", "comment", comment) ||
        !set_string(doc, "trackbackUrl", "trackback-url", trackback))
        goto out;
    if (json_object_size(data) > 0)
        json_object_set(doc, "data", data);
    if (hr_cli__token(CMD, tok, tok_file, &token) != HR_OK)
        goto out;
    text = json_dumps(doc, JSON_COMPACT);
    if (text == NULL)
        hr_oom(0);
    if (strlen(text) > HR_MAX_BODY_BYTES) {
        hr_cli__usage(CMD, "the revision is %zu bytes; herald takes at most %u", strlen(text),
                      HR_MAX_BODY_BYTES);
        goto out;
    }
    snprintf(path, sizeof(path), "/api/v1/packages/%s/%s/revisions", repo, pkg);
    p.base = url;
    p.path = path;
    p.token = token;
    p.proxy = proxy;
    p.body = text;
    p.len = strlen(text);
    p.deadline_text = deadline;
    p.quiet = quiet;
    rc = hr_cli__post(&p, &ans);
    if (rc == HR_CLI_EXIT_OK && !quiet)
        print_stored(&ans, repo, pkg, revision);
    else if (rc == HR_CLI_EXIT_REFUSED && ans.status != 0)
        hr_cli__print_refusal(CMD, "the revision", &ans);
out:
    hr_cli__answer_clear(&ans);
    free(text);
    json_decref(data);
    json_decref(doc);
    if (token != NULL) {
        memset(token, 0, strlen(token));
        free(token);
    }
    return rc;
}
