/*
 * Tests for src/core/timefmt.c: GoCD's two timestamp forms, offsets, the
 * calendar's edges, refusals, and formatting.
 */
#include <criterion/criterion.h>

#include "core/error.h"
#include "core/timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 2011-07-13T19:43:37.100Z, GoCD's favourite example. */
#define EXAMPLE_MS INT64_C(1310586217100)

static int64_t parse_ok(const char *s)
{
    int64_t t = 0;
    cr_assert_eq(hr_time_parse(s, strlen(s), &t), HR_OK, "refused \"%s\"", s);
    return t;
}

static void expect_refused(const char *s)
{
    int64_t t = 42;
    cr_expect_eq(hr_time_parse(s, strlen(s), &t), HR_EINVAL, "accepted \"%s\"", s);
    cr_expect_eq(t, 42, "out changed for \"%s\"", s);
}

Test(timefmt, both_gocd_forms)
{
    cr_expect_eq(parse_ok("2011-07-13T19:43:37.100Z"), EXAMPLE_MS);
    cr_expect_eq(parse_ok("2011-07-13T19:43:37.100+0000"), EXAMPLE_MS);
    cr_expect_eq(parse_ok("2011-07-13T19:43:37.100-0000"), EXAMPLE_MS);
}

Test(timefmt, offsets_are_subtracted)
{
    cr_expect_eq(parse_ok("2011-07-14T01:13:37.100+0530"), EXAMPLE_MS);
    cr_expect_eq(parse_ok("2011-07-13T11:43:37.100-0800"), EXAMPLE_MS);
    cr_expect_eq(parse_ok("2011-07-14T07:43:37.100+1200"), EXAMPLE_MS);
    cr_expect_eq(parse_ok("2011-07-13T20:28:37.100+0045"), EXAMPLE_MS);
    cr_expect_eq(parse_ok("2011-07-13T19:43:37.100+2359"),
                 EXAMPLE_MS - (23 * 3600 + 59 * 60) * INT64_C(1000));
    /* Across midnight, month and year. */
    cr_expect_eq(parse_ok("2012-01-01T00:30:00.000+0100"), parse_ok("2011-12-31T23:30:00.000Z"));
}

Test(timefmt, milliseconds_may_be_omitted)
{
    cr_expect_eq(parse_ok("2011-07-13T19:43:37Z"), EXAMPLE_MS - 100);
    cr_expect_eq(parse_ok("2011-07-13T19:43:37+0000"), EXAMPLE_MS - 100);
    cr_expect_eq(parse_ok("2011-07-13T19:43:37.000Z"), EXAMPLE_MS - 100);
    cr_expect_eq(parse_ok("2011-07-13T19:43:37.999Z"), EXAMPLE_MS + 899);
}

Test(timefmt, epoch_and_edges)
{
    cr_expect_eq(parse_ok("1970-01-01T00:00:00.000Z"), 0);
    cr_expect_eq(parse_ok("1970-01-01T00:00:00.001Z"), 1);
    cr_expect_eq(parse_ok("1969-12-31T23:59:59.999Z"), -1);
    cr_expect_eq(parse_ok("2000-01-01T00:00:00.000Z"), INT64_C(946684800000));
    cr_expect_eq(parse_ok("2038-01-19T03:14:08.000Z"), INT64_C(2147483648000));
    cr_expect_eq(parse_ok("9999-12-31T23:59:59.999Z"), INT64_C(253402300799999));
}

Test(timefmt, leap_years)
{
    /* Divisible by 4: leap; by 100: not; by 400: leap. */
    cr_expect_eq(parse_ok("2024-02-29T00:00:00.000Z") + 86400000,
                 parse_ok("2024-03-01T00:00:00.000Z"));
    cr_expect_eq(parse_ok("2000-02-29T12:00:00.000Z") + 43200000,
                 parse_ok("2000-03-01T00:00:00.000Z"));
    cr_expect_eq(parse_ok("2023-02-28T00:00:00.000Z") + 86400000,
                 parse_ok("2023-03-01T00:00:00.000Z"));
    expect_refused("2023-02-29T00:00:00.000Z");
    expect_refused("1900-02-29T00:00:00.000Z");
    expect_refused("2100-02-29T00:00:00.000Z");
    expect_refused("2024-02-30T00:00:00.000Z");
    cr_expect_eq(parse_ok("2024-12-31T00:00:00.000Z") - parse_ok("2024-01-01T00:00:00.000Z"),
                 INT64_C(365) * 86400000);
}

Test(timefmt, invalid_dates_and_times)
{
    expect_refused("2011-13-01T00:00:00.000Z");
    expect_refused("2011-00-01T00:00:00.000Z");
    expect_refused("2011-01-00T00:00:00.000Z");
    expect_refused("2011-01-32T00:00:00.000Z");
    expect_refused("2011-04-31T00:00:00.000Z");
    expect_refused("2011-06-31T00:00:00.000Z");
    expect_refused("2011-09-31T00:00:00.000Z");
    expect_refused("2011-11-31T00:00:00.000Z");
    expect_refused("2011-07-13T24:00:00.000Z");
    expect_refused("2011-07-13T23:60:00.000Z");
    expect_refused("2011-07-13T23:59:61.000Z");
    expect_refused("2011-07-13T19:43:37.100+2400");
    expect_refused("2011-07-13T19:43:37.100+0060");
}

Test(timefmt, malformed_text)
{
    expect_refused("");
    expect_refused("yesterday");
    expect_refused("2011-07-13");
    expect_refused("2011-07-13T19:43");
    expect_refused("2011-07-13 19:43:37.100Z");
    expect_refused("2011-07-13t19:43:37.100Z");
    expect_refused("2011/07/13T19:43:37.100Z");
    expect_refused("2011-07-13T19:43:37.100");
    expect_refused("2011-07-13T19:43:37.100z");
    expect_refused("2011-07-13T19:43:37.1Z");
    expect_refused("2011-07-13T19:43:37.10Z");
    expect_refused("2011-07-13T19:43:37.1000Z");
    expect_refused("2011-07-13T19:43:37.100ZZ");
    expect_refused("2011-07-13T19:43:37.100Z ");
    expect_refused(" 2011-07-13T19:43:37.100Z");
    expect_refused("2011-07-13T19:43:37.100+00:00");
    expect_refused("2011-07-13T19:43:37.100+000");
    expect_refused("2011-07-13T19:43:37.100+00000");
    expect_refused("2011-07-13T19:43:37.100 0000");
    expect_refused("+011-07-13T19:43:37.100Z");
    expect_refused("2011-7-13T19:43:37.100Z");
    expect_refused("2011-07-13T19:43:3a.100Z");
    expect_refused("2011-07-13T19:43:37.1a0Z");
}

Test(timefmt, reads_only_len_bytes)
{
    const char text[] = "2011-07-13T19:43:37.100Zjunk";
    size_t n = strlen("2011-07-13T19:43:37.100Z");
    /* An exact-size copy without a NUL, so the sanitizers see any overread. */
    char *buf = malloc(n);
    int64_t t = 0;
    cr_assert_not_null(buf);
    memcpy(buf, text, n);
    cr_expect_eq(hr_time_parse(buf, n, &t), HR_OK);
    cr_expect_eq(t, EXAMPLE_MS);
    /* No prefix of a timestamp is one. */
    for (size_t len = 0; len < n; len++)
        cr_expect_eq(hr_time_parse(buf, len, &t), HR_EINVAL, "accepted %zu bytes", len);
    free(buf);
    cr_expect_eq(hr_time_parse(text, strlen(text), &t), HR_EINVAL);
}

Test(timefmt, format)
{
    char buf[HR_TIME_STR_MAX];
    cr_expect_str_eq(hr_time_format(0, buf, sizeof(buf)), "1970-01-01T00:00:00.000Z");
    cr_expect_str_eq(hr_time_format(EXAMPLE_MS, buf, sizeof(buf)), "2011-07-13T19:43:37.100Z");
    cr_expect_str_eq(hr_time_format(-1, buf, sizeof(buf)), "1969-12-31T23:59:59.999Z");
    cr_expect_str_eq(hr_time_format(INT64_C(951782400000), buf, sizeof(buf)),
                     "2000-02-29T00:00:00.000Z");
    cr_expect_eq(hr_time_format(1, buf, sizeof(buf)), buf);
    /* Outside years 0000-9999 the digits run over four, as printf's. */
    cr_expect_str_eq(hr_time_format(INT64_C(253402300800000), buf, sizeof(buf)),
                     "10000-01-01T00:00:00.000Z");
    /* A buffer too short for the whole text gets what fits. */
    char small[8];
    cr_expect_str_eq(hr_time_format(0, small, sizeof(small)), "1970-01");
}

Test(timefmt, format_writes_what_printf_writes)
{
    /* Digit by digit (the fast path) against printf's format, over times
     * from 1900 to 2200 spread by a prime step, and every millisecond of
     * one second. */
    for (int64_t ms = INT64_C(-2208988800000); ms < INT64_C(7258118400000);
         ms += INT64_C(7919) * 86400 * 3 + 3607001) {
        for (int k = 0; k < 2; k++) {
            int64_t at = ms + k * 999;
            char got[HR_TIME_STR_MAX], want[80];
            time_t t = (time_t)(at >= 0 ? at / 1000 : (at - 999) / 1000);
            int rem = (int)(at - (int64_t)t * 1000);
            struct tm tm;
            gmtime_r(&t, &tm);
            snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, rem);
            cr_assert_str_eq(hr_time_format(at, got, sizeof(got)), want, "at %lld", (long long)at);
        }
    }
}

Test(timefmt, format_parse_round_trip)
{
    const int64_t samples[] = {0,
                               1,
                               -1,
                               999,
                               -1000,
                               EXAMPLE_MS,
                               INT64_C(951782400000),  /* 2000-02-29 */
                               INT64_C(1709164799999), /* 2024-02-28T23:59:59.999 */
                               INT64_C(1709201730250),
                               INT64_C(4102444800000),   /* 2100-01-01 */
                               INT64_C(253402300799999), /* 9999-12-31T23:59:59.999 */
                               INT64_C(-2208988800000)}; /* 1900-01-01 */
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        char buf[HR_TIME_STR_MAX];
        int64_t back = 0;
        hr_time_format(samples[i], buf, sizeof(buf));
        cr_expect_eq(hr_time_parse(buf, strlen(buf), &back), HR_OK, "refused its own %s", buf);
        cr_expect_eq(back, samples[i], "%s came back as %lld", buf, (long long)back);
    }
    /* And text -> ms -> text, normalising the offset to Z. */
    char buf[HR_TIME_STR_MAX];
    cr_expect_str_eq(hr_time_format(parse_ok("2011-07-14T01:13:37.100+0530"), buf, sizeof(buf)),
                     "2011-07-13T19:43:37.100Z");
}

Test(timefmt, clocks)
{
    int64_t now = hr_time_now_ms();
    int64_t a = hr_time_mono_us(), b = hr_time_mono_us();
    cr_expect_gt(now, INT64_C(1577836800000), "the clock says before 2020");
    cr_expect_geq(b, a);
    cr_expect_eq(HR_TIME_NONE, INT64_MIN);
}
