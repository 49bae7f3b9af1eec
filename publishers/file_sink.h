/*
 * The file sink: a sink engine (publishers/sink.h) that appends one structured-mode
 * CloudEvent per line (JSONL) to a file, the relay's embedded default sink.
 *
 * Proof of delivery is fdatasync: poll() writes out what submit() buffered, syncs
 * once for the whole batch, and only then reports those records done. Size-based
 * rotation: when the next line would take the file past max_bytes, the file is synced
 * and renamed to path.1 (path.1 to path.2, … up to path.<max_files>, the oldest is
 * deleted) and a new file is started. Only regular files rotate.
 *
 * A write or sync error (ENOSPC, EIO) loses what was not yet proven: the sink closes
 * the file, asks its runner for a replay (needs_replay), and answers the next submit
 * with SINK_FAILED naming the path and the error, so the runner backs off; the submit
 * after that reopens the file. Lines may therefore repeat after an error or a crash
 * (at-least-once); consumers deduplicate by event id. Opening a file that ends in part
 * of a line (a crash in the middle of a write) cuts it back to its last complete line. */
#ifndef CRELAY_PUBLISHERS_FILE_SINK_H
#define CRELAY_PUBLISHERS_FILE_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "publishers/sink.h"

struct file_sink_options {
    const char *path;
    int64_t max_bytes; /* rotate before passing this size; 0: 100 MiB */
    int max_files;     /* rotated files kept; 0: 5 */
};

struct file_sink_stats {
    uint64_t lines;
    uint64_t bytes;
    uint64_t syncs;
    uint64_t rotations;
    uint64_t errors;
};

struct file_sink;

/* Opens (creates) the file for appending; NULL with errstr naming the path on error. */
struct file_sink *file_sink_create(const struct file_sink_options *options, char *errstr,
                                   size_t errstr_size);
void file_sink_destroy(struct file_sink *sink);
void file_sink_get_stats(const struct file_sink *sink, struct file_sink_stats *out);

/* The engine operations; the engine pointer is the struct file_sink. */
extern const struct sink_ops file_sink_ops;

#endif
