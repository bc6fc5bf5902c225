/*
 * log.h - readable, line-oriented logs on standard error.
 *
 * One line per message: an RFC 3339 UTC time with milliseconds, the level,
 * the subsystem in brackets, then a sentence. Lines from different threads
 * never interleave. Never pass a secret (token, password, secret header
 * value) to these functions: log lines are read by people and shipped to
 * log stores.
 *
 * Messages quote what senders send (a refused body's parse error, a job
 * name), so every message is escaped on its way out (hr_log_escape): a
 * sender can neither break a line nor send a terminal escape sequence
 * through the log. A kind of line that senders can cause as often as they
 * like goes through an hr_log_limit, which logs the first few of each
 * interval and then one line with the count of the rest.
 */
#ifndef HR_CORE_LOG_H
#define HR_CORE_LOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { HR_LOG_ERROR = 0, HR_LOG_WARN, HR_LOG_INFO, HR_LOG_DEBUG } hr_log_level;

/* Sets the most verbose level printed (default HR_LOG_INFO). */
void hr_log_set_level(hr_log_level level);
/* Parses "error", "warn", "info" or "debug"; returns HR_EINVAL otherwise. */
int hr_log_parse_level(const char *name, hr_log_level *out);

void hr_log(hr_log_level level, const char *subsystem, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define hr_log_error(sub, ...) hr_log(HR_LOG_ERROR, sub, __VA_ARGS__)
#define hr_log_warn(sub, ...) hr_log(HR_LOG_WARN, sub, __VA_ARGS__)
#define hr_log_info(sub, ...) hr_log(HR_LOG_INFO, sub, __VA_ARGS__)
#define hr_log_debug(sub, ...) hr_log(HR_LOG_DEBUG, sub, __VA_ARGS__)

/*
 * Writes text (len bytes, NULs allowed) into out (cap >= 1 bytes, always
 * NUL-terminated) as a log line shows it: valid UTF-8 as it is, but
 * control characters (C0, DEL, C1), the Unicode line and paragraph
 * separators and bidirectional controls as \n, \r, \t, \xNN (a byte) or
 * \uNNNN (a code point), and every byte that is not part of valid UTF-8
 * as \xNN. Returns the length written; sets *cut (when not NULL) to
 * whether out was too small for all of it (it then ends after a whole
 * character or escape). A backslash in text stays as it is.
 */
size_t hr_log_escape(const char *text, size_t len, char *out, size_t cap, bool *cut);

/*
 * A limit on one kind of log line: at most burst lines in each
 * interval_ms; the others are only counted, and once the interval has
 * passed one line says how many were not logged and who sent the last.
 * The interval starts with its first line. Thread-safe.
 */
typedef struct hr_log_limit {
    hr_log_level level;
    const char *subsystem; /* borrowed, static */
    const char *what;      /* borrowed, static: what a line is about, plural */
    unsigned burst;
    int64_t interval_ms;
    pthread_mutex_t lock;
    int64_t window_end_ms; /* monotonic; 0 when no interval is open */
    unsigned long long seen, dropped;
    char last_from[64];
} hr_log_limit;

/* Sets l up; subsystem and what are borrowed (static strings). what is
 * plural, as the summary reads it: "bad datagrams on jenkins_udp". */
void hr_log_limit_init(hr_log_limit *l, hr_log_level level, const char *subsystem, const char *what,
                       unsigned burst, int64_t interval_ms);
/* Logs what is still due (see hr_log_limit_flush) and releases l. */
void hr_log_limit_clear(hr_log_limit *l);

/* Logs fmt at l's level and subsystem when l allows one more line now;
 * from (borrowed, may be NULL) names the sender, remembered for the
 * summary. First logs the summary of an interval that has ended. */
void hr_log_limited(hr_log_limit *l, const char *from, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Logs the summary of an interval that has ended, when lines were left
 * out in it. Returns the milliseconds until the open interval's summary
 * is due, -1 when none is (for a caller that polls). */
int64_t hr_log_limit_flush(hr_log_limit *l);

#endif
