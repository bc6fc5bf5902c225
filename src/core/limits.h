/*
 * limits.h - every bound herald places on untrusted input and on its own
 * queues, in one place, with names. Change a limit here and the code, the
 * error messages and the docs (docs/operating.md) follow.
 */
#ifndef HR_CORE_LIMITS_H
#define HR_CORE_LIMITS_H

/* Largest request body herald reads; a larger one is answered 413. */
#define HR_MAX_BODY_BYTES (1024u * 1024u)
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
/* Deliveries (targets) one event may create at most. */
#define HR_MAX_TARGETS_PER_EVENT 64
/* Events one API page returns at most, and by default. */
#define HR_MAX_API_PAGE 500
#define HR_DEFAULT_API_PAGE 50
/* Concurrent HTTP connections herald accepts. */
#define HR_MAX_CONNECTIONS 1024
/* Per connection, the memory for the request line and headers (the body is
 * read into its own buffer). Jenkins' Job Status plugin sends a build's
 * whole environment in the query string of a GET: libmicrohttpd's default
 * of 32 KiB is too small for a large one. A longer request gets 414. */
#define HR_MAX_REQUEST_HEAD_BYTES (256u * 1024u)
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
