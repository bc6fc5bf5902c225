/*
 * fuzz_browser_guard.c - the browser rules of api/guard.c (Host, Origin,
 * Sec-Fetch-Site) and the JSON content type check on any bytes.
 *
 * The input is up to four NUL-separated header values: Host, Origin,
 * Sec-Fetch-Site and Content-Type; a missing part is a missing header.
 * Whatever they hold: a request without Origin and Sec-Fetch-Site (a
 * program's) is allowed; an allowed request with either names a Host
 * herald serves; a refusal says why, in a terminated string that fits.
 */
#include "api/api.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"herald.internal"};
    static const hr_api_hosts hosts = {.listen_host = "build-box", .names = names, .nnames = 1};
    char *copy = malloc(size + 1);
    const char *part[4] = {NULL, NULL, NULL, NULL};
    char why[64];
    size_t at = 0;
    int ok;

    if (copy == NULL)
        abort();
    memcpy(copy, data, size);
    copy[size] = '\0';
    for (size_t i = 0; i < 4 && at <= size; i++) {
        part[i] = copy + at;
        at += strlen(copy + at) + 1;
    }
    memset(why, 'x', sizeof(why));
    ok = hr_api__browser_check(&hosts, part[0], part[1], part[2], why, sizeof(why));
    if (!ok && (memchr(why, '\0', sizeof(why)) == NULL || why[0] == '\0'))
        abort();
    if (part[1] == NULL && part[2] == NULL && !ok)
        abort();
    if (ok && (part[1] != NULL || part[2] != NULL) && !hr_api__host_served(&hosts, part[0]))
        abort();
    (void)hr_api__is_json(part[3]);
    free(copy);
    return 0;
}
