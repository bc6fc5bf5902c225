/*
 * svc_email.c - e-mail over SMTP (libcurl's smtp:// and smtps://).
 *
 * The message (RFC 5322, CRLF lines): a multipart/alternative with the
 * same message as plain text and as HTML (a table with a colour bar),
 * both parts in base64 so no line is ever too long and any UTF-8 passes
 * any server; a subject "[herald] deploy #42 broken (test)", or the
 * target's subject template's line, or its title (RFC 2047
 * encoded when it is not ASCII); a Message-ID stable per delivery
 * (<herald.d<delivery id>@<the sender's domain>>), so a retry that a
 * server had already accepted reads as the same message. The run's first
 * message's Message-ID is kept by the store (req->ref); the run's later
 * messages name it in In-Reply-To and References, so mail clients thread
 * a pipeline run's messages under its first one, across restarts.
 *
 * Answers: the engine passes the server's last reply code as the status.
 * 2yz delivers; 4yz is transient (retry, RFC 5321); 5yz is final. No reply
 * at all (a connection or TLS failure) is retried by the engine.
 */
#include "deliver/service.h"

#include "core/mem.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SUBJECT_MAX 200
#define B64_LINE 76

/* A growing string; every append aborts on out of memory (hr_realloc). */
typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void add(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = hr_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void adds(sbuf *b, const char *s)
{
    add(b, s, strlen(s));
}

/* Adds s (new, stolen). */
static void addf(sbuf *b, char *s)
{
    adds(b, s);
    free(s);
}

/* Adds (s, n) as base64 in lines of 76 characters. */
static void add_base64(sbuf *b, const char *s, size_t n)
{
    for (size_t at = 0; at < n; at += B64_LINE / 4 * 3) {
        unsigned char out[B64_LINE + 1];
        size_t k = n - at < B64_LINE / 4 * 3 ? n - at : B64_LINE / 4 * 3;
        int w = EVP_EncodeBlock(out, (const unsigned char *)s + at, (int)k);
        add(b, (const char *)out, (size_t)w);
        adds(b, "\r\n");
    }
}

/* Whether s is a msg-id as this file writes them: <...@...>, printable
 * ASCII without spaces, so a stored one cannot break a header. */
static bool msg_id(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n < 5 || n > 250 || s[0] != '<' || s[n - 1] != '>' || strchr(s, '@') == NULL)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

static void subject(sbuf *b, const hr_message *m)
{
    char *s = hr_msg_fmt("[herald] %s", m->subject != NULL ? m->subject : m->title);
    /* A template's line breaks would end the header. */
    for (char *c = s; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = ' ';
    size_t n = strlen(s);
    bool ascii = true;

    if (n > SUBJECT_MAX) {
        n = SUBJECT_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    for (size_t i = 0; i < n; i++)
        ascii = ascii && (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f;
    adds(b, "Subject: ");
    if (ascii) {
        add(b, s, n);
    } else {
        /* One encoded word per 45 bytes of text (60 of base64), each
         * ending on a character, folded onto its own line. */
        size_t at = 0;
        while (at < n) {
            size_t k = n - at < 45 ? n - at : 45;
            while (k > 0 && at + k < n && ((unsigned char)s[at + k] & 0xC0) == 0x80)
                k--;
            unsigned char out[64];
            int w = EVP_EncodeBlock(out, (const unsigned char *)s + at, (int)k);
            addf(b, hr_msg_fmt("%s=?UTF-8?B?%.*s?=", at ? "\r\n " : "", w, (const char *)out));
            at += k;
        }
    }
    adds(b, "\r\n");
    free(s);
}

static char *text_part(const hr_message *m)
{
    sbuf b = {0};
    addf(&b, hr_msg_fmt("%s\r\n\r\n", m->title));
    if (m->text != NULL)
        addf(&b, hr_msg_fmt("%s\r\n\r\n", m->text));
    for (size_t i = 0; i < m->nfacts; i++)
        addf(&b, hr_msg_fmt("%s: %s\r\n", m->facts[i].label, m->facts[i].value));
    if (m->url != NULL)
        addf(&b, hr_msg_fmt("\r\n%s\r\n", m->url));
    adds(&b, "\r\n-- \r\nherald\r\n");
    return b.p;
}

static char *html_part(const hr_message *m)
{
    sbuf b = {0};
    char *title = hr__svc_escape(m->title, true);

    addf(&b, hr_msg_fmt("<!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\"><title>%s</title>"
                        "</head>\r\n<body style=\"font-family:sans-serif;color:#1d1c1d\">\r\n"
                        "<table style=\"border-left:6px solid %s;padding:4px 14px\"><tr><td>\r\n",
                        title, hr_tone_hex(m->tone)));
    if (m->url != NULL) {
        char *url = hr__svc_escape(m->url, true);
        addf(&b,
             hr_msg_fmt("<h2 style=\"margin:0 0 8px\"><a href=\"%s\">%s</a></h2>\r\n", url, title));
        free(url);
    } else {
        addf(&b, hr_msg_fmt("<h2 style=\"margin:0 0 8px\">%s</h2>\r\n", title));
    }
    if (m->text != NULL) {
        char *text = hr__svc_escape(m->text, true);
        addf(&b, hr_msg_fmt("<p style=\"white-space:pre-wrap\">%s</p>\r\n", text));
        free(text);
    }
    adds(&b, "<table style=\"border-collapse:collapse\">\r\n");
    for (size_t i = 0; i < m->nfacts; i++) {
        char *label = hr__svc_escape(m->facts[i].label, true);
        char *value = hr__svc_escape(m->facts[i].value, true);
        addf(&b, hr_msg_fmt("<tr><th style=\"text-align:left;padding:2px 12px 2px 0;"
                            "vertical-align:top\">%s</th><td>%s</td></tr>\r\n",
                            label, value));
        free(label);
        free(value);
    }
    adds(&b, "</table>\r\n<p style=\"color:#868686;font-size:small\">herald</p>\r\n"
             "</td></tr></table>\r\n</body></html>\r\n");
    free(title);
    return b.p;
}

static int render(const hr_target *t, const hr_message *m, const hr_svc_context *ctx,
                  hr_svc_request *req, hr_error *err)
{
    const char *domain = strrchr(t->from, '@') + 1; /* config.c checked the address */
    const hr_strlist *to = ctx->to != NULL ? ctx->to : &t->to;
    char date[64], boundary[64];
    time_t now = (time_t)(ctx->now_ms / 1000);
    struct tm tm;
    sbuf b = {0};

    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    snprintf(boundary, sizeof(boundary), "herald-%lld-alt", (long long)ctx->delivery_id);

    addf(&b, hr_msg_fmt("From: herald <%s>\r\nTo: ", t->from));
    for (size_t i = 0; i < to->n; i++)
        addf(&b, hr_msg_fmt("%s%s", i ? ",\r\n " : "", to->items[i]));
    adds(&b, "\r\n");
    subject(&b, m);
    char *id = hr_msg_fmt("<herald.d%lld@%s>", (long long)ctx->delivery_id, domain);
    const char *first = hr__svc_ref(ctx->run_ref, "message_id");
    addf(&b, hr_msg_fmt("Date: %s\r\nMessage-ID: %s\r\n", date, id));
    if (msg_id(first) && strcmp(first, id) != 0)
        addf(&b, hr_msg_fmt("In-Reply-To: %s\r\nReferences: %s\r\n", first, first));
    req->ref = json_pack("{s:s}", "message_id", id);
    free(id);
    addf(&b, hr_msg_fmt("MIME-Version: 1.0\r\nAuto-Submitted: auto-generated\r\n"
                        "X-Herald-Delivery: %lld\r\nContent-Type: multipart/alternative; "
                        "boundary=\"%s\"\r\n\r\n",
                        (long long)ctx->delivery_id, boundary));
    char *text = text_part(m), *html = html_part(m);
    addf(&b, hr_msg_fmt("--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                        "Content-Transfer-Encoding: base64\r\n\r\n",
                        boundary));
    add_base64(&b, text, strlen(text));
    addf(&b, hr_msg_fmt("--%s\r\nContent-Type: text/html; charset=utf-8\r\n"
                        "Content-Transfer-Encoding: base64\r\n\r\n",
                        boundary));
    add_base64(&b, html, strlen(html));
    addf(&b, hr_msg_fmt("--%s--\r\n", boundary));
    free(text);
    free(html);

    req->url = hr_strdup(t->url);
    req->body = b.p;
    req->body_len = b.n;
    req->mail_from = hr_strdup(t->from);
    req->rcpt.items = hr_calloc(to->n ? to->n : 1, sizeof(char *));
    for (size_t i = 0; i < to->n; i++)
        req->rcpt.items[req->rcpt.n++] = hr_strdup(to->items[i]);
    return HR_OK;
}

static void classify(const hr_svc_answer *a, hr_svc_verdict *v)
{
    char reason[HR_SVC_REASON_MAX];
    long s = a->status;

    hr__svc_reason(a->body != NULL ? a->body : "", a->body != NULL ? a->body_len : 0, reason,
                   sizeof(reason));
    v->wait_ms = -1;
    v->error[0] = '\0';
    if (s >= 200 && s < 300) {
        v->outcome = HR_OUTCOME_DELIVERED;
        return;
    }
    v->outcome = s >= 400 && s < 500 ? HR_OUTCOME_RETRY : HR_OUTCOME_DEAD;
    if (s == 0)
        v->outcome = HR_OUTCOME_RETRY;
    snprintf(v->error, sizeof(v->error), "SMTP %ld%s%s", s, reason[0] ? ": " : "", reason);
}

/* Every message of a run answers the run's first (its Message-ID). */
static bool keeps_run(const hr_target *t)
{
    (void)t;
    return true;
}

const hr_service hr_svc_email = {"email", render, classify, NULL, keeps_run};
