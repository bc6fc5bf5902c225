/*
 * guard.h - the address guard: whether the delivery engine may connect to
 * an address. A pure function of the address, the URL's host and
 * delivery.allow, called at connect time (after DNS, before the socket
 * exists), so a name that resolves to an internal address is caught
 * whatever the name.
 *
 * Refused unless delivery.allow names the address's range or the host:
 * IPv4 this-network, private, CGNAT, loopback, link-local, IETF protocol
 * assignments, benchmarking, multicast and reserved; IPv6 unspecified,
 * loopback, unique-local, link-local, multicast and the local-use NAT64
 * prefix 64:ff9b:1::/48 (whose IPv4 address sits where the network's own
 * prefix length puts it, which herald cannot know).
 *
 * An IPv6 address that carries an IPv4 address reaches that IPv4 address
 * (or its network), so the IPv4 address is judged by the IPv4 rule too:
 * IPv4-mapped ::ffff:0:0/96, IPv4-translated ::ffff:0:0:0/96,
 * IPv4-compatible ::/96, NAT64 64:ff9b::/96, 6to4 2002::/16 (the IPv4
 * address in bits 16 to 47) and Teredo 2001::/32 (the server's address in
 * bits 32 to 63 and the client's, inverted, in the last 32 bits: both are
 * judged). A refused embedded address is allowed when delivery.allow names
 * the IPv6 address's range, the IPv4 address's range or the host.
 */
#ifndef HR_DELIVER_GUARD_H
#define HR_DELIVER_GUARD_H

#include "route/config.h"

#include <stddef.h>

/* Room for the longest "why" the guard writes. */
#define HR_GUARD_WHY_MAX 160

struct sockaddr;

/* Whether connecting to sa is allowed: 1 when allowed, 0 when refused.
 * allow is delivery.allow (CIDRs, addresses or host names; may be NULL),
 * host the URL's host name (or the proxy's; may be NULL). On refusal why
 * (whylen bytes, may be NULL) says so ("127.0.0.1 is a loopback
 * address"); on success it is "". Anything but IPv4 and IPv6 is refused. */
int hr_guard_allowed(const hr_strlist *allow, const char *host, const struct sockaddr *sa,
                     char *why, size_t whylen);

#endif
