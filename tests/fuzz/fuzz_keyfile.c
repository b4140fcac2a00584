/* fuzz_keyfile.c - libFuzzer target: any bytes as the agent's TSIG key file
 * (keyfile_parse: the BIND clause tsig-keygen writes, or ALG:NAME:SECRET).
 * A parsed key must have a known algorithm, a name and a secret, each
 * NUL-terminated within its field; a failure must say why. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "keyfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_keyfile: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tsig_key k;
	char err[512] = "";
	char *text = malloc(size + 1);
	int rc;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	rc = keyfile_parse(&k, "fuzz.key", text, err, sizeof(err));
	free(text);
	if (rc < 0) {
		check(rc == ERR_CONFIG, "unexpected error code");
		check(strncmp(err, "fuzz.key:", 9) == 0, "an error without name:line");
		return 0;
	}
	check(memchr(k.name, 0, sizeof(k.name)) && memchr(k.algorithm, 0, sizeof(k.algorithm)) &&
	      memchr(k.secret, 0, sizeof(k.secret)), "unterminated field");
	check(!strcmp(k.algorithm, "hmac-sha256") || !strcmp(k.algorithm, "hmac-sha512"),
	      "unknown algorithm accepted");
	check(k.name[0] && k.secret[0], "empty name or secret accepted");
	return 0;
}
