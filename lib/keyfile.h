/* keyfile.h - TSIG keys as users hold them: the BIND format that tsig-keygen
 * and ddns-confgen write,
 *
 *     key "payments-key" {
 *             algorithm hmac-sha256;
 *             secret "base64...";
 *     };
 *
 * or one line "hmac-sha256:payments-key:base64...", as nsupdate -y takes. */
#ifndef MESHDNS_KEYFILE_H
#define MESHDNS_KEYFILE_H

#include <stddef.h>

struct tsig_key {
	char name[256];        /* as written, e.g. "payments-key" */
	char algorithm[32];    /* "hmac-sha256" or "hmac-sha512" */
	char secret[512];      /* base64 */
};

/* Parses text (a file's contents; name is used in messages). Returns 0, or
 * ERR_CONFIG with "name:line: message" in errbuf. The first key is used. */
int keyfile_parse(struct tsig_key *k, const char *name, const char *text,
		  char *errbuf, size_t errlen);
/* Reads and parses path; -errno with "path: cannot read: ..." when unreadable. */
int keyfile_load(struct tsig_key *k, const char *path, char *errbuf, size_t errlen);

#endif
