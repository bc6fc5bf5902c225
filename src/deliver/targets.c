/*
 * targets.c - what the delivery thread keeps per config generation: a
 * private snapshot of the delivery settings (shared by the transfers started
 * under it, which may outlive a reload) and each target's templates,
 * compiled on first use.
 */
#include "core/mem.h"
#include "core/url.h"
#include "deliver/engine.h"
#include "route/jq.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Settings snapshots and compiled targets -------------------------- */

/* The host of url as the guard compares it (no IPv6 brackets, lower
 * case), or NULL with err set when url breaks the one URL rule
 * (core/url.h) read with flags. */
char *hr_deliver__url_host(const char *url, unsigned flags, hr_error *err)
{
    hr_url u;
    if (hr_url_check(url, strlen(url), flags, &u, err) != HR_OK)
        return NULL;
    return hr_url_host(url, &u);
}

static settings_ref *settings_new(const hr_delivery_settings *src)
{
    settings_ref *r = hr_calloc(1, sizeof(*r));
    int per_host = src->connections_per_host > 0 ? src->connections_per_host : 1;
    int in_flight = src->max_in_flight > 0 ? src->max_in_flight : 1;

    r->refs = 1;
    r->s = *src;
    r->s.max_in_flight = in_flight;
    r->s.connections_per_host = per_host;
    r->s.proxy = hr_strdup(src->proxy);
    r->s.allow.items = hr_calloc(src->allow.n, sizeof(char *));
    for (size_t i = 0; i < src->allow.n; i++)
        r->s.allow.items[i] = hr_strdup(src->allow.items[i]);
    if (r->s.proxy != NULL && r->s.proxy[0] != '\0')
        r->proxy_host = hr_deliver__url_host(r->s.proxy, HR_URL_PROXY, NULL);
    /* A quarter of the slots, so one dead target cannot take them all, and
     * no more than connections_per_host: the connections one target may
     * hold to its host at once. */
    r->per_target_cap = in_flight / 4 < per_host ? in_flight / 4 : per_host;
    if (r->per_target_cap < 1)
        r->per_target_cap = 1;
    return r;
}

void hr_deliver__settings_unref(settings_ref *r)
{
    if (r == NULL || --r->refs > 0)
        return;
    free(r->s.proxy);
    for (size_t i = 0; i < r->s.allow.n; i++)
        free(r->s.allow.items[i]);
    free(r->s.allow.items);
    free(r->proxy_host);
    free(r);
}

static void mail_templates_free(compiled *c)
{
    hr_template_free(c->subject);
    for (size_t i = 0; i < c->nto; i++)
        hr_template_free(c->to[i]);
    free(c->to);
    c->subject = NULL;
    c->to = NULL;
    c->nto = 0;
}

static void compiled_free(compiled *c)
{
    if (c == NULL)
        return;
    free(c->name);
    hr_template_free(c->url);
    for (size_t i = 0; i < c->nheaders; i++)
        hr_template_free(c->headers[i]);
    free(c->headers);
    hr_jq_free(c->body);
    hr_jq_free(c->title);
    hr_jq_free(c->text);
    mail_templates_free(c);
    free(c->error);
    free(c);
}

void hr_deliver__cache_clear(hr_deliver *d)
{
    for (size_t i = 0; i < d->ncache; i++)
        compiled_free(d->cache[i]);
    d->ncache = 0;
}

/* Compiles t's templates, or records why not in c->error. A secret
 * header's template is never quoted, not even in jq's message. */
static void compile_target(compiled *c, const hr_target *t)
{
    char msg[HR_ERROR_MSG_MAX + 128];
    hr_error e;

    hr_error_clear(&e);
    /* A service's URL is literal (only a webhook's is a template). */
    if (t->type == HR_TARGET_WEBHOOK &&
        hr_template_compile(t->url ? t->url : "", &c->url, &e) != HR_OK) {
        snprintf(msg, sizeof(msg), "url: %s", e.msg);
        goto fail;
    }
    c->headers = hr_calloc(t->nheaders, sizeof(hr_template *));
    c->nheaders = t->nheaders;
    for (size_t i = 0; i < t->nheaders; i++) {
        const hr_header *h = &t->headers[i];
        if (hr_template_compile(h->value ? h->value : "", &c->headers[i], &e) != HR_OK) {
            if (h->secret)
                snprintf(msg, sizeof(msg), "header %s: its template does not compile", h->name);
            else
                snprintf(msg, sizeof(msg), "header %s: %s", h->name, e.msg);
            goto fail;
        }
    }
    if (t->body != NULL && hr_jq_compile(t->body, &c->body, &e) != HR_OK) {
        snprintf(msg, sizeof(msg), "body: %s", e.msg);
        goto fail;
    }
    if (t->title != NULL && hr_jq_compile(t->title, &c->title, &e) != HR_OK) {
        snprintf(msg, sizeof(msg), "title: %s", e.msg);
        goto fail;
    }
    if (t->text != NULL && hr_jq_compile(t->text, &c->text, &e) != HR_OK) {
        snprintf(msg, sizeof(msg), "text: %s", e.msg);
        goto fail;
    }
    if (t->subject != NULL && hr_template_compile(t->subject, &c->subject, &e) != HR_OK) {
        snprintf(msg, sizeof(msg), "subject: %s", e.msg);
        goto fail;
    }
    c->to = hr_calloc(t->to.n + 1, sizeof(hr_template *));
    c->nto = t->to.n;
    for (size_t i = 0; i < t->to.n; i++)
        if (strstr(t->to.items[i], "{{") != NULL &&
            hr_template_compile(t->to.items[i], &c->to[i], &e) != HR_OK) {
            snprintf(msg, sizeof(msg), "to[%zu]: %s", i, e.msg);
            goto fail;
        }
    return;
fail:
    hr_template_free(c->url);
    c->url = NULL;
    for (size_t i = 0; i < c->nheaders; i++)
        hr_template_free(c->headers[i]);
    free(c->headers);
    c->headers = NULL;
    c->nheaders = 0;
    hr_jq_free(c->body);
    hr_jq_free(c->title);
    hr_jq_free(c->text);
    c->body = c->title = c->text = NULL;
    mail_templates_free(c);
    c->error = hr_strdup(msg);
}

/* Whether a request to t may run jq on the event, and so see its "raw":
 * anything but a webhook with literal URL and headers and the default
 * body (a service's renderer reads the event, never "raw"; its title,
 * text and commit status templates are jq). */
bool hr_deliver__needs_raw(const hr_target *t)
{
    if (t->type != HR_TARGET_WEBHOOK || t->body != NULL || t->title != NULL || t->text != NULL ||
        (t->url != NULL && strstr(t->url, "{{") != NULL))
        return true;
    for (size_t i = 0; i < t->nheaders; i++)
        if (t->headers[i].value != NULL && strstr(t->headers[i].value, "{{") != NULL)
            return true;
    return false;
}

/* The compiled templates of t for the current config (borrowed). */
compiled *hr_deliver__compiled_for(hr_deliver *d, const hr_target *t)
{
    for (size_t i = 0; i < d->ncache; i++)
        if (strcmp(d->cache[i]->name, t->name) == 0)
            return d->cache[i];
    if (d->ncache == d->capcache) {
        d->capcache = d->capcache ? d->capcache * 2 : 8;
        d->cache = hr_realloc(d->cache, d->capcache * sizeof(*d->cache));
    }
    compiled *c = hr_calloc(1, sizeof(*c));
    c->name = hr_strdup(t->name);
    compile_target(c, t);
    d->cache[d->ncache++] = c;
    return c;
}

/* Switches to cfg: a new settings snapshot, templates compiled afresh on
 * first use, and the multi handle's connection limits. */
void hr_deliver__use_config(hr_deliver *d, const hr_config *cfg)
{
    hr_deliver__settings_unref(d->set);
    hr_deliver__cache_clear(d);
    d->cfg = cfg;
    d->set = settings_new(&cfg->delivery);
    /* connections_per_host is applied per target (per_target_cap), not by
     * libcurl per host: targets often share a host (one chat server, one
     * receiver with a path per team), and a request over libcurl's
     * per-host limit waits inside libcurl with its timeout running, so a
     * hung target would hold up every other target on its host by a whole
     * timeout. The total stays bounded by max_in_flight. */
    curl_multi_setopt(d->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    curl_multi_setopt(d->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)d->set->s.max_in_flight);
    curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, (long)d->set->s.max_in_flight);
}
