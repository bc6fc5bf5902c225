/*
 * Tests for src/core/log.c: what a log line shows of untrusted text
 * (hr_log_escape, and hr_log using it), and the limit on a kind of line
 * (hr_log_limit), read back from the real standard error.
 */
#include <criterion/criterion.h>

#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Asserts what hr_log_escape shows of text (len bytes). */
static void check_escape(const char *text, size_t len, const char *want)
{
    char out[256];
    bool cut = true;
    size_t n = hr_log_escape(text, len, out, sizeof(out), &cut);
    cr_assert_str_eq(out, want);
    cr_assert_eq(n, strlen(want));
    cr_assert_not(cut);
}

#define ESCAPE(lit, want) check_escape(lit, sizeof(lit) - 1, want)

Test(log, plain_text_and_utf8_stay)
{
    ESCAPE("rejected a body: expected an object", "rejected a body: expected an object");
    ESCAPE("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82 C:\\path",
           "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82 C:\\path");
    ESCAPE("", "");
}

Test(log, control_characters_are_escaped)
{
    ESCAPE("a\x1b[31mb\x07", "a\\x1B[31mb\\x07");
    ESCAPE("line\nforged 2026 ERROR\r\tx", "line\\nforged 2026 ERROR\\r\\tx");
    ESCAPE("nul\0here\x7f", "nul\\x00here\\x7F");
}

Test(log, bytes_that_are_not_utf8_are_escaped)
{
    ESCAPE("\xff\xfe{", "\\xFF\\xFE{");
    ESCAPE("\xc3(", "\\xC3(");
    ESCAPE("\xc0\xaf", "\\xC0\\xAF");          /* overlong '/' */
    ESCAPE("\xed\xa0\x80", "\\xED\\xA0\\x80"); /* a surrogate */
    ESCAPE("end\xe2\x82", "end\\xE2\\x82");    /* cut short */
}

Test(log, c1_separators_and_bidi_controls_are_escaped)
{
    ESCAPE("\xc2\x9b"
           "2J",
           "\\u009B2J"); /* C1 CSI */
    ESCAPE("a\xe2\x80\xa8"
           "b",
           "a\\u2028b");                     /* line separator */
    ESCAPE("x\xe2\x80\xaeyz", "x\\u202Eyz"); /* right-to-left override */
    ESCAPE("\xe2\x81\xa6i\xe2\x81\xa9", "\\u2066i\\u2069");
    ESCAPE("\xc2\xa0\xc2\xbf", "\xc2\xa0\xc2\xbf"); /* past C1: kept */
}

Test(log, a_full_buffer_ends_after_a_whole_escape)
{
    char out[8];
    bool cut = false;
    size_t n = hr_log_escape("ab\x1b\x1b", 4, out, sizeof(out), &cut);
    cr_assert_str_eq(out, "ab\\x1B");
    cr_assert_eq(n, 6);
    cr_assert(cut);
    n = hr_log_escape("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 8, out, sizeof(out), &cut);
    cr_assert_str_eq(out, "\xc3\xa9\xc3\xa9\xc3\xa9");
    cr_assert(cut);
    n = hr_log_escape("abc", 3, out, 1, &cut);
    cr_assert_eq(n, 0);
    cr_assert_str_eq(out, "");
}

/* ---- what reaches standard error ---------------------------------------- */

static FILE *captured;
static int saved_stderr = -1;

static void capture(void)
{
    fflush(stderr);
    captured = tmpfile();
    cr_assert_not_null(captured);
    saved_stderr = dup(2);
    dup2(fileno(captured), 2);
    hr_log_set_level(HR_LOG_INFO);
}

/* Everything logged since capture(), new. */
static char *captured_text(void)
{
    long n;
    char *text;

    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    n = ftell(captured);
    text = calloc(1, (size_t)n + 1);
    rewind(captured);
    cr_assert_eq(fread(text, 1, (size_t)n, captured), (size_t)n);
    fclose(captured);
    return text;
}

static size_t count_lines(const char *text, const char *with)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, with)) != NULL; p += strlen(with))
        n++;
    return n;
}

Test(log, a_line_shows_untrusted_text_escaped)
{
    capture();
    hr_log_warn("jenkins", "rejected: near '%s'", "\x1b]0;owned\x07\nFAKE ERROR");
    char *text = captured_text();
    cr_assert_not_null(
        strstr(text, "WARN  [jenkins] rejected: near '\\x1B]0;owned\\x07\\nFAKE ERROR'\n"), "%s",
        text);
    cr_assert_eq(count_lines(text, "\n"), 1);
    cr_assert_null(strchr(text, '\x1b'));
    free(text);
}

Test(log, a_limit_logs_a_burst_then_counts)
{
    hr_log_limit l;
    capture();
    hr_log_limit_init(&l, HR_LOG_WARN, "jenkins", "bad datagrams on jenkins_udp", 3, 1000);
    for (int i = 0; i < 1000; i++)
        hr_log_limited(&l, "10.0.0.1:4000", "jenkins_udp: rejected a body: bad %d", i);
    int64_t due = hr_log_limit_flush(&l);
    cr_assert(due >= 0 && due <= 1000, "due in %lld ms", (long long)due);
    usleep(1100 * 1000);
    cr_assert_eq(hr_log_limit_flush(&l), -1, "the summary is logged once");
    cr_assert_eq(hr_log_limit_flush(&l), -1);
    /* A new interval logs its own burst again. */
    hr_log_limited(&l, "10.0.0.2:5000", "jenkins_udp: rejected a body: again");
    hr_log_limit_clear(&l);
    char *text = captured_text();
    cr_assert_eq(count_lines(text, "rejected a body: bad"), 3, "%s", text);
    cr_assert_not_null(strstr(text, "bad 0\n"));
    cr_assert_not_null(strstr(text, "bad 2\n"));
    cr_assert_null(strstr(text, "bad 3\n"));
    cr_assert_not_null(strstr(text, "WARN  [jenkins] 997 more bad datagrams on jenkins_udp in the "
                                    "last 1 s, not logged (the last from 10.0.0.1:4000)\n"),
                       "%s", text);
    cr_assert_eq(count_lines(text, "more bad datagrams"), 1, "%s", text);
    cr_assert_eq(count_lines(text, "rejected a body: again"), 1);
    cr_assert_eq(count_lines(text, "\n"), 5, "%s", text);
    free(text);
}

Test(log, a_limit_summarises_when_the_next_line_comes)
{
    hr_log_limit l;
    capture();
    hr_log_limit_init(&l, HR_LOG_WARN, "jenkins", "bad bodies on jenkins_tcp", 1, 1000);
    hr_log_limited(&l, "a", "first");
    hr_log_limited(&l, "b", "second");
    hr_log_limited(&l, NULL, "third");
    usleep(1100 * 1000);
    hr_log_limited(&l, "c", "fourth");
    hr_log_limit_clear(&l);
    char *text = captured_text();
    const char *sum =
        strstr(text, "2 more bad bodies on jenkins_tcp in the last 1 s, not logged\n");
    cr_assert_not_null(sum, "%s", text);
    cr_assert(strstr(text, "first") < sum && sum < strstr(text, "fourth"), "%s", text);
    cr_assert_null(strstr(text, "second"));
    cr_assert_eq(count_lines(text, "\n"), 3, "%s", text);
    free(text);
}

Test(log, a_limit_is_silent_below_its_level)
{
    hr_log_limit l;
    capture();
    hr_log_set_level(HR_LOG_ERROR);
    hr_log_limit_init(&l, HR_LOG_WARN, "jenkins", "things", 1, 100);
    for (int i = 0; i < 10; i++)
        hr_log_limited(&l, "x", "thing %d", i);
    hr_log_limit_clear(&l);
    char *text = captured_text();
    cr_assert_str_eq(text, "");
    free(text);
}
