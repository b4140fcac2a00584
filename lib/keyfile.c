/* keyfile.c - TSIG key files (see keyfile.h).
 *
 * The BIND format is read with a tiny tokenizer (words, quoted strings, braces,
 * semicolons, comments) rather than a grammar: a key file holds one clause. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "keyfile.h"

struct tok {
	const char *p;
	int line;
	char text[512];
};

/* Skips white space and comments (# and // to the end of the line). */
static void skip_space(struct tok *t)
{
	for (;;) {
		while (*t->p && isspace((unsigned char)*t->p))
			t->line += *t->p++ == '\n';
		if (*t->p == '#' || (t->p[0] == '/' && t->p[1] == '/')) {
			while (*t->p && *t->p != '\n')
				t->p++;
			continue;
		}
		return;
	}
}

/* Next token into t->text: a word, a quoted string, or one of { } ;.
 * Returns 1, 0 at the end, or -1 on a bad token. */
static int next_tok(struct tok *t)
{
	size_t n = 0;

	skip_space(t);
	if (!*t->p)
		return 0;
	if (strchr("{};", *t->p)) {
		t->text[0] = *t->p++;
		t->text[1] = '\0';
		return 1;
	}
	if (*t->p == '"') {
		t->p++;
		while (*t->p && *t->p != '"' && *t->p != '\n' && n < sizeof(t->text) - 1)
			t->text[n++] = *t->p++;
		if (*t->p != '"')
			return -1;
		t->p++;
	} else {
		while (*t->p && !isspace((unsigned char)*t->p) && !strchr("{};\"", *t->p) &&
		       n < sizeof(t->text) - 1)
			t->text[n++] = *t->p++;
	}
	t->text[n] = '\0';
	return 1;
}

static int check_alg(const char *alg)
{
	return !strcmp(alg, "hmac-sha256") || !strcmp(alg, "hmac-sha512");
}

static int parse_line(struct tsig_key *k, const char *name, int line, const char *text,
		      char *errbuf, size_t errlen)
{
	const char *c1 = strchr(text, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	size_t l;

	if (!c1 || !c2 || (size_t)(c1 - text) >= sizeof(k->algorithm) ||
	    (size_t)(c2 - c1 - 1) >= sizeof(k->name) || c2 == c1 + 1)
		goto bad;
	memcpy(k->algorithm, text, (size_t)(c1 - text));
	k->algorithm[c1 - text] = '\0';
	memcpy(k->name, c1 + 1, (size_t)(c2 - c1 - 1));
	k->name[c2 - c1 - 1] = '\0';
	l = strcspn(c2 + 1, " \t\r\n");
	if (l == 0 || l >= sizeof(k->secret) || c2[1 + l + strspn(c2 + 1 + l, " \t\r\n")])
		goto bad;
	memcpy(k->secret, c2 + 1, l);
	k->secret[l] = '\0';
	if (!check_alg(k->algorithm)) {
		snprintf(errbuf, errlen, "%s:%d: algorithm must be hmac-sha256 or hmac-sha512, got"
			 " \"%.31s\"", name, line, k->algorithm);
		return ERR_CONFIG;
	}
	return 0;
bad:
	snprintf(errbuf, errlen, "%s:%d: expected ALGORITHM:NAME:SECRET or a BIND key clause",
		 name, line);
	return ERR_CONFIG;
}

/* key "name" { algorithm A; secret "S"; }; */
static int parse_bind(struct tsig_key *k, const char *name, struct tok *t,
		      char *errbuf, size_t errlen)
{
	int r;

	if (next_tok(t) != 1 || !t->text[0] || strchr("{};", t->text[0]))
		goto bad;
	snprintf(k->name, sizeof(k->name), "%.255s", t->text);
	if (next_tok(t) != 1 || strcmp(t->text, "{"))
		goto bad;
	while ((r = next_tok(t)) == 1 && strcmp(t->text, "}")) {
		char what[16];

		snprintf(what, sizeof(what), "%.15s", t->text);
		if (strcmp(what, "algorithm") && strcmp(what, "secret")) {
			snprintf(errbuf, errlen, "%s:%d: unknown statement \"%.40s\" in key %.60s",
				 name, t->line, what, k->name);
			return ERR_CONFIG;
		}
		if (next_tok(t) != 1)
			goto bad;
		if (!strcmp(what, "algorithm"))
			snprintf(k->algorithm, sizeof(k->algorithm), "%.31s", t->text);
		else
			snprintf(k->secret, sizeof(k->secret), "%s", t->text);
		if (next_tok(t) != 1 || strcmp(t->text, ";"))
			goto bad;
	}
	if (r != 1)
		goto bad;
	if (!check_alg(k->algorithm) || !k->secret[0]) {
		snprintf(errbuf, errlen, "%s:%d: key %.60s needs algorithm hmac-sha256 or hmac-sha512"
			 " and a secret", name, t->line, k->name);
		return ERR_CONFIG;
	}
	return 0;
bad:
	snprintf(errbuf, errlen, "%s:%d: syntax error in key clause (expected key \"NAME\" {"
		 " algorithm ALG; secret \"BASE64\"; };)", name, t->line);
	return ERR_CONFIG;
}

int keyfile_parse(struct tsig_key *k, const char *name, const char *text,
		  char *errbuf, size_t errlen)
{
	struct tok t = { .p = text, .line = 1 };
	const char *start;
	int r;

	memset(k, 0, sizeof(*k));
	skip_space(&t); /* comments may come first, in either format */
	start = t.p;
	if (strncmp(start, "key", 3) || !(isspace((unsigned char)start[3]) || start[3] == '"'))
		return parse_line(k, name, t.line, start, errbuf, errlen);
	r = next_tok(&t); /* "key" */
	if (r != 1)
		return ERR_CONFIG;
	return parse_bind(k, name, &t, errbuf, errlen);
}

int keyfile_load(struct tsig_key *k, const char *path, char *errbuf, size_t errlen)
{
	char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;
	int err;

	if (!f) {
		err = errno;
		snprintf(errbuf, errlen, "%s: cannot read: %s", path, strerror(err));
		return -err;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	err = ferror(f) ? EIO : 0;
	fclose(f);
	if (err || n == sizeof(buf) - 1) {
		snprintf(errbuf, errlen, "%s: cannot read: %s", path,
			 err ? strerror(err) : "file too large for a key file");
		return err ? -err : ERR_CONFIG;
	}
	buf[n] = '\0';
	return keyfile_parse(k, path, buf, errbuf, errlen);
}
