/*
 * test_store_datadir.c - the data folder's lock and file modes, on real
 * folders and files: a second lock is refused with the holder's pid, the
 * lock goes with its holder, files are made private.
 */
#include "store/datadir.h"

#include "core/log.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];
static char sub[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/herald-datadir-XXXXXX");
    cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    snprintf(sub, sizeof(sub), "%s/data", dir);
    hr_log_set_level(HR_LOG_ERROR);
}

static void teardown(void)
{
    char path[192];
    static const char *const names[] = {"data/herald.lock", "data/f", "data", "f"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        remove(path);
    }
    rmdir(dir);
}

TestSuite(datadir, .init = setup, .fini = teardown);

static mode_t mode_of(const char *path)
{
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0, "%s: %s", path, strerror(errno));
    return sb.st_mode & 07777;
}

Test(datadir, creates_the_folder_private_and_locks_it)
{
    hr_datadir *a = NULL, *b = NULL;
    char want[192];
    hr_error err;

    cr_assert_eq(hr_datadir_lock(sub, &a, &err), HR_OK, "%s", err.msg);
    cr_expect_eq(mode_of(sub), 0700);
    cr_assert_eq(hr_datadir_lock(sub, &b, &err), HR_EIO);
    cr_assert_null(b);
    snprintf(want, sizeof(want), "the data folder %s is in use by another herald (pid %ld)", sub,
             (long)getpid());
    cr_assert(strstr(err.msg, want) != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "run one herald per data folder") != NULL, "%s", err.msg);
    hr_datadir_unlock(a);
    cr_assert_eq(hr_datadir_lock(sub, &b, &err), HR_OK, "released: %s", err.msg);
    hr_datadir_unlock(b);
    hr_datadir_unlock(NULL);
}

Test(datadir, another_process_is_refused_and_the_lock_dies_with_its_holder)
{
    hr_datadir *a = NULL;
    int ready[2], go[2], status;
    char c;
    hr_error err;

    cr_assert_eq(pipe(ready), 0);
    cr_assert_eq(pipe(go), 0);
    pid_t child = fork();
    cr_assert_neq(child, -1);
    if (child == 0) {
        hr_datadir *held = NULL;
        if (hr_datadir_lock(sub, &held, NULL) != HR_OK)
            _exit(1);
        (void)!write(ready[1], "x", 1);
        (void)!read(go[0], &c, 1);
        _exit(0); /* without unlocking, as kill -9 would */
    }
    cr_assert_eq(read(ready[0], &c, 1), 1);
    cr_assert_eq(hr_datadir_lock(sub, &a, &err), HR_EIO);
    char want[64];
    snprintf(want, sizeof(want), "(pid %ld)", (long)child);
    cr_assert(strstr(err.msg, want) != NULL, "%s", err.msg);
    cr_assert_eq(write(go[1], "x", 1), 1);
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_eq(hr_datadir_lock(sub, &a, &err), HR_OK, "%s", err.msg);
    hr_datadir_unlock(a);
    close(ready[0]);
    close(ready[1]);
    close(go[0]);
    close(go[1]);
}

Test(datadir, an_unwritable_folder_is_named)
{
    char missing[192];
    hr_datadir *a = NULL;
    hr_error err;

    snprintf(missing, sizeof(missing), "%s/missing/deeper", dir);
    cr_assert_eq(hr_datadir_lock(missing, &a, &err), HR_EIO);
    cr_assert(strstr(err.msg, missing) != NULL, "%s", err.msg);
    cr_assert_null(a);
}

Test(datadir, private_files)
{
    char path[192];
    hr_error err;

    snprintf(path, sizeof(path), "%s/f", dir);
    /* Missing: made 0600 with create, left alone without. */
    cr_assert_eq(hr_datadir_private_file(path, 0, &err), HR_OK, "%s", err.msg);
    cr_assert_eq(access(path, F_OK), -1);
    cr_assert_eq(hr_datadir_private_file(path, 1, &err), HR_OK, "%s", err.msg);
    cr_expect_eq(mode_of(path), 0600);
    /* Open to others: tightened, the owner's bits kept. */
    cr_assert_eq(chmod(path, 0644), 0);
    cr_assert_eq(hr_datadir_private_file(path, 0, &err), HR_OK, "%s", err.msg);
    cr_expect_eq(mode_of(path), 0600);
    cr_assert_eq(chmod(path, 0466), 0);
    cr_assert_eq(hr_datadir_private_file(path, 1, &err), HR_OK, "%s", err.msg);
    cr_expect_eq(mode_of(path), 0400);
}
