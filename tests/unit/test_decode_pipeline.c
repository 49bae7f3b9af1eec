/* Tests of consumer/decode_pipeline: frames come back in the order submitted with their
 * decode result, whatever the worker's timing; prepare runs on the worker; the loop can
 * wait for everything; wakes are sent when the queue runs dry, once per delivery;
 * delivered frames go back to the worker to be freed; frames never delivered are freed
 * (LeakSanitizer and valgrind check that). */
#include "consumer/decode_pipeline.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "publishers/event.h"
#include "tests/harness.h"
#include "util/timeutil.h"

static const char progress_fmt[] =
    "{\"topicName\":\"v2.outbound.campaigns.c-%d.progress\",\"version\":\"2\","
    "\"eventBody\":{\"campaign\":{\"id\":\"c-%d\"},\"percentage\":%d,"
    "\"numberOfContactsCalled\":%d,\"numberOfContactsMessaged\":0,"
    "\"totalNumberOfContacts\":1000}}";

struct worker_seen {
    pthread_t loop_thread;
    _Atomic int prepared;
    _Atomic int on_loop_thread; /* prepare calls made on the loop thread: must stay 0 */
};

static void prepare(void *opaque, struct decoded_frame *frame)
{
    struct worker_seen *seen = opaque;
    if (pthread_equal(pthread_self(), seen->loop_thread))
        atomic_fetch_add(&seen->on_loop_thread, 1);
    atomic_fetch_add(&seen->prepared, 1);
    if (frame->status == 0) {
        char id[32];
        snprintf(id, sizeof id, "p-%zu", frame->slot);
        frame->prepared = relay_event_create(id, "test.prepared", "src", "", 1,
                                             EVENT_FAMILY_AUDIT, "{}");
    }
}

struct delivered {
    size_t next_slot;
    int out_of_order;
    int decoded, failed, taken;
    int wrong_result;
};

/* Frames with slot % 7 == 3 are not JSON; the others are progress notifications. */
static void check_frame(void *opaque, struct decoded_frame *frame)
{
    struct delivered *d = opaque;
    if (frame->slot != d->next_slot)
        d->out_of_order++;
    d->next_slot = frame->slot + 1;
    bool should_fail = frame->slot % 7 == 3;
    if (should_fail) {
        d->failed++;
        if (frame->status == 0 || !frame->errstr[0] || frame->prepared)
            d->wrong_result++;
        return;
    }
    d->decoded++;
    char expected_id[32];
    snprintf(expected_id, sizeof expected_id, "c-%zu", frame->slot);
    if (frame->status != 0 || frame->notification.kind != NOTIFY_PROGRESS ||
        !frame->notification.progress.campaign_id ||
        strcmp(frame->notification.progress.campaign_id, expected_id) != 0 ||
        !frame->prepared || frame->received_ms != (int64_t)frame->slot * 10) {
        d->wrong_result++;
        return;
    }
    if (frame->slot % 2 == 0) { /* take half; the pipeline frees the rest */
        relay_event_free(frame->prepared);
        frame->prepared = NULL;
        d->taken++;
    }
}

static void submit(struct decode_pipeline *p, size_t slot)
{
    char text[512];
    int len = slot % 7 == 3 ? snprintf(text, sizeof text, "{\"topicName\": not json %zu", slot)
                            : snprintf(text, sizeof text, progress_fmt, (int)slot, (int)slot,
                                       (int)(slot % 100), (int)slot);
    decode_pipeline_submit(p, slot, text, (size_t)len, (int64_t)slot * 10, 0);
}

static void test_frames_come_back_in_order_with_their_results(void)
{
    struct worker_seen seen = {.loop_thread = pthread_self()};
    char err[256];
    struct decode_pipeline *p = decode_pipeline_create(prepare, &seen, NULL, NULL, err,
                                                       sizeof err);
    REQUIRE(p != NULL);
    struct delivered d = {0};
    const size_t total = 20000;
    size_t delivered = 0;
    for (size_t slot = 0; slot < total; slot++) {
        submit(p, slot);
        /* Deliver at irregular points, as service passes would, never waiting. */
        if (slot % 97 == 0)
            delivered += decode_pipeline_deliver(p, -1, check_frame, &d);
    }
    /* Bounded wait: at most 100 frames may stay undecoded. */
    delivered += decode_pipeline_deliver(p, 100, check_frame, &d);
    CHECK_MSG(decode_pipeline_backlog(p) <= 100, "backlog %zu after waiting for <= 100",
              decode_pipeline_backlog(p));
    delivered += decode_pipeline_deliver(p, 0, check_frame, &d);
    CHECK_EQ_INT(delivered, total);
    CHECK_EQ_INT(decode_pipeline_backlog(p), 0);
    CHECK_EQ_INT(d.next_slot, total);
    CHECK_EQ_INT(d.out_of_order, 0);
    CHECK_EQ_INT(d.wrong_result, 0);
    CHECK_EQ_INT(d.failed, (int)(total / 7) + (total % 7 > 3));
    CHECK_EQ_INT(d.decoded + d.failed, total);
    CHECK_EQ_INT(atomic_load(&seen.prepared), total);
    CHECK_EQ_INT(atomic_load(&seen.on_loop_thread), 0);
    CHECK(d.taken > 0);
    decode_pipeline_destroy(p);
}

struct wake_count {
    _Atomic int wakes;
};

static void count_wake(void *opaque)
{
    struct wake_count *w = opaque;
    atomic_fetch_add(&w->wakes, 1);
}

static bool wait_for_wakes(struct wake_count *w, int n)
{
    int64_t deadline = time_mono_ms() + 5000;
    while (atomic_load(&w->wakes) < n && time_mono_ms() < deadline)
        usleep(1000);
    return atomic_load(&w->wakes) >= n;
}

static void ignore_frame(void *opaque, struct decoded_frame *frame)
{
    (void)frame;
    (*(int *)opaque)++;
}

static void test_a_dry_queue_wakes_the_loop_once_per_delivery(void)
{
    struct wake_count w = {0};
    struct worker_seen seen = {.loop_thread = pthread_self()};
    char err[256];
    struct decode_pipeline *p = decode_pipeline_create(prepare, &seen, count_wake, &w, err,
                                                       sizeof err);
    REQUIRE(p != NULL);
    submit(p, 0);
    /* A lone frame waits for the loop's flush, so the worker is not woken per frame. */
    usleep(20 * 1000);
    CHECK_EQ_INT(atomic_load(&seen.prepared), 0);
    decode_pipeline_flush(p);
    CHECK(wait_for_wakes(&w, 1));
    /* Not delivered yet: finishing more frames sends no further wake. */
    submit(p, 1);
    submit(p, 2);
    decode_pipeline_flush(p);
    int64_t deadline = time_mono_ms() + 5000;
    while (atomic_load(&seen.prepared) < 3 && time_mono_ms() < deadline)
        usleep(1000);
    usleep(20 * 1000); /* the worker marks the frame done right after prepare */
    CHECK_EQ_INT(atomic_load(&w.wakes), 1);
    int handled = 0;
    CHECK_EQ_INT(decode_pipeline_deliver(p, 0, ignore_frame, &handled), 3);
    CHECK_EQ_INT(handled, 3);
    /* After a delivery, the next frames that leave the queue dry wake again; a full
     * batch reaches the worker without a flush. */
    for (size_t slot = 3; slot < 3 + 32; slot++)
        submit(p, slot);
    CHECK(wait_for_wakes(&w, 2));
    CHECK_EQ_INT(decode_pipeline_deliver(p, 0, ignore_frame, &handled), 32);
    decode_pipeline_destroy(p);
}

static bool wait_for_retired(struct decode_pipeline *p, size_t n)
{
    int64_t deadline = time_mono_ms() + 5000;
    while (decode_pipeline_retired(p) != n && time_mono_ms() < deadline)
        usleep(1000);
    return decode_pipeline_retired(p) == n;
}

static void test_delivered_frames_are_freed_by_the_worker(void)
{
    char err[256];
    struct worker_seen seen = {.loop_thread = pthread_self()};
    struct decode_pipeline *p = decode_pipeline_create(prepare, &seen, NULL, NULL, err,
                                                       sizeof err);
    REQUIRE(p != NULL);
    int handled = 0;
    for (size_t slot = 0; slot < 5; slot++)
        submit(p, slot);
    CHECK_EQ_INT(decode_pipeline_deliver(p, 0, ignore_frame, &handled), 5);
    /* A few delivered frames do not wake an idle worker: they wait for its next batch. */
    usleep(20 * 1000);
    CHECK_EQ_INT(decode_pipeline_retired(p), 5);
    submit(p, 5);
    CHECK_EQ_INT(decode_pipeline_deliver(p, 0, ignore_frame, &handled), 1);
    /* The worker freed the five before it decoded the sixth. */
    CHECK_EQ_INT(decode_pipeline_retired(p), 1);
    /* Enough of them wake it. */
    for (size_t slot = 6; slot < 6 + 40; slot++)
        submit(p, slot);
    CHECK_EQ_INT(decode_pipeline_deliver(p, 0, ignore_frame, &handled), 40);
    CHECK(wait_for_retired(p, 0));
    CHECK_EQ_INT(handled, 46);
    CHECK_EQ_INT(decode_pipeline_backlog(p), 0);
    decode_pipeline_destroy(p);
}

static void test_destroy_frees_frames_never_delivered(void)
{
    char err[256];
    struct worker_seen seen = {.loop_thread = pthread_self()};
    struct decode_pipeline *p = decode_pipeline_create(prepare, &seen, NULL, NULL, err,
                                                       sizeof err);
    REQUIRE(p != NULL);
    for (size_t slot = 0; slot < 5000; slot++)
        submit(p, slot);
    /* Take some back, leave the rest: decoded frames with prepared events, and frames
     * the worker has not taken yet. LeakSanitizer (and valgrind) check that destroy
     * frees them all; the count checks the backlog's bookkeeping. */
    struct delivered d = {0};
    size_t delivered = decode_pipeline_deliver(p, 4000, check_frame, &d);
    CHECK(delivered > 0);
    CHECK_EQ_INT(d.out_of_order, 0);
    CHECK_EQ_INT(d.wrong_result, 0);
    CHECK_EQ_INT(decode_pipeline_backlog(p), 5000 - delivered);
    for (size_t slot = 5000; slot < 6000; slot++)
        submit(p, slot);
    CHECK_EQ_INT(decode_pipeline_backlog(p), 6000 - delivered);
    decode_pipeline_destroy(p);
}

int main(void)
{
    RUN(test_frames_come_back_in_order_with_their_results);
    RUN(test_a_dry_queue_wakes_the_loop_once_per_delivery);
    RUN(test_delivered_frames_are_freed_by_the_worker);
    RUN(test_destroy_frees_frames_never_delivered);
    return harness_finish();
}
