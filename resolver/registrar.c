/* registrar.c - UPDATE handling, group commit and lease expiry (registrar.h).
 *
 * Pending answers wait in two lists: `waiting` (appended, no sync started
 * since) and `syncing` (covered by the sync in flight). When a sync ends,
 * its answers go out (or SERVFAIL, if it failed) and, if more updates came
 * meanwhile, the next sync starts at once. Compaction runs between syncs,
 * when the journal holds many more records than there are live instances. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "err.h"
#include "expo.h"
#include "journal.h"
#include "log.h"
#include "registrar.h"
#include "replay.h"
#include "tbucket.h"
#include "update.h"

#define COMPACT_MIN_RECORDS 10000

/* A held answer: msg (NOERROR) once the sync succeeds, else the SERVFAIL
 * answer after it, signed on its own: flipping the rcode of the signed
 * NOERROR answer would break its TSIG MAC, and clients drop it. */
struct answer {
	struct answer *next;
	struct server_req *req;
	uint64_t seq;                /* the applied_seq its change made */
	size_t len, fail_len;
	uint8_t msg[];
};

struct registrar {
	uv_loop_t *loop;
	struct registry *reg;
	struct journal *j;
	registrar_changed_cb changed;
	void *arg;
	uv_timer_t expiry;
	uv_timer_t commit;           /* starts a sync commit_delay after the first waiting update */
	uint64_t commit_delay_ns;    /* the config's commit_delay */
	double load;                 /* 0..1: how busy the query path is (registrar_set_load) */
	uint64_t first_wait_ns;      /* when the oldest waiting update arrived */
	int handles;                 /* timers not yet closed */
	uint64_t armed;              /* unix second the expiry timer is set for; 0 none */
	uv_work_t work;
	int sync_rc, syncing_now, closing, open;
	int sync_failed;             /* a sync failed; no snapshot has covered it yet */
	struct answer *waiting, *syncing;
	struct answer **waiting_tail; /* &last->next of waiting (appends are O(1)) */
	/* Synced, waiting for a view that holds their change (the daemon paces
	 * view builds): answered by registrar_published(). */
	struct answer *ready, **ready_tail;
	uint64_t applied_seq;        /* UPDATEs applied to the registry so far */
	uint64_t published_seq;      /* of those, the ones the published view holds */
	struct tbucket *buckets;     /* one per key of reg->cfg: update_rate */
	size_t nbuckets;
	struct replay replay;        /* MACs of verified UPDATEs: tsig_replay_cache */
	uint64_t overflows_logged;
	struct update_plan plan;
	uint64_t sync_ns;            /* how long the last fdatasync took (set by sync_work) */
	uint64_t accepted, refused[REGISTRAR_NWHY];
	struct expo_hist fsync;      /* meshdns_journal_fsync_seconds */
	uint8_t out[65535];
};

static uint64_t unix_now(void)
{
	return (uint64_t)time(NULL);
}

static uint64_t mono_ms(void)
{
	return uv_hrtime() / 1000000u;
}

static int replay_one(void *arg, const struct jrec *rec)
{
	struct registrar *r = arg;
	int rc = registry_apply(r->reg, rec, 0);

	if (rc == ERR_NOTFOUND || rc == ERR_EXISTS) {
		log_warn("journal", "skipping %s.%s: its service is no longer configured, or the id"
			 " is now declared in the config", rec->id, rec->svc);
		return 0;
	}
	return rc;
}

static void expiry_due(uv_timer_t *t);

/* Leases end on whole unix seconds; the timer is armed from a millisecond
 * clock so it fires at the second, not up to a second after it. */
static void arm_at(struct registrar *r, uint64_t next);

/* Finds the earliest lease (a scan of every instance: at start, on reload
 * and when the timer fired) and sets the timer for it. */
static void arm_expiry(struct registrar *r)
{
	if (r->closing)
		return;
	arm_at(r, registry_next_expiry(r->reg));
}

/* Sets the expiry timer for unix second next (0: stop it). */
static void arm_at(struct registrar *r, uint64_t next)
{
	uint64_t now_ms;
	struct timespec ts;

	r->armed = next;
	if (!next) {
		uv_timer_stop(&r->expiry);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	uv_update_time(r->loop);
	uv_timer_start(&r->expiry, expiry_due, next * 1000 > now_ms ? next * 1000 - now_ms : 0, 0);
}

static void kick_sync(struct registrar *r);

/* The registry changed, and answers with it (visible) or only leases.
 * A visible change counts as applied: answers held from now on wait for
 * the view that shows it, whatever made it (an UPDATE, an expiry, a drain). */
static void changed(struct registrar *r, int visible)
{
	if (visible)
		r->applied_seq++;
	r->changed(r->arg, visible);
}

static void expiry_due(uv_timer_t *t)
{
	struct registrar *r = t->data;
	struct jrec gone[64];
	size_t n, total = 0;

	while ((n = registry_expire(r->reg, unix_now(), gone, 64)) > 0) {
		total += n;
		for (size_t i = 0; i < n; i++)
			log_info("registry", "lease of %s.%s ended: removed", gone[i].id, gone[i].svc);
		if (r->j && journal_append(r->j, gone, n) < 0)
			log_err("journal", "cannot record %zu lease expiries; they will be found"
				" expired again after a restart", n);
		if (n < 64)
			break;
	}
	if (total)      /* renewals move leases: the timer often finds none ended */
		changed(r, 1);
	kick_sync(r);
	arm_expiry(r);
}

static void expiry_closed(uv_handle_t *h);

int registrar_new(struct registrar **out, uv_loop_t *loop, const char *state_dir,
		  int recover, struct registry *reg, registrar_changed_cb cb, void *arg,
		  char *errbuf, size_t errlen)
{
	struct registrar *r = calloc(1, sizeof(*r));
	int rc;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	r->loop = loop;
	r->ready_tail = &r->ready;
	r->waiting_tail = &r->waiting;
	expo_hist_init(&r->fsync, registrar_fsync_bounds, REGISTRAR_FSYNC_BUCKETS);
	r->reg = reg;
	if (reg->cfg->nkeys && !(r->buckets = calloc(reg->cfg->nkeys, sizeof(*r->buckets)))) {
		free(r);
		return -ENOMEM;
	}
	r->nbuckets = reg->cfg->nkeys;
	if (replay_init(&r->replay, reg->cfg->tsig_replay_cache) < 0) {
		free(r->buckets);
		free(r);
		return -ENOMEM;
	}
	r->changed = cb;
	r->arg = arg;
	rc = journal_open(&r->j, state_dir, recover, replay_one, r, errbuf, errlen);
	if (rc < 0) {
		replay_close(&r->replay);
		free(r->buckets);
		free(r);
		return rc;
	}
	if ((rc = uv_timer_init(loop, &r->expiry)) < 0) {
		journal_close(r->j);
		replay_close(&r->replay);
		free(r->buckets);
		free(r);
		return rc;
	}
	if ((rc = uv_timer_init(loop, &r->commit)) < 0) {
		/* expiry is initialised: it must be closed, so r lives on
		 * until its close callback. */
		r->handles = 1;
		r->open = 0;
		r->expiry.data = r;
		uv_close((uv_handle_t *)&r->expiry, expiry_closed);
		return rc;
	}
	r->expiry.data = r->commit.data = r;
	r->handles = 2;
	r->open = 1;
	r->commit_delay_ns = (uint64_t)reg->cfg->commit_delay_ms * 1000000u;
	log_info("journal", "replayed dir=%s records=%llu", state_dir,
		 (unsigned long long)journal_records(r->j));
	arm_expiry(r);
	*out = r;
	return 0;
}

void registrar_set_registry(struct registrar *r, struct registry *reg)
{
	struct tbucket *b = NULL;

	/* The keys may have changed: every key starts with a full bucket. When
	 * the allocation fails, updates go unlimited until the next reload. */
	if (reg->cfg->nkeys && !(b = calloc(reg->cfg->nkeys, sizeof(*b))))
		log_err("update", "out of memory: update_rate is not enforced until the next reload");
	free(r->buckets);
	r->buckets = b;
	r->nbuckets = b ? reg->cfg->nkeys : 0;
	/* A new cache size starts an empty cache; the same size keeps it. */
	if (reg->cfg->tsig_replay_cache != r->replay.cap) {
		struct replay nr;

		if (replay_init(&nr, reg->cfg->tsig_replay_cache) < 0) {
			log_err("update", "out of memory: keeping the old tsig_replay_cache size");
		} else {
			replay_close(&r->replay);
			r->replay = nr;
		}
	}
	r->reg = reg;
	r->commit_delay_ns = (uint64_t)reg->cfg->commit_delay_ms * 1000000u;
	arm_expiry(r);
}

void registrar_set_load(struct registrar *r, double share)
{
	r->load = share < 0 ? 0 : share > 1 ? 1 : share;
}

/* commit_delay, stretched towards REGISTRAR_BUSY_DELAY_MS by the load. */
static uint64_t sync_delay_ns(const struct registrar *r)
{
	uint64_t busy = (uint64_t)REGISTRAR_BUSY_DELAY_MS * 1000000u;

	return r->commit_delay_ns >= busy ? r->commit_delay_ns :
	       r->commit_delay_ns + (uint64_t)((double)(busy - r->commit_delay_ns) * r->load);
}

/* Sends a's answer: the NOERROR one when ok, else its SERVFAIL one. */
static void reply(struct registrar *r, struct answer *a, int ok)
{
	if (ok)
		r->accepted++;
	else
		r->refused[REGISTRAR_WHY_SERVFAIL]++;
	if (ok)
		server_reply(a->req, a->msg, a->len);
	else if (a->fail_len)
		server_reply(a->req, a->msg + a->len, a->fail_len);
	else {
		if (a->len >= 4) /* no signed SERVFAIL: an unsigned-looking one */
			a->msg[3] = (uint8_t)((a->msg[3] & 0xF0) | 2);
		server_reply(a->req, a->msg, a->len);
	}
	free(a);
}

static void sync_work(uv_work_t *w)
{
	struct registrar *r = w->data;
	uint64_t t0 = uv_hrtime();

	r->sync_rc = journal_sync(r->j);
	r->sync_ns = uv_hrtime() - t0;
}

/* Rewrites the journal as a snapshot of the live UPDATE instances; 0 once
 * the snapshot is durable. */
static int compact(struct registrar *r)
{
	uint8_t buf[1024];
	struct jrec rec;
	int rc;

	if ((rc = journal_compact_begin(r->j)) < 0)
		return rc;
	for (size_t i = 0; i < r->reg->nns; i++)
		for (size_t s = 0; s < r->reg->ns[i].nservices; s++)
			for (size_t k = 0; k < r->reg->ns[i].services[s].n; k++) {
				const struct instance *in = r->reg->ns[i].services[s].inst[k];

				if (in->origin != ORIGIN_UPDATE)
					continue;
				if ((rc = registry_to_jrec(in, &rec, buf, sizeof(buf))) < 0 ||
				    (rc = journal_compact_add(r->j, &rec)) < 0) {
					journal_compact_abort(r->j);
					return rc;
				}
			}
	return journal_compact_commit(r->j);
}

static void maybe_compact(struct registrar *r)
{
	uint64_t live = 0;
	int rc;

	for (size_t i = 0; i < r->reg->nns; i++)
		for (size_t s = 0; s < r->reg->ns[i].nservices; s++)
			live += r->reg->ns[i].services[s].n;
	if (journal_records(r->j) < COMPACT_MIN_RECORDS || journal_records(r->j) < 4 * live)
		return;
	if ((rc = compact(r)) < 0)
		log_warn("journal", "compaction failed (%s); the journal keeps growing", err_str(rc));
	else
		log_info("journal", "compacted live=%llu", (unsigned long long)live);
}

/* After a failed sync nothing more is appended (what reached the disk is
 * unknown) until a snapshot of the registry is durable: 0 once it is. */
static int recover_sync(struct registrar *r)
{
	int rc;

	if (!r->sync_failed)
		return 0;
	if (r->syncing_now)
		return -EAGAIN; /* compaction may not run beside a sync */
	if ((rc = compact(r)) < 0)
		return rc;
	r->sync_failed = 0;
	log_info("journal", "a snapshot of the registry is durable again: accepting updates");
	return 0;
}

static void sync_done(uv_work_t *w, int status)
{
	struct registrar *r = w->data;
	struct answer *a = r->syncing, *next;
	int ok = status == 0 && r->sync_rc == 0;

	r->syncing = NULL;
	r->syncing_now = 0;
	if (status == 0)
		expo_hist_observe(&r->fsync, (double)r->sync_ns / 1e9, 1);
	if (!ok)
		r->sync_failed = 1;
	if (!ok)
		log_err("journal", "fdatasync failed: %s; those updates are answered SERVFAIL",
			err_str(status ? status : r->sync_rc));
	for (; a; a = next) {
		next = a->next;
		if (ok && a->seq > r->published_seq) {
			/* Durable, but not in the answers yet: a client that
			 * queries after its NOERROR must see its change. */
			a->next = NULL;
			*r->ready_tail = a;
			r->ready_tail = &a->next;
			continue;
		}
		reply(r, a, ok);
	}
	if (!r->waiting && !r->closing)
		maybe_compact(r);
	kick_sync(r);
	if (r->closing && !r->syncing_now)
		registrar_close(r);
}

static void start_sync(struct registrar *r);

static void commit_due(uv_timer_t *t)
{
	struct registrar *r = t->data;

	if (!r->syncing_now && r->waiting)
		start_sync(r);
}

/* Group commit: every update that arrived while a sync ran shares the next
 * one. With commit_delay, a sync also waits until the oldest waiting update
 * is that old, so that updates arriving one by one (agents renewing) share
 * syncs too: fewer fdatasyncs for a little latency. Under query load the
 * wait grows towards REGISTRAR_BUSY_DELAY_MS (registrar_set_load): each
 * sync's hand-off to the thread pool and its disk write cost the queries
 * some 180 us of CPU on a VM, and a renewal's answer has no hurry (agents
 * renew with two thirds of the lease left). When every waiting
 * answer also waits for a view not yet published (changes to the answers;
 * the list is in arrival order, so the first has the lowest seq), the sync
 * waits for that view (registrar_published): one sync per view, not one
 * per commit_delay; such an answer comes the sync's duration after its
 * view instead of with it. */
static void kick_sync(struct registrar *r)
{
	uint64_t age, delay = sync_delay_ns(r);

	if (r->syncing_now || !r->waiting)
		return;
	if (!r->closing && r->waiting->seq > r->published_seq)
		return;
	age = uv_hrtime() - r->first_wait_ns;
	if (delay && !r->closing && age < delay) {
		if (!uv_is_active((uv_handle_t *)&r->commit))
			uv_timer_start(&r->commit, commit_due, (delay - age + 999999) / 1000000, 0);
		return;
	}
	start_sync(r);
}

static void start_sync(struct registrar *r)
{
	uv_timer_stop(&r->commit);
	r->syncing = r->waiting;
	r->waiting = NULL;
	r->waiting_tail = &r->waiting;
	r->syncing_now = 1;
	r->work.data = r;
	if (uv_queue_work(r->loop, &r->work, sync_work, sync_done) < 0) {
		/* No thread pool: sync here, on the loop. */
		sync_work(&r->work);
		sync_done(&r->work, 0);
	}
}

void registrar_published(struct registrar *r)
{
	struct answer *a = r->ready, *next;

	r->published_seq = r->applied_seq;
	r->ready = NULL;
	r->ready_tail = &r->ready;
	for (; a; a = next) {
		next = a->next;
		reply(r, a, 1);
	}
	if (!r->closing)        /* registrar_close syncs what waits itself */
		kick_sync(r);
}

static void hold(struct registrar *r, struct server_req *req, const uint8_t *msg, size_t len,
		 const uint8_t *fail, size_t fail_len)
{
	struct answer *a = malloc(sizeof(*a) + len + fail_len);

	if (!a) {
		server_reply(req, NULL, 0);
		return;
	}
	a->next = NULL;
	a->req = req;
	a->seq = r->applied_seq;
	a->len = len;
	a->fail_len = fail_len;
	memcpy(a->msg, msg, len);
	if (fail_len)
		memcpy(a->msg + len, fail, fail_len);
	if (!r->waiting)
		r->first_wait_ns = uv_hrtime();
	*r->waiting_tail = a;
	r->waiting_tail = &a->next;
}

/* Refuses p when it is an exact copy of a verified UPDATE seen inside the
 * TSIG window (the MAC covers the whole message, ID and time included, so
 * only a copy has the same MAC). REFUSED rather than NOTAUTH: the signature
 * is good, and NOTAUTH would tell a client its key is wrong. Returns 1 when
 * refused. */
static int replayed(struct registrar *r, struct update_plan *p)
{
	const struct config *cfg = r->reg->cfg;
	uint64_t now = unix_now();

	if (!p->key || p->request_mac_len <= 2)
		return 0;
	if (!replay_seen(&r->replay, p->request_mac + 2, p->request_mac_len - 2u, now,
			 p->time_signed + cfg->tsig_fudge_max)) {
		if (r->replay.overflows > r->overflows_logged) {
			log_warn("update", "tsig_replay_cache is too small for the update rate: MACs"
				 " still inside the TSIG window were forgotten overflows=%llu",
				 (unsigned long long)r->replay.overflows);
			r->overflows_logged = r->replay.overflows * 2;
		}
		return 0;
	}
	p->rcode = 5;
	p->nchanges = p->nvisible = 0;
	snprintf(p->why_buf, sizeof(p->why_buf), "replay: an UPDATE with this TSIG MAC was already"
		 " received; sign every message afresh");
	p->why = p->why_buf;
	return 1;
}

/* Refuses p (REFUSED + EDE text) when it is verified but its key is over
 * update_rate. Refusals before TSIG verified cost no token: only the key's
 * holder can spend its tokens. */
static void rate_limit(struct registrar *r, struct update_plan *p)
{
	const struct config *cfg = r->reg->cfg;
	size_t k;

	if (!p->key || !cfg->update_rate || p->key < cfg->keys ||
	    (k = (size_t)(p->key - cfg->keys)) >= r->nbuckets)
		return;
	if (tbucket_take(&r->buckets[k], cfg->update_rate, cfg->update_burst, mono_ms() + 1))
		return;
	p->rcode = 5;
	p->nchanges = p->nvisible = 0;
	snprintf(p->why_buf, sizeof(p->why_buf), "limit update_rate=%u/s (burst %u) for key %.60s:"
		 " retry later", cfg->update_rate, cfg->update_burst, p->key->name);
	p->why = p->why_buf;
}

/* The reason label of a refusal, from its rcode and EDE text (update.c and
 * the checks above write those texts). */
static enum registrar_why refusal_why(const struct update_plan *p)
{
	const char *w = p->why ? p->why : "";

	switch (p->rcode) {
	case 1: return REGISTRAR_WHY_MALFORMED;           /* FORMERR */
	case 2: return REGISTRAR_WHY_SERVFAIL;
	case 9:                                           /* NOTAUTH */
		return !strncmp(w, "this server is not authoritative", 32) ? REGISTRAR_WHY_ZONE
									   : REGISTRAR_WHY_TSIG;
	case 6: case 7: case 8: case 3: return REGISTRAR_WHY_PREREQ;  /* YX/NX */
	case 10: return REGISTRAR_WHY_ZONE;               /* NOTZONE */
	case 0: return REGISTRAR_WHY_OTHER;               /* NOERROR but nothing applied */
	default: break;
	}
	if (!strncmp(w, "replay:", 7))
		return REGISTRAR_WHY_REPLAY;
	if (!strncmp(w, "limit update_rate", 17))
		return REGISTRAR_WHY_RATE;
	if (!strncmp(w, "limit ", 6) || strstr(w, "at most"))
		return REGISTRAR_WHY_LIMIT;
	if (!strncmp(w, "updates must be signed", 22))
		return REGISTRAR_WHY_TSIG;
	if (!strncmp(w, "key ", 4) && strstr(w, " may not change "))
		return REGISTRAR_WHY_SCOPE;
	return REGISTRAR_WHY_CONTENT;
}

const char *const registrar_why_names[REGISTRAR_NWHY] = {
	"tsig", "scope", "limit", "rate", "replay", "malformed", "prerequisite", "zone",
	"content", "servfail", "other"
};

void registrar_get_metrics(const struct registrar *r, struct registrar_metrics *m)
{
	m->accepted = r->accepted;
	memcpy(m->refused, r->refused, sizeof(m->refused));
	m->fsync = &r->fsync;
	m->journal_bytes = journal_size(r->j);
	m->journal_records = journal_records(r->j);
}

const double registrar_fsync_bounds[REGISTRAR_FSYNC_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5
};

void registrar_on_update(void *arg, struct server_req *req, const uint8_t *msg, size_t len)
{
	struct registrar *r = arg;
	struct update_plan *p = &r->plan;
	uint64_t now = unix_now();
	size_t n, nf;
	int rc, applied = 0;

	if (r->closing || update_plan(r->reg, msg, len, now, p) < 0) {
		if (!r->closing)
			r->refused[REGISTRAR_WHY_MALFORMED]++;
		server_reply(req, NULL, 0);
		return;
	}
	if (!replayed(r, p))
		rate_limit(r, p);
	/* After a failed sync, a message that changes nothing may assert a
	 * change that never reached the disk (a client retrying what got
	 * SERVFAIL): it waits for a durable snapshot too. */
	if (p->rcode == 0 && (p->nchanges || r->sync_failed)) {
		rc = recover_sync(r);
		if (rc < 0)
			log_err("journal", "a sync failed and no snapshot could be written since (%s):"
				" update refused with SERVFAIL", err_str(rc));
		else if (p->nchanges && (rc = journal_append(r->j, p->changes, p->nchanges)) < 0)
			log_err("journal", "cannot append (%s): update refused with SERVFAIL",
				err_str(rc));
		if (rc < 0) {
			p->rcode = 2;
		} else if (p->nchanges) {
			for (size_t i = 0; i < p->nchanges; i++)
				if (registry_apply(r->reg, &p->changes[i], mono_ms()) < 0)
					log_err("registry", "journaled change to %s.%s did not apply",
						p->changes[i].id, p->changes[i].svc);
			applied = 1;
		}
	}
	if (p->rcode)
		log_info("update", "refused rcode=%d why=\"%s\"", p->rcode, p->why ? p->why : "");
	n = update_answer(p, msg, len, now, r->out, sizeof(r->out));
	if (!applied && (p->rcode || (!r->waiting && !r->syncing_now &&
				      r->applied_seq == r->published_seq))) {
		if (p->rcode)
			r->refused[refusal_why(p)]++;
		else
			r->accepted++;      /* nothing to change: prerequisites only, or the same records */
		server_reply(req, r->out, n);
		return;
	}
	if (applied)
		log_info("update", "accepted changes=%zu lease=%u%s", p->nchanges, p->lease,
			 p->nvisible ? "" : " (renewal)");
	/* Answers change: this answer waits for the view that shows them. A
	 * renewal, or a message that changes nothing while earlier changes are
	 * still on their way (they may be what it asserts), waits for the sync
	 * and the views already due. */
	if (applied)
		changed(r, p->nvisible > 0);
	/* Only a lease ending sooner than the timer moves it: no scan here. */
	for (size_t i = 0; i < p->nchanges; i++) {
		uint64_t e = p->changes[i].op == JOURNAL_PUT ? p->changes[i].lease_expiry : 0;

		if (e && !r->closing && (!r->armed || e < r->armed))
			arm_at(r, e);
	}
	p->rcode = 2; /* the answer if the sync fails */
	nf = update_answer(p, msg, len, now, r->out + n, sizeof(r->out) - n);
	p->rcode = 0;
	hold(r, req, r->out, n, r->out + n, nf);
	kick_sync(r);
}

static void expiry_closed(uv_handle_t *h)
{
	struct registrar *r = h->data;

	if (--r->handles > 0)
		return;
	journal_close(r->j);
	replay_close(&r->replay);
	free(r->buckets);
	free(r);
}

void registrar_counts(const struct registrar *r, uint64_t *accepted, uint64_t *refused,
		      uint64_t *journal_bytes)
{
	*accepted = r->accepted;
	*refused = 0;
	for (size_t i = 0; i < REGISTRAR_NWHY; i++)
		*refused += r->refused[i];
	*journal_bytes = r->j ? journal_size(r->j) : 0;
}

int registrar_set_drained(struct registrar *r, const struct instance *in, int drained)
{
	uint8_t buf[4096];
	struct jrec rec;
	int rc;

	if (r->closing || !r->j)
		return -EAGAIN;
	if ((rc = recover_sync(r)) < 0 || (rc = registry_to_jrec(in, &rec, buf, sizeof(buf))) < 0)
		return rc;
	rec.drained = drained != 0;
	rec.drain_set = 1;
	if ((rc = journal_append(r->j, &rec, 1)) < 0)
		return rc;
	if ((rc = journal_sync(r->j)) < 0) {
		r->sync_failed = 1;   /* what reached the disk is unknown: snapshot next */
		return rc;
	}
	if ((rc = registry_apply(r->reg, &rec, mono_ms())) < 0)
		return rc;
	changed(r, 1);
	return 0;
}

void registrar_close(struct registrar *r)
{
	r->closing = 1;
	registrar_published(r); /* the last view is what the server had */
	if (r->syncing_now)
		return; /* sync_done calls us again */
	if (r->waiting) {
		/* Appended but never synced: make them durable before answering. */
		int ok = journal_sync(r->j) == 0;

		for (struct answer *a = r->waiting, *next; a; a = next) {
			next = a->next;
			reply(r, a, ok);
		}
		r->waiting = NULL;
		r->waiting_tail = &r->waiting;
	}
	if (r->open) {
		r->open = 0;
		uv_close((uv_handle_t *)&r->expiry, expiry_closed);
		uv_close((uv_handle_t *)&r->commit, expiry_closed);
	}
}
