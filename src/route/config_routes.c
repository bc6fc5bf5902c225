/*
 * config_routes.c - the routes: section: each route's match (globs, states,
 * results, transitions), its jq filter and its targets.
 *
 * Included by config.c (as config_target.c is): it uses the parser, the
 * sink and the helpers config.c defines, which stay private to it.
 */
static void parse_match(parser *p, const char *path, hr_route *r)
{
    static const char *const keys[] = {"source", "kind",   "group",      "pipeline", "stage",
                                       "state",  "result", "transition", NULL};
    hr_strlist *lists[] = {&r->sources, &r->kinds,  &r->groups,  &r->pipelines,
                           &r->stages,  &r->states, &r->results, &r->transitions};
    item_fn checks[] = {item_word, item_word, item_glob, item_glob,
                        item_glob, item_word, item_word, item_transition};
    char kpath[PATH_LEN];
    yaml_mark_t start;
    key_mask seen = 0;
    scalar key;

    if (begin(p, YAML_MAPPING_START_EVENT, path, "a mapping", false, &start) != 1)
        return;
    while (next_key(p, path, &key)) {
        int i = known_key(p, path, &key, keys, &seen);
        if (i >= 0)
            read_strlist(p, sub_path(kpath, sizeof(kpath), path, keys[i]), lists[i], checks[i]);
        free(key.s);
    }
}

static void parse_route(parser *p, const char *path, size_t idx)
{
    static const char *const keys[] = {"name", "match", "filter", "targets", NULL};
    enum { NAME, MATCH, FILTER, TARGETS };
    hr_route *r = &p->c->routes[idx];
    char kpath[PATH_LEN], brief[BRIEF_LEN];
    yaml_mark_t start;
    key_mask seen = 0;
    scalar key, v;
    int opened = begin(p, YAML_MAPPING_START_EVENT, path, "a mapping", false, &start);

    if (opened < 0)
        return;
    while (opened == 1 && next_key(p, path, &key)) {
        int i = known_key(p, path, &key, keys, &seen);
        sub_path(kpath, sizeof(kpath), path, i >= 0 ? keys[i] : "");
        switch (i) {
        case NAME:
            if (!read_required(p, kpath, "a name", false, &v))
                break;
            if (!check_name(&p->out, &v.mark, kpath, v.s, v.len)) {
                free(v.s);
                break;
            }
            if (strcmp(v.s, GOCD_NAME) == 0 || strcmp(v.s, GOCD_AGENT_ROUTE) == 0) {
                report(&p->out, &v.mark, kpath,
                       "%s is reserved for the routes of GoCD's plugin settings",
                       quote(v.s, v.len, brief, sizeof(brief)));
                free(v.s);
                break;
            }
            for (size_t j = 0; j < idx; j++)
                if (p->c->routes[j].name != NULL && strcmp(p->c->routes[j].name, v.s) == 0) {
                    report(&p->out, &v.mark, kpath, "%s is already used by routes[%zu]",
                           quote(v.s, v.len, brief, sizeof(brief)), j);
                    break;
                }
            r->name = v.s;
            break;
        case MATCH:
            parse_match(p, kpath, r);
            break;
        case FILTER:
            if (!read_scalar(p, kpath, "a jq program", false, &v) || v.s == NULL)
                break;
            if (v.len > 0 && check_jq(&p->out, &v.mark, kpath, v.s))
                r->filter = v.s;
            else
                free(v.s);
            break;
        case TARGETS: {
            size_t refs = p->nrefs, problems = hr_errlist_count(p->out.errs);
            if (!peek(p))
                break;
            v.mark = p->ev.start_mark;
            read_strlist(p, kpath, &r->targets, item_target_ref);
            if (p->nrefs == refs && hr_errlist_count(p->out.errs) == problems)
                report(&p->out, &v.mark, kpath, "expected at least one target name");
            break;
        }
        default:
            break;
        }
        free(key.s);
    }
    missing_keys(p, &start, path, keys, (1u << NAME) | (1u << TARGETS), seen);
}

static void parse_routes(parser *p)
{
    hr_config *c = p->c;
    char path[PATH_LEN];
    yaml_mark_t start;
    size_t n = 0;

    if (begin(p, YAML_SEQUENCE_START_EVENT, "routes", "a list of routes", false, &start) != 1)
        return;
    while (next_item(p, "routes", &n, HR_CONFIG_MAX_ROUTES, "routes")) {
        c->routes = hr_realloc(c->routes, (c->nroutes + 1) * sizeof(*c->routes));
        memset(&c->routes[c->nroutes], 0, sizeof(*c->routes));
        snprintf(path, sizeof(path), "routes[%zu]", c->nroutes);
        parse_route(p, path, c->nroutes++);
    }
}

/* "HOST:PORT" for a listener: an IPv4 address, "[IPv6]" or a host name,
 * and a port from 1 to 65535. */
static bool item_listen(parser *p, const char *path, const scalar *item)
{
    char brief[BRIEF_LEN];
    const char *colon = item->len > 0 ? memrchr(item->s, ':', item->len) : NULL;
    size_t hlen = colon != NULL ? (size_t)(colon - item->s) : 0;
    uint64_t port = 0;
    bool ok = colon != NULL && hlen > 0 &&
              parse_uint(colon + 1, item->len - hlen - 1, 65535, &port) && port > 0;

    if (ok && item->s[0] == '[')
        ok = hlen > 2 && item->s[hlen - 1] == ']';
    else
        ok = ok && is_host_name(item->s, hlen);
    if (!ok)
        report(&p->out, &item->mark, path,
               "expected HOST:PORT (such as 127.0.0.1:8191) or a port (loopback), the port "
               "from 1 to 65535; got %s",
               quote(item->s, item->len, brief, sizeof(brief)));
    return ok;
}

/* A listener's address; a bare port means loopback ("8191" is
 * "127.0.0.1:8191"), since these listeners take no token. */
static void read_listen(parser *p, const char *path, char **out)
{
    uint64_t port;
    scalar v;
    if (!read_scalar(p, path, "HOST:PORT", false, &v) || v.s == NULL)
        return;
    if (parse_uint(v.s, v.len, 65535, &port) && port > 0) {
        size_t n = sizeof("127.0.0.1:") + v.len;
        *out = hr_malloc(n);
        snprintf(*out, n, "127.0.0.1:%s", v.s);
        free(v.s);
    } else if (item_listen(p, path, &v)) {
        *out = v.s;
    } else {
        free(v.s);
    }
}

/* A secret string (a token): never quoted in messages. Empty is refused,
 * so that "${TOKEN}" with TOKEN set to "" cannot open an endpoint. */
static void read_token(parser *p, const char *path, char **out)
{
    scalar v;
    if (!read_scalar(p, path, "a token", true, &v) || v.s == NULL)
        return;
    if (v.len == 0 || v.len > 1024) {
        report(&p->out, &v.mark, path, "expected a token of 1 to 1024 bytes");
        free(v.s);
        return;
    }
    *out = v.s;
}
