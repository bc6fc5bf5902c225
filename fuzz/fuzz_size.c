/*
 * fuzz_size.c - sizes as people write them (hr_size_parse).
 *
 * Whatever the input: the reader never reads past its length (the bytes are
 * copied to a buffer of exactly that size, so AddressSanitizer sees any
 * overread); it leaves the result untouched when it refuses; what it
 * accepts is digits and then nothing, B, KiB or MiB, and its value is the
 * digits' number times the unit, checked here the long way.
 */
#include "core/size.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size > 0 ? size : 1);
    uint64_t v = 12345, digits = 0, unit = 0;
    size_t i = 0;

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    if (!hr_size_parse(s, size, &v)) {
        if (v != 12345)
            abort();
        free(s);
        return 0;
    }
    while (i < size && s[i] >= '0' && s[i] <= '9' && digits <= 1000000000000ULL)
        digits = digits * 10 + (uint64_t)(s[i++] - '0');
    if (i == 0 || digits > 1000000000000ULL)
        abort();
    if (i == size || (size - i == 1 && s[i] == 'B'))
        unit = 1;
    else if (size - i == 3 && memcmp(s + i, "KiB", 3) == 0)
        unit = 1024;
    else if (size - i == 3 && memcmp(s + i, "MiB", 3) == 0)
        unit = 1048576;
    if (unit == 0 || v != digits * unit)
        abort();
    free(s);
    return 0;
}
