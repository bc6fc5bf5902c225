/*
 * people.c - committers and their handles (people.h).
 */
#include "deliver/people.h"

#include "core/mailaddr.h"
#include "core/mem.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

static bool matches(const char *pattern, const char *s)
{
    return s != NULL && fnmatch(pattern, s, FNM_CASEFOLD) == 0;
}

const hr_person *hr_people_find(const hr_person *people, size_t n, const hr_committer *c)
{
    for (size_t i = 0; i < n; i++)
        if (matches(people[i].match, c->email) || matches(people[i].match, c->name))
            return &people[i];
    return NULL;
}

const char *hr_people_display(const hr_committer *c, const hr_person *p)
{
    if (p != NULL && p->name != NULL)
        return p->name;
    return c->name != NULL ? c->name : c->email;
}

const char *hr_people_email(const hr_committer *c, const hr_person *p)
{
    if (p != NULL && p->email != NULL)
        return p->email;
    if (c->email != NULL && hr_mailaddr_ok(c->email, strlen(c->email)))
        return c->email;
    return NULL;
}

/* (s, n) without the spaces around it, as a new string, or NULL when
 * nothing is left. */
static char *trimmed(const char *s, size_t n)
{
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return n > 0 ? hr_strndup(s, n) : NULL;
}

bool hr_committer_parse(const char *author, const char *email_address, hr_committer *c)
{
    const char *lt = author != NULL ? strrchr(author, '<') : NULL;
    const char *gt = lt != NULL ? strchr(lt, '>') : NULL;

    memset(c, 0, sizeof(*c));
    if (author != NULL && lt != NULL && gt != NULL) {
        c->name = trimmed(author, (size_t)(lt - author));
        c->email = trimmed(lt + 1, (size_t)(gt - lt - 1));
    } else if (author != NULL && hr_mailaddr_ok(author, strlen(author))) {
        c->email = hr_strdup(author);
    } else if (author != NULL) {
        c->name = trimmed(author, strlen(author));
    }
    if (email_address != NULL && email_address[0] != '\0') {
        free(c->email);
        c->email = hr_strdup(email_address);
    }
    if (c->name == NULL && c->email == NULL)
        return false;
    return true;
}

void hr_committer_clear(hr_committer *c)
{
    if (c == NULL)
        return;
    free(c->name);
    free(c->email);
    memset(c, 0, sizeof(*c));
}
