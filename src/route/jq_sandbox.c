/*
 * jq_sandbox.c - what a jq program may reach and how long it may run: the
 * prelude every program is compiled in, and the watchdog thread that
 * stops a run past its budget. jq.c is its only user.
 */
#include "route/jq_sandbox.h"

#include "core/limits.h"
#include "core/log.h"
#include "core/timefmt.h"
#include "route/jq.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define STR_(x) #x
#define STR(x) STR_(x)

/*
 * Every program is compiled after this prelude, on the same line, so jq's
 * line numbers stay the program's own. It ends in `{} as $ENV | `, whose
 * body reaches to the program's end, so it needs nothing after the
 * program (where a trailing comment would swallow it). It takes from the program what
 * would reach the process or outgrow memory:
 *   - `env` and `$ENV` are empty objects (libjq would read herald's
 *     environment, where its tokens and `${VAR}` secrets live);
 *   - `input`, `inputs` and `_input` are errors, `stderr` writes nothing;
 *   - `import`, `include` and `module` cannot follow a definition, so they
 *     fail to compile (jq.c names them);
 *   - `+`, `*`, `add` and `join` refuse to build a string or array longer
 *     than HR_MAX_JQ_VALUE, and `setpath` (so `=`, `|=` and `fromstream`)
 *     an array index past HR_MAX_JQ_INDEX: one step could otherwise ask
 *     for gigabytes, where the time budget cannot stop it;
 *   - `halt` and `halt_error` first call the builtin `_input`, which
 *     herald answers by disarming the watchdog (on_input): libjq asserts
 *     that a program is not halted twice, so the watchdog must never halt
 *     a program that is halting itself. Only a halt that cannot fail is
 *     preceded by the disarming (halt_error's code must be a number), so
 *     no program runs on unwatched.
 * The builtins are kept under _hr_ names while the prelude needs them,
 * then those names are defined again over the safe versions, so no
 * program can reach them.
 */
#define VALUE_TEXT STR(HR_MAX_JQ_VALUE)
#define INDEX_TEXT STR(HR_MAX_JQ_INDEX)
/* clang-format off */
#define PRELUDE \
    "def _hr_halt: halt; def _hr_halt_error($c): halt_error($c); def _hr_disarm: _input; " \
    "def _hr_plus(a; b): a + b; def _hr_multiply(a; b): a * b; " \
    "def _hr_setpath($p; $v): setpath($p; $v); " \
    "def _hr_long: error(\"the program built a string or array longer than " VALUE_TEXT " (herald's limit)\"); " \
    "def halt: _hr_disarm | _hr_halt; " \
    "def halt_error($c): if ($c | type) != \"number\" then _hr_halt_error($c) " \
    "else . as $m | _hr_disarm | $m | _hr_halt_error($c) end; " \
    "def halt_error: halt_error(5); " \
    "def _plus(a; b): b as $b | a as $a " \
    "| if (($a | type) == \"string\" and ($b | type) == \"string\" " \
    "and ($a | utf8bytelength) + ($b | utf8bytelength) > " VALUE_TEXT ") " \
    "or (($a | type) == \"array\" and ($b | type) == \"array\" and ($a | length) + ($b | length) > " VALUE_TEXT ") " \
    "then _hr_long else _hr_plus($a; $b) end; " \
    "def _multiply(a; b): b as $b | a as $a " \
    "| if (($a | type) == \"string\" and ($b | type) == \"number\" and ($a | utf8bytelength) * $b > " VALUE_TEXT ") " \
    "or (($b | type) == \"string\" and ($a | type) == \"number\" and ($b | utf8bytelength) * $a > " VALUE_TEXT ") " \
    "then _hr_long else _hr_multiply($a; $b) end; " \
    "def add: reduce .[] as $x (null; . + $x); " \
    "def join($x): reduce .[] as $i (null; (if . == null then \"\" else . + $x end) " \
    "+ ($i | if type == \"boolean\" or type == \"number\" then tostring else . // \"\" end)) // \"\"; " \
    "def setpath($p; $v): if ($p | type) == \"array\" and any($p[]; type == \"number\" and . > " INDEX_TEXT ") " \
    "then error(\"the program set an array index past " INDEX_TEXT " (herald's limit)\") " \
    "else _hr_setpath($p; $v) end; " \
    "def _assign(paths; value): value as $v | reduce path(paths) as $p (.; setpath($p; $v)); " \
    "def _modify(paths; update): reduce path(paths) as $p (.; label $out " \
    "| (setpath($p; getpath($p) | update) | ., break $out), delpaths([$p])); " \
    "def fromstream(i): foreach i as $item ([null, false, null, false]; " \
    "if ($item[0] | length) == 0 then [null, false, .[2], .[3]] " \
    "elif ($item | length) == 1 and ($item[0] | length) < 2 then [null, false, .[0], .[1]] " \
    "else . end | . as $state " \
    "| if ($item | length) > 1 and ($item[0] | length) > 0 " \
    "then [.[0] | setpath(($item | .[0]); ($item | .[1])), true, $state[2], $state[3]] " \
    "else . end; " \
    "if ($item[0] | length) == 1 and ($item | length == 1) and .[3] then .[2] else empty end, " \
    "if ($item[0] | length) == 0 then $item[1] else empty end); " \
    "def _input: error(\"input is not available: a program reads only its event\"); " \
    "def input: _input; def inputs: _input; def env: {}; def stderr: .; " \
    "def _hr_halt: halt; def _hr_halt_error($c): halt_error($c); def _hr_disarm: _input; " \
    "def _hr_plus(a; b): a + b; def _hr_multiply(a; b): a * b; " \
    "def _hr_setpath($p; $v): setpath($p; $v); " \
    "{} as $ENV | "
/* clang-format on */
const char hr__jq_prelude[] = PRELUDE;
const size_t hr__jq_prelude_len = sizeof(PRELUDE) - 1;

void hr_jq_process_init(void)
{
    pthread_attr_t attr;

    /* libjq 1.6 reads $HOME/.jq into every program it compiles, bound to
     * the real `env`: a ~/.jq of the daemon's user would reach the
     * environment around the prelude. libpq, the one other reader of
     * HOME, falls back to the password database. */
    unsetenv("HOME");
    if (pthread_attr_init(&attr) == 0) {
        if (pthread_attr_setstacksize(&attr, HR__JQ_STACK_BYTES) != 0 ||
            pthread_setattr_default_np(&attr) != 0)
            hr_log_warn("jq", "cannot raise the threads' stack size; a deeply nested jq value "
                              "may overflow it");
        pthread_attr_destroy(&attr);
    }
}

/* ---- The watchdog ----------------------------------------------------- */

/*
 * One thread, started with the first run, halts programs past their
 * budget. The budget is CPU time of the thread that runs the program, so a
 * busy machine does not fail honest programs; the watchdog looks at a run
 * when its budget could first be spent (CPU time never runs ahead of the
 * wall clock), and again as late as the rest of the budget allows. libjq
 * 1.6 checks jq_halted before every instruction of jq_next, so a halted
 * program stops at once (a single builtin, such as a regular expression
 * match, runs to its end first).
 *
 * A run is armed (in the list) only between jq_start and the end of
 * jq_next, and everything about it changes under wd.lock: the watchdog
 * halts only armed runs and disarms them as it does, and the running
 * thread disarms its own run before touching the jq_state again.
 */
static struct {
    pthread_once_t once;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    hr__jq_watch *head;
} wd = {PTHREAD_ONCE_INIT, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL};

#define BUDGET_US ((int64_t)HR_MAX_JQ_RUN_MS * 1000)

static int64_t cpu_us(clockid_t c)
{
    struct timespec ts;

    if (clock_gettime(c, &ts) != 0)
        return INT64_MAX; /* the thread is gone: nothing to halt */
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void wd_unlink(hr__jq_watch *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        wd.head = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->armed = false;
}

/* Halts the runs whose budget is spent; returns the earliest time another
 * look is due (INT64_MAX: no run is armed). Under wd.lock. */
static int64_t wd_check(void)
{
    int64_t now = hr_time_mono_us(), next = INT64_MAX;
    hr__jq_watch *w = wd.head;

    while (w != NULL) {
        hr__jq_watch *after = w->next;
        if (w->next_check <= now) {
            int64_t used = cpu_us(w->cpu) - w->cpu_start;
            if (used >= BUDGET_US) {
                wd_unlink(w);
                w->fired = true;
                if (!jq_halted(w->jq))
                    jq_halt(w->jq, jv_invalid(), jv_invalid());
                w = after;
                continue;
            }
            w->next_check = now + (BUDGET_US - used);
        }
        if (w->next_check < next)
            next = w->next_check;
        w = after;
    }
    return next;
}

static void *wd_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&wd.lock);
    for (;;) {
        int64_t next = wd_check(), now;
        struct timespec until;

        if (next == INT64_MAX) {
            pthread_cond_wait(&wd.wake, &wd.lock);
            continue;
        }
        now = hr_time_mono_us();
        if (next <= now)
            continue;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += (time_t)((next - now) / 1000000);
        until.tv_nsec += (long)((next - now) % 1000000) * 1000;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&wd.wake, &wd.lock, &until);
    }
    return NULL;
}

static void wd_start(void)
{
    pthread_condattr_t ca;
    pthread_t t;

    /* The wake-up waits on the monotonic clock, as the deadlines do. */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_destroy(&wd.wake);
    pthread_cond_init(&wd.wake, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&t, NULL, wd_main, NULL) != 0) {
        /* Without it a program could run forever: refuse to go on. */
        hr_log_error("jq", "cannot start the jq watchdog thread");
        abort();
    }
    pthread_detach(t);
}

void hr__jq_watch_arm(hr__jq_watch *w)
{
    pthread_once(&wd.once, wd_start);
    if (pthread_getcpuclockid(pthread_self(), &w->cpu) != 0)
        w->cpu = CLOCK_MONOTONIC; /* not on Linux; the budget becomes wall time */
    w->cpu_start = cpu_us(w->cpu);
    pthread_mutex_lock(&wd.lock);
    w->fired = false;
    w->armed = true;
    w->next_check = hr_time_mono_us() + BUDGET_US;
    w->prev = NULL;
    w->next = wd.head;
    if (wd.head != NULL)
        wd.head->prev = w;
    else
        pthread_cond_signal(&wd.wake); /* it was waiting with no run to watch */
    wd.head = w;
    pthread_mutex_unlock(&wd.lock);
}

bool hr__jq_watch_disarm(hr__jq_watch *w)
{
    bool fired;

    pthread_mutex_lock(&wd.lock);
    if (w->armed)
        wd_unlink(w);
    fired = w->fired;
    pthread_mutex_unlock(&wd.lock);
    return fired;
}

jv hr__jq_watch_on_input(jq_state *jq, void *data)
{
    (void)jq;
    hr__jq_watch_disarm(data);
    return jv_null();
}
