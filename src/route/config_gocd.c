/*
 * config_gocd.c - GoCD's plugin settings as a target and its routes (what the
 * settings page saved), checked by the same rules as the file.
 *
 * Included by config.c (as config_target.c is): it uses the parser, the
 * sink and the helpers config.c defines, which stay private to it.
 */
/* ---- GoCD's plugin settings ---------------------------------------------- */

/* One settings value as (s, n); a missing key or null is "". Reports a
 * value that is not a string (without showing it: headers are secret). */
static bool setting(const sink *s, const json_t *settings, const char *key, const char **v,
                    size_t *n)
{
    const json_t *j = json_object_get(settings, key);
    *v = "";
    *n = 0;
    if (j == NULL || json_is_null(j))
        return true;
    if (!json_is_string(j)) {
        report(s, NULL, key, "expected a string; got %s", hr_json_type_name(j));
        return false;
    }
    *v = json_string_value(j);
    *n = json_string_length(j);
    if (*n > HR_MAX_SETTING_BYTES) {
        report(s, NULL, key, "longer than %u bytes", HR_MAX_SETTING_BYTES);
        return false;
    }
    return true;
}

/* "Name: value" lines into t's headers, all secret (GoCD keeps the field
 * encrypted). Blank lines are skipped; a line may end with "\r\n". */
static void gocd_headers(const sink *s, hr_target *t, const char *v, size_t n)
{
    char path[64];
    size_t at = 0, line = 0;

    while (at < n) {
        size_t end = at, stop, colon, vs, ve;
        while (end < n && v[end] != '\n')
            end++;
        line++;
        stop = end;
        if (stop > at && v[stop - 1] == '\r')
            stop--;
        snprintf(path, sizeof(path), "webhook_headers line %zu", line);
        for (colon = at; colon < stop && v[colon] != ':'; colon++)
            ;
        if (stop == at) {
            /* a blank line */
        } else if (t->nheaders >= HR_CONFIG_MAX_ITEMS) {
            report(s, NULL, path, "at most %d headers are allowed", HR_CONFIG_MAX_ITEMS);
            return;
        } else if (colon == stop) {
            report(s, NULL, path, "expected \"Name: value\"");
        } else if (check_header_name(s, NULL, path, v + at, colon - at)) {
            for (vs = colon + 1; vs < stop && (v[vs] == ' ' || v[vs] == '\t'); vs++)
                ;
            for (ve = stop; ve > vs && (v[ve - 1] == ' ' || v[ve - 1] == '\t'); ve--)
                ;
            if (header_index(t, v + at, colon - at) >= 0) {
                char brief[BRIEF_LEN];
                report(s, NULL, path, "%s is set twice (header names are case-insensitive)",
                       quote(v + at, colon - at, brief, sizeof(brief)));
            } else if (check_header_value(s, NULL, path, v + vs, ve - vs)) {
                char *value = hr_strndup(v + vs, ve - vs);
                if (check_template(s, NULL, path, value, true))
                    header_add(t, v + at, colon - at, v + vs, ve - vs, true);
                free(value);
            }
        }
        at = end + 1;
    }
}

static void route_add(hr_config *c, const char *name, const char *kind,
                      const hr_strlist *transitions)
{
    hr_route *r;
    c->routes = hr_realloc(c->routes, (c->nroutes + 1) * sizeof(*c->routes));
    r = &c->routes[c->nroutes++];
    memset(r, 0, sizeof(*r));
    r->name = hr_strdup(name);
    strlist_add(&r->sources, hr_strdup(HR_SOURCE_GOCD));
    if (kind != NULL)
        strlist_add(&r->kinds, hr_strdup(kind));
    for (size_t i = 0; transitions != NULL && i < transitions->n; i++)
        strlist_add(&r->transitions, hr_strdup(transitions->items[i]));
    strlist_add(&r->targets, hr_strdup(GOCD_NAME));
}

/* Removes what an earlier call added. */
static void remove_gocd(hr_config *c)
{
    size_t k = 0;
    for (size_t i = 0; i < c->ntargets; i++) {
        if (c->targets[i].from_gocd)
            target_clear(&c->targets[i]);
        else
            c->targets[k++] = c->targets[i];
    }
    c->ntargets = k;
    k = 0;
    for (size_t i = 0; i < c->nroutes; i++) {
        const char *name = c->routes[i].name;
        if (name != NULL && (strcmp(name, GOCD_NAME) == 0 || strcmp(name, GOCD_AGENT_ROUTE) == 0))
            route_clear(&c->routes[i]);
        else
            c->routes[k++] = c->routes[i];
    }
    c->nroutes = k;
}

/* hr_config_add_gocd_settings, reporting to s. */
static int add_gocd_settings(hr_config *c, const json_t *settings, const sink *s)
{
    static const char *const notify_words[] = {"any",       "building", "passed", "failed",
                                               "cancelled", "broken",   "fixed",  "still_failing",
                                               "failing",   "unknown",  "agent",  NULL};
    hr_target t;
    hr_strlist transitions = {NULL, 0};
    const char *url, *method, *headers, *body, *notify;
    size_t url_n, method_n, headers_n, body_n, notify_n, before = hr_errlist_count(s->errs);
    bool any = false, agent = false;
    int rc = HR_EINVAL;

    memset(&t, 0, sizeof(t));
    if (settings == NULL) {
        remove_gocd(c);
        rc = HR_OK;
        goto out;
    }
    if (!json_is_object(settings)) {
        report(s, NULL, NULL, "expected an object; got %s", hr_json_type_name(settings));
        goto out;
    }
    setting(s, settings, "webhook_url", &url, &url_n);
    setting(s, settings, "webhook_method", &method, &method_n);
    setting(s, settings, "webhook_headers", &headers, &headers_n);
    setting(s, settings, "webhook_body", &body, &body_n);
    setting(s, settings, "notify_on", &notify, &notify_n);
    if (hr_errlist_count(s->errs) != before)
        goto out;
    if (url_n == 0) {
        remove_gocd(c);
        rc = HR_OK;
        goto out;
    }

    t.name = hr_strdup(GOCD_NAME);
    t.from_gocd = true;
    if (check_url(s, NULL, "webhook_url", url, url_n, HR_URL_TEMPLATES)) {
        t.url = hr_strndup(url, url_n);
        check_template(s, NULL, "webhook_url", t.url, false);
    }
    if (method_n == 0)
        t.method = hr_strdup("POST");
    else if (check_method(s, NULL, "webhook_method", method, method_n))
        t.method = hr_strndup(method, method_n);
    gocd_headers(s, &t, headers, headers_n);
    if (memchr(body, '\0', body_n) != NULL) {
        report(s, NULL, "webhook_body", "NUL bytes are not allowed");
    } else if (body_n > 0) {
        t.body = hr_strndup(body, body_n);
        check_jq(s, NULL, "webhook_body", t.body);
    }

    /* notify_on: "any" (or nothing) is every GoCD event; "agent" is
     * agent-status events; the other words are stage transitions. */
    for (size_t at = 0; at <= notify_n;) {
        size_t end = at, a, b;
        char brief[BRIEF_LEN];
        while (end < notify_n && notify[end] != ',')
            end++;
        for (a = at; a < end && (notify[a] == ' ' || notify[a] == '\t'); a++)
            ;
        for (b = end; b > a && (notify[b - 1] == ' ' || notify[b - 1] == '\t'); b--)
            ;
        if (b > a && !in_list(notify + a, b - a, notify_words))
            report(s, NULL, "notify_on",
                   "%s is not one of any, building, passed, failed, "
                   "cancelled, broken, fixed, still_failing, failing, unknown, agent",
                   quote(notify + a, b - a, brief, sizeof(brief)));
        else if (eqn(notify + a, b - a, "any"))
            any = true;
        else if (eqn(notify + a, b - a, "agent"))
            agent = true;
        else if (b > a)
            strlist_add(&transitions, hr_strndup(notify + a, b - a));
        at = end + 1;
    }
    if (hr_errlist_count(s->errs) != before)
        goto out;

    remove_gocd(c);
    c->targets = hr_realloc(c->targets, (c->ntargets + 1) * sizeof(*c->targets));
    c->targets[c->ntargets++] = t;
    memset(&t, 0, sizeof(t));
    if (any || (!agent && transitions.n == 0)) {
        route_add(c, GOCD_NAME, NULL, NULL);
    } else if (transitions.n == 0) {
        route_add(c, GOCD_NAME, HR_KIND_AGENT_STATUS, NULL);
    } else {
        route_add(c, GOCD_NAME, HR_KIND_STAGE_STATUS, &transitions);
        if (agent)
            route_add(c, GOCD_AGENT_ROUTE, HR_KIND_AGENT_STATUS, NULL);
    }
    rc = HR_OK;
out:
    target_clear(&t);
    strlist_clear(&transitions);
    return rc;
}

int hr_config_add_gocd_settings(hr_config *c, const json_t *settings, hr_errlist *errs)
{
    hr_errlist scratch = HR_ERRLIST_INIT;
    sink s = {errs != NULL ? errs : &scratch, NULL, NULL};
    int rc = add_gocd_settings(c, settings, &s);
    hr_errlist_clear(&scratch);
    return rc;
}

json_t *hr_config_check_gocd_settings(const json_t *settings)
{
    hr_errlist scratch = HR_ERRLIST_INIT;
    hr_config *c = hr_config_new_default();
    sink s = {&scratch, NULL, json_array()};

    add_gocd_settings(c, settings, &s);
    hr_config_free(c);
    hr_errlist_clear(&scratch);
    return s.keyed;
}
