/*
 * request.c - the request a delivery sends, rendered on the delivery
 * thread: a webhook's from its templates (URL and header templates, jq
 * body, Standard Webhooks signature), a service's from the event's
 * message (deliver/service.h), an e-mail's SMTP envelope and message; the
 * headers herald adds to every HTTP request, and the address the guard
 * will judge.
 */
#include "core/json.h"
#include "core/log.h"
#include "core/mailaddr.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "core/url.h"
#include "deliver/engine.h"
#include "deliver/message.h"
#include "deliver/service.h"
#include "route/jq.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Standard Webhooks secrets carry this prefix before their base64 key. */
#define WHSEC_PREFIX "whsec_"
#define USER_AGENT "herald/0.1"

/* Headers herald writes itself: a target's header of the same name is
 * dropped, so signatures and message framing stay herald's. */
static bool reserved_header(const char *name)
{
    static const char *const names[] = {
        "webhook-id",     "webhook-timestamp", "webhook-signature", "x-herald-delivery",
        "x-herald-event", "content-length",    "transfer-encoding", "expect"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(name, names[i]) == 0)
            return true;
    return false;
}

static struct curl_slist *append_line(struct curl_slist *l, const char *line)
{
    struct curl_slist *r = curl_slist_append(l, line);
    if (r == NULL)
        hr_oom(strlen(line));
    return r;
}

static struct curl_slist *add_header(struct curl_slist *l, const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *line = hr_malloc(n);
    struct curl_slist *r;

    /* curl drops "Name:" with nothing after it; "Name;" sends it empty. */
    if (value[0] == '\0')
        snprintf(line, n, "%s;", name);
    else
        snprintf(line, n, "%s: %s", name, value);
    r = append_line(l, line);
    free(line);
    return r;
}

/* The HMAC key of a signing secret: the base64 after "whsec_", or the raw
 * bytes. *key is new (cleanse it). */
static int signing_key(const char *secret, unsigned char **key, size_t *len, hr_error *err)
{
    size_t plen = strlen(WHSEC_PREFIX);
    if (strncmp(secret, WHSEC_PREFIX, plen) != 0) {
        *len = strlen(secret);
        *key = (unsigned char *)hr_strndup(secret, *len);
        return HR_OK;
    }
    const char *b64 = secret + plen;
    size_t n = strlen(b64), padded = (n + 3) / 4 * 4, pad = 0;
    char *in = hr_malloc(padded + 1);
    unsigned char *out = hr_malloc(padded / 4 * 3 + 1);
    memcpy(in, b64, n);
    memset(in + n, '=', padded - n);
    in[padded] = '\0';
    for (size_t i = padded; i > 0 && in[i - 1] == '=' && pad < 2; i--)
        pad++;
    int got = padded > 0 ? EVP_DecodeBlock(out, (const unsigned char *)in, (int)padded) : 0;
    OPENSSL_cleanse(in, padded);
    free(in);
    if (got < 0 || (size_t)got < pad || n % 4 == 1) {
        OPENSSL_cleanse(out, padded / 4 * 3 + 1);
        free(out);
        return hr_error_set(err, HR_EINVAL,
                            "the signing secret starts with " WHSEC_PREFIX
                            " but the rest is not base64");
    }
    *key = out;
    *len = (size_t)got - pad;
    return HR_OK;
}

/* Adds webhook-timestamp and webhook-signature (Standard Webhooks): one
 * "v1,<base64>" per secret, space-separated, so a receiver that knows
 * either the old or the new secret of a rotation verifies the request. */
static int sign(struct curl_slist **headers, const hr_strlist *secrets, const char *webhook_id,
                int64_t now_s, const char *body, size_t body_len, hr_error *err)
{
    unsigned char *key = NULL, mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
    char ts[32];
    size_t keylen = 0, idlen = strlen(webhook_id), tslen, n, used = 0;
    size_t room = secrets->n * (sizeof(b64) + 4) + 1;
    char *content = NULL, *sig = hr_malloc(room);
    int rc = HR_OK;

    snprintf(ts, sizeof(ts), "%lld", (long long)now_s);
    tslen = strlen(ts);
    n = idlen + 1 + tslen + 1 + body_len;
    content = hr_malloc(n);
    memcpy(content, webhook_id, idlen);
    content[idlen] = '.';
    memcpy(content + idlen + 1, ts, tslen);
    content[idlen + 1 + tslen] = '.';
    if (body_len > 0)
        memcpy(content + idlen + tslen + 2, body, body_len);
    sig[0] = '\0';
    for (size_t i = 0; i < secrets->n; i++) {
        rc = signing_key(secrets->items[i], &key, &keylen, err);
        if (rc != HR_OK)
            goto out;
        if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)content, n, mac, &maclen) ==
            NULL)
            rc = hr_error_set(err, HR_EINVAL, "cannot compute the HMAC-SHA256 signature");
        OPENSSL_cleanse(key, keylen);
        free(key);
        key = NULL;
        if (rc != HR_OK)
            goto out;
        EVP_EncodeBlock(b64, mac, (int)maclen);
        used += (size_t)snprintf(sig + used, room - used, "%sv1,%s", i > 0 ? " " : "",
                                 (const char *)b64);
    }
    *headers = add_header(*headers, "webhook-timestamp", ts);
    *headers = add_header(*headers, "webhook-signature", sig);
out:
    free(sig);
    free(content);
    return rc;
}

/* The method as sent, or NULL when the config names another. */
static const char *canonical_method(const char *m)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE"};
    if (m == NULL)
        return "POST";
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcasecmp(m, methods[i]) == 0)
            return methods[i];
    return NULL;
}

/* The body: the target's program's first output (a string as is, anything
 * else as compact JSON), or the input without "raw": the claim's copy of
 * it when it made one (spliced from the stored document), else written
 * from the input. */
static int render_body(compiled *c, const hr_delivery_job *job, char **body, size_t *len,
                       hr_error *err)
{
    const json_t *input = job->input;
    json_t *v = NULL;
    char *text;
    int rc;

    if (c->body == NULL && job->body != NULL) {
        *body = hr_strndup(job->body, job->body_len);
        *len = job->body_len;
        return HR_OK;
    }
    if (c->body != NULL) {
        hr_error e;
        rc = hr_jq_run(c->body, input, &v, &e);
        if (rc == HR_ENOTFOUND)
            return hr_error_set(err, HR_EINVAL, "body: the jq program gave no output");
        if (rc != HR_OK)
            return hr_error_set(err, HR_EINVAL, "body: %s", e.msg);
        if (json_is_string(v)) {
            *len = json_string_length(v);
            *body = hr_strndup(json_string_value(v), *len);
            json_decref(v);
            return HR_OK;
        }
    } else if (json_is_object(input)) {
        v = json_copy((json_t *)input); /* shallow: only the top level is new */
        if (v == NULL)
            hr_oom(sizeof(json_t));
        json_object_del(v, "raw");
    } else {
        v = json_incref((json_t *)input);
    }
    text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    if (text == NULL)
        return hr_error_set(err, HR_EINVAL, "body: the value cannot be written as JSON");
    *len = strlen(text);
    *body = text;
    return HR_OK;
}

/* The rendered URL meets the one rule too (a webhook's templates were
 * checked as templates, a service's URL as written); what breaks it is
 * never sent. The guard compares delivery.allow names with its host, or
 * with the proxy's: with a proxy, libcurl connects to the proxy. */
static int set_guard_host(hr_deliver *d, xfer *x, const char *url, hr_error *err)
{
    x->guard_host = hr_deliver__url_host(url, x->smtp ? HR_URL_SMTP : 0, err);
    if (x->guard_host == NULL)
        return HR_EINVAL;
    if (!x->smtp && d->set->s.proxy != NULL && d->set->s.proxy[0] != '\0') {
        free(x->guard_host);
        x->guard_host = hr_strdup(d->set->proxy_host);
    }
    return HR_OK;
}

/* Adds the headers every request carries (and the signature, with a
 * secret), and sets the easy handle's URL, method and body. */
static int finish_request(xfer *x, const hr_delivery_job *job, const char *url, const char *method,
                          bool send_body, const hr_strlist *secrets, hr_error *err)
{
    char webhook_id[48], num[32];

    /* "Expect:" with no value stops curl's 100-continue round trip. */
    x->headers = append_line(x->headers, "Expect:");
    snprintf(webhook_id, sizeof(webhook_id), "herald-%lld", (long long)job->id);
    x->headers = add_header(x->headers, "webhook-id", webhook_id);
    snprintf(num, sizeof(num), "%lld", (long long)job->id);
    x->headers = add_header(x->headers, "X-Herald-Delivery", num);
    snprintf(num, sizeof(num), "%lld", (long long)job->event_id);
    x->headers = add_header(x->headers, "X-Herald-Event", num);
    if (secrets != NULL && secrets->n > 0) {
        int rc = sign(&x->headers, secrets, webhook_id, hr_time_now_ms() / 1000, x->body,
                      x->body_len, err);
        if (rc != HR_OK)
            return rc;
    }
    curl_easy_setopt(x->easy, CURLOPT_URL, url);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(x->easy, CURLOPT_POST, 1L);
    else
        curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, method);
    if (send_body) {
        curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len);
        curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
    }
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
    return HR_OK;
}

/*
 * Renders job's request for target t into x (url, headers, body, the
 * guard's host) and the easy handle's method and URL. On failure returns
 * HR_EINVAL with a message naming the part (never a secret value).
 */
int hr_deliver__render(hr_deliver *d, const hr_target *t, compiled *c, const hr_delivery_job *job,
                       xfer *x, hr_error *err)
{
    const json_t *input = job->input;
    const char *method = canonical_method(t->method);
    char *url = NULL, *value = NULL;
    bool has_type = false, has_agent = false, send_body;
    hr_error e;
    int rc;

    if (c->error != NULL)
        return hr_error_set(err, HR_EINVAL, "%s", c->error);
    if (method == NULL)
        return hr_error_set(err, HR_EINVAL, "the method %s is not supported", t->method);
    if (input == NULL && job->body == NULL)
        return hr_error_set(err, HR_EINVAL, "the delivery has no event");

    /* Without input (the claim's no_raw), the URL and headers are literal:
     * rendering them reads no event. */
    if (hr_template_render(c->url, input, true, &url, &e) != HR_OK) {
        rc = hr_error_set(err, HR_EINVAL, "url: %s", e.msg);
        goto out;
    }
    if (set_guard_host(d, x, url, &e) != HR_OK) {
        rc = hr_error_set(err, HR_EINVAL, "url: %s", e.msg);
        goto out;
    }

    for (size_t i = 0; i < t->nheaders; i++) {
        const hr_header *h = &t->headers[i];
        if (reserved_header(h->name))
            continue;
        if (hr_template_render(c->headers[i], input, false, &value, &e) != HR_OK) {
            if (h->secret)
                rc = hr_error_set(err, HR_EINVAL, "header %s: its template failed", h->name);
            else
                rc = hr_error_set(err, HR_EINVAL, "header %s: %s", h->name, e.msg);
            goto out;
        }
        if (strpbrk(value, "\r\n") != NULL) {
            rc = hr_error_set(err, HR_EINVAL, "header %s: the value holds a line break", h->name);
            goto out;
        }
        has_type = has_type || strcasecmp(h->name, "Content-Type") == 0;
        has_agent = has_agent || strcasecmp(h->name, "User-Agent") == 0;
        x->headers = add_header(x->headers, h->name, value);
        free(value);
        value = NULL;
    }

    send_body = t->body_for_get || (strcmp(method, "GET") != 0 && strcmp(method, "DELETE") != 0);
    if (send_body) {
        rc = render_body(c, job, &x->body, &x->body_len, err);
        if (rc != HR_OK)
            goto out;
        if (!has_type)
            x->headers = add_header(x->headers, "Content-Type", "application/json");
    }
    if (!has_agent)
        x->headers = add_header(x->headers, "User-Agent", USER_AGENT);
    rc = finish_request(x, job, url, method, send_body, &t->signing_secrets, err);
out:
    free(value);
    free(url);
    return rc;
}

/* Runs a target's message part program (what names it: "title") into
 * *out (replaced; new): its first output, which must be a string. No
 * output leaves *out as it is when optional (a text), and fails if not. */
static int message_part(hr_jq *q, const char *what, bool optional, const json_t *input, char **out,
                        hr_error *err)
{
    json_t *v = NULL;
    hr_error e;
    int rc = hr_jq_run(q, input, &v, &e);

    if (rc == HR_ENOTFOUND && optional)
        return HR_OK;
    if (rc == HR_ENOTFOUND)
        return hr_error_set(err, HR_EINVAL, "%s: the jq program gave no output", what);
    if (rc != HR_OK)
        return hr_error_set(err, HR_EINVAL, "%s: %s", what, e.msg);
    if (!json_is_string(v)) {
        json_decref(v);
        return hr_error_set(err, HR_EINVAL, "%s: the jq program must give a string", what);
    }
    free(*out);
    *out = hr_strndup(json_string_value(v), json_string_length(v));
    json_decref(v);
    return HR_OK;
}

/* libcurl reads an e-mail's message from x->body. */
static size_t on_read(char *p, size_t size, size_t nmemb, void *arg)
{
    xfer *x = arg;
    size_t n = size * nmemb, left = x->body_len - x->sent;
    if (n > left)
        n = left;
    memcpy(p, x->body + x->sent, n);
    x->sent += n;
    return n;
}

/* Sets up an e-mail's SMTP transfer: the envelope, the login, TLS (an
 * smtps:// URL is TLS from the start; smtp:// upgrades with STARTTLS,
 * required unless the target says starttls: false), and the message. No
 * proxy: delivery.proxy is an HTTP proxy, and the guard judges the mail
 * server's own address. */
static void smtp_request(const hr_target *t, const hr_svc_request *req, xfer *x)
{
    curl_easy_setopt(x->easy, CURLOPT_URL, req->url);
    curl_easy_setopt(x->easy, CURLOPT_MAIL_FROM, req->mail_from);
    for (size_t i = 0; i < req->rcpt.n; i++)
        x->rcpt = append_line(x->rcpt, req->rcpt.items[i]);
    curl_easy_setopt(x->easy, CURLOPT_MAIL_RCPT, x->rcpt);
    if (t->username != NULL)
        curl_easy_setopt(x->easy, CURLOPT_USERNAME, t->username);
    if (t->password != NULL)
        curl_easy_setopt(x->easy, CURLOPT_PASSWORD, t->password);
    curl_easy_setopt(x->easy, CURLOPT_USE_SSL,
                     t->starttls ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_NONE);
    curl_easy_setopt(x->easy, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(x->easy, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(x->easy, CURLOPT_READDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->body_len);
}

/* The event as a service's message reads it: with GoCD's modifications of
 * the run (gocd_lookup.h) as .gocd.modifications when the lookup found
 * them. New reference. */
static json_t *message_input(const json_t *event, json_t *mods)
{
    if (mods == NULL || !json_is_object(event))
        return json_incref((json_t *)event);
    json_t *input = json_copy((json_t *)event); /* shallow: only the top level is new */
    json_t *gocd = json_object_get(input, "gocd");
    gocd = json_is_object(gocd) ? json_copy(gocd) : json_object();
    if (input == NULL || gocd == NULL)
        hr_oom(sizeof(json_t));
    json_object_set(gocd, "modifications", mods);
    json_object_set_new(input, "gocd", gocd);
    return input;
}

/* Adds the address (s, n) to list unless it is there (case-insensitive). */
static void add_recipient(hr_strlist *list, const char *s, size_t n)
{
    for (size_t i = 0; i < list->n; i++)
        if (strlen(list->items[i]) == n && strncasecmp(list->items[i], s, n) == 0)
            return;
    list->items = hr_realloc(list->items, (list->n + 1) * sizeof(char *));
    list->items[list->n++] = hr_strndup(s, n);
}

/* An e-mail's recipients: each item of the target's to as written, as its
 * template renders it (which must give one address: core/mailaddr.h), or,
 * for "culprits", the committers' addresses (people.h). No recipient at
 * all is a failure (a passed run may name no committer with an address).
 * *to is new. */
static int render_recipients(const hr_target *t, compiled *c, const json_t *input,
                             const hr_message *m, const hr_svc_context *ctx, hr_strlist *to,
                             hr_error *err)
{
    char *v = NULL;
    hr_error e;

    memset(to, 0, sizeof(*to));
    for (size_t i = 0; i < t->to.n; i++) {
        const char *item = t->to.items[i];
        if (i < c->nto && c->to[i] != NULL) {
            if (hr_template_render(c->to[i], input, false, &v, &e) != HR_OK) {
                hr_error_set(err, HR_EINVAL, "to[%zu]: %s", i, e.msg);
                goto fail;
            }
            if (!hr_mailaddr_ok(v, strlen(v))) {
                hr_error_set(err, HR_EINVAL, "to[%zu]: the template gave no e-mail address", i);
                goto fail;
            }
            add_recipient(to, v, strlen(v));
            free(v);
            v = NULL;
        } else if (strcmp(item, HR_RECIPIENT_CULPRITS) == 0) {
            for (size_t k = 0; k < m->ncommitters; k++) {
                const hr_committer *who = &m->committers[k];
                const char *a =
                    hr_people_email(who, hr_people_find(ctx->people, ctx->npeople, who));
                if (a != NULL)
                    add_recipient(to, a, strlen(a));
            }
        } else {
            add_recipient(to, item, strlen(item));
        }
    }
    if (to->n > 0)
        return HR_OK;
    hr_error_set(err, HR_EINVAL, "no recipient: the run names no committer with an address");
fail:
    free(v);
    for (size_t i = 0; i < to->n; i++)
        free(to->items[i]);
    free(to->items);
    memset(to, 0, sizeof(*to));
    return HR_EINVAL;
}

/*
 * Renders job's request for a service's target (deliver/service.h): the
 * service builds URL, method and body from the event's message; the
 * engine adds its own headers, as for a webhook. mods (borrowed, may be
 * NULL) are the run's modifications from GoCD (gocd_lookup.h).
 */
int hr_deliver__render_service(hr_deliver *d, const hr_target *t, compiled *c,
                               const hr_delivery_job *job, json_t *mods, xfer *x, hr_error *err)
{
    hr_svc_request req = {0};
    hr_svc_context ctx = {.delivery_id = job->id,
                          .now_ms = hr_time_now_ms(),
                          .people = d->cfg->people,
                          .npeople = d->cfg->npeople,
                          .run_ref = job->run_ref,
                          .event = job->input,
                          .subject = job->subject};
    hr_strlist to = {0};
    json_t *input = NULL;
    hr_message m;
    hr_error e;
    int rc;

    if (job->input == NULL)
        return hr_error_set(err, HR_EINVAL, "the delivery has no event");
    if (c->error != NULL)
        return hr_error_set(err, HR_EINVAL, "%s", c->error);
    input = message_input(job->input, mods);
    rc = hr_message_from_event(input, &m, err);
    if (rc != HR_OK) {
        json_decref(input);
        return rc;
    }
    if (job->run_key != NULL) {
        /* The store's run (hr_event_run_key) is the one its messages are kept under. */
        free(m.run);
        m.run = hr_strdup(job->run_key);
    }
    if (c->title != NULL)
        rc = message_part(c->title, "title", false, input, &m.title, err);
    if (rc == HR_OK && c->text != NULL)
        rc = message_part(c->text, "text", true, input, &m.text, err);
    if (m.title != NULL)
        m.title = hr_msg_cut(m.title, HR_MSG_TITLE_MAX);
    if (m.text != NULL)
        m.text = hr_msg_cut(m.text, HR_MSG_TEXT_MAX);
    if (rc == HR_OK && c->subject != NULL) {
        free(m.subject);
        m.subject = NULL;
        if (hr_template_render(c->subject, input, false, &m.subject, &e) != HR_OK)
            rc = hr_error_set(err, HR_EINVAL, "subject: %s", e.msg);
    } else if (rc == HR_OK && c->title != NULL) {
        /* The target's own title is its subject too. */
        free(m.subject);
        m.subject = hr_strdup(m.title);
    }
    if (rc == HR_OK && t->type == HR_TARGET_EMAIL) {
        rc = render_recipients(t, c, input, &m, &ctx, &to, err);
        ctx.to = &to;
    }
    if (rc == HR_OK)
        rc = x->svc->render(t, &m, &ctx, &req, err);
    hr_message_clear(&m);
    json_decref(input);
    for (size_t i = 0; i < to.n; i++)
        free(to.items[i]);
    free(to.items);
    if (rc == HR_OK && req.skip != NULL)
        rc = hr_error_set(err, HR_ENOTFOUND, "%s", req.skip); /* start_job: skipped */
    if (rc != HR_OK)
        goto out;
    x->smtp = req.mail_from != NULL;
    rc = set_guard_host(d, x, req.url, &e);
    if (rc != HR_OK) {
        rc = hr_error_set(err, HR_EINVAL, "url: %s", e.msg);
        goto out;
    }
    x->body = req.body;
    x->body_len = req.body_len;
    req.body = NULL;
    x->sent_ref = req.ref;
    req.ref = NULL;
    if (x->smtp) {
        smtp_request(t, &req, x);
        goto out;
    }
    x->headers = add_header(x->headers, "Content-Type", req.content_type);
    if (req.authorization != NULL)
        x->headers = add_header(x->headers, "Authorization", req.authorization);
    for (size_t i = 0; i < req.headers.n; i++)
        x->headers = append_line(x->headers, req.headers.items[i]);
    x->headers = add_header(x->headers, "User-Agent", USER_AGENT);
    rc = finish_request(x, job, req.url, req.method, true, NULL, err);
out:
    hr_svc_request_clear(&req);
    return rc;
}
