/*
 * fuzz_repo_url.c - the git remote URL parser (core/repo.h) over any
 * bytes, as a CI reports them (a GoCD material's url, Jenkins' GIT_URL).
 *
 * Whatever the input: the parser never reads past its length (the bytes
 * are copied to a buffer of exactly that size); a refusal carries a
 * message; an accepted URL has a host and a path of at least two
 * non-empty segments, both NUL-terminated within their arrays, with no
 * space or control character, no "..", and no user information (the host
 * holds no '@').
 */
#include "core/repo.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size > 0 ? size : 1);
    hr_repo r;
    hr_error err;

    if (copy == NULL)
        return 0;
    if (size > 0)
        memcpy(copy, data, size);
    int rc = hr_repo_parse(copy, size, &r, &err);
    free(copy);
    if (rc != HR_OK) {
        if (rc != HR_EINVAL || err.msg[0] == '\0')
            abort();
        return 0;
    }
    size_t hn = strnlen(r.host, sizeof(r.host)), pn = strnlen(r.path, sizeof(r.path));
    if (hn == 0 || hn == sizeof(r.host) || pn == 0 || pn == sizeof(r.path) || r.nsegments < 2)
        abort();
    if (strchr(r.host, '@') != NULL || r.path[0] == '/' || r.path[pn - 1] == '/' ||
        strstr(r.path, "//") != NULL)
        abort();
    for (size_t i = 0; i < pn; i++)
        if ((unsigned char)r.path[i] <= 0x20 || r.path[i] == 0x7f)
            abort();
    size_t segs = 1;
    for (size_t i = 0; i < pn; i++)
        segs += r.path[i] == '/';
    if (segs != r.nsegments || strcmp(r.path, "..") == 0 || strncmp(r.path, "../", 3) == 0 ||
        strstr(r.path, "/../") != NULL)
        abort();
    return 0;
}
