/*
 * pg_listen.c - how instances sharing one PostgreSQL database hear of each
 * other's new deliveries: the writer announces them with NOTIFY after its
 * commit, and every instance LISTENs on a connection of its own, on a
 * thread that wakes its delivery engine. A notification is only a hint:
 * the delivery engine's poll finds every due delivery anyway, so an
 * announcement that fails, or one sent while a listener was reconnecting,
 * costs latency, never a delivery.
 */
#include "store/pg.h"

#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#define SUB "store"
#define CHANNEL "herald_due"
/* Listening again after a lost connection waits from this long, doubling,
 * up to the maximum. */
#define RELISTEN_MIN_MS 100
#define RELISTEN_MAX_MS 5000

/*
 * After the commit, not inside the batch's transaction: a NOTIFY in a
 * transaction holds PostgreSQL's notification lock through its COMMIT,
 * which would make every instance's commits wait in turn. The payload is
 * this instance's name, so that its own listener ignores it (the writer
 * woke this instance's delivery engine already).
 */
void hr_pg__announce(void *db)
{
    hr_pg *g = db;
    hr_pg_params p = {0};
    hr_error err;

    if (g->w == NULL || PQstatus(g->w) != CONNECTION_OK)
        return;
    hr_pg__str(&p, g->instance);
    (void)hr_pg__exec(g->w, "SELECT pg_notify('" CHANNEL "', $1)", &p, NULL,
                      "announce new deliveries", &err);
}

/* A new connection that listens; *out is new. */
static int subscribe(hr_pg *g, PGconn **out, hr_error *err)
{
    PGconn *c = NULL;
    int ret = hr_pg__connect(g->uri, &c, err);
    if (ret == HR_OK)
        ret = hr_pg__exec(c, "LISTEN " CHANNEL, NULL, NULL, "listen for new deliveries", err);
    if (ret != HR_OK) {
        PQfinish(c);
        return ret;
    }
    *out = c;
    return HR_OK;
}

/* Reads what arrived on c; whether another instance announced. -1 when
 * the connection broke. */
static int heard(hr_pg *g, PGconn *c)
{
    PGnotify *n;
    int other = 0;

    if (!PQconsumeInput(c))
        return -1;
    while ((n = PQnotifies(c)) != NULL) {
        other |= strcmp(n->extra, g->instance) != 0;
        PQfreemem(n);
    }
    return other;
}

static void *listen_main(void *arg)
{
    hr_pg *g = arg;
    PGconn *c = NULL;
    int backoff_ms = 0, warned = 0;

    for (;;) {
        struct pollfd fds[2] = {{.fd = g->stop_fd[0], .events = POLLIN}, {.fd = -1}};
        int timeout_ms = -1;
        hr_error err;

        if (c == NULL) {
            if (subscribe(g, &c, &err) == HR_OK) {
                if (warned)
                    hr_log_info(SUB, "listening for other instances' deliveries again");
                /* What was announced while nobody listened is due now. */
                if (backoff_ms > 0)
                    g->due(g->due_ctx);
                backoff_ms = warned = 0;
            } else {
                if (!warned++)
                    hr_log_warn(SUB,
                                "%s; other instances' deliveries are found by polling until "
                                "it works again",
                                err.msg);
                backoff_ms = backoff_ms == 0 ? RELISTEN_MIN_MS : backoff_ms * 2;
                if (backoff_ms > RELISTEN_MAX_MS)
                    backoff_ms = RELISTEN_MAX_MS;
                timeout_ms = backoff_ms;
            }
        }
        if (c != NULL) {
            fds[1].fd = PQsocket(c);
            fds[1].events = POLLIN;
        }
        if (poll(fds, 2, timeout_ms) < 0 && errno != EINTR)
            break;
        if (fds[0].revents != 0)
            break;
        if (c != NULL && fds[1].revents != 0) {
            int other = heard(g, c);
            if (other < 0) {
                PQfinish(c);
                c = NULL;
                backoff_ms = RELISTEN_MIN_MS; /* announce once it is back */
            } else if (other) {
                g->due(g->due_ctx);
            }
        }
    }
    PQfinish(c);
    return NULL;
}

int hr_pg__watch(void *db, void (*due)(void *ctx), void *ctx, hr_error *err)
{
    hr_pg *g = db;
    int rc;

    if (pipe(g->stop_fd) != 0)
        return hr_error_set(err, HR_EIO, "store: cannot listen for new deliveries: %s",
                            strerror(errno));
    (void)fcntl(g->stop_fd[0], F_SETFD, FD_CLOEXEC);
    (void)fcntl(g->stop_fd[1], F_SETFD, FD_CLOEXEC);
    g->due = due;
    g->due_ctx = ctx;
    rc = pthread_create(&g->listener, NULL, listen_main, g);
    if (rc != 0) {
        close(g->stop_fd[0]);
        close(g->stop_fd[1]);
        return hr_error_set(err, HR_EIO, "store: cannot start the listener thread: %s",
                            strerror(rc));
    }
    g->listening = 1;
    return HR_OK;
}

void hr_pg__unwatch(hr_pg *g)
{
    if (!g->listening)
        return;
    /* The read end sees end-of-file: POLLIN (or POLLHUP) wakes the thread. */
    close(g->stop_fd[1]);
    pthread_join(g->listener, NULL);
    close(g->stop_fd[0]);
    g->listening = 0;
}
