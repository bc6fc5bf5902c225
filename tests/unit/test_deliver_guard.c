/*
 * test_deliver_guard.c - the address guard as a pure function: every
 * refused range at its edges, the IPv6 forms that carry an IPv4 address
 * (an internal one inside is refused, a public one allowed), and
 * delivery.allow by range and by host.
 */
#include "deliver/guard.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static int check_v4(const hr_strlist *allow, const char *host, const char *ip, char *why)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    cr_assert_eq(inet_pton(AF_INET, ip, &a.sin_addr), 1, "%s", ip);
    return hr_guard_allowed(allow, host, (struct sockaddr *)&a, why, HR_GUARD_WHY_MAX);
}

static int check_v6(const hr_strlist *allow, const char *host, const char *ip, char *why)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6};
    cr_assert_eq(inet_pton(AF_INET6, ip, &a.sin6_addr), 1, "%s", ip);
    return hr_guard_allowed(allow, host, (struct sockaddr *)&a, why, HR_GUARD_WHY_MAX);
}

typedef struct verdict {
    const char *ip;
    int allowed;
} verdict;

static void expect_v6(const verdict *cases, size_t n)
{
    char why[HR_GUARD_WHY_MAX];
    for (size_t i = 0; i < n; i++) {
        int got = check_v6(NULL, "h", cases[i].ip, why);
        cr_expect_eq(got, cases[i].allowed, "%s: %s", cases[i].ip, why);
        cr_expect_eq(why[0] == '\0', got == 1, "%s: why is \"%s\"", cases[i].ip, why);
    }
}

Test(guard, refuses_every_range_and_allows_public)
{
    static const verdict v4[] = {
        {"0.0.0.0", 0},     {"0.255.255.255", 0},   {"1.0.0.0", 1},     {"9.255.255.255", 1},
        {"10.0.0.0", 0},    {"10.255.255.255", 0},  {"11.0.0.0", 1},    {"100.63.255.255", 1},
        {"100.64.0.0", 0},  {"100.127.255.255", 0}, {"100.128.0.0", 1}, {"126.255.255.255", 1},
        {"127.0.0.1", 0},   {"127.255.255.255", 0}, {"128.0.0.0", 1},   {"169.253.255.255", 1},
        {"169.254.0.0", 0}, {"169.254.169.254", 0}, {"169.255.0.0", 1}, {"172.15.255.255", 1},
        {"172.16.0.0", 0},  {"172.31.255.255", 0},  {"172.32.0.0", 1},  {"191.255.255.255", 1},
        {"192.0.0.0", 0},   {"192.0.0.255", 0},     {"192.0.1.0", 1},   {"192.167.255.255", 1},
        {"192.168.0.0", 0}, {"192.168.255.255", 0}, {"192.169.0.0", 1}, {"198.17.255.255", 1},
        {"198.18.0.0", 0},  {"198.19.255.255", 0},  {"198.20.0.0", 1},  {"223.255.255.255", 1},
        {"224.0.0.0", 0},   {"239.255.255.255", 0}, {"240.0.0.0", 0},   {"255.255.255.255", 0},
        {"8.8.8.8", 1},     {"93.184.216.34", 1},
    };
    static const verdict v6[] = {
        {"::", 0},
        {"::1", 0},
        {"fbff::1", 1},
        {"fc00::", 0},
        {"fdff:ffff::1", 0},
        {"fe00::1", 1},
        {"fe80::1", 0},
        {"febf:ffff::1", 0},
        {"fec0::1", 1},
        {"ff00::", 0},
        {"ff02::1", 0},
        {"2606:4700::1111", 1},
        {"2001:db8::1", 1},
        {"::ffff:127.0.0.1", 0},
        {"::ffff:10.1.2.3", 0},
        {"::ffff:8.8.8.8", 1},
        {"::ffff:169.254.169.254", 0},
    };
    char why[HR_GUARD_WHY_MAX];

    for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++)
        cr_expect_eq(check_v4(NULL, "h", v4[i].ip, why), v4[i].allowed, "%s: %s", v4[i].ip, why);
    expect_v6(v6, sizeof(v6) / sizeof(v6[0]));

    cr_assert_eq(check_v4(NULL, "h", "127.0.0.1", why), 0);
    cr_assert_str_eq(why, "127.0.0.1 is a loopback address");
    check_v4(NULL, "h", "10.0.0.1", why);
    cr_assert_str_eq(why, "10.0.0.1 is a private address");
    check_v6(NULL, "h", "fe80::1", why);
    cr_assert_str_eq(why, "fe80::1 is a link-local address");
    check_v6(NULL, "h", "::ffff:127.0.0.1", why);
    cr_assert_str_eq(why, "::ffff:127.0.0.1 is an IPv4-mapped address for 127.0.0.1, a loopback "
                          "address");
    cr_assert_eq(check_v4(NULL, "h", "8.8.8.8", why), 1);
    cr_assert_str_eq(why, "");

    struct sockaddr_un_like {
        sa_family_t family;
        char path[32];
    } un = {.family = AF_UNIX};
    cr_assert_eq(hr_guard_allowed(NULL, "h", (struct sockaddr *)&un, why, sizeof(why)), 0);
    cr_assert_str_eq(why, "the address is not an IP address");
    cr_assert_eq(hr_guard_allowed(NULL, "h", NULL, NULL, 0), 0);
}

/* Each IPv6 form that carries an IPv4 address: internal inside is
 * refused, public inside allowed. */
Test(guard, nat64_well_known_prefix)
{
    static const verdict cases[] = {
        {"64:ff9b::127.0.0.1", 0},   {"64:ff9b::10.0.0.1", 0},      {"64:ff9b::a9fe:a9fe", 0},
        {"64:ff9b::192.168.1.1", 0}, {"64:ff9b::100.64.0.1", 0},    {"64:ff9b::0.0.0.0", 0},
        {"64:ff9b::8.8.8.8", 1},     {"64:ff9b::93.184.216.34", 1}, {"64:ff9b:0:1::10.0.0.1", 1},
    };
    char why[HR_GUARD_WHY_MAX];
    expect_v6(cases, sizeof(cases) / sizeof(cases[0]));
    check_v6(NULL, "h", "64:ff9b::10.0.0.1", why);
    cr_expect_str_eq(why, "64:ff9b::a00:1 is a NAT64 address for 10.0.0.1, a private address");
}

Test(guard, nat64_local_use_prefix_is_refused_whole)
{
    /* Where its IPv4 address sits depends on the network's own prefix
     * length: herald cannot know which host it reaches. */
    static const verdict cases[] = {
        {"64:ff9b:1::10.0.0.1", 0},
        {"64:ff9b:1::8.8.8.8", 0},
        {"64:ff9b:1:ffff:ffff:ffff:ffff:ffff", 0},
        {"64:ff9b:2::8.8.8.8", 1},
    };
    char why[HR_GUARD_WHY_MAX];
    expect_v6(cases, sizeof(cases) / sizeof(cases[0]));
    check_v6(NULL, "h", "64:ff9b:1::8.8.8.8", why);
    cr_expect_str_eq(why, "64:ff9b:1::808:808 is a local-use NAT64 address");
}

Test(guard, six_to_four)
{
    static const verdict cases[] = {
        {"2002:7f00:1::", 0},        {"2002:7f00:0001::1", 0}, {"2002:a00:1::1", 0},
        {"2002:c0a8:101::", 0},      {"2002:a9fe:a9fe::1", 0}, {"2002:0:0::1", 0},
        {"2002:e000:1::", 0},        {"2002:808:808::1", 1},   {"2002:5db8:d822::1", 1},
        {"2002:808:808:ffff::1", 1},
    };
    char why[HR_GUARD_WHY_MAX];
    expect_v6(cases, sizeof(cases) / sizeof(cases[0]));
    check_v6(NULL, "h", "2002:7f00:1::1", why);
    cr_expect_str_eq(why, "2002:7f00:1::1 is a 6to4 address for 127.0.0.1, a loopback address");
}

Test(guard, ipv4_compatible_and_translated)
{
    static const verdict cases[] = {
        {"::127.0.0.1", 0},       {"::10.1.2.3", 0},
        {"::169.254.169.254", 0}, {"::2", 0},
        {"::8.8.8.8", 1},         {"::ffff:0:127.0.0.1", 0},
        {"::ffff:0:10.0.0.1", 0}, {"::ffff:0:8.8.8.8", 1},
        {"::1:8.8.8.8", 1},
    };
    char why[HR_GUARD_WHY_MAX];
    expect_v6(cases, sizeof(cases) / sizeof(cases[0]));
    check_v6(NULL, "h", "::10.1.2.3", why);
    cr_expect_str_eq(why, "::10.1.2.3 is an IPv4-compatible address for 10.1.2.3, a private "
                          "address");
    check_v6(NULL, "h", "::ffff:0:10.0.0.1", why);
    cr_expect_str_eq(why, "::ffff:0:a00:1 is an IPv4-translated address for 10.0.0.1, a private "
                          "address");
}

Test(guard, teredo_server_and_client)
{
    /* RFC 4380's example: server 65.54.227.120, client 192.0.2.45 (its
     * bits inverted: 3fff:fdd2). Then internal clients and servers. */
    static const verdict cases[] = {
        {"2001:0:4136:e378:8000:63bf:3fff:fdd2", 1},
        /* client 127.0.0.1 is 80ff:fffe inverted */
        {"2001:0:4136:e378:8000:63bf:80ff:fffe", 0},
        /* client 10.0.0.1 is f5ff:fffe inverted */
        {"2001:0:4136:e378:8000:63bf:f5ff:fffe", 0},
        /* client 169.254.169.254 is 5601:5601 inverted */
        {"2001:0:4136:e378:8000:63bf:5601:5601", 0},
        /* server 10.0.0.1, client public */
        {"2001:0:a00:1:8000:63bf:3fff:fdd2", 0},
        /* server 127.0.0.1, client public */
        {"2001:0:7f00:1:8000:63bf:3fff:fdd2", 0},
        /* client 8.8.8.8 (f7f7:f7f7 inverted), server public */
        {"2001:0:4136:e378::f7f7:f7f7", 1},
        /* outside 2001::/32 nothing is decoded */
        {"2001:1:7f00:1::80ff:fffe", 1},
    };
    char why[HR_GUARD_WHY_MAX];
    expect_v6(cases, sizeof(cases) / sizeof(cases[0]));
    check_v6(NULL, "h", "2001:0:4136:e378:8000:63bf:80ff:fffe", why);
    cr_expect_str_eq(why, "2001:0:4136:e378:8000:63bf:80ff:fffe is a Teredo address for client "
                          "127.0.0.1, a loopback address");
    check_v6(NULL, "h", "2001:0:a00:1:8000:63bf:3fff:fdd2", why);
    cr_expect_str_eq(why, "2001:0:a00:1:8000:63bf:3fff:fdd2 is a Teredo address for server "
                          "10.0.0.1, a private address");
}

Test(guard, allow_by_cidr_address_and_host)
{
    char *items[] = {"10.0.0.0/8", "fd00::/8", "192.168.1.7", "Hooks.Internal", "::1"};
    hr_strlist allow = {items, 5};
    char why[HR_GUARD_WHY_MAX];

    cr_assert_eq(check_v4(&allow, "h", "10.20.30.40", why), 1);
    cr_assert_eq(check_v6(&allow, "h", "::ffff:10.20.30.40", why), 1, "mapped v4 matches v4 CIDRs");
    cr_assert_eq(check_v6(&allow, "h", "fd12::1", why), 1);
    cr_assert_eq(check_v6(&allow, "h", "fc12::1", why), 0, "fc00::/8 is not fd00::/8");
    cr_assert_eq(check_v4(&allow, "h", "192.168.1.7", why), 1);
    cr_assert_eq(check_v4(&allow, "h", "192.168.1.8", why), 0);
    cr_assert_eq(check_v6(&allow, "h", "::1", why), 1);
    cr_assert_eq(check_v4(&allow, "h", "127.0.0.1", why), 0);
    cr_assert_eq(check_v4(&allow, "hooks.internal", "127.0.0.1", why), 1,
                 "names compare without case");
    cr_assert_eq(check_v4(&allow, "other.internal", "172.16.0.1", why), 0);
    cr_assert_eq(check_v4(&allow, NULL, "172.16.0.1", why), 0);
}

Test(guard, allow_covers_embedded_addresses)
{
    char *items[] = {"10.0.0.0/8", "2002:c0a8::/32", "64:ff9b:1::/48"};
    hr_strlist allow = {items, 3};
    char why[HR_GUARD_WHY_MAX];

    /* The IPv4 range allows it in every form that carries it. */
    cr_expect_eq(check_v6(&allow, "h", "64:ff9b::10.1.2.3", why), 1);
    cr_expect_eq(check_v6(&allow, "h", "2002:a01:203::1", why), 1);
    cr_expect_eq(check_v6(&allow, "h", "::10.1.2.3", why), 1);
    cr_expect_eq(check_v6(&allow, "h", "2001:0:4136:e378:8000:63bf:f5fe:fdfc", why), 1);
    /* The IPv6 range allows what it holds. */
    cr_expect_eq(check_v6(&allow, "h", "2002:c0a8:101::1", why), 1);
    cr_expect_eq(check_v6(&allow, "h", "64:ff9b:1::8.8.8.8", why), 1);
    /* Nothing else. */
    cr_expect_eq(check_v6(&allow, "h", "64:ff9b::127.0.0.1", why), 0);
    cr_expect_eq(check_v6(&allow, "h", "2002:ac10:1::1", why), 0);
    /* The host allows it whatever the form. */
    cr_expect_eq(check_v6(&allow, "hook.internal", "2002:7f00:1::1", why), 0);
    items[0] = "hook.internal";
    cr_expect_eq(check_v6(&allow, "Hook.Internal", "2002:7f00:1::1", why), 1);
}
