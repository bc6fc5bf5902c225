/*
 * log.h - readable, line-oriented logs on standard error.
 *
 * One line per message: an RFC 3339 UTC time with milliseconds, the level,
 * the subsystem in brackets, then a sentence. Lines from different threads
 * never interleave. Never pass a secret (token, password, secret header
 * value) to these functions: log lines are read by people and shipped to
 * log stores.
 */
#ifndef HR_CORE_LOG_H
#define HR_CORE_LOG_H

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

#endif
