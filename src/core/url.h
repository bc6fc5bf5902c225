/*
 * url.h - herald's one URL rule: which URLs it accepts for a target and for
 * delivery.proxy. The YAML config, GoCD's settings page
 * (validate-configuration), the settings' apply path and the delivery
 * engine all ask this module, so a URL accepted in one place is accepted
 * everywhere, with the same message when it is not.
 *
 * The rule: a scheme (http:// or https://; a proxy also socks5:// or
 * socks5h://; an e-mail server smtp:// or smtps:// instead), an optional user information without
 * '@', a host written out (a name or IPv4 address of ASCII letters, digits, '-', '.', '_' and
 * '~', or a bracketed IPv6 address that inet_pton reads, with no zone),
 * an optional port from 1 to 65535, then anything without spaces or
 * control characters. With HR_URL_TEMPLATES, "{{ jq }}" parts may appear
 * after the authority (in the path, query or fragment) and may hold
 * spaces; the scheme, user information, host and port must be literal,
 * so a template can never choose where a request goes.
 *
 * Messages never quote the URL (it may carry a token); at most one of its
 * characters is named.
 */
#ifndef HR_CORE_URL_H
#define HR_CORE_URL_H

#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>

/* "{{ jq }}" parts may follow the authority. */
#define HR_URL_TEMPLATES 1u
/* A proxy's URL: socks5:// and socks5h:// are accepted too. */
#define HR_URL_PROXY 2u
/* An e-mail target's server: smtp:// or smtps:// instead of http(s)://
 * (the rest of the rule is the same). */
#define HR_URL_SMTP 4u

/* Where the parts of a checked URL are, as offsets into it. */
typedef struct hr_url {
    size_t scheme_len;        /* "http" is 4; without "://" */
    size_t host_at, host_len; /* the host, without an IPv6 address's brackets */
    bool ipv6;                /* the host was a bracketed IPv6 address */
    unsigned port;            /* 0 when none is written */
    size_t rest_at;           /* where the path, query or fragment starts (or n) */
} hr_url;

/*
 * Checks (s, n) against the rule with flags (HR_URL_*). Returns HR_OK and
 * fills *out (may be NULL), or HR_EINVAL with err (may be NULL) holding a
 * sentence that starts with a lower-case letter, such as "the URL must
 * start with http:// or https://". s need not end with a NUL.
 */
int hr_url_check(const char *s, size_t n, unsigned flags, hr_url *out, hr_error *err);

/* The host of a URL that hr_url_check accepted, as a new string (no
 * brackets), lower-cased. */
char *hr_url_host(const char *s, const hr_url *u);

#endif
