#include "tests/gcsim/truth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

struct truth {
    FILE *file;
    int64_t start_mono_ms;
};

struct truth *truth_open(const char *path, int64_t start_mono_ms, char *errstr,
                         size_t errstr_size)
{
    struct truth *truth = calloc(1, sizeof(*truth));
    if (!truth)
        abort();
    truth->start_mono_ms = start_mono_ms;
    if (!path)
        return truth;
    truth->file = fopen(path, "w");
    if (!truth->file) {
        snprintf(errstr, errstr_size, "truth file %s: %s", path, strerror(errno));
        free(truth);
        return NULL;
    }
    return truth;
}

void truth_close(struct truth *truth)
{
    if (!truth)
        return;
    if (truth->file)
        fclose(truth->file);
    free(truth);
}

int truth_enabled(const struct truth *truth)
{
    return truth && truth->file;
}

void truth_write(struct truth *truth, const cJSON *fields)
{
    if (!truth_enabled(truth))
        return;
    char *text = cJSON_PrintUnformatted(fields);
    if (!text)
        abort();
    long long t = (long long)(time_mono_ms() - truth->start_mono_ms);
    /* text is "{...}": splice "t" in as the first member. */
    fprintf(truth->file, "{\"t\":%lld%s%s\n", t, text[1] == '}' ? "" : ",", text + 1);
    fflush(truth->file);
    free(text);
}
