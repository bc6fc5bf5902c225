#include "http/guard.h"

#include "core/limits.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/timefmt.h"

#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How often the watchdog looks at every connection: a deadline is kept to
 * within this much. */
#define TICK_MS 100

enum phase { HEAD, BODY, BUSY, IDLE };

/* A client address as the caps count it: IPv4 whole, IPv6 by its /64 (one
 * host usually holds a whole /64), an IPv4-mapped IPv6 address as IPv4. */
typedef struct addr_key {
    unsigned char family; /* 4, 6, or 0: not counted */
    unsigned char bytes[8];
} addr_key;

struct hr_http__conn {
    hr_http__conn *prev, *next;
    int fd;
    addr_key key;
    enum phase phase;
    int64_t since_ms;  /* when the phase began (HEAD: the first byte) */
    uint64_t baseline; /* IDLE: bytes received when the last request ended */
    bool cut;
};

struct hr_http__guard {
    hr_http__guard_limits lim;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool stopping;
    hr_http__conn *head, *tail; /* every open connection, oldest first */
    unsigned open;              /* of them, not cut */
};

static int64_t now_ms(void)
{
    return hr_time_mono_us() / 1000;
}

static addr_key key_of(const struct sockaddr *a, socklen_t len)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    addr_key k = {0};
    if (a->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        k.family = 4;
        memcpy(k.bytes, &((const struct sockaddr_in *)a)->sin_addr, 4);
    } else if (a->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const unsigned char *b = ((const struct sockaddr_in6 *)a)->sin6_addr.s6_addr;
        if (memcmp(b, mapped, sizeof(mapped)) == 0) {
            k.family = 4;
            memcpy(k.bytes, b + 12, 4);
        } else {
            k.family = 6;
            memcpy(k.bytes, b, 8);
        }
    }
    return k;
}

static bool same_key(const addr_key *a, const addr_key *b)
{
    return a->family != 0 && a->family == b->family && memcmp(a->bytes, b->bytes, 8) == 0;
}

/* Bytes the socket has received so far; false when the kernel cannot say. */
static bool bytes_received(int fd, uint64_t *out)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    memset(&ti, 0, sizeof(ti));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
        len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received))
        return false;
    *out = ti.tcpi_bytes_received;
    return true;
}

/* Whether c holds its slot without making progress: a head or body in
 * progress, or an idle keep-alive, for longer than the grace. */
static bool stalled(const hr_http__conn *c, int64_t now)
{
    return !c->cut && c->phase != BUSY && now - c->since_ms > HR_STALL_GRACE_MS;
}

/* Cuts c: a 408 with a reason when a request is in progress (best effort:
 * nothing else writes on a connection that is reading), then a shutdown
 * that libmicrohttpd sees as the client leaving. Under g->lock. */
static void cut(hr_http__guard *g, hr_http__conn *c, const char *reason, const char *why)
{
    if (c->phase == HEAD || c->phase == BODY) {
        char body[160], msg[320];
        int blen = snprintf(body, sizeof(body), "{\"error\":\"%s\"}", why);
        int n = snprintf(msg, sizeof(msg),
                         "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                         "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                         blen, body);
        if (n > 0 && (size_t)n < sizeof(msg) &&
            send(c->fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) == n)
            hr_metrics_request("other", 408);
    }
    shutdown(c->fd, SHUT_RDWR);
    c->cut = true;
    g->open--;
    hr_metrics_connection_closed(reason);
    hr_log_debug("http", "closed a connection: %s", why);
}

/* The number of open connections past which the reserve is used. */
static unsigned soft_cap(const hr_http__guard *g)
{
    return g->lim.max_connections - g->lim.max_connections / HR_CONNECTION_RESERVE_DIVISOR;
}

/* The oldest stalled connection, of one address when key is not NULL. */
static hr_http__conn *oldest_stalled(hr_http__guard *g, const addr_key *key, int64_t now)
{
    hr_http__conn *best = NULL;
    for (hr_http__conn *c = g->head; c != NULL; c = c->next)
        if (stalled(c, now) && (key == NULL || same_key(&c->key, key)) &&
            (best == NULL || c->since_ms < best->since_ms))
            best = c;
    return best;
}

static void check_deadlines(hr_http__guard *g, int64_t now)
{
    char why[96];
    for (hr_http__conn *c = g->head; c != NULL; c = c->next) {
        uint64_t n;
        if (c->cut)
            continue;
        if (c->phase == IDLE && bytes_received(c->fd, &n) && n > c->baseline) {
            c->phase = HEAD; /* the next request's first bytes: its clock starts */
            c->since_ms = now;
        } else if (c->phase == HEAD && now - c->since_ms > (int64_t)g->lim.head_timeout_s * 1000) {
            snprintf(why, sizeof(why), "request head not received within %u s",
                     g->lim.head_timeout_s);
            cut(g, c, "head_timeout", why);
        } else if (c->phase == BODY && now - c->since_ms > (int64_t)g->lim.body_timeout_s * 1000) {
            snprintf(why, sizeof(why), "request body not received within %u s",
                     g->lim.body_timeout_s);
            cut(g, c, "body_timeout", why);
        }
    }
    /* The reserve: past the soft cap, stalled connections make room. */
    while (g->open > soft_cap(g)) {
        hr_http__conn *c = oldest_stalled(g, NULL, now);
        if (c == NULL)
            break;
        cut(g, c, "stalled", "herald is near its connection limit and this request stalled");
    }
}

static void *watchdog(void *arg)
{
    hr_http__guard *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += TICK_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&g->wake, &g->lock, &ts);
        if (!g->stopping)
            check_deadlines(g, now_ms());
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

int hr_http__guard_start(const hr_http__guard_limits *lim, hr_http__guard **out, hr_error *err)
{
    hr_http__guard *g = hr_calloc(1, sizeof(*g));
    pthread_condattr_t ca;
    int rc;

    g->lim = *lim;
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->wake, &ca);
    pthread_condattr_destroy(&ca);
    rc = pthread_create(&g->thread, NULL, watchdog, g);
    if (rc != 0) {
        pthread_cond_destroy(&g->wake);
        pthread_mutex_destroy(&g->lock);
        free(g);
        return hr_error_set(err, HR_EIO, "cannot start the connection watchdog: %s", strerror(rc));
    }
    *out = g;
    return HR_OK;
}

void hr_http__guard_stop(hr_http__guard *g)
{
    if (g == NULL)
        return;
    pthread_mutex_lock(&g->lock);
    g->stopping = true;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->thread, NULL);
    while (g->head != NULL) { /* none once the daemon stopped; freed anyway */
        hr_http__conn *c = g->head;
        g->head = c->next;
        free(c);
    }
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

bool hr_http__guard_admit(hr_http__guard *g, const struct sockaddr *addr, socklen_t len)
{
    addr_key key = key_of(addr, len);
    int64_t now = now_ms();
    unsigned n = 0;
    bool ok = true;

    if (key.family == 0)
        return true;
    pthread_mutex_lock(&g->lock);
    hr_http__conn *victim = oldest_stalled(g, &key, now);
    for (hr_http__conn *c = g->head; c != NULL; c = c->next)
        n += !c->cut && same_key(&c->key, &key);
    if (g->lim.per_address != 0 && g->open >= soft_cap(g) && victim != NULL) {
        /* Near the limit, an address that already holds a stalled
         * connection gets no other: its new ones are refused at once
         * instead of taking the room the reserve makes for others. (Not
         * without a cap: then one address may be a proxy for everyone.) */
        ok = false;
    } else if (g->lim.per_address != 0 && n >= g->lim.per_address) {
        /* At its cap, an address's new connection replaces its oldest
         * stalled one, so a slow sender cannot lock out a prompt client
         * from its own address (behind one NAT, say). */
        if (victim != NULL)
            cut(g, victim, "stalled",
                "this address is at its connection limit and this request stalled");
        else
            ok = false;
    }
    if (!ok)
        hr_metrics_connection_closed("address_cap");
    pthread_mutex_unlock(&g->lock);
    return ok;
}

hr_http__conn *hr_http__guard_opened(hr_http__guard *g, int fd, const struct sockaddr *addr,
                                     socklen_t len)
{
    hr_http__conn *c = hr_calloc(1, sizeof(*c));
    c->fd = fd;
    c->key = addr != NULL ? key_of(addr, len) : (addr_key){0};
    c->phase = HEAD;
    c->since_ms = now_ms();
    pthread_mutex_lock(&g->lock);
    /* Appended: the list stays in opening order. */
    c->prev = g->tail;
    if (g->tail != NULL)
        g->tail->next = c;
    else
        g->head = c;
    g->tail = c;
    g->open++;
    hr_metrics_connections_open(g->open);
    pthread_mutex_unlock(&g->lock);
    return c;
}

void hr_http__guard_closed(hr_http__guard *g, hr_http__conn *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&g->lock);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        g->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        g->tail = c->prev;
    if (!c->cut)
        g->open--;
    hr_metrics_connections_open(g->open);
    pthread_mutex_unlock(&g->lock);
    free(c);
}

/* Moves c to phase p unless it was cut. */
static bool enter(hr_http__guard *g, hr_http__conn *c, enum phase p)
{
    bool ok;
    if (c == NULL)
        return true;
    pthread_mutex_lock(&g->lock);
    ok = !c->cut;
    if (ok) {
        c->phase = p;
        c->since_ms = now_ms();
    }
    pthread_mutex_unlock(&g->lock);
    return ok;
}

bool hr_http__guard_head_done(hr_http__guard *g, hr_http__conn *c)
{
    return enter(g, c, BODY);
}

bool hr_http__guard_body_done(hr_http__guard *g, hr_http__conn *c)
{
    return enter(g, c, BUSY);
}

void hr_http__guard_request_done(hr_http__guard *g, hr_http__conn *c)
{
    uint64_t n = 0;
    if (c == NULL)
        return;
    /* Read outside the lock: a system call per request. */
    bool known = bytes_received(c->fd, &n);
    pthread_mutex_lock(&g->lock);
    if (!c->cut) {
        /* Without the byte count, the next head's clock starts now. */
        c->phase = known ? IDLE : HEAD;
        c->since_ms = now_ms();
        c->baseline = n;
    }
    pthread_mutex_unlock(&g->lock);
}
