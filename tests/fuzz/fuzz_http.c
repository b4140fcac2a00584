/* fuzz_http.c - libFuzzer target: any bytes as what an HTTP health check
 * reads back (health_http_status, the parse behind lib/health.c's checks).
 * Besides memory safety (the input has no NUL after it, so ASan sees any
 * read past len) it checks what health.h promises: -EAGAIN exactly when the
 * input holds no CRLF; a parsed status is 100..999 and is the three digits
 * after "HTTP/1.x "; and the answer depends on the first line alone: cut
 * just after its CRLF the input gives the same answer, cut just before the
 * LF it needs more. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "health.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_http: %s\n", what);
		abort();
	}
}

/* Where the first CRLF starts, or size when there is none; a plain loop,
 * independent of the code under test. */
static size_t first_crlf(const uint8_t *d, size_t size)
{
	for (size_t i = 0; i + 1 < size; i++)
		if (d[i] == '\r' && d[i + 1] == '\n')
			return i;
	return size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *resp = (const char *)data;
	size_t eol = first_crlf(data, size);
	int status = -1, again = -1, rc;

	rc = health_http_status(resp, size, &status);
	check(rc == 0 || rc == -EAGAIN || rc == ERR_MALFORMED, "unexpected return value");
	check(rc == 0 || status == -1, "status written on failure");
	check((rc == -EAGAIN) == (eol == size), "-EAGAIN is not 'no CRLF'");
	if (rc == 0) {
		check(status >= 100 && status <= 999, "status out of 100..999");
		check(eol >= 12 && !memcmp(resp, "HTTP/1.", 7) && resp[8] == ' ' &&
		      status == (resp[9] - '0') * 100 + (resp[10] - '0') * 10 + (resp[11] - '0'),
		      "status is not the line's three digits");
		check(eol == 12 || resp[12] == ' ', "digits not followed by a space or CRLF");
	}
	if (eol == size)
		return 0;
	check(health_http_status(resp, eol + 2, &again) == rc && again == status,
	      "bytes after the first CRLF change the answer");
	again = -1;
	check(health_http_status(resp, eol + 1, &again) == -EAGAIN && again == -1,
	      "a line without its LF is complete");
	return 0;
}
