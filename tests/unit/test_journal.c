/* test_journal.c - check suite for resolver/journal.h.
 *
 * Each case works in its own mkdtemp directory under /tmp and removes it at
 * the end. Records come from make_rec(i), which varies every field with i, so
 * a replay that loses, reorders or mangles one is caught by comparing with
 * make_rec again. Crashes are simulated by writing to the journal file
 * directly (a half record, a bad checksum, a flipped byte); a full disk by a
 * 64 KiB tmpfs, or by RLIMIT_FSIZE where mounting is not allowed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "err.h"
#include "journal.h"
#include "log.h"
#include "wire.h"
#include "checkmain.h"

#define HDR_SIZE 12

struct tdir {
	char path[96];
	int mounted;
};

static void tdir_make(struct tdir *d)
{
	snprintf(d->path, sizeof(d->path), "/tmp/meshdns_journal.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(d->path));
	d->mounted = 0;
}

static void tdir_remove(struct tdir *d)
{
	const char *names[] = { "journal", "snapshot", "lock", "journal.tmp",
				"snapshot.tmp", "filler" };
	char p[160];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", d->path, names[i]);
		unlink(p);
	}
	if (d->mounted)
		ck_assert_int_eq(umount(d->path), 0);
	ck_assert_int_eq(rmdir(d->path), 0);
}

static void tfile(char out[160], const struct tdir *d, const char *name)
{
	snprintf(out, 160, "%s/%s", d->path, name);
}

static off_t file_size(const struct tdir *d, const char *name)
{
	char p[160];
	struct stat st;

	tfile(p, d, name);
	ck_assert_int_eq(stat(p, &st), 0);
	return st.st_size;
}

/* Appends raw bytes to dir/journal, as a crash in the middle of a write
 * would leave them. */
static void append_raw(const struct tdir *d, const void *buf, size_t len)
{
	char p[160];
	int fd;

	tfile(p, d, "journal");
	fd = open(p, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

static void flip_byte(const struct tdir *d, off_t at)
{
	char p[160];
	uint8_t b;
	int fd;

	tfile(p, d, "journal");
	fd = open(p, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &b, 1, at), 1);
	b ^= 0x40;
	ck_assert_int_eq(pwrite(fd, &b, 1, at), 1);
	ck_assert_int_eq(close(fd), 0);
}

/* --- records --- */

struct trec {
	struct jrec r;
	uint8_t attrs[256];
};

static void make_rec(struct trec *t, int i)
{
	static const uint8_t ns[] = "\5local\0";
	struct jrec *r = &t->r;
	int n;

	memset(t, 0, sizeof(*t));
	r->op = JOURNAL_PUT;
	memcpy(r->ns, ns, sizeof(ns) - 1);
	r->ns_len = sizeof(ns) - 1;
	snprintf(r->svc, sizeof(r->svc), "payments-v%d", i % 7);
	snprintf(r->id, sizeof(r->id), "task-%d", i);
	r->has4 = 1;
	r->addr4[0] = 10;
	r->addr4[2] = (uint8_t)(i >> 8);
	r->addr4[3] = (uint8_t)i;
	r->has6 = i % 2 == 0;
	r->addr6[0] = 0xfd;
	r->addr6[15] = (uint8_t)i;
	r->port = (uint16_t)(5000 + i);
	r->weight = (uint16_t)(i % 101);
	r->health = (uint8_t)(i % 3);
	r->origin = (uint8_t)(i % 2);
	r->lease_expiry = i % 5 ? 1700000000ull + (uint64_t)i : 0;
	n = snprintf((char *)t->attrs + 1, 200, "health=healthy");
	t->attrs[0] = (uint8_t)n;
	t->attrs[n + 1] = (uint8_t)snprintf((char *)t->attrs + n + 2, 50, "n=%d", i);
	r->attrs = t->attrs;
	r->attrs_len = (uint16_t)(n + 2 + t->attrs[n + 1]);
}

static void make_del(struct trec *t, int i)
{
	make_rec(t, i);
	t->r.op = JOURNAL_DEL;
	t->r.has4 = t->r.has6 = 0;
	t->r.attrs = NULL;
	t->r.attrs_len = 0;
}

static void assert_rec_eq(const struct jrec *a, const struct jrec *b, size_t i)
{
	ck_assert_msg(a->op == b->op, "record %zu: op %u != %u", i, a->op, b->op);
	ck_assert_uint_eq(a->ns_len, b->ns_len);
	ck_assert_mem_eq(a->ns, b->ns, a->ns_len);
	ck_assert_str_eq(a->svc, b->svc);
	ck_assert_str_eq(a->id, b->id);
	ck_assert_uint_eq(a->has4, b->has4);
	ck_assert_uint_eq(a->has6, b->has6);
	ck_assert_mem_eq(a->addr4, b->addr4, 4);
	ck_assert_mem_eq(a->addr6, b->addr6, 16);
	ck_assert_uint_eq(a->port, b->port);
	ck_assert_uint_eq(a->weight, b->weight);
	ck_assert_uint_eq(a->health, b->health);
	ck_assert_uint_eq(a->origin, b->origin);
	ck_assert_uint_eq(a->lease_expiry, b->lease_expiry);
	ck_assert_uint_eq(a->attrs_len, b->attrs_len);
	if (a->attrs_len)
		ck_assert_mem_eq(a->attrs, b->attrs, a->attrs_len);
}

/* --- replay collection --- */

struct seen {
	struct trec *recs;
	size_t n, cap;
	int fail_at;            /* return -EIO at this record, or -1 */
};

static int collect(void *arg, const struct jrec *r)
{
	struct seen *s = arg;
	struct trec *t;

	if ((int)s->n == s->fail_at)
		return -EIO;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->recs = realloc(s->recs, s->cap * sizeof(*s->recs));
		ck_assert_ptr_nonnull(s->recs);
	}
	t = &s->recs[s->n++];
	t->r = *r;
	ck_assert_uint_le(r->attrs_len, sizeof(t->attrs));
	if (r->attrs_len)
		memcpy(t->attrs, r->attrs, r->attrs_len);
	t->r.attrs = NULL;      /* t moves when recs grows: see seen_rec */
	return 0;
}

static void seen_reset(struct seen *s)
{
	free(s->recs);
	memset(s, 0, sizeof(*s));
	s->fail_at = -1;
}

/* Opens dir expecting success; s collects the replay. */
static struct journal *jopen(const struct tdir *d, struct seen *s, int recover)
{
	struct journal *j;
	char err[512];
	int rc;

	seen_reset(s);
	rc = journal_open(&j, d->path, recover, collect, s, err, sizeof(err));
	ck_assert_msg(rc == 0, "journal_open: %d: %s", rc, err);
	return j;
}

/* Record i of s, its attrs pointer set. */
static struct jrec seen_rec(const struct seen *s, size_t i)
{
	struct jrec r = s->recs[i].r;

	r.attrs = s->recs[i].attrs;
	return r;
}

/* Checks that s saw make_rec(first + k) for k < n, from index at. */
static void assert_seen(const struct seen *s, size_t at, int first, size_t n)
{
	struct trec want;

	ck_assert_uint_ge(s->n, at + n);
	for (size_t k = 0; k < n; k++) {
		struct jrec got = seen_rec(s, at + k);

		make_rec(&want, first + (int)k);
		assert_rec_eq(&got, &want.r, at + k);
	}
}

static void append_range(struct journal *j, int first, int n)
{
	struct trec t;

	for (int i = first; i < first + n; i++) {
		make_rec(&t, i);
		ck_assert_int_eq(journal_append(j, &t.r, 1), 0);
	}
}

/* --- encoding --- */

START_TEST(test_crc32c)
{
	ck_assert_uint_eq(journal_crc32c((const uint8_t *)"123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(journal_crc32c(NULL, 0), 0);
}
END_TEST

START_TEST(test_round_trip)
{
	uint8_t buf[JOURNAL_PAYLOAD_MAX];
	struct trec t;
	struct jrec r;
	int len;

	make_rec(&t, 258);      /* has4, has6, a lease, two attrs */
	ck_assert(t.r.has6 && t.r.lease_expiry && t.r.attrs_len > 0);
	t.r.lease_expiry |= 0xABCDull << 40;    /* both halves of the u64 */
	len = journal_encode(&t.r, buf, sizeof(buf));
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(journal_decode(buf, (size_t)len, &r), 0);
	assert_rec_eq(&r, &t.r, 0);
	ck_assert_ptr_eq(r.attrs, buf + len - t.r.attrs_len);
	for (int n = 0; n < len; n++)
		ck_assert_msg(journal_decode(buf, (size_t)n, &r) == ERR_MALFORMED,
			      "truncated to %d of %d bytes accepted", n, len);
	/* One byte too many. */
	ck_assert_int_eq(journal_decode(buf, (size_t)len + 1, &r), ERR_MALFORMED);
	/* Too small an output buffer. */
	ck_assert_int_eq(journal_encode(&t.r, buf, (size_t)len - 1), ERR_SPACE);
}
END_TEST

START_TEST(test_decode_rejects)
{
	uint8_t buf[JOURNAL_PAYLOAD_MAX];
	struct trec t;
	struct jrec r;
	int len;

	make_rec(&t, 3);
	len = journal_encode(&t.r, buf, sizeof(buf));
	ck_assert_int_gt(len, 0);
	for (int op = 0; op < 256; op++) {
		buf[0] = (uint8_t)op;
		ck_assert_int_eq(journal_decode(buf, (size_t)len, &r),
				 op == 1 || op == 2 ? 0 : ERR_MALFORMED);
	}
	buf[0] = JOURNAL_PUT;
	buf[1] = 0xC0;          /* a compression pointer instead of the ns */
	ck_assert_int_eq(journal_decode(buf, (size_t)len, &r), ERR_MALFORMED);
	buf[1] = 5;
	buf[8] = 0;             /* empty service label */
	ck_assert_int_eq(journal_decode(buf, (size_t)len, &r), ERR_MALFORMED);
	buf[8] = 64;            /* service label too long */
	ck_assert_int_eq(journal_decode(buf, (size_t)len, &r), ERR_MALFORMED);
	buf[8] = 11;
	buf[len - t.r.attrs_len] = 200; /* attr string running past attrs_len */
	ck_assert_int_eq(journal_decode(buf, (size_t)len, &r), ERR_MALFORMED);

	/* encode refuses what decode would refuse. */
	t.r.op = 3;
	ck_assert_int_eq(journal_encode(&t.r, buf, sizeof(buf)), ERR_MALFORMED);
	make_rec(&t, 3);
	t.r.svc[0] = 0;
	ck_assert_int_eq(journal_encode(&t.r, buf, sizeof(buf)), ERR_MALFORMED);
	make_rec(&t, 3);
	t.r.ns_len--;
	ck_assert_int_eq(journal_encode(&t.r, buf, sizeof(buf)), ERR_MALFORMED);
}
END_TEST

/* The drain flags (meshdns-ctl): bits 4 and 8 of the flags byte, absent
 * (a version-1 record of older builds, byte for byte) when not set. */
START_TEST(test_drain_flags)
{
	uint8_t buf[JOURNAL_PAYLOAD_MAX];
	struct trec t;
	struct jrec r;
	size_t flags_at;
	int len;

	make_rec(&t, 3);
	flags_at = 1 + t.r.ns_len + 1 + strlen(t.r.svc) + 1 + strlen(t.r.id);
	len = journal_encode(&t.r, buf, sizeof(buf));
	ck_assert_int_gt(len, 0);
	ck_assert_uint_eq(buf[flags_at] & ~3u, 0);
	ck_assert_int_eq(journal_decode(buf, (size_t)len, &r), 0);
	ck_assert(!r.drained && !r.drain_set);
	t.r.drained = 1;
	t.r.drain_set = 1;
	len = journal_encode(&t.r, buf, sizeof(buf));
	ck_assert_uint_eq(buf[flags_at] & 12u, 12u);
	ck_assert_int_eq(journal_decode(buf, (size_t)len, &r), 0);
	assert_rec_eq(&r, &t.r, 0);
	ck_assert(r.drained && r.drain_set);
	t.r.drained = 0;        /* an undrain */
	len = journal_encode(&t.r, buf, sizeof(buf));
	ck_assert_int_eq(journal_decode(buf, (size_t)len, &r), 0);
	ck_assert(!r.drained && r.drain_set);
	buf[flags_at] |= 16;    /* still unknown */
	ck_assert_int_eq(journal_decode(buf, (size_t)len, &r), ERR_MALFORMED);
}
END_TEST

/* --- files --- */

START_TEST(test_append_reopen)
{
	struct tdir d;
	struct seen s = { .fail_at = -1 };
	struct journal *j;
	struct trec t[10];
	uint64_t size;

	tdir_make(&d);
	j = jopen(&d, &s, 0);
	ck_assert_uint_eq(s.n, 0);
	ck_assert_uint_eq(journal_size(j), HDR_SIZE);
	append_range(j, 0, 990);
	for (int i = 0; i < 10; i++)
		make_rec(&t[i], 990 + i);
	for (int i = 0; i < 10; i++)
		t[i].r.attrs = t[i].attrs;
	ck_assert_int_eq(journal_append(j, &t[0].r, 1), 0);
	ck_assert_int_eq(journal_append(j, NULL, 0), 0);
	{
		struct jrec batch[9];

		for (int i = 0; i < 9; i++)
			batch[i] = t[i + 1].r;
		ck_assert_int_eq(journal_append(j, batch, 9), 0);
	}
	ck_assert_int_eq(journal_sync(j), 0);
	ck_assert_uint_eq(journal_records(j), 1000);
	size = journal_size(j);
	ck_assert_uint_eq(size, (uint64_t)file_size(&d, "journal"));
	journal_close(j);

	j = jopen(&d, &s, 0);
	ck_assert_uint_eq(s.n, 1000);
	assert_seen(&s, 0, 0, 1000);
	ck_assert_uint_eq(journal_records(j), 1000);
	ck_assert_uint_eq(journal_size(j), size);
	journal_close(j);
	seen_reset(&s);
	tdir_remove(&d);
}
END_TEST

/* A bad record is refused whole: nothing of the batch is written. */
START_TEST(test_append_invalid)
{
	struct tdir d;
	struct seen s = { .fail_at = -1 };
	struct journal *j;
	struct trec a, b;
	struct jrec batch[2];

	tdir_make(&d);
	j = jopen(&d, &s, 0);
	make_rec(&a, 1);
	make_rec(&b, 2);
	b.r.id[0] = 0;
	batch[0] = a.r;
	batch[1] = b.r;
	ck_assert_int_eq(journal_append(j, batch, 2), ERR_MALFORMED);
	ck_assert_uint_eq(journal_size(j), HDR_SIZE);
	ck_assert_uint_eq(journal_records(j), 0);
	journal_close(j);
	seen_reset(&s);
	tdir_remove(&d);
}
END_TEST

/* Ten records, then tail written after them; returns the size after ten. */
static uint64_t ten_then(const struct tdir *d, const void *tail, size_t len)
{
	struct seen s = { .fail_at = -1 };
	struct journal *j = jopen(d, &s, 0);
	uint64_t size;

	append_range(j, 0, 10);
	size = journal_size(j);
	journal_close(j);
	seen_reset(&s);
	append_raw(d, tail, len);
	return size;
}

/* An encoded record for i, as the journal holds it. */
static size_t raw_record(uint8_t *out, int i)
{
	struct trec t;
	int len;

	make_rec(&t, i);
	len = journal_encode(&t.r, out + 8, JOURNAL_PAYLOAD_MAX);
	ck_assert_int_gt(len, 0);
	uint32_t crc = journal_crc32c(out + 8, (size_t)len);
	for (int k = 0; k < 4; k++) {
		out[k] = (uint8_t)((uint32_t)len >> (24 - 8 * k));
		out[4 + k] = (uint8_t)(crc >> (24 - 8 * k));
	}
	return 8 + (size_t)len;
}

static void check_torn(size_t keep, int bad_crc)
{
	uint8_t rec[8 + JOURNAL_PAYLOAD_MAX];
	struct tdir d;
	struct seen s = { .fail_at = -1 };
	struct journal *j;
	size_t len = raw_record(rec, 10);
	uint64_t size;

	if (bad_crc)
		rec[4] ^= 1;
	tdir_make(&d);
	size = ten_then(&d, rec, keep ? keep : len);
	j = jopen(&d, &s, 0);
	ck_assert_uint_eq(s.n, 10);
	assert_seen(&s, 0, 0, 10);
	ck_assert_uint_eq(journal_size(j), size);
	ck_assert_uint_eq((uint64_t)file_size(&d, "journal"), size);
	/* Appends go where the torn record was. */
	append_range(j, 10, 1);
	journal_close(j);
	j = jopen(&d, &s, 0);
	ck_assert_uint_eq(s.n, 11);
	assert_seen(&s, 0, 0, 11);
	journal_close(j);
	seen_reset(&s);
	tdir_remove(&d);
}

START_TEST(test_torn_header)
{
	check_torn(5, 0);       /* half a record header */
}
END_TEST

START_TEST(test_torn_payload)
{
	check_torn(40, 0);      /* a header whose length runs past EOF */
}
END_TEST

START_TEST(test_torn_crc)
{
	check_torn(0, 1);       /* a whole last record with a wrong checksum */
}
END_TEST

START_TEST(test_corrupt_middle)
{
	struct tdir d;
	struct seen s = { .fail_at = -1 };
	struct journal *j;
	uint64_t at[10], size;
	char err[512], want[64];
	int rc;

	tdir_make(&d);
	j = jopen(&d, &s, 0);
	for (int i = 0; i < 10; i++) {
		at[i] = journal_size(j);
		append_range(j, i, 1);
	}
	size = journal_size(j);
	journal_close(j);
	flip_byte(&d, (off_t)at[4] + 8 + 20);   /* inside record 5's payload */

	seen_reset(&s);
	rc = journal_open(&j, d.path, 0, collect, &s, err, sizeof(err));
	ck_assert_int_eq(rc, ERR_MALFORMED);
	ck_assert_ptr_null(j);
	snprintf(want, sizeof(want), "offset %llu ", (unsigned long long)at[4]);
	ck_assert_msg(strstr(err, want) && strstr(err, "--recover") &&
		      strstr(err, d.path), "message: %s", err);
	ck_assert_uint_eq((uint64_t)file_size(&d, "journal"), size);  /* untouched */

	j = jopen(&d, &s, 1);
	ck_assert_uint_eq(s.n, 4);
	assert_seen(&s, 0, 0, 4);
	ck_assert_uint_eq(journal_size(j), at[4]);
	ck_assert_uint_eq((uint64_t)file_size(&d, "journal"), at[4]);
	journal_close(j);
	j = jopen(&d, &s, 0);
	ck_assert_uint_eq(s.n, 4);
	journal_close(j);
	seen_reset(&s);
	tdir_remove(&d);
}
END_TEST

START_TEST(test_bad_header)
{
	struct tdir d;
	struct seen s = { .fail_at = -1 };
	struct journal *j;
	char err[512];

	tdir_make(&d);
	j = jopen(&d, &s, 0);
	journal_close(j);
	flip_byte(&d, 11);      /* the version */
	ck_assert_int_eq(journal_open(&j, d.path, 1, collect, &s, err, sizeof(err)),
			 ERR_MALFORMED);
	ck_assert_msg(strstr(err, "/journal") != NULL, "message: %s", err);
	seen_reset(&s);
	tdir_remove(&d);
}
END_TEST

START_TEST(test_callback_error)
{
	struct tdir d;
	struct seen s = { .fail_at = -1 };
	struct journal *j;
	char err[512];
	uint64_t size;

	tdir_make(&d);
	j = jopen(&d, &s, 0);
	append_range(j, 0, 5);
	size = journal_size(j);
	journal_close(j);
	seen_reset(&s);
	s.fail_at = 3;
	ck_assert_int_eq(journal_open(&j, d.path, 0, collect, &s, err, sizeof(err)), -EIO);
	ck_assert_ptr_null(j);
	ck_assert_uint_eq(s.n, 3);
	ck_assert_uint_eq((uint64_t)file_size(&d, "journal"), size);
	seen_reset(&s);
	tdir_remove(&d);
}
END_TEST

START_TEST(test_lock)
{
	struct tdir d;
	struct seen s = { .fail_at = -1 }, s2 = { .fail_at = -1 };
	struct journal *j, *j2;
	char err[512], want[128];

	tdir_make(&d);
	j = jopen(&d, &s, 0);
	ck_assert_int_eq(journal_open(&j2, d.path, 0, collect, &s2, err, sizeof(err)), -EBUSY);
	ck_assert_ptr_null(j2);
	snprintf(want, sizeof(want), "another meshdns uses %s", d.path);
	ck_assert_msg(strstr(err, want) != NULL, "message: %s", err);
	journal_close(j);
	j2 = jopen(&d, &s2, 0);
	journal_close(j2);
	seen_reset(&s);
	seen_reset(&s2);
	tdir_remove(&d);
}
END_TEST

START_TEST(test_mkdir)
{
	struct tdir d;
	struct seen s = { .fail_at = -1 };
	struct journal *j;
	struct tdir sub;
	struct stat st;

	tdir_make(&d);
	ck_assert_int_lt(snprintf(sub.path, sizeof(sub.path), "%.64s/a/b/", d.path), 96);
	sub.mounted = 0;
	j = jopen(&sub, &s, 0);
	append_range(j, 0, 2);
	journal_close(j);
	ck_assert_int_eq(stat(sub.path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0750);
	j = jopen(&sub, &s, 0);
	ck_assert_uint_eq(s.n, 2);
	journal_close(j);
	tdir_remove(&sub);
	ck_assert_int_lt(snprintf(sub.path, sizeof(sub.path), "%.64s/a", d.path), 96);
	ck_assert_int_eq(rmdir(sub.path), 0);
	seen_reset(&s);
	tdir_remove(&d);
}
END_TEST

START_TEST(test_compaction)
{
	struct tdir d;
	struct seen s = { .fail_at = -1 };
	struct journal *j;
	struct trec t;

	tdir_make(&d);
	j = jopen(&d, &s, 0);
	append_range(j, 0, 100);
	for (int i = 0; i < 50; i++) {          /* deletes 0..39 (0..9 twice) */
		make_del(&t, i % 40);
		ck_assert_int_eq(journal_append(j, &t.r, 1), 0);
	}
	ck_assert_uint_eq(journal_records(j), 150);
	ck_assert_int_eq(journal_compact_begin(j), 0);
	ck_assert_int_eq(journal_compact_begin(j), -EBUSY);
	for (int i = 40; i < 100; i++) {
		make_rec(&t, i);
		ck_assert_int_eq(journal_compact_add(j, &t.r), 0);
	}
	ck_assert_int_eq(journal_compact_commit(j), 0);
	ck_assert_uint_eq(journal_size(j), HDR_SIZE);
	ck_assert_uint_eq(journal_records(j), 0);
	ck_assert_int_eq((int)file_size(&d, "journal"), HDR_SIZE);
	journal_close(j);

	j = jopen(&d, &s, 0);
	ck_assert_uint_eq(s.n, 60);
	assert_seen(&s, 0, 40, 60);
	ck_assert_uint_eq(journal_records(j), 0);       /* all 60 from the snapshot */
	append_range(j, 100, 5);
	journal_close(j);

	j = jopen(&d, &s, 0);
	ck_assert_uint_eq(s.n, 65);
	assert_seen(&s, 0, 40, 60);
	assert_seen(&s, 60, 100, 5);
	ck_assert_uint_eq(journal_records(j), 5);
	journal_close(j);
	seen_reset(&s);
	tdir_remove(&d);
}
END_TEST

/* An aborted compaction, or one whose commit fails, changes nothing. */
START_TEST(test_compaction_abort)
{
	struct tdir d;
	struct seen s = { .fail_at = -1 };
	struct journal *j;
	struct trec t;
	char p[160];

	tdir_make(&d);
	j = jopen(&d, &s, 0);
	append_range(j, 0, 20);
	ck_assert_int_eq(journal_compact_begin(j), 0);
	make_rec(&t, 7);
	ck_assert_int_eq(journal_compact_add(j, &t.r), 0);
	journal_compact_abort(j);
	tfile(p, &d, "snapshot.tmp");
	ck_assert_int_eq(access(p, F_OK), -1);
	tfile(p, &d, "snapshot");
	ck_assert_int_eq(access(p, F_OK), -1);
	ck_assert_uint_eq(journal_records(j), 20);
	ck_assert_int_eq(journal_compact_add(j, &t.r), -EINVAL);
	ck_assert_int_eq(journal_compact_commit(j), -EINVAL);
	append_range(j, 20, 1);

	/* A rejected record fails the commit: the snapshot would lack it. */
	ck_assert_int_eq(journal_compact_begin(j), 0);
	ck_assert_int_eq(journal_compact_add(j, &t.r), 0);
	t.r.op = 0;
	ck_assert_int_eq(journal_compact_add(j, &t.r), ERR_MALFORMED);
	make_rec(&t, 8);
	ck_assert_int_eq(journal_compact_add(j, &t.r), ERR_MALFORMED);
	ck_assert_int_eq(journal_compact_commit(j), ERR_MALFORMED);
	ck_assert_int_eq(access(p, F_OK), -1);
	ck_assert_uint_eq(journal_records(j), 21);

	/* Left open at close: abort is implied. */
	ck_assert_int_eq(journal_compact_begin(j), 0);
	ck_assert_int_eq(journal_compact_add(j, &t.r), 0);
	journal_close(j);
	j = jopen(&d, &s, 0);
	ck_assert_uint_eq(s.n, 21);
	assert_seen(&s, 0, 0, 21);
	journal_close(j);
	seen_reset(&s);
	tdir_remove(&d);
}
END_TEST

/* Makes appends fail soon: a 64 KiB tmpfs mostly taken by a filler file, or,
 * where mounting is not allowed (not root), a file size limit, which makes
 * write fail with EFBIG once SIGXFSZ is ignored. Returns 1 for tmpfs. */
static int limit_space(struct tdir *d, struct rlimit *old)
{
	static uint8_t filler[40 * 1024];
	struct rlimit lim;
	char p[160];
	int fd;

	/* In a mount namespace of our own (check forks a process per test),
	 * the tmpfs goes away with the process even if the test fails. */
	if (unshare(CLONE_NEWNS) == 0 &&
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
	    mount("tmpfs", d->path, "tmpfs", 0, "size=64k") == 0) {
		d->mounted = 1;
		tfile(p, d, "filler");
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, filler, sizeof(filler)), (ssize_t)sizeof(filler));
		ck_assert_int_eq(close(fd), 0);
		return 1;
	}
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, old), 0);
	ck_assert(signal(SIGXFSZ, SIG_IGN) != SIG_ERR);
	lim = *old;
	lim.rlim_cur = 20 * 1024;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	return 0;
}

static void free_space(struct tdir *d, int tmpfs, const struct rlimit *old)
{
	char p[160];

	if (tmpfs) {
		tfile(p, d, "filler");
		ck_assert_int_eq(unlink(p), 0);
	} else {
		ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, old), 0);
	}
}

START_TEST(test_append_failure)
{
	struct tdir d;
	struct seen s = { .fail_at = -1 };
	struct journal *j;
	struct rlimit old;
	struct trec t[5];
	struct jrec batch[5];
	int tmpfs, acked = 0, rc = 0;
	uint64_t size;

	tdir_make(&d);
	tmpfs = limit_space(&d, &old);
	j = jopen(&d, &s, 0);
	for (int round = 0; round < 200 && rc == 0; round++) {
		for (int k = 0; k < 5; k++) {
			make_rec(&t[k], acked + k);
			batch[k] = t[k].r;
			batch[k].attrs = t[k].attrs;
		}
		size = journal_size(j);
		rc = journal_append(j, batch, 5);
		if (rc == 0 && (rc = journal_sync(j)) == 0)
			acked += 5;
	}
	ck_assert_msg(rc == -ENOSPC || rc == -EFBIG, "append: %d (%s)", rc, err_str(rc));
	ck_assert_int_gt(acked, 0);
	ck_assert_uint_eq(journal_size(j), size);
	ck_assert_uint_eq((uint64_t)file_size(&d, "journal"), size);   /* cut back */
	ck_assert_uint_eq(journal_records(j), (uint64_t)acked);
	ck_assert_int_lt(journal_append(j, batch, 5), 0);               /* still full */

	free_space(&d, tmpfs, &old);
	ck_assert_int_eq(journal_append(j, batch, 5), 0);
	ck_assert_int_eq(journal_sync(j), 0);
	acked += 5;
	journal_close(j);
	j = jopen(&d, &s, 0);
	ck_assert_uint_eq(s.n, (size_t)acked);
	assert_seen(&s, 0, 0, (size_t)acked);
	journal_close(j);
	seen_reset(&s);
	tdir_remove(&d);
}
END_TEST

static Suite *journal_suite(void)
{
	Suite *s = suite_create("journal");
	TCase *enc = tcase_create("encoding");
	TCase *files = tcase_create("files");

	tcase_add_test(enc, test_crc32c);
	tcase_add_test(enc, test_round_trip);
	tcase_add_test(enc, test_decode_rejects);
	tcase_add_test(enc, test_drain_flags);
	suite_add_tcase(s, enc);
	tcase_add_test(files, test_append_reopen);
	tcase_add_test(files, test_append_invalid);
	tcase_add_test(files, test_torn_header);
	tcase_add_test(files, test_torn_payload);
	tcase_add_test(files, test_torn_crc);
	tcase_add_test(files, test_corrupt_middle);
	tcase_add_test(files, test_bad_header);
	tcase_add_test(files, test_callback_error);
	tcase_add_test(files, test_lock);
	tcase_add_test(files, test_mkdir);
	tcase_add_test(files, test_compaction);
	tcase_add_test(files, test_compaction_abort);
	tcase_add_test(files, test_append_failure);
	tcase_set_timeout(files, 60);
	suite_add_tcase(s, files);
	return s;
}

int main(void)
{
	log_set_level(LOG_ERR);         /* torn tails are expected here */

	return check_run(journal_suite(), NULL);
}
