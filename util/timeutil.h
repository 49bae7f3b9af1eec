/*
 * Wall-clock and monotonic time in milliseconds, and RFC 3339 text.
 *
 * Pure modules (cache, lifecycle, alert timers) never read the clock themselves:
 * they take "now" as an argument so tests can inject any time.
 */
#ifndef CRELAY_UTIL_TIMEUTIL_H
#define CRELAY_UTIL_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

int64_t time_now_ms(void);   /* CLOCK_REALTIME, ms since the Unix epoch */
int64_t time_mono_ms(void);  /* CLOCK_MONOTONIC, ms; for intervals and timeouts */
int64_t time_mono_us(void);

/* Formats ms since the epoch as "2026-11-22T14:16:10.123Z"; out needs RFC3339_MS_LEN bytes. */
#define RFC3339_MS_LEN 64
void time_format_rfc3339(int64_t epoch_ms, char out[RFC3339_MS_LEN]);

/* Parses RFC 3339 / ISO 8601 date-times as the platform sends them ("…Z",
 * "…+02:00", with or without fractional seconds). Returns 0 and sets *epoch_ms,
 * or -1 when the text is not such a date-time. */
int time_parse_rfc3339(const char *text, int64_t *epoch_ms);

#endif
