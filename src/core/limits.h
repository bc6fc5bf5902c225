/*
 * limits.h - every bound herald places on untrusted input and on its own
 * queues, in one place, with names. Change a limit here and the code, the
 * error messages and the docs (docs/operating.md) follow.
 */
#ifndef HR_CORE_LIMITS_H
#define HR_CORE_LIMITS_H

/* Largest request body herald reads; a larger one is answered 413. */
#define HR_MAX_BODY_BYTES (1024u * 1024u)
/* Largest stored (normalised) document of one event: a body's empty
 * members each become a named null, so it can be many times the body. */
#define HR_MAX_EVENT_DOC_BYTES (64u * 1024u * 1024u)
/* Deepest nesting of JSON arrays and objects accepted in a request body. */
#define HR_MAX_JSON_DEPTH 32
/* Most validation messages returned for one body; the rest are counted. */
#define HR_MAX_ERRORS 20
/* Most jobs in one stage, and most build causes in one pipeline. */
#define HR_MAX_JOBS 10000
#define HR_MAX_CAUSES 1000
/* Events waiting for the store writer; a full queue answers 503. */
#define HR_MAX_STORE_QUEUE 65536
/* Most events the writer commits in one transaction. */
#define HR_MAX_STORE_BATCH 512
/* PostgreSQL: how long connecting may take (a server that accepts and
 * never answers), and about how long a connection whose server or network
 * vanished mid-statement takes to be given up (TCP keepalives and
 * tcp_user_timeout). */
#define HR_PG_CONNECT_TIMEOUT_S 5
#define HR_PG_TCP_TIMEOUT_S 90
/* Deliveries (targets) one event may create at most. */
#define HR_MAX_TARGETS_PER_EVENT 64
/* Commits one commit-status target reports of one GoCD stage at most (one
 * delivery per changed git material on its host, route/commits.h): of the
 * first 32 changed git materials on its host, the first 16 distinct
 * repository and commit pairs. Their deliveries count against
 * HR_MAX_TARGETS_PER_EVENT too. */
#define HR_MAX_COMMITS_PER_TARGET 16
#define HR_MAX_COMMITS_SCANNED 32
/* Events one API page returns at most, and by default. */
#define HR_MAX_API_PAGE 500
#define HR_DEFAULT_API_PAGE 50
/* A list paged by key (stages, jobs, packages): its cursor, the hex of the
 * last key listed (api/cursor.h), is at most this many characters. */
#define HR_MAX_API_CURSOR 8192
/* Concurrent HTTP connections herald serves (--max-connections); more
 * wait in the listen backlog. Each may hold a whole request head in
 * libmicrohttpd's memory pool (http/server.c; 192 KiB at the default
 * --max-head-bytes, 2 x (N + 32 KiB) for N), so 512 connections use at
 * most about 96 MiB by default, 288 MiB with --max-head-bytes 262144. */
#define HR_MAX_CONNECTIONS 512
/* Connections one client address may hold at once (an IPv6 address
 * counts by its /64); --max-connections-per-address, 0: no cap (behind a
 * proxy every client has the proxy's address). */
#define HR_MAX_CONNECTIONS_PER_ADDRESS 64
/* The reserve: once more than HR_MAX_CONNECTIONS minus one eighth are
 * open, connections that stall (a head or body in progress for more than
 * HR_STALL_GRACE_MS, or idle between requests) are closed, oldest first,
 * so that a client that sends its request at once still finds room. */
#define HR_CONNECTION_RESERVE_DIVISOR 8
#define HR_STALL_GRACE_MS 500
/* A request's head (request line and header fields) must arrive within
 * this many seconds of its first byte (of the connection's opening for
 * the first request); --head-timeout. */
#define HR_HEAD_TIMEOUT_S 10
/* Its body must arrive within this many seconds after the head;
 * --body-timeout. 1 MiB in 30 s is about 35 KB/s. */
#define HR_BODY_TIMEOUT_S 30
/* Per connection, the request line and header fields together, by
 * default; --max-head-bytes sets it from HR_MIN_REQUEST_HEAD_BYTES to
 * HR_MAX_REQUEST_HEAD_BYTES_CAP. A longer request target gets 414, a
 * longer head 431. Jenkins' Job Status plugin configured for GET sends a
 * build's whole environment in the query string: a typical one (114
 * variables) is about 6 KiB, a large one can pass 64 KiB (then raise the
 * limit, or better, let the plugin POST). The default is no larger
 * because libmicrohttpd (0.9.75, and its master alike) zeroes the
 * connection's whole memory pool, which is sized from this limit, after
 * every keep-alive request: with 256 KiB (a 528 KiB pool) that memset
 * was about 40% of the HTTP threads' samples on stage-status ingest, and
 * at 64 KiB (192 KiB) they take a third less CPU per request
 * (bench/README.md, "The connection pool"). */
#define HR_MAX_REQUEST_HEAD_BYTES (64u * 1024u)
#define HR_MIN_REQUEST_HEAD_BYTES (16u * 1024u)
#define HR_MAX_REQUEST_HEAD_BYTES_CAP (1024u * 1024u)
/* Most query arguments in one request (414 beyond): one per
 * HR_HEAD_BYTES_PER_QUERY_ARG bytes of the head's limit, 1024 at the
 * default. libmicrohttpd keeps a 64-byte record per argument and per
 * header field in the connection's pool, so the records take about as
 * much of the pool as the head itself (http/server.c sizes it). Most
 * header fields (431 beyond), whatever the head's limit. */
#define HR_HEAD_BYTES_PER_QUERY_ARG 64u
#define HR_MAX_QUERY_ARGS (HR_MAX_REQUEST_HEAD_BYTES / HR_HEAD_BYTES_PER_QUERY_ARG)
#define HR_MAX_HEADER_FIELDS 256u
/* Seconds an idle keep-alive connection stays open. */
#define HR_CONNECTION_TIMEOUT_S 60
/* Longest value of one plugin setting. */
#define HR_MAX_SETTING_BYTES (64u * 1024u)

/* Package revisions published to herald (POST /api/v1/packages/...): the
 * whole body, the revision string, the data map's keys and each value. */
#define HR_MAX_PACKAGE_BODY_BYTES (64u * 1024u)
#define HR_MAX_PACKAGE_REVISION_BYTES 1024u
#define HR_MAX_PACKAGE_DATA_KEYS 100u
#define HR_MAX_PACKAGE_DATA_KEY_BYTES 128u
#define HR_MAX_PACKAGE_DATA_VALUE_BYTES 4096u
/* Longest repository or package name. */
#define HR_MAX_PACKAGE_NAME_BYTES 128u

/* A jq program's budget, per run (a route filter, a body, one {{ }} part
 * of a template): past this much wall-clock time it is stopped and the run
 * fails. Real templates take microseconds. */
#define HR_MAX_JQ_RUN_MS 100
/* The longest string (in bytes) or array (in elements) a jq program may
 * build with +, *, add or join, and the largest array index it may set:
 * past it the run fails instead of asking for gigabytes. (Plain numbers:
 * jq's sandbox prelude is built from them.) */
#define HR_MAX_JQ_VALUE 2097152
#define HR_MAX_JQ_INDEX 1048576

#endif
