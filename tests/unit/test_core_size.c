/*
 * test_core_size.c - sizes as people write them (core/size.h), read alike
 * by the configuration and the command line.
 */
#include "core/size.h"

#include <criterion/criterion.h>
#include <string.h>

static bool parse(const char *s, uint64_t *v)
{
    return hr_size_parse(s, strlen(s), v);
}

Test(size, bytes_and_units)
{
    static const struct {
        const char *in;
        uint64_t want;
    } ok[] = {
        {"0", 0},         {"4096", 4096},    {"12B", 12}, {"4KiB", 4096},
        {"64KiB", 65536}, {"1MiB", 1048576}, {"0MiB", 0}, {"1000000000000", 1000000000000ULL},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t v = 7;
        cr_expect(parse(ok[i].in, &v), "%s", ok[i].in);
        cr_expect_eq(v, ok[i].want, "%s: %llu", ok[i].in, (unsigned long long)v);
    }
}

Test(size, what_is_not_a_size)
{
    static const char *const bad[] = {
        "",
        "KiB",
        "4kb",
        "4KB",
        "4 KiB",
        "-1",
        "+4",
        "4GiB",
        "4KiBs",
        "0x10",
        "1.5MiB",
        "1000000000001",
        "99999999999999999999999",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 7;
        cr_expect_not(parse(bad[i], &v), "%s", bad[i]);
        cr_expect_eq(v, 7, "%s: untouched", bad[i]);
    }
    /* Only the n bytes given are read. */
    uint64_t v = 0;
    cr_expect(hr_size_parse("64KiBxyz", 5, &v));
    cr_expect_eq(v, 65536);
}
