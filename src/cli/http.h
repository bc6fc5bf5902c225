/*
 * http.h - the one request `herald notify` and `herald publish` make: a
 * JSON POST to a running herald, sent again until herald acknowledges it
 * or a deadline passes.
 *
 * Shared by the cli/ files only (hence the hr_cli__ prefix), but for
 * hr_cli_token, which main.c's `herald replay` uses too. What stays
 * true: the token and any user:password in herald's URL are never
 * printed; every message about herald's URL shows it with its credentials
 * replaced by HR_REDACTED; whatever herald answers is printed only after
 * its control characters are replaced.
 */
#ifndef HR_CLI_HTTP_H
#define HR_CLI_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The exit statuses of notify and publish. */
enum {
    HR_CLI_EXIT_OK = 0,       /* herald acknowledged (2xx) */
    HR_CLI_EXIT_REFUSED = 1,  /* herald refused (4xx), or retrying cannot help */
    HR_CLI_EXIT_USAGE = 2,    /* the command line is wrong */
    HR_CLI_EXIT_DEADLINE = 3, /* herald did not acknowledge before the deadline */
};

/* Most bytes of herald's answer kept; the rest is read and dropped. */
#define HR_CLI_MAX_ANSWER_BYTES (64u * 1024u)
/* The first wait between attempts, and the longest; each wait doubles,
 * and is then drawn uniformly from its upper half (jitter). */
#define HR_CLI_BACKOFF_FIRST_MS 500
#define HR_CLI_BACKOFF_MAX_MS 10000
/* The longest --deadline and --timeout accepted. */
#define HR_CLI_MAX_DURATION_MS (24LL * 3600 * 1000)
/* The longest a connection may take to open, within one attempt. */
#define HR_CLI_CONNECT_TIMEOUT_MS 10000
/* The longest URL built from --url and a path. */
#define HR_CLI_MAX_URL_BYTES 4096

typedef struct hr_cli__post_opts {
    const char *cmd;   /* "notify" or "publish", starts every message */
    const char *base;  /* herald's base URL as given (--url) */
    const char *path;  /* appended to base, starts with '/', already escaped */
    const char *token; /* sent as "Authorization: Bearer"; NULL: none */
    /* Sent as X-Herald-Request-Id with every attempt, so that herald keeps
     * the event once when an answer was lost and the POST is sent again;
     * NULL: none. */
    const char *request_id;
    const char *proxy; /* NULL: no proxy at all, the environment's ignored */
    const char *body;  /* the JSON to send, len bytes */
    size_t len;
    int64_t deadline_ms;       /* from the first attempt */
    const char *deadline_text; /* the deadline as the user wrote it */
    int64_t attempt_ms;        /* one attempt's limit */
    bool quiet;                /* no line for each retry */
} hr_cli__post_opts;

/* What herald answered. body is new (free()) and NUL-terminated. */
typedef struct hr_cli__answer {
    long status;
    char *body;
    size_t len;
} hr_cli__answer;

/*
 * Sends o->body until herald answers 2xx (HR_CLI_EXIT_OK), answers a
 * status that retrying cannot change (HR_CLI_EXIT_REFUSED: 1xx, 3xx, and
 * 4xx other than 408 and 429; also a TLS certificate herald's URL does
 * not match) or the deadline passes (HR_CLI_EXIT_DEADLINE, and the
 * message "herald at URL did not acknowledge within D: CAUSE" is printed
 * on stderr). Connection errors, 5xx, 408 and 429 are retried with
 * exponential backoff and jitter; a Retry-After answer lengthens the wait
 * to what it asks. *out holds herald's last answer for OK and REFUSED
 * (status 0 when it never answered); release it with hr_cli__answer_clear.
 */
int hr_cli__post(const hr_cli__post_opts *o, hr_cli__answer *out);

/* A new random request id (a version 4 UUID, 36 characters and a NUL)
 * into buf. */
void hr_cli__request_id(char buf[37]);
void hr_cli__answer_clear(hr_cli__answer *a);

/* libcurl's write callback for a request's answer: keeps its first
 * HR_CLI_MAX_ANSWER_BYTES in buf (which holds one more, for the NUL that
 * always ends it) and reads the rest. */
typedef struct hr_cli__sink {
    char *buf;
    size_t len;
} hr_cli__sink;
size_t hr_cli__on_data(char *p, size_t size, size_t n, void *arg);

/*
 * Prints herald's refusal on stderr: "herald CMD: herald refused WHAT
 * (HTTP 409): MESSAGE", then one "  - message" line for each entry of the
 * answer's "errors" or "messages" array. MESSAGE is the answer's "error"
 * member, else its text.
 */
void hr_cli__print_refusal(const char *cmd, const char *what, const hr_cli__answer *a);

/* Reads a duration: a number of seconds, or numbers each followed by ms,
 * s, m or h ("90", "1m30s", "500ms"); more than 0 and at most
 * HR_CLI_MAX_DURATION_MS. HR_OK or HR_EINVAL. */
int hr_cli__parse_duration(const char *text, int64_t *ms);

/* Whether url is an http:// or https:// URL with a host; when not, why
 * into why (size bytes). */
bool hr_cli__check_base_url(const char *url, char *why, size_t size);

/*
 * The token: flag (--token) when given, else the first line of file
 * (--token-file), else $HERALD_TOKEN, else none. *out is new or NULL.
 * Returns HR_OK, or HR_EINVAL with the reason printed on stderr (an
 * unreadable or empty file, both flags at once).
 */
int hr_cli__token(const char *cmd, const char *flag, const char *file, char **out);

/* As hr_cli__token, with the environment variable env_name (such as
 * "HERALD_API_TOKEN") in place of HERALD_TOKEN. */
int hr_cli_token(const char *cmd, const char *flag, const char *file, const char *env_name,
                 char **out);

/* Prints "herald CMD: MESSAGE" and the help hint on stderr; returns
 * HR_CLI_EXIT_USAGE. */
int hr_cli__usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
