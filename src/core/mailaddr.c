/*
 * mailaddr.c - the e-mail address rule (mailaddr.h).
 */
#include "core/mailaddr.h"

#include <string.h>

bool hr_mailaddr_ok(const char *s, size_t n)
{
    const char *at = n > 0 ? memchr(s, '@', n) : NULL;
    bool ok = n >= 3 && n <= HR_MAILADDR_MAX && at != NULL && at > s && at < s + n - 1 &&
              memchr(at + 1, '@', (size_t)(s + n - at - 1)) == NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)s[i] > 0x20 && s[i] != 0x7f && strchr("<>,;\"()[]\\", s[i]) == NULL;
    return ok;
}
