/* srv.c - SRV answers and their glue (see srv.h). */
#include <netinet/in.h>
#include <string.h>
#include "err.h"
#include "srv.h"

#define T_A 1
#define T_AAAA 28
#define T_SRV 33

static void add_addr(struct srv_set *s, const uint8_t *owner, size_t olen, uint16_t type,
		     const uint8_t *rd, uint16_t rdlen)
{
	for (size_t i = 0; i < s->n; i++) {
		struct srv_target *t = &s->t[i];
		struct sockaddr_storage *ss;

		if (t->name_len != olen || memcmp(t->name, owner, olen) || t->naddr >= 2)
			continue;
		ss = &t->addr[t->naddr];
		memset(ss, 0, sizeof(*ss));
		if (type == T_A && rdlen == 4) {
			struct sockaddr_in *a = (struct sockaddr_in *)ss;

			a->sin_family = AF_INET;
			a->sin_port = htons(t->port);
			memcpy(&a->sin_addr, rd, 4);
			t->naddr++;
		} else if (type == T_AAAA && rdlen == 16) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

			a->sin6_family = AF_INET6;
			a->sin6_port = htons(t->port);
			memcpy(&a->sin6_addr, rd, 16);
			t->naddr++;
		}
	}
}

static void add_srv(struct srv_set *s, uint32_t ttl, struct wire *w, uint16_t rdlen)
{
	struct srv_target t;
	size_t end = w->pos + rdlen;

	memset(&t, 0, sizeof(t));
	t.priority = wire_u16(w);
	t.weight = wire_u16(w);
	t.port = wire_u16(w);
	t.name_len = wire_name_read(w, t.name, 1);
	if (w->err || w->pos != end) {
		w->err = ERR_MALFORMED;
		return;
	}
	if (s->n && t.priority > s->t[0].priority)
		return;                       /* a backup priority: not used */
	if (s->n && t.priority < s->t[0].priority)
		s->n = 0;                     /* a better priority replaces what we had */
	if (s->n == SRV_MAX)
		return;
	s->ttl = s->n == 0 || ttl < s->ttl ? ttl : s->ttl;
	s->t[s->n++] = t;
}

/* Walks every record after the question; calls SRV and address handlers. */
static int walk(const uint8_t *msg, size_t len, struct srv_set *out, int srv)
{
	struct wire w;
	uint8_t name[WIRE_NAME_MAX];
	uint16_t qd;
	uint32_t count;                   /* three u16 counts: no wrap */

	wire_init_ro(&w, msg, len);
	wire_skip(&w, 3);
	out->rcode = wire_u8(&w) & 0xF;
	qd = wire_u16(&w);
	count = wire_u16(&w);
	count += wire_u16(&w);
	count += wire_u16(&w);
	for (uint16_t i = 0; i < qd && !w.err; i++) {
		wire_name_read(&w, name, 1);
		wire_skip(&w, 4);
	}
	for (uint32_t i = 0; i < count && !w.err; i++) {
		size_t nl = wire_name_read(&w, name, 1);
		uint16_t type = wire_u16(&w), rdlen;
		uint32_t ttl;

		wire_u16(&w);
		ttl = wire_u32(&w);
		rdlen = wire_u16(&w);
		if (w.err || wire_left(&w) < rdlen)
			return ERR_MALFORMED;
		if (type == T_SRV && srv)
			add_srv(out, ttl, &w, rdlen);
		else {
			if (type == T_A || type == T_AAAA)
				add_addr(out, name, nl, type, w.base + w.pos, rdlen);
			wire_skip(&w, rdlen);
		}
	}
	return w.err ? ERR_MALFORMED : 0;
}

int srv_parse(const uint8_t *msg, size_t len, struct srv_set *out)
{
	out->n = 0;
	out->ttl = 0;
	out->rcode = 0;
	if (walk(msg, len, out, 1) < 0)
		return ERR_MALFORMED;
	/* Glue may come before the SRV it belongs to in odd answers: walk again. */
	for (size_t i = 0; i < out->n; i++)
		out->t[i].naddr = 0;
	return walk(msg, len, out, 0);
}

int srv_add_addresses(struct srv_set *set, const uint8_t *msg, size_t len)
{
	int rcode = set->rcode, rc = walk(msg, len, set, 0);

	set->rcode = rcode;
	return rc;
}
