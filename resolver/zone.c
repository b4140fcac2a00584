/* zone.c - static records of a namespace, read from a master file (see zone.h).
 *
 * ldns parses one record at a time (ldns_rr_new_frm_fp_l), keeping $ORIGIN,
 * $TTL and the previous owner between calls the way ldns_zone_new_frm_fp_l
 * does, so that we can stop at the first bad record and name its line. Each
 * record is converted at once to plain bytes (uncompressed wire owner and
 * rdata) and the ldns object is dropped: the query path never sees ldns. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ldns/ldns.h>
#include "err.h"
#include "wire.h"
#include "zone.h"

/* State of one load: the zone being built and where errors go. */
struct loader {
	const char *path;
	const uint8_t *origin;
	struct zone *z;
	size_t cap;
	int have_soa;
	ldns_buffer *buf;   /* scratch for rdata in wire form */
	char *errbuf;
	size_t errlen;
};

/* Writes "file:line: message" into the error buffer; returns ERR_ZONE. */
__attribute__((format(printf, 3, 4)))
static int fail(struct loader *ld, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!ld->errbuf || ld->errlen == 0)
		return ERR_ZONE;
	n = snprintf(ld->errbuf, ld->errlen, "%s:%d: ", ld->path, line);
	if (n < 0 || (size_t)n >= ld->errlen)
		return ERR_ZONE;
	va_start(ap, fmt);
	(void)vsnprintf(ld->errbuf + n, ld->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return ERR_ZONE;
}

/* Checks what zone.h promises about every record; returns 0 or ERR_ZONE. */
static int rr_check(struct loader *ld, const uint8_t *owner, uint16_t type,
		    uint16_t rclass, int line)
{
	char text[WIRE_NAME_TEXT_MAX];

	if (wire_name_to_text(owner, text, sizeof(text)) < 0)
		(void)snprintf(text, sizeof(text), "?");
	if (rclass != LDNS_RR_CLASS_IN)
		return fail(ld, line, "class %u not supported for %s (only IN)",
			    (unsigned)rclass, text);
	if (owner[0] == 1 && owner[1] == '*')
		return fail(ld, line, "wildcard owner %s not supported", text);
	if (!wire_name_in(owner, ld->origin))
		return fail(ld, line, "%s is outside the zone origin", text);
	if (type != LDNS_RR_TYPE_SOA)
		return 0;
	if (!wire_name_eq(owner, ld->origin))
		return fail(ld, line, "SOA record at %s, not at the zone origin", text);
	if (ld->have_soa)
		return fail(ld, line, "more than one SOA record");
	return 0;
}

/* Grows the record array so one more fits; returns 0 or -ENOMEM. */
static int rr_reserve(struct loader *ld)
{
	struct zone_rr *rrs;
	size_t cap;

	if (ld->z->n < ld->cap)
		return 0;
	cap = ld->cap ? ld->cap * 2 : 16;
	rrs = realloc(ld->z->rrs, cap * sizeof(*rrs));
	if (!rrs)
		return -ENOMEM;
	ld->z->rrs = rrs;
	ld->cap = cap;
	return 0;
}

/* Converts one parsed record to plain bytes and appends it to the zone. */
static int rr_add(struct loader *ld, const ldns_rr *rr, int line)
{
	const ldns_rdf *owner = ldns_rr_owner(rr);
	uint8_t name[WIRE_NAME_MAX];
	struct zone_rr *zr;
	size_t olen = ldns_rdf_size(owner), rdlen;
	int rc;

	if (ldns_rdf_get_type(owner) != LDNS_RDF_TYPE_DNAME || olen == 0 ||
	    olen > WIRE_NAME_MAX)
		return fail(ld, line, "invalid owner name");
	memcpy(name, ldns_rdf_data(owner), olen);
	wire_name_lower(name);
	rc = rr_check(ld, name, (uint16_t)ldns_rr_get_type(rr),
		      (uint16_t)ldns_rr_get_class(rr), line);
	if (rc < 0)
		return rc;
	/* Names inside rdata are written as ldns holds them: uncompressed. */
	ldns_buffer_clear(ld->buf);
	if (ldns_rr_rdata2buffer_wire(ld->buf, rr) != LDNS_STATUS_OK)
		return -ENOMEM;
	rdlen = ldns_buffer_position(ld->buf);
	if (rdlen > UINT16_MAX)
		return fail(ld, line, "rdata longer than 65535 bytes");
	rc = rr_reserve(ld);
	if (rc < 0)
		return rc;
	zr = &ld->z->rrs[ld->z->n];
	memset(zr, 0, sizeof(*zr));
	zr->owner = malloc(olen);
	zr->rdata = malloc(rdlen ? rdlen : 1);
	if (!zr->owner || !zr->rdata) {
		free(zr->owner);
		free(zr->rdata);
		return -ENOMEM;
	}
	memcpy(zr->owner, name, olen);
	memcpy(zr->rdata, ldns_buffer_begin(ld->buf), rdlen);
	zr->owner_len = olen;
	zr->rdlen = (uint16_t)rdlen;
	zr->type = (uint16_t)ldns_rr_get_type(rr);
	zr->rclass = (uint16_t)ldns_rr_get_class(rr);
	zr->ttl = ldns_rr_ttl(rr);
	zr->line = line;
	if (zr->type == LDNS_RR_TYPE_SOA) {
		ld->z->soa = ld->z->n;
		ld->have_soa = 1;
	}
	ld->z->n++;
	return 0;
}

/* Steps over blank and comment-only lines, counting them, and leaves fp at
 * the start of the next line with content. ldns folds comment lines into the
 * record that follows them, so without this the line a record starts on
 * would be lost. Returns 0 or -errno. */
static int skip_blank_lines(FILE *fp, int *line_nr)
{
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;

	for (;;) {
		long pos = ftell(fp);
		const char *p;

		if (pos < 0) {
			rc = -errno;
			break;
		}
		if (getline(&line, &cap, fp) < 0)
			break; /* end of file; read errors show in ferror() */
		p = line + strspn(line, " \t\r\n");
		if (*p != '\0' && *p != ';') {
			if (fseek(fp, pos, SEEK_SET) != 0)
				rc = -errno;
			break;
		}
		if (strchr(line, '\n'))
			(*line_nr)++;
	}
	free(line);
	return rc;
}

/* Reads every record of fp; directives and blank lines only update state. */
static int read_records(struct loader *ld, FILE *fp, uint32_t default_ttl)
{
	ldns_rdf *origin, *prev = NULL;
	uint32_t ttl = default_ttl;
	int line_nr = 0, rc = 0;

	origin = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME,
				       wire_name_len(ld->origin), ld->origin);
	if (!origin)
		return -ENOMEM;
	for (;;) {
		ldns_rr *rr = NULL;
		int start;
		ldns_status st;

		rc = skip_blank_lines(fp, &line_nr);
		if (rc < 0 || feof(fp) || ferror(fp))
			break;
		start = line_nr + 1; /* the line the record begins on */
		st = ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &origin, &prev, &line_nr);
		switch (st) {
		case LDNS_STATUS_OK:
			rc = rr_add(ld, rr, start);
			break;
		case LDNS_STATUS_SYNTAX_EMPTY:
		case LDNS_STATUS_SYNTAX_TTL:
		case LDNS_STATUS_SYNTAX_ORIGIN:
			break;
		case LDNS_STATUS_SYNTAX_INCLUDE:
			rc = fail(ld, start, "$INCLUDE is not supported");
			break;
		case LDNS_STATUS_MEM_ERR:
			rc = -ENOMEM;
			break;
		default:
			rc = fail(ld, start, "syntax error: %s",
				  ldns_get_errorstr_by_id(st));
			break;
		}
		ldns_rr_free(rr);
		if (rc < 0)
			break;
	}
	ldns_rdf_deep_free(origin);
	ldns_rdf_deep_free(prev);
	return rc;
}

/* Loads records from an open file and checks the zone as a whole. */
static int load_fp(struct loader *ld, FILE *fp, uint32_t default_ttl)
{
	char text[WIRE_NAME_TEXT_MAX];
	int rc;

	ld->buf = ldns_buffer_new(512);
	if (!ld->buf)
		return -ENOMEM;
	rc = read_records(ld, fp, default_ttl);
	ldns_buffer_free(ld->buf);
	ld->buf = NULL;
	if (rc < 0)
		return rc;
	if (ferror(fp))
		return -EIO;
	if (!ld->have_soa) {
		if (wire_name_to_text(ld->origin, text, sizeof(text)) < 0)
			(void)snprintf(text, sizeof(text), "?");
		if (ld->errbuf && ld->errlen)
			(void)snprintf(ld->errbuf, ld->errlen,
				       "%s: no SOA record at %s", ld->path, text);
		return ERR_ZONE;
	}
	return 0;
}

int zone_load(struct zone **out, const char *path, const uint8_t *origin,
	      uint32_t default_ttl, char *errbuf, size_t errlen)
{
	struct loader ld = { .path = path, .origin = origin,
			     .errbuf = errbuf, .errlen = errlen };
	FILE *fp;
	int rc;

	*out = NULL;
	if (errbuf && errlen)
		errbuf[0] = '\0';
	fp = fopen(path, "r");
	if (!fp) {
		rc = -errno;
		if (errbuf && errlen)
			(void)snprintf(errbuf, errlen, "%s: cannot open: %s",
				       path, strerror(-rc));
		return rc;
	}
	ld.z = calloc(1, sizeof(*ld.z));
	if (ld.z)
		ld.z->file = strdup(path);
	if (!ld.z || !ld.z->file) {
		rc = -ENOMEM;
	} else {
		rc = load_fp(&ld, fp, default_ttl);
	}
	if (fclose(fp) != 0 && rc == 0)
		rc = -errno;
	if (rc < 0) {
		if (rc != ERR_ZONE && errbuf && errlen && errbuf[0] == '\0')
			(void)snprintf(errbuf, errlen, "%s: %s", path, err_str(rc));
		zone_free(ld.z);
		return rc;
	}
	*out = ld.z;
	return 0;
}

void zone_free(struct zone *z)
{
	if (!z)
		return;
	for (size_t i = 0; i < z->n; i++) {
		free(z->rrs[i].owner);
		free(z->rrs[i].rdata);
	}
	free(z->rrs);
	free(z->file);
	free(z);
}
