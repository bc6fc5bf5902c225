/*
 * writer.h - what the writer's files share (store/writer.c: the queue, the
 * group commit and the completions; store/items.c: what each item does in
 * the transaction). Nothing outside the store includes it.
 */
#ifndef HR_STORE_WRITER_H
#define HR_STORE_WRITER_H

#include "store/engine.h"

#include <pthread.h>

typedef enum {
    ITEM_EVENT,
    ITEM_SETTINGS,
    ITEM_ATTEMPT,
    ITEM_RESET,
    ITEM_PRUNE,
    ITEM_HEALTH
} item_type;

/* One unit of work for the writer: an event, a settings replacement, a
 * delivery attempt's outcome, a reset of deliveries (retry, replay), or a
 * chunk of a prune. */
typedef struct item {
    struct item *next;
    item_type type;
    hr_event *ev; /* borrowed (ITEM_EVENT) */
    char *doc;    /* owned: compact normalised JSON (ITEM_EVENT) */
    size_t doc_len;
    json_t *settings;        /* owned: a private deep copy (ITEM_SETTINGS) */
    hr_attempt attempt;      /* ITEM_ATTEMPT; its strings are owned copies */
    hr_delivery_reset reset; /* ITEM_RESET; target is an owned copy */
    size_t count;            /* ITEM_RESET: deliveries reset */
    size_t ndeliveries;      /* ITEM_EVENT: deliveries created */
    char *rev_doc;           /* owned: a package revision's JSON (ITEM_EVENT) */
    char *package_name;      /* owned: "repository/package" (ITEM_EVENT) */
    int duplicate;           /* ITEM_EVENT: a revision stored before from the same bytes */
    int repeat;              /* ITEM_EVENT: its request id was stored before */
    size_t *count_out;       /* ITEM_RESET: where to put count after the commit */
    void (*attempt_done)(void *arg, int status); /* ITEM_ATTEMPT */
    hr_prune_chunk prune;                        /* ITEM_PRUNE */
    hr_prune_chunk *prune_out;    /* ITEM_PRUNE: where to put prune after the commit */
    hr_health_action action;      /* ITEM_HEALTH: on reset.target */
    hr_target_health *health_out; /* ITEM_HEALTH: the record after the action */
    hr_target_health health;      /* ITEM_HEALTH: filled by the writer */
    const char *exclude_target;   /* ITEM_EVENT: never route to this target (borrowed) */
    void *prepared;               /* ITEM_EVENT: the prepare hook's, for the router (owned) */
    void (*prepared_free)(void *made);
    int made_due; /* deliveries became due (released, or a health event's) */
    hr_store_done_fn done;
    void *ctx;
    /* Filled by the writer; handed to the caller only after the commit. */
    int status;
    int64_t id;
    hr_transition transition;
    hr_error err;
} item;

struct hr_store {
    const hr_store_engine *eng;
    void *db;          /* the engine's handle */
    const char *where; /* borrowed from db: what logs name the store by */
    size_t max_queue, max_batch;

    /* The queue, guarded by qlock. The writer waits on wake; drainers wait
     * on idle, signalled whenever pending reaches 0. */
    pthread_mutex_t qlock;
    pthread_cond_t wake, idle;
    item *head, *tail; /* waiting, oldest first */
    size_t queued;     /* items between head and tail */
    size_t pending;    /* submitted and not yet completed (queued + in the writer) */
    int closing;       /* no more submits; the writer exits once the queue is empty */
    /* Whether the writer's last batch failed to write (and why), for
     * /healthz: set after every batch, before its completions run. */
    int write_failing;
    hr_error write_error;
    int writer_running;
    pthread_t writer;
    size_t fail_streak; /* batches in a row with a failure; writer only */

    /* The router the writer uses (writer only), and the one waiting to
     * replace it (guarded by qlock): the writer swaps them at the start of
     * a batch and frees the old one on its own thread. */
    hr_store_route_fn route_fn;
    void *route_ctx;
    void (*route_free)(void *ctx);
    int route_swap;
    hr_store_route_fn next_route_fn;
    void *next_route_ctx;
    void (*next_route_free)(void *ctx);
    /* Called after a commit that made deliveries due (set before events
     * flow; read by the writer only). */
    void (*notify_fn)(void *ctx);
    void *notify_ctx;
    /* The prepare hook (hr_store_set_prepare), guarded by qlock, and every
     * ctx it was ever given, freed at close. */
    hr_store_prepare_fn prepare_fn;
    void (*prepared_free)(void *made);
    void *prepare_ctx;
    struct prepare_kept {
        struct prepare_kept *next;
        void *ctx;
        void (*free_ctx)(void *ctx);
    } * prepare_kept;
};

/* Frees an item and what it owns. NULL is fine. */
void hr_store__item_free(item *it);

/* Runs one item inside the open transaction (writer thread); on failure
 * it->err says why. */
int hr_store__run_item(hr_store *s, item *it);

/* Targets' health inside the writer's transaction (store/health.c): an
 * operator's action (an item), and the batch's attempts, after every item
 * ran and before the commit. Returns an error only when the transaction
 * is lost (a failed health update alone is undone and logged). */
int hr_store__health_act(hr_store *s, item *it);
int hr_store__health_batch(hr_store *s, item *batch, hr_error *cause);
/* Stores one of herald's own events (a target's health) with its
 * deliveries, inside the open transaction, routed like any event but
 * never to exclude_target. Sets *made_due when it made deliveries. */
int hr_store__save_own_event(hr_store *s, hr_event *ev, const char *exclude_target, int *made_due,
                             hr_error *err);

#endif
