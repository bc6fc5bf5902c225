#include "core/log.h"

#include "core/error.h"
#include "core/timefmt.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static _Atomic int log_level = HR_LOG_INFO;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void hr_log_set_level(hr_log_level level)
{
    atomic_store(&log_level, (int)level);
}

int hr_log_parse_level(const char *name, hr_log_level *out)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (hr_log_level)i;
            return HR_OK;
        }
    }
    return HR_EINVAL;
}

void hr_log(hr_log_level level, const char *subsystem, const char *fmt, ...)
{
    char when[HR_TIME_STR_MAX];
    char line[2048];
    va_list ap;
    int n;

    if ((int)level > atomic_load(&log_level))
        return;
    hr_time_format(hr_time_now_ms(), when, sizeof(when));
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* One fprintf per line keeps lines from different threads whole. */
    fprintf(stderr, "%s %-5s [%s] %s%s\n", when, level_names[level], subsystem, line,
            n >= (int)sizeof(line) ? " [truncated]" : "");
}
