#include "config/config_net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Reference §1.1: the platform SDKs' region table. */
static const struct config_region regions[] = {
    {"us_east_1", "mypurecloud.com"},
    {"eu_west_1", "mypurecloud.ie"},
    {"ap_southeast_2", "mypurecloud.com.au"},
    {"ap_northeast_1", "mypurecloud.jp"},
    {"eu_central_1", "mypurecloud.de"},
    {"us_west_2", "usw2.pure.cloud"},
    {"ca_central_1", "cac1.pure.cloud"},
    {"ap_northeast_2", "apne2.pure.cloud"},
    {"eu_west_2", "euw2.pure.cloud"},
    {"ap_south_1", "aps1.pure.cloud"},
    {"us_east_2", "use2.us-gov-pure.cloud"},
    {"sa_east_1", "sae1.pure.cloud"},
    {"me_central_1", "mec1.pure.cloud"},
    {"ap_northeast_3", "apne3.pure.cloud"},
    {"eu_central_2", "euc2.pure.cloud"},
    {"mx_central_1", "mxc1.pure.cloud"},
    {"ap_southeast_1", "apse1.pure.cloud"},
    {"eusc_de_east_1", "edee1.eusc-pure.cloud"},
};

#define REGION_COUNT (sizeof regions / sizeof regions[0])

static const char *const region_keys[REGION_COUNT + 1] = {
    "us_east_1",    "eu_west_1",      "ap_southeast_2", "ap_northeast_1", "eu_central_1",
    "us_west_2",    "ca_central_1",   "ap_northeast_2", "eu_west_2",      "ap_south_1",
    "us_east_2",    "sa_east_1",      "me_central_1",   "ap_northeast_3", "eu_central_2",
    "mx_central_1", "ap_southeast_1", "eusc_de_east_1", NULL,
};

const struct config_region *config_region_find(const char *name)
{
    char key[32];
    size_t len = strlen(name);
    if (len >= sizeof key)
        return NULL;
    for (size_t i = 0; i <= len; i++)
        key[i] = name[i] == '-' ? '_' : name[i];
    for (size_t i = 0; i < REGION_COUNT; i++)
        if (strcmp(key, regions[i].key) == 0)
            return &regions[i];
    return NULL;
}

const char *const *config_region_keys(void)
{
    return region_keys;
}

static bool copy_host(const char *start, size_t len, char *host, size_t host_size)
{
    if (len == 0 || len >= host_size)
        return false;
    memcpy(host, start, len);
    host[len] = '\0';
    return true;
}

static bool parse_port(const char *text, size_t len, int *port)
{
    if (len == 0 || len > 5)
        return false;
    int value = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return false;
        value = value * 10 + (text[i] - '0');
    }
    if (value > 65535)
        return false;
    *port = value;
    return true;
}

/* Splits an authority "host", "host:port", "[v6]" or "[v6]:port". */
static bool split_authority(const char *auth, size_t len, char *host, size_t host_size,
                            int *port, bool port_required)
{
    const char *host_start = auth;
    size_t host_len;
    const char *rest;
    if (len > 0 && auth[0] == '[') {
        const char *close = memchr(auth, ']', len);
        if (close == NULL)
            return false;
        host_start = auth + 1;
        host_len = (size_t)(close - host_start);
        rest = close + 1;
    } else {
        const char *colon = memchr(auth, ':', len);
        host_len = colon != NULL ? (size_t)(colon - auth) : len;
        rest = auth + host_len;
    }
    size_t rest_len = len - (size_t)(rest - auth);
    if (!copy_host(host_start, host_len, host, host_size))
        return false;
    for (size_t i = 0; i < host_len; i++) {
        unsigned char c = (unsigned char)host_start[i];
        if (c <= ' ' || c == '/' || c == '@' || c == '?' || c == '#' || c >= 0x7f)
            return false;
    }
    if (rest_len == 0)
        return !port_required;
    if (rest[0] != ':')
        return false;
    int value = 0;
    if (!parse_port(rest + 1, rest_len - 1, &value))
        return false;
    if (port != NULL)
        *port = value;
    return true;
}

bool config_url_check(const char *url, char *host, size_t host_size, char *err,
                      size_t err_size)
{
    const char *after;
    if (strncasecmp(url, "https://", 8) == 0) {
        after = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        after = url + 7;
    } else {
        snprintf(err, err_size, "expected an http:// or https:// URL");
        return false;
    }
    for (const char *p = url; *p != '\0'; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            snprintf(err, err_size, "a URL must not contain spaces or control characters");
            return false;
        }
    }
    size_t auth_len = strcspn(after, "/?#");
    const char *at = memchr(after, '@', auth_len);
    if (at != NULL) {
        snprintf(err, err_size, "a URL must not carry credentials (user@host)");
        return false;
    }
    int port = -1;
    if (!split_authority(after, auth_len, host, host_size, &port, false) || port == 0) {
        snprintf(err, err_size, "expected an http:// or https:// URL with a host "
                                "and an optional port 1..65535");
        return false;
    }
    return true;
}

bool config_hostport_parse(const char *text, char *host, size_t host_size, int *port,
                           char *err, size_t err_size)
{
    if (!split_authority(text, strlen(text), host, host_size, port, true)) {
        snprintf(err, err_size, "expected host:port (e.g. 127.0.0.1:9464 or [::1]:9464)");
        return false;
    }
    return true;
}
