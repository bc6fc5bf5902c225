#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>

int hr_error_set(hr_error *err, int code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

void hr_error_clear(hr_error *err)
{
    if (err != NULL) {
        err->code = HR_OK;
        err->msg[0] = '\0';
    }
}

const char *hr_error_name(int code)
{
    switch (code) {
    case HR_OK:
        return "ok";
    case HR_EINVAL:
        return "invalid input";
    case HR_ENOMEM:
        return "out of memory";
    case HR_EIO:
        return "i/o error";
    case HR_ESTORE:
        return "store error";
    case HR_ENOTFOUND:
        return "not found";
    case HR_ETOOBIG:
        return "too big";
    case HR_ECONFLICT:
        return "conflict";
    case HR_ECLOSED:
        return "shutting down";
    default:
        return "unknown error";
    }
}
