/*
 * test_files.c - reading a test's input files (test_files.h).
 */
#include "test_files.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

char *test_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL)
        return NULL;
    cr_assert_eq(fseek(f, 0, SEEK_END), 0, "cannot seek %s", path);
    n = ftell(f);
    cr_assert_geq(n, 0, "cannot size %s", path);
    rewind(f);
    buf = malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n, "cannot read %s", path);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}
