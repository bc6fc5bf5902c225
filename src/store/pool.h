/*
 * pool.h - the readers' pool every engine keeps: a fixed set of open
 * connections (whatever the engine's type), of which any thread takes one,
 * waiting while all are out, and gives it back. Written once here, not
 * once per engine; opening, checking and closing a connection stay the
 * engine's.
 */
#ifndef HR_STORE_POOL_H
#define HR_STORE_POOL_H

#include <pthread.h>

typedef struct hr_pool {
    pthread_mutex_t lock;
    pthread_cond_t back; /* a connection was given back */
    void **all;          /* every connection, for closing */
    int n;
    void **free; /* a stack of the ones not taken */
    int nfree;
} hr_pool;

/* Room for cap connections, none yet. */
void hr_pool_init(hr_pool *p, int cap);

/* Adds an open connection, free to take. At most cap in all. */
void hr_pool_add(hr_pool *p, void *conn);

/* A free connection, after waiting for one while all are taken. */
void *hr_pool_take(hr_pool *p);

void hr_pool_give(hr_pool *p, void *conn);

/* Closes every connection with close (none may be taken) and frees the
 * pool's memory; the pool may be initialised again. */
void hr_pool_free(hr_pool *p, void (*close)(void *conn));

#endif
