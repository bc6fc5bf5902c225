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
    [HR_TARGET_EMAIL] = "email",           [HR_TARGET_GITHUB] = "github",
    [HR_TARGET_GITLAB] = "gitlab",         [HR_TARGET_BITBUCKET] = "bitbucket",
    [HR_TARGET_PAGERDUTY] = "pagerduty",
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
#define T_COMMIT (T_(HR_TARGET_GITHUB) | T_(HR_TARGET_GITLAB) | T_(HR_TARGET_BITBUCKET))
#define T_PAGERDUTY T_(HR_TARGET_PAGERDUTY)
#define T_STATE (T_COMMIT | T_PAGERDUTY)
#define T_ALL (T_WEBHOOK | T_SERVICES | T_EMAIL | T_STATE)

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
    K_SIGNING_SECRET, /* Standard Webhooks secrets: one, or a list (hr_strlist) */
    K_RATE_LIMIT,     /* "5/s burst 10" (hr_rate_limit) */
    K_TEXT,           /* a short string on one line */
    K_SMTP_URL,       /* an smtp:// or smtps:// URL */
    K_SECRET,         /* a secret string (a password) */
    K_ADDRESS,        /* an e-mail address */
    K_ADDRESSES,      /* a list of recipients (hr_strlist): addresses, templates, culprits */
    K_BOOL_ON,        /* true or false, true when not written */
    K_TEMPLATE,       /* a {{ jq }} template on one line (not a URL) */
    K_HOST,           /* a host name (letters, digits, '.', '-') */
    K_SEVERITY,       /* PagerDuty's: critical, error, warning or info */
    K_FLAG,           /* true or false, into an int */
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
    {"token", T_STATE, K_SECRET, AT(token), T_STATE},
    {"method", T_WEBHOOK, K_METHOD, AT(method), 0},
    {"headers", T_WEBHOOK, K_HEADERS, 0, 0},
    {"body", T_WEBHOOK, K_JQ, AT(body), 0},
    {"body_for_get", T_WEBHOOK, K_BOOL, AT(body_for_get), 0},
    {"signing_secret", T_WEBHOOK, K_SIGNING_SECRET, AT(signing_secrets), 0},
    {"api_url", T_SERVICES | T_STATE, K_URL, AT(api_url), 0},
    {"host", T_COMMIT, K_HOST, AT(host), 0},
    {"repository", T_COMMIT, K_TEXT, AT(repository), 0},
    {"context", T_COMMIT, K_TEMPLATE, AT(context), 0},
    {"dedup_key", T_PAGERDUTY, K_TEMPLATE, AT(context), 0},
    {"summary", T_PAGERDUTY, K_TEMPLATE, AT(summary), 0},
    {"severity", T_PAGERDUTY, K_SEVERITY, AT(severity), 0},
    {"channel", T_(HR_TARGET_MATTERMOST) | T_(HR_TARGET_SLACK), K_TEXT, AT(channel), 0},
    {"username", T_(HR_TARGET_MATTERMOST) | T_(HR_TARGET_DISCORD), K_TEXT, AT(username), 0},
    {"icon_url", T_(HR_TARGET_MATTERMOST) | T_(HR_TARGET_DISCORD), K_URL, AT(icon_url), 0},
    {"thread", T_(HR_TARGET_SLACK), K_BOOL, AT(thread), 0},
    {"edit", T_(HR_TARGET_DISCORD), K_BOOL, AT(edit), 0},
    {"title", T_SERVICES | T_EMAIL, K_JQ, AT(title), 0},
    {"text", T_SERVICES | T_EMAIL, K_JQ, AT(text), 0},
    {"smtp", T_EMAIL, K_SMTP_URL, AT(url), T_EMAIL},
    {"starttls", T_EMAIL, K_BOOL_ON, AT(starttls), 0},
    {"username", T_EMAIL, K_TEXT, AT(username), 0},
    {"password", T_EMAIL, K_SECRET, AT(password), 0},
    {"from", T_EMAIL, K_ADDRESS, AT(from), T_EMAIL},
    {"to", T_EMAIL, K_ADDRESSES, AT(to), T_EMAIL},
    {"subject", T_EMAIL, K_TEMPLATE, AT(subject), 0},
    {"order_by", T_ALL, K_TEMPLATE, AT(order_by), 0},
    {"latest_wins", T_ALL, K_FLAG, AT(latest_wins), 0},
    {"rate_limit", T_ALL, K_RATE_LIMIT, AT(rate_limit), 0},
    {"circuit", T_ALL, K_CIRCUIT, AT(circuit), 0},
};
#define NROWS (sizeof(target_rows) / sizeof(target_rows[0]))

/* The distinct key names, in the table's order (at most 64: the seen
 * mask of known_key). */
#define MAX_TARGET_KEYS 64
_Static_assert(NROWS <= MAX_TARGET_KEYS, "more target keys than the seen mask holds");

/* One key's value, read before the type is known. */
typedef struct slot {
    bool present;
    yaml_mark_t key_mark;
    scalar v;        /* K_HEADERS, K_BOOL, K_ADDRESSES: unused */
    bool b;          /* K_BOOL (a value that is not a boolean is reported, and the load fails) */
    hr_strlist list; /* K_ADDRESSES, K_SIGNING_SECRET */
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
    key_mask seen = 0;
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
    secret = secret || hr_config_header_always_secret(name->s);
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

/* An e-mail address as SMTP's envelope takes it (core/mailaddr.h). */
static bool check_address(const sink *s, const yaml_mark_t *m, const char *path, const char *v,
                          size_t n)
{
    char brief[BRIEF_LEN];
    bool ok = hr_mailaddr_ok(v, n);
    if (!ok)
        report(s, m, path, "expected an e-mail address (name@domain); got %s",
               quote(v, n, brief, sizeof(brief)));
    return ok;
}

/* A recipient: an address, the word culprits (the committers of the
 * build, deliver/people.h), or a template whose output is an address
 * (checked when it is rendered). */
static bool item_recipient(parser *p, const char *path, const scalar *item)
{
    if (eqn(item->s, item->len, HR_RECIPIENT_CULPRITS))
        return true;
    if (memmem(item->s, item->len, "{{", 2) != NULL)
        return check_template(&p->out, &item->mark, path, item->s, false);
    return check_address(&p->out, &item->mark, path, item->s, item->len);
}

/* ---- Rate limits and signing secrets ---------------------------------- */

/* The limits a service documents, used when a target writes no
 * rate_limit (../shared/targets.md): Slack, about one message a second per
 * channel; Google Chat, about one write a second per space; Discord, 30
 * messages a minute per webhook in bursts of 5. The others document none
 * herald can rely on (Teams' Workflows, Mattermost, a webhook, SMTP): their
 * 429s and rate-limit headers slow them down instead (deliver/ratelimit.c). */
static const hr_rate_limit type_rate_defaults[HR_TARGET_NTYPES] = {
    [HR_TARGET_SLACK] = {1, 1000, 1},
    [HR_TARGET_GOOGLE_CHAT] = {1, 1000, 1},
    [HR_TARGET_DISCORD] = {30, 60000, 5},
};

static const struct {
    const char *unit;
    int64_t ms;
} rate_units[] = {{"s", 1000}, {"min", 60000}, {"h", 3600000}};
#define NRATE_UNITS (sizeof(rate_units) / sizeof(rate_units[0]))
/* The most requests (and the largest burst) a limit may name. */
#define RATE_MAX 1000000
#define BURST_WORD " burst "

const char *hr_rate_limit_format(const hr_rate_limit *r, char *out, size_t size)
{
    const char *unit = "s";
    for (size_t i = 0; i < NRATE_UNITS; i++)
        if (rate_units[i].ms == r->per_ms)
            unit = rate_units[i].unit;
    if (r->count <= 0)
        snprintf(out, size, "off");
    else
        snprintf(out, size, "%lld/%s" BURST_WORD "%lld", (long long)r->count, unit,
                 (long long)r->burst);
    return out;
}

/* "N/s", "N/min" or "N/h", with an optional " burst M" (default 1), or
 * "off". False when (v, n) is none of those. */
static bool parse_rate_limit(const char *v, size_t n, hr_rate_limit *out)
{
    size_t i = 0, k = strlen(BURST_WORD);
    uint64_t count, burst = 1;
    const char *slash = memchr(v, '/', n), *end;

    memset(out, 0, sizeof(*out));
    if (eqn(v, n, "off"))
        return true;
    if (slash == NULL || !parse_uint(v, (size_t)(slash - v), RATE_MAX, &count) || count == 0)
        return false;
    end = memchr(slash, ' ', n - (size_t)(slash - v));
    if (end == NULL)
        end = v + n;
    while (i < NRATE_UNITS && !eqn(slash + 1, (size_t)(end - slash - 1), rate_units[i].unit))
        i++;
    if (i == NRATE_UNITS)
        return false;
    if (end < v + n) {
        size_t rest = (size_t)(v + n - end);
        if (rest <= k || memcmp(end, BURST_WORD, k) != 0 ||
            !parse_uint(end + k, rest - k, RATE_MAX, &burst) || burst == 0)
            return false;
    }
    out->count = (int64_t)count;
    out->per_ms = rate_units[i].ms;
    out->burst = (int64_t)burst;
    return true;
}

static bool item_signing_secret(parser *p, const char *path, const scalar *item)
{
    return check_signing_secret(&p->out, &item->mark, path, item->s, item->len);
}

/* Reads one signing secret, or a list of them (a rotation's old and new),
 * into out; null leaves requests unsigned. Values are secret: never
 * quoted in messages. */
static void read_secrets(parser *p, const char *path, hr_strlist *out)
{
    size_t errors = hr_errlist_count(p->out.errs);
    yaml_mark_t start;

    if (!peek(p))
        return;
    start = p->ev.start_mark;
    if (is_null_event(&p->ev)) {
        consume(p);
        return;
    }
    read_list(p, path, out, item_signing_secret, true);
    if (out->n == 0 && hr_errlist_count(p->out.errs) == errors)
        report(&p->out, &start, path,
               "expected at least one secret (leave the key out to send unsigned requests)");
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
    case K_FLAG:
        *(int *)((char *)t + row->offset) = sl->b;
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
        *(hr_strlist *)((char *)t + row->offset) = sl->list;
        memset(&sl->list, 0, sizeof(sl->list));
        return;
    case K_TEMPLATE:
        ok = v->len > 0 && memchr(v->s, '\n', v->len) == NULL;
        if (!ok)
            report(&p->out, &v->mark, path,
                   "expected a template on one line, such as \"{{ .pipeline.name }}\"");
        ok = ok && check_template(&p->out, &v->mark, path, v->s, false);
        break;
    case K_HOST:
        ok = v->len > 0 && v->len < 254;
        for (size_t i = 0; ok && i < v->len; i++)
            ok = (v->s[i] >= 'a' && v->s[i] <= 'z') || (v->s[i] >= 'A' && v->s[i] <= 'Z') ||
                 (v->s[i] >= '0' && v->s[i] <= '9') || v->s[i] == '.' || v->s[i] == '-';
        if (!ok)
            report(&p->out, &v->mark, path, "expected a host name (github.example.com); got %s",
                   quote(v->s, v->len, brief, sizeof(brief)));
        break;
    case K_SEVERITY:
        ok = eqn(v->s, v->len, "critical") || eqn(v->s, v->len, "error") ||
             eqn(v->s, v->len, "warning") || eqn(v->s, v->len, "info");
        if (!ok)
            report(&p->out, &v->mark, path,
                   "expected critical, error, warning or info (PagerDuty's severities); got %s",
                   quote(v->s, v->len, brief, sizeof(brief)));
        break;
    case K_RATE_LIMIT:
        if (!parse_rate_limit(v->s, v->len, (hr_rate_limit *)((char *)t + row->offset)))
            report(&p->out, &v->mark, path,
                   "expected a rate like 5/s, 30/min or 1000/h (\"5/s burst 10\" allows bursts "
                   "of 10), or off; got %s",
                   quote(v->s, v->len, brief, sizeof(brief)));
        return;
    case K_TEXT:
        ok = v->len > 0 && v->len <= NAME_MAX_LEN && is_utf8(v->s, v->len);
        for (size_t i = 0; ok && i < v->len; i++)
            ok = !hr_is_control((unsigned char)v->s[i]);
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
    case K_FLAG:
        read_bool(p, path, &sl->b);
        break;
    case K_ADDRESSES:
        read_strlist(p, path, &sl->list, item_recipient);
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
        read_secrets(p, path, &sl->list);
        break;
    case K_RATE_LIMIT:
        read_required(p, path, "a rate like 5/s", false, v);
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
    case K_TEMPLATE:
        read_required(p, path, "a template", false, v);
        break;
    case K_TEXT:
    case K_HOST:
    case K_SEVERITY:
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
    bool thread = wrote(names, nkeys, slots, "thread");

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
    else if (url && thread)
        report(&p->out, start, path,
               "\"thread\" goes with \"token\": an incoming webhook cannot answer in a thread");
}

static size_t api_url_slot(const char *const *names, size_t nkeys)
{
    size_t i = 0;
    while (i < nkeys && strcmp(names[i], "api_url") != 0)
        i++;
    return i;
}

/* Bitbucket Cloud and Data Center answer at different paths with
 * different bodies; the api_url says which (deliver/svc_bitbucket.c). */
static void check_bitbucket(parser *p, const char *tpath, const char *api_url, const slot *sl)
{
    char path[PATH_LEN];
    size_t n = strlen(api_url);
    while (n > 0 && api_url[n - 1] == '/')
        n--;
    if ((n >= 4 && memcmp(api_url + n - 4, "/2.0", 4) == 0 && strstr(api_url, "/rest/") == NULL) ||
        (n >= 13 && memcmp(api_url + n - 13, "/rest/api/1.0", 13) == 0))
        return;
    sub_path(path, sizeof(path), tpath, "api_url");
    report(&p->out, &sl->key_mark, path,
           "a bitbucket api_url ends with /2.0 (Bitbucket Cloud's API) or /rest/api/1.0 "
           "(Bitbucket Data Center's)");
}

/* latest_wins supersedes within a key's queue: it needs order_by (a
 * type's default counts). */
static void check_order(parser *p, const char *path, const char *const *names, size_t nkeys,
                        const slot *slots, const hr_target *t)
{
    for (size_t i = 0; i < nkeys; i++)
        if (strcmp(names[i], "latest_wins") == 0 && slots[i].present && slots[i].b &&
            t->order_by == NULL && !wrote(names, nkeys, slots, "order_by"))
            report(&p->out, &slots[i].key_mark, path,
                   "latest_wins needs order_by (the key whose newest delivery wins)");
}

static void parse_target(parser *p, const char *path, size_t idx)
{
    hr_target *t = &p->c->targets[idx];
    const char *names[MAX_TARGET_KEYS + 1];
    slot slots[MAX_TARGET_KEYS];
    char kpath[PATH_LEN], list[512];
    size_t nkeys = target_key_names(names);
    yaml_mark_t start;
    key_mask seen = 0;
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
                     row->kind == K_FLAG || row->kind == K_ADDRESSES ||
                     row->kind == K_SIGNING_SECRET)
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
        if (t->type == HR_TARGET_BITBUCKET && t->api_url != NULL)
            check_bitbucket(p, path, t->api_url, &slots[api_url_slot(names, nkeys)]);
        hr_target_state_defaults(t);
        check_order(p, path, names, nkeys, slots, t);
        if (!wrote(names, nkeys, slots, "rate_limit"))
            t->rate_limit = type_rate_defaults[type];
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
    strlist_clear(&t->signing_secrets);
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
    free(t->subject);
    free(t->host);
    free(t->repository);
    free(t->context);
    free(t->summary);
    free(t->severity);
    free(t->order_by);
    memset(t, 0, sizeof(*t));
}
