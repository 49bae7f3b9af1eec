/* Tests of util/json_arena: trees parsed into the arena read like heap trees, the block
 * is reused from one release to the next, what does not fit continues on the heap,
 * items added to a tree and trees made elsewhere stay heap memory, and (under
 * AddressSanitizer) a pointer kept past the release is caught. Leaks of the heap parts
 * are LeakSanitizer's to find. */
#include "util/json_arena.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness.h"
#include "util/strbuf.h"

static const char document[] =
    "{\"topicName\":\"v2.outbound.campaigns.c1\",\"version\":2,"
    "\"eventBody\":{\"id\":\"c1\",\"name\":\"Spring \\u00e9 \\\"renewals\\\"\","
    "\"campaignStatus\":\"on\",\"dncLists\":[{\"id\":\"d1\"},{\"id\":\"d2\"}],"
    "\"abandonRate\":2.5,\"alwaysRunning\":false,\"priority\":null}}";

static char *reprint(const cJSON *tree)
{
    char *text = cJSON_PrintUnformatted(tree);
    if (!text)
        abort();
    return text;
}

static void test_arena_tree_reads_like_a_heap_tree(void)
{
    cJSON *heap_tree = cJSON_Parse(document);
    REQUIRE(heap_tree != NULL);
    char *expected = reprint(heap_tree);
    cJSON_Delete(heap_tree);

    struct json_arena *arena = json_arena_create(JSON_ARENA_DEFAULT_BYTES);
    const cJSON *first_root = NULL;
    for (int round = 0; round < 3; round++) {
        const char *end = NULL;
        cJSON *tree = json_arena_parse(arena, document, strlen(document), &end);
        REQUIRE(tree != NULL);
        CHECK(end == document + strlen(document));
        /* The printed text is heap memory: free() takes it after the release. */
        char *printed = reprint(tree);
        CHECK_EQ_STR(printed, expected);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(tree, "eventBody"), "name");
        CHECK_EQ_STR(cJSON_GetStringValue(name), "Spring \xc3\xa9 \"renewals\"");
        /* Items added to the tree come from the heap; the release frees them. */
        cJSON_AddItemToObject(tree, "added", cJSON_CreateString("on the heap"));
        cJSON_AddNumberToObject(tree, "count", round);
        if (round == 0)
            first_root = tree;
        else /* the block starts over at each release */
            CHECK(tree == first_root);
        json_arena_release(arena, tree);
        free(printed);
    }
    CHECK(json_arena_peak(arena) > 0);
    CHECK(json_arena_peak(arena) < 4096);
    CHECK_EQ_INT((int)json_arena_overflows(arena), 0);
    json_arena_destroy(arena);
    free(expected);
}

static void test_tree_larger_than_the_block_continues_on_the_heap(void)
{
    struct strbuf big;
    strbuf_init(&big);
    strbuf_append_char(&big, '[');
    for (int i = 0; i < 2000; i++)
        strbuf_appendf(&big, "%s{\"n\":%d,\"s\":\"item %d\"}", i ? "," : "", i, i);
    strbuf_append_char(&big, ']');

    struct json_arena *arena = json_arena_create(4096);
    cJSON *tree = json_arena_parse(arena, big.data, big.len, NULL);
    REQUIRE(tree != NULL);
    CHECK_EQ_INT(cJSON_GetArraySize(tree), 2000);
    const cJSON *last = cJSON_GetArrayItem(tree, 1999);
    CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(last, "s")), "item 1999");
    CHECK(json_arena_overflows(arena) > 0);
    json_arena_release(arena, tree);
    json_arena_destroy(arena);
    strbuf_free(&big);
}

static void test_failed_parse_leaves_the_arena_free(void)
{
    struct json_arena *arena = json_arena_create(JSON_ARENA_DEFAULT_BYTES);
    const char broken[] = "{\"a\":[1,2,{\"b\":\"unterminated";
    const char *end = NULL;
    CHECK(json_arena_parse(arena, broken, strlen(broken), &end) == NULL);
    CHECK(end != NULL && end > broken);
    /* No release was needed: the next parse would abort if the arena still held a
     * tree. */
    cJSON *tree = json_arena_parse(arena, "[1]", 3, NULL);
    REQUIRE(tree != NULL);
    CHECK_EQ_INT(cJSON_GetArraySize(tree), 1);
    json_arena_release(arena, tree);
    json_arena_destroy(arena);
}

/* Forks a child whose stderr goes nowhere (what it dies of is not this test's output). */
static pid_t fork_quiet(void)
{
    pid_t child = fork();
    if (child == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDERR_FILENO);
    }
    return child;
}

/* A second tree on a thread before the first's release would have either release free
 * the other's memory: the process stops instead. */
static void test_second_tree_before_release_aborts(void)
{
    pid_t child = fork_quiet();
    REQUIRE(child >= 0);
    if (child == 0) {
        struct json_arena *a = json_arena_create(1024), *b = json_arena_create(1024);
        cJSON *first = json_arena_parse(a, "[1]", 3, NULL);
        cJSON *second = json_arena_parse(b, "[2]", 3, NULL);
        _exit(first && second ? 0 : 3);
    }
    int status = 0;
    waitpid(child, &status, 0);
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
              "the child was not stopped by abort (status 0x%x)", status);
}

#if defined(__SANITIZE_ADDRESS__)
static void test_pointer_kept_past_the_release_is_reported(void)
{
    pid_t child = fork_quiet();
    REQUIRE(child >= 0);
    if (child == 0) {
        struct json_arena *arena = json_arena_create(JSON_ARENA_DEFAULT_BYTES);
        cJSON *tree = json_arena_parse(arena, document, strlen(document), NULL);
        const cJSON *topic = cJSON_GetObjectItemCaseSensitive(tree, "topicName");
        const char *kept = topic->valuestring;
        json_arena_release(arena, tree);
        volatile char c = kept[0]; /* poisoned: AddressSanitizer stops the child here */
        (void)c;
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    CHECK_MSG(!(WIFEXITED(status) && WEXITSTATUS(status) == 0),
              "reading a released tree went unnoticed");
}
#endif

int main(void)
{
    json_arena_install();
    RUN(test_arena_tree_reads_like_a_heap_tree);
    RUN(test_tree_larger_than_the_block_continues_on_the_heap);
    RUN(test_failed_parse_leaves_the_arena_free);
    RUN(test_second_tree_before_release_aborts);
#if defined(__SANITIZE_ADDRESS__)
    RUN(test_pointer_kept_past_the_release_is_reported);
#endif
    return harness_finish();
}
