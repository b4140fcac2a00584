/* fuzz_srv.c - libFuzzer target: any bytes as the answer to an SRV query
 * (srv_parse) and then as the answer to an address query for its targets
 * (srv_add_addresses). Besides memory safety it checks what srv.h promises:
 * at most SRV_MAX targets, all of the lowest priority, at most two addresses
 * each, carrying the target's port, and an rcode kept across the A answer. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"
#include "srv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_set(const struct srv_set *s)
{
	if (s->n > SRV_MAX)
		abort();
	for (size_t i = 0; i < s->n; i++) {
		const struct srv_target *t = &s->t[i];

		if (t->priority != s->t[0].priority || t->naddr < 0 || t->naddr > 2 ||
		    t->name_len == 0 || t->name_len > WIRE_NAME_MAX)
			abort();
		for (int k = 0; k < t->naddr; k++) {
			const struct sockaddr_in *a = (const struct sockaddr_in *)&t->addr[k];
			const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&t->addr[k];

			if (a->sin_family == AF_INET ? ntohs(a->sin_port) != t->port :
			    a6->sin6_family == AF_INET6 ? ntohs(a6->sin6_port) != t->port : 1)
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct srv_set set;
	int rc = srv_parse(data, size, &set), rcode;

	if (rc != 0 && rc != ERR_MALFORMED)
		abort();
	if (rc < 0)
		return 0;
	if (set.rcode < 0 || set.rcode > 15)
		abort();
	check_set(&set);
	rcode = set.rcode;
	rc = srv_add_addresses(&set, data, size);
	if (rc != 0 && rc != ERR_MALFORMED)
		abort();
	if (set.rcode != rcode)
		abort();
	check_set(&set);
	return 0;
}
