/*
 * config_json.c - hr_config_to_json: the configuration in use, as GET
 * /api/v1/config shows it, every secret masked.
 *
 * Included by config.c (as config_target.c is): it uses the parser, the
 * sink and the helpers config.c defines, which stay private to it.
 */
/* ---- hr_config_to_json ---------------------------------------------------- */

/* A URL with the password of its user information masked. New. */
static json_t *url_json(const char *url)
{
    const char *scheme, *at, *colon, *end;
    char *masked;
    json_t *j;
    size_t n;

    if (url == NULL)
        return json_null();
    scheme = strstr(url, "://");
    if (scheme == NULL)
        return json_string(url);
    scheme += 3;
    end = scheme + strcspn(scheme, "/?#");
    at = memchr(scheme, '@', (size_t)(end - scheme));
    /* The last '@' of the authority ends the user information. */
    while (at != NULL && memchr(at + 1, '@', (size_t)(end - at - 1)) != NULL)
        at = memchr(at + 1, '@', (size_t)(end - at - 1));
    colon = at != NULL ? memchr(scheme, ':', (size_t)(at - scheme)) : NULL;
    if (colon == NULL)
        return json_string(url);
    n = (size_t)(colon + 1 - url);
    masked = hr_malloc(n + strlen(MASK) + strlen(at) + 1);
    memcpy(masked, url, n);
    memcpy(masked + n, MASK, strlen(MASK));
    memcpy(masked + n + strlen(MASK), at, strlen(at) + 1);
    j = json_string(masked);
    free(masked);
    return j;
}

static json_t *str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

/* A secret as the API shows it: masked when set, null when not. */
static json_t *masked(const char *secret)
{
    return secret != NULL ? json_string(MASK) : json_null();
}

/* Secrets as the API shows them: null for none, one mask for one (as
 * before rotation), a list of masks for several. */
static json_t *masked_list(const hr_strlist *l)
{
    json_t *a;
    if (l->n <= 1)
        return masked(l->n == 1 ? l->items[0] : NULL);
    a = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(a, json_string(MASK));
    return a;
}

static json_t *strlist_json(const hr_strlist *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(a, json_string(l->items[i]));
    return a;
}

json_t *hr_config_to_json(const hr_config *c)
{
    const hr_delivery_settings *d = &c->delivery;
    json_t *targets = json_array(), *routes = json_array();

    for (size_t i = 0; i < c->ntargets; i++) {
        const hr_target *t = &c->targets[i];
        json_t *headers = json_object();
        char rate[64];
        for (size_t k = 0; k < t->nheaders; k++)
            json_object_set_new(headers, t->headers[k].name,
                                json_string(t->headers[k].secret ? MASK : t->headers[k].value));
        /* A service's URL is its credential: shown masked as a whole. */
        json_t *url = t->type == HR_TARGET_WEBHOOK || t->type == HR_TARGET_EMAIL ? url_json(t->url)
                                                                                 : masked(t->url);
        json_t *tj = json_pack(
            "{s:o,s:s,s:o,s:o,s:o,s:o,s:b,s:o,s:b}", "name", str_or_null(t->name), "type",
            hr_target_type_name(t->type), "url", url, "method", str_or_null(t->method), "headers",
            headers, "body", str_or_null(t->body), "body_for_get", t->body_for_get,
            "signing_secret", masked_list(&t->signing_secrets), "from_gocd", t->from_gocd);
        json_object_update_new(tj, json_pack("{s:o,s:b}", "order_by", str_or_null(t->order_by),
                                             "latest_wins", t->latest_wins));
        json_object_set_new(tj, "rate_limit",
                            json_string(hr_rate_limit_format(&t->rate_limit, rate, sizeof(rate))));
        if (t->type == HR_TARGET_EMAIL)
            json_object_update_new(tj, json_pack("{s:b,s:o,s:o,s:o,s:o}", "starttls", t->starttls,
                                                 "username", str_or_null(t->username), "password",
                                                 masked(t->password), "from", str_or_null(t->from),
                                                 "to", strlist_json(&t->to)));
        if (t->type == HR_TARGET_EMAIL)
            json_object_set_new(tj, "subject", str_or_null(t->subject));
        if (t->type != HR_TARGET_WEBHOOK)
            json_object_update_new(tj, json_pack("{s:o,s:o}", "title", str_or_null(t->title),
                                                 "text", str_or_null(t->text)));
        if (t->type == HR_TARGET_SLACK || hr_target_type_is_state(t->type))
            json_object_set_new(tj, "token", masked(t->token));
        if (t->type == HR_TARGET_SLACK)
            json_object_set_new(tj, "thread", json_boolean(t->thread));
        if (t->type == HR_TARGET_DISCORD)
            json_object_set_new(tj, "edit", json_boolean(t->edit));
        if (hr_target_type_is_state(t->type))
            json_object_update_new(
                tj, json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:b}", "host", str_or_null(t->host),
                              "repository", str_or_null(t->repository), "context",
                              str_or_null(t->context), "summary", str_or_null(t->summary),
                              "severity", str_or_null(t->severity), "order_by",
                              str_or_null(t->order_by), "latest_wins", t->latest_wins != 0));
        if (t->type != HR_TARGET_WEBHOOK && t->type != HR_TARGET_EMAIL)
            json_object_update_new(
                tj, json_pack("{s:o,s:o,s:o,s:o}", "api_url", url_json(t->api_url), "channel",
                              str_or_null(t->channel), "username", str_or_null(t->username),
                              "icon_url", url_json(t->icon_url)));
        json_array_append_new(targets, tj);
    }
    for (size_t i = 0; i < c->nroutes; i++) {
        const hr_route *r = &c->routes[i];
        json_t *match =
            json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "source", strlist_json(&r->sources),
                      "kind", strlist_json(&r->kinds), "group", strlist_json(&r->groups),
                      "pipeline", strlist_json(&r->pipelines), "stage", strlist_json(&r->stages),
                      "state", strlist_json(&r->states), "result", strlist_json(&r->results),
                      "transition", strlist_json(&r->transitions));
        json_array_append_new(routes, json_pack("{s:o,s:o,s:o,s:o}", "name", str_or_null(r->name),
                                                "match", match, "filter", str_or_null(r->filter),
                                                "targets", strlist_json(&r->targets)));
    }
    json_t *repos = json_array();
    for (size_t i = 0; i < c->packages.nrepositories; i++) {
        const hr_repository_decl *r = &c->packages.repositories[i];
        json_t *pkgs = json_array();
        for (size_t k = 0; k < r->npackages; k++)
            json_array_append_new(pkgs,
                                  json_pack("{s:o,s:o}", "name", str_or_null(r->packages[k].name),
                                            "token", masked(r->packages[k].token)));
        json_array_append_new(repos, json_pack("{s:o,s:o,s:o}", "name", str_or_null(r->name),
                                               "token", masked(r->token), "packages", pkgs));
    }
    json_t *out = json_pack(
        "{s:o,s:{s:i,s:I,s:I,s:I,s:I,s:I,s:i,s:i,s:o,s:o},s:o,s:o}", "path", str_or_null(c->path),
        "delivery", "max_attempts", d->max_attempts, "backoff_initial_ms",
        (json_int_t)d->backoff_initial_ms, "backoff_max_ms", (json_int_t)d->backoff_max_ms,
        "connect_timeout_ms", (json_int_t)d->connect_timeout_ms, "timeout_ms",
        (json_int_t)d->timeout_ms, "max_response_bytes", (json_int_t)d->max_response_bytes,
        "connections_per_host", d->connections_per_host, "max_in_flight", d->max_in_flight, "proxy",
        url_json(d->proxy), "allow", strlist_json(&d->allow), "targets", targets, "routes", routes);
    json_object_set_new(
        out, "jenkins",
        json_pack("{s:o,s:o,s:o,s:o,s:o}", "token", masked(c->jenkins.token), "tcp",
                  str_or_null(c->jenkins.tcp), "udp", str_or_null(c->jenkins.udp), "redact",
                  c->jenkins.redact_set ? strlist_json(&c->jenkins.redact) : json_string("default"),
                  "keep", strlist_json(&c->jenkins.keep)));
    json_object_set_new(out, "packages",
                        json_pack("{s:o,s:b,s:o}", "token", masked(c->packages.token), "create",
                                  c->packages.create, "repositories", repos));
    json_object_set_new(out, "retention",
                        json_pack("{s:I,s:I,s:I}", "events_ms", (json_int_t)c->retention.events_ms,
                                  "attempts_ms", (json_int_t)c->retention.attempts_ms,
                                  "interval_ms", (json_int_t)c->retention.interval_ms));
    people_json(c, out);
    return out;
}
