/*
 * config_people.c - the gocd: and people: sections of herald.yaml.
 *
 * Included by config.c (as config_target.c is), not compiled on its own:
 * it reads with config.c's YAML reader and reports through its sink, so
 * every problem has its line and column.
 *
 *   gocd:                       # GoCD's API, for who committed what
 *     api_url: https://gocd.example.com
 *     token: ${GOCD_TOKEN}      # secret
 *     attempts: 3               # lookups of one run before giving up on it
 *   people:                     # a committer's pattern -> their handles
 *     "jane@example.com": {slack: U0123ABCD, teams: jane@corp.example}
 *     "Bob *": {discord: "<@80351110224678912>", email: bob@corp.example}
 *
 * A pattern is an fnmatch glob compared, case-insensitively, with a
 * committer's e-mail address and with their name; the first entry in the
 * file's order that matches wins (deliver/people.h). Handles are checked
 * here so a message never mentions something a service cannot read:
 * Slack's member ids (U... or W...), an address for Teams and e-mail,
 * Discord's numeric user ids ("<@id>" is taken too) and Mattermost's user
 * names ("@name" is taken too).
 */

/* config.c's, defined further down. */
static json_t *url_json(const char *url);
static json_t *masked(const char *secret);
static json_t *str_or_null(const char *s);
static void read_token(parser *p, const char *path, char **out);

#define GOCD_ATTEMPTS_DEFAULT 3
#define GOCD_ATTEMPTS_MAX 20
#define HANDLE_MAX 64

/* The kinds of handle a service's mention wraps: "<@ID>" (Slack,
 * Discord; Discord's "<@!ID>" too) around an id. */
typedef enum handle_kind { SLACK_ID, DISCORD_ID } handle_kind;

/* Checks a Slack member id (U or W, then capitals and digits) or a Discord
 * user id (digits), written bare or as its mention; *v is rewritten to the
 * bare id. */
static bool check_mention_id(parser *p, const char *path, scalar *v, handle_kind kind)
{
    char brief[BRIEF_LEN];
    size_t at = 0, n = v->len;
    bool ok;

    if (n > 3 && v->s[0] == '<' && v->s[1] == '@' && v->s[n - 1] == '>') {
        at = kind == DISCORD_ID && v->s[2] == '!' ? 3 : 2;
        n -= at + 1;
    }
    if (kind == SLACK_ID)
        ok = n >= 2 && n <= HANDLE_MAX && (v->s[at] == 'U' || v->s[at] == 'W');
    else
        ok = n >= 1 && n <= 20;
    for (size_t i = at; ok && i < at + n; i++)
        ok = hr_is_digit(v->s[i]) || (kind == SLACK_ID && v->s[i] >= 'A' && v->s[i] <= 'Z');
    if (!ok) {
        report(&p->out, &v->mark, path, "%s; got %s",
               kind == SLACK_ID ? "expected a Slack member id such as U0123ABCD (a profile's "
                                  "\"Copy member ID\")"
                                : "expected a Discord user id such as 80351110224678912 or "
                                  "<@80351110224678912>",
               quote(v->s, v->len, brief, sizeof(brief)));
        return false;
    }
    memmove(v->s, v->s + at, n);
    v->s[n] = '\0';
    v->len = n;
    return true;
}

/* Mattermost's user names: lower-case letters, digits, ".", "_" and "-"
 * ("@name" is taken too). */
static bool check_mattermost_name(parser *p, const char *path, scalar *v)
{
    char brief[BRIEF_LEN];
    size_t at = v->len > 0 && v->s[0] == '@' ? 1 : 0, n = v->len - at;
    bool ok = n >= 1 && n <= HANDLE_MAX;

    for (size_t i = at; ok && i < v->len; i++)
        ok = (v->s[i] >= 'a' && v->s[i] <= 'z') || hr_is_digit(v->s[i]) || strchr("._-", v->s[i]);
    if (!ok) {
        report(&p->out, &v->mark, path,
               "expected a Mattermost user name (lower-case letters, digits, \".\", \"_\", "
               "\"-\"); got %s",
               quote(v->s, v->len, brief, sizeof(brief)));
        return false;
    }
    memmove(v->s, v->s + at, n + 1);
    v->len = n;
    return true;
}

static bool check_display_name(parser *p, const char *path, const scalar *v)
{
    char brief[BRIEF_LEN];
    bool ok = v->len > 0 && v->len <= NAME_MAX_LEN && is_utf8(v->s, v->len);
    for (size_t i = 0; ok && i < v->len; i++)
        ok = !hr_is_control((unsigned char)v->s[i]) && v->s[i] != '<' && v->s[i] != '>';
    if (!ok)
        report(&p->out, &v->mark, path,
               "expected a name of 1 to %d characters on one line, without < or >; got %s",
               NAME_MAX_LEN, quote(v->s, v->len, brief, sizeof(brief)));
    return ok;
}

/* One person's handles (the value of a pattern). */
static void parse_person(parser *p, const char *path, hr_person *who)
{
    static const char *const keys[] = {"name",       "slack", "teams", "discord",
                                       "mattermost", "email", NULL};
    char kpath[PATH_LEN];
    yaml_mark_t start;
    key_mask seen = 0;
    scalar key, v;

    if (begin(p, YAML_MAPPING_START_EVENT, path,
              "a mapping of handles (name, slack, teams, discord, mattermost, email)", false,
              &start) != 1)
        return;
    while (next_key(p, path, &key)) {
        int i = known_key(p, path, &key, keys, &seen);
        free(key.s);
        if (i < 0)
            continue;
        sub_path(kpath, sizeof(kpath), path, keys[i]);
        if (!read_required(p, kpath, "a string", false, &v))
            continue;
        bool ok = false;
        char **field = NULL;
        switch (i) {
        case 0:
            ok = check_display_name(p, kpath, &v);
            field = &who->name;
            break;
        case 1:
            ok = check_mention_id(p, kpath, &v, SLACK_ID);
            field = &who->slack;
            break;
        case 2:
            ok = check_address(&p->out, &v.mark, kpath, v.s, v.len);
            field = &who->teams;
            break;
        case 3:
            ok = check_mention_id(p, kpath, &v, DISCORD_ID);
            field = &who->discord;
            break;
        case 4:
            ok = check_mattermost_name(p, kpath, &v);
            field = &who->mattermost;
            break;
        default:
            ok = check_address(&p->out, &v.mark, kpath, v.s, v.len);
            field = &who->email;
            break;
        }
        if (ok) {
            *field = v.s;
            v.s = NULL;
        }
        free(v.s);
    }
    if ((seen & ~1u) == 0)
        report(&p->out, &start, path,
               "no handle: name one of slack, teams, discord, mattermost or email");
}

static void parse_people(parser *p)
{
    hr_config *c = p->c;
    char path[PATH_LEN], brief[BRIEF_LEN];
    yaml_mark_t start;
    scalar key;

    if (begin(p, YAML_MAPPING_START_EVENT, "people",
              "a mapping of committers (an e-mail address or a name; globs allowed) to handles",
              false, &start) != 1)
        return;
    while (next_key(p, "people", &key)) {
        bool ok = key.len > 0 && key.len <= HR_MAILADDR_MAX;
        for (size_t i = 0; ok && i < key.len; i++)
            ok = !hr_is_control((unsigned char)key.s[i]);
        snprintf(path, sizeof(path), "people.%s", quote(key.s, key.len, brief, sizeof(brief)));
        if (!ok) {
            report(&p->out, &key.mark, "people",
                   "expected an e-mail address, a name or a pattern such as \"*@corp.example\" "
                   "(at most %d bytes, no control characters)",
                   HR_MAILADDR_MAX);
            skip_node(p);
            free(key.s);
            continue;
        }
        for (size_t j = 0; j < c->npeople; j++)
            if (strcmp(c->people[j].match, key.s) == 0) {
                report(&p->out, &key.mark, "people", "%s is named twice", brief);
                break;
            }
        if (c->npeople >= HR_CONFIG_MAX_ITEMS) {
            report(&p->out, &key.mark, "people", "at most %d people are allowed",
                   HR_CONFIG_MAX_ITEMS);
            skip_node(p);
            free(key.s);
            continue;
        }
        c->people = hr_realloc(c->people, (c->npeople + 1) * sizeof(*c->people));
        hr_person *who = &c->people[c->npeople++];
        memset(who, 0, sizeof(*who));
        who->match = key.s;
        parse_person(p, path, who);
    }
}

static void parse_gocd(parser *p)
{
    static const char *const keys[] = {"api_url", "token", "attempts", NULL};
    hr_gocd_api *g = &p->c->gocd;
    char path[PATH_LEN];
    yaml_mark_t start;
    key_mask seen = 0;
    scalar key, v;

    if (begin(p, YAML_MAPPING_START_EVENT, "gocd", "a mapping (api_url, token, attempts)", false,
              &start) != 1)
        return;
    while (next_key(p, "gocd", &key)) {
        int i = known_key(p, "gocd", &key, keys, &seen);
        sub_path(path, sizeof(path), "gocd", i >= 0 ? keys[i] : "");
        if (i == 0 && read_required(p, path, TARGET_URL_EXPECTED, false, &v)) {
            if (check_url(&p->out, &v.mark, path, v.s, v.len, 0)) {
                g->api_url = v.s;
                v.s = NULL;
            }
            free(v.s);
        } else if (i == 1) {
            read_token(p, path, &g->token);
        } else if (i == 2) {
            read_int(p, path, 1, GOCD_ATTEMPTS_MAX, &g->attempts);
        }
        free(key.s);
    }
    missing_keys(p, &start, "gocd", keys, 1u, seen);
}

static void gocd_clear(hr_config *c)
{
    free(c->gocd.api_url);
    free(c->gocd.token);
    for (size_t i = 0; i < c->npeople; i++) {
        hr_person *who = &c->people[i];
        free(who->match);
        free(who->name);
        free(who->slack);
        free(who->teams);
        free(who->discord);
        free(who->mattermost);
        free(who->email);
    }
    free(c->people);
}

/* The two sections as the API shows them (the token masked). */
static void people_json(const hr_config *c, json_t *out)
{
    json_t *people = json_array();
    for (size_t i = 0; i < c->npeople; i++) {
        const hr_person *w = &c->people[i];
        json_array_append_new(
            people,
            json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:o}", "match", w->match, "name",
                      str_or_null(w->name), "slack", str_or_null(w->slack), "teams",
                      str_or_null(w->teams), "discord", str_or_null(w->discord), "mattermost",
                      str_or_null(w->mattermost), "email", str_or_null(w->email)));
    }
    json_object_set_new(out, "gocd",
                        json_pack("{s:o,s:o,s:i}", "api_url", url_json(c->gocd.api_url), "token",
                                  masked(c->gocd.token), "attempts", c->gocd.attempts));
    json_object_set_new(out, "people", people);
}
