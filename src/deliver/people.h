/*
 * people.h - who a message names: the committers of a build (GoCD's
 * modifications, Jenkins' culprits), and the handle each service mentions
 * them by, through the config's people: map (route/config_people.c).
 *
 * Pure: no I/O, safe on any thread; the config's entries are borrowed.
 */
#ifndef HR_DELIVER_PEOPLE_H
#define HR_DELIVER_PEOPLE_H

#include "route/config.h"

#include <stddef.h>

/* A committer as the CI named them; either may be NULL, not both. */
typedef struct hr_committer {
    char *name;
    char *email;
} hr_committer;

/* The first entry of people (n of them) whose pattern matches c's e-mail
 * address or name (fnmatch, case-insensitive), or NULL. Borrowed. */
const hr_person *hr_people_find(const hr_person *people, size_t n, const hr_committer *c);

/* How a person is shown: their entry's name, else the CI's name, else
 * their address. Borrowed. */
const char *hr_people_display(const hr_committer *c, const hr_person *p);

/* Where mail to committer c goes: people's address for them, else their
 * own when it is a valid address (core/mailaddr.h), else NULL. Borrowed. */
const char *hr_people_email(const hr_committer *c, const hr_person *p);

/* Splits a version control system's author ("Jane Doe <jane@example.com>")
 * into c (new strings); an address on its own is taken as the address.
 * email_address, when not NULL or empty, is the address (GoCD gives it
 * apart for some materials). Returns false when nothing is left. */
bool hr_committer_parse(const char *author, const char *email_address, hr_committer *c);
void hr_committer_clear(hr_committer *c);

#endif
