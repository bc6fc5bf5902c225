/*
 * guard.h - the HTTP server's watch over its connections (internal to
 * src/http): a cap per client address, deadlines for a request's head and
 * body, and a reserve of free connections under pressure.
 *
 * libmicrohttpd's idle timeout restarts with every byte, so a client that
 * sends one byte every few seconds would hold a connection for ever, and
 * enough of them lock every other client out. The guard tracks each
 * connection from its opening to its closing, with the phase its request
 * is in, and a watchdog thread cuts the ones that miss a deadline: it
 * answers 408 when a request is in progress, then shuts the socket down,
 * which makes libmicrohttpd close the connection.
 *
 * Phases: a connection waits for a head from its opening (HEAD), reads its
 * body once the head is in (BODY), has no deadline while its request is
 * handled and answered (BUSY: a suspended connection is never cut), and
 * waits idle for the next request on keep-alive (IDLE) until its first byte
 * arrives, which the watchdog sees in the socket's byte count (TCP_INFO).
 *
 * Threads: the hooks run on libmicrohttpd's threads, the watchdog on its
 * own; one mutex guards the list. A socket is shut down only under that
 * mutex while its connection is listed, and libmicrohttpd unlists it
 * (hr_http__guard_closed) before it closes the descriptor, so the guard
 * never touches a descriptor that was reused.
 */
#ifndef HR_HTTP_GUARD_H
#define HR_HTTP_GUARD_H

#include "core/error.h"

#include <stdbool.h>
#include <sys/socket.h>

typedef struct hr_http__guard hr_http__guard;
typedef struct hr_http__conn hr_http__conn;

typedef struct hr_http__guard_limits {
    unsigned max_connections; /* the server's cap, for the reserve */
    unsigned per_address;     /* 0: no cap */
    unsigned head_timeout_s, body_timeout_s;
} hr_http__guard_limits;

/* Starts the watchdog. *out is new. */
int hr_http__guard_start(const hr_http__guard_limits *lim, hr_http__guard **out, hr_error *err);
/* Stops the watchdog and frees; every connection must be closed first
 * (after MHD_stop_daemon). NULL is fine. */
void hr_http__guard_stop(hr_http__guard *g);

/* Whether a new connection from addr may be served. At the address's cap
 * it makes room by cutting that address's oldest stalled connection, or
 * refuses when none has stalled. */
bool hr_http__guard_admit(hr_http__guard *g, const struct sockaddr *addr, socklen_t len);
/* A connection opened (phase HEAD). The result is new, owned by the
 * guard until hr_http__guard_closed. */
hr_http__conn *hr_http__guard_opened(hr_http__guard *g, int fd, const struct sockaddr *addr,
                                     socklen_t len);
void hr_http__guard_closed(hr_http__guard *g, hr_http__conn *c);

/* The request's head is in: phase BODY. False when the watchdog already
 * cut the connection: then serve nothing and close. NULL c is fine. */
bool hr_http__guard_head_done(hr_http__guard *g, hr_http__conn *c);
/* The body is in: phase BUSY. False as above. */
bool hr_http__guard_body_done(hr_http__guard *g, hr_http__conn *c);
/* The request was answered or abandoned: phase IDLE until its next byte. */
void hr_http__guard_request_done(hr_http__guard *g, hr_http__conn *c);

#endif
