/* fuzz_journal.c - libFuzzer target: any bytes as a journal or snapshot file,
 * replayed with and without recover, and as one record payload.
 *
 * The first byte chooses: bit 0 prepends a valid header (so the fuzzer spends
 * its time on records, not on the magic), bit 1 writes a snapshot instead of
 * a journal. Every replayed record must have its fields in range, and a
 * payload that decodes must encode back to the same bytes; a violation
 * aborts (a fuzzer-visible crash). Files live in one temp dir made once. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "journal.h"
#include "log.h"
#include "wire.h"

static char dir[64];
static char journal_path[96], snapshot_path[96];

static void cleanup(void)
{
	static const char *const names[] = { "journal", "snapshot", "lock",
					     "journal.tmp", "snapshot.tmp" };
	char p[96];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/meshdns_fuzz_journal.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		abort();
	}
	snprintf(journal_path, sizeof(journal_path), "%s/journal", dir);
	snprintf(snapshot_path, sizeof(snapshot_path), "%s/snapshot", dir);
	log_set_level(LOG_ERR);         /* torn tails are the common case here */
	atexit(cleanup);
}

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_journal: %s\n", what);
		abort();
	}
}

static size_t label_len(const char *label)
{
	return strnlen(label, 64);
}

static int check_rec(void *arg, const struct jrec *r)
{
	uint8_t name[WIRE_NAME_MAX];
	struct wire w;
	size_t pos = 0;

	(void)arg;
	check(r->op == JOURNAL_PUT || r->op == JOURNAL_DEL, "op");
	check(r->ns_len >= 1 && r->ns_len <= WIRE_NAME_MAX, "ns length");
	wire_init_ro(&w, r->ns, r->ns_len);
	check(wire_name_read(&w, name, 0) == r->ns_len && !w.err && w.pos == r->ns_len,
	      "ns name");
	check(label_len(r->svc) >= 1 && label_len(r->svc) <= 63, "service label");
	check(label_len(r->id) >= 1 && label_len(r->id) <= 63, "id label");
	check(r->has4 <= 1 && r->has6 <= 1, "flags");
	check(r->attrs_len <= JOURNAL_PAYLOAD_MAX, "attrs length");
	check(r->attrs_len == 0 || r->attrs != NULL, "attrs pointer");
	while (pos < r->attrs_len)
		pos += 1 + (size_t)r->attrs[pos];
	check(pos == r->attrs_len, "attrs strings");
	return 0;
}

static void write_file(const char *path, const uint8_t *hdr, size_t hlen,
		       const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	check(fd >= 0, "open input file");
	check(write(fd, hdr, hlen) == (ssize_t)hlen, "write header");
	check(write(fd, data, size) == (ssize_t)size, "write input");
	check(close(fd) == 0, "close input file");
}

static void replay(const uint8_t *data, size_t size, int recover)
{
	uint8_t hdr[12] = { 'M', 'E', 'S', 'H', 'D', 'N', 'S', 'J', 0, 0, 0, 1 };
	int as_snapshot = data[0] & 2;
	struct journal *j;
	char err[512];

	unlink(journal_path);
	unlink(snapshot_path);
	if (as_snapshot)
		hdr[7] = 'S';
	write_file(as_snapshot ? snapshot_path : journal_path, hdr,
		   data[0] & 1 ? sizeof(hdr) : 0, data + 1, size - 1);
	if (journal_open(&j, dir, recover, check_rec, NULL, err, sizeof(err)) == 0) {
		check(journal_size(j) >= 12, "journal size");
		journal_close(j);
	} else {
		check(j == NULL && err[0] != 0, "error without message");
	}
}

static void round_trip(const uint8_t *data, size_t size)
{
	static uint8_t out[JOURNAL_PAYLOAD_MAX];
	struct jrec r;
	int len;

	if (journal_decode(data, size, &r) < 0)
		return;
	check(check_rec(NULL, &r) == 0, "decoded record");
	len = journal_encode(&r, out, sizeof(out));
	check(size <= JOURNAL_PAYLOAD_MAX ? len == (int)size : len < 0, "re-encode length");
	check(len < 0 || memcmp(out, data, size) == 0, "re-encode bytes");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0])
		setup();
	round_trip(data, size);
	if (size == 0)
		return 0;
	replay(data, size, 0);
	replay(data, size, 1);
	return 0;
}
