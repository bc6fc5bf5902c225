/*
 * ascii.h - character classes by their ASCII definition, whatever the
 * process's locale (<ctype.h> follows the locale and takes an int that
 * must not be a negative char). One definition for every parser.
 */
#ifndef HR_CORE_ASCII_H
#define HR_CORE_ASCII_H

#include <stdbool.h>
#include <string.h>

static inline bool hr_is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static inline bool hr_is_alpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static inline bool hr_is_alnum(char ch)
{
    return hr_is_alpha(ch) || hr_is_digit(ch);
}

/* ch in upper case when it is an ASCII letter, else ch. */
static inline char hr_ascii_upper(char ch)
{
    return ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
}

/* Whether the alen bytes at a are the string b, ASCII letters compared
 * without their case (whatever the locale, unlike strncasecmp). */
static inline bool hr_ascii_same_ignoring_case(const char *a, size_t alen, const char *b)
{
    if (alen != strlen(b))
        return false;
    for (size_t i = 0; i < alen; i++)
        if (hr_ascii_upper(a[i]) != hr_ascii_upper(b[i]))
            return false;
    return true;
}

/* A hex digit's value (either case), or -1. */
static inline int hr_hex_value(char ch)
{
    if (hr_is_digit(ch))
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* C0 controls and DEL. */
static inline bool hr_is_control(unsigned char ch)
{
    return ch < 0x20 || ch == 0x7f;
}

/* RFC 7230 tchar: what a header name or a token is made of. */
static inline bool hr_is_tchar(char ch)
{
    return hr_is_alnum(ch) || (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

#endif
