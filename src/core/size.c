/*
 * size.c - sizes as people write them (size.h).
 */
#include "core/size.h"

#include "core/ascii.h"

#include <string.h>

/* Whether the n bytes at s are word, exactly. */
static bool is_word(const char *s, size_t n, const char *word)
{
    return n == strlen(word) && memcmp(s, word, n) == 0;
}

bool hr_size_parse(const char *s, size_t n, uint64_t *bytes)
{
    size_t i = 0;
    uint64_t v = 0, unit;
    while (i < n && hr_is_digit(s[i])) {
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > 1000000000000ULL)
            return false;
        i++;
    }
    if (i == 0)
        return false;
    if (i == n || is_word(s + i, n - i, "B"))
        unit = 1;
    else if (is_word(s + i, n - i, "KiB"))
        unit = 1024;
    else if (is_word(s + i, n - i, "MiB"))
        unit = 1024 * 1024;
    else
        return false;
    *bytes = v * unit;
    return true;
}
