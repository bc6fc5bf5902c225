/*
 * mailaddr.h - the one rule for an e-mail address herald sends to or from,
 * used by the config (a target's from and to, people:'s addresses) and by
 * the delivery thread (a recipient a template rendered, a committer's
 * address from GoCD or Jenkins): local@domain, at most 254 bytes, nothing
 * that would break an SMTP command line or a header (spaces, control
 * characters, <, >, ",", ";", quotes, brackets, backslashes).
 */
#ifndef HR_CORE_MAILADDR_H
#define HR_CORE_MAILADDR_H

#include <stdbool.h>
#include <stddef.h>

#define HR_MAILADDR_MAX 254

/* Whether (s, n) is such an address. */
bool hr_mailaddr_ok(const char *s, size_t n);

#endif
