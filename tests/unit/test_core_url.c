/*
 * test_core_url.c - the one URL rule: a table of URLs with their verdicts
 * and messages, the parts of accepted ones, templates, proxies, and
 * libcurl's reading of every accepted URL (the host herald's guard judges
 * must be the host libcurl connects to).
 */
#include "core/url.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SPACES "the URL must not contain spaces or control characters (write %20 for a space)"
#define SCHEME "the URL must start with http:// or https://"
#define NO_HOST "the URL must name a host"
#define IPV6 "the URL's host is not a valid IPv6 address"
#define PORT "the URL's port must be a number from 1 to 65535"
#define TEMPLATE_FIRST                                                                             \
    "the URL's scheme, host and port must be written out before any {{ }} template"

typedef struct url_case {
    const char *url;
    const char *message; /* NULL: accepted */
    const char *host;    /* when accepted: the host, lower case */
    unsigned port;
} url_case;

/* Checked with templates, as a target's URL is. */
static const url_case cases[] = {
    {"https://hooks.example.com/gocd", NULL, "hooks.example.com", 0},
    {"http://10.0.0.5:8080/hook?x=1#f", NULL, "10.0.0.5", 8080},
    {"HTTPS://Example.COM", NULL, "example.com", 0},
    {"http://h:1", NULL, "h", 1},
    {"http://h:65535/", NULL, "h", 65535},
    {"https://user:pw@[2001:db8::1]:443/x", NULL, "2001:db8::1", 443},
    {"http://[::1]:8080/hook", NULL, "::1", 8080},
    {"http://[::ffff:1.2.3.4]/", NULL, "::ffff:1.2.3.4", 0},
    {"http://[1:2:3:4:5:6:7:8]/hook", NULL, "1:2:3:4:5:6:7:8", 0},
    {"http://h.example./x", NULL, "h.example.", 0},
    {"http://_h~x/", NULL, "_h~x", 0},
    {"http://a;b=c:p%40ss@h/", NULL, "h", 0},
    {"http://h?q", NULL, "h", 0},
    {"http://h#f", NULL, "h", 0},
    {"http://h/caf\xc3\xa9|{x}", NULL, "h", 0},
    {"https://h/{{ .pipeline.name }}?x={{ .stage.name }}", NULL, "h", 0},
    {"https://h:8443?{{ .a }}", NULL, "h", 8443},
    {"https://h#{{ .a }}", NULL, "h", 0},
    {"", "the URL is empty", NULL, 0},
    {"http://[1:2]/hook", IPV6, NULL, 0},
    {"http://[::1/", IPV6, NULL, 0},
    {"http://[]/", IPV6, NULL, 0},
    {"http://[fe80::1%25eth0]/", IPV6, NULL, 0},
    {"http://[::zz]/", IPV6, NULL, 0},
    {"http://[::1]x/", PORT, NULL, 0},
    {"ftp://example.com/x", SCHEME, NULL, 0},
    {"socks5://p:1080", SCHEME, NULL, 0},
    {"file:///etc/passwd", SCHEME, NULL, 0},
    {"javascript:alert(1)", SCHEME, NULL, 0},
    {"example.com/x", SCHEME, NULL, 0},
    {"http:/example.com", SCHEME, NULL, 0},
    {"//example.com/x", SCHEME, NULL, 0},
    {"http://", NO_HOST, NULL, 0},
    {"http:///hook", NO_HOST, NULL, 0},
    {"http://user@/x", NO_HOST, NULL, 0},
    {"http://:8080/", NO_HOST, NULL, 0},
    {"http://?x", NO_HOST, NULL, 0},
    {"http://h:0/", PORT, NULL, 0},
    {"http://h:65536/", PORT, NULL, 0},
    {"http://h:/x", PORT, NULL, 0},
    {"http://h:8a/", PORT, NULL, 0},
    {"http://h:-1/", PORT, NULL, 0},
    {"http://h:99999999999999999999/", PORT, NULL, 0},
    {"http://h:80:81/", PORT, NULL, 0},
    {"http://exa mple.com/", SPACES, NULL, 0},
    {"http://h/a b", SPACES, NULL, 0},
    {" http://h/", SPACES, NULL, 0},
    {"http://h/\t", SPACES, NULL, 0},
    {"http://h/\n", SPACES, NULL, 0},
    {"http://h/\r\nX-Evil: 1", SPACES, NULL, 0},
    {"http://h/\x7f", SPACES, NULL, 0},
    {"http://h/\x01", SPACES, NULL, 0},
    {"http://exa\"mple.com/", "the URL's host must not contain '\"'", NULL, 0},
    {"http://h%41/", "the URL's host must not contain '%'", NULL, 0},
    {"http://h\\x/", "the URL's host must not contain '\\'", NULL, 0},
    {"http://b\xc3\xbc"
     "cher.example/",
     "the URL's host must be ASCII (write an international name in punycode)", NULL, 0},
    {"http://a@b@c/", "the URL's user information must not contain '@' (write %40)", NULL, 0},
    {"http://us\"er@h/", "the URL's user information must not contain '\"' (percent-encode it)",
     NULL, 0},
    {"http://\xc3\xbc@h/", "the URL's user information must be ASCII (percent-encode it)", NULL, 0},
    {"https://{{ .host }}/x", TEMPLATE_FIRST, NULL, 0},
    {"https://h{{ .path }}", TEMPLATE_FIRST, NULL, 0},
    {"https://h:{{ .port }}/", TEMPLATE_FIRST, NULL, 0},
    {"https://{{ .user }}@h/", TEMPLATE_FIRST, NULL, 0},
    {"{{ .url }}", SCHEME, NULL, 0},
    {"https://h/{{ .a", "a {{ template in the URL is not closed with }}", NULL, 0},
    {"https://h/{{ .a }}/{{ .b", "a {{ template in the URL is not closed with }}", NULL, 0},
    {"https://h/{{ .a }} x", SPACES, NULL, 0},
};

Test(url, table)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const url_case *c = &cases[i];
        hr_url u;
        hr_error err;
        int rc = hr_url_check(c->url, strlen(c->url), HR_URL_TEMPLATES, &u, &err);
        if (c->message == NULL) {
            cr_expect_eq(rc, HR_OK, "%s: %s", c->url, rc == HR_OK ? "" : err.msg);
            if (rc != HR_OK)
                continue;
            char *host = hr_url_host(c->url, &u);
            cr_expect_str_eq(host, c->host, "%s", c->url);
            cr_expect_eq(u.port, c->port, "%s", c->url);
            free(host);
        } else {
            cr_expect_eq(rc, HR_EINVAL, "%s was accepted", c->url);
            if (rc == HR_EINVAL)
                cr_expect_str_eq(err.msg, c->message, "%s", c->url);
        }
    }
}

Test(url, templates_only_with_the_flag)
{
    hr_error err;
    const char *t = "https://h/{{ .a }}";
    cr_expect_eq(hr_url_check(t, strlen(t), 0, NULL, &err), HR_EINVAL);
    cr_expect_str_eq(err.msg, SPACES);
    t = "https://h/{{.a}}";
    cr_expect_eq(hr_url_check(t, strlen(t), 0, NULL, NULL), HR_OK, "braces are path characters");
}

Test(url, proxies)
{
    static const char *const good[] = {"http://p:3128", "https://p", "socks5://p:1080",
                                       "SOCKS5H://u:pw@p:1080", NULL};
    hr_error err;
    hr_url u;
    for (size_t i = 0; good[i] != NULL; i++)
        cr_expect_eq(hr_url_check(good[i], strlen(good[i]), HR_URL_PROXY, &u, &err), HR_OK, "%s",
                     good[i]);
    cr_expect_eq(hr_url_check("socks4://p", 10, HR_URL_PROXY, NULL, &err), HR_EINVAL);
    cr_expect_str_eq(err.msg, "the URL must start with http://, https://, socks5:// or socks5h://");
    cr_expect_eq(hr_url_check("proxy:3128", 10, HR_URL_PROXY, NULL, &err), HR_EINVAL);
    cr_expect_eq(hr_url_check("http://p/{{ .a }}", 17, HR_URL_PROXY, NULL, &err), HR_EINVAL,
                 "no templates in a proxy");
}

Test(url, length_is_respected)
{
    /* (s, n) need not end with a NUL: only n bytes are read. */
    const char text[] = "http://h.example/x and then garbage";
    hr_url u;
    cr_assert_eq(hr_url_check(text, 16, 0, &u, NULL), HR_OK);
    char *host = hr_url_host(text, &u);
    cr_expect_str_eq(host, "h.example");
    free(host);
    cr_expect_eq(hr_url_check(text, 20, 0, NULL, NULL), HR_EINVAL);
}

/* Every URL the rule accepts (templates aside) libcurl reads too, with
 * the same host: the guard's allow-by-name judges the host curl
 * connects to. */
Test(url, libcurl_reads_accepted_urls_alike)
{
    cr_assert_eq(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const url_case *c = &cases[i];
        hr_url u;
        char *ours, *theirs = NULL;
        if (c->message != NULL || strstr(c->url, "{{") != NULL)
            continue;
        cr_assert_eq(hr_url_check(c->url, strlen(c->url), 0, &u, NULL), HR_OK, "%s", c->url);
        CURLU *cu = curl_url();
        CURLUcode uc = curl_url_set(cu, CURLUPART_URL, c->url, 0);
        cr_expect_eq(uc, CURLUE_OK, "libcurl refuses %s: %s", c->url, curl_url_strerror(uc));
        if (uc == CURLUE_OK && curl_url_get(cu, CURLUPART_HOST, &theirs, 0) == CURLUE_OK) {
            size_t n = strlen(theirs);
            ours = hr_url_host(c->url, &u);
            if (n >= 2 && theirs[0] == '[')
                cr_expect(strncasecmp(theirs + 1, ours, n - 2) == 0 && strlen(ours) == n - 2,
                          "%s: %s vs %s", c->url, theirs, ours);
            else
                cr_expect(strcasecmp(theirs, ours) == 0, "%s: %s vs %s", c->url, theirs, ours);
            free(ours);
        }
        curl_free(theirs);
        curl_url_cleanup(cu);
    }
    curl_global_cleanup();
}
