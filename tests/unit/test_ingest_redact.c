/*
 * Tests for src/ingest/redact.c: the default and given name patterns, the
 * allow-list, URL credential scrubbing, the other value rules (webhook
 * URLs, NAME=value pairs), and both JSON walkers.
 */
#include <criterion/criterion.h>
#include <fnmatch.h>

#include "core/timefmt.h"
#include "ingest/redact.h"

#include <stdlib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------- */

static hr_redact *defaults(void)
{
    hr_redact *r = NULL;
    hr_error err;
    cr_assert_eq(hr_redact_new(NULL, 0, NULL, 0, &r, &err), HR_OK, "%s", err.msg);
    return r;
}

/* Asserts the scrubbed form of value; expect NULL means "unchanged". */
static void check_url(const char *value, const char *expect)
{
    char *got = hr_redact_url_credentials(value);
    if (expect == NULL)
        cr_assert_null(got, "%s became %s", value, got);
    else
        cr_assert_str_eq(got, expect, "for %s", value);
    free(got);
}

/* Asserts what hr_redact_value makes of value (expect NULL: unchanged),
 * and that scrubbing the result again changes nothing. */
static void check_value(const char *value, const char *expect)
{
    size_t n = 0;
    char *got = hr_redact_value(value, strlen(value), &n);
    if (expect == NULL) {
        cr_assert_null(got, "%s became %s", value, got);
        return;
    }
    cr_assert_str_eq(got, expect, "for %s", value);
    cr_assert_eq(n, strlen(expect));
    char *again = hr_redact_value(got, n, NULL);
    cr_assert_null(again, "%s became %s on a second pass", got, again);
    free(got);
}

static void check_json(json_t *got, const char *expect)
{
    json_t *want = json_loads(expect, 0, NULL);
    char *g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT);
    cr_assert_not_null(want, "bad expectation %s", expect);
    cr_assert(json_equal(got, want), "got %s, want %s", g, expect);
    free(g);
    json_decref(want);
}

/* ---- names ------------------------------------------------------------ */

Test(redact, defaults_hide_credentials_by_name)
{
    static const char *const hidden[] = {
        "GITHUB_TOKEN",
        "CI_JOB_TOKEN",
        "aws_secret_access_key",
        "DB_PASSWORD",
        "SMTP_PASSWD",
        "GPG_PASSPHRASE",
        "PASS",
        "NEXUS_PASS",
        "API_KEY",
        "AWS_ACCESS_KEY_ID",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "SSH_PRIVATE_KEY",
        "HTTP_AUTH",
        "AUTH_HEADER",
        "NPM_OAUTH_CLIENT",
        "Authorization",
        "CI_JOB_JWT_V2",
        "JENKINS_NODE_COOKIE",
        "MONKEY",
        "bypass",
        "MYSQL_PWD",
        "DB_PWD_FILE",
        "ARTIFACTORY_PW",
        "GH_PAT",
        "GITHUB_PAT",
        "PAT",
        "CREDS",
        "DOCKER_CRED",
        "VAULT_ROLE_ID",
        "SONAR_LOGIN",
        "SLACK_WEBHOOK_URL",
        "teams_webhook",
    };
    hr_redact *r = defaults();
    for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
        cr_assert(hr_redact_hides(r, hidden[i]), "%s is not hidden", hidden[i]);
    hr_redact_free(r);
}

Test(redact, defaults_show_ordinary_variables)
{
    static const char *const shown[] = {
        "PATH",           "HOME",
        "JOB_NAME",       "BUILD_NUMBER",
        "GIT_COMMIT",     "GIT_AUTHOR_NAME",
        "CHANGE_AUTHOR",  "CI_COMMIT_AUTHOR",
        "PASSED_TESTS",   "PWD",
        "OLDPWD",         "GITHUB_REPOSITORY",
        "CI_PROJECT_URL", "CI_PROJECT_PATH",
        "PATCH_LEVEL",    "GITLAB_USER_LOGIN",
        "ROLE",           "",
    };
    hr_redact *r = defaults();
    for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
        cr_assert_not(hr_redact_hides(r, shown[i]), "%s is hidden", shown[i]);
    hr_redact_free(r);
}

Test(redact, defaults_keep_everything)
{
    hr_redact *r = defaults();
    cr_assert(hr_redact_keeps(r, "PATH"));
    cr_assert(hr_redact_keeps(r, "GITHUB_TOKEN"));
    hr_redact_free(r);
}

Test(redact, given_patterns_replace_the_defaults)
{
    const char *const pats[] = {"deploy_*", "X?Z"};
    hr_redact *r = NULL;
    hr_error err;
    cr_assert_eq(hr_redact_new(pats, 2, NULL, 0, &r, &err), HR_OK);
    cr_assert(hr_redact_hides(r, "DEPLOY_HOST"));
    cr_assert(hr_redact_hides(r, "xyz"));
    cr_assert_not(hr_redact_hides(r, "XYYZ"));
    cr_assert_not(hr_redact_hides(r, "GITHUB_TOKEN"));
    hr_redact_free(r);
}

Test(redact, no_patterns_hide_nothing)
{
    const char *const none[] = {"unused"};
    hr_redact *r = NULL;
    cr_assert_eq(hr_redact_new(none, 0, NULL, 0, &r, NULL), HR_OK);
    cr_assert_not(hr_redact_hides(r, "GITHUB_TOKEN"));
    hr_redact_free(r);
}

Test(redact, keep_list_is_globs_ignoring_case)
{
    const char *const keep[] = {"ci_*", "GIT_COMMIT"};
    hr_redact *r = NULL;
    cr_assert_eq(hr_redact_new(NULL, 0, keep, 2, &r, NULL), HR_OK);
    cr_assert(hr_redact_keeps(r, "CI_JOB_ID"));
    cr_assert(hr_redact_keeps(r, "git_commit"));
    cr_assert_not(hr_redact_keeps(r, "PATH"));
    cr_assert_not(hr_redact_keeps(r, "GIT_COMMITTER"));
    hr_redact_free(r);
}

Test(redact, empty_pattern_is_refused_by_name)
{
    const char *const pats[] = {"*TOKEN*", ""};
    hr_redact *r = (hr_redact *)0x1;
    hr_error err;
    cr_assert_eq(hr_redact_new(pats, 2, NULL, 0, &r, &err), HR_EINVAL);
    cr_assert_eq(err.code, HR_EINVAL);
    cr_assert_str_eq(err.msg, "redact pattern 2 is empty");
    cr_assert_eq(r, (hr_redact *)0x1, "out-parameter touched on failure");
}

Test(redact, empty_keep_pattern_is_refused)
{
    const char *const keep[] = {""};
    hr_redact *r = NULL;
    hr_error err;
    cr_assert_eq(hr_redact_new(NULL, 0, keep, 1, &r, &err), HR_EINVAL);
    cr_assert_str_eq(err.msg, "keep pattern 1 is empty");
    cr_assert_null(r);
}

Test(redact, long_pattern_is_refused_and_256_bytes_accepted)
{
    char ok[257], bad[258];
    const char *p1[] = {ok}, *p2[] = {bad};
    hr_redact *r = NULL;
    hr_error err;
    memset(ok, 'A', 256);
    ok[256] = '\0';
    memset(bad, 'B', 257);
    bad[257] = '\0';
    cr_assert_eq(hr_redact_new(p1, 1, NULL, 0, &r, &err), HR_OK);
    hr_redact_free(r);
    r = NULL;
    cr_assert_eq(hr_redact_new(p2, 1, NULL, 0, &r, &err), HR_EINVAL);
    cr_assert_str_eq(err.msg, "redact pattern 1 (\"BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB...\") "
                              "is 257 bytes long; the most is 256");
    cr_assert_null(r);
}

Test(redact, patterns_are_copied)
{
    char pat[] = "*FOO*";
    const char *pats[] = {pat};
    hr_redact *r = NULL;
    cr_assert_eq(hr_redact_new(pats, 1, NULL, 0, &r, NULL), HR_OK);
    pat[1] = 'X';
    cr_assert(hr_redact_hides(r, "A_FOO_B"));
    hr_redact_free(r);
}

Test(redact, free_accepts_null)
{
    hr_redact_free(NULL);
}

/* ---- URLs ------------------------------------------------------------- */

Test(redact, url_user_and_password_are_hidden)
{
    check_url("https://u:p@host/x", "https://********@host/x");
    check_url("http://alice:s3cr3t@example.com:8080/a?b=c",
              "http://********@example.com:8080/a?b=c");
    check_url("ftp://anon:mail@ftp.example.org", "ftp://********@ftp.example.org");
    check_url("ssh://git:pw@host", "ssh://********@host");
}

Test(redact, http_token_as_user_is_hidden)
{
    check_url("https://ghp_abcdef0123456789@github.com/o/r.git",
              "https://********@github.com/o/r.git");
    check_url("git+https://tok@host/r", "git+https://********@host/r");
    check_url("HTTP://tok@host", "HTTP://********@host");
}

Test(redact, lone_user_outside_http_is_kept)
{
    check_url("ssh://git@github.com/o/r.git", NULL);
    check_url("git+ssh://git@host/r", NULL);
}

Test(redact, nothing_to_hide)
{
    check_url("", NULL);
    check_url("plain text", NULL);
    check_url("https://github.com/o/r", NULL);
    check_url("https://host/path/user@example.com", NULL);
    check_url("https://host?mail=a@b", NULL);
    check_url("https://host#x@y", NULL);
    check_url("https://@host/", NULL);
    check_url("://u:p@host", NULL);
    check_url("git@github.com:o/r.git", NULL);
    check_url("mailto:someone@example.com", NULL);
    check_url(NULL, NULL);
}

Test(redact, already_redacted_is_unchanged)
{
    check_url("https://********@host/x", NULL);
}

Test(redact, last_at_sign_ends_the_user_information)
{
    check_url("https://u:p@ss@host/x", "https://********@host/x");
}

Test(redact, every_url_in_text_is_scrubbed)
{
    check_url("clone https://a:b@h1/r and \"http://t@h2\" then ssh://git@h3 done",
              "clone https://********@h1/r and \"http://********@h2\" then ssh://git@h3 done");
    check_url("x=https://a:b@h1,https://c:d@h2", "x=https://********@h1,https://********@h2");
}

Test(redact, scheme_must_start_with_a_letter)
{
    check_url("1https://u:p@host", "1https://********@host");
    check_url("-+://u:p@host", NULL);
}

Test(redact, non_ascii_text_survives)
{
    check_url("d\xc3\xa9j\xc3\xa0 https://u:p@h\xc3\xb4te/x",
              "d\xc3\xa9j\xc3\xa0 https://********@h\xc3\xb4te/x");
}

/* ---- JSON ------------------------------------------------------------- */

Test(redact, env_hides_scrubs_and_counts)
{
    hr_redact *r = defaults();
    json_t *env = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s}", "GITHUB_TOKEN", "ghp_x", "GIT_URL",
                            "https://bot:pw@git.example/r.git", "PATH", "/usr/bin", "SSH_URL",
                            "ssh://git@h/r", "API_KEY_COUNT", 3, "EMPTY_SECRET", "");
    cr_assert_eq(hr_redact_env(r, env), 3);
    check_json(env, "{\"GITHUB_TOKEN\": \"********\","
                    " \"GIT_URL\": \"https://********@git.example/r.git\","
                    " \"PATH\": \"/usr/bin\", \"SSH_URL\": \"ssh://git@h/r\","
                    " \"API_KEY_COUNT\": 3, \"EMPTY_SECRET\": \"********\"}");
    json_decref(env);
    hr_redact_free(r);
}

Test(redact, env_drops_what_the_keep_list_does_not_name)
{
    const char *const keep[] = {"CI_*", "*TOKEN"};
    hr_redact *r = NULL;
    json_t *env;
    cr_assert_eq(hr_redact_new(NULL, 0, keep, 2, &r, NULL), HR_OK);
    env = json_pack("{s:s, s:s, s:s, s:s}", "CI_JOB_ID", "7", "CI_JOB_TOKEN", "t", "PATH", "/bin",
                    "HOME", "/root");
    cr_assert_eq(hr_redact_env(r, env), 1);
    check_json(env, "{\"CI_JOB_ID\": \"7\", \"CI_JOB_TOKEN\": \"********\"}");
    json_decref(env);
    hr_redact_free(r);
}

Test(redact, env_that_is_not_an_object_is_left_alone)
{
    hr_redact *r = defaults();
    json_t *a = json_pack("[s]", "https://u:p@h");
    cr_assert_eq(hr_redact_env(r, a), 0);
    cr_assert_eq(hr_redact_env(r, NULL), 0);
    check_json(a, "[\"https://u:p@h\"]");
    json_decref(a);
    hr_redact_free(r);
}

/* ---- pairs ------------------------------------------------------------ */

/* vs written as JSON matches want exactly (order included). */
static void check_vars(const hr_vars *vs, const char *want)
{
    hr_jw w;
    size_t len;
    char *got;

    hr_jw_init(&w, 1u << 16);
    hr_vars_write(&w, vs);
    got = hr_jw_take(&w, &len);
    cr_expect_str_eq(got, want);
    free(got);
}

Test(redact, vars_hide_scrub_and_count_as_env_does)
{
    hr_redact *r = defaults();
    hr_vars *vs = hr_vars_new();

    hr_vars_add(vs, "GITHUB_TOKEN", 12, "ghp_x", 5);
    hr_vars_add(vs, "GIT_URL", 7, "https://bot:pw@git.example/r.git", 32);
    hr_vars_add(vs, "PATH", 4, "/usr/bin", 8);
    hr_vars_add(vs, "SSH_URL", 7, "ssh://git@h/r", 13);
    hr_vars_add(vs, "EMPTY_SECRET", 12, "", 0);
    hr_vars_add(vs, "OLD_TOKEN", 9, HR_REDACTED, strlen(HR_REDACTED));
    /* A hidden name counts even when its value was hidden already, as in
     * hr_redact_env. */
    cr_assert_eq(hr_redact_vars(r, vs), 4);
    check_vars(vs, "{\"GITHUB_TOKEN\":\"********\","
                   "\"GIT_URL\":\"https://********@git.example/r.git\","
                   "\"PATH\":\"/usr/bin\",\"SSH_URL\":\"ssh://git@h/r\","
                   "\"EMPTY_SECRET\":\"********\",\"OLD_TOKEN\":\"********\"}");
    hr_vars_free(vs);
    hr_redact_free(r);
}

Test(redact, vars_drop_what_the_keep_list_does_not_name)
{
    const char *const keep[] = {"CI_*", "*TOKEN"};
    hr_redact *r = NULL;
    hr_vars *vs = hr_vars_new();

    cr_assert_eq(hr_redact_new(NULL, 0, keep, 2, &r, NULL), HR_OK);
    hr_vars_add(vs, "PATH", 4, "/bin", 4);
    hr_vars_add(vs, "CI_JOB_ID", 9, "7", 1);
    hr_vars_add(vs, "HOME", 4, "/root", 5);
    hr_vars_add(vs, "CI_JOB_TOKEN", 12, "t", 1);
    cr_assert_eq(hr_redact_vars(r, vs), 1);
    check_vars(vs, "{\"CI_JOB_ID\":\"7\",\"CI_JOB_TOKEN\":\"********\"}");
    hr_vars_free(vs);
    hr_redact_free(r);
}

Test(redact, var_says_what_one_value_becomes)
{
    hr_redact *r = defaults();
    size_t n = 0;
    char *s;

    cr_expect_null(hr_redact_var(r, "PATH", "/bin", 4, &n));
    s = hr_redact_var(r, "API_KEY", "k", 1, &n);
    cr_expect_str_eq(s, HR_REDACTED);
    cr_expect_eq(n, strlen(HR_REDACTED));
    free(s);
    s = hr_redact_var(r, "REPO", "https://u:p@h/r", 15, NULL);
    cr_expect_str_eq(s, "https://********@h/r");
    free(s);
    hr_redact_free(r);
}

Test(redact, value_scrubs_url_credentials_too)
{
    check_value("https://u:p@host/x", "https://********@host/x");
    check_value("https://ghp_abcdef0123456789@github.com/o/r.git",
                "https://********@github.com/o/r.git");
    check_value("ssh://git@github.com/o/r.git", NULL);
    check_value("redis://:pw@cache:6379/0", "redis://********@cache:6379/0");
    check_value("mongodb+srv://app:pw@cluster0.example.net/db?retryWrites=true",
                "mongodb+srv://********@cluster0.example.net/db?retryWrites=true");
    check_value("amqp://guest:guest@mq/vhost", "amqp://********@mq/vhost");
}

Test(redact, chat_webhook_urls_lose_their_secret)
{
    check_value("https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXX",
                "https://hooks.slack.com/********");
    check_value("HTTPS://Hooks.Slack.Com/workflows/T/A/1/x", "HTTPS://Hooks.Slack.Com/********");
    check_value("curl -d @m.json https://discord.com/api/webhooks/123/abcDEF and more",
                "curl -d @m.json https://discord.com/api/webhooks/******** and more");
    check_value("https://canary.discord.com/api/v10/webhooks/1/t?wait=true",
                "https://canary.discord.com/api/v10/webhooks/********");
    check_value("https://discordapp.com/api/webhooks/1/t",
                "https://discordapp.com/api/webhooks/********");
    check_value("https://contoso.webhook.office.com/webhookb2/a-b@c-d/IncomingWebhook/e/f/V2x",
                "https://contoso.webhook.office.com/********");
    check_value("https://outlook.office.com/webhook/a@b/IncomingWebhook/c/d",
                "https://outlook.office.com/webhook/********");
    check_value("https://prod-01.westus.logic.azure.com:443/workflows/w/triggers/manual/paths/"
                "invoke?api-version=2016-06-01&sp=%2Ftriggers&sv=1.0&sig=SIGSIG",
                "https://prod-01.westus.logic.azure.com:443/workflows/w/triggers/manual/paths/"
                "invoke?********");
    check_value("https://chat.googleapis.com/v1/spaces/AAA/messages?key=K&token=T",
                "https://chat.googleapis.com/v1/spaces/AAA/messages?********");
    check_value("{\"url\": \"https://hooks.slack.com/services/a\", \"n\": 1}",
                "{\"url\": \"https://hooks.slack.com/********\", \"n\": 1}");
    check_value("https://u:p@hooks.slack.com/services/a",
                "https://********@hooks.slack.com/********");
    check_value("a https://hooks.slack.com/services/x b https://hooks.slack.com/services/y c",
                "a https://hooks.slack.com/******** b https://hooks.slack.com/******** c");
}

Test(redact, other_urls_of_chat_hosts_and_look_alikes_stay)
{
    check_value("https://discord.com/channels/1/2", NULL);
    check_value("https://outlook.office.com/mail/inbox", NULL);
    check_value("https://chat.googleapis.com/v1/spaces/AAA", NULL);
    check_value("https://hooks.slack.com", NULL);
    check_value("https://hooks.slack.com.example.org/services/x", NULL);
    check_value("https://evilhooks.slack.com/services/x", NULL);
    check_value("https://notdiscord.com/api/webhooks/1/t", NULL);
    check_value("ftp://hooks.slack.com/services/x", NULL);
}

Test(redact, connection_string_passwords_are_hidden)
{
    check_value("Server=x;User Id=y;Password=secret;", "Server=x;User Id=y;Password=********;");
    check_value("Data Source=h;Initial Catalog=d;User ID=u;PWD=s3cr3t",
                "Data Source=h;Initial Catalog=d;User ID=u;PWD=********");
    check_value("Server=x;Password = 'a;b c';Encrypt=true",
                "Server=x;Password = '********';Encrypt=true");
    check_value("Server=x;Password=\"a;b\"", "Server=x;Password=\"********\"");
    check_value("DRIVER={ODBC Driver 18};UID=u;PWD={p;w};Server=x",
                "DRIVER={ODBC Driver 18};UID=u;PWD={********};Server=x");
    check_value("UID=u;PWD={a}}b;c}}};Server=x", "UID=u;PWD={********};Server=x");
    check_value("PWD={a}}", "PWD={********");
    check_value("Password=my secret;Server=x", "Password=********;Server=x");
    /* libpq's form has no ';': the rest of it goes, which is the safer mistake. */
    check_value("host=db user=app password=s3cret dbname=x", "host=db user=app password=********");
    check_value("Password='unclosed", "Password='********");
}

Test(redact, secret_pairs_in_queries_and_command_lines_are_hidden)
{
    check_value("https://ci/job/x/build?token=abc&cause=y",
                "https://ci/job/x/build?token=********&cause=y");
    check_value("--client_secret=abc", "--client_secret=********");
    check_value("export DB_PASSWORD=hunter2\nmake", "export DB_PASSWORD=********\nmake");
    check_value("https://acct.blob.core.windows.net/c?sv=2022-11-02&sig=abc%3D",
                "https://acct.blob.core.windows.net/c?sv=2022-11-02&sig=********");
    check_value("user=x&pass=y&pwd=z&passwd=w",
                "user=x&pass=********&pwd=********&passwd=********");
    check_value("APIKEY=k;passphrase=p", "APIKEY=********;passphrase=********");
}

Test(redact, ordinary_pairs_stay)
{
    check_value("BYPASS=1", NULL);
    check_value("tokens=5&passwords=2", NULL);
    check_value("a=b;c=d", NULL);
    check_value("x=password", NULL);
    check_value("Password: none", NULL);
    check_value("password=", NULL);
    check_value("password=;x=1", NULL);
    check_value("==token", NULL);
    check_value("", NULL);
    cr_assert_null(hr_redact_value(NULL, 0, NULL));
}

/* A pair's value ends at a '&' that a URL's user information swallows:
 * the merged result is scrubbed again until nothing changes. */
Test(redact, overlapping_rules_settle)
{
    check_value("sig=d x://&sig:pw@c", "sig=********");
    check_value("a token=b&c https://u:p@h/ d", "a token=********&c https://********@h/ d");
}

Test(redact, value_reads_past_a_nul)
{
    static const char v[] = "a\0Password=x;";
    size_t n = 0;
    char *got = hr_redact_value(v, sizeof(v) - 1, &n);
    static const char want[] = "a\0Password=********;";
    cr_assert_not_null(got);
    cr_assert_eq(n, sizeof(want) - 1);
    cr_assert_eq(memcmp(got, want, n), 0);
    free(got);
}

/* Microseconds hr_redact_value takes on len bytes (v has len + 1) of unit
 * repeated. */
static int64_t time_value(const char *unit, char *v, size_t len)
{
    size_t k = strlen(unit);
    int64_t t0;
    for (size_t i = 0; i < len; i++)
        v[i] = unit[i % k];
    v[len] = '\0';
    t0 = hr_time_mono_us();
    free(hr_redact_value(v, len, NULL));
    return hr_time_mono_us() - t0;
}

/* Values come from request bodies: a value built to make a rule look at
 * the rest of it again and again must still take linear time. Each shape
 * is timed against "pwd=a;" repeated, which every rule gets through in
 * one look (so valgrind or a busy machine slows both alike); at 256 KiB a
 * quadratic rule would take thousands of times as long. */
Test(redact, hostile_values_take_linear_time)
{
    static const char *const units[] = {"a://", "x=\"", "pwd=a ",  "https://hooks.slack.com/",
                                        "u:p@", "{",    "token={", "sig=d x://&sig:pw@c "};
    const size_t len = 256 * 1024;
    char *v = malloc(len + 1);
    int64_t base = time_value("pwd=a;", v, len);
    for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
        int64_t t = time_value(units[u], v, len);
        cr_expect_lt(t, 20 * base + 200000, "\"%s\" repeated: %lld us, \"pwd=a;\" %lld us",
                     units[u], (long long)t, (long long)base);
    }
    free(v);
}

Test(redact, env_scrubs_values_by_the_value_rules)
{
    hr_redact *r = defaults();
    json_t *env = json_pack("{s:s, s:s, s:s}", "CONN", "Server=x;Password=y;", "NOTIFY_URL",
                            "https://hooks.slack.com/services/a/b/c", "JOB", "build");
    cr_assert_eq(hr_redact_env(r, env), 2);
    check_json(env, "{\"CONN\": \"Server=x;Password=********;\","
                    " \"NOTIFY_URL\": \"https://hooks.slack.com/********\", \"JOB\": \"build\"}");
    json_decref(env);
    hr_redact_free(r);
}

Test(redact, values_in_walks_objects_and_arrays)
{
    json_t *j = json_loads("{\"scm\": [{\"url\": \"https://u:p@h/r\", \"n\": 1},"
                           " \"http://tok@h2\", \"ssh://git@h3\"],"
                           " \"log\": \"fetching https://a:b@x and https://c:d@y\","
                           " \"deep\": {\"a\": {\"b\": [[\"ftp://q:r@z\"]]}}, \"t\": true}",
                           0, NULL);
    cr_assert_not_null(j);
    cr_assert_eq(hr_redact_values_in(j), 4);
    check_json(j, "{\"scm\": [{\"url\": \"https://********@h/r\", \"n\": 1},"
                  " \"http://********@h2\", \"ssh://git@h3\"],"
                  " \"log\": \"fetching https://********@x and https://********@y\","
                  " \"deep\": {\"a\": {\"b\": [[\"ftp://********@z\"]]}}, \"t\": true}");
    cr_assert_eq(hr_redact_values_in(j), 0, "a second pass changes nothing");
    json_decref(j);
}

Test(redact, values_in_a_bare_string)
{
    json_t *s = json_string("https://u:p@h");
    cr_assert_eq(hr_redact_values_in(s), 1);
    cr_assert_str_eq(json_string_value(s), "https://********@h");
    cr_assert_eq(hr_redact_values_in(NULL), 0);
    json_decref(s);
}

Test(redact, values_in_keeps_a_nul_inside_a_string)
{
    json_t *s = json_stringn("a\0pwd=x", 8);
    cr_assert_eq(hr_redact_values_in(s), 1);
    cr_assert_eq(json_string_length(s), 15);
    cr_assert_eq(memcmp(json_string_value(s), "a\0pwd=********", 15), 0);
    json_decref(s);
}

/* The fast matchers (a word with '*' at either end) agree with fnmatch(3)
 * and FNM_CASEFOLD on every pattern and name here. */
Test(redact, fast_matching_agrees_with_fnmatch)
{
    static const char *const patterns[] = {"*TOKEN*", "*pass", "JOB_*",    "BUILD_NUMBER", "*",
                                           "**",      "*a*b*", "?OB_NAME", "[JB]*",        "x\\*y",
                                           "*_",      "_*",    "A",        "*KEY*"};
    static const char *const names[] = {"GITHUB_TOKEN",
                                        "token",
                                        "MY_TOKEN_FILE",
                                        "BYPASS",
                                        "pass",
                                        "PASSWORD",
                                        "JOB_NAME",
                                        "job_",
                                        "JOB",
                                        "build_number",
                                        "BUILD_NUMBERS",
                                        "",
                                        "ab",
                                        "xaxbx",
                                        "BOB_NAME",
                                        "x*y",
                                        "xzy",
                                        "_",
                                        "A",
                                        "a",
                                        "MONKEY",
                                        "KE",
                                        "KEYS_AND_MORE"};
    for (size_t p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++) {
        hr_redact *r = NULL;
        hr_error err;
        cr_assert_eq(hr_redact_new(&patterns[p], 1, &patterns[p], 1, &r, &err), HR_OK, "%s",
                     err.msg);
        for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
            bool want = fnmatch(patterns[p], names[n], FNM_CASEFOLD) == 0;
            cr_expect_eq(hr_redact_hides(r, names[n]), want, "pattern %s, name \"%s\"", patterns[p],
                         names[n]);
            cr_expect_eq(hr_redact_keeps(r, names[n]), want, "keep %s, name \"%s\"", patterns[p],
                         names[n]);
        }
        hr_redact_free(r);
    }
    /* And the defaults, each on its own, on names around them. */
    static const char *const more[] = {"MYSQL_PWD",
                                       "PWD",
                                       "OLDPWD",
                                       "GH_PAT",
                                       "PATH",
                                       "PAT",
                                       "CREDS",
                                       "VAULT_ROLE_ID",
                                       "SONAR_LOGIN",
                                       "GITLAB_USER_LOGIN",
                                       "SLACK_WEBHOOK",
                                       "DB_PW",
                                       "PW",
                                       "_PW",
                                       "X_PWD_Y"};
    for (size_t p = 0; HR_REDACT_DEFAULT_PATTERNS[p] != NULL; p++) {
        const char *pat = HR_REDACT_DEFAULT_PATTERNS[p];
        hr_redact *r = NULL;
        cr_assert_eq(hr_redact_new(&pat, 1, NULL, 0, &r, NULL), HR_OK);
        for (size_t n = 0; n < sizeof(more) / sizeof(more[0]); n++)
            cr_expect_eq(hr_redact_hides(r, more[n]), fnmatch(pat, more[n], FNM_CASEFOLD) == 0,
                         "pattern %s, name \"%s\"", pat, more[n]);
        for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++)
            cr_expect_eq(hr_redact_hides(r, names[n]), fnmatch(pat, names[n], FNM_CASEFOLD) == 0,
                         "pattern %s, name \"%s\"", pat, names[n]);
        hr_redact_free(r);
    }
}

/* Names longer than matches_any folds on its stack are folded on the
 * heap, with the same answers as fnmatch. */
Test(redact, long_names_match_as_short_ones)
{
    hr_redact *r = defaults();
    char name[600];

    memset(name, 'x', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    cr_expect_not(hr_redact_hides(r, name));
    memcpy(name + 590, "_t0keN_", 7);
    cr_expect_not(hr_redact_hides(r, name));
    memcpy(name + 590, "_tOkEn_", 7);
    cr_expect(hr_redact_hides(r, name));
    cr_expect_eq(hr_redact_hides(r, name), fnmatch("*TOKEN*", name, FNM_CASEFOLD) == 0);
    hr_redact_free(r);
}
