#include "core/timefmt.h"

#include "core/error.h"

#include <stdio.h>
#include <time.h>

int64_t hr_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t hr_time_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const char *s, size_t len, size_t at, size_t n, int *out)
{
    int v = 0;
    if (at + n > len)
        return HR_EINVAL;
    for (size_t i = at; i < at + n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return HR_EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return HR_OK;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

int hr_time_parse(const char *s, size_t len, int64_t *out)
{
    int y, mo, d, h, mi, sec, msec = 0, oh = 0, om = 0, sign = 0;
    size_t at = 19;

    if (len < 20 || digits(s, len, 0, 4, &y) || s[4] != '-' || digits(s, len, 5, 2, &mo) ||
        s[7] != '-' || digits(s, len, 8, 2, &d) || s[10] != 'T' || digits(s, len, 11, 2, &h) ||
        s[13] != ':' || digits(s, len, 14, 2, &mi) || s[16] != ':' || digits(s, len, 17, 2, &sec))
        return HR_EINVAL;
    if (s[at] == '.') {
        if (digits(s, len, at + 1, 3, &msec))
            return HR_EINVAL;
        at += 4;
    }
    if (at == len - 1 && s[at] == 'Z') {
        sign = 0;
    } else if (at + 5 == len && (s[at] == '+' || s[at] == '-')) {
        sign = s[at] == '+' ? 1 : -1;
        if (digits(s, len, at + 1, 2, &oh) || digits(s, len, at + 3, 2, &om) || oh > 23 || om > 59)
            return HR_EINVAL;
    } else {
        return HR_EINVAL;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return HR_EINVAL;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    secs -= (int64_t)sign * (oh * 3600 + om * 60);
    *out = secs * 1000 + msec;
    return HR_OK;
}

/* Writes v (0 <= v < 10^n) as n decimal digits at p; returns the end. */
static char *put_digits(char *p, int v, int n)
{
    for (int i = n - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + n;
}

char *hr_time_format(int64_t ms, char *buf, size_t size)
{
    struct tm tm;
    int64_t secs = ms / 1000;
    int64_t rem = ms % 1000;
    if (rem < 0) {
        rem += 1000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    gmtime_r(&t, &tm);
    int year = tm.tm_year + 1900;
    if (year < 0 || year > 9999 || size < sizeof("0000-00-00T00:00:00.000Z")) {
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, (int)rem);
        return buf;
    }
    /* The common case digit by digit: every stored event's document holds
     * its times, and snprintf was a tenth of the delivery thread's CPU
     * when a claim rebuilds documents (store/event_doc.h). */
    char *p = buf;
    p = put_digits(p, year, 4);
    *p++ = '-';
    p = put_digits(p, tm.tm_mon + 1, 2);
    *p++ = '-';
    p = put_digits(p, tm.tm_mday, 2);
    *p++ = 'T';
    p = put_digits(p, tm.tm_hour, 2);
    *p++ = ':';
    p = put_digits(p, tm.tm_min, 2);
    *p++ = ':';
    p = put_digits(p, tm.tm_sec, 2);
    *p++ = '.';
    p = put_digits(p, (int)rem, 3);
    *p++ = 'Z';
    *p = '\0';
    return buf;
}
