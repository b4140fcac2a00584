/* tsig.c - TSIG on the wire (see tsig.h). */
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "tsig.h"

enum { TYPE_TSIG = 250, CLASS_ANY = 255 };

/* ---- keyed HMAC contexts ---- */

/* One keyed context per (algorithm, secret), made on first use and reset,
 * not rebuilt, for every message: OpenSSL 3 looks the algorithm up and
 * allocates in every one-shot HMAC(). Entries are matched by content, so a
 * reload that keeps a key keeps its context, and one that drops it leaves
 * an entry that is reused or evicted later. */
#define MAC_CACHE 16

struct mac_entry {
	char *secret;           /* the base64 text, as in the config */
	char algorithm[32];
	EVP_MAC_CTX *ctx;       /* keyed */
	size_t size;            /* the MAC's length */
};

static struct mac_entry macs[MAC_CACHE];
static size_t mac_next;         /* the entry to evict next */
static EVP_MAC *hmac;

static void mac_entry_free(struct mac_entry *e)
{
	EVP_MAC_CTX_free(e->ctx);
	free(e->secret);
	memset(e, 0, sizeof(*e));
}

void tsig_cleanup(void)
{
	for (size_t i = 0; i < MAC_CACHE; i++)
		mac_entry_free(&macs[i]);
	EVP_MAC_free(hmac);
	hmac = NULL;
}

/* A context keyed with key and reset for a new MAC, or NULL (out of memory,
 * or an algorithm or secret the config check should have refused). */
static struct mac_entry *mac_begin(const struct cfg_key *key)
{
	size_t tl, pad = 0;
	uint8_t *secret;
	int slen, ok;
	struct mac_entry *e = NULL;
	const char *digest = !strcmp(key->algorithm, "hmac-sha256") ? "SHA256" :
			     !strcmp(key->algorithm, "hmac-sha512") ? "SHA512" : NULL;
	OSSL_PARAM params[2];

	if (!digest)
		return NULL;
	for (size_t i = 0; i < MAC_CACHE; i++)
		if (macs[i].ctx && !strcmp(macs[i].algorithm, key->algorithm) &&
		    !strcmp(macs[i].secret, key->secret))
			e = &macs[i];
	if (e)
		return EVP_MAC_init(e->ctx, NULL, 0, NULL) ? e : NULL;
	if (!hmac && !(hmac = EVP_MAC_fetch(NULL, "HMAC", NULL)))
		return NULL;
	tl = strlen(key->secret);
	/* The config checked the text: base64 in groups of 4, '=' only last. */
	while (pad < tl && key->secret[tl - 1 - pad] == '=')
		pad++;
	if (tl > 1 << 20 || !(secret = malloc(tl / 4 * 3 + 1)))
		return NULL;
	slen = EVP_DecodeBlock(secret, (const unsigned char *)key->secret, (int)tl);
	e = &macs[mac_next];
	mac_next = (mac_next + 1) % MAC_CACHE;
	mac_entry_free(e);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = slen >= (int)pad && (e->ctx = EVP_MAC_CTX_new(hmac)) &&
	     (e->secret = strdup(key->secret)) &&
	     EVP_MAC_init(e->ctx, secret, (size_t)slen - pad, params);
	OPENSSL_cleanse(secret, tl / 4 * 3 + 1);
	free(secret);
	if (!ok) {
		mac_entry_free(e);
		return NULL;
	}
	snprintf(e->algorithm, sizeof(e->algorithm), "%s", key->algorithm);
	e->size = EVP_MAC_CTX_get_mac_size(e->ctx);
	return e;
}

static int mac_add(struct mac_entry *e, const void *p, size_t n)
{
	return EVP_MAC_update(e->ctx, p, n) ? 0 : -1;
}

static void put48(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 6; i++)
		p[i] = (uint8_t)(v >> (40 - 8 * i));
}

/* The MAC of a message (RFC 8945 4.3): prior (the MAC it answers, with its
 * size), the message without its TSIG with v's original ID as its ID and
 * ARCOUNT as given, then v's TSIG variables, or its timers alone. Returns
 * its length (into out, TSIG_MAC_MAX bytes) or 0. */
static size_t mac_of(const struct cfg_key *key, const uint8_t *prior, size_t prior_size,
		     const uint8_t *msg, size_t len, uint16_t arcount, const struct tsig_rr *v,
		     int timers_only, uint8_t *out)
{
	struct mac_entry *e = mac_begin(key);
	uint8_t hdr[12], var[16];
	size_t n = 0;

	if (!e || e->size > TSIG_MAC_MAX || len < 12)
		return 0;
	memcpy(hdr, msg, 12);
	wire_set16(hdr, v->orig_id);
	wire_set16(hdr + 10, arcount);
	if ((prior_size && mac_add(e, prior, prior_size) < 0) || mac_add(e, hdr, 12) < 0 ||
	    mac_add(e, msg + 12, len - 12) < 0)
		return 0;
	if (timers_only) {
		put48(var, v->time_signed);
		wire_set16(var + 6, v->fudge);
		if (mac_add(e, var, 8) < 0)
			return 0;
	} else {
		wire_set16(var, CLASS_ANY);
		memset(var + 2, 0, 4);                  /* TTL */
		if (mac_add(e, v->name, wire_name_len(v->name)) < 0 || mac_add(e, var, 6) < 0 ||
		    mac_add(e, v->alg, wire_name_len(v->alg)) < 0)
			return 0;
		put48(var, v->time_signed);
		wire_set16(var + 6, v->fudge);
		wire_set16(var + 8, v->error);
		wire_set16(var + 10, v->other_len);
		if (mac_add(e, var, 12) < 0 ||
		    (v->other_len && mac_add(e, v->other, v->other_len) < 0))
			return 0;
	}
	if (!EVP_MAC_final(e->ctx, out, &n, TSIG_MAC_MAX) || n != e->size)
		return 0;
	return n;
}

/* ---- reading ---- */

int tsig_find(const uint8_t *msg, size_t len, struct tsig_rr *out)
{
	struct wire w;
	size_t at, rdend;

	if (len < 12 || wire_msg_scan_last(msg, len, &at) < 0)
		return ERR_MALFORMED;
	if (!at)
		return 0;
	wire_init_ro(&w, msg, len);
	w.pos = at;
	wire_name_read(&w, out->name, 1);
	if (wire_u16(&w) != TYPE_TSIG)
		return 0;
	out->at = at;
	/* RFC 8945 4.2: class ANY, TTL 0 (the MAC covers them as such). */
	if (wire_u16(&w) != CLASS_ANY || wire_u32(&w) != 0)
		return ERR_MALFORMED;
	rdend = wire_u16(&w);
	rdend += w.pos;
	wire_name_read(&w, out->alg, 1);
	out->time_signed = (uint64_t)wire_u16(&w) << 32;
	out->time_signed |= wire_u32(&w);
	out->fudge = wire_u16(&w);
	if (w.err || w.pos + 2 > len)
		return ERR_MALFORMED;
	out->mac = msg + w.pos;
	out->mac_len = wire_u16(&w);
	wire_skip(&w, out->mac_len);
	out->orig_id = wire_u16(&w);
	out->error = wire_u16(&w);
	out->other_len = wire_u16(&w);
	out->other = msg + (w.err ? 0 : w.pos);
	wire_skip(&w, out->other_len);
	return w.err || w.pos != rdend ? ERR_MALFORMED : 1;
}

/* The key whose name and algorithm are the record's. */
static const struct cfg_key *find_key(const struct config *cfg, const struct tsig_rr *t)
{
	for (size_t i = 0; i < cfg->nkeys; i++) {
		uint8_t w[WIRE_NAME_MAX], a[WIRE_NAME_MAX];

		if (wire_name_from_text(cfg->keys[i].name, w) > 0 && wire_name_eq(w, t->name) &&
		    wire_name_from_text(cfg->keys[i].algorithm, a) > 0 && wire_name_eq(a, t->alg))
			return &cfg->keys[i];
	}
	return NULL;
}

enum tsig_result tsig_verify(const struct config *cfg, const uint8_t *req, size_t len,
			     uint64_t now, struct tsig_check *out)
{
	struct tsig_rr t;
	const struct cfg_key *key;
	uint8_t mac[TSIG_MAC_MAX];
	size_t n;
	uint32_t fudge;
	int rc = tsig_find(req, len, &t);

	memset(out, 0, sizeof(*out));
	if (rc == 0)
		return TSIG_UNSIGNED;
	if (rc < 0)
		return TSIG_MALFORMED;
	out->time_signed = t.time_signed;
	out->mac = t.mac;
	out->mac_size = 2u + t.mac_len;
	if (!(key = find_key(cfg, &t))) {
		out->error = TSIG_BADKEY;
		return TSIG_FAILED;
	}
	/* A truncated MAC (RFC 8945 5.2.2.1) is not accepted: BADSIG. */
	n = mac_of(key, NULL, 0, req, t.at, (uint16_t)(wire_get16(req + 10) - 1), &t, 0, mac);
	if (!n || n != t.mac_len || CRYPTO_memcmp(mac, t.mac + 2, n)) {
		out->error = TSIG_BADSIG;
		return TSIG_FAILED;
	}
	/* The window is the client's fudge, but never more than tsig_fudge_max:
	 * a fudge of 65535 s would let a captured message be replayed for 18 h. */
	fudge = t.fudge > cfg->tsig_fudge_max ? cfg->tsig_fudge_max : t.fudge;
	if ((now > t.time_signed ? now - t.time_signed : t.time_signed - now) > fudge) {
		out->error = TSIG_BADTIME;
		out->key = key;         /* the BADTIME answer is signed */
		return TSIG_FAILED;
	}
	out->key = key;
	return TSIG_OK;
}

/* ---- writing ---- */

/* Appends the TSIG record v with mac (mac_len bytes) to msg and counts it. */
static long put_record(uint8_t *msg, size_t len, size_t cap, const struct tsig_rr *v,
		       const uint8_t *mac, uint16_t mac_len)
{
	struct wire w;
	size_t rdlen_at;

	wire_init(&w, msg, cap);
	w.pos = len;
	wire_put(&w, v->name, wire_name_len(v->name));
	wire_put_u16(&w, TYPE_TSIG);
	wire_put_u16(&w, CLASS_ANY);
	wire_put_u32(&w, 0);
	rdlen_at = w.pos;
	wire_put_u16(&w, 0);
	wire_put(&w, v->alg, wire_name_len(v->alg));
	wire_put_u16(&w, (uint16_t)(v->time_signed >> 32));
	wire_put_u32(&w, (uint32_t)v->time_signed);
	wire_put_u16(&w, v->fudge);
	wire_put_u16(&w, mac_len);
	if (mac_len)
		wire_put(&w, mac, mac_len);
	wire_put_u16(&w, v->orig_id);
	wire_put_u16(&w, v->error);
	wire_put_u16(&w, v->other_len);
	if (v->other_len)
		wire_put(&w, v->other, v->other_len);
	if (w.err || wire_get16(msg + 10) == 0xFFFF)
		return ERR_SPACE;
	wire_poke_u16(&w, rdlen_at, (uint16_t)(w.pos - rdlen_at - 2));
	wire_set16(msg + 10, (uint16_t)(wire_get16(msg + 10) + 1));
	return (long)w.pos;
}

long tsig_sign(const struct cfg_key *key, const uint8_t *prior, size_t prior_size,
	       int timers_only, uint64_t now, uint16_t fudge, uint8_t *msg, size_t len,
	       size_t cap, uint8_t *mac_out)
{
	struct tsig_rr v = { .time_signed = now, .fudge = fudge };
	uint8_t mac[TSIG_MAC_MAX];
	size_t n;
	long end;

	if (len < 12 || wire_name_from_text(key->name, v.name) < 0 ||
	    wire_name_from_text(key->algorithm, v.alg) < 0)
		return ERR_SPACE;
	wire_name_lower(v.name);
	wire_name_lower(v.alg);
	v.orig_id = wire_get16(msg);
	n = mac_of(key, prior, prior_size, msg, len, wire_get16(msg + 10), &v, timers_only, mac);
	if (!n)
		return -ENOMEM;
	end = put_record(msg, len, cap, &v, mac, (uint16_t)n);
	if (end >= 0 && mac_out) {
		wire_set16(mac_out, (uint16_t)n);
		memcpy(mac_out + 2, mac, n);
	}
	return end;
}

long tsig_put_error(const struct tsig_rr *req, const struct cfg_key *key, uint16_t id,
		    uint16_t error, uint64_t now, uint8_t *msg, size_t len, size_t cap)
{
	uint8_t other[6], mac[TSIG_MAC_MAX];
	struct tsig_rr v = *req;   /* the request's names, time signed and fudge */
	size_t n = 0;

	put48(other, now);
	v.orig_id = id;
	v.error = error;
	v.other = other;
	v.other_len = error == TSIG_BADTIME ? 6 : 0;
	/* The request's time signed, not ours: a client whose clock is off
	 * can still check the answer, and learns the offset from other. */
	if (key && error == TSIG_BADTIME && len >= 12 &&
	    !(n = mac_of(key, req->mac, 2u + req->mac_len, msg, len, wire_get16(msg + 10), &v, 0,
			 mac)))
		return -ENOMEM;
	return put_record(msg, len, cap, &v, n ? mac : NULL, (uint16_t)n);
}
