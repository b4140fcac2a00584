/* registrar.h - registrations on the event loop: UPDATE in, journal, group
 * commit, answer out; and lease expiry.
 *
 * An UPDATE is planned (update.c), appended to the journal and applied to the
 * registry, but its answer is held until an fdatasync that started after the
 * append has finished, and a view holding the change is published (the
 * daemon paces view builds; registrar_published()): one sync, run on libuv's
 * thread pool, covers every update that arrived while the previous one ran
 * (group commit). If the journal cannot be written, the update is not
 * applied and gets SERVFAIL; queries go on being answered. */
#ifndef MESHDNS_REGISTRAR_H
#define MESHDNS_REGISTRAR_H

#include <uv.h>
#include "registry.h"
#include "server.h"

struct registrar;

/* Called after the registry changed, to publish a new view: answers is 1
 * when answers changed (the UPDATE's answer waits for that view), 0 when
 * only leases moved (renewals; nothing waits). */
typedef void (*registrar_changed_cb)(void *arg, int answers);

/* Opens the journal under state_dir and replays it into reg. */
int registrar_new(struct registrar **out, uv_loop_t *loop, const char *state_dir,
		  int recover, struct registry *reg, registrar_changed_cb cb, void *arg,
		  char *errbuf, size_t errlen);
/* After a reload: the registry that updates now go to. */
void registrar_set_registry(struct registrar *r, struct registry *reg);
/* The server's UPDATE callback (server_update_cb); arg is the registrar. */
void registrar_on_update(void *arg, struct server_req *req, const uint8_t *msg, size_t len);
/* How busy the query path is, from 0 (no queries) to 1 (PACE_BUSY_QPS or
 * more; daemon.c): the sync's wait grows from commit_delay towards
 * REGISTRAR_BUSY_DELAY_MS with it (registrar.c, kick_sync). */
#define REGISTRAR_BUSY_DELAY_MS 50
void registrar_set_load(struct registrar *r, double share);
/* The daemon published a view built after every UPDATE applied so far:
 * answers whose sync is done and that waited for their change to be visible
 * leave now. */
void registrar_published(struct registrar *r);
/* meshdns-ctl: counts of UPDATEs accepted and refused since start, and the
 * journal's size in bytes (not the snapshot). */
void registrar_counts(const struct registrar *r, uint64_t *accepted, uint64_t *refused,
		      uint64_t *journal_bytes);
/* Drains or undrains an UPDATE instance of the registry: journals a PUT with
 * drain_set, syncs it (blocking: an operator's command, not a hot path) and
 * applies it. Returns 0 or a negative code. */
int registrar_set_drained(struct registrar *r, const struct instance *in, int drained);
/* For the metrics: UPDATEs answered NOERROR, refusals by reason (the label
 * names are registrar_why_names), fdatasync latency and the journal's size. */
enum registrar_why {
	REGISTRAR_WHY_TSIG, REGISTRAR_WHY_SCOPE, REGISTRAR_WHY_LIMIT, REGISTRAR_WHY_RATE,
	REGISTRAR_WHY_REPLAY, REGISTRAR_WHY_MALFORMED, REGISTRAR_WHY_PREREQ, REGISTRAR_WHY_ZONE,
	REGISTRAR_WHY_CONTENT, REGISTRAR_WHY_SERVFAIL, REGISTRAR_WHY_OTHER, REGISTRAR_NWHY
};
extern const char *const registrar_why_names[REGISTRAR_NWHY];
#define REGISTRAR_FSYNC_BUCKETS 14
extern const double registrar_fsync_bounds[REGISTRAR_FSYNC_BUCKETS];
struct expo_hist;
struct registrar_metrics {
	uint64_t accepted, refused[REGISTRAR_NWHY];
	const struct expo_hist *fsync;
	uint64_t journal_bytes, journal_records;
};
void registrar_get_metrics(const struct registrar *r, struct registrar_metrics *m);
/* Answers what is pending (after the last sync), then frees r once its
 * handles closed (uv_run must go on). */
void registrar_close(struct registrar *r);

#endif
