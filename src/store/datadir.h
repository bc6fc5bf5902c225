/*
 * datadir.h - the data folder: one herald at a time, files only herald reads.
 *
 * Two herald processes on one folder would each claim and send the same
 * deliveries, so the store takes an advisory lock (flock) on DIR/herald.lock
 * before it opens anything else in the folder, holds it until it closes,
 * and refuses to open while another process holds it, naming that
 * process's pid (written into the lock file by its holder). The lock dies
 * with its process, kill -9 included: there is no stale lock to clean up.
 *
 * The folder holds GoCD's plugin settings, secret header values included,
 * in clear: it is created 0700, and the database files 0600.
 */
#ifndef HR_STORE_DATADIR_H
#define HR_STORE_DATADIR_H

#include "core/error.h"

typedef struct hr_datadir hr_datadir;

/* Creates dir (mode 0700) when it is missing, checks that it may be
 * written to, and locks it. *out is new; release it with
 * hr_datadir_unlock. HR_EIO with a message naming the folder (and the
 * holder's pid when it is known) when another process holds the lock, or
 * when the folder or the lock file cannot be made or written. */
int hr_datadir_lock(const char *dir, hr_datadir **out, hr_error *err);

/* Releases the lock and frees d. NULL is fine. */
void hr_datadir_unlock(hr_datadir *d);

/* Makes path a file only its owner may read and write: with create, a
 * missing file is made empty with mode 0600 (SQLite takes an empty file
 * as a new database, and gives its -wal and -shm files the database's
 * mode); without, a missing file is fine. A file that group or others may
 * read or write loses those permissions (logged once). */
int hr_datadir_private_file(const char *path, int create, hr_error *err);

#endif
