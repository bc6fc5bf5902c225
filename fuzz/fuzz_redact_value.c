/*
 * fuzz_redact_value.c - the redactor's value rules (hr_redact_value: URL
 * user information, chat webhook URLs, NAME=value pairs) and the URL-only
 * hr_redact_url_credentials, on any bytes.
 *
 * Besides not crashing: a changed value comes back with its length, and
 * scrubbing it again changes nothing (herald scrubs stored data again when
 * it is read back in, and must not drift); a value with a NUL inside is
 * read to its length. Everything is freed here, so LeakSanitizer reports
 * any forgotten path.
 */
#include "ingest/redact.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *v = malloc(size + 1), *once, *twice;
    size_t n = 0;

    if (v == NULL)
        return 0;
    memcpy(v, data, size);
    v[size] = '\0';

    once = hr_redact_value(v, size, &n);
    if (once != NULL) {
        if (once[n] != '\0' || (n == size && memcmp(once, v, size) == 0))
            abort();
        twice = hr_redact_value(once, n, NULL);
        if (twice != NULL)
            abort();
    }
    free(once);

    once = hr_redact_url_credentials(v);
    if (once != NULL) {
        twice = hr_redact_url_credentials(once);
        if (twice != NULL)
            abort();
    }
    free(once);
    free(v);
    return 0;
}
