#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void hr_oom(size_t n)
{
    fprintf(stderr, "herald: out of memory allocating %zu bytes, aborting\n", n);
    abort();
}

void *hr_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        hr_oom(n);
    return p;
}

void *hr_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        hr_oom(n * size);
    return p;
}

void *hr_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        hr_oom(n);
    return q;
}

char *hr_strndup(const char *s, size_t n)
{
    char *d;
    if (s == NULL)
        return NULL;
    d = hr_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *hr_strdup(const char *s)
{
    return s == NULL ? NULL : hr_strndup(s, strlen(s));
}
