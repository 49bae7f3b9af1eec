/*
 * Typed readers for configuration values, shared by the section loaders
 * (config_load.c for the core sections, config_sinks.c for sinks).
 *
 * Contract: every reader takes a mapping node, the key path of that mapping and a
 * key; when the key is absent the output is left alone (it holds the default), when
 * it is present its value is expanded (${VAR}), checked and stored, and anything
 * wrong is reported to the loader's diag as "file:line:col: key.path: message" and
 * loading carries on. Values are quoted in messages only by readers of non-secret
 * values; secret readers never quote. Allocation failure aborts, as in util/strbuf.
 */
#ifndef CRELAY_CONFIG_READ_H
#define CRELAY_CONFIG_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "config/config_diag.h"
#include "config/config_tree.h"

#define CONFIG_PATH_MAX 256 /* key paths; longer ones end in "..." */
#define CONFIG_ECHO_MAX 60  /* characters of a value quoted in a message */

struct config_loader {
    struct config_diag *diag;
    struct relay_config *cfg;
};

char *config_xstrdup(const char *s);
void *config_xcalloc(size_t count, size_t size);
/* Frees *slot and stores value in it. */
void config_replace_string(char **slot, char *value);

/* "parent.key" and "parent[index]" into a CONFIG_PATH_MAX buffer. */
void config_path_key(char *out, const char *parent, const char *key);
void config_path_index(char *out, const char *parent, size_t index);

/* Reports an error at node's position (none when node is NULL). */
void config_report(struct config_loader *l, const struct config_node *node, const char *path,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void config_report_missing(struct config_loader *l, const struct config_node *where,
                           const char *path, const char *key);
/* A value quoted for a message, escaped and cut at CONFIG_ECHO_MAX. Never a secret. */
void config_quote_value(const char *value, char *buf, size_t size);

/* Reports duplicate keys and, when known is not NULL, keys not in it (with a
 * did-you-mean suggestion). */
void config_check_keys(struct config_loader *l, const struct config_node *map, const char *path,
                       const char *const *known);
/* A sub-mapping, or a null value standing for an empty one; NULL when absent or of
 * the wrong type (reported). */
const struct config_node *config_section(struct config_loader *l,
                                         const struct config_node *map, const char *parent,
                                         const char *key);
/* The key's node if given, else the section's: where to point a cross-key error. */
const struct config_node *config_node_or(const struct config_node *sec, const char *key);

/* The expanded text of a scalar node (caller frees), or NULL after reporting. */
char *config_scalar_text(struct config_loader *l, const struct config_node *node,
                         const char *path, const char *expected);
char *config_read_list_item(struct config_loader *l, const struct config_node *item,
                            const char *path, const char *what);

void config_read_string(struct config_loader *l, const struct config_node *map,
                        const char *parent, const char *key, bool allow_empty, char **out);
void config_read_duration(struct config_loader *l, const struct config_node *map,
                          const char *parent, const char *key, int64_t min_ms, int64_t *out);
void config_read_size(struct config_loader *l, const struct config_node *map,
                      const char *parent, const char *key, int64_t min_bytes, int64_t *out);
void config_read_int(struct config_loader *l, const struct config_node *map, const char *parent,
                     const char *key, int min, int max, int *out);
/* Exactly true or false. */
void config_read_bool(struct config_loader *l, const struct config_node *map, const char *parent,
                      const char *key, bool *out);
/* A number in (min_exclusive, max]. */
void config_read_fraction(struct config_loader *l, const struct config_node *map,
                          const char *parent, const char *key, double min_exclusive,
                          double max, double *out);
/* An http(s) URL without trailing slashes; its host goes into host when not NULL. */
char *config_read_url(struct config_loader *l, const struct config_node *map,
                      const char *parent, const char *key, char *host, size_t host_size);

/* A list of non-empty strings (or one string when allow_scalar). */
bool config_read_string_list(struct config_loader *l, const struct config_node *node,
                             const char *path, const char *what, bool allow_scalar,
                             struct config_string_list *out);
void config_string_list_free(struct config_string_list *list);
void config_pair_list_free(struct config_pair_list *list);

/* A secret given as KEY or KEY_file. NULL when absent, or on error with *failed set. */
char *config_read_secret(struct config_loader *l, const struct config_node *map,
                         const char *parent, const char *key, bool *failed);
/* The contents of a regular file of at most 64 KiB, trailing newlines removed. */
char *config_read_secret_file(struct config_loader *l, const struct config_node *node,
                              const char *path, const char *file);

/* The "events" key of a sink: a list of patterns or one pattern. */
void config_read_event_filter(struct config_loader *l, const struct config_node *map,
                              const char *parent, struct config_event_filter *out);
void config_filter_free(struct config_event_filter *filter);

bool config_has_space_or_control(const char *text);

#endif
