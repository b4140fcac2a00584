/* ydoc.c - YAML into a tree of positioned nodes (see ydoc.h).
 *
 * libyaml's event parser feeds a small recursive builder. Every node keeps
 * the 1-based line and column of its first character, which is all the
 * config code needs to say "file:line:col: what is wrong". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "err.h"
#include "ydoc.h"

#define YDOC_DEPTH_MAX 64

struct builder {
	yaml_parser_t parser;
	const char *file;
	char *errbuf;
	size_t errlen;
};

static void node_free(struct ydoc_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; n->items && i < (n->kind == YDOC_MAP ? 2 * n->n : n->n); i++)
		node_free(n->items[i]);
	free(n->items);
	free(n->value);
	free(n);
}

static int fail_at(struct builder *b, const yaml_mark_t *m, const char *msg)
{
	snprintf(b->errbuf, b->errlen, "%s:%zu:%zu: %s", b->file, m->line + 1, m->column + 1, msg);
	return ERR_CONFIG;
}

static int parse_error(struct builder *b)
{
	const yaml_parser_t *p = &b->parser;
	char msg[256];

	/* An unclosed bracket or quote is found where the file goes wrong, but
	 * the user needs the line that opened it: name that, and where it broke. */
	if (p->context) {
		snprintf(msg, sizeof(msg), "YAML syntax error %s: %s (noticed at line %zu)",
			 p->context, p->problem ? p->problem : "unknown",
			 p->problem_mark.line + 1);
		return fail_at(b, &p->context_mark, msg);
	}
	snprintf(msg, sizeof(msg), "YAML syntax error: %s", p->problem ? p->problem : "unknown");
	return fail_at(b, &p->problem_mark, msg);
}

static int next(struct builder *b, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&b->parser, ev))
		return parse_error(b);
	return 0;
}

static int build(struct builder *b, yaml_event_t *ev, struct ydoc_node **out, int depth);

/* Reads children until the end event of a sequence or mapping. */
static int build_children(struct builder *b, struct ydoc_node *n, int depth)
{
	size_t cap = 0, count = 0;
	int rc;
	yaml_event_type_t end = n->kind == YDOC_MAP ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;

	for (;;) {
		yaml_event_t ev;
		struct ydoc_node *child;

		if ((rc = next(b, &ev)) < 0)
			goto fail;
		if (ev.type == end) {
			yaml_event_delete(&ev);
			break;
		}
		if (count == cap) {
			size_t nc = cap ? cap * 2 : 8;
			struct ydoc_node **ni = realloc(n->items, nc * sizeof(*ni));

			if (!ni) {
				yaml_event_delete(&ev);
				rc = -ENOMEM;
				goto fail;
			}
			n->items = ni;
			cap = nc;
		}
		rc = build(b, &ev, &child, depth + 1);
		yaml_event_delete(&ev);
		if (rc < 0) {
			node_free(child);
			goto fail;
		}
		n->items[count++] = child;
		n->n = n->kind == YDOC_MAP ? count / 2 : count;
	}
	return 0;
fail:
	/* n->n counts whole pairs only: a key whose value never came is ours
	 * to free, whether building the value or reading past it failed. */
	if (n->kind == YDOC_MAP && count % 2)
		node_free(n->items[count - 1]);
	return rc;
}

static int build(struct builder *b, yaml_event_t *ev, struct ydoc_node **out, int depth)
{
	struct ydoc_node *n;
	int rc;

	*out = NULL;
	if (depth > YDOC_DEPTH_MAX)
		return fail_at(b, &ev->start_mark, "nested too deeply");
	if (ev->type == YAML_ALIAS_EVENT)
		return fail_at(b, &ev->start_mark, "aliases (*name) are not supported");
	if ((ev->type == YAML_SCALAR_EVENT && ev->data.scalar.anchor) ||
	    (ev->type == YAML_SEQUENCE_START_EVENT && ev->data.sequence_start.anchor) ||
	    (ev->type == YAML_MAPPING_START_EVENT && ev->data.mapping_start.anchor))
		return fail_at(b, &ev->start_mark, "anchors (&name) are not supported");
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->line = (int)ev->start_mark.line + 1;
	n->col = (int)ev->start_mark.column + 1;
	*out = n;
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		n->kind = YDOC_SCALAR;
		n->value = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
		n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
			    ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
		return n->value ? 0 : -ENOMEM;
	case YAML_SEQUENCE_START_EVENT:
		n->kind = YDOC_SEQ;
		return build_children(b, n, depth);
	case YAML_MAPPING_START_EVENT:
		n->kind = YDOC_MAP;
		rc = build_children(b, n, depth);
		return rc;
	default:
		return fail_at(b, &ev->start_mark, "unexpected YAML event");
	}
}

static int load_stream(struct builder *b, struct ydoc *doc)
{
	yaml_event_t ev;
	int rc, docs = 0;

	for (;;) {
		if ((rc = next(b, &ev)) < 0)
			return rc;
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		if (ev.type == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
			rc = fail_at(b, &ev.start_mark, "only one YAML document is allowed");
			yaml_event_delete(&ev);
			return rc;
		}
		if (ev.type == YAML_SCALAR_EVENT || ev.type == YAML_SEQUENCE_START_EVENT ||
		    ev.type == YAML_MAPPING_START_EVENT || ev.type == YAML_ALIAS_EVENT) {
			rc = build(b, &ev, &doc->root, 0);
			yaml_event_delete(&ev);
			if (rc < 0)
				return rc;
			continue;
		}
		yaml_event_delete(&ev);
	}
}

int ydoc_load(struct ydoc **out, const char *file, const char *text, char *errbuf, size_t errlen)
{
	struct builder b = { .file = file, .errbuf = errbuf, .errlen = errlen };
	struct ydoc *doc = calloc(1, sizeof(*doc));
	FILE *f = NULL;
	int rc;

	*out = NULL;
	if (!doc || !(doc->file = strdup(file))) {
		free(doc);
		snprintf(errbuf, errlen, "%s: out of memory", file);
		return -ENOMEM;
	}
	if (!text && !(f = fopen(file, "rb"))) {
		rc = -errno;
		snprintf(errbuf, errlen, "%s: cannot read: %s", file, strerror(errno));
		ydoc_free(doc);
		return rc;
	}
	if (!yaml_parser_initialize(&b.parser)) {
		if (f)
			fclose(f);
		ydoc_free(doc);
		snprintf(errbuf, errlen, "%s: out of memory", file);
		return -ENOMEM;
	}
	if (f)
		yaml_parser_set_input_file(&b.parser, f);
	else
		yaml_parser_set_input_string(&b.parser, (const unsigned char *)text, strlen(text));
	rc = load_stream(&b, doc);
	yaml_parser_delete(&b.parser);
	if (f)
		fclose(f);
	if (rc == -ENOMEM)
		snprintf(errbuf, errlen, "%s: out of memory", file);
	if (rc < 0) {
		ydoc_free(doc);
		return rc;
	}
	*out = doc;
	return 0;
}

void ydoc_free(struct ydoc *doc)
{
	if (!doc)
		return;
	node_free(doc->root);
	free(doc->file);
	free(doc);
}
