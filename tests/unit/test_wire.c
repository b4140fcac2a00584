/* test_wire.c - check suite for lib/wire.h: the bounded cursor with its
 * sticky error, compressed name reading, presentation <-> wire conversion
 * and the name comparisons the registry relies on. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "wire.h"
#include "checkmain.h"

/* Wire form of a presentation name, asserting it parses. */
static size_t name(const char *text, uint8_t out[WIRE_NAME_MAX])
{
	int n = wire_name_from_text(text, out);

	ck_assert_msg(n > 0, "'%s' did not parse: %d", text, n);
	return (size_t)n;
}

START_TEST(test_read_sticky)
{
	const uint8_t buf[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07 };
	struct wire w;
	uint8_t two[2];

	wire_init_ro(&w, buf, sizeof(buf));
	ck_assert_uint_eq(wire_left(&w), 7);
	ck_assert_uint_eq(wire_u16(&w), 0x0102);
	ck_assert_uint_eq(wire_u8(&w), 0x03);
	ck_assert_uint_eq(wire_u32(&w), 0x04050607);
	ck_assert_int_eq(w.err, 0);
	ck_assert_uint_eq(wire_left(&w), 0);

	wire_init_ro(&w, buf, sizeof(buf));
	wire_skip(&w, 5);
	wire_read(&w, two, 2);
	ck_assert_mem_eq(two, "\6\7", 2);
	ck_assert_int_eq(w.err, 0);

	/* Past the end: the error is set once, and later reads are no-ops even
	 * when they would fit in what is left. */
	wire_init_ro(&w, buf, sizeof(buf));
	wire_skip(&w, 4);
	ck_assert_uint_eq(wire_u32(&w), 0);
	ck_assert_int_eq(w.err, ERR_MALFORMED);
	ck_assert_uint_eq(w.pos, 4);
	ck_assert_uint_eq(wire_u8(&w), 0);
	ck_assert_uint_eq(wire_u16(&w), 0);
	ck_assert_uint_eq(w.pos, 4);
	ck_assert_uint_eq(wire_left(&w), 0);
	ck_assert_int_eq(w.err, ERR_MALFORMED);

	wire_init_ro(&w, buf, sizeof(buf));
	wire_skip(&w, 8);
	ck_assert_int_eq(w.err, ERR_MALFORMED);
	wire_init_ro(&w, buf, 1);
	wire_read(&w, two, 2);
	ck_assert_int_eq(w.err, ERR_MALFORMED);
	ck_assert_uint_eq(w.pos, 0);
}
END_TEST

START_TEST(test_write_sticky)
{
	uint8_t buf[7];
	struct wire w;

	memset(buf, 0xEE, sizeof(buf));
	wire_init(&w, buf, sizeof(buf));
	wire_put_u8(&w, 0x01);
	wire_put_u16(&w, 0x0203);
	wire_put_u32(&w, 0x04050607);
	ck_assert_int_eq(w.err, 0);
	ck_assert_mem_eq(buf, "\1\2\3\4\5\6\7", 7);
	wire_poke_u16(&w, 1, 0xABCD);
	ck_assert_mem_eq(buf, "\1\xAB\xCD\4\5\6\7", 7);

	memset(buf, 0xEE, sizeof(buf));
	wire_init(&w, buf, 5);
	wire_put(&w, "abc", 3);
	wire_put_u32(&w, 0x01020304);
	ck_assert_int_eq(w.err, ERR_SPACE);
	ck_assert_uint_eq(w.pos, 3);
	/* Sticky: a write that would fit is refused too, nothing is written. */
	wire_put_u8(&w, 0x55);
	wire_put_u16(&w, 0x5555);
	ck_assert_uint_eq(w.pos, 3);
	ck_assert_uint_eq(buf[3], 0xEE);
	ck_assert_uint_eq(buf[5], 0xEE);
	ck_assert_int_eq(w.err, ERR_SPACE);

	wire_init(&w, buf, 2);
	wire_put(&w, "abc", 3);
	ck_assert_int_eq(w.err, ERR_SPACE);
}
END_TEST

START_TEST(test_name_read_plain)
{
	const uint8_t msg[] = "\3WwW\7ExAmple\0\xFF";
	uint8_t out[WIRE_NAME_MAX];
	struct wire w;

	wire_init_ro(&w, msg, sizeof(msg) - 1);
	ck_assert_uint_eq(wire_name_read(&w, out, 1), 13);
	ck_assert_mem_eq(out, "\3www\7example", 13);
	ck_assert_uint_eq(w.pos, 13);
	ck_assert_uint_eq(wire_u8(&w), 0xFF);

	wire_init_ro(&w, msg, sizeof(msg) - 1);
	ck_assert_uint_eq(wire_name_read(&w, out, 0), 13);
	ck_assert_mem_eq(out, "\3WwW\7ExAmple", 13);

	/* Root. */
	wire_init_ro(&w, (const uint8_t *)"", 1);
	ck_assert_uint_eq(wire_name_read(&w, out, 1), 1);
	ck_assert_uint_eq(out[0], 0);

	/* Truncated: a label running off the end, or a missing root. */
	wire_init_ro(&w, msg, 6);
	ck_assert_uint_eq(wire_name_read(&w, out, 1), 0);
	ck_assert_int_eq(w.err, ERR_MALFORMED);
	wire_init_ro(&w, msg, 4);
	ck_assert_uint_eq(wire_name_read(&w, out, 1), 0);
	ck_assert_int_eq(w.err, ERR_MALFORMED);
}
END_TEST

START_TEST(test_name_read_pointer)
{
	/* 0: foo.com.  9: www + pointer to 4 (com.)  15: pointer to 9 */
	const uint8_t msg[] = "\3foo\3com\0\3WWW\xC0\x04\xC0\x09\x42";
	uint8_t out[WIRE_NAME_MAX];
	struct wire w;

	wire_init_ro(&w, msg, sizeof(msg) - 1);
	wire_skip(&w, 9);
	ck_assert_uint_eq(wire_name_read(&w, out, 1), 9);
	ck_assert_mem_eq(out, "\3www\3com", 9);
	ck_assert_uint_eq(w.pos, 15); /* resumes after the first pointer */
	ck_assert_uint_eq(wire_name_read(&w, out, 0), 9);
	ck_assert_mem_eq(out, "\3WWW\3com", 9);
	ck_assert_uint_eq(w.pos, 17);
	ck_assert_uint_eq(wire_u8(&w), 0x42);
	ck_assert_int_eq(w.err, 0);

	/* A pointer cut short by the end of the message. */
	wire_init_ro(&w, msg, 16);
	wire_skip(&w, 15);
	ck_assert_uint_eq(wire_name_read(&w, out, 1), 0);
	ck_assert_int_eq(w.err, ERR_MALFORMED);
}
END_TEST

START_TEST(test_name_read_bad_pointer)
{
	const uint8_t fwd[] = "\xC0\x02\3foo\0";
	const uint8_t self[] = "\3foo\xC0\x00";
	const uint8_t loop[] = "\xC0\x02\xC0\x00";
	const uint8_t self2[] = "\0\0\0\0\xC0\x04";
	uint8_t out[WIRE_NAME_MAX];
	struct wire w;

	wire_init_ro(&w, fwd, sizeof(fwd) - 1);
	ck_assert_uint_eq(wire_name_read(&w, out, 1), 0);
	ck_assert_int_eq(w.err, ERR_MALFORMED);

	wire_init_ro(&w, self, sizeof(self) - 1);
	ck_assert_uint_eq(wire_name_read(&w, out, 1), 0);
	ck_assert_int_eq(w.err, ERR_MALFORMED);

	/* 2 -> 0 -> 2: the second hop goes forwards. */
	wire_init_ro(&w, loop, sizeof(loop) - 1);
	wire_skip(&w, 2);
	ck_assert_uint_eq(wire_name_read(&w, out, 1), 0);
	ck_assert_int_eq(w.err, ERR_MALFORMED);

	wire_init_ro(&w, self2, sizeof(self2) - 1);
	wire_skip(&w, 4);
	ck_assert_uint_eq(wire_name_read(&w, out, 1), 0);
	ck_assert_int_eq(w.err, ERR_MALFORMED);

	/* The root, then pointers each to the one before: 127 hops are read,
	 * 128 are refused. */
	{
		uint8_t chain[1 + 2 * 128];

		chain[0] = 0;
		for (size_t i = 0; i < 128; i++) {
			chain[1 + 2 * i] = (uint8_t)(0xC0 | (2 * i) >> 8);
			chain[2 + 2 * i] = (uint8_t)(i ? 2 * i - 1 : 0);
		}
		wire_init_ro(&w, chain, 1 + 2 * 127);
		wire_skip(&w, 1 + 2 * 126);
		ck_assert_uint_eq(wire_name_read(&w, out, 1), 1);
		ck_assert_int_eq(w.err, 0);
		wire_init_ro(&w, chain, sizeof(chain));
		wire_skip(&w, 1 + 2 * 127);
		ck_assert_uint_eq(wire_name_read(&w, out, 1), 0);
		ck_assert_int_eq(w.err, ERR_MALFORMED);
	}
}
END_TEST

START_TEST(test_name_read_limits)
{
	uint8_t msg[300], out[WIRE_NAME_MAX];
	struct wire w;
	size_t p = 0;

	/* 63+63+63+61 characters: 255 bytes with the root, the maximum. */
	for (int i = 0; i < 4; i++) {
		uint8_t l = i < 3 ? 63 : 61;

		msg[p++] = l;
		memset(msg + p, 'a', l);
		p += l;
	}
	msg[p++] = 0;
	ck_assert_uint_eq(p, 255);
	wire_init_ro(&w, msg, p);
	ck_assert_uint_eq(wire_name_read(&w, out, 1), 255);
	ck_assert_int_eq(w.err, 0);

	/* One more character: 256 bytes. */
	msg[192] = 62;
	memset(msg + 193, 'a', 62);
	msg[255] = 0;
	wire_init_ro(&w, msg, 256);
	ck_assert_uint_eq(wire_name_read(&w, out, 1), 0);
	ck_assert_int_eq(w.err, ERR_MALFORMED);

	/* Too long only once a pointer is followed. */
	memcpy(msg, "\x3f", 1);
	memset(msg + 1, 'b', 63);
	msg[64] = 0;
	p = 65;
	for (int i = 0; i < 3; i++) {
		msg[p] = 63;
		memset(msg + p + 1, 'c', 63);
		p += 64;
	}
	msg[p++] = 0xC0;
	msg[p++] = 0x00;
	wire_init_ro(&w, msg, p);
	wire_skip(&w, 65);
	ck_assert_uint_eq(wire_name_read(&w, out, 1), 0);
	ck_assert_int_eq(w.err, ERR_MALFORMED);

	/* Extended label types 0x40 and 0x80 are rejected. */
	wire_init_ro(&w, (const uint8_t *)"\x41x\0", 3);
	ck_assert_uint_eq(wire_name_read(&w, out, 1), 0);
	ck_assert_int_eq(w.err, ERR_MALFORMED);
	wire_init_ro(&w, (const uint8_t *)"\x81x\0", 3);
	ck_assert_uint_eq(wire_name_read(&w, out, 1), 0);
	ck_assert_int_eq(w.err, ERR_MALFORMED);

	/* A cursor already in error reads nothing. */
	wire_init_ro(&w, (const uint8_t *)"\0", 1);
	w.err = ERR_MALFORMED;
	ck_assert_uint_eq(wire_name_read(&w, out, 1), 0);
}
END_TEST

/* Parses text, checks the wire bytes, prints it back and compares. */
static void round_trip(const char *text, const char *wire, size_t wlen,
		       const char *back)
{
	uint8_t out[WIRE_NAME_MAX];
	char txt[WIRE_NAME_TEXT_MAX];
	int n;

	ck_assert_int_eq(wire_name_from_text(text, out), (int)wlen);
	ck_assert_mem_eq(out, wire, wlen);
	n = wire_name_to_text(out, txt, sizeof(txt));
	ck_assert_int_eq(n, (int)strlen(back));
	ck_assert_str_eq(txt, back);
	ck_assert_int_eq(wire_name_from_text(txt, out), (int)wlen);
	ck_assert_mem_eq(out, wire, wlen);
}

START_TEST(test_text_round_trip)
{
	round_trip(".", "\0", 1, ".");
	round_trip("local.", "\5local\0", 7, "local.");
	round_trip("a.b", "\1a\1b\0", 5, "a.b.");
	round_trip("Mixed.Case.", "\5Mixed\4Case\0", 12, "Mixed.Case.");
	round_trip("a\\.b.example.", "\3a.b\7example\0", 13, "a\\.b.example.");
	round_trip("a\\032b.", "\3a b\0", 5, "a\\032b.");
	round_trip("a\\\\b.", "\3a\\b\0", 5, "a\\\\b.");
	round_trip("\\000\\255.", "\2\0\xFF\0", 4, "\\000\\255.");
	round_trip("\\a\\b.", "\2ab\0", 4, "ab.");
	round_trip("x\\\"\\;\\(\\)\\@\\$.", "\7x\";()@$\0", 9,
		   "x\\\"\\;\\(\\)\\@\\$.");
}
END_TEST

START_TEST(test_text_limits)
{
	char text[400];
	uint8_t out[WIRE_NAME_MAX];
	char small[8];

	memset(text, 'a', 63);
	strcpy(text + 63, ".local.");
	ck_assert_int_eq(wire_name_from_text(text, out), 63 + 1 + 7);
	memset(text, 'a', 64);
	strcpy(text + 64, ".local.");
	ck_assert_int_eq(wire_name_from_text(text, out), ERR_NAME);

	/* 63.63.63.61 is 255 bytes in wire form; one more is too long. */
	memset(text, 'a', sizeof(text));
	text[63] = text[127] = text[191] = '.';
	text[253] = '.';
	text[254] = '\0';
	ck_assert_int_eq(wire_name_from_text(text, out), 255);
	text[253] = '\0';
	ck_assert_int_eq(wire_name_from_text(text, out), 255);
	text[253] = 'a';
	text[254] = '.';
	text[255] = '\0';
	ck_assert_int_eq(wire_name_from_text(text, out), ERR_NAME);
	text[254] = '\0';
	ck_assert_int_eq(wire_name_from_text(text, out), ERR_NAME);

	ck_assert_int_eq(wire_name_from_text("", out), ERR_NAME);
	ck_assert_int_eq(wire_name_from_text("..", out), ERR_NAME);
	ck_assert_int_eq(wire_name_from_text(".a", out), ERR_NAME);
	ck_assert_int_eq(wire_name_from_text("a..b", out), ERR_NAME);
	ck_assert_int_eq(wire_name_from_text("a.b..", out), ERR_NAME);
	ck_assert_int_eq(wire_name_from_text("a\\", out), ERR_NAME);
	ck_assert_int_eq(wire_name_from_text("a\\25", out), ERR_NAME);
	ck_assert_int_eq(wire_name_from_text("a\\256", out), ERR_NAME);
	ck_assert_int_eq(wire_name_from_text("a\\2x5", out), ERR_NAME);

	/* Output too small. */
	name("example.com.", out);
	ck_assert_int_eq(wire_name_to_text(out, small, sizeof(small)), ERR_SPACE);
	ck_assert_int_eq(wire_name_to_text((const uint8_t *)"", small, 1), ERR_SPACE);
	ck_assert_int_eq(wire_name_to_text((const uint8_t *)"", small, 2), 1);
	ck_assert_str_eq(small, ".");
	ck_assert_int_eq(wire_name_to_text((const uint8_t *)"\5local", small, 6),
			 ERR_SPACE);
	ck_assert_int_eq(wire_name_to_text((const uint8_t *)"\5local", small, 7), 6);
	ck_assert_str_eq(small, "local.");
}
END_TEST

START_TEST(test_name_compare)
{
	uint8_t a[WIRE_NAME_MAX], b[WIRE_NAME_MAX], z[WIRE_NAME_MAX];
	size_t la, lb;

	la = name("WWW.Local.", a);
	lb = name("www.local.", b);
	ck_assert_uint_eq(wire_name_len(a), la);
	ck_assert_int_eq(wire_name_labels(a), 2);
	ck_assert_int_eq(wire_name_labels((const uint8_t *)""), 0);
	ck_assert(wire_name_eq(a, b));
	ck_assert_uint_eq(wire_name_hash(a, la), wire_name_hash(b, lb));
	name("www.locale.", b);
	ck_assert(!wire_name_eq(a, b));
	name("www.locaL.", b);
	ck_assert(wire_name_eq(a, b));
	name("wwx.local.", b);
	ck_assert(!wire_name_eq(a, b));
	ck_assert_uint_ne(wire_name_hash(a, la), wire_name_hash(b, lb));

	wire_name_lower(a);
	ck_assert_mem_eq(a, "\3www\5local\0", la);

	name("local.", z);
	ck_assert(wire_name_in(a, z));
	ck_assert(wire_name_in(z, z));
	name("LOCAL", b);
	ck_assert(wire_name_in(a, b));
	ck_assert(wire_name_in(a, (const uint8_t *)""));
	name("xlocal.", b);
	ck_assert(!wire_name_in(b, z));
	name("a.xlocal.", b);
	ck_assert(!wire_name_in(b, z));
	ck_assert(!wire_name_in(z, a));
	name("local.com.", b);
	ck_assert(!wire_name_in(b, z));
	/* A label that contains the zone's bytes: "\5local" inside one label. */
	ck_assert(!wire_name_in((const uint8_t *)"\6\5local\0", z));
}
END_TEST

START_TEST(test_label_valid)
{
	char l[70];

	ck_assert(wire_label_valid("abc", 3));
	ck_assert(wire_label_valid("A-b_9", 5));
	ck_assert(wire_label_valid("_tcp", 4));
	ck_assert(!wire_label_valid("", 0));
	ck_assert(!wire_label_valid("a.b", 3));
	ck_assert(!wire_label_valid("a b", 3));
	ck_assert(!wire_label_valid("a*", 2));
	ck_assert(!wire_label_valid("\xC3\xA9", 2));
	/* Only len bytes are looked at. */
	ck_assert(wire_label_valid("ab.c", 2));
	memset(l, 'x', sizeof(l));
	ck_assert(wire_label_valid(l, 63));
	ck_assert(!wire_label_valid(l, 64));
}
END_TEST

static Suite *wire_suite(void)
{
	Suite *s = suite_create("wire");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_read_sticky);
	tcase_add_test(tc, test_write_sticky);
	tcase_add_test(tc, test_name_read_plain);
	tcase_add_test(tc, test_name_read_pointer);
	tcase_add_test(tc, test_name_read_bad_pointer);
	tcase_add_test(tc, test_name_read_limits);
	tcase_add_test(tc, test_text_round_trip);
	tcase_add_test(tc, test_text_limits);
	tcase_add_test(tc, test_name_compare);
	tcase_add_test(tc, test_label_valid);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(wire_suite(), NULL);
}
