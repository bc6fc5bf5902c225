/*
 * config_target.c - the targets: section of herald.yaml, from a table.
 *
 * Included by config.c (as redis's ae.c includes ae_epoll.c), not compiled
 * on its own: it reads with config.c's YAML reader and reports through its
 * sink. Every key of every target type is one row of target_rows: its
 * name, the types that take it, what kind of value it holds, where it goes
 * in hr_target, and the types that require it. One walker reads a
 * target's mapping whatever its type, so a new type is a few rows (and a
 * file under src/deliver/ that renders its messages), not another walker.
 *
 * The type may come after the keys that depend on it ("type" is not
 * always written first), so a target is read in two steps: every key's
 * value is read and kept with its position, then, once the type is known,
 * each is checked against that type's rows and stored. A key that another
 * type takes is reported at its own line and column as not one of this
 * type's.
 */

static const char *const target_type_names[HR_TARGET_NTYPES] = {
    [HR_TARGET_WEBHOOK] = "webhook",       [HR_TARGET_SLACK] = "slack",
    [HR_TARGET_TEAMS] = "teams",           [HR_TARGET_DISCORD] = "discord",
    [HR_TARGET_MATTERMOST] = "mattermost", [HR_TARGET_GOOGLE_CHAT] = "google-chat",
    [HR_TARGET_EMAIL] = "email",
};

const char *hr_target_type_name(hr_target_type type)
{
    return (unsigned)type < HR_TARGET_NTYPES ? target_type_names[type] : "?";
}

#define T_(type) (1u << (type))
#define T_WEBHOOK T_(HR_TARGET_WEBHOOK)
#define T_SERVICES                                                                                 \
    (T_(HR_TARGET_SLACK) | T_(HR_TARGET_TEAMS) | T_(HR_TARGET_DISCORD) |                           \
     T_(HR_TARGET_MATTERMOST) | T_(HR_TARGET_GOOGLE_CHAT))
#define T_EMAIL T_(HR_TARGET_EMAIL)
#define T_ALL (T_WEBHOOK | T_SERVICES | T_EMAIL)

/* What a key's value is, and so how it is checked. */
typedef enum key_kind {
    K_NAME,           /* a target name, unique in the file */
    K_TYPE,           /* one of target_type_names */
    K_URL_TEMPLATE,   /* a URL by the one rule, {{ jq }} after the host */
    K_SECRET_URL,     /* a literal URL that is itself a credential */
    K_URL,            /* a literal URL, not secret */
    K_METHOD,         /* GET, POST, PUT or DELETE */
    K_HEADERS,        /* the webhook's header mapping */
    K_JQ,             /* a jq program */
    K_BOOL,           /* true or false */
    K_SIGNING_SECRET, /* a Standard Webhooks secret */
    K_TEXT,           /* a short string on one line */
    K_SMTP_URL,       /* an smtp:// or smtps:// URL */
    K_SECRET,         /* a secret string (a password) */
    K_ADDRESS,        /* an e-mail address */
    K_ADDRESSES,      /* a list of e-mail addresses (hr_strlist) */
    K_BOOL_ON,        /* true or false, true when not written */
    K_CIRCUIT,        /* the circuit: mapping (route/config_health.c) */
} key_kind;

typedef struct key_row {
    const char *key;
    unsigned types;    /* T_ bits of the types that take the key */
    key_kind kind;     /* the same for every row of one key */
    size_t offset;     /* of the char * (or bool) in hr_target */
    unsigned required; /* T_ bits of the types that require it */
} key_row;

#define AT(field) offsetof(hr_target, field)

/* Every key of every type. A key that means something else for another
 * type (url) has one row per meaning. */
static const key_row target_rows[] = {
    {"name", T_ALL, K_NAME, AT(name), T_ALL},
    {"type", T_ALL, K_TYPE, 0, 0},
    {"url", T_WEBHOOK, K_URL_TEMPLATE, AT(url), T_WEBHOOK},
    {"url", T_SERVICES & ~T_(HR_TARGET_SLACK), K_SECRET_URL, AT(url),
     T_SERVICES & ~T_(HR_TARGET_SLACK)},
    {"url", T_(HR_TARGET_SLACK), K_SECRET_URL, AT(url), 0}, /* or token: check_slack */
    {"token", T_(HR_TARGET_SLACK), K_SECRET, AT(token), 0},
    {"method", T_WEBHOOK, K_METHOD, AT(method), 0},
    {"headers", T_WEBHOOK, K_HEADERS, 0, 0},
    {"body", T_WEBHOOK, K_JQ, AT(body), 0},
    {"body_for_get", T_WEBHOOK, K_BOOL, AT(body_for_get), 0},
    {"signing_secret", T_WEBHOOK, K_SIGNING_SECRET, AT(signing_secret), 0},
    {"api_url", T_SERVICES, K_URL, AT(api_url), 0},
    {"channel", T_(HR_TARGET_MATTERMOST) | T_(HR_TARGET_SLACK), K_TEXT, AT(channel), 0},
    {"username", T_(HR_TARGET_MATTERMOST) | T_(HR_TARGET_DISCORD), K_TEXT, AT(username), 0},
    {"icon_url", T_(HR_TARGET_MATTERMOST) | T_(HR_TARGET_DISCORD), K_URL, AT(icon_url), 0},
    {"title", T_SERVICES | T_EMAIL, K_JQ, AT(title), 0},
    {"text", T_SERVICES | T_EMAIL, K_JQ, AT(text), 0},
    {"smtp", T_EMAIL, K_SMTP_URL, AT(url), T_EMAIL},
    {"starttls", T_EMAIL, K_BOOL_ON, AT(starttls), 0},
    {"username", T_EMAIL, K_TEXT, AT(username), 0},
    {"password", T_EMAIL, K_SECRET, AT(password), 0},
    {"from", T_EMAIL, K_ADDRESS, AT(from), T_EMAIL},
    {"to", T_EMAIL, K_ADDRESSES, AT(to), T_EMAIL},
    {"circuit", T_ALL, K_CIRCUIT, AT(circuit), 0},
};
#define NROWS (sizeof(target_rows) / sizeof(target_rows[0]))

/* The distinct key names, in the table's order (at most 32: the seen
 * mask of known_key). */
#define MAX_TARGET_KEYS 24

/* One key's value, read before the type is known. */
typedef struct slot {
    bool present;
    yaml_mark_t key_mark;
    scalar v;        /* K_HEADERS, K_BOOL, K_ADDRESSES: unused */
    bool b;          /* K_BOOL (a value that is not a boolean is reported, and the load fails) */
    hr_strlist list; /* K_ADDRESSES */
} slot;

static size_t target_key_names(const char **names)
{
    size_t n = 0;
    for (size_t r = 0; r < NROWS; r++) {
        size_t k = 0;
        while (k < n && strcmp(names[k], target_rows[r].key) != 0)
            k++;
        if (k == n)
            names[n++] = target_rows[r].key;
    }
    names[n] = NULL;
    return n;
}

/* The first row of key (its kind is every row's). */
static const key_row *first_row(const char *key)
{
    for (size_t r = 0; r < NROWS; r++)
        if (strcmp(target_rows[r].key, key) == 0)
            return &target_rows[r];
    return NULL;
}

static const key_row *row_for(const char *key, hr_target_type type)
{
    for (size_t r = 0; r < NROWS; r++)
        if (strcmp(target_rows[r].key, key) == 0 && (target_rows[r].types & T_(type)))
            return &target_rows[r];
    return NULL;
}

/* The keys type takes, as "name, type, url, ..." in buf. */
static const char *keys_of(hr_target_type type, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t r = 0; r < NROWS; r++) {
        if (!(target_rows[r].types & T_(type)) ||
            row_for(target_rows[r].key, type) != &target_rows[r])
            continue;
        int w = snprintf(out + used, size - used, "%s%s", used ? ", " : "", target_rows[r].key);
        if (w < 0 || (size_t)w >= size - used)
            break;
        used += (size_t)w;
    }
    return out;
}

static void parse_header(parser *p, const char *path, hr_target *t, const scalar *name)
{
    static const char *const keys[] = {"value", "secret", NULL};
    char hpath[PATH_LEN], kpath[PATH_LEN];
    yaml_mark_t start;
    unsigned seen = 0;
    bool secret = false;
    scalar value = {NULL, 0, {0, 0, 0}}, key;

    sub_path(hpath, sizeof(hpath), path, name->s);
    if (!peek(p))
        return;
    if (p->ev.type != YAML_MAPPING_START_EVENT) {
        if (!read_required(p, hpath, "a string or {value: ..., secret: true}", true, &value))
            return;
    } else {
        begin(p, YAML_MAPPING_START_EVENT, hpath, "a mapping", true, &start);
        while (next_key(p, hpath, &key)) {
            int i = known_key(p, hpath, &key, keys, &seen);
            sub_path(kpath, sizeof(kpath), hpath, i >= 0 ? keys[i] : "");
            if (i == 0)
                read_required(p, kpath, "a string", true, &value);
            else if (i == 1)
                read_bool(p, kpath, &secret);
            free(key.s);
        }
        missing_keys(p, &start, hpath, keys, 1u, seen);
        if (value.s == NULL)
            return;
    }
    secret = secret || header_is_always_secret(name->s);
    if (check_header_value(&p->out, &value.mark, hpath, value.s, value.len) &&
        check_template(&p->out, &value.mark, hpath, value.s, secret))
        header_add(t, name->s, name->len, value.s, value.len, secret);
    free(value.s);
}

static void parse_headers(parser *p, const char *path, hr_target *t)
{
    char brief[BRIEF_LEN];
    yaml_mark_t start;
    scalar name;

    if (begin(p, YAML_MAPPING_START_EVENT, path, "a mapping of header names to values", true,
              &start) != 1)
        return;
    while (next_key(p, path, &name)) {
        long dup;
        if (t->nheaders >= HR_CONFIG_MAX_ITEMS) {
            report(&p->out, &name.mark, path, "at most %d headers are allowed",
                   HR_CONFIG_MAX_ITEMS);
            skip_node(p);
        } else if (!check_header_name(&p->out, &name.mark, path, name.s, name.len)) {
            skip_node(p);
        } else if ((dup = header_index(t, name.s, name.len)) >= 0) {
            report(&p->out, &name.mark, path, "%s is set twice (header names are case-insensitive)",
                   quote(name.s, name.len, brief, sizeof(brief)));
            skip_node(p);
        } else {
            parse_header(p, path, t, &name);
        }
        free(name.s);
    }
}

/* An e-mail address as SMTP's envelope takes it: local@domain, at most 254
 * bytes, with nothing that would break a command line or a header
 * (spaces, control characters, <, >, ",", ";", quotes). */
static bool check_address(const sink *s, const yaml_mark_t *m, const char *path, const char *v,
                          size_t n)
{
    char brief[BRIEF_LEN];
    const char *at = memchr(v, '@', n);
    bool ok = n >= 3 && n <= 254 && at != NULL && at > v && at < v + n - 1 &&
              memchr(at + 1, '@', (size_t)(v + n - at - 1)) == NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)v[i] > 0x20 && v[i] != 0x7f && strchr("<>,;\"()[]\\", v[i]) == NULL;
    if (!ok)
        report(s, m, path, "expected an e-mail address (name@domain); got %s",
               quote(v, n, brief, sizeof(brief)));
    return ok;
}

static bool item_address(parser *p, const char *path, const scalar *item)
{
    return check_address(&p->out, &item->mark, path, item->s, item->len);
}

/* Reads the target's name (v is stolen). */
static void store_name(parser *p, const char *path, size_t idx, scalar *v)
{
    hr_target *t = &p->c->targets[idx];
    char brief[BRIEF_LEN];

    if (!check_name(&p->out, &v->mark, path, v->s, v->len))
        return;
    if (strcmp(v->s, GOCD_NAME) == 0) {
        report(&p->out, &v->mark, path,
               "\"" GOCD_NAME "\" is reserved for the webhook of GoCD's plugin settings");
        return;
    }
    for (size_t j = 0; j < idx; j++)
        if (p->c->targets[j].name != NULL && strcmp(p->c->targets[j].name, v->s) == 0) {
            report(&p->out, &v->mark, path, "%s is already used by targets[%zu]",
                   quote(v->s, v->len, brief, sizeof(brief)), j);
            break;
        }
    t->name = v->s;
    v->s = NULL;
}

/* Checks one key's value by its row and stores it in the target (the
 * slot's string is stolen when kept). */
static void store_value(parser *p, const char *path, size_t idx, const key_row *row, slot *sl)
{
    hr_target *t = &p->c->targets[idx];
    char brief[BRIEF_LEN];
    char **field = (char **)((char *)t + row->offset);
    scalar *v = &sl->v;
    bool ok = false;

    switch (row->kind) {
    case K_NAME:
        store_name(p, path, idx, v);
        return;
    case K_TYPE:
    case K_HEADERS:
    case K_CIRCUIT:
        return;
    case K_BOOL:
    case K_BOOL_ON:
        *(bool *)((char *)t + row->offset) = sl->b;
        return;
    case K_ADDRESSES:
        if (sl->list.n == 0)
            report(&p->out, &sl->key_mark, path, "expected at least one address");
        *(hr_strlist *)((char *)t + row->offset) = sl->list;
        memset(&sl->list, 0, sizeof(sl->list));
        return;
    case K_SMTP_URL:
        ok = check_url(&p->out, &v->mark, path, v->s, v->len, HR_URL_SMTP);
        break;
    case K_SECRET:
        ok = true;
        break;
    case K_ADDRESS:
        ok = check_address(&p->out, &v->mark, path, v->s, v->len);
        break;
    case K_URL_TEMPLATE:
        ok = check_url(&p->out, &v->mark, path, v->s, v->len, HR_URL_TEMPLATES) &&
             check_template(&p->out, &v->mark, path, v->s, false);
        break;
    case K_SECRET_URL:
    case K_URL:
        ok = check_url(&p->out, &v->mark, path, v->s, v->len, 0);
        break;
    case K_METHOD:
        ok = check_method(&p->out, &v->mark, path, v->s, v->len);
        break;
    case K_JQ:
        ok = v->len > 0 && check_jq(&p->out, &v->mark, path, v->s);
        break;
    case K_SIGNING_SECRET:
        ok = check_signing_secret(&p->out, &v->mark, path, v->s, v->len);
        break;
    case K_TEXT:
        ok = v->len > 0 && v->len <= NAME_MAX_LEN && is_utf8(v->s, v->len);
        for (size_t i = 0; ok && i < v->len; i++)
            ok = !is_control((unsigned char)v->s[i]);
        if (!ok)
            report(&p->out, &v->mark, path, "expected 1 to %d characters on one line; got %s",
                   NAME_MAX_LEN, quote(v->s, v->len, brief, sizeof(brief)));
        break;
    }
    if (ok) {
        *field = v->s;
        v->s = NULL;
    }
}

/* Reads one key's value into its slot, by the key's kind. */
static void read_slot(parser *p, const char *path, hr_target *t, const key_row *row, slot *sl)
{
    scalar *v = &sl->v;
    switch (row->kind) {
    case K_HEADERS:
        parse_headers(p, path, t);
        break;
    case K_CIRCUIT:
        parse_circuit(p, path, &t->circuit);
        break;
    case K_BOOL:
    case K_BOOL_ON:
        read_bool(p, path, &sl->b);
        break;
    case K_ADDRESSES:
        read_strlist(p, path, &sl->list, item_address);
        break;
    case K_SMTP_URL:
        read_required(p, path, "an smtp:// or smtps:// URL", false, v);
        break;
    case K_SECRET:
        read_required(p, path, "a string", true, v);
        break;
    case K_ADDRESS:
        read_required(p, path, "an e-mail address", false, v);
        break;
    case K_URL_TEMPLATE:
    case K_SECRET_URL:
    case K_URL:
        read_required(p, path, TARGET_URL_EXPECTED, row->kind != K_URL, v);
        break;
    case K_SIGNING_SECRET:
        read_scalar(p, path, "a string", true, v);
        break;
    case K_NAME:
        read_required(p, path, "a name", false, v);
        break;
    case K_TYPE:
        read_required(p, path, "a target type", false, v);
        break;
    case K_METHOD:
        read_scalar(p, path, "a method", false, v);
        break;
    case K_JQ:
        read_scalar(p, path, "a jq program", false, v);
        break;
    case K_TEXT:
        read_required(p, path, "a string", false, v);
        break;
    }
}

/* The type the slot names, or -1 (reported) when it names none. */
static int read_type(parser *p, const char *path, const slot *sl)
{
    char brief[BRIEF_LEN], list[128];
    if (!sl->present || sl->v.s == NULL)
        return sl->present ? -1 : HR_TARGET_WEBHOOK;
    for (int i = 0; i < HR_TARGET_NTYPES; i++)
        if (eqn(sl->v.s, sl->v.len, target_type_names[i]))
            return i;
    const char *names[HR_TARGET_NTYPES + 1];
    for (int i = 0; i < HR_TARGET_NTYPES; i++)
        names[i] = target_type_names[i];
    names[HR_TARGET_NTYPES] = NULL;
    report(&p->out, &sl->v.mark, path, "unknown target type %s (expected %s)",
           quote(sl->v.s, sl->v.len, brief, sizeof(brief)), join(names, list, sizeof(list)));
    return -1;
}

/* Whether the target's mapping wrote key (valid or not). */
static bool wrote(const char *const *names, size_t nkeys, const slot *slots, const char *key)
{
    for (size_t i = 0; i < nkeys; i++)
        if (strcmp(names[i], key) == 0)
            return slots[i].present;
    return false;
}

/* Slack is connected one of two ways: an incoming webhook (url), or a bot
 * token with the channel it posts to (chat.postMessage). */
static void check_slack(parser *p, const char *path, const char *const *names, size_t nkeys,
                        const slot *slots, const yaml_mark_t *start)
{
    bool url = wrote(names, nkeys, slots, "url"), token = wrote(names, nkeys, slots, "token");
    bool channel = wrote(names, nkeys, slots, "channel");

    if (url && token)
        report(&p->out, start, path,
               "a slack target takes \"url\" (an incoming webhook) or \"token\" and "
               "\"channel\" (a bot), not both");
    else if (!url && !token)
        report(&p->out, start, path,
               "missing required key \"url\" (an incoming webhook), or \"token\" and "
               "\"channel\" (a bot)");
    else if (token && !channel)
        report(&p->out, start, path,
               "missing required key \"channel\" (a bot token posts to a channel)");
    else if (url && channel)
        report(&p->out, start, path,
               "\"channel\" goes with \"token\": an incoming webhook posts to its own channel");
}

static void parse_target(parser *p, const char *path, size_t idx)
{
    hr_target *t = &p->c->targets[idx];
    const char *names[MAX_TARGET_KEYS + 1];
    slot slots[MAX_TARGET_KEYS];
    char kpath[PATH_LEN], list[256];
    size_t nkeys = target_key_names(names);
    yaml_mark_t start;
    unsigned seen = 0;
    scalar key;
    int type, opened = begin(p, YAML_MAPPING_START_EVENT, path, "a mapping", true, &start);

    if (opened < 0)
        return;
    memset(slots, 0, sizeof(slots));
    while (opened == 1 && next_key(p, path, &key)) {
        int i = known_key(p, path, &key, names, &seen);
        if (i >= 0) {
            sub_path(kpath, sizeof(kpath), path, names[i]);
            slots[i].present = true;
            slots[i].key_mark = key.mark;
            read_slot(p, kpath, t, first_row(names[i]), &slots[i]);
        }
        free(key.s);
    }

    /* "type" is the second key name (the table's second row). */
    type = read_type(p, sub_path(kpath, sizeof(kpath), path, "type"), &slots[1]);
    if (type >= 0) {
        t->type = (hr_target_type)type;
        for (size_t i = 0; i < nkeys; i++) {
            const key_row *row = row_for(names[i], t->type);
            sub_path(kpath, sizeof(kpath), path, names[i]);
            if (!slots[i].present)
                continue;
            if (row == NULL)
                report(&p->out, &slots[i].key_mark, kpath,
                       "type %s takes no key \"%s\" (its keys: %s)", target_type_names[type],
                       names[i], keys_of(t->type, list, sizeof(list)));
            else if (slots[i].v.s != NULL || row->kind == K_BOOL || row->kind == K_BOOL_ON ||
                     row->kind == K_ADDRESSES)
                store_value(p, kpath, idx, row, &slots[i]);
        }
        for (size_t r = 0; r < NROWS; r++) {
            const key_row *row = &target_rows[r];
            size_t k = 0;
            while (k < nkeys && strcmp(names[k], row->key) != 0)
                k++;
            if ((row->required & T_(type)) && !slots[k].present)
                report(&p->out, &start, path, "missing required key \"%s\"", row->key);
            if (row->kind == K_BOOL_ON && (row->types & T_(type)) && !slots[k].present)
                *(bool *)((char *)t + row->offset) = true;
        }
        if (t->type == HR_TARGET_SLACK)
            check_slack(p, path, names, nkeys, slots, &start);
    }
    for (size_t i = 0; i < nkeys; i++) {
        free(slots[i].v.s);
        strlist_clear(&slots[i].list);
    }
    if (t->type == HR_TARGET_WEBHOOK && t->method == NULL)
        t->method = hr_strdup("POST");
}

static void parse_targets(parser *p)
{
    hr_config *c = p->c;
    char path[PATH_LEN];
    yaml_mark_t start;
    size_t n = 0;

    if (begin(p, YAML_SEQUENCE_START_EVENT, "targets", "a list of targets", true, &start) != 1)
        return;
    while (next_item(p, "targets", &n, HR_CONFIG_MAX_TARGETS, "targets")) {
        c->targets = hr_realloc(c->targets, (c->ntargets + 1) * sizeof(*c->targets));
        memset(&c->targets[c->ntargets], 0, sizeof(*c->targets));
        snprintf(path, sizeof(path), "targets[%zu]", c->ntargets);
        parse_target(p, path, c->ntargets++);
    }
}

static void target_clear(hr_target *t)
{
    free(t->name);
    free(t->url);
    free(t->method);
    for (size_t i = 0; i < t->nheaders; i++) {
        free(t->headers[i].name);
        free(t->headers[i].value);
    }
    free(t->headers);
    free(t->body);
    free(t->signing_secret);
    free(t->api_url);
    free(t->channel);
    free(t->username);
    free(t->icon_url);
    free(t->token);
    free(t->title);
    free(t->text);
    free(t->password);
    free(t->from);
    strlist_clear(&t->to);
    memset(t, 0, sizeof(*t));
}
