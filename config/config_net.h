/*
 * Network-shaped configuration values: Genesys Cloud regions, http(s) URLs and
 * host:port listen addresses.
 *
 * Contract: pure functions over strings; nothing here resolves names or opens
 * sockets. Error messages describe what was expected and may quote the value, so
 * callers must not pass secrets.
 */
#ifndef CRELAY_CONFIG_NET_H
#define CRELAY_CONFIG_NET_H

#include <stdbool.h>
#include <stddef.h>

struct config_region {
    const char *key;    /* "us_east_1" */
    const char *domain; /* "mypurecloud.com" */
};

/* Finds a region by key, accepting "us_east_1" and "us-east-1"; NULL if unknown. */
const struct config_region *config_region_find(const char *name);
/* The NULL-terminated list of region keys (for messages and suggestions). */
const char *const *config_region_keys(void);

/* Checks an http:// or https:// URL with a host and an optional port. On success
 * copies the host (without port, brackets of IPv6 literals removed) into host and
 * returns true; otherwise writes the reason into err. */
bool config_url_check(const char *url, char *host, size_t host_size, char *err,
                      size_t err_size);

/* Parses "host:port" or "[v6]:port" with port 0..65535. */
bool config_hostport_parse(const char *text, char *host, size_t host_size, int *port,
                           char *err, size_t err_size);

#endif
