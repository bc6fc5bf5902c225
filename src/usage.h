/*
 * usage.h - herald's manual (usage.c), printed by --help.
 */
#ifndef HR_USAGE_H
#define HR_USAGE_H

#include <stdio.h>

/* What herald serve uses when not told (the manual says so). */
#define DEFAULT_LISTEN "127.0.0.1:8190"
#define DEFAULT_DATA "./data"

/* Writes the whole manual to f. */
void hr_usage(FILE *f);

#endif
