/*
 * Structured logging to stderr, as JSON lines or logfmt.
 *
 * Contract: errors are returned up the stack in an errstr buffer and logged once, at
 * the top, with log_msg(). Messages never contain secrets: callers mask them first
 * (see util/secret.h). Thread-safe: one line is written with one locked fputs.
 */
#ifndef CRELAY_UTIL_LOG_H
#define CRELAY_UTIL_LOG_H

#include <stdarg.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_FORMAT_LOGFMT = 0, LOG_FORMAT_JSON };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_set_format(enum log_format format);

/* Parses "error", "warn", "info", "debug"; returns -1 for anything else. */
int log_level_parse(const char *text);
const char *log_level_name(enum log_level level);

/* component names the module ("stream", "outbox", "kafka"…). */
void log_msg(enum log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vmsg(enum log_level level, const char *component, const char *fmt, va_list ap);

#define log_error(component, ...) log_msg(LOG_ERROR, component, __VA_ARGS__)
#define log_warn(component, ...)  log_msg(LOG_WARN, component, __VA_ARGS__)
#define log_info(component, ...)  log_msg(LOG_INFO, component, __VA_ARGS__)
#define log_debug(component, ...)                                                    \
    do {                                                                             \
        if (log_get_level() >= LOG_DEBUG)                                            \
            log_msg(LOG_DEBUG, component, __VA_ARGS__);                              \
    } while (0)

#endif
