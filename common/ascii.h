/* common/ascii.h - character classes of the C locale, whatever the process's
 * locale: the parsers of cron expressions, dates and robots.txt read ASCII
 * syntax, and <ctype.h> would take a byte >= 0x80 as a letter in some locales
 * (and is undefined for a negative char). */
#ifndef CELERIAC_ASCII_H
#define CELERIAC_ASCII_H

#include <stdbool.h>

static inline bool
ascii_is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static inline bool
ascii_is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* ' ', \t, \n, \v, \f, \r */
static inline bool
ascii_is_space(int c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* The value of a hexadecimal digit (either case), or -1. */
static inline int
ascii_hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static inline int
ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

#endif
