/*
 * Tests for src/api/guard.c: the browser rules (which Host names herald
 * serves, Origin against Host, Sec-Fetch-Site) and the JSON content type,
 * as pure functions; tests/system/test_access.py drives them through the
 * real daemon.
 */
#include <criterion/criterion.h>

#include "api/api.h"

#include <string.h>

static const char *const names[] = {"herald.internal", "CI.Example.org"};
static const hr_api_hosts hosts = {.listen_host = "build-box", .names = names, .nnames = 2};

static int allowed(const char *host, const char *origin, const char *site)
{
    char why[400] = "";
    int ok = hr_api__browser_check(&hosts, host, origin, site, why, sizeof(why));
    cr_expect(ok || why[0] != '\0', "refused without a reason");
    return ok;
}

Test(guard, served_hosts)
{
    static const char *const served[] = {
        "127.0.0.1:8190", "127.0.0.1",       "[::1]:8190",         "10.1.2.3:80",
        "localhost:8190", "LOCALHOST",       "localhost.:8190",    "app.localhost:8190",
        "build-box:8190", "herald.internal", "ci.example.org:443", "[fe80::1]:1",
    };
    static const char *const not_served[] = {
        "evil.example:8190",
        "evil.example",
        "localhost.evil.example",
        "127.0.0.1.evil.example",
        "herald.internal.evil:8190",
        "",
        "[::1",
        "xlocalhost:1",
        "build-box2:8190",
    };
    for (size_t i = 0; i < sizeof(served) / sizeof(served[0]); i++)
        cr_expect(hr_api__host_served(&hosts, served[i]), "%s not served", served[i]);
    for (size_t i = 0; i < sizeof(not_served) / sizeof(not_served[0]); i++)
        cr_expect(!hr_api__host_served(&hosts, not_served[i]), "%s served", not_served[i]);
    cr_expect(!hr_api__host_served(&hosts, NULL));
}

Test(guard, programs_pass_whatever_their_host)
{
    /* No Origin, no Sec-Fetch-Site: curl, the GoCD bridge, Jenkins. */
    cr_expect(allowed("evil.example:8190", NULL, NULL));
    cr_expect(allowed(NULL, NULL, NULL));
}

Test(guard, browsers_from_other_sites_are_refused)
{
    cr_expect(!allowed("127.0.0.1:8190", NULL, "cross-site"));
    cr_expect(!allowed("127.0.0.1:8190", NULL, "Same-Site"));
    cr_expect(!allowed("127.0.0.1:8190", "https://evil.example", NULL));
    cr_expect(!allowed("127.0.0.1:8190", "http://127.0.0.1:3000", "same-origin"));
    cr_expect(!allowed("127.0.0.1:8190", "null", NULL));
    cr_expect(!allowed("127.0.0.1:8190", "", NULL));
    /* DNS rebinding: the page's own name, same origin to the browser. */
    cr_expect(!allowed("evil.example:8190", "http://evil.example:8190", "same-origin"));
    cr_expect(!allowed("evil.example:8190", "http://evil.example:8190", NULL));
    cr_expect(!allowed("evil.example:8190", NULL, "same-origin"));
    cr_expect(!allowed(NULL, NULL, "none"));
}

Test(guard, browsers_on_herald_itself_pass)
{
    cr_expect(allowed("127.0.0.1:8190", NULL, "none"));
    cr_expect(allowed("127.0.0.1:8190", "http://127.0.0.1:8190", "same-origin"));
    cr_expect(allowed("localhost:8190", "http://LOCALHOST:8190", NULL));
    cr_expect(allowed("herald.internal", "https://herald.internal:443", NULL));
    cr_expect(allowed("herald.internal", "http://herald.internal:80", NULL));
    cr_expect(allowed("herald.internal:8190", "http://herald.internal:8190", "same-origin"));
}

Test(guard, json_content_types)
{
    static const char *const json[] = {"application/json", "application/json; charset=utf-8",
                                       "Application/JSON;charset=UTF-8", " application/json"};
    static const char *const other[] = {"text/plain",
                                        "text/plain;charset=UTF-8",
                                        "application/x-www-form-urlencoded",
                                        "multipart/form-data",
                                        "application/jsonx",
                                        "application/json-seq",
                                        "application/xml",
                                        ""};
    for (size_t i = 0; i < sizeof(json) / sizeof(json[0]); i++)
        cr_expect(hr_api__is_json(json[i]), "%s refused", json[i]);
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
        cr_expect(!hr_api__is_json(other[i]), "%s taken", other[i]);
    cr_expect(!hr_api__is_json(NULL));
}
