/*
 * test_deliver_people.c - who a message names (deliver/people.c), what
 * GoCD's pipeline instance answer yields (gocd_lookup.c's parse), how each
 * service mentions a committer people: maps, and the example messages
 * docs/targets.md shows: docs/messages/ holds what each service receives
 * for one GoCD stage that broke, with GoCD's modifications and a people:
 * map, rendered here by the real renderers and compared with the files
 * (HR_GOLDEN_WRITE=1 rewrites them: scripts/messages.sh).
 */
#include "deliver/gocd_lookup.h"
#include "deliver/message.h"
#include "deliver/people.h"
#include "deliver/service.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MESSAGES HR_TEST_SRCDIR "/docs/messages/"

/* A GoCD stage that broke, as the engine hands it to a service after the
 * lookup: GoCD's modifications of the run are .gocd.modifications. */
static const char gocd_broken[] =
    "{\"id\": 12, \"received_at\": \"2026-12-03T10:00:00.000Z\", \"source\": \"gocd\","
    " \"kind\": \"stage-status\", \"transition\": \"broken\","
    " \"summary\": {\"name\": \"deploy/test\", \"number\": \"42\", \"result\": \"Failed\"},"
    " \"pipeline\": {\"name\": \"deploy\", \"counter\": \"42\", \"label\": \"1.4.42\"},"
    " \"stage\": {\"name\": \"test\", \"counter\": \"1\", \"state\": \"Failed\","
    " \"result\": \"Failed\", \"approved_by\": \"changes\","
    " \"created_at\": \"2026-12-03T09:55:00.000Z\","
    " \"last_transition_at\": \"2026-12-03T09:58:12.500Z\", \"jobs\": ["
    "{\"name\": \"unit\", \"result\": \"Passed\"}, {\"name\": \"integration\", \"result\":"
    " \"Failed\"}]},"
    " \"build_cause\": [{\"material\": \"https://git.example.com/app.git\", \"changed\": true,"
    " \"revision\": \"0123456789abcdef0123456789abcdef01234567\"}],"
    " \"gocd\": {\"site_url\": \"https://gocd.example.com\", \"modifications\": ["
    "{\"material\": \"app\", \"revision\": \"0123456789abcdef0123456789abcdef01234567\","
    " \"user_name\": \"Jane Doe <jane@example.com>\","
    " \"comment\": \"Fix the flaky login test\\n\\nIt raced the session store.\"},"
    "{\"material\": \"app\", \"revision\": \"fedcba9876543210fedcba9876543210fedcba98\","
    " \"user_name\": \"Bob Smith <bob@example.com>\", \"comment\": \"Bump the version\"}]}}";

/* A Jenkins build still failing, with culprits. */
static const char jenkins_failing[] =
    "{\"id\": 13, \"source\": \"jenkins\", \"kind\": \"build-status\","
    " \"transition\": \"still_failing\","
    " \"summary\": {\"name\": \"app/main\", \"number\": \"7\", \"result\": \"Failed\","
    " \"url\": \"https://ci.example.com/job/app/7/\"},"
    " \"build\": {\"status\": \"FAILURE\", \"scm\": {\"culprits\": [\"alice\", \"Bob Smith\"]}}}";

static hr_person people[] = {
    {.match = "jane@example.com",
     .name = "Jane Doe",
     .slack = "U0123ABCD",
     .teams = "jane@corp.example",
     .discord = "80351110224678912",
     .mattermost = "jane",
     .email = "jane.doe@corp.example"},
    {.match = "alice", .slack = "U0ALICE01"},
};

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    cr_assert_not_null(j, "%s", e.text);
    return j;
}

static hr_target target(hr_target_type type)
{
    static char *to[] = {"dev@example.com"};
    hr_target t = {0};
    t.name = "example";
    t.type = type;
    t.url = type == HR_TARGET_TEAMS     ? "https://prod.westeurope.logic.azure.com/workflows/abc/"
                                          "triggers/manual/paths/invoke?sig=SECRET"
            : type == HR_TARGET_DISCORD ? "https://discord.com/api/webhooks/123/SECRET"
            : type == HR_TARGET_GOOGLE_CHAT
                ? "https://chat.googleapis.com/v1/spaces/AAA/messages?key=K&token=SECRET"
            : type == HR_TARGET_EMAIL ? "smtp://mail.example.com:587"
                                      : "https://hooks.slack.com/services/T0/B0/SECRET";
    t.from = "herald@ci.example.com";
    t.to.items = to;
    t.to.n = 1;
    t.starttls = true;
    return t;
}

static hr_svc_request render(const hr_target *t, const char *event)
{
    hr_svc_request req = {0};
    hr_message m;
    hr_error err;
    json_t *e = load(event);
    hr_svc_context ctx = {.delivery_id = 77,
                          .now_ms = 1796292000000,
                          .people = people,
                          .npeople = sizeof(people) / sizeof(people[0])};

    cr_assert_eq(hr_message_from_event(e, &m, &err), HR_OK);
    cr_assert_eq(hr_service_of(t->type)->render(t, &m, &ctx, &req, &err), HR_OK, "%s", err.msg);
    hr_message_clear(&m);
    json_decref(e);
    return req;
}

/* ---- people.c ----------------------------------------------------------- */

Test(people, authors_split_into_name_and_address)
{
    hr_committer c;
    cr_assert(hr_committer_parse("Jane Doe <jane@example.com>", NULL, &c));
    cr_expect_str_eq(c.name, "Jane Doe");
    cr_expect_str_eq(c.email, "jane@example.com");
    hr_committer_clear(&c);
    cr_assert(hr_committer_parse("bob@example.com", NULL, &c));
    cr_expect_null(c.name);
    cr_expect_str_eq(c.email, "bob@example.com");
    hr_committer_clear(&c);
    cr_assert(hr_committer_parse("carol", "carol@example.com", &c));
    cr_expect_str_eq(c.name, "carol");
    cr_expect_str_eq(c.email, "carol@example.com");
    hr_committer_clear(&c);
    cr_expect_not(hr_committer_parse("  ", NULL, &c));
    cr_expect_not(hr_committer_parse(NULL, "", &c));
}

Test(people, the_first_pattern_that_matches_wins_case_insensitive)
{
    hr_person list[] = {{.match = "*@corp.example", .slack = "U1"},
                        {.match = "JANE*", .slack = "U2"},
                        {.match = "*", .slack = "U3"}};
    hr_committer jane = {.name = "jane doe", .email = "jane@example.com"};
    hr_committer boss = {.name = "Jane Boss", .email = "boss@CORP.example"};
    hr_committer nobody = {.name = "x"};

    cr_expect_str_eq(hr_people_find(list, 3, &jane)->slack, "U2");
    cr_expect_str_eq(hr_people_find(list, 3, &boss)->slack, "U1");
    cr_expect_str_eq(hr_people_find(list, 3, &nobody)->slack, "U3");
    cr_expect_null(hr_people_find(list, 2, &nobody));
    /* Mail goes to the mapped address, else their own valid one. */
    cr_expect_str_eq(hr_people_email(&jane, &people[0]), "jane.doe@corp.example");
    cr_expect_str_eq(hr_people_email(&jane, NULL), "jane@example.com");
    cr_expect_null(hr_people_email(&nobody, NULL));
    hr_committer evil = {.email = "a@b.example>\r\nBcc: x@y.example"};
    cr_expect_null(hr_people_email(&evil, NULL));
}

/* ---- gocd_lookup.c's parse ---------------------------------------------- */

Test(gocd, modifications_from_a_pipeline_instance)
{
    const char *body =
        "{\"name\": \"deploy\", \"counter\": 42, \"build_cause\": {\"material_revisions\": ["
        "{\"changed\": true, \"material\": {\"name\": \"app\", \"type\": \"Git\"},"
        " \"modifications\": [{\"revision\": \"abc\", \"user_name\": \"Jane <j@x.example>\","
        " \"email_address\": null, \"comment\": \"Fix\", \"modified_time\": 1}]},"
        "{\"material\": {\"description\": \"URL: https://svn.example.com\"},"
        " \"modifications\": [{\"revision\": \"5521\", \"user_name\": \"bob\","
        " \"email_address\": \"bob@x.example\", \"comment\": 7}]}]}}";
    json_t *mods = hr_gocd_modifications_parse(body, strlen(body));
    json_t *want = load("[{\"material\": \"app\", \"revision\": \"abc\", \"user_name\":"
                        " \"Jane <j@x.example>\", \"comment\": \"Fix\"},"
                        "{\"material\": \"URL: https://svn.example.com\", \"revision\": \"5521\","
                        " \"user_name\": \"bob\", \"email_address\": \"bob@x.example\"}]");
    cr_expect(json_equal(mods, want));
    json_decref(mods);
    json_decref(want);
    cr_expect_null(hr_gocd_modifications_parse("<html>", 6));
    cr_expect_null(hr_gocd_modifications_parse("{\"message\": \"Not found\"}", 24));
}

Test(gocd, modifications_and_comments_are_bounded)
{
    char *comment = malloc(5000), *body;
    memset(comment, 'x', 4999);
    comment[4999] = '\0';
    char *mods_text = hr_msg_fmt("{\"revision\": \"r\", \"comment\": \"%s\"}", comment);
    char *all = strdup(mods_text);
    for (int i = 0; i < 30; i++) {
        char *more = hr_msg_fmt("%s,%s", all, mods_text);
        free(all);
        all = more;
    }
    body =
        hr_msg_fmt("{\"build_cause\": {\"material_revisions\": [{\"modifications\": [%s]}]}}", all);
    json_t *mods = hr_gocd_modifications_parse(body, strlen(body));
    cr_assert_eq(json_array_size(mods), HR_GOCD_MAX_MODIFICATIONS);
    cr_expect_leq(strlen(json_string_value(json_object_get(json_array_get(mods, 0), "comment"))),
                  HR_GOCD_COMMENT_MAX);
    json_decref(mods);
    free(body);
    free(all);
    free(mods_text);
    free(comment);
}

/* ---- the message and each service's mentions ----------------------------- */

Test(message, gocd_changes_and_committers)
{
    json_t *e = load(gocd_broken);
    hr_message m;
    hr_error err;
    cr_assert_eq(hr_message_from_event(e, &m, &err), HR_OK);
    cr_assert_eq(m.ncommitters, 2);
    cr_expect_str_eq(m.committers[0].email, "jane@example.com");
    cr_assert_geq(m.committers_fact, 0);
    cr_expect_str_eq(m.facts[m.committers_fact].label, "Committers");
    cr_expect_str_eq(m.facts[m.committers_fact].value, "Jane Doe, Bob Smith");
    cr_expect_str_eq(m.subject, "deploy #42 broken (test)");
    bool change = false, revision = false;
    for (size_t i = 0; i < m.nfacts; i++) {
        change = change || (strcmp(m.facts[i].label, "Change") == 0 &&
                            strcmp(m.facts[i].value,
                                   "0123456789ab Fix the flaky login test (Jane Doe)") == 0);
        revision = revision || strcmp(m.facts[i].label, "Revision") == 0;
    }
    cr_expect(change && !revision);
    hr_message_clear(&m);
    json_decref(e);
}

Test(mentions, jenkins_culprits_through_people)
{
    hr_target t = target(HR_TARGET_SLACK);
    hr_svc_request req = render(&t, jenkins_failing);
    cr_expect_not_null(strstr(req.body, "*Culprits*\\n<@U0ALICE01>, Bob Smith"), "%s", req.body);
    hr_svc_request_clear(&req);
}

Test(mentions, discord_pings_only_the_people_it_maps)
{
    hr_target t = target(HR_TARGET_DISCORD);
    hr_svc_request req = render(&t, gocd_broken);
    json_t *b = load(req.body);
    cr_expect_str_eq(json_string_value(json_object_get(b, "content")), "<@80351110224678912>");
    json_t *want = load("{\"parse\": [], \"users\": [\"80351110224678912\"]}");
    cr_expect(json_equal(json_object_get(b, "allowed_mentions"), want));
    json_decref(want);
    json_decref(b);
    hr_svc_request_clear(&req);
}

Test(mentions, mattermost_at_names)
{
    hr_target t = target(HR_TARGET_MATTERMOST);
    hr_svc_request req = render(&t, gocd_broken);
    cr_expect_not_null(strstr(req.body, "\"value\":\"@jane, Bob Smith\""), "%s", req.body);
    hr_svc_request_clear(&req);
}

/* ---- docs/messages: what each service receives ---------------------------- */

/* The file name under docs/messages/ must hold (bytes) exactly. */
static void expect_file(const char *name, const char *bytes, size_t n)
{
    char path[512];
    FILE *f;
    snprintf(path, sizeof(path), MESSAGES "%s", name);
    if (getenv("HR_GOLDEN_WRITE") != NULL) {
        f = fopen(path, "wb");
        cr_assert_not_null(f, "%s", path);
        fwrite(bytes, 1, n, f);
        fclose(f);
    }
    f = fopen(path, "rb");
    cr_assert_not_null(f, "%s (HR_GOLDEN_WRITE=1 writes it)", path);
    char *want = calloc(1, n + 2);
    size_t got = fread(want, 1, n + 1, f);
    fclose(f);
    cr_expect(got == n && memcmp(want, bytes, n) == 0,
              "%s is not what the renderer gives now; scripts/messages.sh rewrites it", name);
    free(want);
}

static void example(hr_target_type type, const char *name)
{
    hr_target t = target(type);
    hr_svc_request req = render(&t, gocd_broken);
    if (type == HR_TARGET_EMAIL) {
        expect_file(name, req.body, req.body_len);
    } else {
        json_t *j = load(req.body);
        char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
        char *line = hr_msg_fmt("%s\n", text);
        expect_file(name, line, strlen(line));
        free(line);
        free(text);
        json_decref(j);
    }
    hr_svc_request_clear(&req);
}

Test(examples, every_service)
{
    example(HR_TARGET_SLACK, "slack.json");
    example(HR_TARGET_TEAMS, "teams.json");
    example(HR_TARGET_DISCORD, "discord.json");
    example(HR_TARGET_MATTERMOST, "mattermost.json");
    example(HR_TARGET_GOOGLE_CHAT, "google-chat.json");
    example(HR_TARGET_EMAIL, "email.eml");
}
