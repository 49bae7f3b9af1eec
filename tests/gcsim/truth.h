/*
 * The ground-truth log: one JSON object per line of everything the simulator did that a
 * consumer should have seen (campaign changes, frames sent, faults, final state).
 *
 * Contract: truth_open(NULL) gives a log that records nothing, so callers never check.
 * Each line gets "t" (ms since the simulator started) first and is flushed at once so a
 * test can read it while gcsim runs.
 */
#ifndef GCSIM_TRUTH_H
#define GCSIM_TRUTH_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

struct truth;

struct truth *truth_open(const char *path, int64_t start_mono_ms, char *errstr,
                         size_t errstr_size);
void truth_close(struct truth *truth);
int truth_enabled(const struct truth *truth);
/* Writes fields (an object; not consumed) as one line with "t" prepended. */
void truth_write(struct truth *truth, const cJSON *fields);

#endif
