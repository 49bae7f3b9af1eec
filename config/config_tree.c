#include "config/config_tree.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct tree_builder {
    yaml_parser_t parser;
    struct config_diag *diag;
    bool failed;
};

void config_tree_free(struct config_node *node)
{
    if (node == NULL)
        return;
    free(node->scalar);
    for (size_t i = 0; i < node->count; i++) {
        if (node->kind == CONFIG_NODE_SEQUENCE) {
            config_tree_free(node->items[i]);
        } else if (node->kind == CONFIG_NODE_MAPPING) {
            config_tree_free(node->pairs[i].key);
            config_tree_free(node->pairs[i].value);
        }
    }
    free(node->items);
    free(node->pairs);
    free(node);
}

static struct config_node *node_new(enum config_node_kind kind, const yaml_mark_t *mark)
{
    struct config_node *node = xcalloc(1, sizeof *node);
    node->kind = kind;
    node->line = (int)mark->line + 1;
    node->column = (int)mark->column + 1;
    return node;
}

/* Reports the parser's own error once; libyaml marks are 0-based. */
static void report_parser_error(struct tree_builder *b)
{
    const yaml_parser_t *p = &b->parser;
    const char *problem = p->problem != NULL ? p->problem : "malformed YAML";
    if (p->context != NULL)
        config_diag_add(b->diag, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
                        NULL, "YAML syntax error: %s (%s at line %d)", problem, p->context,
                        (int)p->context_mark.line + 1);
    else
        config_diag_add(b->diag, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
                        NULL, "YAML syntax error: %s", problem);
    b->failed = true;
}

static bool next_event(struct tree_builder *b, yaml_event_t *event)
{
    if (!yaml_parser_parse(&b->parser, event)) {
        report_parser_error(b);
        return false;
    }
    return true;
}

static struct config_node *build_node(struct tree_builder *b, yaml_event_t *event, int depth);

/* Reads nodes until the closing event of a sequence or mapping. */
static bool build_children(struct tree_builder *b, struct config_node *parent,
                           yaml_event_type_t end_type, int depth)
{
    size_t capacity = 0;
    for (;;) {
        yaml_event_t event;
        if (!next_event(b, &event))
            return false;
        if (event.type == end_type) {
            yaml_event_delete(&event);
            return true;
        }
        struct config_node *key = build_node(b, &event, depth + 1);
        yaml_event_delete(&event);
        if (key == NULL)
            return false;
        if (parent->kind == CONFIG_NODE_SEQUENCE) {
            if (parent->count == capacity) {
                capacity = capacity ? capacity * 2 : 4;
                parent->items = xrealloc(parent->items, capacity * sizeof *parent->items);
            }
            parent->items[parent->count++] = key;
            continue;
        }
        if (key->kind != CONFIG_NODE_SCALAR) {
            config_diag_add(b->diag, key->line, key->column, NULL,
                            "a mapping key must be a plain string, not %s",
                            config_tree_kind_name(key));
            config_tree_free(key);
            b->failed = true;
            return false;
        }
        if (!next_event(b, &event)) {
            config_tree_free(key);
            return false;
        }
        struct config_node *value = build_node(b, &event, depth + 1);
        yaml_event_delete(&event);
        if (value == NULL) {
            config_tree_free(key);
            return false;
        }
        if (parent->count == capacity) {
            capacity = capacity ? capacity * 2 : 4;
            parent->pairs = xrealloc(parent->pairs, capacity * sizeof *parent->pairs);
        }
        parent->pairs[parent->count].key = key;
        parent->pairs[parent->count].value = value;
        parent->count++;
    }
}

static struct config_node *build_node(struct tree_builder *b, yaml_event_t *event, int depth)
{
    const yaml_mark_t *mark = &event->start_mark;
    if (depth > CONFIG_TREE_MAX_DEPTH) {
        config_diag_add(b->diag, (int)mark->line + 1, (int)mark->column + 1, NULL,
                        "nesting deeper than %d levels", CONFIG_TREE_MAX_DEPTH);
        b->failed = true;
        return NULL;
    }
    switch (event->type) {
    case YAML_SCALAR_EVENT: {
        size_t len = event->data.scalar.length;
        const char *value = (const char *)event->data.scalar.value;
        if (memchr(value, '\0', len) != NULL) {
            config_diag_add(b->diag, (int)mark->line + 1, (int)mark->column + 1, NULL,
                            "a value contains a NUL character");
            b->failed = true;
            return NULL;
        }
        struct config_node *node = node_new(CONFIG_NODE_SCALAR, mark);
        node->scalar = xcalloc(1, len + 1);
        memcpy(node->scalar, value, len);
        node->plain = event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        return node;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool sequence = event->type == YAML_SEQUENCE_START_EVENT;
        struct config_node *node =
            node_new(sequence ? CONFIG_NODE_SEQUENCE : CONFIG_NODE_MAPPING, mark);
        if (!build_children(b, node, sequence ? YAML_SEQUENCE_END_EVENT : YAML_MAPPING_END_EVENT,
                            depth)) {
            config_tree_free(node);
            return NULL;
        }
        return node;
    }
    case YAML_ALIAS_EVENT:
        config_diag_add(b->diag, (int)mark->line + 1, (int)mark->column + 1, NULL,
                        "YAML aliases (*name) are not supported; write the value out");
        b->failed = true;
        return NULL;
    default:
        config_diag_add(b->diag, (int)mark->line + 1, (int)mark->column + 1, NULL,
                        "unexpected YAML structure");
        b->failed = true;
        return NULL;
    }
}

struct config_node *config_tree_parse(const char *text, size_t len, struct config_diag *diag)
{
    struct tree_builder b = {.diag = diag};
    if (!yaml_parser_initialize(&b.parser)) {
        config_diag_add(diag, 0, 0, NULL, "cannot initialise the YAML parser");
        return NULL;
    }
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)text, len);

    struct config_node *root = NULL;
    int documents = 0;
    bool done = false;
    while (!done) {
        yaml_event_t event;
        if (!next_event(&b, &event))
            break;
        switch (event.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++documents > 1) {
                config_diag_add(diag, (int)event.start_mark.line + 1,
                                (int)event.start_mark.column + 1, NULL,
                                "only one YAML document is allowed in a configuration file");
                b.failed = true;
                done = true;
            }
            break;
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            break;
        default:
            root = build_node(&b, &event, 0);
            if (root == NULL)
                done = true;
            break;
        }
        yaml_event_delete(&event);
    }
    yaml_parser_delete(&b.parser);
    if (b.failed) {
        config_tree_free(root);
        return NULL;
    }
    if (root == NULL) {
        yaml_mark_t start = {0, 0, 0};
        root = node_new(CONFIG_NODE_MAPPING, &start);
    }
    return root;
}

const struct config_node *config_tree_get(const struct config_node *mapping, const char *key)
{
    if (mapping == NULL || mapping->kind != CONFIG_NODE_MAPPING)
        return NULL;
    for (size_t i = 0; i < mapping->count; i++)
        if (strcmp(mapping->pairs[i].key->scalar, key) == 0)
            return mapping->pairs[i].value;
    return NULL;
}

bool config_tree_is_null(const struct config_node *node)
{
    if (node == NULL || node->kind != CONFIG_NODE_SCALAR || !node->plain)
        return false;
    const char *s = node->scalar;
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

const char *config_tree_kind_name(const struct config_node *node)
{
    if (config_tree_is_null(node))
        return "null";
    switch (node->kind) {
    case CONFIG_NODE_SCALAR:
        return "a string";
    case CONFIG_NODE_SEQUENCE:
        return "a list";
    case CONFIG_NODE_MAPPING:
        return "a mapping";
    }
    return "a value";
}
