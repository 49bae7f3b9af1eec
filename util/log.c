#include "util/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "util/strbuf.h"
#include "util/timeutil.h"

static _Atomic int current_level = LOG_INFO;
static _Atomic int current_format = LOG_FORMAT_LOGFMT;
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level level) { current_level = level; }
enum log_level log_get_level(void) { return (enum log_level)current_level; }
void log_set_format(enum log_format format) { current_format = format; }

int log_level_parse(const char *text)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(text, level_names[i]) == 0)
            return i;
    if (strcmp(text, "warning") == 0)
        return LOG_WARN;
    return -1;
}

const char *log_level_name(enum log_level level)
{
    return (unsigned)level < 4 ? level_names[level] : "unknown";
}

void log_vmsg(enum log_level level, const char *component, const char *fmt, va_list ap)
{
    if ((int)level > current_level)
        return;

    char message[2048];
    vsnprintf(message, sizeof message, fmt, ap);

    char ts[RFC3339_MS_LEN];
    time_format_rfc3339(time_now_ms(), ts);

    struct strbuf line;
    strbuf_init(&line);
    if (current_format == LOG_FORMAT_JSON) {
        strbuf_appendf(&line, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":", ts,
                       log_level_name(level));
        strbuf_append_json_string(&line, component);
        strbuf_append(&line, ",\"msg\":");
        strbuf_append_json_string(&line, message);
        strbuf_append(&line, "}\n");
    } else {
        strbuf_appendf(&line, "ts=%s level=%s component=%s msg=", ts, log_level_name(level),
                       component);
        strbuf_append_json_string(&line, message);
        strbuf_append(&line, "\n");
    }
    pthread_mutex_lock(&write_lock);
    fputs(strbuf_cstr(&line), stderr);
    fflush(stderr);
    pthread_mutex_unlock(&write_lock);
    strbuf_free(&line);
}

void log_msg(enum log_level level, const char *component, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, component, fmt, ap);
    va_end(ap);
}
