/*
 * size.c - numbers with a unit, and sizes (size.h).
 */
#include "core/size.h"

#include "core/ascii.h"

#include <string.h>

bool hr_unit_parse(const char *s, size_t n, const hr_unit *units, size_t nunits, uint64_t *out)
{
    size_t i = 0;
    uint64_t v = 0;
    while (i < n && hr_is_digit(s[i])) {
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > 1000000000000ULL)
            return false;
        i++;
    }
    if (i == 0)
        return false;
    for (size_t u = 0; u < nunits; u++) {
        if (strlen(units[u].suffix) != n - i || memcmp(s + i, units[u].suffix, n - i) != 0)
            continue;
        if (units[u].scale != 0 && v > (uint64_t)INT64_MAX / units[u].scale)
            return false;
        *out = v * units[u].scale;
        return true;
    }
    return false;
}

bool hr_size_parse(const char *s, size_t n, uint64_t *bytes)
{
    static const hr_unit units[] = {{"", 1}, {"B", 1}, {"KiB", 1024}, {"MiB", 1024 * 1024}};
    return hr_unit_parse(s, n, units, sizeof(units) / sizeof(units[0]), bytes);
}
