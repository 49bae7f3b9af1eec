/*
 * Faults on command: the socket, stream and REST misbehaviours of the README's fault table.
 *
 * Contract: faults_apply() runs a named fault with its JSON parameters (from the control
 * API or a scenario) and returns 0, or -1 with errstr naming what was wrong. REST faults
 * are armed here and consumed by faults_take_rest() as matching requests arrive.
 */
#ifndef GCSIM_FAULTS_H
#define GCSIM_FAULTS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/gcsim/gcsim.h"

struct rest_fault_hit {
    int status;        /* 0: answer normally (delay only) */
    int retry_after_s; /* for 429 */
    int64_t delay_ms;
};

struct faults *faults_create(void);
void faults_destroy(struct faults *faults);

int faults_apply(struct gcsim *sim, const char *name, const cJSON *params, char *errstr,
                 size_t errstr_size);
int faults_is_known(const char *name);
/* Returns 1 and fills hit when an armed REST fault matches path (consuming one use). */
/* The next armed REST fault for this request, if any (method: "GET", "PUT", …). */
int faults_take_rest(struct faults *faults, const char *method, const char *path,
                     struct rest_fault_hit *hit);

#endif
