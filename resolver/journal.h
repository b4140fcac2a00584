/* journal.h - the durable record of registrations: a snapshot plus an
 * append-only journal under state_dir.
 *
 * Every accepted change is appended as a checksummed record; journal_sync()
 * makes everything appended so far durable (fdatasync), and the caller
 * acknowledges updates only after the sync that covers them (group commit:
 * one sync for every update that arrived meanwhile). On open, the snapshot and
 * then the journal are replayed through a callback. A torn last record (a
 * crash in the middle of a write) fails its length or checksum and is cut off;
 * a bad record with good records after it is corruption, reported with its
 * offset, and stops the open unless recover is set (then everything from the
 * bad record on is dropped and the file is cut there).
 *
 * Compaction writes every live record into a new snapshot (temp file, fsync,
 * rename, fsync of the directory) and starts an empty journal, so replay time
 * is bounded by the number of live instances, not by history.
 *
 * File formats (all integers big-endian):
 *   header:  8 bytes magic ("MESHDNSJ" journal, "MESHDNSS" snapshot), u32 version (1)
 *   record:  u32 payload length, u32 CRC-32C of the payload, payload
 *   payload: u8 op, ns (wire name), u8 len + service label, u8 len + id label,
 *            u8 flags (1 = has4, 2 = has6, 4 = drained, 8 = drain_set), 4 bytes addr4, 16 bytes addr6,
 *            u16 port, u16 weight, u8 health, u64 lease expiry (unix s),
 *            u8 origin, u16 attrs length, attrs (TXT strings: u8 len + bytes)
 * Flags 4 and 8 (meshdns-ctl drain) came later in version 1: older builds
 * reject a record that has them as malformed. They are only written while an
 * instance is drained or for the undrain that follows.
 * This module does file I/O only: no libuv, no registry. */
#ifndef MESHDNS_JOURNAL_H
#define MESHDNS_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include "wire.h"

#define JOURNAL_PAYLOAD_MAX 4096

enum journal_op { JOURNAL_PUT = 1, JOURNAL_DEL = 2 };

struct jrec {
	uint8_t op;                  /* enum journal_op; DEL uses ns, svc and id only */
	uint8_t ns[WIRE_NAME_MAX];   /* namespace, lower-cased wire form */
	size_t ns_len;
	char svc[64];                /* NUL-terminated labels */
	char id[64];
	uint8_t has4, has6;
	uint8_t addr4[4];
	uint8_t addr6[16];
	uint16_t port;
	uint16_t weight;
	uint8_t health;              /* enum health_state of registry.h */
	uint8_t origin;              /* enum origin of registry.h */
	uint8_t drained;             /* with drain_set: the instance's drain state; */
	uint8_t drain_set;           /* without: a PUT keeps the state it replaces */
	uint64_t lease_expiry;       /* unix seconds, 0 = none */
	const uint8_t *attrs;        /* TXT strings; for replayed records, valid during the callback */
	uint16_t attrs_len;
};

struct journal;

/* Called for each replayed record in order; a negative return stops the open
 * with that code. */
typedef int (*journal_replay_cb)(void *arg, const struct jrec *r);

/* Opens (creating dir and files when missing) and replays. On failure returns
 * a negative code with "path: message" (naming the offset for corruption) in
 * errbuf. */
int journal_open(struct journal **out, const char *dir, int recover,
		 journal_replay_cb cb, void *arg, char *errbuf, size_t errlen);
void journal_close(struct journal *j);

/* Appends n records with one write, all or none: on a failed or short write
 * the file is cut back to where it was and -errno (e.g. -ENOSPC) returned. */
int journal_append(struct journal *j, const struct jrec *recs, size_t n);
/* fdatasync of the journal: every append made before the call is durable when
 * it returns 0. Safe to call from another thread than journal_append's while
 * no compaction runs. */
int journal_sync(struct journal *j);
/* Bytes in the journal file (not the snapshot), and records in it. */
uint64_t journal_size(const struct journal *j);
uint64_t journal_records(const struct journal *j);

/* Compaction: begin, add every live record, commit (or abort). After commit
 * the snapshot holds exactly the added records and the journal is empty. */
int journal_compact_begin(struct journal *j);
int journal_compact_add(struct journal *j, const struct jrec *r);
int journal_compact_commit(struct journal *j);
void journal_compact_abort(struct journal *j);

/* Encoding, exposed for tests and the fuzz target. journal_encode returns the
 * payload length or ERR_SPACE; journal_decode returns 0 or ERR_MALFORMED, with
 * r->attrs pointing into buf. */
int journal_encode(const struct jrec *r, uint8_t *buf, size_t cap);
int journal_decode(const uint8_t *buf, size_t len, struct jrec *r);
uint32_t journal_crc32c(const uint8_t *buf, size_t len);

#endif
