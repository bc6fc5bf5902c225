/*
 * url.c - the one URL rule (url.h). A small strict reader rather than a
 * general URL parser: it accepts only what herald needs, so that every
 * URL it accepts reads the same to it and to libcurl (the unit tests hold
 * the two side by side).
 */
#include "core/url.h"

#include "core/ascii.h"
#include "core/mem.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

/* A host name's or IPv4 address's characters: RFC 3986's unreserved ones.
 * Percent-encoding is left out (libcurl decodes it, so the host it
 * connects to would not be the one written), and so are sub-delims (no
 * real host uses them). */
static bool is_host_char(char ch)
{
    return hr_is_alpha(ch) || hr_is_digit(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

/* User information's characters: unreserved, pct-encoded, sub-delims and
 * ':' (RFC 3986 3.2.1). */
static bool is_userinfo_char(char ch)
{
    return hr_is_alpha(ch) || hr_is_digit(ch) ||
           (ch != '\0' && strchr("-._~%!$&'()*+,;=:", ch) != NULL);
}

static bool starts_with_ci(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    if (n < k)
        return false;
    for (size_t i = 0; i < k; i++) {
        char ch = s[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (ch != prefix[i])
            return false;
    }
    return true;
}

/* The first "{{ }}" part at or after from: [*start, *end), or both n when
 * there is none. Returns false for a "{{" with no "}}" after it. A part
 * ends at the first "}}", as route/jq.h's templates read it. */
static bool next_template(const char *s, size_t n, size_t from, size_t *start, size_t *end)
{
    *start = *end = n;
    for (size_t i = from; i + 1 < n; i++) {
        if (s[i] == '{' && s[i + 1] == '{') {
            for (size_t j = i + 2; j + 1 < n; j++)
                if (s[j] == '}' && s[j + 1] == '}') {
                    *start = i;
                    *end = j + 2;
                    return true;
                }
            return false;
        }
    }
    return true;
}

static int fail(hr_error *err, const char *msg)
{
    return hr_error_set(err, HR_EINVAL, "%s", msg);
}

/* Checks the host and port in [at, end) (the authority after any user
 * information) into u. */
static int check_host_port(const char *s, size_t at, size_t end, hr_url *u, hr_error *err)
{
    size_t host_end;

    if (at < end && s[at] == '[') {
        char text[INET6_ADDRSTRLEN];
        struct in6_addr a6;
        for (host_end = at + 1; host_end < end && s[host_end] != ']'; host_end++)
            ;
        if (host_end == end || host_end - at - 1 >= sizeof(text))
            return fail(err, "the URL's host is not a valid IPv6 address");
        memcpy(text, s + at + 1, host_end - at - 1);
        text[host_end - at - 1] = '\0';
        if (inet_pton(AF_INET6, text, &a6) != 1)
            return fail(err, "the URL's host is not a valid IPv6 address");
        u->host_at = at + 1;
        u->host_len = host_end - at - 1;
        u->ipv6 = true;
        host_end++;
    } else {
        for (host_end = at; host_end < end && s[host_end] != ':'; host_end++) {
            if ((unsigned char)s[host_end] >= 0x80)
                return fail(
                    err, "the URL's host must be ASCII (write an international name in punycode)");
            if (!is_host_char(s[host_end]))
                return hr_error_set(err, HR_EINVAL, "the URL's host must not contain '%c'",
                                    s[host_end]);
        }
        if (host_end == at)
            return fail(err, "the URL must name a host");
        u->host_at = at;
        u->host_len = host_end - at;
    }

    if (host_end < end) {
        unsigned long port = 0;
        size_t i = host_end + 1;
        bool ok = s[host_end] == ':' && i < end;
        for (; ok && i < end; i++) {
            ok = hr_is_digit(s[i]) && port <= 65535;
            port = port * 10 + (unsigned long)(s[i] - '0');
        }
        if (!ok || port < 1 || port > 65535)
            return fail(err, "the URL's port must be a number from 1 to 65535");
        u->port = (unsigned)port;
    }
    return HR_OK;
}

int hr_url_check(const char *s, size_t n, unsigned flags, hr_url *out, hr_error *err)
{
    static const char *const target_schemes[] = {"http://", "https://", NULL};
    static const char *const proxy_schemes[] = {"http://", "https://", "socks5://", "socks5h://",
                                                NULL};
    static const char *const smtp_schemes[] = {"smtp://", "smtps://", NULL};
    const char *const *schemes = (flags & HR_URL_SMTP)    ? smtp_schemes
                                 : (flags & HR_URL_PROXY) ? proxy_schemes
                                                          : target_schemes;
    bool templates = (flags & HR_URL_TEMPLATES) != 0;
    size_t at = 0, end, host_at, tstart, tend;
    hr_url u;
    int rc;

    memset(&u, 0, sizeof(u));
    if (n == 0)
        return fail(err, "the URL is empty");

    /* Spaces and control characters only inside templates (a template is
     * jq: `{{ .pipeline.name }}`). */
    tstart = tend = n;
    if (templates && !next_template(s, n, 0, &tstart, &tend))
        return fail(err, "a {{ template in the URL is not closed with }}");
    for (size_t i = 0; i < n;) {
        if (i == tstart) {
            i = tend;
            if (!next_template(s, n, i, &tstart, &tend))
                return fail(err, "a {{ template in the URL is not closed with }}");
            continue;
        }
        if (s[i] == ' ' || hr_is_control((unsigned char)s[i]))
            return fail(err, "the URL must not contain spaces or control characters (write %20 "
                             "for a space)");
        i++;
    }

    for (size_t i = 0; schemes[i] != NULL && at == 0; i++)
        if (starts_with_ci(s, n, schemes[i]))
            at = strlen(schemes[i]);
    if (at == 0)
        return fail(err, (flags & HR_URL_SMTP) ? "the URL must start with smtp:// or smtps://"
                         : (flags & HR_URL_PROXY)
                             ? "the URL must start with http://, https://, socks5:// or socks5h://"
                             : "the URL must start with http:// or https://");
    u.scheme_len = at - 3;

    /* The authority runs to the first '/', '?' or '#', and must end before
     * the first template. */
    for (end = at; end < n && s[end] != '/' && s[end] != '?' && s[end] != '#'; end++)
        ;
    if (templates) {
        next_template(s, n, 0, &tstart, &tend);
        if (tstart < end)
            return fail(err, "the URL's scheme, host and port must be written out before any "
                             "{{ }} template");
    }
    u.rest_at = end;

    /* User information ends at the last '@'; one inside it would make the
     * host depend on which '@' a reader takes. */
    host_at = at;
    for (size_t i = at; i < end; i++)
        if (s[i] == '@')
            host_at = i + 1;
    for (size_t i = at; host_at > at && i + 1 < host_at; i++) {
        if (s[i] == '@')
            return fail(err, "the URL's user information must not contain '@' (write %40)");
        if ((unsigned char)s[i] >= 0x80)
            return fail(err, "the URL's user information must be ASCII (percent-encode it)");
        if (!is_userinfo_char(s[i]))
            return hr_error_set(err, HR_EINVAL,
                                "the URL's user information must not contain '%c' "
                                "(percent-encode it)",
                                s[i]);
    }
    rc = check_host_port(s, host_at, end, &u, err);
    if (rc != HR_OK)
        return rc;
    if (out != NULL)
        *out = u;
    return HR_OK;
}

char *hr_url_host(const char *s, const hr_url *u)
{
    char *h = hr_strndup(s + u->host_at, u->host_len);
    for (char *p = h; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return h;
}
