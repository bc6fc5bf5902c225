/*
 * target.c - `herald target SUBCOMMAND NAME`: actions on one target of a
 * running herald, through POST /api/v1/targets/NAME/SUBCOMMAND.
 *
 *   test   herald stores a test event (source "herald", kind "test") and
 *          delivers it to that target alone; prints the event and the
 *          delivery, whose attempts GET /api/v1/deliveries/ID shows
 *
 * Each subcommand is one row of a table, so others (pause, resume) join
 * as rows. The POST carries a request id, so a retry after a lost answer
 * makes no second test event.
 */
#include "cli/cli.h"

#include "cli/http.h"
#include "core/error.h"
#include "core/mem.h"

#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD "target"
#define DEFAULT_URL "http://127.0.0.1:8190"
#define DEFAULT_DEADLINE "30s"
#define DEFAULT_TIMEOUT "10s"
/* The longest name sent; herald judges the name itself. */
#define NAME_MAX_BYTES 200

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

typedef struct subcommand {
    const char *name;
    void (*print)(const hr_cli__answer *a, const char *target);
} subcommand;

static const subcommand subcommands[] = {
    {"test", print_test},
    /* pause and resume (endpoint health) go here. */
};

enum { O_URL = 256, O_TOKEN, O_TOKEN_FILE, O_TIMEOUT };

int hr_cli_target(int argc, char **argv, hr_cli_usage_fn *usage)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, O_URL},
        {"token", required_argument, NULL, O_TOKEN},
        {"token-file", required_argument, NULL, O_TOKEN_FILE},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *url = DEFAULT_URL, *tok = NULL, *tok_file = NULL, *timeout = DEFAULT_TIMEOUT;
    const subcommand *sub = NULL;
    hr_cli__post_opts p = {.cmd = CMD};
    hr_cli__answer ans = {0};
    char *token = NULL, *escaped = NULL, path[3 * NAME_MAX_BYTES + 64], why[128], request_id[37];
    char what[300];
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
        case O_TIMEOUT:
            timeout = optarg;
            break;
        case 'h':
            usage(stdout);
            return HR_CLI_EXIT_OK;
        default:
            return hr_cli__usage(CMD, "unknown option");
        }
    }
    if (argc - optind != 2)
        return hr_cli__usage(CMD, "expected a subcommand and a target's name (herald target test "
                                  "NAME)");
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
        if (strcmp(argv[optind], subcommands[i].name) == 0)
            sub = &subcommands[i];
    if (sub == NULL)
        return hr_cli__usage(CMD, "unknown subcommand %s (expected test)", argv[optind]);
    const char *name = argv[optind + 1];
    if (name[0] == '\0' || strlen(name) > NAME_MAX_BYTES)
        return hr_cli__usage(CMD, "expected a target's name of 1 to %d bytes", NAME_MAX_BYTES);
    if (!hr_cli__check_base_url(url, why, sizeof(why)))
        return hr_cli__usage(CMD, "--url: %s", why);
    if (hr_cli__parse_duration(timeout, &p.attempt_ms) != HR_OK)
        return hr_cli__usage(CMD, "--timeout %s: expected a duration such as 10s or 1m", timeout);
    hr_cli__parse_duration(DEFAULT_DEADLINE, &p.deadline_ms);
    if (hr_cli_token(CMD, tok, tok_file, "HERALD_API_TOKEN", &token) != HR_OK)
        return HR_CLI_EXIT_USAGE;
    /* Escaped for the path: herald answers 404 for a name it has not. */
    escaped = curl_easy_escape(NULL, name, 0);
    if (escaped == NULL)
        hr_oom(strlen(name));
    snprintf(path, sizeof(path), "/api/v1/targets/%s/%s", escaped, sub->name);
    curl_free(escaped);
    hr_cli__request_id(request_id);
    p.base = url;
    p.path = path;
    p.token = token;
    p.request_id = request_id;
    p.body = "{}";
    p.len = 2;
    p.deadline_text = DEFAULT_DEADLINE;
    rc = hr_cli__post(&p, &ans);
    if (rc == HR_CLI_EXIT_OK) {
        sub->print(&ans, name);
    } else if (rc == HR_CLI_EXIT_REFUSED && ans.status != 0) {
        snprintf(what, sizeof(what), "%s %s", sub->name, name);
        hr_cli__print_refusal(CMD, what, &ans);
    }
    hr_cli__answer_clear(&ans);
    if (token != NULL) {
        memset(token, 0, strlen(token));
        free(token);
    }
    return rc;
}
