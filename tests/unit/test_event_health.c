/*
 * test_event_health.c - how attempts and operators move a target's health
 * record (event/health.c): the circuit opening at N failures in a row,
 * probes doubling to their cap, the first success closing it, 410 and
 * disable_after disabling, 429 and dead letters not counting, pause,
 * resume and enable.
 */
#include "event/health.h"

#include <criterion/criterion.h>
#include <string.h>

static const hr_health_policy policy = {
    .failures = 3, .probe_initial_ms = 1000, .probe_max_ms = 4000, .disable_after_ms = 60000};

static hr_health_change fail(hr_target_health *h, int64_t now, int status)
{
    char reason[512];
    hr_attempt a = {.delivery_id = 1,
                    .attempt = 1,
                    .started_at = now,
                    .status = status,
                    .error = "HTTP 503",
                    .outcome = HR_OUTCOME_RETRY,
                    .policy = policy};
    return hr_health_after_attempt(h, &a, now, reason, sizeof(reason));
}

static hr_health_change ok(hr_target_health *h, int64_t now)
{
    char reason[512];
    hr_attempt a = {.delivery_id = 1,
                    .attempt = 1,
                    .started_at = now,
                    .status = 200,
                    .outcome = HR_OUTCOME_DELIVERED,
                    .policy = policy};
    return hr_health_after_attempt(h, &a, now, reason, sizeof(reason));
}

Test(health, circuit_opens_probes_double_and_a_success_closes_it)
{
    hr_target_health h;
    hr_health_init(&h, "hook");
    cr_expect_eq(fail(&h, 1000, 503), HR_CHANGE_NONE);
    cr_expect_eq(h.state, HR_HEALTH_FAILING);
    cr_expect_eq(fail(&h, 1100, 503), HR_CHANGE_NONE);
    cr_expect_eq(fail(&h, 1200, 503), HR_CHANGE_OPENED);
    cr_expect_eq(h.state, HR_HEALTH_OPEN);
    cr_expect_eq(h.consecutive_failures, 3);
    cr_expect_eq(h.failing_since, 1000);
    cr_expect_eq(h.next_probe_at, 2200);
    /* An attempt in flight when it opened does not move the next probe. */
    hr_attempt late = {.attempt = 1,
                       .started_at = 1150,
                       .status = 503,
                       .outcome = HR_OUTCOME_RETRY,
                       .policy = policy};
    char reason[256];
    cr_expect_eq(hr_health_after_attempt(&h, &late, 1250, reason, sizeof(reason)), HR_CHANGE_NONE);
    cr_expect_eq(h.next_probe_at, 2200);
    /* Failed probes: 2 s, then 4 s, capped at 4 s. */
    cr_expect_eq(fail(&h, 2200, 503), HR_CHANGE_NONE);
    cr_expect_eq(h.next_probe_at, 4200);
    cr_expect_eq(fail(&h, 4200, 0), HR_CHANGE_NONE);
    cr_expect_eq(h.next_probe_at, 8200);
    cr_expect_eq(fail(&h, 8200, 502), HR_CHANGE_NONE);
    cr_expect_eq(h.next_probe_at, 12200);
    int64_t v = h.version;
    cr_expect_eq(ok(&h, 12300), HR_CHANGE_CLOSED);
    cr_expect_gt(h.version, v, "every write moves the version (the engine's probe mark)");
    cr_expect_eq(h.state, HR_HEALTH_HEALTHY);
    cr_expect_eq(h.consecutive_failures, 0);
    cr_expect_eq(h.failing_since, 0);
    cr_expect_eq(h.last_success_at, 12300);
}

Test(health, a_410_disables_at_once_and_only_enable_clears_it)
{
    hr_target_health h;
    char reason[256];
    hr_health_init(&h, "hook");
    cr_expect_eq(fail(&h, 1000, 410), HR_CHANGE_DISABLED);
    cr_expect_eq(h.state, HR_HEALTH_DISABLED);
    cr_expect(strstr(h.disabled_reason, "410") != NULL);
    cr_expect_eq(ok(&h, 2000), HR_CHANGE_NONE, "an attempt in flight does not enable it");
    cr_expect_eq(h.state, HR_HEALTH_DISABLED);
    cr_expect_eq(hr_health_act(&h, HR_ACTION_ENABLE, 3000, reason, sizeof(reason)),
                 HR_CHANGE_ENABLED);
    cr_expect_eq(h.state, HR_HEALTH_HEALTHY);
    cr_expect_str_eq(h.disabled_reason, "");
    cr_expect(hr_health_releases(HR_CHANGE_ENABLED));
}

Test(health, failing_longer_than_disable_after_disables)
{
    hr_target_health h;
    hr_health_init(&h, "hook");
    cr_expect_eq(fail(&h, 1000, 503), HR_CHANGE_NONE);
    cr_expect_eq(fail(&h, 2000, 503), HR_CHANGE_NONE);
    cr_expect_eq(fail(&h, 3000, 503), HR_CHANGE_OPENED);
    cr_expect_eq(fail(&h, 60999, 503), HR_CHANGE_NONE);
    cr_expect_eq(fail(&h, 61000, 503), HR_CHANGE_DISABLED);
    cr_expect(strstr(h.disabled_reason, "disable_after") != NULL, "%s", h.disabled_reason);
    /* Any success before then would have reset the clock. */
    hr_health_init(&h, "hook");
    fail(&h, 1000, 503);
    ok(&h, 30000);
    cr_expect_eq(fail(&h, 61000, 503), HR_CHANGE_NONE);
    cr_expect_eq(h.failing_since, 61000);
}

Test(health, slow_down_and_dead_letters_do_not_count)
{
    hr_target_health h;
    char reason[256];
    hr_health_init(&h, "hook");
    for (int i = 0; i < 10; i++)
        cr_expect_eq(fail(&h, 1000 + i, 429), HR_CHANGE_NONE);
    cr_expect_eq(h.consecutive_failures, 0);
    hr_attempt dead = {.delivery_id = 7,
                       .attempt = 1,
                       .status = 400,
                       .error = "HTTP 400",
                       .outcome = HR_OUTCOME_DEAD,
                       .policy = policy};
    cr_expect_eq(hr_health_after_attempt(&h, &dead, 2000, reason, sizeof(reason)), HR_CHANGE_DEAD);
    cr_expect(strstr(reason, "delivery 7") != NULL, "%s", reason);
    cr_expect_eq(h.state, HR_HEALTH_HEALTHY);
    dead.own_event = true;
    cr_expect_eq(hr_health_after_attempt(&h, &dead, 2000, reason, sizeof(reason)), HR_CHANGE_NONE,
                 "a health event's own dead letter makes no new event");
}

Test(health, pause_and_resume)
{
    hr_target_health h;
    char reason[256];
    hr_health_init(&h, "hook");
    cr_expect_eq(hr_health_act(&h, HR_ACTION_PAUSE, 1, reason, sizeof(reason)), HR_CHANGE_PAUSED);
    cr_expect_str_eq(hr_health_shown(&h), "paused");
    cr_expect_eq(hr_health_act(&h, HR_ACTION_PAUSE, 2, reason, sizeof(reason)), HR_CHANGE_NONE);
    cr_expect_eq(fail(&h, 3, 410), HR_CHANGE_DISABLED);
    cr_expect_str_eq(hr_health_shown(&h), "disabled", "disabled shows over paused");
    cr_expect_eq(hr_health_act(&h, HR_ACTION_RESUME, 4, reason, sizeof(reason)), HR_CHANGE_RESUMED);
    cr_expect_str_eq(hr_health_shown(&h), "disabled");
    cr_expect_eq(hr_health_state_from_name("open"), HR_HEALTH_OPEN);
    cr_expect_eq(hr_health_state_from_name("nonsense"), -1);
    cr_expect_str_eq(hr_health_change_name(HR_CHANGE_OPENED), "circuit-opened");
}

Test(health, a_long_error_is_cut_between_characters)
{
    hr_target_health h;
    char reason[512], err[600];
    size_t n = 0;
    while (n + 2 < sizeof(err)) {
        err[n++] = (char)0xC3; /* "é", two bytes each */
        err[n++] = (char)0xA9;
    }
    err[n] = '\0';
    hr_attempt a = {
        .attempt = 1, .status = 503, .error = err, .outcome = HR_OUTCOME_RETRY, .policy = policy};
    hr_health_init(&h, "hook");
    hr_health_after_attempt(&h, &a, 1, reason, sizeof(reason));
    size_t len = strlen(h.last_error);
    cr_expect_gt(len, 200);
    cr_expect_eq(len % 2, 0, "no half character at the end");
}
