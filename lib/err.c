/* err.c - names for error codes (see err.h). */
#include <string.h>
#include "err.h"

const char *err_str(int code)
{
	switch (code) {
	case ERR_MALFORMED: return "malformed input";
	case ERR_SPACE: return "no space left in buffer";
	case ERR_NAME: return "invalid domain name";
	case ERR_CONFIG: return "invalid configuration";
	case ERR_ZONE: return "invalid zone file";
	case ERR_NOTFOUND: return "not found";
	case ERR_EXISTS: return "already exists";
	case ERR_RANGE: return "value out of range";
	case ERR_ADDR: return "invalid address";
	default:
		if (code < 0 && code > ERR_BASE)
			return strerror(-code);
		return code == 0 ? "success" : "unknown error";
	}
}
