/* journal.c - the durable record of registrations (see journal.h for the
 * contract and the file formats).
 *
 * Why it is built this way:
 * - One append = one pwrite at the known end of the file. A crash can then
 *   only leave a torn tail, which replay recognises (short header, length
 *   beyond EOF, bad checksum on the last record) and cuts off. A failed or
 *   short write is cut back at once, so acknowledged records are never
 *   followed by garbage.
 * - Every record carries a CRC-32C of its payload, so a bad record with good
 *   data after it is reported as corruption with its offset instead of being
 *   silently dropped together with acknowledged registrations.
 * - The snapshot and a new empty journal are both written as temp files,
 *   fsynced and renamed, with an fsync of the directory after each rename: at
 *   every instant the names point to complete files. Replaying an old
 *   journal on top of a newer snapshot gives the same state, because the
 *   journal holds the whole history since the older snapshot, in order.
 * - A failed fdatasync is sticky (until a compaction rewrites everything):
 *   after it the kernel may have dropped the dirty pages, so a later sync
 *   returning 0 would acknowledge data that is not on disk.
 * Plain POSIX I/O only: the caller decides on which thread this runs. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "err.h"
#include "journal.h"
#include "log.h"
#include "wire.h"

#define HDR_SIZE 12             /* magic + u32 version */
#define REC_HDR 8               /* u32 payload length + u32 CRC-32C */
#define REC_MAX (REC_HDR + JOURNAL_PAYLOAD_MAX)
#define JOURNAL_VERSION 1
#define RBUF_SIZE (64 * 1024)   /* replay read buffer, > REC_MAX */
#define CBUF_SIZE (256 * 1024)  /* compaction write buffer, > REC_MAX */
#define FILE_MODE 0640
#define DIR_MODE 0750

static const char journal_magic[8] = { 'M', 'E', 'S', 'H', 'D', 'N', 'S', 'J' };
static const char snapshot_magic[8] = { 'M', 'E', 'S', 'H', 'D', 'N', 'S', 'S' };

struct journal {
	int dirfd;              /* state dir: openat, renameat, fsync after renames */
	int lockfd;             /* dir/lock, flocked for our lifetime */
	int fd;                 /* dir/journal */
	uint64_t size;          /* bytes in the journal, header included */
	uint64_t records;
	int cut_pending;        /* a failed append could not be cut back yet */
	int sync_err;           /* sticky fdatasync failure */
	uint8_t *buf;           /* append encoding buffer, grown on demand */
	size_t bufcap;
	int cfd;                /* dir/snapshot.tmp during a compaction, else -1 */
	uint64_t coff;          /* bytes written to it */
	uint8_t *cbuf;          /* records not yet written to it */
	size_t clen;
	int cerr;               /* first compaction error, sticky until commit/abort */
};

/* CRC-32C (Castagnoli), reflected polynomial 0x82F63B78, as iSCSI (RFC 3720
 * B.4) and ext4 use it; the table is crc of each byte value, precomputed. */
static const uint32_t crc32c_table[256] = {
	0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f, 0x35f1141c, 0x26a1e7e8, 0xd4ca64eb,
	0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b, 0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24,
	0x105ec76f, 0xe235446c, 0xf165b798, 0x030e349b, 0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
	0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54, 0x5d1d08bf, 0xaf768bbc, 0xbc267848, 0x4e4dfb4b,
	0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a, 0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35,
	0xaa64d611, 0x580f5512, 0x4b5fa6e6, 0xb93425e5, 0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
	0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45, 0xf779deae, 0x05125dad, 0x1642ae59, 0xe4292d5a,
	0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a, 0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595,
	0x417b1dbc, 0xb3109ebf, 0xa0406d4b, 0x522bee48, 0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
	0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687, 0x0c38d26c, 0xfe53516f, 0xed03a29b, 0x1f682198,
	0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927, 0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38,
	0xdbfc821c, 0x2997011f, 0x3ac7f2eb, 0xc8ac71e8, 0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
	0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096, 0xa65c047d, 0x5437877e, 0x4767748a, 0xb50cf789,
	0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859, 0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46,
	0x7198540d, 0x83f3d70e, 0x90a324fa, 0x62c8a7f9, 0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
	0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36, 0x3cdb9bdd, 0xceb018de, 0xdde0eb2a, 0x2f8b6829,
	0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c, 0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93,
	0x082f63b7, 0xfa44e0b4, 0xe9141340, 0x1b7f9043, 0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
	0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3, 0x55326b08, 0xa759e80b, 0xb4091bff, 0x466298fc,
	0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c, 0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033,
	0xa24bb5a6, 0x502036a5, 0x4370c551, 0xb11b4652, 0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
	0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d, 0xef087a76, 0x1d63f975, 0x0e330a81, 0xfc588982,
	0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d, 0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622,
	0x38cc2a06, 0xcaa7a905, 0xd9f75af1, 0x2b9cd9f2, 0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
	0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530, 0x0417b1db, 0xf67c32d8, 0xe52cc12c, 0x1747422f,
	0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff, 0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0,
	0xd3d3e1ab, 0x21b862a8, 0x32e8915c, 0xc083125f, 0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
	0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90, 0x9e902e7b, 0x6cfbad78, 0x7fab5e8c, 0x8dc0dd8f,
	0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee, 0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1,
	0x69e9f0d5, 0x9b8273d6, 0x88d28022, 0x7ab90321, 0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
	0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81, 0x34f4f86a, 0xc69f7b69, 0xd5cf889d, 0x27a40b9e,
	0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e, 0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

uint32_t journal_crc32c(const uint8_t *buf, size_t len)
{
	uint32_t crc = 0xFFFFFFFFu;

	for (size_t i = 0; i < len; i++)
		crc = crc32c_table[(crc ^ buf[i]) & 0xFF] ^ (crc >> 8);
	return crc ^ 0xFFFFFFFFu;
}

/* --- payload encoding --- */

/* 1 if name[0..len) is exactly one well-formed uncompressed wire name. */
static int name_valid(const uint8_t *name, size_t len)
{
	uint8_t out[WIRE_NAME_MAX];
	struct wire w;
	size_t n;

	wire_init_ro(&w, name, len);
	n = wire_name_read(&w, out, 0);
	/* A compression pointer would make the cursor move less than the name
	 * is long, and the copy differ from the bytes in place. */
	return !w.err && n == len && w.pos == len && memcmp(out, name, len) == 0;
}

/* 1 if attrs is a sequence of (u8 len + bytes) filling exactly len bytes. */
static int attrs_valid(const uint8_t *attrs, size_t len)
{
	size_t pos = 0;

	if (len > 0 && !attrs)
		return 0;
	while (pos < len)
		pos += 1 + (size_t)attrs[pos];
	return pos == len;
}

static int label_len(const char *label)
{
	size_t n = strnlen(label, 64);

	return n >= 1 && n <= WIRE_LABEL_MAX ? (int)n : -1;
}

static int rec_valid(const struct jrec *r)
{
	return (r->op == JOURNAL_PUT || r->op == JOURNAL_DEL) &&
	       r->ns_len >= 1 && r->ns_len <= WIRE_NAME_MAX && name_valid(r->ns, r->ns_len) &&
	       label_len(r->svc) > 0 && label_len(r->id) > 0 &&
	       attrs_valid(r->attrs, r->attrs_len);
}

/* Returns the payload length, ERR_SPACE when it does not fit in cap (or in
 * JOURNAL_PAYLOAD_MAX), or ERR_MALFORMED for a record that decode would
 * reject: writing it would make the journal unreadable. */
int journal_encode(const struct jrec *r, uint8_t *buf, size_t cap)
{
	struct wire w;
	size_t svc_len, id_len;

	if (!rec_valid(r))
		return ERR_MALFORMED;
	svc_len = (size_t)label_len(r->svc);
	id_len = (size_t)label_len(r->id);
	wire_init(&w, buf, cap < JOURNAL_PAYLOAD_MAX ? cap : JOURNAL_PAYLOAD_MAX);
	wire_put_u8(&w, r->op);
	wire_put(&w, r->ns, r->ns_len);
	wire_put_u8(&w, (uint8_t)svc_len);
	wire_put(&w, r->svc, svc_len);
	wire_put_u8(&w, (uint8_t)id_len);
	wire_put(&w, r->id, id_len);
	wire_put_u8(&w, (uint8_t)((r->has4 ? 1 : 0) | (r->has6 ? 2 : 0) | (r->drained ? 4 : 0) |
			       (r->drain_set ? 8 : 0)));
	wire_put(&w, r->addr4, 4);
	wire_put(&w, r->addr6, 16);
	wire_put_u16(&w, r->port);
	wire_put_u16(&w, r->weight);
	wire_put_u8(&w, r->health);
	wire_put_u32(&w, (uint32_t)(r->lease_expiry >> 32));
	wire_put_u32(&w, (uint32_t)r->lease_expiry);
	wire_put_u8(&w, r->origin);
	wire_put_u16(&w, r->attrs_len);
	if (r->attrs_len)
		wire_put(&w, r->attrs, r->attrs_len);
	return w.err ? ERR_SPACE : (int)w.pos;
}

/* Reads u8 len + label into out (NUL-terminated); 1..63 bytes, no NUL. */
static void decode_label(struct wire *w, char out[64])
{
	uint8_t len = wire_u8(w);

	if (!w->err && (len < 1 || len > WIRE_LABEL_MAX))
		w->err = ERR_MALFORMED;
	wire_read(w, out, len);
	if (!w->err && memchr(out, 0, len))
		w->err = ERR_MALFORMED;
	out[w->err ? 0 : len] = 0;
}

int journal_decode(const uint8_t *buf, size_t len, struct jrec *r)
{
	struct wire w;
	uint8_t flags;
	size_t start;

	memset(r, 0, sizeof(*r));
	wire_init_ro(&w, buf, len);
	r->op = wire_u8(&w);
	start = w.pos;
	r->ns_len = wire_name_read(&w, r->ns, 0);
	if (!w.err && !name_valid(buf + start, r->ns_len))
		w.err = ERR_MALFORMED;
	decode_label(&w, r->svc);
	decode_label(&w, r->id);
	flags = wire_u8(&w);
	r->has4 = flags & 1;
	r->has6 = (flags & 2) >> 1;
	r->drained = (flags & 4) >> 2;
	r->drain_set = (flags & 8) >> 3;
	wire_read(&w, r->addr4, 4);
	wire_read(&w, r->addr6, 16);
	r->port = wire_u16(&w);
	r->weight = wire_u16(&w);
	r->health = wire_u8(&w);
	r->lease_expiry = (uint64_t)wire_u32(&w) << 32;
	r->lease_expiry |= wire_u32(&w);
	r->origin = wire_u8(&w);
	r->attrs_len = wire_u16(&w);
	if (w.err || wire_left(&w) != r->attrs_len || (flags & ~15) ||
	    (r->op != JOURNAL_PUT && r->op != JOURNAL_DEL) ||
	    !attrs_valid(buf + w.pos, r->attrs_len)) {
		memset(r, 0, sizeof(*r));
		return ERR_MALFORMED;
	}
	r->attrs = r->attrs_len ? buf + w.pos : NULL;
	return 0;
}

/* --- file helpers --- */

/* Encodes r as a whole record (length, CRC, payload) at out, which has
 * room for REC_MAX bytes; returns the record length or a negative code. */
static int encode_record(const struct jrec *r, uint8_t *out)
{
	int len = journal_encode(r, out + REC_HDR, JOURNAL_PAYLOAD_MAX);

	if (len < 0)
		return len;
	wire_set32(out, (uint32_t)len);
	wire_set32(out + 4, journal_crc32c(out + REC_HDR, (size_t)len));
	return REC_HDR + len;
}

static int write_all_at(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENOSPC;
		buf += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int fsync_fd(int fd)
{
	return fsync(fd) < 0 ? -errno : 0;
}

static int cut_file(int fd, uint64_t size)
{
	int rc;

	do
		rc = ftruncate(fd, (off_t)size);
	while (rc < 0 && errno == EINTR);
	return rc < 0 ? -errno : 0;
}

static void put_header(uint8_t hdr[HDR_SIZE], const char magic[8])
{
	memcpy(hdr, magic, 8);
	wire_set32(hdr + 8, JOURNAL_VERSION);
}

/* Creates dir/name.tmp holding only a header, fsynced; returns its fd. */
static int create_tmp(int dirfd, const char *tmp, const char magic[8])
{
	uint8_t hdr[HDR_SIZE];
	int fd, rc;

	fd = openat(dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, FILE_MODE);
	if (fd < 0)
		return -errno;
	put_header(hdr, magic);
	rc = write_all_at(fd, hdr, HDR_SIZE, 0);
	if (rc == 0)
		rc = fsync_fd(fd);
	if (rc < 0) {
		close(fd);
		unlinkat(dirfd, tmp, 0);
		return rc;
	}
	return fd;
}

/* Renames tmp over name and makes the rename durable. */
static int install(int dirfd, const char *tmp, const char *name)
{
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		int rc = -errno;

		unlinkat(dirfd, tmp, 0);
		return rc;
	}
	return fsync_fd(dirfd);
}

/* Writes a new empty journal and puts it in place; returns its fd. If the
 * rename succeeded but the directory fsync failed, *installed is set and the
 * fd is still returned through *fdp. */
static int fresh_journal(int dirfd, int *fdp, int *installed)
{
	int fd = create_tmp(dirfd, "journal.tmp", journal_magic);
	int rc;

	*installed = 0;
	if (fd < 0)
		return fd;
	rc = renameat(dirfd, "journal.tmp", dirfd, "journal") < 0 ? -errno : 0;
	if (rc < 0) {
		unlinkat(dirfd, "journal.tmp", 0);
		close(fd);
		return rc;
	}
	*installed = 1;
	*fdp = fd;
	return fsync_fd(dirfd);
}

/* --- replay --- */

struct reader {
	int fd;
	uint8_t *buf;
	size_t pos, end;        /* unread bytes are buf[pos..end) */
};

/* Makes n <= RBUF_SIZE bytes available at buf + pos. The caller has checked
 * them against the file size, so EOF here means the file shrank. */
static int reader_need(struct reader *rd, size_t n)
{
	if (rd->end - rd->pos >= n)
		return 0;
	memmove(rd->buf, rd->buf + rd->pos, rd->end - rd->pos);
	rd->end -= rd->pos;
	rd->pos = 0;
	while (rd->end < n) {
		ssize_t got = read(rd->fd, rd->buf + rd->end, RBUF_SIZE - rd->end);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return -EIO;
		rd->end += (size_t)got;
	}
	return 0;
}

struct replay {
	const char *path;
	int fd;
	uint64_t fsize;
	int tail_ok;            /* a torn last record is a crash, not corruption */
	int recover;
	journal_replay_cb cb;
	void *arg;
	uint64_t good;          /* offset after the last good record */
	uint64_t records;
	const char *why;        /* what is wrong with the bad record */
	int last;               /* the bad record reaches the end of the file */
	char *errbuf;
	size_t errlen;
};

/* Reads the header and checks magic and version. */
static int replay_header(struct replay *rp, struct reader *rd, const char magic[8])
{
	const uint8_t *p;
	uint32_t version;
	int rc;

	if (rp->fsize < HDR_SIZE) {
		snprintf(rp->errbuf, rp->errlen, "%s: truncated header (%llu bytes)",
			 rp->path, (unsigned long long)rp->fsize);
		return ERR_MALFORMED;
	}
	if ((rc = reader_need(rd, HDR_SIZE)) < 0) {
		snprintf(rp->errbuf, rp->errlen, "%s: %s", rp->path, err_str(rc));
		return rc;
	}
	p = rd->buf + rd->pos;
	rd->pos += HDR_SIZE;
	version = wire_get32(p + 8);
	if (memcmp(p, magic, 8) != 0 || version != JOURNAL_VERSION) {
		snprintf(rp->errbuf, rp->errlen, "%s: not a meshdns %s version %d "
			 "(magic or version mismatch)", rp->path,
			 magic == journal_magic ? "journal" : "snapshot", JOURNAL_VERSION);
		return ERR_MALFORMED;
	}
	rp->good = HDR_SIZE;
	return 0;
}

/* Checks the record at rp->good. Returns 1 with *r filled, 0 at the end of
 * the file, ERR_MALFORMED with rp->why and rp->last set, or -errno. */
static int replay_next(struct replay *rp, struct reader *rd, struct jrec *r)
{
	uint64_t left = rp->fsize - rp->good;
	uint32_t len, crc;
	const uint8_t *p;
	int rc;

	if (left == 0)
		return 0;
	rp->last = 1;
	if (left < REC_HDR) {
		rp->why = "short record header";
		return ERR_MALFORMED;
	}
	if ((rc = reader_need(rd, REC_HDR)) < 0)
		return rc;
	len = wire_get32(rd->buf + rd->pos);
	crc = wire_get32(rd->buf + rd->pos + 4);
	rp->last = (uint64_t)REC_HDR + len >= left;
	if (len == 0 || len > JOURNAL_PAYLOAD_MAX) {
		/* A torn write leaves a prefix of what was written: a length
		 * field that is whole is the true length, so one over the limit
		 * is damage, wherever it is, never a crash mid-write. */
		if (len > JOURNAL_PAYLOAD_MAX)
			rp->last = 0;
		rp->why = "bad payload length";
		return ERR_MALFORMED;
	}
	if ((uint64_t)REC_HDR + len > left) {
		rp->why = "length beyond end of file";
		return ERR_MALFORMED;
	}
	if ((rc = reader_need(rd, REC_HDR + len)) < 0)
		return rc;
	p = rd->buf + rd->pos + REC_HDR;
	if (journal_crc32c(p, len) != crc) {
		rp->why = "bad checksum";
		return ERR_MALFORMED;
	}
	if (journal_decode(p, len, r) < 0) {
		/* The checksum matched: this was written whole, not torn. */
		rp->last = 0;
		rp->why = "undecodable payload";
		return ERR_MALFORMED;
	}
	rd->pos += REC_HDR + len;
	rp->good += REC_HDR + len;
	return 1;
}

/* A bad record at rp->good: cut a torn tail (or, with recover, everything
 * from the record on), else report corruption. */
static int replay_bad(struct replay *rp)
{
	unsigned long long off = rp->good, dropped = rp->fsize - rp->good;
	int rc;

	if (!(rp->last && rp->tail_ok) && !rp->recover) {
		snprintf(rp->errbuf, rp->errlen, "%s: corrupt record at offset %llu (%s); "
			 "start with --recover to drop it and everything after it",
			 rp->path, off, rp->why);
		return ERR_MALFORMED;
	}
	if (rp->last && rp->tail_ok)
		log_warn("journal", "%s: torn record at offset %llu (%s), cut %llu bytes "
			 "(a write interrupted by a crash)", rp->path, off, rp->why, dropped);
	else
		log_warn("journal", "%s: corrupt record at offset %llu (%s), recover: "
			 "dropped it and everything after it (%llu bytes)",
			 rp->path, off, rp->why, dropped);
	if ((rc = cut_file(rp->fd, rp->good)) == 0)
		rc = fsync_fd(rp->fd);
	if (rc < 0) {
		snprintf(rp->errbuf, rp->errlen, "%s: cannot cut to offset %llu: %s",
			 rp->path, off, err_str(rc));
		return rc;
	}
	rp->fsize = rp->good;
	return 0;
}

/* Replays the file open on rp->fd through rp->cb. */
static int replay_file(struct replay *rp, const char magic[8])
{
	struct reader rd = { .fd = rp->fd };
	struct stat st;
	struct jrec r;
	int rc;

	if (fstat(rp->fd, &st) < 0) {
		rc = -errno;
		snprintf(rp->errbuf, rp->errlen, "%s: %s", rp->path, err_str(rc));
		return rc;
	}
	rp->fsize = (uint64_t)st.st_size;
	if (!(rd.buf = malloc(RBUF_SIZE)))
		return -ENOMEM;
	rc = replay_header(rp, &rd, magic);
	while (rc == 0 && (rc = replay_next(rp, &rd, &r)) == 1) {
		rp->records++;
		rc = rp->cb(rp->arg, &r);
		if (rc < 0)
			snprintf(rp->errbuf, rp->errlen, "%s: replay of the record before "
				 "offset %llu failed: %s", rp->path,
				 (unsigned long long)rp->good, err_str(rc));
		else
			rc = 0;
	}
	free(rd.buf);
	if (rc == ERR_MALFORMED && rp->why)
		return replay_bad(rp);
	if (rc < 0 && rc != ERR_MALFORMED && !rp->errbuf[0])
		snprintf(rp->errbuf, rp->errlen, "%s: %s", rp->path, err_str(rc));
	return rc;
}

/* --- open and close --- */

/* mkdir -p: creates dir and its missing parents. */
static int make_dirs(const char *dir)
{
	char path[PATH_MAX];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != 0)
			continue;
		if (path[i - 1] == '/')
			continue;
		path[i] = 0;
		if (mkdir(path, DIR_MODE) < 0 && errno != EEXIST)
			return -errno;
		path[i] = dir[i];
	}
	return 0;
}

/* Opens the directory and takes the lock that keeps a second meshdns out. */
static int open_dir(struct journal *j, const char *dir, char *errbuf, size_t errlen)
{
	int rc;

	if ((rc = make_dirs(dir)) < 0 ||
	    (j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = rc < 0 ? rc : -errno;
		snprintf(errbuf, errlen, "%s: cannot create or open state directory: %s",
			 dir, err_str(rc));
		return rc;
	}
	j->lockfd = openat(j->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, FILE_MODE);
	if (j->lockfd < 0) {
		rc = -errno;
		snprintf(errbuf, errlen, "%s/lock: %s", dir, err_str(rc));
		return rc;
	}
	while ((rc = flock(j->lockfd, LOCK_EX | LOCK_NB)) < 0 && errno == EINTR)
		;
	if (rc < 0 && errno == EWOULDBLOCK) {
		snprintf(errbuf, errlen, "%s/lock: another meshdns uses %s; stop it or "
			 "give this one another state_dir", dir, dir);
		return -EBUSY;
	}
	if (rc < 0) {
		rc = -errno;
		snprintf(errbuf, errlen, "%s/lock: %s", dir, err_str(rc));
		return rc;
	}
	/* Leftovers of a compaction that a crash interrupted. */
	unlinkat(j->dirfd, "snapshot.tmp", 0);
	unlinkat(j->dirfd, "journal.tmp", 0);
	return 0;
}

/* Opens dir/name for replay; a missing file gives 0 and *fd = -1. */
static int open_state_file(struct journal *j, const char *path, const char *name,
			   int *fd, char *errbuf, size_t errlen)
{
	int rc;

	*fd = openat(j->dirfd, name, O_RDWR | O_CLOEXEC);
	if (*fd >= 0 || errno == ENOENT)
		return 0;
	rc = -errno;
	snprintf(errbuf, errlen, "%s: %s", path, err_str(rc));
	return rc;
}

static int replay_snapshot(struct journal *j, const char *dir, struct replay *rp)
{
	char path[PATH_MAX];
	int rc;

	snprintf(path, sizeof(path), "%s/snapshot", dir);
	rc = open_state_file(j, path, "snapshot", &rp->fd, rp->errbuf, rp->errlen);
	if (rc < 0 || rp->fd < 0)
		return rc;
	rp->path = path;
	rp->tail_ok = 0;        /* written whole before its rename: never torn */
	rc = replay_file(rp, snapshot_magic);
	close(rp->fd);
	rp->fd = -1;
	return rc;
}

static int replay_journal(struct journal *j, const char *dir, struct replay *rp)
{
	char path[PATH_MAX];
	int rc, installed;

	snprintf(path, sizeof(path), "%s/journal", dir);
	rc = open_state_file(j, path, "journal", &j->fd, rp->errbuf, rp->errlen);
	if (rc == 0 && j->fd < 0) {
		rc = fresh_journal(j->dirfd, &j->fd, &installed);
		if (rc < 0)
			snprintf(rp->errbuf, rp->errlen, "%s: cannot create: %s", path,
				 err_str(rc));
	}
	if (rc < 0)
		return rc;
	rp->path = path;
	rp->fd = j->fd;
	rp->tail_ok = 1;
	rp->records = 0;
	rc = replay_file(rp, journal_magic);
	j->size = rp->fsize;
	j->records = rp->records;
	return rc;
}

int journal_open(struct journal **out, const char *dir, int recover,
		 journal_replay_cb cb, void *arg, char *errbuf, size_t errlen)
{
	struct journal *j;
	char local[256];
	struct replay rp = { .fd = -1, .recover = recover, .cb = cb, .arg = arg };
	int rc;

	*out = NULL;
	if (!errbuf || errlen == 0) {
		errbuf = local;
		errlen = sizeof(local);
	}
	errbuf[0] = 0;
	rp.errbuf = errbuf;
	rp.errlen = errlen;
	if (strlen(dir) + sizeof("/snapshot.tmp") > PATH_MAX) {
		snprintf(errbuf, errlen, "%.64s...: path too long", dir);
		return -ENAMETOOLONG;
	}
	if (!(j = calloc(1, sizeof(*j)))) {
		snprintf(errbuf, errlen, "%s: out of memory", dir);
		return -ENOMEM;
	}
	j->dirfd = j->lockfd = j->fd = j->cfd = -1;
	if ((rc = open_dir(j, dir, errbuf, errlen)) < 0 ||
	    (rc = replay_snapshot(j, dir, &rp)) < 0 ||
	    (rc = replay_journal(j, dir, &rp)) < 0) {
		journal_close(j);
		return rc;
	}
	*out = j;
	return 0;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	journal_compact_abort(j);
	if (j->fd >= 0)
		close(j->fd);
	if (j->lockfd >= 0)
		close(j->lockfd);       /* releases the flock */
	if (j->dirfd >= 0)
		close(j->dirfd);
	free(j->buf);
	free(j->cbuf);
	free(j);
}

/* --- appending --- */

int journal_append(struct journal *j, const struct jrec *recs, size_t n)
{
	size_t len = 0;
	int rc;

	if (n == 0)
		return 0;
	if (n > SIZE_MAX / REC_MAX)
		return -ENOMEM;
	if (j->bufcap < n * REC_MAX) {
		uint8_t *nb = realloc(j->buf, n * REC_MAX);

		if (!nb)
			return -ENOMEM;
		j->buf = nb;
		j->bufcap = n * REC_MAX;
	}
	for (size_t i = 0; i < n; i++) {
		if ((rc = encode_record(&recs[i], j->buf + len)) < 0)
			return rc;
		len += (size_t)rc;
	}
	/* Garbage left by an earlier failure must not end up between records. */
	if (j->cut_pending) {
		if ((rc = cut_file(j->fd, j->size)) < 0)
			return rc;
		j->cut_pending = 0;
	}
	if ((rc = write_all_at(j->fd, j->buf, len, j->size)) < 0) {
		if (cut_file(j->fd, j->size) < 0)
			j->cut_pending = 1;
		return rc;
	}
	j->size += len;
	j->records += n;
	return 0;
}

int journal_sync(struct journal *j)
{
	if (j->sync_err)
		return j->sync_err;
	while (fdatasync(j->fd) < 0) {
		if (errno != EINTR)
			return j->sync_err = -errno;
	}
	return 0;
}

uint64_t journal_size(const struct journal *j)
{
	return j->size;
}

uint64_t journal_records(const struct journal *j)
{
	return j->records;
}

/* --- compaction --- */

int journal_compact_begin(struct journal *j)
{
	int fd;

	if (j->cfd >= 0)
		return -EBUSY;
	if (!j->cbuf && !(j->cbuf = malloc(CBUF_SIZE)))
		return -ENOMEM;
	fd = create_tmp(j->dirfd, "snapshot.tmp", snapshot_magic);
	if (fd < 0)
		return fd;
	j->cfd = fd;
	j->coff = HDR_SIZE;
	j->clen = 0;
	j->cerr = 0;
	return 0;
}

static int compact_flush(struct journal *j)
{
	int rc = write_all_at(j->cfd, j->cbuf, j->clen, j->coff);

	if (rc < 0)
		return rc;
	j->coff += j->clen;
	j->clen = 0;
	return 0;
}

int journal_compact_add(struct journal *j, const struct jrec *r)
{
	int rc;

	if (j->cfd < 0)
		return -EINVAL;
	if (j->cerr)
		return j->cerr;
	if (CBUF_SIZE - j->clen < REC_MAX && (rc = compact_flush(j)) < 0)
		return j->cerr = rc;
	/* Sticky even for a record encode rejects: a snapshot without it would
	 * lose a live instance once the journal is emptied. */
	if ((rc = encode_record(r, j->cbuf + j->clen)) < 0)
		return j->cerr = rc;
	j->clen += (size_t)rc;
	return 0;
}

/* Puts the snapshot in place, then an empty journal. A failure before the
 * snapshot rename leaves everything as it was; one after it leaves the new
 * snapshot and the old journal, which replay to the same state. */
int journal_compact_commit(struct journal *j)
{
	int rc, fd = -1, installed;

	if (j->cfd < 0)
		return -EINVAL;
	rc = j->cerr;
	if (rc == 0)
		rc = compact_flush(j);
	if (rc == 0)
		rc = fsync_fd(j->cfd);
	if (close(j->cfd) < 0 && rc == 0)
		rc = -errno;
	j->cfd = -1;
	if (rc < 0) {
		unlinkat(j->dirfd, "snapshot.tmp", 0);
		return rc;
	}
	if ((rc = install(j->dirfd, "snapshot.tmp", "snapshot")) < 0)
		return rc;
	rc = fresh_journal(j->dirfd, &fd, &installed);
	if (!installed)
		return rc;
	close(j->fd);
	j->fd = fd;
	j->size = HDR_SIZE;
	j->records = 0;
	j->cut_pending = 0;
	/* The snapshot now holds everything: an old sync failure no longer
	 * hides lost data, but a failed directory fsync does. */
	j->sync_err = rc;
	return rc;
}

void journal_compact_abort(struct journal *j)
{
	if (j->cfd < 0)
		return;
	close(j->cfd);
	j->cfd = -1;
	unlinkat(j->dirfd, "snapshot.tmp", 0);
}
