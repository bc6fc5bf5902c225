/*
 * Tests for src/cli/http.c: durations, base URLs, the token's sources, and
 * the backoff's bounds. Includes the .c to reach its static functions; the
 * retried POST itself is driven over real sockets by
 * tests/system/test_notify.py.
 */
#include <criterion/criterion.h>

#include "../../src/cli/http.c"

#include <stdio.h>
#include <stdlib.h>

static int64_t dur(const char *s)
{
    int64_t ms = -1;
    cr_assert_eq(hr_cli__parse_duration(s, &ms), HR_OK, "%s", s);
    return ms;
}

Test(cli_http, durations)
{
    cr_assert_eq(dur("90"), 90000);
    cr_assert_eq(dur("90s"), 90000);
    cr_assert_eq(dur("5m"), 300000);
    cr_assert_eq(dur("1h"), 3600000);
    cr_assert_eq(dur("1m30s"), 90000);
    cr_assert_eq(dur("500ms"), 500);
    cr_assert_eq(dur("1h2m3s4ms"), 3723004);
    cr_assert_eq(dur("24h"), HR_CLI_MAX_DURATION_MS);
}

Test(cli_http, bad_durations)
{
    static const char *const bad[] = {
        "", "0", "0s", "-1s", "5x", "m", "1.5s", "25h", "99999999999999999999", " 5s", "5s "};
    int64_t ms = 7;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(hr_cli__parse_duration(bad[i], &ms), HR_EINVAL, "%s", bad[i]);
    cr_assert_eq(hr_cli__parse_duration(NULL, &ms), HR_EINVAL);
    cr_assert_eq(ms, 7, "out-parameter touched on failure");
}

Test(cli_http, base_urls)
{
    char why[128];
    cr_assert(hr_cli__check_base_url("http://herald:8190", why, sizeof(why)));
    cr_assert(hr_cli__check_base_url("HTTPS://u:p@herald/prefix/", why, sizeof(why)));
    cr_assert_not(hr_cli__check_base_url("ftp://herald", why, sizeof(why)));
    cr_assert_str_eq(why, "expected an http:// or https:// URL");
    cr_assert_not(hr_cli__check_base_url("herald:8190", why, sizeof(why)));
    cr_assert_not(hr_cli__check_base_url("http://", why, sizeof(why)));
    cr_assert_str_eq(why, "expected a host after the scheme");
    cr_assert_not(hr_cli__check_base_url("http:///x", why, sizeof(why)));
    cr_assert_not(hr_cli__check_base_url("http://h/a b", why, sizeof(why)));
    cr_assert_str_eq(why, "expected no spaces or control characters");
    cr_assert_not(hr_cli__check_base_url("http://h/\r\nX: y", why, sizeof(why)));
}

Test(cli_http, backoff_doubles_within_bounds_with_jitter)
{
    for (int round = 0; round < 200; round++) {
        int64_t want = HR_CLI_BACKOFF_FIRST_MS;
        for (unsigned n = 1; n <= 12; n++) {
            int64_t w = backoff_ms(n);
            cr_assert(w >= want / 2 && w <= want, "attempt %u waited %lld, want %lld/2..%lld", n,
                      (long long)w, (long long)want, (long long)want);
            if (want < HR_CLI_BACKOFF_MAX_MS)
                want *= 2;
            if (want > HR_CLI_BACKOFF_MAX_MS)
                want = HR_CLI_BACKOFF_MAX_MS;
        }
    }
}

Test(cli_http, backoff_varies)
{
    int64_t first = backoff_ms(5);
    bool differs = false;
    for (int i = 0; i < 50 && !differs; i++)
        differs = backoff_ms(5) != first;
    cr_assert(differs, "no jitter");
}

Test(cli_http, sanitize_replaces_control_characters)
{
    char s[] = "a\x1b[31mb\nc\x7f"
               "d\xc3\xa9";
    sanitize(s);
    cr_assert_str_eq(s, "a [31mb c d\xc3\xa9");
}

Test(cli_http, token_sources)
{
    char path[] = "/tmp/herald-token-XXXXXX";
    int fd = mkstemp(path);
    char *t = NULL;
    FILE *f;

    cr_assert(fd >= 0);
    f = fdopen(fd, "w");
    fputs("from-file\nsecond line\n", f);
    fclose(f);

    unsetenv("HERALD_TOKEN");
    cr_assert_eq(hr_cli__token("notify", NULL, NULL, &t), HR_OK);
    cr_assert_null(t);
    setenv("HERALD_TOKEN", "from-env", 1);
    cr_assert_eq(hr_cli__token("notify", NULL, NULL, &t), HR_OK);
    cr_assert_str_eq(t, "from-env");
    free(t);
    cr_assert_eq(hr_cli__token("notify", "from-flag", NULL, &t), HR_OK);
    cr_assert_str_eq(t, "from-flag");
    free(t);
    cr_assert_eq(hr_cli__token("notify", NULL, path, &t), HR_OK);
    cr_assert_str_eq(t, "from-file");
    free(t);
    cr_assert_eq(hr_cli__token("notify", "a", path, &t), HR_EINVAL);
    cr_assert_null(t);
    cr_assert_eq(hr_cli__token("notify", "bad\r\nX-Injected: 1", NULL, &t), HR_EINVAL);
    cr_assert_null(t);
    setenv("HERALD_TOKEN", "", 1);
    cr_assert_eq(hr_cli__token("notify", NULL, NULL, &t), HR_OK);
    cr_assert_null(t);
    unlink(path);
}
