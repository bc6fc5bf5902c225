/*
 * Tests for src/route/config.c: every key of herald.yaml and its default,
 * every message (exact, with line and column), ${VAR} substitution, the
 * bounds (anchors, nesting, size), secrets kept out of messages and JSON,
 * GoCD's plugin settings, hr_config_target and hr_config_to_json.
 *
 * Each Criterion test runs in its own process, so setenv stays in its test.
 */
#include <criterion/criterion.h>

#include "core/limits.h"
#include "route/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILE_NAME "herald.yaml"

/* ---- helpers ---------------------------------------------------------- */

static void print_errors(const hr_errlist *errs)
{
    for (size_t i = 0; i < errs->n; i++)
        cr_log_error("  %s", errs->msgs[i]);
}

/* Parses yaml, which must be valid; returns the config (new). */
static hr_config *parse_ok(const char *yaml)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_config *c = NULL;
    int rc = hr_config_parse(FILE_NAME, yaml, strlen(yaml), &c, &errs);
    if (rc != HR_OK)
        print_errors(&errs);
    cr_assert_eq(rc, HR_OK, "refused (%zu problems): %s", hr_errlist_count(&errs),
                 errs.n ? errs.msgs[0] : "?");
    cr_assert_eq(hr_errlist_count(&errs), 0);
    cr_assert_not_null(c);
    hr_errlist_clear(&errs);
    return c;
}

/* Parses yaml, which must be refused with exactly the messages want
 * (NULL-terminated), in order. */
static void expect_errors(const char *yaml, const char *const *want)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_config *c = NULL;
    size_t n = 0;
    int rc = hr_config_parse(FILE_NAME, yaml, strlen(yaml), &c, &errs);

    while (want[n] != NULL)
        n++;
    cr_expect_eq(rc, HR_EINVAL, "rc %d for:\n%s", rc, yaml);
    cr_expect_null(c);
    if (errs.n != n)
        print_errors(&errs);
    cr_expect_eq(errs.n, n, "%zu messages instead of %zu for:\n%s", errs.n, n, yaml);
    for (size_t i = 0; i < n && i < errs.n; i++)
        cr_expect_str_eq(errs.msgs[i], want[i], "message %zu:\n got: %s\nwant: %s", i, errs.msgs[i],
                         want[i]);
    hr_errlist_clear(&errs);
    hr_config_free(c);
}

#define EXPECT_ERRORS(yaml, ...) expect_errors(yaml, (const char *const[]){__VA_ARGS__, NULL})

/* Parses yaml, which must be refused with one message starting with
 * prefix; returns it (new). */
static char *expect_error_prefix(const char *yaml, const char *prefix)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_config *c = NULL;
    char *msg;
    int rc = hr_config_parse(FILE_NAME, yaml, strlen(yaml), &c, &errs);
    cr_assert_eq(rc, HR_EINVAL);
    cr_assert_eq(errs.n, 1, "%zu messages", errs.n);
    cr_expect(strncmp(errs.msgs[0], prefix, strlen(prefix)) == 0, "got: %s\nwant: %s...",
              errs.msgs[0], prefix);
    msg = strdup(errs.msgs[0]);
    hr_errlist_clear(&errs);
    return msg;
}

/* A target with a valid URL around extra lines, for tests of one key. */
#define TARGET(extra) "targets:\n  - name: t\n    url: https://h.example/\n" extra

/* Writes text to a new file in a new folder; returns its path (new). */
static char *temp_file(const char *text, size_t len)
{
    char dir[] = "/tmp/herald-config-XXXXXX";
    char *path;
    FILE *f;
    cr_assert_not_null(mkdtemp(dir));
    path = malloc(strlen(dir) + 16);
    snprintf(path, strlen(dir) + 16, "%s/herald.yaml", dir);
    f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    fclose(f);
    return path;
}

static void remove_temp_file(char *path)
{
    char *slash = strrchr(path, '/');
    unlink(path);
    *slash = '\0';
    rmdir(path);
    free(path);
}

static json_t *gocd(const char *url, const char *method, const char *headers, const char *body,
                    const char *notify_on)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s}", "webhook_url", url, "webhook_method", method,
                     "webhook_headers", headers, "webhook_body", body, "notify_on", notify_on);
}

static void expect_list(const hr_strlist *l, const char *const *want)
{
    size_t n = 0;
    while (want[n] != NULL)
        n++;
    cr_expect_eq(l->n, n, "%zu items instead of %zu", l->n, n);
    for (size_t i = 0; i < n && i < l->n; i++)
        cr_expect_str_eq(l->items[i], want[i]);
}

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})
#define EMPTY ((const char *const[]){NULL})

/* ---- defaults ----------------------------------------------------------- */

static void expect_defaults(const hr_config *c)
{
    const hr_delivery_settings *d = &c->delivery;
    cr_expect_eq(c->ntargets, 0);
    cr_expect_eq(c->nroutes, 0);
    cr_expect_eq(d->max_attempts, 10);
    cr_expect_eq(d->backoff_initial_ms, 10000);
    cr_expect_eq(d->backoff_max_ms, 3600000);
    cr_expect_eq(d->connect_timeout_ms, 5000);
    cr_expect_eq(d->timeout_ms, 15000);
    cr_expect_eq(d->max_response_bytes, 4096);
    cr_expect_eq(d->connections_per_host, 4);
    cr_expect_eq(d->max_in_flight, 64);
    cr_expect_null(d->proxy);
    cr_expect_eq(d->allow.n, 0);
    cr_expect_eq(c->retention.events_ms, 90 * 86400000LL);
    cr_expect_eq(c->retention.attempts_ms, 30 * 86400000LL);
    cr_expect_eq(c->retention.interval_ms, 600000);
}

Test(defaults, new_default)
{
    hr_config *c = hr_config_new_default();
    expect_defaults(c);
    cr_expect_null(c->path);
    hr_config_free(c);
    hr_config_free(NULL);
}

Test(defaults, empty_file_is_valid)
{
    const char *texts[] = {"",
                           "# only a comment\n",
                           "---\n",
                           "\n\n",
                           "delivery:\ntargets:\nroutes:\n",
                           "delivery: {}\ntargets: []\nroutes: []\n"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        hr_config *c = parse_ok(texts[i]);
        expect_defaults(c);
        cr_expect_str_eq(c->path, FILE_NAME);
        hr_config_free(c);
    }
}

Test(defaults, target_defaults)
{
    hr_config *c = parse_ok(TARGET(""));
    const hr_target *t = &c->targets[0];
    cr_assert_eq(c->ntargets, 1);
    cr_expect_str_eq(t->name, "t");
    cr_expect_str_eq(t->url, "https://h.example/");
    cr_expect_str_eq(t->method, "POST");
    cr_expect_eq(t->nheaders, 0);
    cr_expect_null(t->body);
    cr_expect_not(t->body_for_get);
    cr_expect_eq(t->signing_secrets.n, 0);
    cr_expect_not(t->from_gocd);
    hr_config_free(c);
}

Test(defaults, route_defaults)
{
    hr_config *c = parse_ok(TARGET("routes:\n  - name: r\n    targets: t\n"));
    const hr_route *r = &c->routes[0];
    cr_assert_eq(c->nroutes, 1);
    cr_expect_str_eq(r->name, "r");
    expect_list(&r->sources, EMPTY);
    expect_list(&r->kinds, EMPTY);
    expect_list(&r->groups, EMPTY);
    expect_list(&r->pipelines, EMPTY);
    expect_list(&r->stages, EMPTY);
    expect_list(&r->states, EMPTY);
    expect_list(&r->results, EMPTY);
    expect_list(&r->transitions, EMPTY);
    cr_expect_null(r->filter);
    expect_list(&r->targets, LIST("t"));
    hr_config_free(c);
}

/* ---- every key ---------------------------------------------------------- */

static const char every_key[] =
    "delivery:\n"
    "  max_attempts: 7\n"
    "  backoff_initial: 500ms\n"
    "  backoff_max: 2m\n"
    "  connect_timeout: 3\n"
    "  timeout: 1h\n"
    "  max_response_bytes: 8KiB\n"
    "  connections_per_host: 2\n"
    "  max_in_flight: 100\n"
    "  proxy: socks5h://proxy.internal:1080\n"
    "  allow: [127.0.0.0/8, \"::1/128\", hooks.internal, 10.1.2.3, \"fd00::1\"]\n"
    "targets:\n"
    "  - name: team-chat\n"
    "    url: https://hooks.example.com/{{ .pipeline.name }}?x={{ .stage.name }}\n"
    "    method: PUT\n"
    "    headers:\n"
    "      Content-Type: application/json\n"
    "      X-Token: { value: \"abc\", secret: true }\n"
    "      X-Plain: { value: \"{{ .pipeline.name }}\", secret: false }\n"
    "      authorization: Bearer xyz\n"
    "    body: '{text: .pipeline.name}'\n"
    "    body_for_get: true\n"
    "    signing_secret: whsec_c2VjcmV0LXNpZ25pbmcta2V5\n"
    "  - name: other.2_x\n"
    "    url: http://[::1]:8080/hook\n"
    "    method: GET\n"
    "routes:\n"
    "  - name: failures\n"
    "    match:\n"
    "      source: gocd\n"
    "      kind: [stage-status, agent-status]\n"
    "      group: \"*\"\n"
    "      pipeline: [\"deploy-*\", release]\n"
    "      stage: \"[a-z]*\"\n"
    "      state: [Passed, Failed]\n"
    "      result: Failed\n"
    "      transition: [broken, still_failing, fixed]\n"
    "    filter: '.stage.name != \"lint\"'\n"
    "    targets: [team-chat, other.2_x]\n"
    "  - name: all\n"
    "    match:\n"
    "    targets:\n"
    "      - team-chat\n";

Test(parse, every_key)
{
    hr_config *c = parse_ok(every_key);
    const hr_delivery_settings *d = &c->delivery;
    const hr_target *t;
    const hr_route *r;

    cr_expect_eq(d->max_attempts, 7);
    cr_expect_eq(d->backoff_initial_ms, 500);
    cr_expect_eq(d->backoff_max_ms, 120000);
    cr_expect_eq(d->connect_timeout_ms, 3000);
    cr_expect_eq(d->timeout_ms, 3600000);
    cr_expect_eq(d->max_response_bytes, 8192);
    cr_expect_eq(d->connections_per_host, 2);
    cr_expect_eq(d->max_in_flight, 100);
    cr_expect_str_eq(d->proxy, "socks5h://proxy.internal:1080");
    expect_list(&d->allow, LIST("127.0.0.0/8", "::1/128", "hooks.internal", "10.1.2.3", "fd00::1"));

    cr_assert_eq(c->ntargets, 2);
    t = &c->targets[0];
    cr_expect_str_eq(t->name, "team-chat");
    cr_expect_str_eq(t->url, "https://hooks.example.com/{{ .pipeline.name }}?x={{ .stage.name }}");
    cr_expect_str_eq(t->method, "PUT");
    cr_assert_eq(t->nheaders, 4);
    cr_expect_str_eq(t->headers[0].name, "Content-Type");
    cr_expect_str_eq(t->headers[0].value, "application/json");
    cr_expect_not(t->headers[0].secret);
    cr_expect_str_eq(t->headers[1].name, "X-Token");
    cr_expect_str_eq(t->headers[1].value, "abc");
    cr_expect(t->headers[1].secret);
    cr_expect_str_eq(t->headers[2].name, "X-Plain");
    cr_expect_str_eq(t->headers[2].value, "{{ .pipeline.name }}");
    cr_expect_not(t->headers[2].secret);
    /* Authorization is always secret. */
    cr_expect_str_eq(t->headers[3].name, "authorization");
    cr_expect_str_eq(t->headers[3].value, "Bearer xyz");
    cr_expect(t->headers[3].secret);
    cr_expect_str_eq(t->body, "{text: .pipeline.name}");
    cr_expect(t->body_for_get);
    cr_assert_eq(t->signing_secrets.n, 1);
    cr_expect_str_eq(t->signing_secrets.items[0], "whsec_c2VjcmV0LXNpZ25pbmcta2V5");
    cr_expect_not(t->from_gocd);
    t = &c->targets[1];
    cr_expect_str_eq(t->name, "other.2_x");
    cr_expect_str_eq(t->url, "http://[::1]:8080/hook");
    cr_expect_str_eq(t->method, "GET");

    cr_assert_eq(c->nroutes, 2);
    r = &c->routes[0];
    cr_expect_str_eq(r->name, "failures");
    expect_list(&r->sources, LIST("gocd"));
    expect_list(&r->kinds, LIST("stage-status", "agent-status"));
    expect_list(&r->groups, LIST("*"));
    expect_list(&r->pipelines, LIST("deploy-*", "release"));
    expect_list(&r->stages, LIST("[a-z]*"));
    expect_list(&r->states, LIST("Passed", "Failed"));
    expect_list(&r->results, LIST("Failed"));
    expect_list(&r->transitions, LIST("broken", "still_failing", "fixed"));
    cr_expect_str_eq(r->filter, ".stage.name != \"lint\"");
    expect_list(&r->targets, LIST("team-chat", "other.2_x"));
    r = &c->routes[1];
    cr_expect_str_eq(r->name, "all");
    expect_list(&r->transitions, EMPTY);
    expect_list(&r->targets, LIST("team-chat"));
    hr_config_free(c);
}

Test(parse, example_file_documents_every_key)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_config *c = NULL;
    const hr_target *t;
    const hr_route *r;
    int rc;

    setenv("CHAT_TOKEN", "chat-token-value", 1);
    setenv("WEBHOOK_SECRET", "whsec_c2VjcmV0", 1);
    setenv("JENKINS_TOKEN", "jenkins-token-value", 1);
    setenv("PUBLISH_TOKEN", "publish-token-value", 1);
    setenv("RELEASES_TOKEN", "releases-token-value", 1);
    setenv("APP_TOKEN", "app-token-value", 1);
    setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/X", 1);
    setenv("TEAMS_WORKFLOW_URL", "https://x.logic.azure.com/workflows/1/invoke?sig=s", 1);
    setenv("DISCORD_WEBHOOK_URL", "https://discord.com/api/webhooks/1/t", 1);
    setenv("MATTERMOST_WEBHOOK_URL", "https://chat.example.com/hooks/k", 1);
    setenv("GOOGLE_CHAT_WEBHOOK_URL", "https://chat.googleapis.com/v1/spaces/A/messages", 1);
    setenv("SMTP_PASSWORD", "smtp-password-value", 1);
    setenv("SLACK_BOT_TOKEN", "xoxb-value", 1);
    setenv("GOCD_TOKEN", "gocd-token-value", 1);
    setenv("GITHUB_TOKEN", "ghp-value", 1);
    setenv("GITLAB_TOKEN", "glpat-value", 1);
    setenv("BITBUCKET_TOKEN", "bb-value", 1);
    setenv("PAGERDUTY_ROUTING_KEY", "routing-key-value", 1);
    rc = hr_config_load(HR_TEST_SRCDIR "/examples/herald.yaml", &c, &errs);
    print_errors(&errs);
    cr_assert_eq(rc, HR_OK);
    cr_expect_str_eq(c->path, HR_TEST_SRCDIR "/examples/herald.yaml");
    cr_expect_eq(c->delivery.max_attempts, 10);
    cr_expect_str_eq(c->gocd.token, "gocd-token-value");
    cr_expect_eq(c->npeople, 2);
    cr_expect_eq(c->delivery.backoff_initial_ms, 10000);
    cr_expect_eq(c->delivery.backoff_max_ms, 3600000);
    cr_expect_eq(c->delivery.connect_timeout_ms, 5000);
    cr_expect_eq(c->delivery.timeout_ms, 15000);
    cr_expect_eq(c->delivery.max_response_bytes, 4096);
    cr_expect_eq(c->delivery.connections_per_host, 4);
    cr_expect_eq(c->delivery.max_in_flight, 64);
    cr_expect_str_eq(c->delivery.proxy, "http://proxy.internal:3128");
    expect_list(&c->delivery.allow, LIST("127.0.0.0/8", "::1/128", "hooks.internal"));
    cr_assert_eq(c->ntargets, 12);
    /* targets[2] is Slack's second example, the bot. */
    for (int type = HR_TARGET_SLACK; type < HR_TARGET_NTYPES; type++)
        cr_expect_eq(c->targets[type + (type > HR_TARGET_SLACK)].type, type,
                     "every type has its example");
    cr_expect_str_eq(c->targets[0].order_by, "{{ .pipeline.name }}/{{ .stage.name }}");
    cr_expect_eq(c->targets[0].latest_wins, 0);
    cr_expect_str_eq(c->targets[2].token, "xoxb-value");
    cr_expect_str_eq(c->targets[2].channel, "C0123456789");
    cr_expect_str_eq(c->targets[HR_TARGET_SLACK].title, "\"\\(.summary.name) is \\(.transition)\"");
    cr_expect_not_null(c->targets[HR_TARGET_SLACK].text);
    cr_expect_str_eq(c->targets[HR_TARGET_MATTERMOST + 1].channel, "builds");
    cr_expect_str_eq(c->targets[HR_TARGET_DISCORD + 1].icon_url, "https://example.com/herald.png");
    cr_expect_str_eq(c->targets[HR_TARGET_GOOGLE_CHAT + 1].api_url,
                     "https://chat-proxy.internal:8443");
    cr_expect_str_eq(c->targets[HR_TARGET_EMAIL + 1].password, "smtp-password-value");
    cr_expect(c->targets[HR_TARGET_EMAIL + 1].starttls);
    expect_list(
        &c->targets[HR_TARGET_EMAIL + 1].to,
        LIST("dev-team@example.com", "{{ .pipeline.name }}-owners@example.com", "culprits"));
    cr_expect_str_eq(c->targets[HR_TARGET_GITHUB + 1].token, "ghp-value");
    cr_expect_str_eq(c->targets[HR_TARGET_GITHUB + 1].repository, "acme/app");
    cr_expect_str_eq(c->targets[HR_TARGET_PAGERDUTY + 1].severity, "error");
    t = &c->targets[0];
    cr_expect_str_eq(t->name, "team-chat");
    cr_expect_str_eq(t->url, "https://hooks.example.com/{{ .pipeline.name }}");
    cr_expect_str_eq(t->method, "POST");
    cr_assert_eq(t->nheaders, 2);
    cr_expect_str_eq(t->headers[1].name, "Authorization");
    cr_expect_str_eq(t->headers[1].value, "Bearer chat-token-value");
    cr_expect(t->headers[1].secret);
    cr_expect_str_eq(t->body, "{text: \"\\(.pipeline.name) is \\(.transition)\"}");
    cr_expect_not(t->body_for_get);
    cr_assert_eq(t->signing_secrets.n, 1);
    cr_expect_str_eq(t->signing_secrets.items[0], "whsec_c2VjcmV0");
    cr_assert_eq(c->nroutes, 1);
    r = &c->routes[0];
    cr_expect_str_eq(r->name, "failures");
    expect_list(&r->pipelines, LIST("deploy-*", "release"));
    expect_list(&r->transitions, LIST("broken", "still_failing", "fixed"));
    cr_expect_str_eq(r->filter, ".stage.name != \"lint\"");
    expect_list(&r->targets, LIST("team-chat", "slack-builds"));
    cr_expect_eq(c->retention.events_ms, 90 * 86400000LL);
    cr_expect_eq(c->retention.attempts_ms, 30 * 86400000LL);
    cr_expect_eq(c->retention.interval_ms, 600000);
    hr_config_free(c);
    hr_errlist_clear(&errs);
}

Test(parse, durations)
{
    static const struct {
        const char *text;
        int64_t ms;
    } cases[] = {{"1ms", 1},          {"500ms", 500},  {"10s", 10000},    {"2m", 120000},
                 {"1h", 3600000},     {"30", 30000},   {"\"45\"", 45000}, {"24h", 86400000},
                 {"86400", 86400000}, {"0010s", 10000}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char yaml[128];
        hr_config *c;
        snprintf(yaml, sizeof(yaml), "delivery:\n  connect_timeout: %s\n", cases[i].text);
        c = parse_ok(yaml);
        cr_expect_eq(c->delivery.connect_timeout_ms, cases[i].ms, "%s", cases[i].text);
        hr_config_free(c);
    }
}

Test(parse, sizes)
{
    static const struct {
        const char *text;
        size_t bytes;
    } cases[] = {{"0", 0},       {"100", 100},      {"12B", 12},
                 {"4KiB", 4096}, {"1MiB", 1048576}, {"1048576", 1048576}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char yaml[128];
        hr_config *c;
        snprintf(yaml, sizeof(yaml), "delivery:\n  max_response_bytes: %s\n", cases[i].text);
        c = parse_ok(yaml);
        cr_expect_eq(c->delivery.max_response_bytes, cases[i].bytes, "%s", cases[i].text);
        hr_config_free(c);
    }
}

Test(parse, booleans_and_quoted_numbers)
{
    hr_config *c = parse_ok("delivery: {max_attempts: \"3\", max_in_flight: 1000}\n" TARGET(
        "    body_for_get: TRUE\n  - name: u\n    url: http://h/\n    body_for_get: False\n"));
    cr_expect_eq(c->delivery.max_attempts, 3);
    cr_expect_eq(c->delivery.max_in_flight, 1000);
    cr_expect(c->targets[0].body_for_get);
    cr_expect_not(c->targets[1].body_for_get);
    hr_config_free(c);
}

Test(parse, empty_body_and_filter_mean_none)
{
    hr_config *c = parse_ok(TARGET("    body: ''\nroutes:\n  - name: r\n    filter: \"\"\n    "
                                   "targets: [t]\n"));
    cr_expect_null(c->targets[0].body);
    cr_expect_null(c->routes[0].filter);
    hr_config_free(c);
}

Test(parse, urls_accepted)
{
    const char *urls[] = {
        "http://h",
        "HTTPS://Hooks.Example.com:443/a/b?c=d#e",
        "https://user:pass@h.example/x",
        "http://10.0.0.1:8080/",
        "http://[fd00::1]/x",
        "https://h.example?q={{ .pipeline.name }}",
        "https://h.example/{{ .pipeline.name }}/{{ .stage.name }}",
        "https://h.example#{{ .x }}",
    };
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        char yaml[256];
        hr_config *c;
        snprintf(yaml, sizeof(yaml), "targets:\n  - name: t\n    url: '%s'\n", urls[i]);
        c = parse_ok(yaml);
        cr_expect_str_eq(c->targets[0].url, urls[i]);
        hr_config_free(c);
    }
}

Test(parse, strings_with_yaml_styles)
{
    hr_config *c = parse_ok(TARGET("    body: |\n      {a: 1,\n       b: 2}\n"
                                   "    headers:\n      X-A: \"tab\\there\"\n"));
    cr_expect_str_eq(c->targets[0].body, "{a: 1,\n b: 2}\n");
    cr_expect_str_eq(c->targets[0].headers[0].value, "tab\there");
    hr_config_free(c);
}

Test(parse, jenkins_section)
{
    hr_config *c = parse_ok("jenkins:\n"
                            "  token: t0k\n"
                            "  tcp: 127.0.0.1:8191\n"
                            "  udp: \"[::1]:8192\"\n"
                            "  redact: [\"*PASS*\"]\n"
                            "  keep: JOB_*\n");
    cr_expect_str_eq(c->jenkins.token, "t0k");
    cr_expect_str_eq(c->jenkins.tcp, "127.0.0.1:8191");
    cr_expect_str_eq(c->jenkins.udp, "[::1]:8192");
    cr_expect(c->jenkins.redact_set);
    expect_list(&c->jenkins.redact, LIST("*PASS*"));
    expect_list(&c->jenkins.keep, LIST("JOB_*"));
    json_t *j = hr_config_to_json(c);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j, "jenkins"), "token")),
                     "******");
    char *text = json_dumps(j, 0);
    cr_expect_null(strstr(text, "t0k"));
    free(text);
    json_decref(j);
    hr_config_free(c);
}

Test(parse, jenkins_bare_port_is_loopback)
{
    hr_config *c = parse_ok("jenkins:\n  tcp: 8191\n  udp: \"8192\"\n");
    cr_expect_str_eq(c->jenkins.tcp, "127.0.0.1:8191");
    cr_expect_str_eq(c->jenkins.udp, "127.0.0.1:8192");
    hr_config_free(c);
}

Test(parse, jenkins_defaults)
{
    hr_config *c = parse_ok("jenkins: {}\n");
    cr_expect_null(c->jenkins.token);
    cr_expect_null(c->jenkins.tcp);
    cr_expect_not(c->jenkins.redact_set);
    cr_expect_eq(c->jenkins.keep.n, 0);
    hr_config_free(c);
}

Test(parse, packages_section_and_tokens)
{
    hr_config *c = parse_ok("packages:\n"
                            "  token: all\n"
                            "  create: false\n"
                            "  repositories:\n"
                            "    - name: releases\n"
                            "      token: rel\n"
                            "      packages:\n"
                            "        - name: app\n"
                            "          token: apptok\n"
                            "        - name: tools\n"
                            "    - name: other\n");
    const hr_repository_decl *r;
    const hr_package_decl *p;
    cr_expect_not(c->packages.create);
    cr_assert_eq(c->packages.nrepositories, 2);
    cr_expect_str_eq(hr_config_publish_token(c, "releases", "app"), "apptok");
    cr_expect_str_eq(hr_config_publish_token(c, "releases", "tools"), "rel");
    cr_expect_str_eq(hr_config_publish_token(c, "releases", "new"), "rel");
    cr_expect_str_eq(hr_config_publish_token(c, "other", "x"), "all");
    cr_expect_str_eq(hr_config_publish_token(c, "unknown", "x"), "all");
    hr_config_package(c, "releases", "tools", &r, &p);
    cr_expect_str_eq(r->name, "releases");
    cr_expect_str_eq(p->name, "tools");
    hr_config_package(c, "releases", "nope", &r, &p);
    cr_expect_not_null(r);
    cr_expect_null(p);
    hr_config_package(c, "nope", "app", &r, &p);
    cr_expect_null(r);
    cr_expect_null(p);
    hr_config_free(c);
}

Test(errors, jenkins_and_packages)
{
    EXPECT_ERRORS("jenkins:\n"
                  "  tcp: localhost\n"
                  "  udp: 127.0.0.1:70000\n"
                  "  token: \"\"\n"
                  "packages:\n"
                  "  repositories:\n"
                  "    - name: \"..\"\n"
                  "    - token: x\n",
                  "herald.yaml:2:8: jenkins.tcp: expected HOST:PORT (such as 127.0.0.1:8191) or a "
                  "port (loopback), the port from 1 to 65535; got \"localhost\"",
                  "herald.yaml:3:8: jenkins.udp: expected HOST:PORT (such as 127.0.0.1:8191) or a "
                  "port (loopback), the port from 1 to 65535; got \"127.0.0.1:70000\"",
                  "herald.yaml:4:10: jenkins.token: expected a token of 1 to 1024 bytes",
                  "herald.yaml:7:13: packages.repositories[0].name: \".\" and \"..\" are not names",
                  "herald.yaml:8:7: packages.repositories[1]: missing required key \"name\"");
}

/* ---- messages: keys and types -------------------------------------------- */

Test(errors, unknown_top_level_key)
{
    EXPECT_ERRORS("delivery: {}\n\ndelivry:\n  max_attempts: 3\n",
                  "herald.yaml:3:1: unknown key \"delivry\" (expected delivery, targets, routes, "
                  "jenkins, packages, retention, gocd, people, store)");
}

Test(errors, unknown_keys_at_every_level)
{
    EXPECT_ERRORS(
        "delivery:\n  retries: 3\n"
        "targets:\n  - name: t\n    url: https://h/\n    heders: {}\n"
        "    headers:\n      X-A: {value: a, secert: true}\n"
        "routes:\n  - name: r\n    targets: [t]\n    filters: x\n"
        "    match:\n      pipelines: x\n",
        "herald.yaml:2:3: delivery: unknown key \"retries\" (expected max_attempts, "
        "backoff_initial, backoff_max, connect_timeout, timeout, max_response_bytes, "
        "connections_per_host, max_in_flight, proxy, allow, circuit)",
        "herald.yaml:6:5: targets[0]: unknown key \"heders\" (expected name, type, url, "
        "token, method, headers, body, body_for_get, signing_secret, api_url, host, "
        "repository, context, dedup_key, summary, severity, channel, username, icon_url, "
        "thread, edit, title, text, smtp, starttls, password, from, to, subject, order_by, "
        "latest_wins, rate_limit, circuit)",
        "herald.yaml:8:23: targets[0].headers.X-A: unknown key \"secert\" (expected value, "
        "secret)",
        "herald.yaml:12:5: routes[0]: unknown key \"filters\" (expected name, match, filter, "
        "targets)",
        "herald.yaml:14:7: routes[0].match: unknown key \"pipelines\" (expected source, kind, "
        "group, pipeline, stage, state, result, transition)");
}

Test(errors, wrong_types)
{
    EXPECT_ERRORS("[delivery]\n",
                  "herald.yaml:1:1: expected a mapping with the keys delivery, targets, routes, "
                  "jenkins, packages, retention, gocd, people and store; got a list");
    EXPECT_ERRORS("just text\n",
                  "herald.yaml:1:1: expected a mapping with the keys delivery, targets, routes, "
                  "jenkins, packages, retention, gocd, people and store; got \"just text\"");
    EXPECT_ERRORS("delivery: [1]\n", "herald.yaml:1:11: delivery: expected a mapping; got a list");
    EXPECT_ERRORS("targets:\n  name: t\n",
                  "herald.yaml:2:3: targets: expected a list of targets; got a mapping");
    EXPECT_ERRORS("routes: r\n", "herald.yaml:1:9: routes: expected a list of routes; got \"r\"");
    EXPECT_ERRORS("targets: [t]\n",
                  "herald.yaml:1:11: targets[0]: expected a mapping; got a string");
    EXPECT_ERRORS(TARGET("    headers: [a]\n"),
                  "herald.yaml:4:14: targets[0].headers: expected a mapping of header names to "
                  "values; got a list");
    EXPECT_ERRORS(TARGET("    method: [GET]\n"),
                  "herald.yaml:4:13: targets[0].method: expected a method; got a list");
    EXPECT_ERRORS(TARGET("    body: {a: 1}\n"),
                  "herald.yaml:4:11: targets[0].body: expected a jq program; got a mapping");
    EXPECT_ERRORS(TARGET("    body_for_get: yes\n"),
                  "herald.yaml:4:19: targets[0].body_for_get: expected true or false; got \"yes\"");
    EXPECT_ERRORS(TARGET("    body_for_get:\n"),
                  "herald.yaml:4:18: targets[0].body_for_get: expected true or false; got nothing");
    EXPECT_ERRORS(TARGET("    headers:\n      X-A: [1]\n"),
                  "herald.yaml:5:12: targets[0].headers.X-A: expected a string or {value: ..., "
                  "secret: true}; got a list");
    EXPECT_ERRORS(TARGET("    headers:\n      X-A: {value: a, secret: maybe}\n"),
                  "herald.yaml:5:31: targets[0].headers.X-A.secret: expected true or false; got "
                  "\"maybe\"");
    EXPECT_ERRORS(TARGET("routes:\n  - name: r\n    targets: {t: 1}\n"),
                  "herald.yaml:6:14: routes[0].targets: expected a string or a list of strings; "
                  "got a mapping");
    EXPECT_ERRORS(TARGET("routes:\n  - name: r\n    targets: [t, [u]]\n"),
                  "herald.yaml:6:18: routes[0].targets[1]: expected a string; got a list");
    EXPECT_ERRORS(TARGET("routes:\n  - name: r\n    targets: [t, ~]\n"),
                  "herald.yaml:6:18: routes[0].targets[1]: expected a string; got nothing");
    EXPECT_ERRORS(TARGET("routes:\n  - name: r\n    targets: [t]\n    match: [a]\n"),
                  "herald.yaml:7:12: routes[0].match: expected a mapping; got a list");
    EXPECT_ERRORS(TARGET("routes:\n  - name: r\n    targets: [t]\n    filter: [a]\n"),
                  "herald.yaml:7:13: routes[0].filter: expected a jq program; got a list");
    EXPECT_ERRORS("delivery:\n  allow: {a: b}\n",
                  "herald.yaml:2:10: delivery.allow: expected a string or a list of strings; got "
                  "a mapping");
    EXPECT_ERRORS("delivery:\n  max_attempts: {a: b}\n",
                  "herald.yaml:2:17: delivery.max_attempts: expected a whole number; got a "
                  "mapping");
}

Test(errors, keys_that_are_not_strings)
{
    EXPECT_ERRORS("? [a]\n: b\ndelivery: {}\n", "herald.yaml:1:3: expected a key; got a list");
    EXPECT_ERRORS("~: 1\n", "herald.yaml:1:1: expected a key; got null");
}

Test(errors, duplicate_keys)
{
    EXPECT_ERRORS("delivery: {}\ndelivery: {}\n", "herald.yaml:2:1: duplicate key \"delivery\"");
    EXPECT_ERRORS(TARGET("    url: https://other/\n"),
                  "herald.yaml:4:5: targets[0]: duplicate key \"url\"");
    EXPECT_ERRORS("delivery:\n  timeout: 1s\n  timeout: 2s\n",
                  "herald.yaml:3:3: delivery: duplicate key \"timeout\"");
}

Test(errors, missing_required_keys)
{
    EXPECT_ERRORS("targets:\n  - url: https://h/\n  - name: t\n  -\n",
                  "herald.yaml:2:5: targets[0]: missing required key \"name\"",
                  "herald.yaml:3:5: targets[1]: missing required key \"url\"",
                  "herald.yaml:4:4: targets[2]: missing required key \"name\"",
                  "herald.yaml:4:4: targets[2]: missing required key \"url\"");
    EXPECT_ERRORS(TARGET("routes:\n  - match: {}\n"),
                  "herald.yaml:5:5: routes[0]: missing required key \"name\"",
                  "herald.yaml:5:5: routes[0]: missing required key \"targets\"");
    EXPECT_ERRORS(TARGET("    headers:\n      X-A: {secret: true}\n"),
                  "herald.yaml:5:12: targets[0].headers.X-A: missing required key \"value\"");
    EXPECT_ERRORS("targets:\n  - name:\n    url: ~\n",
                  "herald.yaml:2:10: targets[0].name: expected a name; got nothing",
                  "herald.yaml:3:10: targets[0].url: expected an http:// or https:// URL with a "
                  "host; got nothing");
}

/* ---- messages: values ------------------------------------------------------ */

Test(errors, method)
{
    EXPECT_ERRORS("targets:\n  - name: t\n    url: https://h/\n\n\n\n\n\n\n\n\n    method: PATCH\n",
                  "herald.yaml:12:13: targets[0].method: expected one of GET, POST, PUT, DELETE; "
                  "got \"PATCH\"");
    EXPECT_ERRORS(TARGET("    method: post\n"),
                  "herald.yaml:4:13: targets[0].method: expected one of GET, POST, PUT, DELETE; "
                  "got \"post\"");
}

Test(errors, names)
{
    EXPECT_ERRORS("targets:\n  - name: chat\n    url: https://a/\n  - name: chat\n    url: "
                  "https://b/\n",
                  "herald.yaml:4:11: targets[1].name: \"chat\" is already used by targets[0]");
    EXPECT_ERRORS("targets:\n  - name: team chat\n    url: https://a/\n",
                  "herald.yaml:2:11: targets[0].name: expected a name of 1 to 100 letters, "
                  "digits, \"_\", \".\" or \"-\"; got \"team chat\"");
    EXPECT_ERRORS("targets:\n  - name: gocd-settings\n    url: https://a/\n",
                  "herald.yaml:2:11: targets[0].name: \"gocd-settings\" is reserved for the "
                  "webhook of GoCD's plugin settings");
    EXPECT_ERRORS(TARGET("routes:\n  - name: r\n    targets: t\n  - name: r\n    targets: t\n"),
                  "herald.yaml:7:11: routes[1].name: \"r\" is already used by routes[0]");
    EXPECT_ERRORS(TARGET("routes:\n  - name: gocd-settings-agent\n    targets: t\n"),
                  "herald.yaml:5:11: routes[0].name: \"gocd-settings-agent\" is reserved for the "
                  "routes of GoCD's plugin settings");
}

Test(errors, unknown_target_in_route)
{
    EXPECT_ERRORS("routes:\n  - name: r\n    targets: [team-chat, pager]\n"
                  "  - name: s\n    targets: pager\n"
                  "targets:\n  - name: team-chat\n    url: https://h/\n",
                  "herald.yaml:3:26: routes[0].targets[1]: no target named \"pager\"",
                  "herald.yaml:5:14: routes[1].targets: no target named \"pager\"");
    EXPECT_ERRORS(TARGET("routes:\n  - name: r\n    targets: []\n"),
                  "herald.yaml:6:14: routes[0].targets: expected at least one target name");
}

Test(errors, urls)
{
    static const struct {
        const char *url, *message;
    } cases[] = {
        {"ftp://h/", "the URL must start with http:// or https://"},
        {"hooks.example.com/x", "the URL must start with http:// or https://"},
        {"https:///path", "the URL must name a host"},
        {"https://", "the URL must name a host"},
        {"{{ .url }}", "the URL must start with http:// or https://"},
        {"https://{{ .host }}/x", "the URL's scheme, host and port must be written out before "
                                  "any {{ }} template"},
        {"https://h.example{{ .path }}", "the URL's scheme, host and port must be written out "
                                         "before any {{ }} template"},
        {"https://h.example:{{ .port }}/", "the URL's scheme, host and port must be written out "
                                           "before any {{ }} template"},
        {"https://h.example:0/", "the URL's port must be a number from 1 to 65535"},
        {"https://h.example:99999/", "the URL's port must be a number from 1 to 65535"},
        {"https://h.example:/", "the URL's port must be a number from 1 to 65535"},
        {"https://h.example:8a/", "the URL's port must be a number from 1 to 65535"},
        {"https://h$x/", "the URL's host must not contain '$'"},
        {"https://h\\u00e9.example/", "the URL's host must be ASCII (write an international name "
                                      "in punycode)"},
        {"https://[fd00::zz]/", "the URL's host is not a valid IPv6 address"},
        {"https://[fd00::1/", "the URL's host is not a valid IPv6 address"},
        {"https://h/a b", "the URL must not contain spaces or control characters (write %20 for a "
                          "space)"},
        {"https://h/a\\tb", "the URL must not contain spaces or control characters (write %20 "
                            "for a space)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char yaml[256], want[512];
        snprintf(yaml, sizeof(yaml), "targets:\n  - name: t\n    url: \"%s\"\n", cases[i].url);
        snprintf(want, sizeof(want), "herald.yaml:3:10: targets[0].url: %s", cases[i].message);
        EXPECT_ERRORS(yaml, want);
    }
}

Test(errors, url_template_does_not_compile)
{
    EXPECT_ERRORS("targets:\n  - name: t\n    url: \"https://h/{{ .a\"\n",
                  "herald.yaml:3:10: targets[0].url: a {{ template in the URL is not closed with "
                  "}}");
    free(expect_error_prefix("targets:\n  - name: t\n    url: \"https://h/{{ .a | }}\"\n",
                             "herald.yaml:3:10: targets[0].url: template does not compile: "));
}

Test(errors, jq_programs_that_do_not_compile)
{
    char *msg = expect_error_prefix(TARGET("    body: '{text: '\n"),
                                    "herald.yaml:4:11: targets[0].body: jq program does not "
                                    "compile: ");
    cr_expect(strstr(msg, "syntax error") != NULL, "%s", msg);
    cr_expect(strchr(msg, '\n') == NULL, "one line: %s", msg);
    free(msg);
    msg = expect_error_prefix(TARGET("routes:\n  - name: r\n    targets: t\n    filter: "
                                     "'.stage.name |||'\n"),
                              "herald.yaml:7:13: routes[0].filter: jq program does not compile: ");
    free(msg);
    msg = expect_error_prefix(TARGET("routes:\n  - name: r\n    targets: t\n    filter: "
                                     "'nosuchfunction(1)'\n"),
                              "herald.yaml:7:13: routes[0].filter: jq program does not compile: ");
    free(msg);
}

/* A program that runs away whatever its event is refused when the file is
 * read; GoCD's settings are not probed (their stored copy loads at every
 * start), and their runaway body fails only its own deliveries. */
Test(errors, programs_past_their_budget)
{
    EXPECT_ERRORS(TARGET("    body: 'def f: f; f'\n"),
                  "herald.yaml:4:11: targets[0].body: jq program does not stay within its "
                  "budget on an empty event: jq: error: the program ran past its budget of 100 "
                  "ms and was stopped");
    EXPECT_ERRORS(TARGET("routes:\n  - name: r\n    targets: t\n    filter: "
                         "'last(repeat(1))'\n"),
                  "herald.yaml:7:13: routes[0].filter: jq program does not stay within its "
                  "budget on an empty event: jq: error: the program ran past its budget of 100 "
                  "ms and was stopped");
    EXPECT_ERRORS("targets:\n  - name: t\n    url: \"https://h/{{ [range(1e12)] }}\"\n",
                  "herald.yaml:3:10: targets[0].url: template does not stay within its budget "
                  "on an empty event: template: the part at byte 10: jq: error: the program ran "
                  "past its budget of 100 ms and was stopped");
    /* Errors on {} are no finding: real events have the fields. */
    hr_config_free(parse_ok(TARGET("    body: '.pipeline.name | ascii_downcase'\n")));
}

Test(errors, headers)
{
    EXPECT_ERRORS(TARGET("    headers:\n      Bad Name: x\n      \"X:Y\": x\n"),
                  "herald.yaml:5:7: targets[0].headers: \"Bad Name\" is not a header name (RFC "
                  "7230: letters, digits and !#$%&'*+-.^_`|~)",
                  "herald.yaml:6:7: targets[0].headers: \"X:Y\" is not a header name (RFC 7230: "
                  "letters, digits and !#$%&'*+-.^_`|~)");
    EXPECT_ERRORS(TARGET("    headers:\n      Content-Type: a\n      content-type: b\n"),
                  "herald.yaml:6:7: targets[0].headers: \"content-type\" is set twice (header "
                  "names are case-insensitive)");
    EXPECT_ERRORS(TARGET("    headers:\n      X-A: \"a\\r\\nX-Injected: 1\"\n"),
                  "herald.yaml:5:12: targets[0].headers.X-A: the value must not contain CR, LF "
                  "or other control characters");
    EXPECT_ERRORS(TARGET("    headers:\n      X-A: |\n        two\n        lines\n"),
                  "herald.yaml:5:12: targets[0].headers.X-A: the value must not contain CR, LF "
                  "or other control characters");
    free(expect_error_prefix(TARGET("    headers:\n      X-A: \"{{ .a | }}\"\n"),
                             "herald.yaml:5:12: targets[0].headers.X-A: template does not "
                             "compile: "));
}

Test(errors, delivery_numbers)
{
    EXPECT_ERRORS("delivery:\n  max_attempts: 0\n  connections_per_host: 101\n  max_in_flight: "
                  "-1\n  max_response_bytes: 2MiB\n",
                  "herald.yaml:2:17: delivery.max_attempts: expected a whole number from 1 to "
                  "100; got \"0\"",
                  "herald.yaml:3:25: delivery.connections_per_host: expected a whole number from "
                  "1 to 100; got \"101\"",
                  "herald.yaml:4:18: delivery.max_in_flight: expected a whole number from 1 to "
                  "1000; got \"-1\"",
                  "herald.yaml:5:23: delivery.max_response_bytes: expected a size from 0 to "
                  "1048576 bytes, such as 4096, 4KiB or 1MiB; got \"2MiB\"");
    EXPECT_ERRORS("delivery:\n  max_attempts: 99999999999999999999999\n",
                  "herald.yaml:2:17: delivery.max_attempts: expected a whole number from 1 to "
                  "100; got \"99999999999999999999999\"");
    EXPECT_ERRORS("delivery:\n  max_response_bytes: 4kb\n",
                  "herald.yaml:2:23: delivery.max_response_bytes: expected a size from 0 to "
                  "1048576 bytes, such as 4096, 4KiB or 1MiB; got \"4kb\"");
}

Test(errors, durations)
{
    const char *bad[] = {"10x", "0", "0ms",  "25h", "1.5s",
                         "-1s", "s", "10 s", "ten", "99999999999999999999h"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char yaml[128], want[256];
        snprintf(yaml, sizeof(yaml), "delivery:\n  timeout: \"%s\"\n", bad[i]);
        snprintf(want, sizeof(want),
                 "herald.yaml:2:12: delivery.timeout: expected a duration from 1ms to 24h, such "
                 "as 500ms, 10s, 2m or 1h; got \"%s\"",
                 bad[i]);
        EXPECT_ERRORS(yaml, want);
    }
    /* Days are retention's alone. */
    EXPECT_ERRORS("delivery:\n  timeout: 1d\n",
                  "herald.yaml:2:12: delivery.timeout: expected a duration from 1ms to 24h, such "
                  "as 500ms, 10s, 2m or 1h; got \"1d\"");
    EXPECT_ERRORS("delivery:\n  backoff_initial: 2h\n",
                  "herald.yaml:2:20: delivery.backoff_initial: must not be longer than "
                  "backoff_max (1h unless set)");
    EXPECT_ERRORS("delivery:\n  backoff_max: 1s\n",
                  "herald.yaml:2:16: delivery.backoff_max: must not be shorter than "
                  "backoff_initial");
}

Test(errors, proxy)
{
    EXPECT_ERRORS("delivery:\n  proxy: ftp://p:21\n",
                  "herald.yaml:2:10: delivery.proxy: the URL must start with http://, https://, "
                  "socks5:// or socks5h://");
    EXPECT_ERRORS("delivery:\n  proxy: socks4://p\n",
                  "herald.yaml:2:10: delivery.proxy: the URL must start with http://, https://, "
                  "socks5:// or socks5h://");
}

Test(errors, allow)
{
    EXPECT_ERRORS("delivery:\n  allow:\n    - 10.0.0.0/33\n    - fd00::/129\n    - "
                  "10.0.0.300\n    - bad host\n    - 10.0.0.0/\n    - hooks.internal/8\n    - "
                  "a..b\n    - '-'\n    - 10.0.0.0/x\n",
                  "herald.yaml:3:7: delivery.allow[0]: the prefix length of \"10.0.0.0/33\" "
                  "must be 0 to 32",
                  "herald.yaml:4:7: delivery.allow[1]: the prefix length of \"fd00::/129\" must "
                  "be 0 to 128",
                  "herald.yaml:5:7: delivery.allow[2]: expected a CIDR such as 10.0.0.0/8 or "
                  "fd00::/8, an IP address or a host name; got \"10.0.0.300\"",
                  "herald.yaml:6:7: delivery.allow[3]: expected a CIDR such as 10.0.0.0/8 or "
                  "fd00::/8, an IP address or a host name; got \"bad host\"",
                  "herald.yaml:7:7: delivery.allow[4]: the prefix length of \"10.0.0.0/\" must "
                  "be 0 to 32",
                  "herald.yaml:8:7: delivery.allow[5]: expected a CIDR such as 10.0.0.0/8 or "
                  "fd00::/8, an IP address or a host name; got \"hooks.internal/8\"",
                  "herald.yaml:9:7: delivery.allow[6]: expected a CIDR such as 10.0.0.0/8 or "
                  "fd00::/8, an IP address or a host name; got \"a..b\"",
                  "herald.yaml:10:7: delivery.allow[7]: expected a CIDR such as 10.0.0.0/8 or "
                  "fd00::/8, an IP address or a host name; got \"-\"",
                  "herald.yaml:11:7: delivery.allow[8]: the prefix length of \"10.0.0.0/x\" "
                  "must be 0 to 32");
}

Test(errors, match_values)
{
    EXPECT_ERRORS(TARGET("routes:\n  - name: r\n    targets: t\n    match:\n"
                         "      transition: [broke, any, Passed]\n"
                         "      state: \"Pass ed\"\n"
                         "      source: \"\"\n"
                         "      pipeline: \"\"\n"),
                  "herald.yaml:8:20: routes[0].match.transition[0]: expected one of building, "
                  "passed, failed, cancelled, broken, fixed, still_failing, failing, unknown, "
                  "any; got \"broke\"",
                  "herald.yaml:8:32: routes[0].match.transition[2]: expected one of building, "
                  "passed, failed, cancelled, broken, fixed, still_failing, failing, unknown, "
                  "any; got \"Passed\"",
                  "herald.yaml:9:14: routes[0].match.state: expected a word of letters, digits, "
                  "\"_\", \"-\" and \".\"; got \"Pass ed\"",
                  "herald.yaml:10:15: routes[0].match.source: expected a word of letters, "
                  "digits, \"_\", \"-\" and \".\"; got \"\"",
                  "herald.yaml:11:17: routes[0].match.pipeline: expected a name or a pattern "
                  "such as \"deploy-*\" (no control characters)");
}

Test(errors, match_accepts_any_word_for_states)
{
    hr_config *c = parse_ok(TARGET("routes:\n  - name: r\n    targets: t\n    match:\n"
                                   "      source: [gocd, jenkins]\n      kind: build.phase\n"
                                   "      state: [STARTED, FINALIZED]\n      result: NOT_BUILT\n"));
    expect_list(&c->routes[0].sources, LIST("gocd", "jenkins"));
    expect_list(&c->routes[0].states, LIST("STARTED", "FINALIZED"));
    expect_list(&c->routes[0].results, LIST("NOT_BUILT"));
    hr_config_free(c);
}

Test(targets, signing_secret_list_and_rate_limit)
{
    char buf[64];
    hr_config *c =
        parse_ok("targets:\n  - name: t\n    url: https://h.example/\n"
                 "    signing_secret: [whsec_b2xk, new-raw-secret]\n    rate_limit: 5/s burst 10\n"
                 "  - {name: s, type: slack, url: 'https://hooks.slack.com/services/T/B/x'}\n"
                 "  - {name: s2, type: slack, url: 'https://hooks.slack.com/services/T/B/y', "
                 "rate_limit: 30/min}\n"
                 "  - {name: d, type: discord, url: 'https://discord.com/api/webhooks/1/x', "
                 "rate_limit: off}\n"
                 "  - {name: w, url: 'https://h.example/', rate_limit: 1000/h}\n"
                 "  - {name: plain, url: 'https://h.example/'}\n");
    hr_target *t = &c->targets[0];
    cr_assert_eq(t->signing_secrets.n, 2);
    cr_expect_str_eq(t->signing_secrets.items[0], "whsec_b2xk");
    cr_expect_str_eq(t->signing_secrets.items[1], "new-raw-secret");
    cr_expect_eq(t->rate_limit.count, 5);
    cr_expect_eq(t->rate_limit.per_ms, 1000);
    cr_expect_eq(t->rate_limit.burst, 10);
    /* Slack's documented limit is its default; a written one overrides it. */
    cr_expect_str_eq(hr_rate_limit_format(&c->targets[1].rate_limit, buf, sizeof(buf)),
                     "1/s burst 1");
    cr_expect_str_eq(hr_rate_limit_format(&c->targets[2].rate_limit, buf, sizeof(buf)),
                     "30/min burst 1");
    cr_expect_str_eq(hr_rate_limit_format(&c->targets[3].rate_limit, buf, sizeof(buf)), "off");
    cr_expect_str_eq(hr_rate_limit_format(&c->targets[4].rate_limit, buf, sizeof(buf)),
                     "1000/h burst 1");
    cr_expect_eq(c->targets[5].rate_limit.count, 0);

    json_t *j = hr_config_to_json(c);
    json_t *tj = json_array_get(json_object_get(j, "targets"), 0);
    json_t *masks = json_object_get(tj, "signing_secret");
    cr_assert(json_is_array(masks));
    cr_expect_eq(json_array_size(masks), 2);
    cr_expect_str_eq(json_string_value(json_array_get(masks, 1)), "******");
    cr_expect_str_eq(json_string_value(json_object_get(tj, "rate_limit")), "5/s burst 10");
    char *dump = json_dumps(j, 0);
    cr_expect_null(strstr(dump, "new-raw-secret"));
    free(dump);
    json_decref(j);
    hr_config_free(c);
}

Test(errors, rate_limit)
{
    EXPECT_ERRORS(TARGET("    rate_limit: 5/sec\n"),
                  "herald.yaml:4:17: targets[0].rate_limit: expected a rate like 5/s, 30/min or "
                  "1000/h (\"5/s burst 10\" allows bursts of 10), or off; got \"5/sec\"");
    EXPECT_ERRORS(TARGET("    rate_limit: 0/s\n"),
                  "herald.yaml:4:17: targets[0].rate_limit: expected a rate like 5/s, 30/min or "
                  "1000/h (\"5/s burst 10\" allows bursts of 10), or off; got \"0/s\"");
    EXPECT_ERRORS(TARGET("    rate_limit: 5/s burst 0\n"),
                  "herald.yaml:4:17: targets[0].rate_limit: expected a rate like 5/s, 30/min or "
                  "1000/h (\"5/s burst 10\" allows bursts of 10), or off; got \"5/s burst 0\"");
    EXPECT_ERRORS(TARGET("    rate_limit: {per_second: 5}\n"),
                  "herald.yaml:4:17: targets[0].rate_limit: expected a rate like 5/s; got a "
                  "mapping");
}

Test(errors, signing_secret)
{
    EXPECT_ERRORS(TARGET("    signing_secret: [a, '', whsec_!!]\n"),
                  "herald.yaml:4:25: targets[0].signing_secret[1]: must not be empty (leave the "
                  "key out to send unsigned requests)",
                  "herald.yaml:4:29: targets[0].signing_secret[2]: expected base64 after "
                  "\"whsec_\"");
    EXPECT_ERRORS(TARGET("    signing_secret: []\n"),
                  "herald.yaml:4:21: targets[0].signing_secret: expected at least one secret "
                  "(leave the key out to send unsigned requests)");
    EXPECT_ERRORS(TARGET("    signing_secret: \"whsec_!!\"\n"),
                  "herald.yaml:4:21: targets[0].signing_secret: expected base64 after \"whsec_\"");
    EXPECT_ERRORS(TARGET("    signing_secret: ''\n"),
                  "herald.yaml:4:21: targets[0].signing_secret: must not be empty (leave the key "
                  "out to send unsigned requests)");
}

Test(errors, every_problem_is_reported_and_the_list_is_bounded)
{
    char yaml[4096];
    size_t at = 0;
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_config *c = NULL;

    at += (size_t)snprintf(yaml + at, sizeof(yaml) - at, "delivery:\n");
    for (int i = 0; i < 30; i++)
        at += (size_t)snprintf(yaml + at, sizeof(yaml) - at, "  bad%d: 1\n", i);
    cr_assert_eq(hr_config_parse(FILE_NAME, yaml, at, &c, &errs), HR_EINVAL);
    cr_expect_eq(errs.n, HR_MAX_ERRORS);
    cr_expect_eq(hr_errlist_count(&errs), 30);
    cr_expect_null(c);
    hr_errlist_clear(&errs);
}

/* ---- ${VAR} ------------------------------------------------------------------ */

Test(env, substitution_in_every_scalar)
{
    hr_config *c;
    setenv("HR_T_HOST", "hooks.example.com", 1);
    setenv("HR_T_TOKEN", "tok-123", 1);
    setenv("HR_T_ATTEMPTS", "5", 1);
    setenv("HR_T_NAME", "chat", 1);
    setenv("HR_T_EMPTY", "", 1);
    c = parse_ok("delivery:\n  max_attempts: ${HR_T_ATTEMPTS}\n  timeout: \"${HR_T_ATTEMPTS}s\"\n"
                 "targets:\n  - name: ${HR_T_NAME}\n    url: https://${HR_T_HOST}/x\n"
                 "    headers:\n      Authorization: \"Bearer ${HR_T_TOKEN}${HR_T_EMPTY}\"\n"
                 "      X-${HR_T_NAME}: a\n");
    cr_expect_eq(c->delivery.max_attempts, 5);
    cr_expect_eq(c->delivery.timeout_ms, 5000);
    cr_expect_str_eq(c->targets[0].name, "chat");
    cr_expect_str_eq(c->targets[0].url, "https://hooks.example.com/x");
    cr_expect_str_eq(c->targets[0].headers[0].value, "Bearer tok-123");
    cr_expect_str_eq(c->targets[0].headers[1].name, "X-chat");
    hr_config_free(c);
}

Test(env, dollar_dollar_brace_is_a_literal)
{
    hr_config *c;
    setenv("HR_T_X", "value", 1);
    c = parse_ok(TARGET("    headers:\n      X-A: \"$${HR_T_X} ${HR_T_X} $$ $x $ $$${HR_T_X}\"\n"));
    cr_expect_str_eq(c->targets[0].headers[0].value, "${HR_T_X} value $$ $x $ $${HR_T_X}");
    hr_config_free(c);
}

Test(env, unset_variable)
{
    unsetenv("CHAT_TOKEN");
    EXPECT_ERRORS(TARGET("    headers:\n      Authorization: { value: \"Bearer ${CHAT_TOKEN}\", "
                         "secret: true }\n"),
                  "herald.yaml:5:31: environment variable CHAT_TOKEN is not set");
}

Test(env, malformed_reference)
{
    const char *bad[] = {"${}", "${1A}", "${A", "${A-B}", "x ${ A }"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char yaml[128];
        snprintf(yaml, sizeof(yaml), "delivery:\n  proxy: \"%s\"\n", bad[i]);
        EXPECT_ERRORS(yaml, "herald.yaml:2:10: \"${\" must start a variable such as ${NAME} "
                            "(write \"$${\" for a literal \"${\")");
    }
}

Test(env, value_too_long_once_replaced)
{
    size_t n = HR_CONFIG_MAX_BYTES / 2 + 10;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[n] = '\0';
    setenv("HR_T_BIG", big, 1);
    free(big);
    EXPECT_ERRORS(TARGET("    body: \"${HR_T_BIG}${HR_T_BIG}\"\n"),
                  "herald.yaml:4:11: the value is longer than 1048576 bytes once ${VAR} are "
                  "replaced");
}

Test(env, value_that_is_not_utf8)
{
    setenv("HR_T_LATIN1", "caf\xe9", 1);
    EXPECT_ERRORS(TARGET("    body: '\"${HR_T_LATIN1}\"'\n"),
                  "herald.yaml:4:11: targets[0].body: not valid UTF-8 once environment variables "
                  "are replaced");
}

/* ---- YAML and bounds ----------------------------------------------------------- */

Test(yaml, syntax_errors)
{
    EXPECT_ERRORS("delivery:\n  timeout: 1s\n max_attempts: 2\n",
                  "herald.yaml:3:2: did not find expected key (while parsing a block mapping at "
                  "line 1, column 1)");
    EXPECT_ERRORS("routes: [a, b\n",
                  "herald.yaml:2:1: did not find expected ',' or ']' (while parsing a flow "
                  "sequence at line 1, column 9)");
    EXPECT_ERRORS("delivery:\n\tmax_attempts: 2\n",
                  "herald.yaml:2:1: found character that cannot start any token (while scanning "
                  "for the next token at line 2, column 1)");
    EXPECT_ERRORS("delivery: \"open\n", "herald.yaml:2:1: found unexpected end of stream (while "
                                        "scanning a quoted scalar at line 1, column 11)");
}

Test(yaml, a_syntax_error_is_the_only_message)
{
    EXPECT_ERRORS("delivry: 1\nroutes: [a, b\n",
                  "herald.yaml:3:1: did not find expected ',' or ']' (while parsing a flow "
                  "sequence at line 2, column 9)");
}

Test(yaml, invalid_utf8)
{
    EXPECT_ERRORS("delivery: {}\n# caf\xff\n",
                  "herald.yaml:2:6: invalid leading UTF-8 octet (0xFF)");
    EXPECT_ERRORS("delivery: {}\n# caf\xe9\n", "herald.yaml:2:6: incomplete UTF-8 octet sequence");
}

Test(yaml, anchors_and_aliases_are_refused)
{
    EXPECT_ERRORS("targets:\n  - &t\n    name: t\n    url: https://h/\n  - *t\n",
                  "herald.yaml:2:5: YAML anchors (&) and aliases (*) are not allowed",
                  "herald.yaml:5:5: YAML anchors (&) and aliases (*) are not allowed");
    EXPECT_ERRORS("delivery:\n  timeout: &d 10s\n  connect_timeout: *d\n",
                  "herald.yaml:2:12: YAML anchors (&) and aliases (*) are not allowed",
                  "herald.yaml:3:20: YAML anchors (&) and aliases (*) are not allowed");
    /* The classic billion laughs: refused at the first anchor, nothing expanded. */
    EXPECT_ERRORS("a: &a [\"lol\",\"lol\"]\nb: &b [*a,*a]\nc: &c [*b,*b]\n",
                  "herald.yaml:1:1: unknown key \"a\" (expected delivery, targets, routes, "
                  "jenkins, packages, "
                  "retention, gocd, people, store)",
                  "herald.yaml:1:4: YAML anchors (&) and aliases (*) are not allowed",
                  "herald.yaml:2:1: unknown key \"b\" (expected delivery, targets, routes, "
                  "jenkins, packages, "
                  "retention, gocd, people, store)",
                  "herald.yaml:2:4: YAML anchors (&) and aliases (*) are not allowed",
                  "herald.yaml:2:8: YAML anchors (&) and aliases (*) are not allowed",
                  "herald.yaml:2:11: YAML anchors (&) and aliases (*) are not allowed",
                  "herald.yaml:3:1: unknown key \"c\" (expected delivery, targets, routes, "
                  "jenkins, packages, "
                  "retention, gocd, people, store)",
                  "herald.yaml:3:4: YAML anchors (&) and aliases (*) are not allowed",
                  "herald.yaml:3:8: YAML anchors (&) and aliases (*) are not allowed",
                  "herald.yaml:3:11: YAML anchors (&) and aliases (*) are not allowed");
}

Test(yaml, nesting_is_bounded)
{
    char yaml[256];
    size_t at = 0;
    at += (size_t)snprintf(yaml + at, sizeof(yaml) - at, "delivery:\n  allow: ");
    for (int i = 0; i < 40; i++)
        yaml[at++] = '[';
    for (int i = 0; i < 40; i++)
        yaml[at++] = ']';
    yaml[at++] = '\n';
    yaml[at] = '\0';
    EXPECT_ERRORS(yaml, "herald.yaml:2:40: nested deeper than 32 levels");
}

Test(yaml, counts_are_bounded)
{
    size_t cap = 64 * (HR_CONFIG_MAX_TARGETS + 10), at = 0;
    char *yaml = malloc(cap), want[128];

    at += (size_t)snprintf(yaml + at, cap - at, "targets:\n");
    for (int i = 0; i <= HR_CONFIG_MAX_TARGETS + 1; i++)
        at += (size_t)snprintf(yaml + at, cap - at, "- {name: t%d, url: 'http://h/'}\n", i);
    snprintf(want, sizeof(want), "herald.yaml:%d:3: targets: at most %d targets are allowed",
             HR_CONFIG_MAX_TARGETS + 2, HR_CONFIG_MAX_TARGETS);
    EXPECT_ERRORS(yaml, want);

    at = (size_t)snprintf(yaml, cap, TARGET("routes:\n"));
    for (int i = 0; i <= HR_CONFIG_MAX_ROUTES; i++)
        at += (size_t)snprintf(yaml + at, cap - at, "- {name: r%d, targets: t}\n", i);
    snprintf(want, sizeof(want), "herald.yaml:%d:3: routes: at most %d routes are allowed",
             HR_CONFIG_MAX_ROUTES + 5, HR_CONFIG_MAX_ROUTES);
    EXPECT_ERRORS(yaml, want);

    at = (size_t)snprintf(yaml, cap, "delivery:\n  allow: [");
    for (int i = 0; i <= HR_CONFIG_MAX_ITEMS; i++) {
        if (i == HR_CONFIG_MAX_ITEMS)
            snprintf(want, sizeof(want),
                     "herald.yaml:2:%zu: delivery.allow: at most %d items "
                     "are allowed",
                     at - strlen("delivery:\n") + 1, HR_CONFIG_MAX_ITEMS);
        at += (size_t)snprintf(yaml + at, cap - at, "h%d,", i);
    }
    snprintf(yaml + at - 1, cap - at + 1, "]\n");
    EXPECT_ERRORS(yaml, want);

    at = (size_t)snprintf(yaml, cap, TARGET("    headers:\n"));
    for (int i = 0; i <= HR_CONFIG_MAX_ITEMS; i++)
        at += (size_t)snprintf(yaml + at, cap - at, "      X-%d: a\n", i);
    snprintf(want, sizeof(want),
             "herald.yaml:%d:7: targets[0].headers: at most %d headers are "
             "allowed",
             HR_CONFIG_MAX_ITEMS + 5, HR_CONFIG_MAX_ITEMS);
    EXPECT_ERRORS(yaml, want);
    free(yaml);
}

Test(yaml, one_document_only)
{
    EXPECT_ERRORS("delivery: {}\n---\nroutes: []\n",
                  "herald.yaml:2:1: expected one YAML document; found a second one (\"---\")");
}

Test(yaml, nul_bytes_are_refused)
{
    EXPECT_ERRORS(TARGET("    body: \"a\\0b\"\n"), "herald.yaml:4:11: targets[0].body: NUL bytes "
                                                   "are not allowed");
}

Test(yaml, too_big)
{
    size_t n = HR_CONFIG_MAX_BYTES + 1;
    char *text = malloc(n);
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_config *c = NULL;
    char *path;

    memset(text, '#', n);
    text[n - 1] = '\n';
    cr_expect_eq(hr_config_parse(FILE_NAME, text, n, &c, &errs), HR_ETOOBIG);
    cr_expect_null(c);
    cr_assert_eq(errs.n, 1);
    cr_expect_str_eq(errs.msgs[0], "herald.yaml: the file is larger than the limit of 1048576 "
                                   "bytes");
    hr_errlist_clear(&errs);

    /* Exactly at the limit is fine (a comment). */
    cr_expect_eq(hr_config_parse(FILE_NAME, text, n - 1, &c, &errs), HR_OK);
    hr_config_free(c);
    c = NULL;

    path = temp_file(text, n);
    cr_expect_eq(hr_config_load(path, &c, &errs), HR_ETOOBIG);
    cr_expect_null(c);
    cr_assert_eq(errs.n, 1);
    cr_expect(strstr(errs.msgs[0], ": the file is larger than the limit of 1048576 bytes") != NULL);
    cr_expect(strncmp(errs.msgs[0], path, strlen(path)) == 0);
    hr_errlist_clear(&errs);
    remove_temp_file(path);
    free(text);
}

Test(yaml, load_from_a_file)
{
    static const char text[] = "targets:\n  - name: t\n    url: https://h/\n    method: PATCH\n";
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_config *c = NULL;
    char *path = temp_file(text, strlen(text)), want[512];

    cr_expect_eq(hr_config_load(path, &c, &errs), HR_EINVAL);
    cr_assert_eq(errs.n, 1);
    snprintf(want, sizeof(want),
             "%s:4:13: targets[0].method: expected one of GET, POST, PUT, DELETE; got \"PATCH\"",
             path);
    cr_expect_str_eq(errs.msgs[0], want);
    hr_errlist_clear(&errs);
    remove_temp_file(path);
}

Test(yaml, unreadable_file)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_config *c = NULL;
    char dir[] = "/tmp/herald-config-XXXXXX", path[64];

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/missing.yaml", dir);
    cr_expect_eq(hr_config_load(path, &c, &errs), HR_EIO);
    cr_assert_eq(errs.n, 1);
    cr_expect(strstr(errs.msgs[0], "missing.yaml: cannot open: No such file or directory") != NULL,
              "%s", errs.msgs[0]);
    hr_errlist_clear(&errs);
    cr_expect_eq(hr_config_load(dir, &c, &errs), HR_EIO);
    cr_assert_eq(errs.n, 1);
    cr_expect(strstr(errs.msgs[0], ": cannot read: Is a directory") != NULL, "%s", errs.msgs[0]);
    hr_errlist_clear(&errs);
    cr_expect_null(c);
    rmdir(dir);
    /* errs may be NULL. */
    cr_expect_eq(hr_config_load(path, &c, NULL), HR_EIO);
    cr_expect_eq(hr_config_parse(FILE_NAME, "x: 1", 4, &c, NULL), HR_EINVAL);
}

/* ---- secrets ------------------------------------------------------------------- */

#define SECRET "s3cr3t-Value"

static void expect_no_secret(const char *yaml, size_t problems)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_config *c = NULL;
    cr_expect_eq(hr_config_parse(FILE_NAME, yaml, strlen(yaml), &c, &errs), HR_EINVAL);
    cr_expect_eq(errs.n, problems, "for:\n%s", yaml);
    if (errs.n != problems)
        print_errors(&errs);
    for (size_t i = 0; i < errs.n; i++)
        cr_expect(strstr(errs.msgs[i], "s3cr3t") == NULL, "secret in: %s", errs.msgs[i]);
    hr_errlist_clear(&errs);
    hr_config_free(c);
}

Test(secrets, never_in_messages)
{
    setenv("HR_T_SECRET", SECRET, 1);
    setenv("HR_T_SECRET_CRLF", SECRET "\r\nX-Injected: 1", 1);
    expect_no_secret(TARGET("    headers:\n      X-A: {value: \"${HR_T_SECRET_CRLF}\", secret: "
                            "true}\n      X-B: {value: \"{{ " SECRET " | }}\", secret: true}\n"
                            "      Authorization: \"{{ " SECRET " | }}\"\n"
                            "      X-C: {value: [" SECRET "], secret: true}\n"),
                     4);
    expect_no_secret(TARGET("    signing_secret: whsec_" SECRET "!\n"), 1);
    expect_no_secret(TARGET("    signing_secret: [whsec_" SECRET "!]\n"), 1);
    expect_no_secret(TARGET("    signing_secret: {" SECRET ": 1}\n"), 1);
    expect_no_secret(TARGET("    signing_secret: [[" SECRET "]]\n"), 1);
    expect_no_secret("targets:\n  - name: t\n    url: \"https://h/" SECRET " x\"\n", 1);
    expect_no_secret("targets:\n  - name: t\n    url: \"ftp://h/" SECRET "\"\n", 1);
    expect_no_secret("targets:\n  - name: t\n    url: \"https://h:1" SECRET "/\"\n", 1);
    expect_no_secret("targets:\n  - name: t\n    url: \"https://" SECRET "{{ .a }}/\"\n", 1);
    expect_no_secret("delivery:\n  proxy: \"http://user:" SECRET "@p:99999\"\n", 1);
    expect_no_secret("targets:\n  - https://h/" SECRET "\n", 1);
    expect_no_secret("targets: https://h/" SECRET "\n", 1);
    expect_no_secret(TARGET("    headers: \"Authorization: Bearer " SECRET "\"\n"), 1);
}

Test(secrets, masked_in_json)
{
    hr_config *c;
    json_t *j;
    char *dump;
    setenv("HR_T_SECRET", SECRET, 1);
    c = parse_ok("delivery:\n  proxy: http://user:${HR_T_SECRET}@proxy:3128\n"
                 "targets:\n  - name: t\n    url: https://user:${HR_T_SECRET}@h/x\n"
                 "    headers:\n      X-A: {value: \"${HR_T_SECRET}\", secret: true}\n"
                 "      authorization: \"Bearer ${HR_T_SECRET}\"\n      X-Plain: visible\n"
                 "    signing_secret: ${HR_T_SECRET}\n");
    j = hr_config_to_json(c);
    cr_assert_not_null(j);
    dump = json_dumps(j, 0);
    cr_expect(strstr(dump, "s3cr3t") == NULL, "%s", dump);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j, "delivery"), "proxy")),
                     "http://user:******@proxy:3128");
    {
        json_t *t = json_array_get(json_object_get(j, "targets"), 0);
        json_t *h = json_object_get(t, "headers");
        cr_expect_str_eq(json_string_value(json_object_get(t, "url")), "https://user:******@h/x");
        cr_expect_str_eq(json_string_value(json_object_get(h, "X-A")), "******");
        cr_expect_str_eq(json_string_value(json_object_get(h, "authorization")), "******");
        cr_expect_str_eq(json_string_value(json_object_get(h, "X-Plain")), "visible");
        cr_expect_str_eq(json_string_value(json_object_get(t, "signing_secret")), "******");
    }
    free(dump);
    json_decref(j);
    hr_config_free(c);
}

/* ---- hr_config_to_json --------------------------------------------------------- */

Test(to_json, shape)
{
    hr_config *c = parse_ok(every_key);
    json_t *j = hr_config_to_json(c), *d, *t, *r, *m;

    cr_assert_not_null(j);
    cr_expect_str_eq(json_string_value(json_object_get(j, "path")), FILE_NAME);
    d = json_object_get(j, "delivery");
    cr_expect_eq(json_integer_value(json_object_get(d, "max_attempts")), 7);
    cr_expect_eq(json_integer_value(json_object_get(d, "backoff_initial_ms")), 500);
    cr_expect_eq(json_integer_value(json_object_get(d, "backoff_max_ms")), 120000);
    cr_expect_eq(json_integer_value(json_object_get(d, "connect_timeout_ms")), 3000);
    cr_expect_eq(json_integer_value(json_object_get(d, "timeout_ms")), 3600000);
    cr_expect_eq(json_integer_value(json_object_get(d, "max_response_bytes")), 8192);
    cr_expect_eq(json_integer_value(json_object_get(d, "connections_per_host")), 2);
    cr_expect_eq(json_integer_value(json_object_get(d, "max_in_flight")), 100);
    cr_expect_str_eq(json_string_value(json_object_get(d, "proxy")),
                     "socks5h://proxy.internal:1080");
    cr_expect_eq(json_array_size(json_object_get(d, "allow")), 5);

    cr_assert_eq(json_array_size(json_object_get(j, "targets")), 2);
    t = json_array_get(json_object_get(j, "targets"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(t, "name")), "team-chat");
    cr_expect_str_eq(json_string_value(json_object_get(t, "method")), "PUT");
    cr_expect_eq(json_object_size(json_object_get(t, "headers")), 4);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(t, "headers"), "X-Token")),
                     "******");
    cr_expect_str_eq(json_string_value(json_object_get(t, "body")), "{text: .pipeline.name}");
    cr_expect(json_is_true(json_object_get(t, "body_for_get")));
    cr_expect_str_eq(json_string_value(json_object_get(t, "signing_secret")), "******");
    cr_expect(json_is_false(json_object_get(t, "from_gocd")));
    t = json_array_get(json_object_get(j, "targets"), 1);
    cr_expect(json_is_null(json_object_get(t, "body")));
    cr_expect(json_is_null(json_object_get(t, "signing_secret")));

    cr_assert_eq(json_array_size(json_object_get(j, "routes")), 2);
    r = json_array_get(json_object_get(j, "routes"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(r, "name")), "failures");
    m = json_object_get(r, "match");
    cr_expect_eq(json_object_size(m), 8);
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(m, "pipeline"), 0)),
                     "deploy-*");
    cr_expect_eq(json_array_size(json_object_get(m, "transition")), 3);
    cr_expect_str_eq(json_string_value(json_object_get(r, "filter")), ".stage.name != \"lint\"");
    cr_expect_eq(json_array_size(json_object_get(r, "targets")), 2);
    r = json_array_get(json_object_get(j, "routes"), 1);
    cr_expect(json_is_null(json_object_get(r, "filter")));
    json_decref(j);
    hr_config_free(c);
}

Test(to_json, defaults)
{
    hr_config *c = hr_config_new_default();
    json_t *j = hr_config_to_json(c);
    cr_assert_not_null(j);
    cr_expect(json_is_null(json_object_get(j, "path")));
    cr_expect(json_is_null(json_object_get(json_object_get(j, "delivery"), "proxy")));
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(j, "delivery"), "timeout_ms")),
                 15000);
    cr_expect_eq(json_array_size(json_object_get(j, "targets")), 0);
    cr_expect_eq(json_array_size(json_object_get(j, "routes")), 0);
    json_t *r = json_object_get(j, "retention");
    cr_expect_eq(json_integer_value(json_object_get(r, "events_ms")), 90 * 86400000LL);
    cr_expect_eq(json_integer_value(json_object_get(r, "attempts_ms")), 30 * 86400000LL);
    cr_expect_eq(json_integer_value(json_object_get(r, "interval_ms")), 600000);
    json_decref(j);
    hr_config_free(c);
}

/* ---- hr_config_target ---------------------------------------------------------- */

Test(lookup, target_by_name)
{
    hr_config *c = parse_ok(every_key);
    cr_expect_eq(hr_config_target(c, "team-chat"), &c->targets[0]);
    cr_expect_eq(hr_config_target(c, "other.2_x"), &c->targets[1]);
    cr_expect_null(hr_config_target(c, "Team-chat"));
    cr_expect_null(hr_config_target(c, "nope"));
    cr_expect_null(hr_config_target(c, NULL));
    cr_expect_null(hr_config_target(NULL, "team-chat"));
    hr_config_free(c);
}

/* ---- GoCD's plugin settings ---------------------------------------------------- */

static hr_config *with_gocd(json_t *settings)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_config *c = parse_ok(TARGET(""));
    int rc = hr_config_add_gocd_settings(c, settings, &errs);
    print_errors(&errs);
    cr_assert_eq(rc, HR_OK);
    cr_assert_eq(errs.n, 0);
    json_decref(settings);
    return c;
}

Test(gocd, runaway_body_is_not_probed)
{
    hr_config_free(with_gocd(gocd("https://h.example/", "", "", "def f: f; f", "")));
}

Test(gocd, target_and_route)
{
    hr_config *c = with_gocd(gocd("https://hooks.example.com/gocd/{{ .pipeline.name }}", "PUT",
                                  "Authorization: Bearer abc\r\n\nX-Team:  platform \n",
                                  "{text: .pipeline.name}", "broken, fixed ,still_failing"));
    const hr_target *t = hr_config_target(c, "gocd-settings");
    const hr_route *r;

    cr_assert_not_null(t);
    cr_expect_eq(c->ntargets, 2);
    cr_expect(t->from_gocd);
    cr_expect_str_eq(t->url, "https://hooks.example.com/gocd/{{ .pipeline.name }}");
    cr_expect_str_eq(t->method, "PUT");
    cr_assert_eq(t->nheaders, 2);
    cr_expect_str_eq(t->headers[0].name, "Authorization");
    cr_expect_str_eq(t->headers[0].value, "Bearer abc");
    cr_expect(t->headers[0].secret);
    cr_expect_str_eq(t->headers[1].name, "X-Team");
    cr_expect_str_eq(t->headers[1].value, "platform");
    cr_expect(t->headers[1].secret);
    cr_expect_str_eq(t->body, "{text: .pipeline.name}");
    cr_expect_eq(t->signing_secrets.n, 0);
    cr_assert_eq(c->nroutes, 1);
    r = &c->routes[0];
    cr_expect_str_eq(r->name, "gocd-settings");
    expect_list(&r->sources, LIST("gocd"));
    expect_list(&r->kinds, LIST("stage-status"));
    expect_list(&r->transitions, LIST("broken", "fixed", "still_failing"));
    expect_list(&r->targets, LIST("gocd-settings"));
    cr_expect_null(r->filter);
    hr_config_free(c);
}

Test(gocd, notify_on)
{
    static const struct {
        const char *notify_on;
        size_t nroutes;
        const char *kind0, *kind1;
        size_t ntransitions;
    } cases[] = {
        {"", 1, NULL, NULL, 0},
        {"any", 1, NULL, NULL, 0},
        {"failed, any, agent", 1, NULL, NULL, 0},
        {"agent", 1, "agent-status", NULL, 0},
        {"failed,agent", 2, "stage-status", "agent-status", 1},
        {" building , passed,failed,cancelled,broken,fixed,still_failing,failing,unknown ", 1,
         "stage-status", NULL, 9},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hr_config *c = with_gocd(gocd("https://h/", "", "", "", cases[i].notify_on));
        cr_assert_eq(c->nroutes, cases[i].nroutes, "%s", cases[i].notify_on);
        cr_expect_str_eq(c->routes[0].name, "gocd-settings");
        expect_list(&c->routes[0].sources, LIST("gocd"));
        if (cases[i].kind0 != NULL)
            expect_list(&c->routes[0].kinds, LIST(cases[i].kind0));
        else
            expect_list(&c->routes[0].kinds, EMPTY);
        cr_expect_eq(c->routes[0].transitions.n, cases[i].ntransitions, "%s", cases[i].notify_on);
        if (cases[i].nroutes == 2) {
            cr_expect_str_eq(c->routes[1].name, "gocd-settings-agent");
            expect_list(&c->routes[1].kinds, LIST(cases[i].kind1));
            expect_list(&c->routes[1].transitions, EMPTY);
            expect_list(&c->routes[1].targets, LIST("gocd-settings"));
        }
        cr_expect_str_eq(hr_config_target(c, "gocd-settings")->method, "POST");
        cr_expect_null(hr_config_target(c, "gocd-settings")->body);
        hr_config_free(c);
    }
}

Test(gocd, missing_and_null_keys_count_as_empty)
{
    hr_config *c =
        with_gocd(json_pack("{s:s,s:n}", "webhook_url", "http://h:8080/x", "webhook_headers"));
    cr_expect_str_eq(hr_config_target(c, "gocd-settings")->method, "POST");
    cr_expect_eq(hr_config_target(c, "gocd-settings")->nheaders, 0);
    cr_expect_eq(c->nroutes, 1);
    hr_config_free(c);
}

Test(gocd, empty_url_adds_nothing_and_removes_earlier)
{
    hr_config *c = with_gocd(gocd("https://h/", "", "", "", "failed, agent"));
    hr_errlist errs = HR_ERRLIST_INIT;
    json_t *s;

    cr_expect_eq(c->ntargets, 2);
    cr_expect_eq(c->nroutes, 2);
    /* A second call replaces the first. */
    s = gocd("https://other/", "GET", "", "", "any");
    cr_expect_eq(hr_config_add_gocd_settings(c, s, &errs), HR_OK);
    json_decref(s);
    cr_expect_eq(c->ntargets, 2);
    cr_expect_eq(c->nroutes, 1);
    cr_expect_str_eq(hr_config_target(c, "gocd-settings")->url, "https://other/");
    /* No URL: removed. */
    s = gocd("", "GET", "", "", "any");
    cr_expect_eq(hr_config_add_gocd_settings(c, s, &errs), HR_OK);
    json_decref(s);
    cr_expect_eq(c->ntargets, 1);
    cr_expect_eq(c->nroutes, 0);
    cr_expect_null(hr_config_target(c, "gocd-settings"));
    cr_expect_str_eq(c->targets[0].name, "t");
    cr_expect_eq(hr_config_add_gocd_settings(c, NULL, &errs), HR_OK);
    cr_expect_eq(c->ntargets, 1);
    cr_expect_eq(errs.n, 0);
    hr_config_free(c);
}

static void expect_gocd_errors(json_t *settings, const char *const *want)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_config *c = parse_ok(TARGET(""));
    size_t n = 0;
    while (want[n] != NULL)
        n++;
    cr_expect_eq(hr_config_add_gocd_settings(c, settings, &errs), HR_EINVAL);
    if (errs.n != n)
        print_errors(&errs);
    cr_expect_eq(errs.n, n);
    for (size_t i = 0; i < n && i < errs.n; i++)
        cr_expect_str_eq(errs.msgs[i], want[i]);
    for (size_t i = 0; i < errs.n; i++)
        cr_expect(strstr(errs.msgs[i], "s3cr3t") == NULL, "secret in: %s", errs.msgs[i]);
    /* c is unchanged. */
    cr_expect_eq(c->ntargets, 1);
    cr_expect_eq(c->nroutes, 0);
    json_decref(settings);
    hr_errlist_clear(&errs);
    hr_config_free(c);
}

#define EXPECT_GOCD_ERRORS(settings, ...)                                                          \
    expect_gocd_errors(settings, (const char *const[]){__VA_ARGS__, NULL})

Test(gocd, invalid_settings)
{
    EXPECT_GOCD_ERRORS(gocd("ftp://h/" SECRET, "PATCH",
                            "X-A: " SECRET "\nno colon " SECRET "\nBad Name: " SECRET
                            "\nx-a: again\n: " SECRET "\nX-B: {{ " SECRET " | }}",
                            "{text: ", "sometimes, failed"),
                       "GoCD plugin settings: webhook_url: the URL must start with http:// or "
                       "https://",
                       "GoCD plugin settings: webhook_method: expected one of GET, POST, PUT, "
                       "DELETE; got \"PATCH\"",
                       "GoCD plugin settings: webhook_headers line 2: expected \"Name: value\"",
                       "GoCD plugin settings: webhook_headers line 3: \"Bad Name\" is not a "
                       "header name (RFC 7230: letters, digits and !#$%&'*+-.^_`|~)",
                       "GoCD plugin settings: webhook_headers line 4: \"x-a\" is set twice "
                       "(header names are case-insensitive)",
                       "GoCD plugin settings: webhook_headers line 5: \"\" is not a header name "
                       "(RFC 7230: letters, digits and !#$%&'*+-.^_`|~)",
                       "GoCD plugin settings: webhook_headers line 6: template does not compile "
                       "(jq's message is not shown: the value is secret)",
                       "GoCD plugin settings: webhook_body: jq program does not compile: jq: "
                       "error: syntax error, unexpected $end (Unix shell quoting issues?) at "
                       "<top-level>, line 1: {text:",
                       "GoCD plugin settings: notify_on: \"sometimes\" is not one of any, "
                       "building, passed, failed, cancelled, broken, fixed, still_failing, "
                       "failing, unknown, agent");
    EXPECT_GOCD_ERRORS(
        json_pack("{s:i,s:b,s:s}", "webhook_url", 3, "webhook_headers", 1, "notify_on", "any"),
        "GoCD plugin settings: webhook_url: expected a string; got a number",
        "GoCD plugin settings: webhook_headers: expected a string; got a boolean");
    EXPECT_GOCD_ERRORS(json_pack("[]"), "GoCD plugin settings: expected an object; got an array");
    EXPECT_GOCD_ERRORS(gocd("https://{{ .h }}/", "", "X-A: a\tb\x01", "", ""),
                       "GoCD plugin settings: webhook_url: the URL's scheme, host and port must "
                       "be written out before any {{ }} template",
                       "GoCD plugin settings: webhook_headers line 1: the value must not contain "
                       "CR, LF or other control characters");
}

Test(gocd, json_masks_headers)
{
    hr_config *c = with_gocd(gocd("https://h/", "", "X-Key: " SECRET, "", "any"));
    json_t *j = hr_config_to_json(c);
    char *dump = json_dumps(j, 0);
    json_t *t = json_array_get(json_object_get(j, "targets"), 1);
    cr_expect(strstr(dump, "s3cr3t") == NULL, "%s", dump);
    cr_expect(json_is_true(json_object_get(t, "from_gocd")));
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(t, "headers"), "X-Key")),
                     "******");
    free(dump);
    json_decref(j);
    hr_config_free(c);
}

Test(gocd, no_environment_substitution)
{
    hr_config *c;
    setenv("HR_T_SECRET", SECRET, 1);
    c = with_gocd(gocd("https://h/${HR_T_SECRET}", "", "X-A: ${HR_T_SECRET}", "", ""));
    cr_expect_str_eq(hr_config_target(c, "gocd-settings")->url, "https://h/${HR_T_SECRET}");
    cr_expect_str_eq(hr_config_target(c, "gocd-settings")->headers[0].value, "${HR_T_SECRET}");
    hr_config_free(c);
}

/* ---- retention ----------------------------------------------------------------- */

Test(parse, retention_section)
{
    static const struct {
        const char *text;
        int64_t ms;
    } cases[] = {{"90d", 90 * 86400000LL},
                 {"3650d", 3650 * 86400000LL},
                 {"1s", 1000},
                 {"12h", 43200000},
                 {"30m", 1800000},
                 {"86400", 86400000},
                 {"forever", 0},
                 {"0", 0},
                 {"\"0\"", 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char yaml[128];
        hr_config *c;
        snprintf(yaml, sizeof(yaml), "retention:\n  events: %s\n  attempts: %s\n", cases[i].text,
                 cases[i].text);
        c = parse_ok(yaml);
        cr_expect_eq(c->retention.events_ms, cases[i].ms, "%s", cases[i].text);
        cr_expect_eq(c->retention.attempts_ms, cases[i].ms, "%s", cases[i].text);
        cr_expect_eq(c->retention.interval_ms, 600000, "the default interval");
        hr_config_free(c);
    }
    hr_config *c = parse_ok("retention:\n  interval: 1s\n");
    cr_expect_eq(c->retention.interval_ms, 1000);
    cr_expect_eq(c->retention.events_ms, 90 * 86400000LL, "the default");
    hr_config_free(c);
    c = parse_ok("retention:\n  interval: 2d\n");
    cr_expect_eq(c->retention.interval_ms, 2 * 86400000LL);
    hr_config_free(c);
    c = parse_ok("retention:\n");
    expect_defaults(c);
    hr_config_free(c);
}

Test(errors, retention)
{
    const char *bad[] = {"0ms", "999ms", "3651d", "1.5d", "-1d",
                         "d",   "1 d",   "never", "1w",   "99999999999999999999d"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char yaml[128], want[256];
        snprintf(yaml, sizeof(yaml), "retention:\n  events: \"%s\"\n", bad[i]);
        snprintf(want, sizeof(want),
                 "herald.yaml:2:11: retention.events: expected a duration from 1s to 3650d, such "
                 "as 90d, 12h or 10m, or forever; got \"%s\"",
                 bad[i]);
        EXPECT_ERRORS(yaml, want);
    }
    /* The interval cannot be forever. */
    EXPECT_ERRORS("retention:\n  interval: forever\n",
                  "herald.yaml:2:13: retention.interval: expected a duration from 1s to 3650d, "
                  "such as 90d, 12h or 10m; got \"forever\"");
    EXPECT_ERRORS("retention:\n  interval: 0\n",
                  "herald.yaml:2:13: retention.interval: expected a duration from 1s to 3650d, "
                  "such as 90d, 12h or 10m; got \"0\"");
    EXPECT_ERRORS("retention:\n  event: 1d\n  attempts: 1d\n  attempts: 2d\n",
                  "herald.yaml:2:3: retention: unknown key \"event\" (expected events, "
                  "attempts, interval)",
                  "herald.yaml:4:3: retention: duplicate key \"attempts\"");
    EXPECT_ERRORS("retention: 90d\n",
                  "herald.yaml:1:12: retention: expected a mapping; got \"90d\"");
    EXPECT_ERRORS("retention:\n  events: [1d]\n",
                  "herald.yaml:2:11: retention.events: expected a duration; got a list");
}

Test(to_json, retention)
{
    hr_config *c = parse_ok("retention: {events: forever, attempts: 7d, interval: 30s}\n");
    json_t *j = hr_config_to_json(c);
    json_t *r = json_object_get(j, "retention");
    cr_expect_eq(json_integer_value(json_object_get(r, "events_ms")), 0);
    cr_expect_eq(json_integer_value(json_object_get(r, "attempts_ms")), 7 * 86400000LL);
    cr_expect_eq(json_integer_value(json_object_get(r, "interval_ms")), 30000);
    json_decref(j);
    hr_config_free(c);
}

/* The apply path's verdict for the settings page: one message per key
 * (the first), "line N: " kept in the message, nothing when the settings
 * would be applied, and nothing secret. */
Test(gocd, check_settings_names_keys_like_the_page)
{
    json_t *s = gocd("http://[1:2]/" SECRET, "PATCH",
                     "no colon " SECRET "\nBad Name: " SECRET "\nX-B: {{ " SECRET " | }}",
                     "{text: ", "sometimes");
    json_t *p = hr_config_check_gocd_settings(s);
    char *text = json_dumps(p, JSON_COMPACT);
    cr_expect_str_eq(text,
                     "[{\"key\":\"webhook_url\",\"message\":\"the URL's host is not a valid IPv6 "
                     "address\"},{\"key\":\"webhook_method\",\"message\":\"expected one of GET, "
                     "POST, PUT, DELETE; got \\\"PATCH\\\"\"},{\"key\":\"webhook_headers\","
                     "\"message\":\"line 1: expected \\\"Name: value\\\"\"},{\"key\":\"webhook_"
                     "body\",\"message\":\"jq program does not compile: jq: error: syntax error, "
                     "unexpected $end (Unix shell quoting issues?) at <top-level>, line 1: "
                     "{text:\"},{\"key\":\"notify_on\",\"message\":\"\\\"sometimes\\\" is not one "
                     "of any, building, passed, failed, cancelled, broken, fixed, still_failing, "
                     "failing, unknown, agent\"}]");
    cr_expect(strstr(text, "s3cr3t") == NULL);
    free(text);
    json_decref(p);
    json_decref(s);

    s = gocd("https://h/{{ .pipeline.name }}", "", "X-A: {{ .stage.name }}", ".pipeline", "");
    p = hr_config_check_gocd_settings(s);
    cr_expect_eq(json_array_size(p), 0);
    json_decref(p);
    json_decref(s);
    p = hr_config_check_gocd_settings(NULL);
    cr_expect_eq(json_array_size(p), 0);
    json_decref(p);
}

/* ---- target types ---------------------------------------------------------- */

Test(types, each_service_with_its_keys)
{
    hr_config *c =
        parse_ok("targets:\n"
                 "  - {name: s, type: slack, url: 'https://hooks.slack.com/services/T/B/X',"
                 " api_url: 'http://127.0.0.1:9'}\n"
                 "  - {name: t, type: teams, url: 'https://x.logic.azure.com/workflows/1'}\n"
                 "  - {name: d, url: 'https://discord.com/api/webhooks/1/tok', type: discord,"
                 " username: herald, icon_url: 'https://i.example/h.png'}\n"
                 "  - {name: m, type: mattermost, url: 'https://mm.example/hooks/k',"
                 " channel: town-square, username: ci}\n"
                 "  - {name: g, type: google-chat, url: 'https://chat.googleapis.com/v1/x'}\n"
                 "  - {name: w, type: webhook, url: 'https://h.example/'}\n"
                 "  - {name: w2, url: 'https://h.example/'}\n");
    static const hr_target_type want[] = {
        HR_TARGET_SLACK,       HR_TARGET_TEAMS,   HR_TARGET_DISCORD, HR_TARGET_MATTERMOST,
        HR_TARGET_GOOGLE_CHAT, HR_TARGET_WEBHOOK, HR_TARGET_WEBHOOK};
    cr_assert_eq(c->ntargets, 7);
    for (size_t i = 0; i < 7; i++)
        cr_expect_eq(c->targets[i].type, want[i], "targets[%zu]", i);
    cr_expect_str_eq(c->targets[0].api_url, "http://127.0.0.1:9");
    cr_expect_null(c->targets[0].method);
    cr_expect_str_eq(c->targets[2].username, "herald");
    cr_expect_str_eq(c->targets[3].channel, "town-square");
    cr_expect_str_eq(c->targets[6].method, "POST");
    hr_config_free(c);
}

Test(types, errors_name_the_line_and_column)
{
    EXPECT_ERRORS("targets:\n"
                  "  - name: s\n"
                  "    method: PUT\n"
                  "    type: slack\n"
                  "    username: x\n"
                  "  - name: t\n"
                  "    type: telegram\n"
                  "    url: https://t.example/\n"
                  "  - name: w\n"
                  "    url: https://h.example/\n"
                  "    api_url: http://x/\n"
                  "  - name: m\n"
                  "    type: mattermost\n"
                  "    url: 'https://mm.example/hooks/{{ .x }}'\n"
                  "    username: \"a\\nb\"\n",
                  "herald.yaml:3:5: targets[0].method: type slack takes no key \"method\" (its "
                  "keys: name, type, url, token, api_url, channel, thread, title, text, order_by, "
                  "latest_wins, rate_limit, circuit)",
                  "herald.yaml:5:5: targets[0].username: type slack takes no key \"username\" "
                  "(its keys: name, type, url, token, api_url, channel, thread, title, text, "
                  "order_by, latest_wins, rate_limit, circuit)",
                  "herald.yaml:2:5: targets[0]: missing required key \"url\" (an incoming "
                  "webhook), or \"token\" and \"channel\" (a bot)",
                  "herald.yaml:7:11: targets[1].type: unknown target type \"telegram\" (expected "
                  "webhook, slack, teams, discord, mattermost, google-chat, email, github, gitlab, "
                  "bitbucket, pagerduty)",
                  "herald.yaml:11:5: targets[2].api_url: type webhook takes no key \"api_url\" "
                  "(its keys: name, type, url, method, headers, body, body_for_get, "
                  "signing_secret, order_by, latest_wins, rate_limit, circuit)",
                  "herald.yaml:14:10: targets[3].url: the URL must not contain spaces or control "
                  "characters (write %20 for a space)",
                  "herald.yaml:15:15: targets[3].username: expected 1 to 100 characters on one "
                  "line; got \"a\\nb\"");
}

Test(types, service_url_is_masked_whole_and_never_quoted)
{
    hr_config *c = parse_ok("targets:\n  - {name: s, type: slack, url: "
                            "'https://hooks.slack.com/services/T/B/SECRETPART'}\n");
    json_t *j = hr_config_to_json(c);
    char *text = json_dumps(j, 0);
    cr_expect_null(strstr(text, "SECRETPART"));
    json_t *t = json_array_get(json_object_get(j, "targets"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(t, "url")), "******");
    cr_expect_str_eq(json_string_value(json_object_get(t, "type")), "slack");
    free(text);
    json_decref(j);
    hr_config_free(c);
    EXPECT_ERRORS("targets:\n  - {name: s, type: slack, url: 'ftp://hooks.slack.com/SECRETPART'}\n",
                  "herald.yaml:2:33: targets[0].url: the URL must start with http:// or https://");
}

Test(types, email)
{
    hr_config *c = parse_ok("targets:\n"
                            "  - {name: m, type: email, smtp: 'smtp://mail.example:587',"
                            " from: herald@example.com, to: [a@example.com, b@example.com]}\n"
                            "  - {name: p, type: email, smtp: 'smtps://mail.example',"
                            " starttls: false, username: u, password: pw, from: h@example.com,"
                            " to: a@example.com}\n");
    cr_expect_str_eq(c->targets[0].url, "smtp://mail.example:587");
    cr_expect(c->targets[0].starttls, "STARTTLS is required unless turned off");
    cr_expect_not(c->targets[1].starttls);
    cr_expect_eq(c->targets[1].to.n, 1);
    json_t *j = hr_config_to_json(c);
    json_t *t = json_array_get(json_object_get(j, "targets"), 1);
    cr_expect_str_eq(json_string_value(json_object_get(t, "password")), "******");
    cr_expect_str_eq(json_string_value(json_object_get(t, "url")), "smtps://mail.example");
    json_decref(j);
    hr_config_free(c);
    EXPECT_ERRORS("targets:\n"
                  "  - name: m\n"
                  "    type: email\n"
                  "    smtp: https://mail.example\n"
                  "    from: \"a b@example.com\"\n"
                  "    to: [ok@example.com, \"x@y>\", nobody]\n"
                  "    url: https://x.example\n",
                  "herald.yaml:6:26: targets[0].to[1]: expected an e-mail address (name@domain); "
                  "got \"x@y>\"",
                  "herald.yaml:6:34: targets[0].to[2]: expected an e-mail address (name@domain); "
                  "got \"nobody\"",
                  "herald.yaml:7:5: targets[0].url: type email takes no key \"url\" (its keys: "
                  "name, type, title, text, smtp, starttls, username, password, from, to, subject, "
                  "order_by, latest_wins, rate_limit, circuit)",
                  "herald.yaml:4:11: targets[0].smtp: the URL must start with smtp:// or smtps://",
                  "herald.yaml:5:11: targets[0].from: expected an e-mail address (name@domain); "
                  "got \"a b@example.com\"");
    EXPECT_ERRORS("targets:\n  - {name: m, type: email, smtp: 'smtp://h', from: a@b.c, to: []}\n",
                  "herald.yaml:2:59: targets[0].to: expected at least one address");
}

Test(types, state_targets)
{
    hr_config *c =
        parse_ok("targets:\n"
                 "  - {name: gh, type: github, token: ghp-SECRET, repository: acme/app,"
                 " context: 'ci/{{ .pipeline.name }}'}\n"
                 "  - {name: gl, type: gitlab, token: glpat-SECRET,"
                 " api_url: 'https://gitlab.corp/api/v4', host: git.corp}\n"
                 "  - {name: bb, type: bitbucket, token: b-SECRET,"
                 " api_url: 'https://bb.corp/rest/api/1.0'}\n"
                 "  - {name: pd, type: pagerduty, token: r-SECRET, severity: warning,"
                 " summary: '{{ .summary.name }} broke', dedup_key: '{{ .job.name }}'}\n");
    cr_expect_eq(c->targets[0].type, HR_TARGET_GITHUB);
    cr_expect_str_eq(c->targets[0].context, "ci/{{ .pipeline.name }}");
    cr_expect_str_eq(c->targets[0].repository, "acme/app");
    cr_expect_not_null(strstr(c->targets[0].order_by, "ci/{{ .pipeline.name }}"));
    cr_expect_eq(c->targets[0].latest_wins, 1);
    cr_expect_str_eq(c->targets[1].host, "git.corp");
    cr_expect_not_null(c->targets[2].context, "the default context");
    cr_expect_str_eq(c->targets[3].severity, "warning");
    cr_expect_str_eq(c->targets[3].context, "{{ .job.name }}");
    cr_expect_str_eq(c->targets[3].order_by, "{{ .job.name }}");
    json_t *j = hr_config_to_json(c);
    char *text = json_dumps(j, 0);
    cr_expect_null(strstr(text, "SECRET"), "%s", text);
    free(text);
    json_decref(j);
    hr_config_free(c);
    EXPECT_ERRORS("targets:\n"
                  "  - name: gh\n"
                  "    type: github\n"
                  "    context: '{{ .a'\n"
                  "    host: 'git hub'\n"
                  "  - {name: bb, type: bitbucket, token: t, api_url: 'https://bb.corp/api/1.0'}\n"
                  "  - {name: pd, type: pagerduty, token: t, severity: fatal, context: x}\n",
                  "herald.yaml:5:11: targets[0].host: expected a host name (github.example.com); "
                  "got \"git hub\"",
                  "herald.yaml:4:14: targets[0].context: template does not compile: template: "
                  "the \"{{\" at byte 0 has no closing \"}}\"",
                  "herald.yaml:2:5: targets[0]: missing required key \"token\"",
                  "herald.yaml:6:43: targets[1].api_url: a bitbucket api_url ends with /2.0 "
                  "(Bitbucket Cloud's API) or /rest/api/1.0 (Bitbucket Data Center's)",
                  "herald.yaml:7:60: targets[2].context: type pagerduty takes no key \"context\" "
                  "(its keys: name, type, token, api_url, dedup_key, summary, severity, order_by, "
                  "latest_wins, rate_limit, circuit)",
                  "herald.yaml:7:53: targets[2].severity: expected critical, error, warning or "
                  "info (PagerDuty's severities); got \"fatal\"");
}

Test(types, slack_takes_a_webhook_or_a_bot)
{
    hr_config *c =
        parse_ok("targets:\n  - {name: s, type: slack, token: xoxb-SECRET, channel: C123}\n");
    cr_expect_str_eq(c->targets[0].token, "xoxb-SECRET");
    cr_expect_null(c->targets[0].url);
    json_t *j = hr_config_to_json(c);
    char *text = json_dumps(j, 0);
    cr_expect_null(strstr(text, "xoxb-SECRET"));
    cr_expect_not_null(strstr(text, "\"token\": \"******\""), "%s", text);
    free(text);
    json_decref(j);
    hr_config_free(c);
    EXPECT_ERRORS("targets:\n"
                  "  - {name: a, type: slack, token: xoxb-SECRET}\n"
                  "  - {name: b, type: slack, token: xoxb-SECRET, channel: C1,"
                  " url: 'https://hooks.slack.com/services/T/B/X'}\n"
                  "  - {name: c, type: slack, channel: C1, url: 'https://hooks.slack.com/x'}\n",
                  "herald.yaml:2:5: targets[0]: missing required key \"channel\" (a bot token "
                  "posts to a channel)",
                  "herald.yaml:3:5: targets[1]: a slack target takes \"url\" (an incoming "
                  "webhook) or \"token\" and \"channel\" (a bot), not both",
                  "herald.yaml:4:5: targets[2]: \"channel\" goes with \"token\": an incoming "
                  "webhook posts to its own channel");
}

/* ---- gocd: and people: (config_people.c) ---------------------------------- */

Test(people, gocd_api_and_people_map)
{
    hr_config *c = parse_ok("gocd: {api_url: 'https://gocd.example.com/', token: t0k3n,"
                            " attempts: 5}\n"
                            "people:\n"
                            "  jane@example.com: {name: Jane Doe, slack: '<@U0123ABCD>',"
                            " teams: jane@corp.example, discord: '<@!8035>', mattermost: '@jane',"
                            " email: jane@corp.example}\n"
                            "  '*bob*': {slack: W42}\n");
    cr_expect_str_eq(c->gocd.api_url, "https://gocd.example.com/");
    cr_expect_eq(c->gocd.attempts, 5);
    cr_assert_eq(c->npeople, 2);
    cr_expect_str_eq(c->people[0].slack, "U0123ABCD");
    cr_expect_str_eq(c->people[0].discord, "8035");
    cr_expect_str_eq(c->people[0].mattermost, "jane");
    cr_expect_str_eq(c->people[1].match, "*bob*");
    json_t *j = hr_config_to_json(c);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j, "gocd"), "token")),
                     "******");
    json_decref(j);
    hr_config_free(c);
    c = parse_ok("delivery: {}\n");
    cr_expect_null(c->gocd.api_url);
    cr_expect_eq(c->gocd.attempts, 3);
    hr_config_free(c);
}

Test(people, errors_have_their_place)
{
    EXPECT_ERRORS(
        "gocd: {token: x, attempts: 0}\n",
        "herald.yaml:1:28: gocd.attempts: expected a whole number from 1 to 20; got \"0\"",
        "herald.yaml:1:7: gocd: missing required key \"api_url\"");
    EXPECT_ERRORS("people:\n"
                  "  a@example.com: {name: A}\n"
                  "  b@example.com: {mattermost: Bob, teams: nobody, colour: red}\n"
                  "  a@example.com: {slack: U1}\n",
                  "herald.yaml:2:18: people.\"a@example.com\": no handle: name one of slack, "
                  "teams, discord, mattermost or email",
                  "herald.yaml:3:31: people.\"b@example.com\".mattermost: expected a Mattermost "
                  "user name (lower-case letters, digits, \".\", \"_\", \"-\"); got \"Bob\"",
                  "herald.yaml:3:43: people.\"b@example.com\".teams: expected an e-mail address "
                  "(name@domain); got \"nobody\"",
                  "herald.yaml:3:51: people.\"b@example.com\": unknown key \"colour\" (expected "
                  "name, slack, teams, discord, mattermost, email)",
                  "herald.yaml:4:3: people: \"a@example.com\" is named twice");
}

Test(people, mail_recipients_and_subject_templates)
{
    hr_config *c =
        parse_ok("targets:\n"
                 "  - {name: m, type: email, smtp: 'smtp://mail.example:587',"
                 " from: herald@example.com, to: [culprits, '{{ .pipeline.name }}@x.example'],"
                 " subject: 'CI {{ .transition }}'}\n");
    cr_expect_str_eq(c->targets[0].to.items[0], "culprits");
    cr_expect_str_eq(c->targets[0].subject, "CI {{ .transition }}");
    hr_config_free(c);
    free(expect_error_prefix("targets:\n"
                             "  - {name: m, type: email, smtp: 'smtp://mail.example:587',"
                             " from: herald@example.com, to: [a@x.example, '{{ .a | }}']}\n",
                             "herald.yaml:2:105: targets[0].to[1]: template does not compile: "));
}

Test(types, one_message_per_run_keys)
{
    hr_config *c =
        parse_ok("targets:\n"
                 "  - {name: s, type: slack, token: xoxb-1, channel: C1, thread: true}\n"
                 "  - {name: d, type: discord, url: 'https://discord.com/api/webhooks/1/t',"
                 " edit: true}\n"
                 "  - {name: e, type: slack, token: xoxb-1, channel: C1}\n");
    cr_expect(c->targets[0].thread);
    cr_expect(c->targets[1].edit);
    cr_expect_not(c->targets[2].thread);
    hr_config_free(c);
    EXPECT_ERRORS("targets:\n"
                  "  - name: s\n"
                  "    type: slack\n"
                  "    url: https://hooks.slack.com/services/T/B/X\n"
                  "    thread: true\n"
                  "  - {name: t, type: teams, url: 'https://x.logic.azure.com/w', edit: true}\n",
                  "herald.yaml:2:5: targets[0]: \"thread\" goes with \"token\": an incoming "
                  "webhook cannot answer in a thread",
                  "herald.yaml:6:64: targets[1].edit: type teams takes no key \"edit\" (its "
                  "keys: name, type, url, api_url, title, text, order_by, latest_wins, rate_limit, "
                  "circuit)");
}

/* ---- Ordered delivery (order_by, latest_wins) ----------------------------- */

Test(order, every_type_takes_order_by_and_latest_wins)
{
    hr_config *c = parse_ok("targets:\n"
                            "  - name: w\n"
                            "    url: https://h.example/\n"
                            "    order_by: '{{ .pipeline.name }}/{{ .stage.name }}'\n"
                            "    latest_wins: true\n"
                            "  - name: s\n"
                            "    type: slack\n"
                            "    url: https://hooks.slack.com/services/T/B/X\n"
                            "    order_by: fixed\n"
                            "  - name: u\n"
                            "    url: https://h.example/\n");
    cr_assert_eq(c->ntargets, 3);
    cr_expect_str_eq(c->targets[0].order_by, "{{ .pipeline.name }}/{{ .stage.name }}");
    cr_expect_eq(c->targets[0].latest_wins, 1);
    cr_expect_str_eq(c->targets[1].order_by, "fixed");
    cr_expect_eq(c->targets[1].latest_wins, 0);
    cr_expect_null(c->targets[2].order_by, "unordered unless written");
    cr_expect_eq(c->targets[2].latest_wins, 0);
    hr_config_free(c);
}

Test(order, bad_values_are_refused_at_their_line_and_column)
{
    EXPECT_ERRORS(
        "targets:\n"
        "  - name: w\n"
        "    url: https://h.example/\n"
        "    order_by: '{{ .pipeline.name '\n"
        "  - name: x\n"
        "    url: https://h.example/\n"
        "    latest_wins: yes please\n"
        "  - name: y\n"
        "    url: https://h.example/\n"
        "    latest_wins: true\n"
        "  - name: z\n"
        "    url: https://h.example/\n"
        "    order_by: ''\n",
        "herald.yaml:4:15: targets[0].order_by: template does not compile: template: "
        "the \"{{\" at byte 0 has no closing \"}}\"",
        "herald.yaml:7:18: targets[1].latest_wins: expected true or false; got \"yes "
        "please\"",
        "herald.yaml:10:5: targets[2]: latest_wins needs order_by (the key whose newest "
        "delivery wins)",
        "herald.yaml:13:15: targets[3].order_by: expected a template on one line, such as \"{{ "
        ".pipeline.name }}\"");
}

/* ---- circuit: (route/config_health.c) ------------------------------------ */

Test(circuit, defaults_delivery_and_per_target_override)
{
    hr_config *c = parse_ok("delivery:\n"
                            "  circuit: {failures: 3, probe_initial: 2s, disable_after: 5d}\n"
                            "targets:\n"
                            "  - name: a\n    url: https://a.example/\n"
                            "  - name: b\n    url: https://b.example/\n"
                            "    circuit: {failures: 0, probe_max: 1h}\n");
    hr_circuit_settings s;
    hr_config *d = hr_config_new_default();

    hr_config_circuit(d, NULL, &s);
    cr_expect_eq(s.failures, 10);
    cr_expect_eq(s.probe_initial_ms, 30000);
    cr_expect_eq(s.probe_max_ms, 600000);
    cr_expect_eq(s.disable_after_ms, 3 * 24 * 3600 * 1000LL);
    hr_config_circuit(c, &c->targets[0], &s);
    cr_expect_eq(s.failures, 3);
    cr_expect_eq(s.probe_initial_ms, 2000);
    cr_expect_eq(s.probe_max_ms, 600000);
    cr_expect_eq(s.disable_after_ms, 5 * 24 * 3600 * 1000LL);
    hr_config_circuit(c, &c->targets[1], &s);
    cr_expect_eq(s.failures, 0, "a target's own 0: its circuit never opens");
    cr_expect_eq(s.probe_initial_ms, 2000, "the rest from delivery's");
    cr_expect_eq(s.probe_max_ms, 3600 * 1000);
    hr_config_free(c);
    hr_config_free(d);
}

Test(circuit, bad_values_are_named)
{
    EXPECT_ERRORS("delivery:\n  circuit: {failures: -1, probe_initial: 2m, probe_max: 1m, "
                  "disable_after: soon, tries: 3}\n",
                  "herald.yaml:2:23: delivery.circuit.failures: expected a whole number from 0 "
                  "to 1000000; got \"-1\"",
                  "herald.yaml:2:76: delivery.circuit.disable_after: expected a duration from 1s "
                  "to 3650d, such as 90d, 12h or 10m, or forever; got \"soon\"",
                  "herald.yaml:2:82: delivery.circuit: unknown key \"tries\" (expected failures, "
                  "probe_initial, probe_max, disable_after)",
                  "herald.yaml:2:57: delivery.circuit.probe_max: must not be shorter than "
                  "probe_initial");
}
