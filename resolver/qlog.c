/* qlog.c - formatting the query log's lines (qlog.h). */
#include <stdio.h>
#include <uv.h>
#include "addr.h"
#include "log.h"
#include "qlog.h"
#include "wire.h"

void qlog_set(struct qlog *q, int on, double sample)
{
	q->on = on && sample > 0;
	q->all = sample >= 1.0;
	/* 2^64 * sample, computed without overflowing for sample near 1. */
	q->threshold = sample >= 1.0 ? UINT64_MAX : (uint64_t)(sample * 18446744073709549568.0);
	if (!q->state)
		q->state = uv_hrtime() | 1;
}

static const char *type_name(uint16_t t, char buf[16])
{
	switch (t) {
	case 1: return "A";
	case 2: return "NS";
	case 5: return "CNAME";
	case 6: return "SOA";
	case 12: return "PTR";
	case 15: return "MX";
	case 16: return "TXT";
	case 28: return "AAAA";
	case 33: return "SRV";
	case 35: return "NAPTR";
	case 41: return "OPT";
	case 251: return "IXFR";
	case 252: return "AXFR";
	case 255: return "ANY";
	default:
		snprintf(buf, 16, "TYPE%u", t);
		return buf;
	}
}

static const char *rcode_name(unsigned rc)
{
	static const char *const names[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
		"NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE" };

	return rc < sizeof(names) / sizeof(names[0]) ? names[rc] : "RCODE";
}

void qlog_write(const struct sockaddr *client, const uint8_t *req, size_t reqlen,
		const uint8_t *resp, size_t resplen, uint64_t latency_ns, int tcp)
{
	char addr[ADDR_TEXT_MAX], qname[WIRE_NAME_TEXT_MAX] = "-", tb[16];
	uint8_t name[WIRE_NAME_MAX];
	uint16_t qtype = 0;
	struct wire w;

	wire_init_ro(&w, req, reqlen);
	wire_skip(&w, 12);
	wire_name_read(&w, name, 0);
	qtype = wire_u16(&w);
	if (w.err || wire_name_to_text(name, qname, sizeof(qname)) < 0) {
		snprintf(qname, sizeof(qname), "-");
		qtype = 0;
	}
	log_info("query", "answered client=%s qname=%s qtype=%s rcode=%s answers=%u latency_us=%llu proto=%s",
		 client ? addr_format(client, addr) : "-", qname, type_name(qtype, tb),
		 resplen >= 12 ? rcode_name(resp[3] & 15) : "-",
		 resplen >= 12 ? (unsigned)(resp[6] << 8 | resp[7]) : 0,
		 (unsigned long long)(latency_ns / 1000), tcp ? "tcp" : "udp");
}
