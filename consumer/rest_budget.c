#include "consumer/rest_budget.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct rest_budget {
    pthread_mutex_t lock;
    int limit;
    /* Ring of the times of the last `limit` reservations; oldest at `head`. */
    int64_t *stamps;
    int count;
    int head;
    int64_t paused_until_ms;
};

struct rest_budget *rest_budget_create(int per_minute, char *errstr, size_t errstr_size)
{
    if (per_minute < 1 || per_minute > 100000) {
        snprintf(errstr, errstr_size,
                 "rest budget: calls per minute must be between 1 and 100000, got %d",
                 per_minute);
        return NULL;
    }
    struct rest_budget *budget = calloc(1, sizeof *budget);
    if (budget != NULL)
        budget->stamps = calloc((size_t)per_minute, sizeof *budget->stamps);
    if (budget == NULL || budget->stamps == NULL) {
        free(budget);
        snprintf(errstr, errstr_size, "rest budget: out of memory");
        return NULL;
    }
    pthread_mutex_init(&budget->lock, NULL);
    budget->limit = per_minute;
    return budget;
}

void rest_budget_destroy(struct rest_budget *budget)
{
    if (budget == NULL)
        return;
    pthread_mutex_destroy(&budget->lock);
    free(budget->stamps);
    free(budget);
}

/* Drops reservations that left the window ending at now_ms. Caller holds the lock. */
static void expire_locked(struct rest_budget *budget, int64_t now_ms)
{
    while (budget->count > 0 && budget->stamps[budget->head] <= now_ms - REST_BUDGET_WINDOW_MS) {
        budget->head = (budget->head + 1) % budget->limit;
        budget->count--;
    }
}

int64_t rest_budget_reserve(struct rest_budget *budget, int64_t now_ms)
{
    pthread_mutex_lock(&budget->lock);
    int64_t wait_ms = 0;
    if (now_ms < budget->paused_until_ms) {
        wait_ms = budget->paused_until_ms - now_ms;
    } else {
        expire_locked(budget, now_ms);
        if (budget->count == budget->limit) {
            /* The oldest reservation leaves the window one millisecond after it
             * is a full window old. */
            wait_ms = budget->stamps[budget->head] + REST_BUDGET_WINDOW_MS - now_ms;
        } else {
            budget->stamps[(budget->head + budget->count) % budget->limit] = now_ms;
            budget->count++;
        }
    }
    pthread_mutex_unlock(&budget->lock);
    return wait_ms;
}

void rest_budget_pause_until(struct rest_budget *budget, int64_t until_ms)
{
    pthread_mutex_lock(&budget->lock);
    if (until_ms > budget->paused_until_ms)
        budget->paused_until_ms = until_ms;
    pthread_mutex_unlock(&budget->lock);
}

int64_t rest_budget_paused_until(struct rest_budget *budget)
{
    pthread_mutex_lock(&budget->lock);
    int64_t until = budget->paused_until_ms;
    pthread_mutex_unlock(&budget->lock);
    return until;
}

int rest_budget_used(struct rest_budget *budget, int64_t now_ms)
{
    pthread_mutex_lock(&budget->lock);
    expire_locked(budget, now_ms);
    int used = budget->count;
    pthread_mutex_unlock(&budget->lock);
    return used;
}

int rest_budget_limit(const struct rest_budget *budget)
{
    return budget->limit;
}
