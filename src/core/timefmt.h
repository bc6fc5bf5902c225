/*
 * timefmt.h - instants as milliseconds since the Unix epoch, UTC.
 *
 * herald keeps every time as an int64 count of milliseconds since
 * 1970-01-01T00:00:00Z. HR_TIME_NONE stands for "not set" (GoCD sends ""
 * for unset dates).
 */
#ifndef HR_CORE_TIMEFMT_H
#define HR_CORE_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#define HR_TIME_NONE INT64_MIN
/* Room for "yyyy-mm-ddThh:mm:ss.sssZ" and its NUL, with margin. */
#define HR_TIME_STR_MAX 32

/* The current wall-clock time. */
int64_t hr_time_now_ms(void);
/* A monotonic clock, for measuring durations. */
int64_t hr_time_mono_us(void);

/*
 * Parses one of GoCD's timestamp forms from (s, len), which need not be
 * NUL-terminated:
 *   yyyy-MM-dd'T'HH:mm:ss.SSS'Z'      (notification v1, v2; packages)
 *   yyyy-MM-dd'T'HH:mm:ss.SSSZ        (v3, v4: +HHMM or -HHMM offset)
 * Milliseconds may be omitted ("...:ss'Z'"). The result is UTC.
 * Returns HR_OK or HR_EINVAL (out untouched).
 */
int hr_time_parse(const char *s, size_t len, int64_t *out);

/* Writes "yyyy-MM-ddTHH:mm:ss.SSSZ" (UTC) into buf; returns buf. */
char *hr_time_format(int64_t ms, char *buf, size_t size);

#endif
