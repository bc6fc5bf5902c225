/*
 * main.c - herald's command line: parses arguments, wires the modules
 * together, and owns the process's signals.
 */
#include "api/api.h"
#include "api/app.h"
#include "cli/cli.h"
#include "cli/http.h"
#include "core/json.h"
#include "core/limits.h"
#include "core/size.h"
#include "core/timefmt.h"
#include "ingest/redact.h"
#include "route/config.h"
#include "route/jq.h"
#include "core/log.h"
#include "http/server.h"
#include "store/store.h"
#include "usage.h"

#include <curl/curl.h>
#include "core/mem.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HERALD_VERSION "0.1.0"

static void print_usage(FILE *f)
{
    hr_usage(f);
}
/* The most --allow-host names. */
#define MAX_ALLOW_HOSTS 16

typedef struct serve_options {
    const char *listen, *data, *store, *config, *gocd_token_file, *api_token_file;
    int data_given; /* --data was on the command line */
    unsigned threads;
    int insecure_local;
    const char *allow_hosts[MAX_ALLOW_HOSTS];
    size_t nallow_hosts;
    hr_http_options http; /* the connection limits */
} serve_options;

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "herald: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'herald --help'.\n");
    return 2;
}

/* A token the daemon demands (what names it in messages, such as "GoCD
 * token"): from the file when one is named (trailing newlines and spaces
 * dropped), else from the environment variable env, else none. *out is new
 * (NULL for none). Messages name the file, never what it holds. */
static int read_token(const char *path, const char *env, const char *what, char **out)
{
    char buf[1024];
    size_t n;
    const char *value = getenv(env);
    *out = NULL;
    if (path == NULL) {
        if (value != NULL && value[0] != '\0')
            *out = hr_strdup(value);
        return 0;
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        hr_log_error("main", "cannot read the %s file %s: %s", what, path, strerror(errno));
        return 1;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    /* A longer token would be cut short, and no client would send the
     * shortened one: refuse it. */
    int longer = n == sizeof(buf) - 1 && fgetc(f) != EOF;
    fclose(f);
    if (longer) {
        hr_log_error("main", "the %s file %s holds more than %zu bytes", what, path,
                     sizeof(buf) - 1);
        return 1;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    buf[n] = '\0';
    if (n == 0 || strlen(buf) != n) {
        hr_log_error("main", "the %s file %s holds no token", what, path);
        return 1;
    }
    *out = hr_strndup(buf, n);
    return 0;
}

/* Whether a --listen address is on loopback only. */
static int on_loopback(const char *addr)
{
    return strncmp(addr, "127.", 4) == 0 || strncmp(addr, "[::1]:", 6) == 0 ||
           strncmp(addr, "localhost:", 10) == 0;
}

/* The host of a --listen address ("host:port", "[v6]:port") into buf. */
static const char *listen_host(const char *addr, char *buf, size_t size)
{
    const char *p = addr[0] == '[' ? addr + 1 : addr;
    const char *end = addr[0] == '[' ? strchr(p, ']') : strrchr(p, ':');
    size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
    if (n >= size)
        n = size - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

/* Beyond loopback, says which families of endpoints anyone who reaches
 * herald may call, for want of which token. */
static void warn_open(const char *listen, const hr_api *api, const hr_config *c)
{
    if (on_loopback(listen))
        return;
    if (api->gocd_token == NULL)
        hr_log_warn("main",
                    "listening on %s without a GoCD token: anyone who reaches it can post GoCD "
                    "notifications, server info and package polls to /gocd/ "
                    "(see --gocd-token-file)",
                    listen);
    if (c->jenkins.token == NULL)
        hr_log_warn("main",
                    "listening on %s without jenkins.token: anyone who reaches it can post builds "
                    "to /jenkins/ and /ci/notify (see jenkins.token in the config)",
                    listen);
    if (api->api_token == NULL)
        hr_log_warn("main",
                    "listening on %s without an API token: anyone who reaches it can read events, "
                    "deliveries, jobs and packages under /api/v1 (replay, retry and publishing "
                    "stay refused; see --api-token-file)",
                    listen);
}

/* The store: --store, else --data, else the config's store:, else the
 * default data folder. *owned (freed by the caller) holds the config's
 * URI. Returns nonzero after logging a configuration that cannot load. */
static int pick_store(const serve_options *o, hr_store_options *so, char **owned)
{
    hr_config *c = NULL;
    hr_errlist errs = HR_ERRLIST_INIT;

    so->dir = o->data;
    so->uri = o->store;
    *owned = NULL;
    if (o->store != NULL || o->data_given || o->config == NULL)
        return 0;
    if (hr_config_load(o->config, &c, &errs) != HR_OK) {
        for (size_t i = 0; i < errs.n; i++)
            hr_log_error("config", "%s", errs.msgs[i]);
        hr_log_error("main", "refusing to start: the configuration has %zu problems",
                     hr_errlist_count(&errs));
        hr_errlist_clear(&errs);
        return -1;
    }
    so->uri = *owned = c->store;
    c->store = NULL;
    hr_config_free(c);
    return 0;
}

static int serve(const serve_options *o)
{
    hr_store_options so = {0};
    char *config_store = NULL;
    hr_http_options ho = o->http;
    hr_http_route routes[HR_API_MAX_ROUTES];
    hr_store *store = NULL;
    hr_http_server *http = NULL;
    hr_jenkins_listeners *listeners = NULL;
    const hr_config *config;
    hr_app *app = NULL;
    char *token = NULL, *api_token = NULL;
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_api api = {.version = HERALD_VERSION, .insecure_local = o->insecure_local};
    char host_buf[256];
    hr_error err;
    sigset_t sigs;
    int sig = 0, rc = 1;

    /* Every thread started from here on inherits the blocked set, so the
     * signals reach only sigwait below. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    pthread_mutex_init(&api.info_lock, NULL);
    if (read_token(o->gocd_token_file, "HERALD_GOCD_TOKEN", "GoCD token", &token) != 0 ||
        read_token(o->api_token_file, "HERALD_API_TOKEN", "API token", &api_token) != 0)
        goto out;
    api.gocd_token = token;
    api.api_token = api_token;
    api.hosts.listen_host = listen_host(o->listen, host_buf, sizeof(host_buf));
    api.hosts.names = o->allow_hosts;
    api.hosts.nnames = o->nallow_hosts;
    if (pick_store(o, &so, &config_store) != 0)
        goto out;
    /* The store locks the data folder before it touches anything in it. */
    if (hr_store_open(&so, &store, &err) != HR_OK) {
        hr_log_error("main", "cannot open the store: %s", err.msg);
        goto out;
    }
    if (hr_app_start(o->config, store, &app, &errs) != HR_OK) {
        for (size_t i = 0; i < errs.n; i++)
            hr_log_error("config", "%s", errs.msgs[i]);
        hr_log_error("main", "refusing to start: the configuration has %zu problems",
                     hr_errlist_count(&errs));
        goto out;
    }
    api.store = store;
    api.app = app;
    size_t nroutes = hr_api_routes(&api, routes, sizeof(routes) / sizeof(routes[0]));
    if (hr_http_start(&ho, routes, nroutes, &http, &err) != HR_OK) {
        hr_log_error("main", "%s", err.msg);
        goto out;
    }
    /* The Notification plugin's TCP and UDP listeners, from the config
     * herald started with (a reload does not rebind them): bound before the
     * line that announces the port, so that whoever waits for that line
     * finds them listening (a datagram sent before would be lost). */
    hr_app_current(app, &config, NULL);
    if (hr_jenkins_listeners_start(&api, config->jenkins.tcp, config->jenkins.udp, &listeners,
                                   &err) != HR_OK) {
        hr_log_error("main", "%s", err.msg);
        goto out;
    }
    /* What is open to whom, said before the line that announces the port:
     * whoever waits for that line (an init system, a test) has read them. */
    if (api_token != NULL)
        hr_log_info("main", "the /api/v1/ endpoints need the API token");
    else if (o->insecure_local)
        hr_log_warn("main", "--insecure-local: /api/v1 writes and GoCD plugin settings changes "
                            "are open to anyone on this machine");
    warn_open(o->listen, &api, config);
    hr_log_info("main", "herald %s listening on http://%s (port %u), data in %s", HERALD_VERSION,
                o->listen, (unsigned)hr_http_port(http),
                so.uri != NULL ? "a PostgreSQL database" : o->data);
    /* Only now, with every listener bound, does herald claim deliveries: a
     * herald that cannot serve must not have sent anything. */
    if (hr_app_run(app, &errs) != HR_OK) {
        for (size_t i = 0; i < errs.n; i++)
            hr_log_error("main", "%s", errs.msgs[i]);
        goto out;
    }

    for (;;) {
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig != SIGHUP)
            break;
        hr_log_info("main", "SIGHUP: reloading the configuration");
        if (hr_app_reload(app, &errs) != HR_OK) {
            for (size_t i = 0; i < errs.n; i++)
                hr_log_error("config", "%s", errs.msgs[i]);
            hr_log_error("main", "the new configuration has %zu problems; keeping the running one",
                         hr_errlist_count(&errs));
        }
        hr_errlist_clear(&errs);
    }
    hr_log_info("main", "%s: stopping; committing and answering accepted events",
                sig == SIGTERM ? "SIGTERM" : "SIGINT");
    rc = 0;
out:
    /* Order matters: stop taking connections, let the store commit and
     * answer everything queued, stop delivering, then stop HTTP, then close
     * the store. */
    hr_http_quiesce(http);
    hr_jenkins_listeners_stop(listeners);
    hr_store_drain(store);
    hr_app_stop(app);
    hr_http_stop(http);
    hr_store_close(store);
    hr_app_free(app);
    hr_errlist_clear(&errs);
    json_decref(api.server_info);
    pthread_mutex_destroy(&api.info_lock);
    free(token);
    free(api_token);
    free(config_store);
    if (rc == 0)
        hr_log_info("main", "stopped cleanly");
    return rc;
}

/* serve's options without a short form. */
enum {
    OPT_MAX_CONNECTIONS = 256,
    OPT_MAX_PER_ADDRESS,
    OPT_HEAD_TIMEOUT,
    OPT_BODY_TIMEOUT,
    OPT_MAX_HEAD_BYTES,
    OPT_STORE
};

/* --max-head-bytes's message names its range. */
_Static_assert(HR_MIN_REQUEST_HEAD_BYTES == 16384 && HR_MAX_REQUEST_HEAD_BYTES_CAP == 1048576,
               "--max-head-bytes: the message's range");

/* A whole decimal number from min to max. */
static int parse_count(const char *arg, unsigned min, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    long n = strtol(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || errno != 0 || n < (long)min || n > (long)max)
        return 1;
    *out = (unsigned)n;
    return 0;
}

static int cmd_serve(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"data", required_argument, NULL, 'd'},
        {"store", required_argument, NULL, OPT_STORE},
        {"config", required_argument, NULL, 'c'},
        {"gocd-token-file", required_argument, NULL, 'G'},
        {"api-token-file", required_argument, NULL, 'A'},
        {"threads", required_argument, NULL, 't'},
        {"log-level", required_argument, NULL, 'L'},
        {"allow-host", required_argument, NULL, 'H'},
        {"insecure-local", no_argument, NULL, 'I'},
        {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
        {"max-connections-per-address", required_argument, NULL, OPT_MAX_PER_ADDRESS},
        {"head-timeout", required_argument, NULL, OPT_HEAD_TIMEOUT},
        {"body-timeout", required_argument, NULL, OPT_BODY_TIMEOUT},
        {"max-head-bytes", required_argument, NULL, OPT_MAX_HEAD_BYTES},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    serve_options o = {.listen = DEFAULT_LISTEN, .data = DEFAULT_DATA, .threads = 2};
    unsigned count;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "l:d:c:G:A:t:L:H:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            o.listen = optarg;
            break;
        case 'd':
            o.data = optarg;
            o.data_given = 1;
            break;
        case OPT_STORE:
            o.store = optarg;
            break;
        case 'c':
            o.config = optarg;
            break;
        case 'G':
            o.gocd_token_file = optarg;
            break;
        case 'A':
            o.api_token_file = optarg;
            break;
        case 'H':
            if (o.nallow_hosts == MAX_ALLOW_HOSTS)
                return usage_error("--allow-host %s: at most 16 names", optarg);
            o.allow_hosts[o.nallow_hosts++] = optarg;
            break;
        case 'I':
            o.insecure_local = 1;
            break;
        case 't': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || n < 1 || n > 64)
                return usage_error("--threads %s: expected a number from 1 to 64", optarg);
            o.threads = (unsigned)n;
            break;
        }
        case OPT_MAX_CONNECTIONS:
            if (parse_count(optarg, 1, 100000, &o.http.max_connections) != 0)
                return usage_error("--max-connections %s: expected a number from 1 to 100000",
                                   optarg);
            break;
        case OPT_MAX_PER_ADDRESS:
            if (parse_count(optarg, 0, 100000, &count) != 0)
                return usage_error(
                    "--max-connections-per-address %s: expected a number from 0 to 100000", optarg);
            o.http.max_per_address = count == 0 ? HR_HTTP_UNCAPPED : count;
            break;
        case OPT_HEAD_TIMEOUT:
        case OPT_BODY_TIMEOUT:
            if (parse_count(optarg, 1, 3600, &count) != 0)
                return usage_error(c == OPT_HEAD_TIMEOUT
                                       ? "--head-timeout %s: expected seconds from 1 to 3600"
                                       : "--body-timeout %s: expected seconds from 1 to 3600",
                                   optarg);
            *(c == OPT_HEAD_TIMEOUT ? &o.http.head_timeout_s : &o.http.body_timeout_s) = count;
            break;
        case OPT_MAX_HEAD_BYTES: {
            uint64_t bytes = 0;
            if (!hr_size_parse(optarg, strlen(optarg), &bytes) ||
                bytes < HR_MIN_REQUEST_HEAD_BYTES || bytes > HR_MAX_REQUEST_HEAD_BYTES_CAP)
                return usage_error("--max-head-bytes %s: expected a size from 16KiB to 1MiB"
                                   " (16384 to 1048576 bytes), such as 65536 or 64KiB",
                                   optarg);
            o.http.max_head = (unsigned)bytes;
            break;
        }
        case 'L': {
            hr_log_level level;
            if (hr_log_parse_level(optarg, &level) != HR_OK)
                return usage_error("--log-level %s: expected error, warn, info or debug", optarg);
            hr_log_set_level(level);
            break;
        }
        case 'h':
            print_usage(stdout);
            return 0;
        default:
            return usage_error("%s", "unknown option for serve");
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument: %s", argv[optind]);
    if (o.insecure_local && !on_loopback(o.listen))
        return usage_error("--insecure-local: only with a loopback --listen (127.0.0.1, [::1] or "
                           "localhost), not %s",
                           o.listen);
    o.http.listen = o.listen;
    o.http.threads = o.threads;
    return serve(&o);
}

static int cmd_check_config(int argc, char **argv)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_config *c = NULL;
    if (argc != 2)
        return usage_error("%s", "check-config takes one FILE");
    if (hr_config_load(argv[1], &c, &errs) != HR_OK) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.msgs[i]);
        if (errs.dropped > 0)
            fprintf(stderr, "... and %zu more problems\n", errs.dropped);
        fprintf(stderr, "%s: %zu problems\n", argv[1], hr_errlist_count(&errs));
        hr_errlist_clear(&errs);
        return 1;
    }
    printf("%s: ok: %zu targets, %zu routes\n", argv[1], c->ntargets, c->nroutes);
    hr_config_free(c);
    return 0;
}

/* Appends the answer's bytes to a bounded buffer. */
typedef struct answer {
    char buf[4096];
    size_t len;
} answer;

static size_t on_answer(char *p, size_t size, size_t n, void *arg)
{
    answer *a = arg;
    size_t k = size * n;
    size_t room = sizeof(a->buf) - 1 - a->len;
    memcpy(a->buf + a->len, p, k < room ? k : room);
    a->len += k < room ? k : room;
    a->buf[a->len] = '\0';
    return size * n;
}

static int cmd_replay(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"delivery", required_argument, NULL, 'i'},
        {"target", required_argument, NULL, 'T'},
        {"dead", no_argument, NULL, 'D'},
        {"since", required_argument, NULL, 's'},
        {"until", required_argument, NULL, 'e'},
        {"token", required_argument, NULL, 'k'},
        {"token-file", required_argument, NULL, 'K'},
        {"state", required_argument, NULL, 'S'},
        {"drop", no_argument, NULL, 'X'},
        {"dry-run", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *base = "http://" DEFAULT_LISTEN;
    const char *token_flag = NULL, *token_file = NULL;
    char *token = NULL, *auth = NULL;
    struct curl_slist *headers = NULL;
    long long delivery = 0;
    json_t *body = json_object();
    char url[1024];
    answer ans = {.len = 0};
    int c, rc = 1;
    int64_t t;
    bool drop = false, dry_run = false;

    optind = 1;
    while ((c = getopt_long(argc, argv, "u:i:T:Ds:e:k:K:S:Xnh", longopts, NULL)) != -1) {
        switch (c) {
        case 'u':
            base = optarg;
            break;
        case 'k':
            token_flag = optarg;
            break;
        case 'K':
            token_file = optarg;
            break;
        case 'i': {
            char *end;
            delivery = strtoll(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || delivery <= 0) {
                json_decref(body);
                return usage_error("--delivery %s: expected a delivery id", optarg);
            }
            break;
        }
        case 'T':
            json_object_set_new(body, "target", json_string(optarg));
            break;
        case 'D':
            json_object_set_new(body, "dead", json_true());
            break;
        case 'S':
            json_object_set_new(body, "state", json_string(optarg));
            break;
        case 'X':
            drop = true;
            break;
        case 'n':
            dry_run = true;
            break;
        case 's':
        case 'e':
            if (hr_time_parse(optarg, strlen(optarg), &t) != HR_OK) {
                json_decref(body);
                return usage_error("%s: expected a time like 2026-11-22T10:00:00.000Z", optarg);
            }
            json_object_set_new(body, c == 's' ? "since" : "until", json_string(optarg));
            break;
        case 'h':
            print_usage(stdout);
            json_decref(body);
            return 0;
        default:
            json_decref(body);
            return usage_error("%s", "unknown option for replay");
        }
    }
    if (delivery == 0 && json_object_size(body) == 0) {
        json_decref(body);
        return usage_error("%s", "replay needs --delivery, --target, --state, --dead, --since or "
                                 "--until");
    }
    if (delivery > 0 && (drop || dry_run || json_object_size(body) > 0)) {
        json_decref(body);
        return usage_error("%s", "--delivery retries one delivery: it goes without --drop, "
                                 "--dry-run and the filters");
    }
    if (dry_run)
        json_object_set_new(body, "dry_run", json_true());
    /* herald's API token: --token, --token-file or HERALD_API_TOKEN. */
    if (hr_cli_token("replay", token_flag, token_file, "HERALD_API_TOKEN", &token) != HR_OK) {
        json_decref(body);
        return 2;
    }
    if (token != NULL) {
        size_t n = strlen(token) + sizeof("Authorization: Bearer ");
        auth = hr_malloc(n);
        snprintf(auth, n, "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, auth);
    }
    if (delivery > 0)
        snprintf(url, sizeof(url), "%s/api/v1/deliveries/%lld/retry", base, delivery);
    else
        snprintf(url, sizeof(url), "%s/api/v1/deliveries/%s", base, drop ? "drop" : "replay");
    char *text = json_dumps(body, JSON_COMPACT);
    CURL *h = curl_easy_init();
    long status = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, delivery > 0 ? "" : text);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_answer);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &ans);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    /* herald takes JSON bodies only as application/json (a web page cannot
     * send that type to another site). */
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        /* user:TOKEN@ in --url is Basic auth: never shown. */
        char *shown = hr_redact_url_credentials(base);
        fprintf(stderr, "herald: cannot reach herald at %s: %s\n", shown != NULL ? shown : base,
                curl_easy_strerror(cc));
        free(shown);
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        json_t *a = json_loads(ans.buf, 0, NULL);
        if (status == 200 && a != NULL && dry_run) {
            printf("%lld deliveries match; nothing was %s (--dry-run)\n",
                   (long long)json_integer_value(json_object_get(a, "matched")),
                   drop ? "dropped" : "replayed");
            rc = 0;
        } else if (status == 200 && a != NULL && drop) {
            printf("%lld deliveries dropped (kept, never sent)\n",
                   (long long)json_integer_value(json_object_get(a, "dropped")));
            rc = 0;
        } else if (status == 200 && a != NULL) {
            printf("%lld deliveries will be sent again\n",
                   (long long)json_integer_value(json_object_get(a, "reset")));
            rc = 0;
        } else if (status == 401) {
            fprintf(stderr, "herald: replay refused (HTTP 401): %s\n", ans.buf);
            fprintf(stderr, "herald: %s\n",
                    token == NULL ? "herald needs its API token: give it with --token, "
                                    "--token-file or HERALD_API_TOKEN"
                                  : "the token given is not herald's API token");
        } else {
            fprintf(stderr, "herald: replay refused (HTTP %ld): %s\n", status, ans.buf);
        }
        json_decref(a);
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    if (auth != NULL) {
        memset(auth, 0, strlen(auth));
        free(auth);
    }
    if (token != NULL) {
        memset(token, 0, strlen(token));
        free(token);
    }
    free(text);
    json_decref(body);
    return rc;
}

int main(int argc, char **argv)
{
    /* The commands that run jq programs, before any thread exists (it
     * changes the environment). Not notify: it may send HOME on. */
    if (argc >= 2 && (strcmp(argv[1], "serve") == 0 || strcmp(argv[1], "check-config") == 0))
        hr_jq_process_init();
    hr_json_init();
    /* Before any thread exists, as libcurl requires. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (argc < 2) {
        print_usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        print_usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("herald %s\n", HERALD_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
    if (strcmp(argv[1], "check-config") == 0)
        return cmd_check_config(argc - 1, argv + 1);
    if (strcmp(argv[1], "replay") == 0)
        return cmd_replay(argc - 1, argv + 1);
    if (strcmp(argv[1], "notify") == 0)
        return hr_cli_notify(argc - 1, argv + 1, print_usage);
    if (strcmp(argv[1], "publish") == 0)
        return hr_cli_publish(argc - 1, argv + 1, print_usage);
    if (strcmp(argv[1], "target") == 0)
        return hr_cli_target(argc - 1, argv + 1, print_usage);
    if (strcmp(argv[1], "migrate-store") == 0)
        return hr_cli_migrate_store(argc - 1, argv + 1, print_usage);
    return usage_error("unknown command: %s", argv[1]);
}
