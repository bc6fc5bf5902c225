/*
 * mem.h - herald's one out-of-memory policy.
 *
 * The daemon cannot do anything sensible without memory, so these wrappers
 * log and abort instead of returning NULL. Libraries herald calls report
 * ENOMEM to us; herald's own code allocates only through these.
 */
#ifndef HR_CORE_MEM_H
#define HR_CORE_MEM_H

#include <stddef.h>

void *hr_malloc(size_t n);                 /* new; never NULL */
void *hr_calloc(size_t n, size_t size);    /* new, zeroed; never NULL */
void *hr_realloc(void *p, size_t n);       /* steals p, returns new; never NULL */
char *hr_strdup(const char *s);            /* new copy; NULL only when s is NULL */
char *hr_strndup(const char *s, size_t n); /* new copy of n bytes plus NUL */

/* Called on allocation failure; logs and aborts. Exposed for libraries'
 * allocation hooks (jansson). */
_Noreturn void hr_oom(size_t n);

#endif
