#include "store/datadir.h"

#include "core/log.h"
#include "core/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define SUB "store"
#define LOCK_FILE "herald.lock"

struct hr_datadir {
    int fd; /* the lock file, locked; closing it releases the lock */
};

/* The pid the lock's holder wrote into the lock file, or 0 when it is not
 * (yet) there. */
static long holder_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    char *end;
    long pid;

    if (n <= 0)
        return 0;
    buf[n] = '\0';
    errno = 0;
    pid = strtol(buf, &end, 10);
    if (errno != 0 || end == buf || (*end != '\n' && *end != '\0') || pid <= 0)
        return 0;
    return pid;
}

int hr_datadir_lock(const char *dir, hr_datadir **out, hr_error *err)
{
    char path[4096], pid[32];
    int fd, n;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return hr_error_set(err, HR_EIO, "store: cannot create the data folder %s: %s", dir,
                            strerror(errno));
    /* SQLite's own message for an unwritable folder is a vague "unable to
     * open database file"; say which folder and why (for example
     * "Read-only file system"). */
    if (access(dir, W_OK) != 0)
        return hr_error_set(err, HR_EIO, "store: cannot write to the data folder %s: %s", dir,
                            strerror(errno));
    n = snprintf(path, sizeof(path), "%s/%s", dir, LOCK_FILE);
    if (n < 0 || (size_t)n >= sizeof(path))
        return hr_error_set(err, HR_EINVAL, "store: the data folder's name is too long");
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return hr_error_set(err, HR_EIO, "store: cannot open the lock file %s: %s", path,
                            strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        long holder = e == EWOULDBLOCK ? holder_pid(fd) : 0;
        close(fd);
        if (e != EWOULDBLOCK)
            return hr_error_set(err, HR_EIO, "store: cannot lock %s: %s", path, strerror(e));
        if (holder > 0)
            return hr_error_set(err, HR_EIO,
                                "store: the data folder %s is in use by another herald (pid "
                                "%ld); run one herald per data folder",
                                dir, holder);
        return hr_error_set(err, HR_EIO,
                            "store: the data folder %s is in use by another herald; run one "
                            "herald per data folder",
                            dir);
    }
    /* The pid is only for the message above; the lock is what counts. */
    n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != (ssize_t)n)
        hr_log_warn(SUB, "cannot write herald's pid into %s: %s", path, strerror(errno));
    *out = hr_calloc(1, sizeof(**out));
    (*out)->fd = fd;
    return HR_OK;
}

void hr_datadir_unlock(hr_datadir *d)
{
    if (d == NULL)
        return;
    close(d->fd);
    free(d);
}

int hr_datadir_private_file(const char *path, int create, hr_error *err)
{
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0600);

    if (fd < 0 && !create && errno == ENOENT)
        return HR_OK;
    if (fd < 0)
        return hr_error_set(err, HR_EIO, "store: cannot %s %s: %s", create ? "create" : "open",
                            path, strerror(errno));
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return hr_error_set(err, HR_EIO, "store: cannot read the mode of %s: %s", path,
                            strerror(e));
    }
    if ((sb.st_mode & 077) != 0) {
        mode_t mode = sb.st_mode & 0700;
        if (fchmod(fd, mode) != 0) {
            int e = errno;
            close(fd);
            return hr_error_set(err, HR_EIO,
                                "store: %s may be read by others (mode %04o) and cannot be made "
                                "private: %s",
                                path, (unsigned)(sb.st_mode & 07777), strerror(e));
        }
        hr_log_info(SUB, "%s was open to others (mode %04o); it holds secrets: now %04o", path,
                    (unsigned)(sb.st_mode & 07777), (unsigned)mode);
    }
    close(fd);
    return HR_OK;
}
