/* testutil.h - helpers shared by the resolver's unit suites (header only).
 *
 * A struct tenv is one config loaded from inline YAML, the registry built
 * from it and a view of that registry; tenv_free releases all three. Zone
 * files are written to temp files (tzone_write) so a YAML text can name them
 * by absolute path. Names are given in presentation form ("a.local.") and
 * converted with wire_name_from_text, which keeps their letter case. */
#ifndef MESHDNS_TESTUTIL_H
#define MESHDNS_TESTUTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "registry.h"
#include "view.h"
#include "wire.h"

struct tenv {
	struct config *cfg;
	struct registry *reg;
	struct view *v;
	char err[CFG_ERR_MAX];
};

/* Loads yaml, builds the registry and a view at now_ms; fails the test on
 * any error, printing the loader's message. */
static inline void tenv_load(struct tenv *t, const char *yaml, uint64_t now_ms)
{
	int rc;

	memset(t, 0, sizeof(*t));
	rc = config_load_text(&t->cfg, "<test>", yaml, t->err, sizeof(t->err));
	ck_assert_msg(rc == 0, "config_load_text: %d: %s", rc, t->err);
	rc = registry_new(&t->reg, t->cfg, t->err, sizeof(t->err));
	ck_assert_msg(rc == 0, "registry_new: %d: %s", rc, t->err);
	rc = view_build(&t->v, t->reg, now_ms);
	ck_assert_msg(rc == 0, "view_build: %d", rc);
}

/* Replaces the view with a new one built at now_ms. */
static inline void tenv_rebuild(struct tenv *t, uint64_t now_ms)
{
	int rc;

	view_free(t->v);
	t->v = NULL;
	rc = view_build(&t->v, t->reg, now_ms);
	ck_assert_msg(rc == 0, "view_build: %d", rc);
}

static inline void tenv_free(struct tenv *t)
{
	view_free(t->v);
	registry_free(t->reg);
	config_free(t->cfg);
	memset(t, 0, sizeof(*t));
}

/* Presentation name to lower-cased wire form; returns its length. */
static inline size_t tname(const char *text, uint8_t out[WIRE_NAME_MAX])
{
	int len = wire_name_from_text(text, out);

	ck_assert_msg(len > 0, "bad test name %s", text);
	wire_name_lower(out);
	return (size_t)len;
}

static inline const struct vnode *tnode(const struct view *v, const char *text)
{
	uint8_t name[WIRE_NAME_MAX];
	size_t len = tname(text, name);

	return view_lookup(v, name, len, wire_name_hash(name, len));
}

static inline struct service *tservice(const struct registry *reg, const char *text)
{
	uint8_t name[WIRE_NAME_MAX];
	size_t len = tname(text, name);

	return registry_find_service(reg, name, len);
}

/* Finds instance id of service svcname ("payments-v1.local.") or fails. */
static inline struct instance *tinstance(const struct registry *reg, const char *svcname,
					 const char *id)
{
	struct service *svc = tservice(reg, svcname);
	struct instance *in;

	ck_assert_msg(svc != NULL, "no service %s", svcname);
	in = registry_find_instance(svc, id);
	ck_assert_msg(in != NULL, "no instance %s in %s", id, svcname);
	return in;
}

/* Writes text to a fresh temp file; path gets its name (unlink it after). */
static inline void tzone_write(char path[64], const char *text)
{
	size_t len = strlen(text);
	int fd;

	snprintf(path, 64, "/tmp/meshdns_test.XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

#endif
