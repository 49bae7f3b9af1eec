#include "util/numtext.h"

#include <math.h>
#include <stdio.h>

size_t numtext_int64(char out[NUMTEXT_MAX], int64_t value)
{
    char digits[24];
    size_t n = 0;
    /* Negating INT64_MIN overflows: work on the unsigned magnitude. */
    uint64_t magnitude = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
    do {
        digits[n++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    size_t len = 0;
    if (value < 0)
        out[len++] = '-';
    while (n)
        out[len++] = digits[--n];
    out[len] = '\0';
    return len;
}

size_t numtext_g17(char out[NUMTEXT_MAX], double value)
{
    /* %.17g prints an integral value below 1e17 as its plain digits: 17 significant
     * digits cover it exactly, and %g drops the point. -0.0 keeps its sign there. */
    if (value == floor(value) && fabs(value) < 1e17 && !(value == 0 && signbit(value)))
        return numtext_int64(out, (int64_t)value);
    int len = snprintf(out, NUMTEXT_MAX, "%.17g", value);
    return len > 0 ? (size_t)len : 0;
}
