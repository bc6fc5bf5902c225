/*
 * fuzz_cursor.c - the cursor of the lists paged by key (api/cursor.h) over
 * any bytes, as a client puts them in ?cursor=.
 *
 * The first byte picks the number of parts (1 to 3), the rest is the
 * cursor. Whatever the input: the decoder never reads past its length
 * (the bytes are copied to a buffer of exactly that size) nor writes past
 * its buffer; an accepted cursor has exactly that many parts, each inside
 * the buffer, and encoding them again gives the very same text.
 */
#include "api/cursor.h"

#include "core/limits.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char buf[HR_MAX_API_CURSOR / 2 + 1];
    const char *parts[3] = {NULL, NULL, NULL};
    size_t n, len;
    char *copy, *again;

    if (size == 0)
        return 0;
    n = (size_t)data[0] % 3 + 1;
    len = size - 1;
    copy = malloc(len > 0 ? len : 1);
    if (copy == NULL)
        return 0;
    if (len > 0)
        memcpy(copy, data + 1, len);
    if (hr_api_cursor_decode(copy, len, buf, sizeof(buf), parts, n) != 0) {
        free(copy);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (parts[i] < buf || parts[i] >= buf + sizeof(buf))
            abort();
    again = hr_api_cursor_encode(parts, n);
    if (again == NULL || strlen(again) != len || memcmp(again, copy, len) != 0)
        abort();
    free(again);
    free(copy);
    return 0;
}
