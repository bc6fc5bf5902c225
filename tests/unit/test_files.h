/*
 * test_files.h - reading a test's input files (fixtures, payloads), the
 * one reader every unit test shares (tests/unit/test_files.c).
 */
#ifndef HR_TEST_FILES_H
#define HR_TEST_FILES_H

#include <stddef.h>

/* The whole file at path, new (malloc) and NUL-terminated past its *len
 * bytes; NULL when it cannot be opened. A file that opens but cannot be
 * read fails the test. */
char *test_slurp(const char *path, size_t *len);

#endif
