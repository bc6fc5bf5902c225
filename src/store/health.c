/*
 * health.c - what a target's health does in the writer's transaction, the
 * same for every engine: an attempt moves its target's record
 * (event/health.h), an operator's action moves it too, and a change
 * becomes herald's own event, routed like any event but never to the
 * target it is about. Writer thread only, but hr_store_list_health (any
 * thread, a read).
 */
#include "store/writer.h"

#include "core/log.h"
#include "core/mem.h"
#include "core/timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *time_or_null(int64_t ms)
{
    char buf[40];
    if (ms <= 0)
        return json_null();
    return json_string(hr_time_format(ms, buf, sizeof(buf)));
}

/* Stores the change as a target-health event in the open transaction. */
static int tell(hr_store *s, const hr_target_health *h, hr_health_change c, const char *reason,
                int64_t held, int64_t delivery_id, int64_t now, int *made_due, hr_error *err)
{
    hr_event *ev = hr_event_new();
    int ret;

    ev->source = hr_strdup(HR_SOURCE_HERALD);
    ev->kind = hr_strdup(HR_KIND_TARGET_HEALTH);
    ev->version = hr_strdup("1");
    ev->received_at = now;
    ev->health = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:o,s:o,s:o}", "target", h->target, "change",
                           hr_health_change_name(c), "reason", reason, "state", hr_health_shown(h),
                           "consecutive_failures", (json_int_t)h->consecutive_failures, "held",
                           (json_int_t)held, "failing_since", time_or_null(h->failing_since),
                           "last_success_at", time_or_null(h->last_success_at), "last_error",
                           h->last_error[0] != '\0' ? json_string(h->last_error) : json_null());
    if (ev->health == NULL) /* a reason that is not UTF-8 */
        ev->health =
            json_pack("{s:s,s:s}", "target", h->target, "change", hr_health_change_name(c));
    if (delivery_id > 0)
        json_object_set_new(ev->health, "delivery_id", json_integer((json_int_t)delivery_id));
    ret = hr_store__save_own_event(s, ev, h->target, made_due, err);
    hr_event_free(ev);
    return ret;
}

/* After a change: held deliveries counted for the event, or released. */
static int announce(hr_store *s, item *it, const hr_target_health *h, hr_health_change c,
                    const char *reason, int64_t delivery_id, int64_t now)
{
    int64_t held = 0;
    int ret = s->eng->held(s->db, h->target, now, hr_health_releases(c), &held, &it->err);
    if (ret == HR_OK && hr_health_releases(c) && held > 0)
        it->made_due = 1;
    if (ret == HR_OK && c != HR_CHANGE_NONE)
        ret = tell(s, h, c, reason, held, delivery_id, now, &it->made_due, &it->err);
    return ret;
}

static int after_attempt(hr_store *s, item *it)
{
    const hr_attempt *a = &it->attempt;
    hr_target_health h;
    char reason[HR_HEALTH_TEXT_MAX + 128];
    int64_t now = hr_time_now_ms();
    int found = 0;
    hr_health_change c;
    int ret = s->eng->get_health(s->db, a->target, &h, &found, &it->err);

    if (ret != HR_OK)
        return ret;
    c = hr_health_after_attempt(&h, a, now, reason, sizeof(reason));
    ret = s->eng->put_health(s->db, &h, &it->err);
    if (ret == HR_OK && c != HR_CHANGE_NONE)
        ret = announce(s, it, &h, c, reason, c == HR_CHANGE_DEAD ? a->delivery_id : 0, now);
    return ret;
}

/* Orders a batch's attempts by target, then by their place in the batch. */
typedef struct ranked {
    item *it;
    size_t pos;
} ranked;

static int by_target(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    int c = strcmp(x->it->attempt.target, y->it->attempt.target);
    return c != 0 ? c : x->pos < y->pos ? -1 : x->pos > y->pos;
}

/*
 * The batch's attempts move their targets' records last, in the order of
 * the targets' names: every transaction takes its stages' rows (events)
 * before its targets' health rows, and those in one order, so writers of
 * several instances sharing a PostgreSQL store never wait on each other in
 * a circle (a deadlock). Each update has its own savepoint: one that fails
 * is undone and logged, and the attempts stay recorded.
 */
int hr_store__health_batch(hr_store *s, item *batch, hr_error *cause)
{
    ranked *list = NULL;
    size_t n = 0, cap = 0, pos = 0;
    int ret = HR_OK;

    for (item *it = batch; it != NULL; it = it->next, pos++) {
        if (it->type != ITEM_ATTEMPT || it->status != HR_OK || it->attempt.target == NULL)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            list = hr_realloc(list, cap * sizeof(*list));
        }
        list[n++] = (ranked){it, pos};
    }
    if (n > 1)
        qsort(list, n, sizeof(*list), by_target);
    for (size_t i = 0; i < n && ret == HR_OK; i++) {
        item *it = list[i].it;
        if ((ret = s->eng->item_begin(s->db, cause)) != HR_OK)
            break;
        if (after_attempt(s, it) == HR_OK) {
            ret = s->eng->item_end(s->db, 1, cause);
            continue;
        }
        hr_log_warn("store",
                    "the health of target %s was not moved by attempt %d of delivery %lld: %s",
                    it->attempt.target, it->attempt.attempt, (long long)it->attempt.delivery_id,
                    it->err.msg);
        if (s->eng->lost(s->db)) {
            *cause = it->err;
            ret = cause->code != HR_OK ? cause->code : HR_ESTORE;
        } else {
            ret = s->eng->item_end(s->db, 0, cause);
        }
        hr_error_clear(&it->err);
    }
    free(list);
    return ret;
}

int hr_store__health_act(hr_store *s, item *it)
{
    hr_target_health h;
    char reason[HR_HEALTH_TEXT_MAX];
    int64_t now = hr_time_now_ms();
    int found = 0;
    hr_health_change c;
    int ret = s->eng->get_health(s->db, it->reset.target, &h, &found, &it->err);

    if (ret != HR_OK)
        return ret;
    c = hr_health_act(&h, it->action, now, reason, sizeof(reason));
    ret = s->eng->put_health(s->db, &h, &it->err);
    /* Resuming or enabling releases what is held even when the record did
     * not change (an open circuit an operator closes by enabling). */
    if (ret == HR_OK && it->action != HR_ACTION_PAUSE) {
        int64_t held = 0;
        ret = s->eng->held(s->db, h.target, now, 1, &held, &it->err);
        it->made_due = ret == HR_OK && held > 0;
    }
    if (ret == HR_OK && c != HR_CHANGE_NONE)
        ret = tell(s, &h, c, reason, 0, 0, now, &it->made_due, &it->err);
    it->health = h;
    return ret;
}

int hr_store_list_health(hr_store *s, hr_target_health **list, size_t *n, hr_error *err)
{
    void *db;
    const hr_store_engine *eng = hr_store__engine(s, &db);
    hr_rows r;
    int ret;

    *list = NULL;
    *n = 0;
    hr_rows_init(&r, sizeof(hr_target_health));
    ret = eng->list_health(db, &r, err);
    if (ret == HR_OK && r.n > 0) {
        *list = hr_malloc(r.n * sizeof(**list));
        for (size_t i = 0; i < r.n; i++)
            (*list)[i] = *(const hr_target_health *)hr_rows_at(&r, i);
        *n = r.n;
    }
    hr_rows_free(&r);
    return ret;
}
