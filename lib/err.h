/* err.h - error codes shared by every meshdns module.
 *
 * Functions return 0 on success or a negative code: -errno values for system
 * failures, and the project codes below (from -1000 down) for outcomes that
 * have no errno. err_str() names both kinds. */
#ifndef MESHDNS_ERR_H
#define MESHDNS_ERR_H

enum {
	ERR_BASE = -1000,
	ERR_MALFORMED = -1000,   /* bytes do not parse as what they claim to be */
	ERR_SPACE = -1001,       /* output buffer too small */
	ERR_NAME = -1002,        /* invalid domain name or label */
	ERR_CONFIG = -1003,      /* configuration rejected (details logged) */
	ERR_ZONE = -1004,        /* zone file rejected (details logged) */
	ERR_NOTFOUND = -1005,    /* no such name or object */
	ERR_EXISTS = -1006,      /* duplicate name or object */
	ERR_RANGE = -1007,       /* value outside its allowed range */
	ERR_ADDR = -1008,        /* cannot parse an address */
	ERR_LAST = -1009
};

/* Returns a static string naming the error code (negative errno or ERR_*). */
const char *err_str(int code);

#endif
