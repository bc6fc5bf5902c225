/*
 * main.c - herald's command line: parses arguments, wires the modules
 * together, and owns the process's signals.
 */
#include "api/api.h"
#include "core/json.h"
#include "core/log.h"
#include "http/server.h"
#include "store/store.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HERALD_VERSION "0.1.0"
#define DEFAULT_LISTEN "127.0.0.1:8190"
#define DEFAULT_DATA "./data"

static const char usage_text[] =
    "NAME\n"
    "    herald - a durable relay for CI notifications (GoCD, Jenkins, any CI)\n"
    "\n"
    "SYNOPSIS\n"
    "    herald serve [--listen ADDR:PORT] [--data DIR] [--config FILE]\n"
    "                 [--threads N] [--log-level LEVEL]\n"
    "    herald --help | --version\n"
    "\n"
    "DESCRIPTION\n"
    "    herald accepts notifications from CI servers, stores every one it\n"
    "    accepts durably (SQLite, write-ahead log, fsync before it answers), and\n"
    "    serves them back over a JSON API. It speaks GoCD's notification plugin\n"
    "    protocol (extension versions 1.0 to 4.0) over plain HTTP, so GoCD's\n"
    "    bridge plugin, or anything else, can post GoCD's own messages to it.\n"
    "\n"
    "    An event herald answered with success is on disk: it survives kill -9,\n"
    "    a restart and a power cut. When the disk is full or read-only herald\n"
    "    answers failure (HTTP 503) and says why; it never claims success.\n"
    "\n"
    "COMMANDS\n"
    "    serve   Run the daemon in the foreground until SIGTERM or SIGINT.\n"
    "\n"
    "OPTIONS\n"
    "    -l, --listen ADDR:PORT\n"
    "           Address to serve HTTP on (default " DEFAULT_LISTEN "). Use\n"
    "           [::1]:PORT for IPv6 and port 0 for any free port. herald has no\n"
    "           authentication yet: keep it on loopback or a private network.\n"
    "    -d, --data DIR\n"
    "           Folder for the database DIR/herald.db, created if missing\n"
    "           (default " DEFAULT_DATA ").\n"
    "    -c, --config FILE\n"
    "           Configuration file. It is checked to be readable; its contents\n"
    "           (targets and routes) are not used by this version.\n"
    "    -t, --threads N\n"
    "           HTTP worker threads (default 2; 1 to 64).\n"
    "    -L, --log-level LEVEL\n"
    "           error, warn, info (default) or debug (one line per request).\n"
    "    -h, --help\n"
    "           Show this text.\n"
    "    -V, --version\n"
    "           Show herald's version.\n"
    "\n"
    "ENDPOINTS\n"
    "    POST /gocd/notification/REQUEST-NAME\n"
    "           One GoCD notification plugin request: the body is GoCD's request\n"
    "           body; the header X-Go-Extension-Version (1.0 to 4.0, default 4.0)\n"
    "           names the version. The answer is what the plugin returns to GoCD.\n"
    "    GET  /healthz              200 once the store is open.\n"
    "    GET  /metrics              Prometheus metrics.\n"
    "    GET  /api/v1/events        Events, newest first. Query: source, kind,\n"
    "                               pipeline, stage, result, limit, cursor.\n"
    "    GET  /api/v1/events/ID     One event with its exact raw body.\n"
    "    GET  /api/v1/stages        Last known result of every pipeline stage.\n"
    "    GET  /api/v1/settings      The GoCD plugin settings, secrets masked.\n"
    "\n"
    "SIGNALS\n"
    "    SIGTERM, SIGINT\n"
    "           Stop accepting connections, commit every event already accepted,\n"
    "           answer its request, and exit 0.\n"
    "\n"
    "FILES\n"
    "    DIR/herald.db, DIR/herald.db-wal, DIR/herald.db-shm\n"
    "           The SQLite database. Back it up with sqlite3 DIR/herald.db\n"
    "           \".backup FILE\" while herald runs.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 after a clean shutdown; 1 when herald cannot start (the message\n"
    "    says why); 2 for a usage error.\n"
    "\n"
    "EXAMPLES\n"
    "    herald serve --data /var/lib/herald --listen 127.0.0.1:8190\n"
    "    curl -s localhost:8190/api/v1/events?pipeline=build&limit=5\n"
    "\n"
    "SEE ALSO\n"
    "    README.md, docs/gocd.md, docs/events.md, docs/operating.md\n";

typedef struct serve_options {
    const char *listen, *data, *config;
    unsigned threads;
} serve_options;

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "herald: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'herald --help'.\n");
    return 2;
}

static int check_config(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        hr_log_error("main", "cannot read the config file %s: %s", path, strerror(errno));
        return 1;
    }
    fclose(f);
    hr_log_info("main", "config file %s is readable (its targets and routes are not used by "
                        "this version)",
                path);
    return 0;
}

static int serve(const serve_options *o)
{
    hr_store_options so = {.dir = o->data};
    hr_http_options ho = {.listen = o->listen, .threads = o->threads};
    hr_http_route routes[16];
    hr_store *store = NULL;
    hr_http_server *http = NULL;
    hr_api api = {.version = HERALD_VERSION};
    hr_error err;
    sigset_t sigs;
    int sig = 0, rc = 1;

    /* Every thread started from here on inherits the blocked set, so the
     * signals reach only sigwait below. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (o->config != NULL && check_config(o->config) != 0)
        return 1;
    if (hr_store_open(&so, &store, &err) != HR_OK) {
        hr_log_error("main", "cannot open the store: %s", err.msg);
        goto out;
    }
    api.store = store;
    size_t nroutes = hr_api_routes(&api, routes, sizeof(routes) / sizeof(routes[0]));
    if (hr_http_start(&ho, routes, nroutes, &http, &err) != HR_OK) {
        hr_log_error("main", "%s", err.msg);
        goto out;
    }
    hr_log_info("main", "herald %s listening on http://%s (port %u), data in %s", HERALD_VERSION,
                o->listen, (unsigned)hr_http_port(http), o->data);

    while (sigwait(&sigs, &sig) != 0)
        ;
    hr_log_info("main", "%s: stopping; committing and answering accepted events",
                sig == SIGTERM ? "SIGTERM" : "SIGINT");
    rc = 0;
out:
    /* Order matters: stop taking connections, let the store commit and
     * answer everything queued, then stop HTTP, then close the store. */
    hr_http_quiesce(http);
    hr_store_drain(store);
    hr_http_stop(http);
    hr_store_close(store);
    if (rc == 0)
        hr_log_info("main", "stopped cleanly");
    return rc;
}

static int cmd_serve(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},  {"data", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'c'},  {"threads", required_argument, NULL, 't'},
        {"log-level", required_argument, NULL, 'L'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    serve_options o = {DEFAULT_LISTEN, DEFAULT_DATA, NULL, 2};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "l:d:c:t:L:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            o.listen = optarg;
            break;
        case 'd':
            o.data = optarg;
            break;
        case 'c':
            o.config = optarg;
            break;
        case 't': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || n < 1 || n > 64)
                return usage_error("--threads %s: expected a number from 1 to 64", optarg);
            o.threads = (unsigned)n;
            break;
        }
        case 'L': {
            hr_log_level level;
            if (hr_log_parse_level(optarg, &level) != HR_OK)
                return usage_error("--log-level %s: expected error, warn, info or debug",
                                   optarg);
            hr_log_set_level(level);
            break;
        }
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            return usage_error("%s", "unknown option for serve");
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument: %s", argv[optind]);
    return serve(&o);
}

int main(int argc, char **argv)
{
    hr_json_init();
    if (argc < 2) {
        fputs(usage_text, stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("herald %s\n", HERALD_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
    return usage_error("unknown command: %s", argv[1]);
}
