/*
 * size.h - numbers as people write them with a unit: a number of digits,
 * then one of a table's suffixes (hr_unit_parse); sizes in bytes (4096,
 * 4KiB, 1MiB: hr_size_parse) are one such table, the configuration's
 * durations another. One reading for the configuration file and the
 * command line.
 */
#ifndef HR_CORE_SIZE_H
#define HR_CORE_SIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A unit: its suffix ("" for a bare number) and what one of it is worth. */
typedef struct hr_unit {
    const char *suffix;
    uint64_t scale;
} hr_unit;

/* The n bytes at s as digits and then exactly one of units[0..nunits)'s
 * suffixes, in *out (the number times the unit's scale); false (and *out
 * untouched) when they are not, when the digits name more than 10^12, or
 * when the product does not fit in an int64_t. */
bool hr_unit_parse(const char *s, size_t n, const hr_unit *units, size_t nunits, uint64_t *out);

/* A size in bytes: digits, then nothing, B, KiB or MiB. */
bool hr_size_parse(const char *s, size_t n, uint64_t *bytes);

#endif
