/*
 * Environment expansion of configuration values: ${VAR}, ${VAR:-default}, and $$
 * for a literal dollar. Any other '$' is kept as it is.
 *
 * Contract: the result is never expanded again (a variable's value may contain '$').
 * As in the shell, ":-" uses the default when the variable is unset or empty. Error
 * messages name the variable but never contain the value being expanded, which may
 * be a secret.
 */
#ifndef CRELAY_CONFIG_EXPAND_H
#define CRELAY_CONFIG_EXPAND_H

#include <stddef.h>

/* Returns the expanded heap string (caller frees), or NULL with a message in err. */
char *config_expand(const char *text, char *err, size_t err_size);

#endif
