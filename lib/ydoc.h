/* ydoc.h - a YAML document loaded into a small tree that remembers positions.
 *
 * libyaml's event stream is turned into nodes (scalar, sequence, mapping),
 * each with the line and column where it starts, so that the config code can
 * walk the tree and report "file:line:col: what is wrong". Anchors, aliases
 * and multiple documents are rejected: a config has no need for them and
 * they make error positions ambiguous. */
#ifndef MESHDNS_YDOC_H
#define MESHDNS_YDOC_H

#include <stddef.h>

enum ydoc_kind { YDOC_SCALAR, YDOC_SEQ, YDOC_MAP };

struct ydoc_node {
	enum ydoc_kind kind;
	int line, col;          /* 1-based position of the node's start */
	char *value;            /* YDOC_SCALAR: the text, NUL-terminated */
	int quoted;             /* YDOC_SCALAR: written in quotes (never a number or bool) */
	size_t n;               /* YDOC_SEQ: items; YDOC_MAP: pairs */
	struct ydoc_node **items;  /* YDOC_SEQ items; YDOC_MAP keys and values interleaved */
};

struct ydoc {
	struct ydoc_node *root;  /* NULL for an empty document */
	char *file;              /* name used in messages */
};

/* Parses a file (or, if text != NULL, that text with file as its name).
 * On error returns a negative code and writes "file:line:col: message" into
 * errbuf. On success the caller owns *doc and frees it with ydoc_free. */
int ydoc_load(struct ydoc **doc, const char *file, const char *text,
	      char *errbuf, size_t errlen);
void ydoc_free(struct ydoc *doc);

/* For YDOC_MAP: key i and value i. */
static inline struct ydoc_node *ydoc_key(const struct ydoc_node *m, size_t i) { return m->items[2 * i]; }
static inline struct ydoc_node *ydoc_val(const struct ydoc_node *m, size_t i) { return m->items[2 * i + 1]; }

#endif
