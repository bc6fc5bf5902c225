/*
 * gocd_lookup.c - GoCD's modifications of a pipeline run (gocd_lookup.h).
 *
 * One entry per run (pipeline and counter): in flight, waiting for its next
 * lookup, or settled (its modifications, or NULL when the lookups gave
 * up). Entries live in a fixed table of HR_GOCD_CACHE_MAX; a new run takes
 * a free slot or the oldest settled one's.
 */
#include "deliver/gocd_lookup.h"

#include "core/log.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "deliver/deliver.h"
#include "deliver/message.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUB "gocd"
#define USER_AGENT "herald/0.1"
#define ACCEPT "Accept: application/vnd.go.cd+json"
/* A pipeline's name as GoCD allows it is at most 255 characters. */
#define PIPELINE_MAX 255

typedef enum state { S_FLIGHT, S_WAIT, S_SETTLED } state;

typedef struct entry {
    char *pipeline;
    long long counter;
    state st;
    int tries, max_tries;
    int64_t wait_ms;  /* the wait after this lookup, should it fail */
    int64_t next_us;  /* S_WAIT: when to look again (monotonic) */
    uint64_t settled; /* S_SETTLED: the order it settled in */
    json_t *mods;     /* S_SETTLED: the modifications, or NULL */
    CURL *easy;       /* S_FLIGHT */
    struct curl_slist *headers;
    char *answer;
    size_t kept;
    bool cut;
    char errbuf[CURL_ERROR_SIZE];
} entry;

struct hr_gocd_lookup {
    entry *e[HR_GOCD_CACHE_MAX];
    size_t n;
    uint64_t seq;
    char *api_url, *token; /* what the entries were learnt from (token cleansed) */
};

hr_gocd_lookup *hr_gocd_lookup_new(void)
{
    return hr_calloc(1, sizeof(hr_gocd_lookup));
}

static void transfer_end(entry *e, CURLM *multi)
{
    if (e->easy != NULL) {
        curl_multi_remove_handle(multi, e->easy);
        curl_easy_cleanup(e->easy);
    }
    curl_slist_free_all(e->headers); /* holds the token */
    free(e->answer);
    e->easy = NULL;
    e->headers = NULL;
    e->answer = NULL;
    e->kept = 0;
    e->cut = false;
}

static void entry_free(entry *e, CURLM *multi)
{
    if (e == NULL)
        return;
    transfer_end(e, multi);
    json_decref(e->mods);
    free(e->pipeline);
    free(e);
}

static void secret_free(char *s)
{
    if (s != NULL)
        OPENSSL_cleanse(s, strlen(s));
    free(s);
}

static void drop_all(hr_gocd_lookup *l, CURLM *multi)
{
    for (size_t i = 0; i < l->n; i++)
        entry_free(l->e[i], multi);
    l->n = 0;
}

void hr_gocd_lookup_free(hr_gocd_lookup *l, CURLM *multi)
{
    if (l == NULL)
        return;
    drop_all(l, multi);
    free(l->api_url);
    secret_free(l->token);
    free(l);
}

static bool same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* A string member of o cut to max bytes (new), or NULL. */
static json_t *cut_string(const json_t *o, const char *key, size_t max)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (s == NULL || s[0] == '\0')
        return NULL;
    char *c = hr_msg_cut(hr_strdup(s), max);
    json_t *j = json_string(c);
    free(c);
    return j;
}

json_t *hr_gocd_modifications_parse(const char *body, size_t n)
{
    json_t *root = json_loadb(body, n, 0, NULL), *out = NULL, *rev, *mod;
    const json_t *revs =
        json_object_get(json_object_get(root, "build_cause"), "material_revisions");
    size_t i, k;

    if (!json_is_array(revs))
        goto done;
    out = json_array();
    json_array_foreach(revs, i, rev)
    {
        const json_t *material = json_object_get(rev, "material");
        json_t *name = cut_string(material, "name", HR_MSG_VALUE_MAX);
        if (name == NULL)
            name = cut_string(material, "description", HR_MSG_VALUE_MAX);
        json_array_foreach(json_object_get(rev, "modifications"), k, mod)
        {
            static const char *const keys[] = {"revision", "user_name", "email_address"};
            if (json_array_size(out) == HR_GOCD_MAX_MODIFICATIONS || !json_is_object(mod))
                break;
            json_t *m = json_object();
            if (name != NULL)
                json_object_set(m, "material", name);
            for (size_t j = 0; j < sizeof(keys) / sizeof(keys[0]); j++) {
                json_t *v = cut_string(mod, keys[j], HR_MSG_VALUE_MAX);
                if (v != NULL)
                    json_object_set_new(m, keys[j], v);
            }
            json_t *comment = cut_string(mod, "comment", HR_GOCD_COMMENT_MAX);
            if (comment != NULL)
                json_object_set_new(m, "comment", comment);
            json_array_append_new(out, m);
        }
        json_decref(name);
    }
done:
    json_decref(root);
    return out;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *arg)
{
    entry *e = arg;
    size_t n = size * nmemb;
    if (e->kept + n > HR_GOCD_ANSWER_MAX) {
        e->cut = true;
        return 0;
    }
    e->answer = hr_realloc(e->answer, e->kept + n + 1);
    memcpy(e->answer + e->kept, p, n);
    e->kept += n;
    return n;
}

/* Starts e's next lookup. False when no transfer could be made (the run
 * then goes without). */
static bool start(hr_gocd_lookup *l, entry *e, CURLM *multi, const hr_gocd_api *api,
                  const hr_delivery_settings *s, double rnd)
{
    size_t base = strlen(api->api_url);
    char *name = NULL, *url = NULL, *auth = NULL;

    while (base > 0 && api->api_url[base - 1] == '/')
        base--;
    e->easy = curl_easy_init();
    if (e->easy != NULL)
        name = curl_easy_escape(e->easy, e->pipeline, 0);
    if (name == NULL)
        goto fail;
    url = hr_msg_fmt("%.*s/go/api/pipelines/%s/%lld", (int)base, api->api_url, name, e->counter);
    curl_free(name);
    e->headers = curl_slist_append(NULL, ACCEPT);
    if (api->token != NULL) {
        auth = hr_msg_fmt("Authorization: Bearer %s", api->token);
        e->headers = curl_slist_append(e->headers, auth);
        secret_free(auth);
    }
    e->headers = curl_slist_append(e->headers, "User-Agent: " USER_AGENT);
    curl_easy_setopt(e->easy, CURLOPT_URL, url);
    free(url);
    curl_easy_setopt(e->easy, CURLOPT_HTTPHEADER, e->headers);
    curl_easy_setopt(e->easy, CURLOPT_PRIVATE, (char *)e);
    curl_easy_setopt(e->easy, CURLOPT_ERRORBUFFER, e->errbuf);
    curl_easy_setopt(e->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e->easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)s->connect_timeout_ms);
    curl_easy_setopt(e->easy, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
    curl_easy_setopt(e->easy, CURLOPT_PROXY, "");
    curl_easy_setopt(e->easy, CURLOPT_NOPROXY, "");
    curl_easy_setopt(e->easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e->easy, CURLOPT_WRITEDATA, e);
    e->errbuf[0] = '\0';
    if (curl_multi_add_handle(multi, e->easy) != CURLM_OK)
        goto fail;
    e->st = S_FLIGHT;
    e->tries++;
    e->max_tries = api->attempts;
    e->wait_ms = hr_deliver_backoff_ms(s, e->tries + 1, rnd);
    return true;
fail:
    hr_log_error(SUB, "cannot start a lookup of %s/%lld; its messages go without modifications",
                 e->pipeline, e->counter);
    curl_easy_cleanup(e->easy);
    e->easy = NULL;
    transfer_end(e, multi);
    e->st = S_SETTLED;
    e->settled = ++l->seq;
    return false;
}

/* A slot for a new entry: a free one, or the oldest settled run's; NULL
 * when every run is being looked up. */
static entry **slot(hr_gocd_lookup *l, CURLM *multi)
{
    size_t oldest = l->n;
    if (l->n < HR_GOCD_CACHE_MAX)
        return &l->e[l->n++];
    for (size_t i = 0; i < l->n; i++)
        if (l->e[i]->st == S_SETTLED &&
            (oldest == l->n || l->e[i]->settled < l->e[oldest]->settled))
            oldest = i;
    if (oldest == l->n)
        return NULL;
    entry_free(l->e[oldest], multi);
    l->e[oldest] = NULL;
    return &l->e[oldest];
}

/* The event's run: a GoCD stage's pipeline name and counter. */
static bool run_of(const json_t *event, const char **pipeline, long long *counter)
{
    const json_t *p = json_object_get(event, "pipeline"), *c = json_object_get(p, "counter");
    const char *kind = json_string_value(json_object_get(event, "kind"));
    char *end = NULL;

    *pipeline = json_string_value(json_object_get(p, "name"));
    if (kind == NULL || strcmp(kind, "stage-status") != 0 || *pipeline == NULL ||
        (*pipeline)[0] == '\0' || strlen(*pipeline) > PIPELINE_MAX)
        return false;
    if (json_is_integer(c)) {
        *counter = (long long)json_integer_value(c);
    } else if (json_is_string(c) && json_string_value(c)[0] >= '0' &&
               json_string_value(c)[0] <= '9') {
        *counter = strtoll(json_string_value(c), &end, 10);
        if (*end != '\0')
            return false;
    } else {
        return false;
    }
    return *counter > 0;
}

bool hr_gocd_lookup_ready(hr_gocd_lookup *l, CURLM *multi, const hr_gocd_api *api,
                          const hr_delivery_settings *s, const json_t *event, double rnd,
                          json_t **mods)
{
    const char *pipeline;
    long long counter;
    entry *e = NULL;

    *mods = NULL;
    if (api->api_url == NULL || !run_of(event, &pipeline, &counter))
        return true;
    if (!same(l->api_url, api->api_url) || !same(l->token, api->token)) {
        drop_all(l, multi);
        free(l->api_url);
        secret_free(l->token);
        l->api_url = hr_strdup(api->api_url);
        l->token = api->token != NULL ? hr_strdup(api->token) : NULL;
    }
    for (size_t i = 0; i < l->n && e == NULL; i++)
        if (l->e[i]->counter == counter && strcmp(l->e[i]->pipeline, pipeline) == 0)
            e = l->e[i];
    if (e == NULL) {
        entry **at = slot(l, multi);
        if (at == NULL)
            return true;
        e = *at = hr_calloc(1, sizeof(entry));
        e->pipeline = hr_strdup(pipeline);
        e->counter = counter;
        return !start(l, e, multi, api, s, rnd);
    }
    switch (e->st) {
    case S_FLIGHT:
        return false;
    case S_WAIT:
        if (hr_time_mono_us() < e->next_us)
            return false;
        return !start(l, e, multi, api, s, rnd);
    case S_SETTLED:
        break;
    }
    *mods = json_incref(e->mods);
    return true;
}

bool hr_gocd_lookup_done(hr_gocd_lookup *l, CURLM *multi, CURL *easy, CURLcode rc)
{
    entry *e = NULL;
    char why[CURL_ERROR_SIZE + 64];
    long status = 0;
    bool retry;

    for (size_t i = 0; i < l->n && e == NULL; i++)
        if (l->e[i]->easy == easy)
            e = l->e[i];
    if (e == NULL)
        return false;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK && !e->cut) {
        snprintf(why, sizeof(why), "%s%s%s", curl_easy_strerror(rc), e->errbuf[0] ? ": " : "",
                 e->errbuf);
        retry = true;
    } else if (status >= 200 && status < 300 && !e->cut) {
        e->mods = hr_gocd_modifications_parse(e->answer != NULL ? e->answer : "", e->kept);
        snprintf(why, sizeof(why), "HTTP %ld but not a pipeline instance", status);
        retry = e->mods == NULL;
    } else {
        snprintf(why, sizeof(why), e->cut ? "HTTP %ld, an answer over 1 MiB" : "HTTP %ld", status);
        retry = status == 408 || status == 429 || (status >= 500 && status < 600);
    }
    transfer_end(e, multi);
    if (e->mods != NULL) {
        e->st = S_SETTLED;
        e->settled = ++l->seq;
        hr_log_debug(SUB, "%s/%lld: %zu modifications", e->pipeline, e->counter,
                     json_array_size(e->mods));
    } else if (retry && e->tries < e->max_tries) {
        char delay[32];
        e->st = S_WAIT;
        e->next_us = hr_time_mono_us() + e->wait_ms * 1000;
        snprintf(delay, sizeof(delay), "%lldms", (long long)e->wait_ms);
        hr_log_info(SUB, "looking up %s/%lld: %s; again in %s (lookup %d of %d)", e->pipeline,
                    e->counter, why, delay, e->tries, e->max_tries);
    } else {
        e->st = S_SETTLED;
        e->settled = ++l->seq;
        hr_log_warn(SUB,
                    "looking up %s/%lld: %s after %d lookups; its messages go out with "
                    "revisions only",
                    e->pipeline, e->counter, why, e->tries);
    }
    return true;
}
