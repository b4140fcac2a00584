/* config.h - the resolver's configuration, loaded from YAML (see DESIGN.md).
 *
 * config_load() validates everything it can without touching the network or
 * the zone files' contents: unknown keys, wrong types, out-of-range values,
 * duplicate names and routes to unknown services are reported as
 * "file:line:col: message". The result is a plain tree of structs that the
 * registry is built from; it is immutable once loaded. */
#ifndef MESHDNS_CONFIG_H
#define MESHDNS_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "healthspec.h"
#include "wire.h"

#define CFG_LABEL_MAX 64   /* a label plus NUL */
#define CFG_ERR_MAX 512    /* room for one "file:line:col: message" */

struct cfg_instance {
	char id[CFG_LABEL_MAX];      /* a DNS label, unique within its service */
	int has4, has6;
	uint8_t addr4[4];
	uint8_t addr6[16];
	uint16_t port;               /* 0..65535, default 0 */
	uint32_t weight;             /* 0..65535, default 100 */
	char **attrs;                /* "key=value" strings, from the `attributes` map */
	size_t nattrs;
	int line;                    /* where it was declared, for messages */
};

struct cfg_service {
	char name[CFG_LABEL_MAX];
	struct cfg_health_check hc;
	struct cfg_instance *instances;
	size_t ninstances;
};

struct cfg_route {
	char target[CFG_LABEL_MAX];  /* a service of the same namespace */
	uint32_t weight;             /* 0..65535 */
};

struct cfg_router {
	char name[CFG_LABEL_MAX];
	struct cfg_route *routes;
	size_t nroutes;              /* at least 1 */
};

enum all_unhealthy { ALL_UNHEALTHY_ALL = 0, ALL_UNHEALTHY_NONE };

struct cfg_namespace {
	char name[WIRE_NAME_TEXT_MAX];   /* presentation form with trailing dot: "local." */
	uint8_t wire[WIRE_NAME_MAX];     /* lower-cased wire form */
	size_t wire_len;
	char *zone;                      /* NULL, or the zone file path resolved against
					    the config file's directory */
	uint32_t ttl;                    /* default 5, 0..86400 */
	uint32_t negative_ttl;           /* SOA minimum when synthesised, default 5, 0..86400 */
	uint32_t max_answers;            /* default 8, 1..64 */
	uint32_t default_lease;          /* seconds, default 0 (none), 0..31536000 */
	uint32_t min_lease;              /* default 1 */
	uint32_t max_lease;              /* default 86400 */
	uint32_t slow_start;             /* seconds, default 0 (off), 0..3600 */
	double warning_factor;           /* health factor of `warning`, default 0.5, 0..1 */
	enum all_unhealthy on_all_unhealthy; /* default ALL_UNHEALTHY_ALL */
	uint32_t max_instances;          /* per namespace, default 10000 */
	uint32_t max_instances_per_service; /* default 1000 */
	uint32_t max_attributes;         /* key=value strings per instance, default 16 */
	uint32_t max_attribute_size;     /* bytes of one key=value, default 255 */
	struct cfg_service *services;
	size_t nservices;
	struct cfg_router *routers;
	size_t nrouters;
	/* Zone transfers (xfr.h): key names allowed to transfer, and NOTIFY
	 * targets. has_* 0: the top level's lists apply. */
	char **allow_transfer;
	size_t nallow_transfer;
	int has_allow_transfer;
	struct sockaddr_storage *notify;
	size_t nnotify;
	int has_notify;
};

struct cfg_key {
	char name[WIRE_NAME_TEXT_MAX];   /* key name as written, e.g. "payments-key" */
	char algorithm[32];              /* "hmac-sha256" or "hmac-sha512" */
	char *secret;                    /* base64 text, validated as base64 */
	char **allow;                    /* service names, "payments-v1.local" */
	size_t nallow;
};

struct config {
	char *file;                      /* path it was loaded from, or "<default>" */
	struct sockaddr_storage *listen;
	size_t nlisten;                  /* at least 1 */
	int upstream_system;             /* `upstream: [system]`, the default */
	struct sockaddr_storage *upstreams;
	size_t nupstreams;
	char *state_dir;                 /* default "/var/lib/meshdns" */
	char *control_socket;            /* NULL: <state_dir>/control.sock; "": off */
	int query_log;                   /* query_log: given (default off) */
	double query_log_sample;         /* fraction of queries logged, 0..1, default 1 */
	int has_metrics;                 /* metrics_listen given: serve /metrics there */
	struct sockaddr_storage metrics_listen;
	uint32_t udp_payload;            /* EDNS size we advertise and send up to, default 1232, 512..4096 */
	uint32_t tcp_idle_timeout_ms;    /* default 10000, 100..3600000 */
	uint32_t tcp_max_connections;    /* default 512, 1..65535 */
	uint32_t tcp_max_connections_per_client; /* per client address, default 32, 1..65535 */
	uint32_t tcp_read_timeout_ms;    /* to finish a message once begun, default 2000 */
	uint32_t commit_delay_ms;        /* a journal sync waits for more updates, default 5 */
	uint32_t threads;                /* threads answering UDP queries, default 1 */
	uint32_t max_message_size;       /* largest request accepted, default 65535, 512..65535 */
	uint32_t update_rate;            /* UPDATEs a second per TSIG key, default 1000, 0 = no limit */
	uint32_t update_burst;           /* bucket size, default 2000 */
	uint32_t tsig_fudge_max;         /* TSIG window, seconds: min(this, the client's fudge), default 300 */
	uint32_t tsig_replay_cache;      /* MACs remembered, default 65536, 0 = off */
	int cookies;                     /* DNS Cookies (RFC 7873), default 1 */
	int has_cookie_secret;           /* cookie_secret given; else random at start */
	uint8_t cookie_secret[16];
	uint32_t udp_payload_without_cookie; /* UDP answer cap without a valid server cookie, default 512 */
	uint32_t rrl_rate;               /* UDP answers a second per client prefix, default 0 = off */
	uint32_t rrl_slip;               /* every slip-th limited answer goes out with TC, default 2 */
	uint32_t rrl_ipv4_prefix;        /* default 24 */
	uint32_t rrl_ipv6_prefix;        /* default 56 */
	uint32_t rrl_table_size;         /* prefixes tracked, default 65536 */
	uint32_t cache_size;             /* entries, default 10000, 0..10000000 */
	uint64_t cache_bytes;            /* default 32 MiB */
	uint32_t cache_min_ttl;          /* default 0 */
	uint32_t cache_max_ttl;          /* default 86400 */
	uint32_t cache_max_negative_ttl; /* default 3600 */
	uint32_t serve_stale;            /* seconds past expiry, default 0 = off */
	uint32_t upstream_timeout_ms;    /* SERVFAIL after this, default 2500 */
	uint32_t upstream_max_inflight;  /* default 1000 */
	struct cfg_namespace *namespaces;
	size_t nnamespaces;              /* at least 1 */
	struct cfg_key *keys;
	size_t nkeys;
	char **allow_transfer;           /* defaults of the namespaces' lists */
	size_t nallow_transfer;
	struct sockaddr_storage *notify;
	size_t nnotify;
};

/* The configuration used when meshdns runs with no -c: namespace `local`,
 * listening on 127.0.0.1:53 and [::1]:53. */
extern const char config_default_text[];

/* Loads and validates file. On failure returns ERR_CONFIG (or -errno when the
 * file cannot be read) and writes one "file:line:col: message" line to errbuf. */
int config_load(struct config **out, const char *file, char *errbuf, size_t errlen);
/* Same, from text in memory; name is used in messages and to resolve relative
 * zone paths (its directory), and may be "<default>". */
int config_load_text(struct config **out, const char *name, const char *text,
		     char *errbuf, size_t errlen);
void config_free(struct config *cfg);

/* Lookups used by the registry; NULL when absent. */
const struct cfg_service *config_find_service(const struct cfg_namespace *ns, const char *name);

#endif
