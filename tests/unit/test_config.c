/* test_config.c - unit tests of the YAML configuration (resolver/config.c):
 * the embedded default, a full valid file read back field by field, and bad
 * files, each of which must be refused with the right file:line:col and a
 * message that says what is wrong. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "config.h"
#include "err.h"
#include "checkmain.h"

static struct config *load_ok(const char *text)
{
	struct config *cfg = NULL;
	char err[CFG_ERR_MAX] = "";
	int rc = config_load_text(&cfg, "t.yaml", text, err, sizeof(err));

	ck_assert_msg(rc == 0, "expected success, got %d: %s", rc, err);
	return cfg;
}

#define NS_LIMITS "namespaces:\n  - name: local\n"

START_TEST(test_default)
{
	struct config *cfg = load_ok(config_default_text);

	ck_assert_uint_eq(cfg->nlisten, 2);
	ck_assert_uint_eq(cfg->nnamespaces, 1);
	ck_assert_str_eq(cfg->namespaces[0].name, "local.");
	ck_assert_uint_eq(cfg->namespaces[0].ttl, 5);
	ck_assert_uint_eq(cfg->namespaces[0].max_answers, 8);
	ck_assert_int_eq(cfg->upstream_system, 1);
	ck_assert_uint_eq(cfg->udp_payload, 1232);
	ck_assert_uint_eq(cfg->cache_size, 10000);
	ck_assert_uint_eq(cfg->upstream_timeout_ms, 2500);
	config_free(cfg);
}
END_TEST

static const char full[] =
	"listen: [\"127.0.0.1:5300\", \"[::1]:5301\"]\n"
	"upstream: [\"9.9.9.9\", \"[2620:fe::fe]:5353\"]\n"
	"cache_size: 500\n"
	"serve_stale: 30\n"
	"upstream_timeout: 1.5\n"
	"state_dir: /tmp/state\n"
	"udp_payload: 1400\n"
	"tcp_idle_timeout: 0.5\n"
	"tcp_max_connections: 7\n"
	"namespaces:\n"
	"  - name: Local\n"
	"    zone: zones/local.zone\n"
	"    ttl: 7\n"
	"    negative_ttl: 3\n"
	"    max_answers: 4\n"
	"    default_lease: 30\n"
	"    slow_start: 10\n"
	"    warning_factor: 0.25\n"
	"    on_all_unhealthy: none\n"
	"    services:\n"
	"      payments-v1:\n"
	"        health_check: {protocol: http, path: /health, interval: 2.5, timeout: 1,\n"
	"                       healthy_threshold: 3, unhealthy_threshold: 4}\n"
	"        instances:\n"
	"          - {id: a, address: 10.0.0.10, port: 5000, weight: 100, attributes: {az: a}}\n"
	"          - {id: b, address: [10.0.0.11, \"fd00::11\"], port: 5001, weight: 0}\n"
	"      payments-v2: {}\n"
	"      empty:\n"
	"    routers:\n"
	"      payments:\n"
	"        routes:\n"
	"          - {target: payments-v1, weight: 90}\n"
	"          - {target: payments-v2, weight: 10}\n"
	"keys:\n"
	"  - {name: payments-key, algorithm: hmac-sha512, secret: \"c2VjcmV0\",\n"
	"     allow: [payments-v1.local, payments-v2.local.]}\n";

START_TEST(test_full)
{
	struct config *cfg;
	const struct cfg_namespace *ns;
	const struct cfg_service *svc;
	char err[CFG_ERR_MAX];

	ck_assert_int_eq(config_load_text(&cfg, "/etc/meshdns/meshdns.yaml", full, err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg->nlisten, 2);
	ck_assert_uint_eq(cfg->nupstreams, 2);
	ck_assert_int_eq(cfg->upstream_system, 0);
	ck_assert_uint_eq(cfg->cache_size, 500);
	ck_assert_uint_eq(cfg->serve_stale, 30);
	ck_assert_uint_eq(cfg->upstream_timeout_ms, 1500);
	ck_assert_str_eq(cfg->state_dir, "/tmp/state");
	ck_assert_uint_eq(cfg->udp_payload, 1400);
	ck_assert_uint_eq(cfg->tcp_idle_timeout_ms, 500);
	ck_assert_uint_eq(cfg->tcp_max_connections, 7);
	ns = &cfg->namespaces[0];
	ck_assert_str_eq(ns->name, "local.");
	ck_assert_str_eq(ns->zone, "/etc/meshdns/zones/local.zone");
	ck_assert_uint_eq(ns->ttl, 7);
	ck_assert_uint_eq(ns->negative_ttl, 3);
	ck_assert_uint_eq(ns->max_answers, 4);
	ck_assert_uint_eq(ns->default_lease, 30);
	ck_assert_uint_eq(ns->slow_start, 10);
	ck_assert(ns->warning_factor == 0.25);
	ck_assert_int_eq(ns->on_all_unhealthy, ALL_UNHEALTHY_NONE);
	ck_assert_uint_eq(ns->nservices, 3);
	svc = config_find_service(ns, "PAYMENTS-v1");
	ck_assert_ptr_nonnull(svc);
	ck_assert_int_eq(svc->hc.protocol, HC_HTTP);
	ck_assert_str_eq(svc->hc.path, "/health");
	ck_assert_uint_eq(svc->hc.interval_ms, 2500);
	ck_assert_uint_eq(svc->hc.timeout_ms, 1000);
	ck_assert_uint_eq(svc->hc.healthy_threshold, 3);
	ck_assert_uint_eq(svc->hc.unhealthy_threshold, 4);
	ck_assert_uint_eq(svc->ninstances, 2);
	ck_assert_str_eq(svc->instances[0].attrs[0], "az=a");
	ck_assert_int_eq(svc->instances[1].has4 && svc->instances[1].has6, 1);
	ck_assert_uint_eq(svc->instances[1].weight, 0);
	ck_assert_uint_eq(svc->instances[1].port, 5001);
	ck_assert_uint_eq(config_find_service(ns, "empty")->ninstances, 0);
	ck_assert_uint_eq(ns->nrouters, 1);
	ck_assert_uint_eq(ns->routers[0].routes[1].weight, 10);
	ck_assert_uint_eq(cfg->nkeys, 1);
	ck_assert_str_eq(cfg->keys[0].algorithm, "hmac-sha512");
	ck_assert_uint_eq(cfg->keys[0].nallow, 2);
	config_free(cfg);
}
END_TEST

/* The limits against abuse: defaults, and values read back. */
START_TEST(test_limits)
{
	struct config *cfg = load_ok(config_default_text);

	ck_assert_uint_eq(cfg->tcp_max_connections, 512);
	ck_assert_uint_eq(cfg->tcp_max_connections_per_client, 32);
	ck_assert_uint_eq(cfg->tcp_read_timeout_ms, 2000);
	ck_assert_uint_eq(cfg->max_message_size, 65535);
	ck_assert_uint_eq(cfg->update_rate, 1000);
	ck_assert_uint_eq(cfg->update_burst, 2000);
	ck_assert_uint_eq(cfg->tsig_fudge_max, 300);
	ck_assert_uint_eq(cfg->tsig_replay_cache, 65536);
	ck_assert_int_eq(cfg->cookies, 1);
	ck_assert_int_eq(cfg->has_cookie_secret, 0);
	ck_assert_uint_eq(cfg->udp_payload_without_cookie, 512);
	ck_assert_uint_eq(cfg->rrl_rate, 0);
	ck_assert_uint_eq(cfg->rrl_slip, 2);
	ck_assert_uint_eq(cfg->rrl_ipv4_prefix, 24);
	ck_assert_uint_eq(cfg->rrl_ipv6_prefix, 56);
	ck_assert_uint_eq(cfg->rrl_table_size, 65536);
	ck_assert_uint_eq(cfg->namespaces[0].max_instances, 10000);
	ck_assert_uint_eq(cfg->namespaces[0].max_instances_per_service, 1000);
	ck_assert_uint_eq(cfg->namespaces[0].max_attributes, 16);
	ck_assert_uint_eq(cfg->namespaces[0].max_attribute_size, 255);
	ck_assert_uint_eq(cfg->commit_delay_ms, 5);
	ck_assert_uint_eq(cfg->threads, 1);
	config_free(cfg);
	cfg = load_ok("threads: 4\n" NS_LIMITS);
	ck_assert_uint_eq(cfg->threads, 4);
	config_free(cfg);
	cfg = load_ok("threads: auto\n" NS_LIMITS);
	ck_assert_uint_ge(cfg->threads, 1);
	ck_assert_uint_le(cfg->threads, 64);
	config_free(cfg);
	cfg = load_ok("tcp_max_connections_per_client: 4\ntcp_read_timeout: 0.5\n"
		      "max_message_size: 1024\ncommit_delay: 0\n" NS_LIMITS);
	ck_assert_uint_eq(cfg->commit_delay_ms, 0);
	ck_assert_uint_eq(cfg->tcp_max_connections_per_client, 4);
	ck_assert_uint_eq(cfg->tcp_read_timeout_ms, 500);
	ck_assert_uint_eq(cfg->max_message_size, 1024);
	config_free(cfg);
}
END_TEST

struct bad {
	const char *text;
	const char *where;   /* "t.yaml:L:C:" prefix expected */
	const char *phrase;  /* a phrase the message must contain */
};

#define NS "namespaces:\n  - name: local\n"
static const struct bad bads[] = {
	{ "listn: []\n" NS, "t.yaml:1:1:", "unknown key \"listn\"" },
	{ NS "    ttl: five\n", "t.yaml:3:10:", "ttl must be an integer" },
	{ NS "    ttl: \"5\"\n", "t.yaml:3:10:", "ttl must be an integer" },
	{ NS "    max_answers: 100\n", "t.yaml:3:18:", "from 1 to 64" },
	{ NS "    max_answers: -1\n", "t.yaml:3:18:", "from 1 to 64" },
	{ NS "    services:\n      a: {}\n      A: {}\n", "t.yaml:5:7:", "duplicate service" },
	{ NS "    ttl: 5\n    ttl: 6\n", "t.yaml:4:5:", "duplicate key \"ttl\"" },
	{ NS "    services: {a: {}}\n    routers:\n      r:\n        routes:\n"
	  "          - {target: b, weight: 1}\n", "t.yaml:7:22:", "not a service" },
	{ NS "    services: {a: {}}\n    routers:\n      r:\n        routes:\n"
	  "          - {target: a, weight: 1}\n      q:\n        routes:\n"
	  "          - {target: r, weight: 1}\n", "t.yaml:10:22:", "not a service" },
	{ NS "    services:\n      a:\n        instances:\n          - {id: x, address: 10.0.0.300}\n",
	  "t.yaml:6:30:", "IPv4 or IPv6" },
	{ NS "    services:\n      a:\n        instances:\n          - {id: \"x y\", address: 10.0.0.1}\n",
	  "t.yaml:6:18:", "DNS label" },
	{ NS "    services:\n      a:\n        instances:\n          - {id: x, address: 10.0.0.1}\n"
	  "          - {id: X, address: 10.0.0.2}\n", "t.yaml:7:18:", "duplicate instance id" },
	{ NS "    services:\n      a:\n        health_check: {protocol: tcp, interval: 1, timeout: 2}\n",
	  "t.yaml:5:61:", "timeout must not exceed interval" },
	{ "namespaces:\n  - name: local\n  - name: a.local\n", "t.yaml:3:5:", "nested" },
	{ NS "    services: {a: {}}\nkeys:\n  - {name: k, secret: \"not base64!\"}\n",
	  "t.yaml:5:23:", "not valid base64" },
	{ NS "    services: {a: {}}\nkeys:\n  - {name: k, secret: \"c2VjcmV0\", allow: [b.local]}\n",
	  "t.yaml:5:43:", "not a service" },
	{ "listen: [\"127.0.0.1:53\"\n" NS, "t.yaml:1:9:", "YAML syntax error" },
	{ NS "    services:\n      a:\n        instances:\n          - {address: 10.0.0.1}\n",
	  "t.yaml:6:13:", "needs an id" },
	{ "listen: [\"127.0.0.1:99999\"]\n" NS, "t.yaml:1:10:", "not an address" },
	{ NS "    services:\n      a:\n        instances:\n          - {id: x, address: 10.0.0.1,"
	  " attributes: {health: ok}}\n", "t.yaml:6:53:", "reserved" },
	{ "listen: [\"127.0.0.1:53\"]\n", "t.yaml:1:1:", "needs namespaces" },
	{ NS "    services:\n      a: &x {}\n", "t.yaml:4:10:", "anchors" },
	{ NS "    on_all_unhealthy: some\n", "t.yaml:3:23:", "all or none" },
	{ NS "    warning_factor: 2\n", "t.yaml:3:21:", "from 0 to 1" },
	{ "upstream: [system, \"9.9.9.9\"]\n" NS, "t.yaml:1:11:", "either [system]" },
	{ "cache_min_ttl: 100\ncache_max_ttl: 10\n" NS, "t.yaml:1:16:", "must not exceed" },
	/* limits against abuse */
	{ "tcp_max_connections_per_client: 0\n" NS, "t.yaml:1:33:", "from 1 to 65535" },
	{ "tcp_read_timeout: 0\n" NS, "t.yaml:1:19:", "from 0.1 to 3600" },
	{ "max_message_size: 100\n" NS, "t.yaml:1:19:", "from 512 to 65535" },
	{ "commit_delay: 2\n" NS, "t.yaml:1:15:", "from 0 to 1" },
	{ "threads: 0\n" NS, "t.yaml:1:10:", "from 1 to 64" },
	{ "threads: 65\n" NS, "t.yaml:1:10:", "from 1 to 64" },
	{ "threads: many\n" NS, "t.yaml:1:10:", "auto or an integer" },
	{ "threads: 2\nlisten: [\"127.0.0.1:1\", \"127.0.0.1:2\", \"127.0.0.1:3\", \"127.0.0.1:4\","
	  " \"127.0.0.1:5\", \"127.0.0.1:6\", \"127.0.0.1:7\", \"127.0.0.1:8\", \"127.0.0.1:9\","
	  " \"127.0.0.1:10\", \"127.0.0.1:11\", \"127.0.0.1:12\", \"127.0.0.1:13\","
	  " \"127.0.0.1:14\", \"127.0.0.1:15\", \"127.0.0.1:16\", \"127.0.0.1:17\"]\n" NS,
	  "t.yaml:1:10:", "at most 16 listen addresses" },
	{ NS "    max_instances_per_service: 0\n", "t.yaml:3:32:", "from 1 to 10000000" },
	{ NS "    max_attribute_size: 300\n", "t.yaml:3:25:", "from 3 to 255" },
	{ "cookies: yes\n" NS, "t.yaml:1:10:", "true or false" },
	{ "cookie_secret: abc\n" NS, "t.yaml:1:16:", "32 hex digits" },
	{ "rrl_ipv6_prefix: 128\n" NS, "t.yaml:1:18:", "from 16 to 64" },
	/* A syntax error right after a map key: the key leaked (found by
	 * fuzz_config; the ASan run of this suite is the check). */
	{ "namespaces:\nocal}\n  - x\n", "t.yaml:", "YAML syntax error" },
	/* replication */
	{ "allow_transfer: [nokey]\n" NS, "t.yaml:1:18:", "not the name of a key" },
	{ NS "    allow_transfer: [k]\n", "t.yaml:3:22:", "not the name of a key" },
	{ NS "    notify: [\"bogus\"]\n", "t.yaml:3:14:", "not an address" },
	{ "notify: 5\n" NS, "t.yaml:1:9:", "notify" },
};

START_TEST(test_bad)
{
	const struct bad *b = &bads[_i];
	struct config *cfg = (struct config *)1;
	char err[CFG_ERR_MAX] = "";
	int rc = config_load_text(&cfg, "t.yaml", b->text, err, sizeof(err));

	ck_assert_msg(rc == ERR_CONFIG, "case %d: expected ERR_CONFIG, got %d (%s)", _i, rc, err);
	ck_assert_ptr_null(cfg);
	ck_assert_msg(strncmp(err, b->where, strlen(b->where)) == 0,
		      "case %d: expected position %s, got: %s", _i, b->where, err);
	ck_assert_msg(strstr(err, b->phrase) != NULL, "case %d: expected \"%s\" in: %s", _i,
		      b->phrase, err);
}
END_TEST

/* allow_transfer and notify: the top level's lists are defaults, a
 * namespace's own list (even empty) replaces them. */
START_TEST(test_transfer_keys)
{
	struct config *cfg = load_ok("allow_transfer: [K1]\nnotify: [\"127.0.0.1:5300\"]\n"
		"namespaces:\n  - name: a\n  - name: b\n    allow_transfer: []\n"
		"    notify: [\"[::1]\", \"127.0.0.2:53\"]\n"
		"keys:\n  - {name: k1, secret: \"c2VjcmV0\"}\n");

	ck_assert_uint_eq(cfg->nallow_transfer, 1);
	ck_assert_str_eq(cfg->allow_transfer[0], "K1");
	ck_assert_uint_eq(cfg->nnotify, 1);
	ck_assert_int_eq(cfg->namespaces[0].has_allow_transfer, 0);
	ck_assert_int_eq(cfg->namespaces[0].has_notify, 0);
	ck_assert_int_eq(cfg->namespaces[1].has_allow_transfer, 1);
	ck_assert_uint_eq(cfg->namespaces[1].nallow_transfer, 0);
	ck_assert_int_eq(cfg->namespaces[1].has_notify, 1);
	ck_assert_uint_eq(cfg->namespaces[1].nnotify, 2);
	ck_assert_uint_eq(addr_port((struct sockaddr *)&cfg->namespaces[1].notify[0]), 53);
	config_free(cfg);
}
END_TEST

START_TEST(test_empty_and_missing)
{
	struct config *cfg;
	char err[CFG_ERR_MAX];

	ck_assert_int_eq(config_load_text(&cfg, "e.yaml", "", err, sizeof(err)), ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(err, "empty"));
	ck_assert_int_lt(config_load(&cfg, "/nonexistent/meshdns.yaml", err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/meshdns.yaml: cannot read"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_test(tc, test_default);
	tcase_add_test(tc, test_full);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_transfer_keys);
	tcase_add_loop_test(tc, test_bad, 0, (int)(sizeof(bads) / sizeof(bads[0])));
	tcase_add_test(tc, test_empty_and_missing);
	suite_add_tcase(s, tc);
	return check_run(s, NULL);
}
