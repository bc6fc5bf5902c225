/*
 * error.h - herald's one way to fail.
 *
 * Every fallible function returns an int: 0 (HR_OK) on success, a negative
 * HR_E* code on failure, and, when the caller passed a non-NULL hr_error,
 * fills it with a sentence a person can act on. Results travel through
 * out-parameters. A function that fails leaves its out-parameters untouched
 * unless its comment says otherwise.
 */
#ifndef HR_CORE_ERROR_H
#define HR_CORE_ERROR_H

#include <stddef.h>

enum {
    HR_OK = 0,
    HR_EINVAL = -1,    /* the input is malformed or breaks a rule */
    HR_ENOMEM = -2,    /* an allocation failed */
    HR_EIO = -3,       /* the operating system refused (file, socket) */
    HR_ESTORE = -4,    /* the database refused (full disk, read-only, corrupt) */
    HR_ENOTFOUND = -5, /* the thing asked for does not exist */
    HR_ETOOBIG = -6,   /* the input is over one of the limits in limits.h */
    HR_ECLOSED = -7,   /* the subsystem is shutting down */
    HR_ECONFLICT = -8, /* it exists already, and differs */
};

#define HR_ERROR_MSG_MAX 512

typedef struct hr_error {
    int code;
    char msg[HR_ERROR_MSG_MAX];
} hr_error;

/* Sets err (when not NULL) and returns code, so callers can write
 * `return hr_error_set(err, HR_EINVAL, "...", ...);`. */
int hr_error_set(hr_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears err (when not NULL) to HR_OK with an empty message. */
void hr_error_clear(hr_error *err);

/* A short constant name for a code, such as "invalid input". */
const char *hr_error_name(int code);

#endif
