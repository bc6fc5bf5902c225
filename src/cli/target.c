/*
 * target.c - `herald target pause|resume|enable|show NAME` and `herald
 * target list`: an operator's look at, and hand on, a running herald's
 * targets (POST /api/v1/targets/NAME/ACTION, GET /api/v1/targets[/NAME]).
 * One request, no retries: an operator sees the answer and decides.
 *
 * `herald target test NAME` stores a test event (source "herald", kind
 * "test") delivered to that target alone, and prints the event and the
 * delivery; it is sent like `herald notify` (hr_cli__post: retried until a
 * deadline, with a request id, so a retry after a lost answer makes no
 * second test event).
 *
 * The token (herald's API token) is never printed, nor credentials in --url.
 */
#include "cli/cli.h"
#include "cli/http.h"

#include "core/error.h"
#include "core/mem.h"
#include "ingest/redact.h"

#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_URL "http://127.0.0.1:8190"
#define DEFAULT_DEADLINE "30s"
#define DEFAULT_TIMEOUT "10s"

/* Target names are [A-Za-z0-9_.-]: nothing to escape in a path. */
static bool plain_name(const char *s)
{
    if (s[0] == '\0' || strlen(s) > 100)
        return false;
    for (; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.' || *s == '-'))
            return false;
    return true;
}

static void print_target(const json_t *t)
{
    const char *err = json_string_value(json_object_get(t, "last_error"));
    const char *why = json_string_value(json_object_get(t, "disabled_reason"));
    printf("%s: %s, %lld failures in a row", json_string_value(json_object_get(t, "name")),
           json_string_value(json_object_get(t, "state")),
           (long long)json_integer_value(json_object_get(t, "consecutive_failures")));
    if (why != NULL)
        printf(" (%s)", why);
    else if (err != NULL)
        printf(" (last error: %s)", err);
    printf("\n");
}

/* Sends one request; prints what herald answered. Returns the exit status. */
static int request(const char *base, const char *token, const char *path, bool post)
{
    char url[2048], auth[1200];
    struct curl_slist *headers = NULL;
    hr_cli__sink ans = {hr_malloc(HR_CLI_MAX_ANSWER_BYTES + 1), 0};
    long status = 0;
    int rc = HR_CLI_EXIT_REFUSED;
    CURL *h = curl_easy_init();

    snprintf(url, sizeof(url), "%s%s", base, path);
    if (token != NULL &&
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token) < (int)sizeof(auth))
        headers = curl_slist_append(headers, auth);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (post)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{}");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    ans.buf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, hr_cli__on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &ans);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        char *shown = hr_redact_url_credentials(base);
        fprintf(stderr, "herald target: cannot reach herald at %s: %s\n",
                shown != NULL ? shown : base, curl_easy_strerror(cc));
        free(shown);
        rc = HR_CLI_EXIT_DEADLINE;
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        json_t *a = json_loads(ans.buf, 0, NULL);
        if (status == 200 && json_is_array(json_object_get(a, "targets"))) {
            size_t i;
            json_t *t;
            json_array_foreach(json_object_get(a, "targets"), i, t) print_target(t);
            rc = HR_CLI_EXIT_OK;
        } else if (status == 200 && a != NULL) {
            print_target(a);
            rc = HR_CLI_EXIT_OK;
        } else {
            const char *msg = json_string_value(json_object_get(a, "error"));
            fprintf(stderr, "herald target: herald refused (HTTP %ld): %s\n", status,
                    msg != NULL ? msg : "(no message)");
            if (status == 401)
                fprintf(stderr, "herald target: %s\n",
                        token == NULL ? "herald needs its API token: give it with --token, "
                                        "--token-file or HERALD_API_TOKEN"
                                      : "the token given is not herald's API token");
        }
        json_decref(a);
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    memset(auth, 0, sizeof(auth));
    free(ans.buf);
    return rc;
}

/* What herald answered a test: the event and its delivery. */
static void print_test(const hr_cli__answer *a, const char *name)
{
    json_t *j = json_loadb(a->body, a->len, 0, NULL);
    json_int_t ev = json_integer_value(json_object_get(j, "event"));
    json_int_t d = json_integer_value(json_object_get(j, "delivery"));
    printf("test event %lld sent to %s as delivery %lld\n", (long long)ev, name, (long long)d);
    printf("its attempts: GET /api/v1/deliveries/%lld, or /ui/#/deliveries/%lld\n", (long long)d,
           (long long)d);
    json_decref(j);
}

/* herald target test NAME: POSTs the test, retried until the deadline. */
static int send_test(const char *base, const char *token, const char *name, const char *timeout)
{
    hr_cli__post_opts p = {.cmd = "target"};
    hr_cli__answer ans = {0};
    char path[256], request_id[37], what[300];
    int rc;

    if (hr_cli__parse_duration(timeout, &p.attempt_ms) != HR_OK)
        return hr_cli__usage("target", "--timeout %s: expected a duration such as 10s or 1m",
                             timeout);
    hr_cli__parse_duration(DEFAULT_DEADLINE, &p.deadline_ms);
    snprintf(path, sizeof(path), "/api/v1/targets/%s/test", name);
    hr_cli__request_id(request_id);
    p.base = base;
    p.path = path;
    p.token = token;
    p.request_id = request_id;
    p.body = "{}";
    p.len = 2;
    p.deadline_text = DEFAULT_DEADLINE;
    rc = hr_cli__post(&p, &ans);
    if (rc == HR_CLI_EXIT_OK) {
        print_test(&ans, name);
    } else if (rc == HR_CLI_EXIT_REFUSED && ans.status != 0) {
        snprintf(what, sizeof(what), "test %s", name);
        hr_cli__print_refusal("target", what, &ans);
    }
    hr_cli__answer_clear(&ans);
    return rc;
}

int hr_cli_target(int argc, char **argv, hr_cli_usage_fn *usage)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"token", required_argument, NULL, 'k'},
        {"token-file", required_argument, NULL, 'K'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *const actions[] = {"pause", "resume", "enable", NULL};
    const char *base = DEFAULT_URL, *token_flag = NULL, *token_file = NULL;
    const char *timeout = DEFAULT_TIMEOUT;
    char *token = NULL;
    char path[256], why[200];
    bool post = false;
    int c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "u:k:K:t:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'u':
            base = optarg;
            break;
        case 'k':
            token_flag = optarg;
            break;
        case 'K':
            token_file = optarg;
            break;
        case 't':
            timeout = optarg;
            break;
        case 'h':
            usage(stdout);
            return HR_CLI_EXIT_OK;
        default:
            return hr_cli__usage("target", "unknown option");
        }
    }
    argc -= optind;
    argv += optind;
    if (argc == 1 && strcmp(argv[0], "list") == 0) {
        snprintf(path, sizeof(path), "/api/v1/targets");
    } else if (argc == 2 && plain_name(argv[1])) {
        for (int i = 0; actions[i] != NULL; i++)
            post |= strcmp(argv[0], actions[i]) == 0;
        if (post)
            snprintf(path, sizeof(path), "/api/v1/targets/%s/%s", argv[1], argv[0]);
        else if (strcmp(argv[0], "show") == 0 || strcmp(argv[0], "test") == 0)
            snprintf(path, sizeof(path), "/api/v1/targets/%s", argv[1]);
        else
            return hr_cli__usage(
                "target", "unknown subcommand %s (expected pause, resume, enable, test or show)",
                argv[0]);
    } else {
        return hr_cli__usage("target",
                             "expected `herald target pause|resume|enable|test|show NAME` "
                             "or `herald target list`");
    }
    if (!hr_cli__check_base_url(base, why, sizeof(why)))
        return hr_cli__usage("target", "--url: %s", why);
    if (hr_cli_token("target", token_flag, token_file, "HERALD_API_TOKEN", &token) != HR_OK)
        return HR_CLI_EXIT_USAGE;
    if (argc == 2 && strcmp(argv[0], "test") == 0)
        rc = send_test(base, token, argv[1], timeout);
    else
        rc = request(base, token, path, post);
    if (token != NULL) {
        memset(token, 0, strlen(token));
        free(token);
    }
    return rc;
}
