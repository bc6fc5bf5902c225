/*
 * repo.c - a git remote URL read into host and path (repo.h).
 *
 * The URL is read in one pass of small steps: the scheme (or its absence,
 * for the scp-like form), the user information (dropped: it may hold a
 * password), the host (bracketed IPv6 kept without its brackets), the
 * port (dropped: ssh's 7999 and https' 443 are the same repository), then
 * the path, cut at a query or fragment, with ".git" and slashes trimmed.
 */
#include "core/repo.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

static bool has_prefix(const char *s, size_t n, const char *p)
{
    size_t k = strlen(p);
    return n >= k && strncasecmp(s, p, k) == 0;
}

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

/* Copies the host (h, n) in lower case; false when it is not one. */
static bool take_host(const char *h, size_t n, bool bracketed, hr_repo *out)
{
    if (n == 0 || n >= sizeof(out->host))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (!(host_char(c) || (bracketed && (c == ':' || c == '%'))))
            return false;
        out->host[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out->host[n] = '\0';
    return true;
}

/* Copies the path (p, n): '/' at either end and ".git" dropped, segments
 * checked and counted. */
static bool take_path(const char *p, size_t n, hr_repo *out)
{
    while (n > 0 && p[0] == '/')
        p++, n--;
    while (n > 0 && p[n - 1] == '/')
        n--;
    if (n >= 4 && strncmp(p + n - 4, ".git", 4) == 0)
        n -= 4;
    while (n > 0 && p[n - 1] == '/')
        n--;
    if (n == 0 || n >= sizeof(out->path))
        return false;
    size_t segs = 1, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || p[i] == '/') {
            size_t len = i - start;
            if (len == 0 || (len == 1 && p[start] == '.') ||
                (len == 2 && p[start] == '.' && p[start + 1] == '.'))
                return false;
            if (i < n)
                segs++;
            start = i + 1;
            continue;
        }
        if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f || p[i] == '\\')
            return false;
    }
    if (segs < 2)
        return false;
    memcpy(out->path, p, n);
    out->path[n] = '\0';
    out->nsegments = segs;
    return true;
}

int hr_repo_parse(const char *url, size_t n, hr_repo *out, hr_error *err)
{
    static const char *const schemes[] = {"https://", "http://",    "ssh://",
                                          "git://",   "git+ssh://", "ssh+git://"};
    const char *s = url, *end = url + n;
    bool scp = true;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if (has_prefix(url, n, schemes[i])) {
            s = url + strlen(schemes[i]);
            scp = false;
            break;
        }
    if (scp && memmem(url, n, "://", 3) != NULL)
        return hr_error_set(err, HR_EINVAL, "not a git URL (http, https, ssh or git)");

    /* The authority ends at the first '/' (a URL) or ':' outside brackets
     * (scp-like: host:path). The user information before its last '@' is
     * dropped unread. */
    const char *auth_end = s;
    while (auth_end < end && *auth_end != '/' && *auth_end != '?' && *auth_end != '#')
        auth_end++;
    const char *at = NULL;
    for (const char *q = s; q < auth_end; q++)
        if (*q == '@')
            at = q;
    const char *h = at != NULL ? at + 1 : s, *hend, *path;
    bool bracketed = h < auth_end && *h == '[';
    if (bracketed) {
        const char *close = memchr(h, ']', (size_t)(auth_end - h));
        if (close == NULL)
            return hr_error_set(err, HR_EINVAL, "an IPv6 host without its ']'");
        hend = close + 1;
    } else {
        hend = h;
        while (hend < auth_end && *hend != ':')
            hend++;
    }
    if (scp) {
        /* git's rule: host:path when a ':' comes before any '/'. */
        if (hend >= end || *hend != ':')
            return hr_error_set(err, HR_EINVAL, "not a git URL (no scheme, and no host:path)");
        path = hend + 1;
    } else {
        const char *q = hend;
        if (q < auth_end && *q == ':') {
            q++;
            while (q < auth_end && *q >= '0' && *q <= '9')
                q++;
        }
        if (q != auth_end)
            return hr_error_set(err, HR_EINVAL, "the URL's port is not a number");
        path = auth_end;
        for (const char *c = path; c < end; c++)
            if (*c == '?' || *c == '#') {
                end = c;
                break;
            }
    }
    if (!take_host(bracketed ? h + 1 : h, (size_t)(hend - h) - (bracketed ? 2 : 0), bracketed, out))
        return hr_error_set(err, HR_EINVAL, "the URL's host is not a host name or address");
    if (!take_path(path, (size_t)(end - path), out))
        return hr_error_set(err, HR_EINVAL,
                            "the URL's path is not a repository (owner/repository)");
    return HR_OK;
}

int hr_repo_on_host(const hr_repo *r, const char *host)
{
    return host != NULL && strcasecmp(r->host, host) == 0;
}
