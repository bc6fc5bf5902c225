/*
 * guard.c - the address guard (guard.h): tables of refused ranges, the
 * IPv6 forms that carry an IPv4 address, and delivery.allow.
 */
#include "deliver/guard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

typedef struct refused_range {
    const char *prefix; /* numeric address */
    int bits;
    const char *what; /* "a loopback address" */
} refused_range;

static const refused_range refused_v4[] = {
    {"0.0.0.0", 8, "an unspecified (this-network) address"},
    {"10.0.0.0", 8, "a private address"},
    {"100.64.0.0", 10, "a shared (carrier-grade NAT) address"},
    {"127.0.0.0", 8, "a loopback address"},
    {"169.254.0.0", 16, "a link-local address"},
    {"172.16.0.0", 12, "a private address"},
    {"192.0.0.0", 24, "an IETF protocol assignment address"},
    {"192.168.0.0", 16, "a private address"},
    {"198.18.0.0", 15, "a benchmarking address"},
    {"224.0.0.0", 4, "a multicast address"},
    {"240.0.0.0", 4, "a reserved (or broadcast) address"},
};

static const refused_range refused_v6[] = {
    {"::", 128, "an unspecified address"},
    {"::1", 128, "a loopback address"},
    {"64:ff9b:1::", 48, "a local-use NAT64 address"},
    {"fc00::", 7, "a unique-local address"},
    {"fe80::", 10, "a link-local address"},
    {"ff00::", 8, "a multicast address"},
};

/* An IPv6 form that carries an IPv4 address: the first bits of the IPv6
 * address, and where the IPv4 address is (bytes at, inverted or not). */
typedef struct embedding {
    const char *prefix;
    int bits;
    size_t at;
    bool inverted;
    const char *what; /* "a NAT64 address for" */
} embedding;

/* The prefixes do not overlap; Teredo carries two addresses, so it has
 * two rows. */
static const embedding embeddings[] = {
    {"::ffff:0:0", 96, 12, false, "an IPv4-mapped address for"},
    {"::ffff:0:0:0", 96, 12, false, "an IPv4-translated address for"},
    {"::", 96, 12, false, "an IPv4-compatible address for"},
    {"64:ff9b::", 96, 12, false, "a NAT64 address for"},
    {"2002::", 16, 2, false, "a 6to4 address for"},
    {"2001::", 32, 4, false, "a Teredo address for server"},
    {"2001::", 32, 12, true, "a Teredo address for client"},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Whether the first bits of a and b (len bytes each) are equal. */
static bool prefix_equal(const unsigned char *a, const unsigned char *b, size_t len, int bits)
{
    size_t whole = (size_t)bits / 8;
    int rest = bits % 8;

    if (bits < 0 || (size_t)bits > len * 8)
        return false;
    if (memcmp(a, b, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xFFu << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

/* Whether the numeric prefix/bits holds addr (family's length). */
static bool in_prefix(const char *prefix, int bits, int family, const unsigned char *addr)
{
    unsigned char net[16];
    if (inet_pton(family, prefix, net) != 1)
        return false;
    return prefix_equal(net, addr, family == AF_INET ? 4 : 16, bits);
}

/* Whether the CIDR text ("10.0.0.0/8", "fd00::/8", or one address) holds
 * the address (family AF_INET with 4 bytes or AF_INET6 with 16). */
static bool cidr_contains(const char *cidr, int family, const unsigned char *addr)
{
    char text[INET6_ADDRSTRLEN + 8];
    unsigned char net[16];
    const char *slash = strchr(cidr, '/');
    size_t len = slash ? (size_t)(slash - cidr) : strlen(cidr);
    size_t alen = family == AF_INET ? 4 : 16;
    long bits = (long)alen * 8;

    if (len == 0 || len >= sizeof(text))
        return false;
    memcpy(text, cidr, len);
    text[len] = '\0';
    if (inet_pton(family, text, net) != 1)
        return false;
    if (slash != NULL) {
        char *end;
        bits = strtol(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end != '\0' || bits < 0 || bits > (long)alen * 8)
            return false;
    }
    return prefix_equal(net, addr, alen, (int)bits);
}

/* Whether delivery.allow names the address's range. */
static bool allowed_range(const hr_strlist *allow, int family, const unsigned char *addr)
{
    for (size_t i = 0; allow != NULL && i < allow->n; i++)
        if (allow->items[i] != NULL && cidr_contains(allow->items[i], family, addr))
            return true;
    return false;
}

/* Whether delivery.allow names the host. */
static bool allowed_host(const hr_strlist *allow, const char *host)
{
    for (size_t i = 0; host != NULL && allow != NULL && i < allow->n; i++)
        if (allow->items[i] != NULL && strcasecmp(allow->items[i], host) == 0)
            return true;
    return false;
}

/* The refused range holding addr (family's length), or NULL. */
static const refused_range *refused(int family, const unsigned char *addr)
{
    const refused_range *table = family == AF_INET ? refused_v4 : refused_v6;
    size_t n = family == AF_INET ? COUNT(refused_v4) : COUNT(refused_v6);
    for (size_t i = 0; i < n; i++)
        if (in_prefix(table[i].prefix, table[i].bits, family, addr))
            return &table[i];
    return NULL;
}

/* Writes why (when there is room) like snprintf. */
static void say(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    if (why == NULL || whylen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* The IPv6 rule: the address's own range, then every IPv4 address it
 * carries. */
static int judge_v6(const hr_strlist *allow, const char *host, const unsigned char *a6, char *why,
                    size_t whylen)
{
    char text[INET6_ADDRSTRLEN], text4[INET_ADDRSTRLEN];
    const refused_range *r = refused(AF_INET6, a6);

    inet_ntop(AF_INET6, a6, text, sizeof(text));
    if (r != NULL) {
        if (allowed_range(allow, AF_INET6, a6) || allowed_host(allow, host))
            return 1;
        say(why, whylen, "%s is %s", text, r->what);
        return 0;
    }
    for (size_t i = 0; i < COUNT(embeddings); i++) {
        const embedding *e = &embeddings[i];
        unsigned char a4[4];
        const refused_range *r4;

        if (!in_prefix(e->prefix, e->bits, AF_INET6, a6))
            continue;
        memcpy(a4, a6 + e->at, 4);
        for (size_t k = 0; e->inverted && k < 4; k++)
            a4[k] = (unsigned char)~a4[k];
        r4 = refused(AF_INET, a4);
        if (r4 == NULL || allowed_range(allow, AF_INET, a4))
            continue;
        if (allowed_range(allow, AF_INET6, a6) || allowed_host(allow, host))
            return 1;
        inet_ntop(AF_INET, a4, text4, sizeof(text4));
        say(why, whylen, "%s is %s %s, %s", text, e->what, text4, r4->what);
        return 0;
    }
    return 1;
}

int hr_guard_allowed(const hr_strlist *allow, const char *host, const struct sockaddr *sa,
                     char *why, size_t whylen)
{
    char text[INET_ADDRSTRLEN];
    const refused_range *r;
    unsigned char a4[4];

    if (why != NULL && whylen > 0)
        why[0] = '\0';
    if (sa != NULL && sa->sa_family == AF_INET6)
        return judge_v6(allow, host, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, why,
                        whylen);
    if (sa == NULL || sa->sa_family != AF_INET) {
        say(why, whylen, "the address is not an IP address");
        return 0;
    }
    memcpy(a4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    r = refused(AF_INET, a4);
    if (r == NULL || allowed_range(allow, AF_INET, a4) || allowed_host(allow, host))
        return 1;
    inet_ntop(AF_INET, a4, text, sizeof(text));
    say(why, whylen, "%s is %s", text, r->what);
    return 0;
}
