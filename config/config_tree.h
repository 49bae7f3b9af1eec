/*
 * A YAML document as a small tree of scalars, sequences and mappings, each node
 * carrying the line and column where it starts. Built with libyaml's event API.
 *
 * Contract: config_tree_parse() returns the root node of the single document in the
 * text, or NULL after reporting why to the diag (syntax errors with their position,
 * aliases, several documents, nesting deeper than CONFIG_TREE_MAX_DEPTH, NUL bytes in
 * a scalar). An empty document yields an empty mapping. Scalar values are raw: no
 * environment expansion and no type conversion happen here. Mapping keys are kept in
 * file order, duplicates included, so the caller can report them.
 */
#ifndef CRELAY_CONFIG_TREE_H
#define CRELAY_CONFIG_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config_diag.h"

#define CONFIG_TREE_MAX_DEPTH 64

enum config_node_kind { CONFIG_NODE_SCALAR, CONFIG_NODE_SEQUENCE, CONFIG_NODE_MAPPING };

struct config_node;

struct config_node_pair {
    struct config_node *key; /* always a scalar */
    struct config_node *value;
};

struct config_node {
    enum config_node_kind kind;
    int line;   /* 1-based */
    int column; /* 1-based */
    char *scalar;      /* CONFIG_NODE_SCALAR: the text */
    bool plain;        /* scalar was unquoted (so "", ~ and null mean null) */
    struct config_node **items; /* CONFIG_NODE_SEQUENCE */
    struct config_node_pair *pairs; /* CONFIG_NODE_MAPPING */
    size_t count;      /* items or pairs */
};

struct config_node *config_tree_parse(const char *text, size_t len, struct config_diag *diag);
void config_tree_free(struct config_node *node);

/* The value of the first pair whose key is `key`, or NULL. */
const struct config_node *config_tree_get(const struct config_node *mapping, const char *key);
/* A plain ~, null or empty scalar. */
bool config_tree_is_null(const struct config_node *node);
/* "a string", "a list", "a mapping", "null" for messages. */
const char *config_tree_kind_name(const struct config_node *node);

#endif
