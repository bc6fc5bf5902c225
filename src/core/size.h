/*
 * size.h - a number of bytes as people write one: digits, then nothing, B,
 * KiB or MiB (4096, 4KiB, 1MiB). One reading for the configuration file
 * and the command line.
 */
#ifndef HR_CORE_SIZE_H
#define HR_CORE_SIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The n bytes at s as a size in *bytes; false (and *bytes untouched) when
 * they are not one, or name more than 10^12 units. */
bool hr_size_parse(const char *s, size_t n, uint64_t *bytes);

#endif
