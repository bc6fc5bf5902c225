/*
 * cli.h - herald's client commands, run from a build or a release script:
 *
 *   herald notify    a build's status, from any CI, to POST /ci/notify
 *   herald publish   a package revision, to POST /api/v1/packages/R/P/revisions
 *   herald target    pause, resume, enable, test or show a target; list them
 *
 * Each sends one JSON body to a running herald and sends it again (backoff
 * and jitter, Retry-After honoured) until herald acknowledges it or the
 * deadline passes, so a build never loses its notification to a restart
 * of herald. Exit statuses: 0 acknowledged, 1 refused, 2 usage error,
 * 3 deadline passed (see cli/http.h). Neither prints a secret: the token,
 * credentials in URLs and the values of secret variables stay hidden.
 */
#ifndef HR_CLI_CLI_H
#define HR_CLI_CLI_H

#include <stdio.h>

/* Prints herald's manual to f (main.c's), for --help. */
typedef void hr_cli_usage_fn(FILE *f);

/* `herald notify ...`: argv[0] is "notify"; argv is reordered by getopt.
 * Returns the process's exit status. */
int hr_cli_notify(int argc, char **argv, hr_cli_usage_fn *usage);

/* `herald publish ...`: argv[0] is "publish". Returns the exit status. */
int hr_cli_publish(int argc, char **argv, hr_cli_usage_fn *usage);

/* `herald target pause|resume|enable|test|show NAME`, `herald target list`
 * (cli/target.c): argv[0] is "target". Returns the exit status. */
int hr_cli_target(int argc, char **argv, hr_cli_usage_fn *usage);

/* `herald migrate-store --from DIR --to URI` (cli/migrate_store.c): copies
 * a SQLite store into an empty PostgreSQL database. Not a client of a
 * running herald: 0 when copied, 1 when not (said why), 2 usage error. */
int hr_cli_migrate_store(int argc, char **argv, hr_cli_usage_fn *usage);

#endif
