/* test_zone.c - check suite for resolver/zone.h: master files are loaded into
 * plain wire records, and every rejection names file:line.
 *
 * Each case writes its zone to a temp file (mkstemp under /tmp), loads it
 * with origin "local." and removes the file. The shipped zones/local.zone is
 * loaded too when SRCDIR says where the source tree is. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "err.h"
#include "wire.h"
#include "zone.h"
#include "checkmain.h"

#define DEFAULT_TTL 300

struct tzone {
	char path[64];
	char err[512];
	struct zone *z;
	int rc;
};

/* Writes text to a fresh temp file and loads it as "local.". */
static void load_text(struct tzone *t, const char *text)
{
	uint8_t origin[WIRE_NAME_MAX];
	size_t len = strlen(text);
	int fd;

	memset(t, 0, sizeof(*t));
	snprintf(t->path, sizeof(t->path), "/tmp/test_zone.XXXXXX");
	fd = mkstemp(t->path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_gt(wire_name_from_text("local.", origin), 0);
	t->rc = zone_load(&t->z, t->path, origin, DEFAULT_TTL, t->err,
			  sizeof(t->err));
	ck_assert_int_eq(unlink(t->path), 0);
}

/* Asserts the load failed with ERR_ZONE and "path:line: <what>...". */
static void expect_reject(const char *text, int line, const char *what)
{
	struct tzone t;
	char prefix[128];

	load_text(&t, text);
	ck_assert_int_eq(t.rc, ERR_ZONE);
	ck_assert_ptr_null(t.z);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", t.path, line);
	ck_assert_msg(strncmp(t.err, prefix, strlen(prefix)) == 0,
		      "want prefix '%s', got '%s'", prefix, t.err);
	ck_assert_msg(strstr(t.err, what) != NULL, "want '%s' in '%s'", what, t.err);
}

static const char *SOA = "@ IN SOA ns.local. hostmaster.local. 1 3600 600 86400 5\n";

static const struct zone_rr *find(const struct zone *z, const char *owner,
				  uint16_t type)
{
	uint8_t name[WIRE_NAME_MAX];

	ck_assert_int_gt(wire_name_from_text(owner, name), 0);
	for (size_t i = 0; i < z->n; i++)
		if (z->rrs[i].type == type && wire_name_eq(z->rrs[i].owner, name))
			return &z->rrs[i];
	return NULL;
}

START_TEST(test_valid)
{
	struct tzone t;
	const struct zone_rr *rr;
	uint8_t ns[WIRE_NAME_MAX];
	int nslen;

	load_text(&t,
		  "; a comment\n"
		  "\n"
		  "$ORIGIN local.\n"
		  "@ IN SOA ns.local. hostmaster.local. (\n"
		  "\t1 3600 600 86400 5 )\n"
		  "  IN NS ns.local.\n"
		  "NS IN A 127.0.0.1\n"
		  "GateWay.LOCAL. 60 IN A 10.0.0.1\n"
		  "   IN TXT \"hello\"\n");
	ck_assert_msg(t.rc == 0, "rc %d: %s", t.rc, t.err);
	ck_assert_ptr_nonnull(t.z);
	ck_assert_uint_eq(t.z->n, 5);
	ck_assert_uint_eq(t.z->soa, 0);
	ck_assert_uint_eq(t.z->rrs[0].type, 6);
	ck_assert_int_eq(t.z->rrs[0].line, 4);
	ck_assert_str_eq(t.z->file, t.path);

	/* Owners are lower-cased wire names. */
	ck_assert_uint_eq(t.z->rrs[3].owner_len, 15);
	ck_assert_mem_eq(t.z->rrs[3].owner, "\7gateway\5local\0", 15);
	ck_assert_uint_eq(t.z->rrs[3].ttl, 60);
	ck_assert_int_eq(t.z->rrs[3].line, 8);
	ck_assert_uint_eq(t.z->rrs[3].rclass, 1);
	rr = find(t.z, "ns.local.", 1);
	ck_assert_ptr_nonnull(rr);
	ck_assert_uint_eq(rr->rdlen, 4);
	ck_assert_mem_eq(rr->rdata, "\177\0\0\1", 4);

	/* NS rdata is the whole name, never a compression pointer. */
	rr = find(t.z, "local.", 2);
	ck_assert_ptr_nonnull(rr);
	ck_assert_int_eq(rr->line, 6);
	nslen = wire_name_from_text("ns.local.", ns);
	ck_assert_uint_eq(rr->rdlen, (unsigned)nslen);
	ck_assert_mem_eq(rr->rdata, ns, (size_t)nslen);

	/* A blank owner continues the previous one. */
	rr = find(t.z, "gateway.local.", 16);
	ck_assert_ptr_nonnull(rr);
	ck_assert_uint_eq(rr->rdlen, 6);
	ck_assert_mem_eq(rr->rdata, "\5hello", 6);
	zone_free(t.z);
}
END_TEST

START_TEST(test_relative_origin)
{
	struct tzone t;

	/* With no $ORIGIN the zone origin applies to relative names. */
	load_text(&t, "@ SOA ns hostmaster 1 2 3 4 5\nwww CNAME gw\n");
	ck_assert_msg(t.rc == 0, "rc %d: %s", t.rc, t.err);
	ck_assert_uint_eq(t.z->n, 2);
	ck_assert_mem_eq(t.z->rrs[1].owner, "\3www\5local\0", 11);
	ck_assert_uint_eq(t.z->rrs[1].rdlen, 10);
	ck_assert_mem_eq(t.z->rrs[1].rdata, "\2gw\5local\0", 10);
	zone_free(t.z);
}
END_TEST

START_TEST(test_ttl_default)
{
	struct tzone t;
	char text[512];

	/* Without $TTL the caller's default applies; $TTL changes it from there. */
	snprintf(text, sizeof(text), "%sa A 10.0.0.1\n$TTL 7\nb A 10.0.0.2\n"
		 "c 9 A 10.0.0.3\n", SOA);
	load_text(&t, text);
	ck_assert_msg(t.rc == 0, "rc %d: %s", t.rc, t.err);
	ck_assert_uint_eq(t.z->n, 4);
	ck_assert_uint_eq(t.z->rrs[0].ttl, DEFAULT_TTL);
	ck_assert_uint_eq(t.z->rrs[1].ttl, DEFAULT_TTL);
	ck_assert_uint_eq(t.z->rrs[2].ttl, 7);
	ck_assert_uint_eq(t.z->rrs[3].ttl, 9);
	ck_assert_int_eq(t.z->rrs[2].line, 4);
	zone_free(t.z);
}
END_TEST

START_TEST(test_reject_syntax)
{
	expect_reject("@ SOA ns hostmaster 1 2 3 4 5\n; c\n\nbad A 1.2.3\n",
		      4, "syntax error: ");
	expect_reject("@ SOA ns hostmaster 1 2 3 4 5\nx NOSUCHTYPE 1\n",
		      2, "syntax error: ");
}
END_TEST

START_TEST(test_reject_outside)
{
	expect_reject("@ SOA ns hostmaster 1 2 3 4 5\n\nx.example. A 10.0.0.1\n",
		      3, "outside");
	/* Label boundaries count: xlocal. is not below local. */
	expect_reject("@ SOA ns hostmaster 1 2 3 4 5\nxlocal. A 10.0.0.1\n",
		      2, "outside");
	/* $ORIGIN may move relative names out of the zone. */
	expect_reject("@ SOA ns hostmaster 1 2 3 4 5\n$ORIGIN example.\nx A 10.0.0.1\n",
		      3, "outside");
}
END_TEST

START_TEST(test_reject_class)
{
	expect_reject("@ SOA ns hostmaster 1 2 3 4 5\nx CH A 10.0.0.1\n", 2, "class");
}
END_TEST

START_TEST(test_reject_wildcard)
{
	expect_reject("@ SOA ns hostmaster 1 2 3 4 5\n*.x A 10.0.0.1\n", 2, "wildcard");
	expect_reject("@ SOA ns hostmaster 1 2 3 4 5\n\n\n* TXT \"x\"\n", 4, "wildcard");
}
END_TEST

START_TEST(test_reject_soa)
{
	struct tzone t;
	char want[128];

	expect_reject("@ SOA ns hostmaster 1 2 3 4 5\nx A 10.0.0.1\n"
		      "@ SOA ns hostmaster 2 2 3 4 5\n", 3, "more than one SOA");
	expect_reject("x A 10.0.0.1\nsub SOA ns hostmaster 1 2 3 4 5\n", 2,
		      "not at the zone origin");
	load_text(&t, "; only\nx A 10.0.0.1\n");
	ck_assert_int_eq(t.rc, ERR_ZONE);
	ck_assert_ptr_null(t.z);
	snprintf(want, sizeof(want), "%s: no SOA record at local.", t.path);
	ck_assert_str_eq(t.err, want);
	load_text(&t, "");
	ck_assert_int_eq(t.rc, ERR_ZONE);
	ck_assert_str_eq(t.err + strlen(t.path), ": no SOA record at local.");
}
END_TEST

START_TEST(test_reject_include)
{
	expect_reject("@ SOA ns hostmaster 1 2 3 4 5\n$INCLUDE /etc/passwd\n", 2,
		      "$INCLUDE");
}
END_TEST

START_TEST(test_unreadable)
{
	uint8_t origin[WIRE_NAME_MAX];
	struct zone *z = (struct zone *)1;
	char err[256];
	int rc;

	ck_assert_int_gt(wire_name_from_text("local.", origin), 0);
	rc = zone_load(&z, "/nonexistent/test_zone.zone", origin, 5, err, sizeof(err));
	ck_assert_int_eq(rc, -ENOENT);
	ck_assert_ptr_null(z);
	ck_assert_str_eq(err, "/nonexistent/test_zone.zone: cannot open: "
			 "No such file or directory");
}
END_TEST

START_TEST(test_shipped_zone)
{
	const char *srcdir = getenv("SRCDIR");
	uint8_t origin[WIRE_NAME_MAX];
	struct zone *z;
	char path[4096], err[512];
	int rc;

	if (!srcdir) {
		fprintf(stderr, "test_shipped_zone: SRCDIR not set, skipped\n");
		return;
	}
	snprintf(path, sizeof(path), "%s/zones/local.zone", srcdir);
	ck_assert_int_gt(wire_name_from_text("local.", origin), 0);
	rc = zone_load(&z, path, origin, 5, err, sizeof(err));
	ck_assert_msg(rc == 0, "rc %d: %s", rc, err);
	ck_assert_uint_eq(z->rrs[z->soa].type, 6);
	ck_assert(wire_name_eq(z->rrs[z->soa].owner, origin));
	ck_assert_ptr_nonnull(find(z, "ns.local.", 1));
	ck_assert_ptr_nonnull(find(z, "local.", 2));
	zone_free(z);
}
END_TEST

static Suite *zone_suite(void)
{
	Suite *s = suite_create("zone");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_valid);
	tcase_add_test(tc, test_relative_origin);
	tcase_add_test(tc, test_ttl_default);
	tcase_add_test(tc, test_reject_syntax);
	tcase_add_test(tc, test_reject_outside);
	tcase_add_test(tc, test_reject_class);
	tcase_add_test(tc, test_reject_wildcard);
	tcase_add_test(tc, test_reject_soa);
	tcase_add_test(tc, test_reject_include);
	tcase_add_test(tc, test_unreadable);
	tcase_add_test(tc, test_shipped_zone);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(zone_suite(), NULL);
}
