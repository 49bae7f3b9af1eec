#include "util/numtext.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Two digits per division: an epoch millisecond takes seven steps instead of thirteen. */
static const char digit_pairs[201] =
    "0001020304050607080910111213141516171819"
    "2021222324252627282930313233343536373839"
    "4041424344454647484950515253545556575859"
    "6061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

size_t numtext_int64(char out[NUMTEXT_MAX], int64_t value)
{
    char digits[20];
    char *end = digits + sizeof digits, *first = end;
    /* Negating INT64_MIN overflows: work on the unsigned magnitude. */
    uint64_t magnitude = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
    while (magnitude >= 100) {
        first -= 2;
        memcpy(first, &digit_pairs[2 * (magnitude % 100)], 2);
        magnitude /= 100;
    }
    if (magnitude >= 10) {
        first -= 2;
        memcpy(first, &digit_pairs[2 * magnitude], 2);
    } else {
        *--first = (char)('0' + magnitude);
    }
    size_t len = 0;
    if (value < 0)
        out[len++] = '-';
    memcpy(out + len, first, (size_t)(end - first));
    len += (size_t)(end - first);
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
