#include "publishers/file_sink.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

/* Buffered lines are written out once they pass this, and at every poll. */
#define FILE_SINK_WRITE_CHUNK (256 * 1024)
/* Bytes read at a time, from the end, looking for the last complete line. */
#define TAIL_SCAN_CHUNK 8192

struct file_sink {
    char *path;
    int64_t max_bytes;
    int max_files;
    int fd;
    bool regular;
    int64_t size; /* bytes in the current file, buffered ones included */
    struct strbuf pending;
    struct strbuf line;
    int64_t last_accepted; /* highest seq submitted */
    int64_t synced;        /* highest seq proven on disk; -1 before any */
    bool broken;           /* an error lost unproven lines; replay and reopen */
    bool failure_reported; /* the next submit after a break has said SINK_FAILED */
    bool replay_pending;
    char error[512];
    struct file_sink_stats stats;
};

/* A relay killed in the middle of a write (a fatal signal cuts a write short between
 * pages) or a write that failed part way leaves the file ending in part of a line.
 * Nothing in it was proven, so the runner offers those events again; appending after it
 * would glue the fragment to the next line and spoil that one for every reader. Cuts the
 * file back to its last complete line. */
static int drop_torn_tail(struct file_sink *sink, int fd, int64_t *size, char *errstr,
                          size_t errstr_size)
{
    if (*size == 0)
        return 0;
    int reader = open(sink->path, O_RDONLY | O_CLOEXEC);
    if (reader < 0) {
        errstr_set(errstr, errstr_size, "file sink %s: cannot read back its last line: %s",
                  sink->path, strerror(errno));
        return -1;
    }
    char chunk[TAIL_SCAN_CHUNK];
    int64_t end = *size, keep = 0;
    bool found = false;
    while (end > 0 && !found) {
        size_t n = end < TAIL_SCAN_CHUNK ? (size_t)end : TAIL_SCAN_CHUNK;
        errno = 0;
        if (pread(reader, chunk, n, end - (int64_t)n) != (ssize_t)n) {
            errstr_set(errstr, errstr_size, "file sink %s: cannot read back its last line: %s",
                      sink->path, errno ? strerror(errno) : "short read");
            close(reader);
            return -1;
        }
        if (end == *size && chunk[n - 1] == '\n') {
            close(reader);
            return 0;
        }
        for (size_t i = n; i-- > 0;) {
            if (chunk[i] == '\n') {
                keep = end - (int64_t)n + (int64_t)i + 1;
                found = true;
                break;
            }
        }
        end -= (int64_t)n;
    }
    close(reader);
    if (ftruncate(fd, keep) != 0) {
        errstr_set(errstr, errstr_size, "file sink %s: cannot cut off an unfinished last line"
                  " (%lld bytes): %s", sink->path, (long long)(*size - keep), strerror(errno));
        return -1;
    }
    log_warn("file_sink", "%s: cut off an unfinished last line of %lld bytes (the relay"
             " stopped in the middle of a write); its events are written again",
             sink->path, (long long)(*size - keep));
    *size = keep;
    return 0;
}

static int open_file(struct file_sink *sink, char *errstr, size_t errstr_size)
{
    int fd = open(sink->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        errstr_set(errstr, errstr_size, "file sink %s: cannot open: %s", sink->path,
                  strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        errstr_set(errstr, errstr_size, "file sink %s: cannot stat: %s", sink->path,
                  strerror(errno));
        close(fd);
        return -1;
    }
    int64_t size = (int64_t)st.st_size;
    if (S_ISREG(st.st_mode) && drop_torn_tail(sink, fd, &size, errstr, errstr_size) != 0) {
        close(fd);
        return -1;
    }
    sink->fd = fd;
    sink->regular = S_ISREG(st.st_mode);
    sink->size = sink->regular ? size : 0;
    return 0;
}

/* Records an I/O failure: unproven lines are gone, the runner must offer them again. */
static void break_sink(struct file_sink *sink, const char *what, int error)
{
    snprintf(sink->error, sizeof sink->error, "file sink %s: %s: %s", sink->path, what,
             strerror(error));
    sink->stats.errors++;
    strbuf_reset(&sink->pending);
    if (sink->fd >= 0)
        close(sink->fd);
    sink->fd = -1;
    sink->broken = true;
    sink->failure_reported = false;
    sink->replay_pending = true;
    sink->last_accepted = sink->synced;
}

static int write_pending(struct file_sink *sink)
{
    size_t off = 0;
    while (off < sink->pending.len) {
        ssize_t n = write(sink->fd, sink->pending.data + off, sink->pending.len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break_sink(sink, "write failed", errno);
            return -1;
        }
        off += (size_t)n;
    }
    strbuf_reset(&sink->pending);
    return 0;
}

/* Writes out and syncs; on success every accepted record is proven. */
static int sync_file(struct file_sink *sink)
{
    if (sink->fd < 0)
        return -1;
    if (write_pending(sink) != 0)
        return -1;
    if (fdatasync(sink->fd) != 0 && errno != EINVAL) { /* EINVAL: not syncable (a pipe) */
        break_sink(sink, "fdatasync failed", errno);
        return -1;
    }
    sink->stats.syncs++;
    sink->synced = sink->last_accepted;
    return 0;
}

static void sync_directory(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        abort();
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

static int rotate(struct file_sink *sink, char *errstr, size_t errstr_size)
{
    if (sync_file(sink) != 0) {
        errstr_set(errstr, errstr_size, "%s", sink->error);
        return -1;
    }
    close(sink->fd);
    sink->fd = -1;
    size_t len = strlen(sink->path) + 16;
    char *from = malloc(len), *to = malloc(len);
    if (!from || !to)
        abort();
    snprintf(to, len, "%s.%d", sink->path, sink->max_files);
    unlink(to);
    for (int i = sink->max_files - 1; i >= 1; i--) {
        snprintf(from, len, "%s.%d", sink->path, i);
        snprintf(to, len, "%s.%d", sink->path, i + 1);
        rename(from, to);
    }
    snprintf(to, len, "%s.1", sink->path);
    int status = 0;
    if (rename(sink->path, to) != 0) {
        break_sink(sink, "cannot rotate", errno);
        errstr_set(errstr, errstr_size, "%s", sink->error);
        status = -1;
    }
    free(from);
    free(to);
    if (status == 0 && open_file(sink, errstr, errstr_size) != 0) {
        snprintf(sink->error, sizeof sink->error, "%s", errstr);
        sink->broken = true;
        sink->failure_reported = true;
        status = -1;
    }
    if (status == 0) {
        sync_directory(sink->path);
        sink->stats.rotations++;
    }
    return status;
}

struct file_sink *file_sink_create(const struct file_sink_options *options, char *errstr,
                                   size_t errstr_size)
{
    if (!options || !options->path || !options->path[0]) {
        errstr_set(errstr, errstr_size, "file sink: no path given");
        return NULL;
    }
    struct file_sink *sink = calloc(1, sizeof *sink);
    if (!sink)
        abort();
    sink->fd = -1;
    sink->path = strdup(options->path);
    if (!sink->path)
        abort();
    sink->max_bytes = options->max_bytes > 0 ? options->max_bytes : 100 * 1024 * 1024;
    sink->max_files = options->max_files > 0 ? options->max_files : 5;
    sink->synced = -1;
    sink->last_accepted = -1;
    strbuf_init(&sink->pending);
    strbuf_init(&sink->line);
    if (open_file(sink, errstr, errstr_size) != 0) {
        file_sink_destroy(sink);
        return NULL;
    }
    return sink;
}

void file_sink_destroy(struct file_sink *sink)
{
    if (!sink)
        return;
    if (sink->fd >= 0) {
        /* Best effort: lines not proven here are offered again after a restart. */
        sync_file(sink);
        if (sink->fd >= 0)
            close(sink->fd);
    }
    strbuf_free(&sink->pending);
    strbuf_free(&sink->line);
    free(sink->path);
    free(sink);
}

void file_sink_get_stats(const struct file_sink *sink, struct file_sink_stats *out)
{
    *out = sink->stats;
}

static enum sink_submit_result file_submit(void *engine, int64_t seq,
                                           const struct relay_event *event, char *errstr,
                                           size_t errstr_size)
{
    struct file_sink *sink = engine;
    if (sink->broken) {
        if (!sink->failure_reported) {
            sink->failure_reported = true;
            errstr_set(errstr, errstr_size, "%s", sink->error);
            return SINK_FAILED;
        }
        if (sink->fd < 0 && open_file(sink, errstr, errstr_size) != 0)
            return SINK_FAILED;
        sink->broken = false;
    }
    strbuf_reset(&sink->line);
    relay_event_to_structured_json(event, &sink->line);
    strbuf_append_char(&sink->line, '\n');
    int64_t line_len = (int64_t)sink->line.len;
    if (sink->regular && sink->size > 0 && sink->size + line_len > sink->max_bytes &&
        rotate(sink, errstr, errstr_size) != 0) {
        sink->failure_reported = true;
        return SINK_FAILED;
    }
    strbuf_append_len(&sink->pending, sink->line.data, sink->line.len);
    sink->size += line_len;
    sink->last_accepted = seq;
    sink->stats.lines++;
    sink->stats.bytes += (uint64_t)line_len;
    if (sink->pending.len >= FILE_SINK_WRITE_CHUNK && write_pending(sink) != 0) {
        /* The line is not written; a replay offers it again with everything unproven. */
        sink->failure_reported = true;
        errstr_set(errstr, errstr_size, "%s", sink->error);
        return SINK_FAILED;
    }
    return SINK_ACCEPTED;
}

static int64_t file_poll(void *engine, int timeout_ms)
{
    struct file_sink *sink = engine;
    (void)timeout_ms; /* file work never waits on anything */
    if (!sink->broken && sink->last_accepted > sink->synced)
        sync_file(sink);
    return sink->synced;
}

static bool file_needs_replay(void *engine)
{
    struct file_sink *sink = engine;
    bool replay = sink->replay_pending;
    sink->replay_pending = false;
    return replay;
}

static void file_destroy(void *engine) { file_sink_destroy(engine); }

const struct sink_ops file_sink_ops = {
    .kind = "file",
    .submit = file_submit,
    .poll = file_poll,
    .needs_replay = file_needs_replay,
    .destroy = file_destroy,
};
