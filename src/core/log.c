#include "core/log.h"

#include "core/error.h"
#include "core/json.h"
#include "core/timefmt.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* The longest message, before and after escaping: an escape is at most
 * four times the text it stands for ("\xNN" for one byte, "\uNNNN" for
 * two or three). */
#define LOG_LINE_MAX 2048
#define LOG_ESCAPED_MAX (LOG_LINE_MAX * 4)

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

/* The code point of the valid UTF-8 sequence s (k bytes). */
static unsigned code_point(const unsigned char *s, size_t k)
{
    static const unsigned char lead_mask[] = {0, 0x7f, 0x1f, 0x0f, 0x07};
    unsigned cp = s[0] & lead_mask[k];
    for (size_t i = 1; i < k; i++)
        cp = (cp << 6) | (s[i] & 0x3f);
    return cp;
}

/* Whether a log line shows code point cp escaped: the C1 controls, which
 * terminals read as escape sequences, the separators some log viewers
 * read as line ends, and the bidirectional controls that make text read
 * in another order than it is stored. */
static bool escaped_code_point(unsigned cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 || cp == 0x200e ||
           cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

size_t hr_log_escape(const char *text, size_t len, char *out, size_t cap, bool *cut)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, n = 0;

    while (i < len) {
        char esc[8];
        const char *piece = (const char *)s + i;
        size_t k = hr_utf8_len(s + i, len - i), plen;

        if (k == 0) {
            snprintf(esc, sizeof(esc), "\\x%02X", s[i]);
            piece = esc;
            k = 1;
        } else if (k == 1 && (s[i] < 0x20 || s[i] == 0x7f)) {
            const char *named = s[i] == '\n'   ? "\\n"
                                : s[i] == '\r' ? "\\r"
                                : s[i] == '\t' ? "\\t"
                                               : NULL;
            if (named != NULL)
                snprintf(esc, sizeof(esc), "%s", named);
            else
                snprintf(esc, sizeof(esc), "\\x%02X", s[i]);
            piece = esc;
        } else if (k > 1 && escaped_code_point(code_point(s + i, k))) {
            snprintf(esc, sizeof(esc), "\\u%04X", code_point(s + i, k));
            piece = esc;
        }
        plen = piece == (const char *)s + i ? k : strlen(piece);
        if (n + plen >= cap) {
            out[n] = '\0';
            if (cut != NULL)
                *cut = true;
            return n;
        }
        memcpy(out + n, piece, plen);
        n += plen;
        i += k;
    }
    out[n] = '\0';
    if (cut != NULL)
        *cut = false;
    return n;
}

static void log_va(hr_log_level level, const char *subsystem, const char *fmt, va_list ap)
{
    char when[HR_TIME_STR_MAX];
    char line[LOG_LINE_MAX];
    char shown[LOG_ESCAPED_MAX];
    bool cut = false;
    int n;

    hr_time_format(hr_time_now_ms(), when, sizeof(when));
    n = vsnprintf(line, sizeof(line), fmt, ap);
    if (n < 0)
        n = 0;
    hr_log_escape(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1, shown,
                  sizeof(shown), &cut);
    /* One fprintf per line keeps lines from different threads whole. */
    fprintf(stderr, "%s %-5s [%s] %s%s\n", when, level_names[level], subsystem, shown,
            cut || n >= (int)sizeof(line) ? " [truncated]" : "");
}

void hr_log(hr_log_level level, const char *subsystem, const char *fmt, ...)
{
    va_list ap;

    if ((int)level > atomic_load(&log_level))
        return;
    va_start(ap, fmt);
    log_va(level, subsystem, fmt, ap);
    va_end(ap);
}

/* ---- Limits ----------------------------------------------------------- */

static int64_t mono_ms(void)
{
    return hr_time_mono_us() / 1000;
}

void hr_log_limit_init(hr_log_limit *l, hr_log_level level, const char *subsystem, const char *what,
                       unsigned burst, int64_t interval_ms)
{
    memset(l, 0, sizeof(*l));
    l->level = level;
    l->subsystem = subsystem;
    l->what = what;
    l->burst = burst;
    l->interval_ms = interval_ms > 0 ? interval_ms : 1;
    pthread_mutex_init(&l->lock, NULL);
}

/* Ends l's interval when it is over at now (or, with force, whenever),
 * logging how many lines it left out. Called with l->lock held. */
static void end_interval(hr_log_limit *l, int64_t now, bool force)
{
    int64_t span;

    if (l->window_end_ms == 0 || (!force && now < l->window_end_ms))
        return;
    /* The interval's length, or less when it is cut short (at a stop). */
    span = (now < l->window_end_ms ? now : l->window_end_ms) - (l->window_end_ms - l->interval_ms);
    if (span < 1)
        span = 1;
    if (l->dropped > 0)
        hr_log(l->level, l->subsystem, "%llu more %s in the last %lld s, not logged%s%s%s",
               l->dropped, l->what, (long long)((span + 999) / 1000),
               l->last_from[0] ? " (the last from " : "", l->last_from, l->last_from[0] ? ")" : "");
    l->window_end_ms = 0;
    l->seen = l->dropped = 0;
    l->last_from[0] = '\0';
}

void hr_log_limit_clear(hr_log_limit *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->lock);
    end_interval(l, mono_ms(), true);
    pthread_mutex_unlock(&l->lock);
    pthread_mutex_destroy(&l->lock);
}

void hr_log_limited(hr_log_limit *l, const char *from, const char *fmt, ...)
{
    int64_t now = mono_ms();
    bool show;
    va_list ap;

    if ((int)l->level > atomic_load(&log_level))
        return;
    pthread_mutex_lock(&l->lock);
    end_interval(l, now, false);
    if (l->window_end_ms == 0)
        l->window_end_ms = now + l->interval_ms;
    show = ++l->seen <= l->burst;
    if (!show) {
        l->dropped++;
        snprintf(l->last_from, sizeof(l->last_from), "%s", from != NULL ? from : "");
    }
    pthread_mutex_unlock(&l->lock);
    if (!show)
        return;
    va_start(ap, fmt);
    log_va(l->level, l->subsystem, fmt, ap);
    va_end(ap);
}

int64_t hr_log_limit_flush(hr_log_limit *l)
{
    int64_t now = mono_ms(), due = -1;

    pthread_mutex_lock(&l->lock);
    end_interval(l, now, false);
    if (l->window_end_ms != 0 && l->dropped > 0)
        due = l->window_end_ms - now;
    pthread_mutex_unlock(&l->lock);
    return due;
}
