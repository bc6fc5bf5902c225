/*
 * pool.c - the readers' pool (store/pool.h).
 */
#include "store/pool.h"

#include "core/mem.h"

#include <stdlib.h>

void hr_pool_init(hr_pool *p, int cap)
{
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->back, NULL);
    p->all = hr_calloc((size_t)cap, sizeof(*p->all));
    p->free = hr_calloc((size_t)cap, sizeof(*p->free));
    p->n = p->nfree = 0;
}

void hr_pool_add(hr_pool *p, void *conn)
{
    p->all[p->n++] = conn;
    p->free[p->nfree++] = conn;
}

void *hr_pool_take(hr_pool *p)
{
    void *conn;
    pthread_mutex_lock(&p->lock);
    while (p->nfree == 0)
        pthread_cond_wait(&p->back, &p->lock);
    conn = p->free[--p->nfree];
    pthread_mutex_unlock(&p->lock);
    return conn;
}

void hr_pool_give(hr_pool *p, void *conn)
{
    pthread_mutex_lock(&p->lock);
    p->free[p->nfree++] = conn;
    pthread_cond_signal(&p->back);
    pthread_mutex_unlock(&p->lock);
}

void hr_pool_free(hr_pool *p, void (*close)(void *conn))
{
    if (p->all == NULL)
        return;
    for (int i = 0; i < p->n; i++)
        close(p->all[i]);
    free(p->all);
    free(p->free);
    p->all = p->free = NULL;
    p->n = p->nfree = 0;
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->back);
}
