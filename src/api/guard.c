/*
 * guard.c - the rules every endpoint shares before its handler runs: what
 * a web browser may send herald, which requests must carry JSON, and what
 * a herald without tokens leaves open.
 *
 * A web page a developer visits can make the browser send requests to
 * herald on loopback: a "simple" cross-site request (a form or fetch()
 * with text/plain, no preflight), or, after DNS rebinding, requests to the
 * page's own name that reach herald. Browsers mark what they send: an
 * Origin header on every POST and every cross-origin request, and
 * Sec-Fetch-Site on requests to loopback and https. herald's real senders
 * (the GoCD bridge, Jenkins' plugins, herald notify, publish and replay,
 * curl) send neither, so the browser rules refuse nothing they send; and
 * each of them sends Content-Type: application/json with a JSON body,
 * which a page cannot send to another site without CORS's preflight,
 * which herald never grants.
 */
#include "api/api.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The host name of a Host header or URL authority ("name", "name:port",
 * "[v6]:port"), as (pointer, length) into authority, without brackets and
 * without one trailing dot. */
static void host_name(const char *authority, const char **name, size_t *len)
{
    const char *p = authority;
    size_t n;

    if (*p == '[') {
        p++;
        n = strcspn(p, "]");
        if (p[n] != ']')
            n = 0; /* no name at all */
    } else {
        n = strcspn(p, ":");
    }
    if (n > 0 && p[n - 1] == '.')
        n--;
    *name = p;
    *len = n;
}

/* Whether name (length n) is an IPv4 or IPv6 address. */
static int is_address(const char *name, size_t n)
{
    char buf[INET6_ADDRSTRLEN + 1];
    unsigned char bin[16];

    if (n == 0 || n >= sizeof(buf))
        return 0;
    memcpy(buf, name, n);
    buf[n] = '\0';
    return inet_pton(AF_INET, buf, bin) == 1 || inet_pton(AF_INET6, buf, bin) == 1;
}

static int same_name(const char *a, size_t n, const char *b)
{
    return b != NULL && strlen(b) == n && strncasecmp(a, b, n) == 0;
}

int hr_api__host_served(const hr_api_hosts *h, const char *host)
{
    static const char localhost[] = "localhost";
    static const char dot_localhost[] = ".localhost";
    const char *name;
    size_t n;

    if (host == NULL)
        return 0;
    host_name(host, &name, &n);
    /* An address cannot be rebound: a page can only make a browser send
     * Host: 127.0.0.1 by calling 127.0.0.1, which the Origin rule sees.
     * Browsers resolve localhost and *.localhost to loopback themselves. */
    if (is_address(name, n) || same_name(name, n, localhost))
        return 1;
    if (n > sizeof(dot_localhost) - 1 && strncasecmp(name + n - (sizeof(dot_localhost) - 1),
                                                     dot_localhost, sizeof(dot_localhost) - 1) == 0)
        return 1;
    if (same_name(name, n, h->listen_host))
        return 1;
    for (size_t i = 0; i < h->nnames; i++)
        if (same_name(name, n, h->names[i]))
            return 1;
    return 0;
}

/* The authority of an Origin ("scheme://authority"), its length without a
 * port that is the scheme's default, so that it compares with a Host. */
static int origin_authority(const char *origin, const char **auth, size_t *len)
{
    const char *sep = strstr(origin, "://");
    size_t n;

    if (sep == NULL)
        return 0;
    *auth = sep + 3;
    n = strlen(*auth);
    if (strncasecmp(origin, "http://", 7) == 0 && n > 3 && strcmp(*auth + n - 3, ":80") == 0)
        n -= 3;
    else if (strncasecmp(origin, "https://", 8) == 0 && n > 4 && strcmp(*auth + n - 4, ":443") == 0)
        n -= 4;
    *len = n;
    return 1;
}

int hr_api__browser_check(const hr_api_hosts *h, const char *host, const char *origin,
                          const char *fetch_site, char *why, size_t size)
{
    const char *auth;
    size_t n;

    if (origin == NULL && fetch_site == NULL)
        return 1; /* not a browser */
    if (fetch_site != NULL &&
        (strcasecmp(fetch_site, "cross-site") == 0 || strcasecmp(fetch_site, "same-site") == 0)) {
        snprintf(why, size,
                 "herald refuses requests a web browser sends for another site (Sec-Fetch-Site: "
                 "%.20s); call herald from a program, or from a page herald serves",
                 fetch_site);
        return 0;
    }
    if (!hr_api__host_served(h, host)) {
        snprintf(why, size,
                 "herald does not serve the name in Host \"%.100s\" to web browsers (a page "
                 "reaching herald through DNS rebinding sends its own name); when herald is "
                 "really reached by that name, start it with --allow-host NAME",
                 host != NULL ? host : "");
        return 0;
    }
    if (origin != NULL && (!origin_authority(origin, &auth, &n) || host == NULL ||
                           strlen(host) != n || strncasecmp(auth, host, n) != 0)) {
        snprintf(why, size,
                 "herald refuses requests a web page at another origin (Origin: %.100s) makes "
                 "a browser send",
                 origin);
        return 0;
    }
    return 1;
}

int hr_api_browser_allowed(hr_api *api, hr_http_req *req)
{
    char why[400];
    if (hr_api__browser_check(&api->hosts, hr_http_header(req, "Host"),
                              hr_http_header(req, "Origin"), hr_http_header(req, "Sec-Fetch-Site"),
                              why, sizeof(why)))
        return 1;
    hr_http_reply_error(req, 403, why);
    return 0;
}

int hr_api__is_json(const char *content_type)
{
    static const char json[] = "application/json";
    size_t n;

    if (content_type == NULL)
        return 0;
    content_type += strspn(content_type, " \t");
    n = strcspn(content_type, "; \t");
    return n == sizeof(json) - 1 && strncasecmp(content_type, json, n) == 0;
}

int hr_api_json_body(hr_http_req *req)
{
    const char *ct = hr_http_header(req, "Content-Type");
    char msg[300];

    if (hr_api__is_json(ct))
        return 1;
    snprintf(msg, sizeof(msg),
             "this endpoint takes JSON: send \"Content-Type: application/json\" (got %s%.60s%s)",
             ct != NULL ? "\"" : "", ct != NULL ? ct : "none", ct != NULL ? "\"" : "");
    hr_http_reply_error(req, 415, msg);
    return 0;
}
