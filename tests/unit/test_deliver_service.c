/*
 * test_deliver_service.c - the services' renderers and answer classifiers
 * (deliver/service.h) and the message they share (deliver/message.h),
 * without a server: each renderer's body is compared with its golden file
 * under tests/unit/golden/ (HR_GOLDEN_WRITE=1 rewrites them; read the diff
 * before committing), and each classifier with the answers its service
 * documents (../shared/targets.md).
 */
#include "deliver/message.h"
#include "deliver/service.h"

#include "core/mem.h"

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOLDEN HR_TEST_SRCDIR "/tests/unit/golden/"

/* A GoCD stage that broke, as the engine hands it over (normalised, with
 * GoCD's site URL). */
static const char gocd_broken[] =
    "{\"id\": 12, \"received_at\": \"2026-12-03T10:00:00.000Z\", \"source\": \"gocd\","
    " \"kind\": \"stage-status\", \"transition\": \"broken\","
    " \"summary\": {\"name\": \"deploy/test\", \"number\": \"42\", \"result\": \"Failed\","
    " \"url\": null},"
    " \"pipeline\": {\"name\": \"deploy\", \"counter\": \"42\", \"label\": \"1.4.42\","
    " \"group\": \"prod\"},"
    " \"stage\": {\"name\": \"test\", \"counter\": \"1\", \"state\": \"Failed\","
    " \"result\": \"Failed\", \"approved_by\": \"changes\","
    " \"created_at\": \"2026-12-03T09:55:00.000Z\","
    " \"last_transition_at\": \"2026-12-03T09:58:12.500Z\", \"jobs\": ["
    "{\"name\": \"unit\", \"state\": \"Completed\", \"result\": \"Passed\"},"
    "{\"name\": \"integration <db>\", \"state\": \"Completed\", \"result\": \"Failed\"}]},"
    " \"build_cause\": [{\"material_type\": \"git\", \"material\": "
    "\"https://git.example.com/app.git\", \"changed\": true, \"revision\": "
    "\"0123456789abcdef0123456789abcdef01234567\"}],"
    " \"gocd\": {\"site_url\": \"https://gocd.example.com/\"}}";

/* A Jenkins build that is still failing. */
static const char jenkins_still_failing[] =
    "{\"id\": 13, \"received_at\": \"2026-12-03T11:00:00.000Z\", \"source\": \"jenkins\","
    " \"kind\": \"build-status\", \"transition\": \"still_failing\","
    " \"summary\": {\"name\": \"team/app/main\", \"number\": \"7\", \"result\": \"Failed\","
    " \"url\": \"https://ci.example.com/job/team/job/app/job/main/7/\"},"
    " \"job\": {\"name\": \"team/app/main\", \"branch\": \"main\"},"
    " \"build\": {\"number\": \"7\", \"status\": \"FAILURE\", \"duration_ms\": 7500000,"
    " \"scm\": {\"commit\": "
    "\"fedcba9876543210fedcba9876543210fedcba98\", \"culprits\": [\"alice\", \"bob\"],"
    " \"changes\": [\"src/a.c\", \"src/b.c\"]}}}";

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    cr_assert_not_null(j, "%s", e.text);
    return j;
}

/* Renders event for t, with what an earlier delivery of the run
 * remembered (run_ref, JSON text, or NULL), and returns the request
 * (clear it). */
static hr_svc_request render_run(const hr_target *t, const char *event, const char *run_ref)
{
    hr_svc_request req = {0};
    hr_message m;
    hr_error err;
    json_t *e = load(event);
    const hr_service *svc = hr_service_of(t->type);

    cr_assert_eq(hr_message_from_event(e, &m, &err), HR_OK);
    cr_assert_not_null(svc->render);
    json_t *ref = run_ref != NULL ? load(run_ref) : NULL;
    hr_svc_context ctx = {.delivery_id = 77, .now_ms = 1796292000000, .run_ref = ref, .event = e};
    cr_assert_eq(svc->render(t, &m, &ctx, &req, &err), HR_OK, "%s", err.msg);
    hr_message_clear(&m);
    json_decref(e);
    json_decref(ref);
    if (t->type != HR_TARGET_EMAIL && (t->type != HR_TARGET_SLACK || t->token == NULL))
        cr_assert_str_eq(req.content_type, "application/json");
    return req;
}

static hr_svc_request render(const hr_target *t, const char *event)
{
    return render_run(t, event, NULL);
}

/* The body must equal the golden file name (as JSON). */
static void expect_golden(const hr_svc_request *req, const char *name)
{
    char path[512];
    json_error_t e;
    json_t *got = json_loadb(req->body, req->body_len, 0, &e), *want;

    cr_assert_not_null(got, "the body is not JSON: %s", e.text);
    snprintf(path, sizeof(path), GOLDEN "%s", name);
    if (getenv("HR_GOLDEN_WRITE") != NULL)
        json_dump_file(got, path, JSON_INDENT(2) | JSON_SORT_KEYS);
    want = json_load_file(path, 0, &e);
    cr_assert_not_null(want, "%s: %s", path, e.text);
    if (!json_equal(got, want)) {
        char *text = json_dumps(got, JSON_INDENT(2) | JSON_SORT_KEYS);
        cr_log_error("%s differs; got:\n%s", name, text);
        free(text);
    }
    cr_expect(json_equal(got, want), "%s", name);
    json_decref(got);
    json_decref(want);
}

/* The HTML part of an e-mail (base64 lines after its Content-Type up to
 * the next boundary) must equal the golden file name (docs/targets.md
 * shows it, and its picture). */
static void expect_html_golden(const char *mail, const char *name)
{
    const char *p = strstr(mail, "Content-Type: text/html");
    char path[512], *html = hr_malloc(strlen(mail)), *want;
    size_t n = 0;
    FILE *f;

    cr_assert_not_null(p);
    p = strstr(p, "\r\n\r\n") + 4;
    while (strncmp(p, "--", 2) != 0) {
        const char *eol = strstr(p, "\r\n");
        int w =
            EVP_DecodeBlock((unsigned char *)html + n, (const unsigned char *)p, (int)(eol - p));
        cr_assert_geq(w, 0);
        n += (size_t)w;
        /* EVP_DecodeBlock counts the padding's bytes as output. */
        n -= (size_t)(eol[-1] == '=') + (size_t)(eol[-2] == '=');
        p = eol + 2;
    }
    snprintf(path, sizeof(path), GOLDEN "%s", name);
    if (getenv("HR_GOLDEN_WRITE") != NULL) {
        f = fopen(path, "wb");
        cr_assert_not_null(f);
        fwrite(html, 1, n, f);
        fclose(f);
    }
    f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    want = hr_calloc(1, n + 2);
    size_t got = fread(want, 1, n + 1, f);
    fclose(f);
    cr_expect(got == n && memcmp(want, html, n) == 0, "%s differs; got:\n%.*s", name, (int)n, html);
    free(want);
    free(html);
}

static hr_target target(hr_target_type type, const char *url)
{
    hr_target t = {0};
    t.name = "chat";
    t.type = type;
    t.url = (char *)url;
    return t;
}

/* ---- the message ---------------------------------------------------------- */

Test(message, gocd_stage)
{
    json_t *e = load(gocd_broken);
    hr_message m;
    hr_error err;

    cr_assert_eq(hr_message_from_event(e, &m, &err), HR_OK);
    cr_expect_str_eq(m.title, "deploy/test #42 broken");
    cr_expect_str_eq(m.word, "broken");
    cr_expect_eq(m.tone, HR_TONE_BAD);
    cr_expect_str_eq(m.url, "https://gocd.example.com/go/pipelines/deploy/42/test/1");
    cr_expect_str_eq(m.run, "deploy/42");
    cr_assert_eq(m.nfacts, 6);
    cr_expect_str_eq(m.facts[0].value, "deploy #42 (1.4.42)");
    cr_expect_str_eq(m.facts[2].label, "Failed jobs");
    cr_expect_str_eq(m.facts[2].value, "integration <db>");
    cr_expect_str_eq(m.facts[4].label, "Duration");
    cr_expect_str_eq(m.facts[4].value, "3m 12s");
    cr_expect_str_eq(m.facts[5].value, "0123456789ab https://git.example.com/app.git (changed)");
    hr_message_clear(&m);
    json_decref(e);
}

Test(message, words_and_tones)
{
    static const struct {
        const char *transition, *word;
        hr_tone tone;
    } cases[] = {
        {"building", "building", HR_TONE_INFO}, {"passed", "passed", HR_TONE_GOOD},
        {"fixed", "fixed", HR_TONE_GOOD},       {"still_failing", "still failing", HR_TONE_BAD},
        {"failed", "failed", HR_TONE_BAD},      {"cancelled", "cancelled", HR_TONE_WARN},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text = hr_msg_fmt("{\"kind\": \"build-status\", \"transition\": \"%s\","
                                " \"summary\": {\"name\": \"j\", \"number\": \"1\"}}",
                                cases[i].transition);
        json_t *e = load(text);
        hr_message m;
        hr_error err;
        cr_assert_eq(hr_message_from_event(e, &m, &err), HR_OK);
        cr_expect_str_eq(m.word, cases[i].word);
        cr_expect_eq(m.tone, cases[i].tone, "%s", cases[i].transition);
        hr_message_clear(&m);
        json_decref(e);
        free(text);
    }
}

Test(message, agent_and_package)
{
    json_t *e = load("{\"kind\": \"agent-status\", \"agent\": {\"host_name\": \"build-7\","
                     " \"ip_address\": \"10.0.0.7\", \"agent_state\": \"LostContact\","
                     " \"build_state\": \"Building\", \"config_state\": \"Enabled\"}}");
    hr_message m;
    hr_error err;
    cr_assert_eq(hr_message_from_event(e, &m, &err), HR_OK);
    cr_expect_str_eq(m.title, "Agent build-7 is LostContact");
    cr_expect_eq(m.tone, HR_TONE_BAD);
    cr_expect_str_eq(m.facts[0].value, "10.0.0.7");
    hr_message_clear(&m);
    json_decref(e);
    e = load("{\"kind\": \"package-revision\", \"summary\": {\"name\": \"repo/pkg\","
             " \"number\": \"1.2.3\", \"url\": \"https://pkgs.example/1.2.3\"}}");
    cr_assert_eq(hr_message_from_event(e, &m, &err), HR_OK);
    cr_expect_str_eq(m.title, "repo/pkg: new revision 1.2.3");
    cr_expect_str_eq(m.url, "https://pkgs.example/1.2.3");
    hr_message_clear(&m);
    json_decref(e);
}

Test(message, long_values_are_cut_on_a_character)
{
    /* 600 two-byte characters: 1,200 bytes. */
    char *culprit = hr_malloc(1201), *text;
    for (size_t i = 0; i < 1200; i += 2)
        memcpy(culprit + i, "\xC3\xA9", 2);
    culprit[1200] = '\0';
    text = hr_msg_fmt("{\"kind\": \"build-status\", \"summary\": {\"name\": \"j\"},"
                      " \"build\": {\"scm\": {\"culprits\": [\"%s\"]}}}",
                      culprit);
    json_t *e = load(text);
    hr_message m;
    hr_error err;
    cr_assert_eq(hr_message_from_event(e, &m, &err), HR_OK);
    cr_assert_eq(m.nfacts, 1);
    size_t n = strlen(m.facts[0].value);
    cr_expect_leq(n, HR_MSG_VALUE_MAX);
    cr_expect_eq(memcmp(m.facts[0].value + n - 3, "\xE2\x80\xA6", 3), 0);
    cr_expect_eq(((unsigned char)m.facts[0].value[n - 4] & 0xC0), 0x80); /* é ends whole */
    hr_message_clear(&m);
    json_decref(e);
    free(text);
    free(culprit);
}

Test(message, not_an_object)
{
    json_t *e = json_string("x");
    hr_message m;
    hr_error err;
    cr_expect_eq(hr_message_from_event(e, &m, &err), HR_EINVAL);
    hr_message_clear(&m);
    json_decref(e);
}

/* ---- renderers: golden bodies ------------------------------------------------ */

Test(render, slack)
{
    hr_target t = target(HR_TARGET_SLACK, "https://hooks.slack.com/services/T/B/X");
    hr_svc_request req = render(&t, gocd_broken);
    cr_expect_str_eq(req.url, "https://hooks.slack.com/services/T/B/X");
    cr_expect_str_eq(req.method, "POST");
    expect_golden(&req, "slack_gocd.json");
    hr_svc_request_clear(&req);
    req = render(&t, jenkins_still_failing);
    expect_golden(&req, "slack_jenkins.json");
    hr_svc_request_clear(&req);
}

Test(render, teams)
{
    hr_target t = target(HR_TARGET_TEAMS, "https://x.logic.azure.com/workflows/1?sig=s");
    hr_svc_request req = render(&t, gocd_broken);
    expect_golden(&req, "teams_gocd.json");
    hr_svc_request_clear(&req);
}

Test(render, discord)
{
    hr_target t = target(HR_TARGET_DISCORD, "https://discord.com/api/webhooks/1/tok");
    t.username = "herald";
    hr_svc_request req = render(&t, jenkins_still_failing);
    cr_expect_str_eq(req.url, "https://discord.com/api/webhooks/1/tok?wait=true");
    expect_golden(&req, "discord_jenkins.json");
    hr_svc_request_clear(&req);
    t.url = "https://discord.com/api/webhooks/1/tok?wait=false";
    req = render(&t, gocd_broken);
    cr_expect_str_eq(req.url, "https://discord.com/api/webhooks/1/tok?wait=false");
    hr_svc_request_clear(&req);
}

Test(render, mattermost)
{
    hr_target t = target(HR_TARGET_MATTERMOST, "https://mm.example/hooks/k");
    t.channel = "town-square";
    hr_svc_request req = render(&t, gocd_broken);
    expect_golden(&req, "mattermost_gocd.json");
    hr_svc_request_clear(&req);
}

Test(render, google_chat)
{
    hr_target t = target(HR_TARGET_GOOGLE_CHAT, "https://chat.googleapis.com/v1/spaces/A/"
                                                "messages?key=k&token=t");
    hr_svc_request req = render(&t, gocd_broken);
    cr_expect_str_eq(req.url, "https://chat.googleapis.com/v1/spaces/A/messages?key=k&token=t"
                              "&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD");
    expect_golden(&req, "google_chat_gocd.json");
    hr_svc_request_clear(&req);
}

Test(render, api_url_replaces_scheme_host_and_port)
{
    hr_target t = target(HR_TARGET_SLACK, "https://hooks.slack.com:443/services/T/B/X?a=1");
    t.api_url = "http://127.0.0.1:8080/";
    char *u = hr__svc_url(&t, "b=2");
    cr_expect_str_eq(u, "http://127.0.0.1:8080/services/T/B/X?a=1&b=2");
    free(u);
    t.api_url = "http://proxy.internal/slack";
    t.url = "https://hooks.slack.com";
    u = hr__svc_url(&t, NULL);
    cr_expect_str_eq(u, "http://proxy.internal/slack");
    free(u);
}

/* ---- classifiers ----------------------------------------------------------- */

typedef struct answer_case {
    long status;
    const char *body;
    int64_t retry_after_ms, reset_after_ms;
    hr_outcome outcome;
    int64_t wait_ms;
    const char *error;
} answer_case;

static void expect_answers(const hr_service *svc, const answer_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const answer_case *c = &cases[i];
        hr_svc_answer a = {c->status,         c->body,           c->body ? strlen(c->body) : 0,
                           c->retry_after_ms, c->reset_after_ms, -1};
        hr_svc_verdict v;
        svc->classify(&a, &v);
        cr_expect_eq(v.outcome, c->outcome, "%s case %zu: outcome %d", svc->name, i, v.outcome);
        cr_expect_eq(v.wait_ms, c->wait_ms, "%s case %zu: wait %lld", svc->name, i,
                     (long long)v.wait_ms);
        cr_expect_str_eq(v.error, c->error, "%s case %zu", svc->name, i);
    }
}

#define D HR_OUTCOME_DELIVERED
#define R HR_OUTCOME_RETRY
#define X HR_OUTCOME_DEAD
#define CASES(svc, ...)                                                                            \
    do {                                                                                           \
        static const answer_case c_[] = {__VA_ARGS__};                                             \
        expect_answers(&(svc), c_, sizeof(c_) / sizeof(c_[0]));                                    \
    } while (0)

Test(classify, webhook)
{
    CASES(hr_svc_webhook, {204, NULL, -1, -1, D, -1, ""},
          {429, "slow", 3000, -1, R, 3000, "HTTP 429"}, {500, "x", 3000, -1, R, -1, "HTTP 500"},
          {301, NULL, -1, -1, X, -1, "HTTP 301 (redirects are not followed)"},
          {404, "{}", -1, -1, X, -1, "HTTP 404"});
}

Test(classify, slack)
{
    CASES(hr_svc_slack, {200, "ok", -1, -1, D, -1, ""},
          {400, "invalid_payload", -1, -1, X, -1, "HTTP 400: invalid_payload"},
          {403, "action_prohibited", -1, -1, X, -1, "HTTP 403: action_prohibited"},
          {404, "channel_not_found", -1, -1, X, -1, "HTTP 404: channel_not_found"},
          {404, "no_service", -1, -1, X, -1, "HTTP 404: no_service"},
          {410, "channel_is_archived", -1, -1, X, -1, "HTTP 410: channel_is_archived"},
          {429, "rate_limited", 30000, -1, R, 30000, "HTTP 429: rate_limited"},
          {503, "", -1, -1, R, -1, "HTTP 503"},
          {200, "{\"ok\":false,\"error\":\"invalid_auth\"}", -1, -1, X, -1,
           "HTTP 200 with \"ok\": false: invalid_auth"},
          {429, "{\"ok\":false,\"error\":\"ratelimited\"}", 2000, -1, R, 2000,
           "HTTP 429: ratelimited"},
          {200, "{\"ok\":true,\"ts\":\"1.2\"}", -1, -1, D, -1, ""});
}

Test(classify, teams)
{
    CASES(hr_svc_teams, {202, "", -1, -1, D, -1, ""}, {200, NULL, -1, -1, D, -1, ""},
          {400, "{\"error\":{\"code\":\"InvalidRequestContent\",\"message\":\"bad\"}}", -1, -1, X,
           -1, "HTTP 400: InvalidRequestContent: bad"},
          {401, "{\"error\":{\"code\":\"DirectApiAuthorizationRequired\"}}", -1, -1, X, -1,
           "HTTP 401: DirectApiAuthorizationRequired"},
          {429, "", 5000, -1, R, 5000, "HTTP 429"}, {502, "<html>", -1, -1, R, -1, "HTTP 502"});
}

Test(classify, discord)
{
    CASES(hr_svc_discord, {200, "{\"id\":\"1\"}", -1, -1, D, -1, ""},
          {204, NULL, -1, -1, D, -1, ""},
          {429, "{\"message\":\"You are being rate limited.\",\"retry_after\":1.234}", 9000, 30000,
           R, 1234, "HTTP 429: You are being rate limited."},
          {429, "", 9000, 30000, R, 9000, "HTTP 429"}, {429, "", -1, 2500, R, 2500, "HTTP 429"},
          {404, "{\"message\":\"Unknown Webhook\",\"code\":10015}", -1, -1, X, -1,
           "HTTP 404: Unknown Webhook (code 10015)"},
          {400, "{\"message\":\"Invalid\\nForm Body\",\"code\":50035}", -1, -1, X, -1,
           "HTTP 400: Invalid Form Body (code 50035)"});
}

Test(classify, mattermost)
{
    CASES(hr_svc_mattermost, {200, "ok", -1, -1, D, -1, ""},
          {400,
           "{\"id\":\"web.incoming_webhook.text.app_error\",\"message\":\"No text "
           "specified\",\"status_code\":400}",
           -1, -1, X, -1, "HTTP 400: No text specified"},
          {404, "Not found", -1, -1, X, -1, "HTTP 404: Not found"},
          {500, "", -1, -1, R, -1, "HTTP 500"});
}

Test(classify, google_chat)
{
    CASES(hr_svc_google_chat, {200, "{\"name\":\"spaces/A/messages/1\"}", -1, -1, D, -1, ""},
          {429, "{\"error\":{\"code\":429,\"status\":\"RESOURCE_EXHAUSTED\"}}", -1, -1, R, -1,
           "HTTP 429: RESOURCE_EXHAUSTED"},
          {400,
           "{\"error\":{\"code\":400,\"message\":\"Invalid JSON\",\"status\":\"INVALID_"
           "ARGUMENT\"}}",
           -1, -1, X, -1, "HTTP 400: INVALID_ARGUMENT: Invalid JSON"},
          {403, "{\"error\":{\"code\":403,\"message\":\"no\",\"status\":\"PERMISSION_DENIED\"}}",
           -1, -1, X, -1, "HTTP 403: PERMISSION_DENIED: no"});
}

Test(classify, reasons_are_one_bounded_line)
{
    char big[1000], out[HR_SVC_REASON_MAX];
    memset(big, 'a', sizeof(big));
    memcpy(big + HR_SVC_REASON_MAX - 2, "\xC3\xA9", 2); /* cut in the middle */
    hr__svc_reason(big, sizeof(big), out, sizeof(out));
    cr_expect_eq(strlen(out), HR_SVC_REASON_MAX - 2);
    hr__svc_reason("a\r\nb\x01", 5, out, sizeof(out));
    cr_expect_str_eq(out, "a  b");
}

Test(render, email)
{
    char *to[] = {"dev@example.com", "ops@example.com"};
    hr_target t = target(HR_TARGET_EMAIL, "smtp://mail.example.com:587");
    t.from = "herald@ci.example.com";
    t.to.items = to;
    t.to.n = 2;
    hr_svc_request req = render(&t, gocd_broken);
    const char *b = req.body;
    cr_expect_str_eq(req.url, "smtp://mail.example.com:587");
    cr_expect_str_eq(req.mail_from, "herald@ci.example.com");
    cr_assert_eq(req.rcpt.n, 2);
    cr_expect_str_eq(req.rcpt.items[1], "ops@example.com");
    cr_expect_eq(strncmp(b,
                         "From: herald <herald@ci.example.com>\r\nTo: dev@example.com,\r\n "
                         "ops@example.com\r\nSubject: [herald] deploy #42 broken (test)\r\n"
                         "Date: Thu, 03 Dec 2026 10:00:00 +0000\r\n"
                         "Message-ID: <herald.d77@ci.example.com>\r\n",
                         strlen("From: herald <herald@ci.example.com>\r\nTo: dev@example.com,\r\n "
                                "ops@example.com\r\nSubject: [herald] deploy #42 broken (test)\r\n"
                                "Date: Thu, 03 Dec 2026 10:00:00 +0000\r\n"
                                "Message-ID: <herald.d77@ci.example.com>\r\n")),
                 0, "%s", b);
    cr_expect_null(strstr(b, "\r\nIn-Reply-To:")); /* the run's first message */
    cr_expect_not_null(
        strstr(b, "Content-Type: multipart/alternative; boundary=\"herald-77-alt\""));
    cr_expect_not_null(strstr(b, "Content-Type: text/plain; charset=utf-8"));
    cr_expect_not_null(strstr(b, "Content-Type: text/html; charset=utf-8"));
    const char *end = "\r\n--herald-77-alt--\r\n";
    cr_expect(strlen(b) > strlen(end) && strcmp(b + strlen(b) - strlen(end), end) == 0);
    for (const char *p = b; (p = strchr(p, '\n')) != NULL; p++)
        cr_assert(p > b && p[-1] == '\r', "a bare LF at %zu", (size_t)(p - b));
    expect_html_golden(b, "email_gocd.html");
    hr_svc_request_clear(&req);

    /* Another target renders the same subject. */
    t.name = "other";
    req = render(&t, gocd_broken);
    cr_expect_null(strstr(req.body, "Subject: =?UTF-8"));
    hr_svc_request_clear(&req);
}

Test(render, email_subject_not_ascii_is_encoded)
{
    char *to[] = {"dev@example.com"};
    hr_target t = target(HR_TARGET_EMAIL, "smtps://mail.example.com");
    t.from = "h@example.com";
    t.to.items = to;
    t.to.n = 1;
    hr_svc_request req =
        render(&t, "{\"kind\": \"build-status\", \"transition\": \"broken\","
                   " \"summary\": {\"name\": \"caf\xC3\xA9\", \"number\": \"1\"}}");
    cr_expect_not_null(
        strstr(req.body, "Subject: =?UTF-8?B?W2hlcmFsZF0gY2Fmw6kgIzEgYnJva2Vu?=\r\n"), "%s",
        req.body);
    hr_svc_request_clear(&req);
}

Test(classify, email)
{
    CASES(hr_svc_email, {250, "", -1, -1, D, -1, ""},
          {450, "RCPT failed: 450", -1, -1, R, -1, "SMTP 450: RCPT failed: 450"},
          {421, "", -1, -1, R, -1, "SMTP 421"},
          {550, "RCPT failed: 550", -1, -1, X, -1, "SMTP 550: RCPT failed: 550"},
          {554, "", -1, -1, X, -1, "SMTP 554"});
}

Test(render, every_service_shows_the_text)
{
    static const char *const want[HR_TARGET_NTYPES] = {
        [HR_TARGET_SLACK] = "\"text\":\"Ask &lt;oncall&gt;\"",
        [HR_TARGET_TEAMS] = "\"text\":\"Ask <oncall>\"",
        [HR_TARGET_DISCORD] = "\"description\":\"Ask <oncall>\"",
        [HR_TARGET_MATTERMOST] = "\"text\":\"Ask <oncall>\"",
        [HR_TARGET_GOOGLE_CHAT] = "{\"textParagraph\":{\"text\":\"Ask &lt;oncall&gt;\"}}",
    };
    json_t *e = load(gocd_broken);
    for (int type = HR_TARGET_SLACK; type <= HR_TARGET_GOOGLE_CHAT; type++) {
        hr_target t = target((hr_target_type)type, "https://example.com/hook");
        hr_svc_request req = {0};
        hr_svc_context ctx = {.delivery_id = 1, .event = e};
        hr_message m;
        hr_error err;
        cr_assert_eq(hr_message_from_event(e, &m, &err), HR_OK);
        m.text = hr_strdup("Ask <oncall>");
        cr_assert_eq(hr_service_of(t.type)->render(&t, &m, &ctx, &req, &err), HR_OK);
        cr_expect_not_null(strstr(req.body, want[type]), "%s: %s", hr_target_type_name(t.type),
                           req.body);
        hr_message_clear(&m);
        hr_svc_request_clear(&req);
    }
    json_decref(e);
}

/* ---- The message a run keeps ------------------------------------------ */

/* What service type remembers of a 200 answer with body (JSON text, or
 * "null" for nothing). New. */
static char *remembered(hr_target_type type, const char *body, const char *sent)
{
    hr_svc_answer a = {200, body, strlen(body), -1, -1, -1};
    const hr_service *svc = hr_service_of(type);
    json_t *s = sent != NULL ? load(sent) : NULL;
    json_t *ref = svc->remember != NULL ? svc->remember(&a, s) : json_incref(s);
    char *text = json_dumps(ref != NULL ? ref : json_null(),
                            JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(ref);
    json_decref(s);
    return text;
}

#define expect_remembered(type, body, want)                                                        \
    do {                                                                                           \
        char *got_ = remembered(type, body, NULL);                                                 \
        cr_expect_str_eq(got_, want);                                                              \
        free(got_);                                                                                \
    } while (0)

Test(run, services_remember_their_answers)
{
    expect_remembered(HR_TARGET_SLACK,
                      "{\"ok\":true,\"channel\":\"C024BE91L\",\"ts\":\"1401383885.000061\","
                      "\"message\":{\"text\":\"x\"}}",
                      "{\"channel\":\"C024BE91L\",\"ts\":\"1401383885.000061\"}");
    expect_remembered(HR_TARGET_SLACK, "ok", "null"); /* an incoming webhook */
    expect_remembered(HR_TARGET_SLACK, "{\"ok\":false,\"channel\":\"C1\",\"ts\":\"1.2\"}", "null");
    expect_remembered(HR_TARGET_DISCORD,
                      "{\"id\":\"1122334455667788990\",\"channel_id\":\"99\",\"type\":0}",
                      "{\"channel_id\":\"99\",\"id\":\"1122334455667788990\"}");
    /* An id that is not a snowflake would go into a URL: not kept. */
    expect_remembered(HR_TARGET_DISCORD, "{\"id\":\"1/../../x\"}", "null");
    expect_remembered(HR_TARGET_GOOGLE_CHAT,
                      "{\"name\":\"spaces/S/messages/M\",\"thread\":{\"name\":"
                      "\"spaces/S/threads/T\"}}",
                      "{\"message\":\"spaces/S/messages/M\",\"thread\":\"spaces/S/threads/T\"}");
    expect_remembered(HR_TARGET_TEAMS, "", "null");
    char *mail = remembered(HR_TARGET_EMAIL, "", "{\"message_id\":\"<herald.d1@x.org>\"}");
    cr_expect_str_eq(mail, "{\"message_id\":\"<herald.d1@x.org>\"}");
    free(mail);
}

Test(run, which_targets_keep_a_run)
{
    hr_target slack = target(HR_TARGET_SLACK, "https://hooks.slack.com/services/T/B/x");
    cr_expect_not(hr_service_keeps_run(&slack));
    slack.url = NULL;
    slack.token = "xoxb-1";
    cr_expect(hr_service_keeps_run(&slack));
    hr_target discord = target(HR_TARGET_DISCORD, "https://discord.com/api/webhooks/1/t");
    cr_expect_not(hr_service_keeps_run(&discord));
    discord.edit = true;
    cr_expect(hr_service_keeps_run(&discord));
    hr_target teams = target(HR_TARGET_TEAMS, "https://example.com/x");
    cr_expect_not(hr_service_keeps_run(&teams));
    hr_target webhook = target(HR_TARGET_WEBHOOK, "https://example.com/x");
    cr_expect_not(hr_service_keeps_run(&webhook));
}

Test(run, slack_edits_the_run_message_or_answers_in_its_thread)
{
    hr_target t = target(HR_TARGET_SLACK, NULL);
    t.url = NULL;
    t.token = "xoxb-1";
    t.channel = "#ci";
    hr_svc_request req = render_run(&t, gocd_broken, NULL);
    json_t *b = load(req.body);
    cr_expect_str_eq(req.url, "https://slack.com/api/chat.postMessage");
    cr_expect_str_eq(json_string_value(json_object_get(b, "channel")), "#ci");
    cr_expect_null(json_object_get(b, "ts"));
    cr_expect_null(json_object_get(b, "thread_ts"));
    json_decref(b);
    hr_svc_request_clear(&req);

    const char *ref = "{\"channel\":\"C024BE91L\",\"ts\":\"1401383885.000061\"}";
    req = render_run(&t, gocd_broken, ref);
    b = load(req.body);
    cr_expect_str_eq(req.url, "https://slack.com/api/chat.update");
    cr_expect_str_eq(req.method, "POST");
    cr_expect_str_eq(json_string_value(json_object_get(b, "channel")), "C024BE91L");
    cr_expect_str_eq(json_string_value(json_object_get(b, "ts")), "1401383885.000061");
    cr_expect_not_null(json_object_get(b, "attachments"));
    json_decref(b);
    hr_svc_request_clear(&req);

    t.thread = true;
    req = render_run(&t, gocd_broken, ref);
    b = load(req.body);
    cr_expect_str_eq(req.url, "https://slack.com/api/chat.postMessage");
    cr_expect_str_eq(json_string_value(json_object_get(b, "thread_ts")), "1401383885.000061");
    cr_expect_null(json_object_get(b, "ts"));
    json_decref(b);
    hr_svc_request_clear(&req);
}

Test(run, discord_edits_with_edit_true)
{
    hr_target t = target(HR_TARGET_DISCORD, "https://discord.com/api/webhooks/1/tok");
    const char *ref = "{\"id\":\"1122334455667788990\"}";
    hr_svc_request req = render_run(&t, gocd_broken, ref);
    cr_expect_str_eq(req.method, "POST"); /* edit is off */
    cr_expect_str_eq(req.url, "https://discord.com/api/webhooks/1/tok?wait=true");
    hr_svc_request_clear(&req);
    t.edit = true;
    req = render_run(&t, gocd_broken, ref);
    cr_expect_str_eq(req.method, "PATCH");
    cr_expect_str_eq(
        req.url, "https://discord.com/api/webhooks/1/tok/messages/1122334455667788990?wait=true");
    hr_svc_request_clear(&req);
    req = render_run(&t, gocd_broken, "{\"id\":\"../x\"}");
    cr_expect_str_eq(req.method, "POST");
    hr_svc_request_clear(&req);
}

Test(run, email_answers_the_run_first_message)
{
    char *to[] = {"dev@example.com"};
    hr_target t = target(HR_TARGET_EMAIL, "smtp://mail.example.com:587");
    t.from = "herald@ci.example.com";
    t.to.items = to;
    t.to.n = 1;
    hr_svc_request req = render_run(&t, gocd_broken, NULL);
    cr_expect_null(strstr(req.body, "In-Reply-To:"));
    cr_expect_null(strstr(req.body, "References:"));
    cr_assert_not_null(req.ref);
    cr_expect_str_eq(json_string_value(json_object_get(req.ref, "message_id")),
                     "<herald.d77@ci.example.com>");
    hr_svc_request_clear(&req);

    req = render_run(&t, gocd_broken, "{\"message_id\":\"<herald.d5@ci.example.com>\"}");
    cr_expect_not_null(strstr(req.body, "\r\nMessage-ID: <herald.d77@ci.example.com>\r\n"
                                        "In-Reply-To: <herald.d5@ci.example.com>\r\n"
                                        "References: <herald.d5@ci.example.com>\r\n"),
                       "%s", req.body);
    hr_svc_request_clear(&req);

    /* A stored id that would break the header is not written. */
    req = render_run(&t, gocd_broken, "{\"message_id\":\"<a@b>\\r\\nBcc: x@y\"}");
    cr_expect_null(strstr(req.body, "In-Reply-To:"));
    cr_expect_null(strstr(req.body, "Bcc:"));
    hr_svc_request_clear(&req);
}

Test(message, target_health)
{
    json_t *e =
        json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:i,s:s}}", "source", "herald", "kind",
                  "target-health", "received_at", "2026-12-03T10:00:00.000Z", "target_health",
                  "target", "chat", "change", "circuit-opened", "reason", "10 failures in a row",
                  "state", "open", "held", 42, "last_error", "HTTP 503");
    hr_message m;
    hr_error err;

    cr_assert_eq(hr_message_from_event(e, &m, &err), HR_OK);
    cr_expect_str_eq(m.title, "herald: target chat circuit-opened");
    cr_expect_eq(m.tone, HR_TONE_BAD);
    cr_assert_eq(m.nfacts, 4);
    cr_expect_str_eq(m.facts[0].value, "10 failures in a row");
    cr_expect_str_eq(m.facts[2].label, "Held deliveries");
    cr_expect_str_eq(m.facts[2].value, "42");
    hr_message_clear(&m);
    json_object_set_new(json_object_get(e, "target_health"), "change",
                        json_string("circuit-closed"));
    cr_assert_eq(hr_message_from_event(e, &m, &err), HR_OK);
    cr_expect_eq(m.tone, HR_TONE_GOOD);
    hr_message_clear(&m);
    json_decref(e);
}
