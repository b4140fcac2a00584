#!/usr/bin/env python3
"""bench/dataset.py - the same names for every server of bench/run.

Writes into DIR:
  meshdns.yaml   namespace local.: SERVICES services svc<N> of INSTANCES
                 instances each (id i<K>, 10.<N/256>.<N%256>.<K+1>, port 8000,
                 weight 100), and a router `router` sending 90% to svc0 and
                 10% to svc1.
  local.zone     the same names as static records for Knot, NSD and dnsmasq:
                 svc<N>.local. A x INSTANCES, _svc<N>._tcp.local. SRV x
                 INSTANCES, i<K>.svc<N>.local. A, router.local. A (the
                 instances of svc0 and svc1: a static server cannot weight).
  dnsmasq.conf   dnsmasq's equivalent (the A records in dnsmasq.hosts as
  dnsmasq.hosts  addn-hosts, srv-host lines), local=/local/ (no forwarding).
  queries.txt    QUERIES lines for dnsperf: 40% svc<N> A, 20% _svc<N>._tcp
                 SRV, 20% instance A, 10% router A, 10% NXDOMAIN names.

Usage: dataset.py DIR [SERVICES] [INSTANCES] [QUERIES] [PORT]
"""
import os
import random
import sys


def addr(n, k):
    return "10.%d.%d.%d" % (n // 256, n % 256, k + 1)


def main():
    out = sys.argv[1]
    services = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    instances = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    nqueries = int(sys.argv[4]) if len(sys.argv) > 4 else 100000
    port = int(sys.argv[5]) if len(sys.argv) > 5 else 5300
    os.makedirs(out, exist_ok=True)

    with open(os.path.join(out, "meshdns.yaml"), "w") as f:
        f.write("listen: [\"127.0.0.1:%d\"]\nupstream: []\n" % port)
        f.write("namespaces:\n  - name: local\n    zone: local-soa.zone\n"
                "    ttl: 60\n    max_answers: 8\n    services:\n")
        for n in range(services):
            f.write("      svc%d:\n        instances:\n" % n)
            for k in range(instances):
                f.write("          - {id: i%d, address: %s, port: 8000, weight: 100}\n"
                        % (k, addr(n, k)))
        f.write("    routers:\n      router:\n        routes:\n"
                "          - {target: svc0, weight: 90}\n"
                "          - {target: svc1, weight: 10}\n")

    soa = ("$ORIGIN local.\n$TTL 60\n"
           "@ IN SOA ns.local. hostmaster.local. 1 3600 600 86400 60\n"
           "@ IN NS ns.local.\nns IN A 127.0.0.1\n")
    with open(os.path.join(out, "local-soa.zone"), "w") as f:
        f.write(soa)
    with open(os.path.join(out, "local.zone"), "w") as f:
        f.write(soa)
        for n in range(services):
            for k in range(instances):
                f.write("svc%d IN A %s\n" % (n, addr(n, k)))
                f.write("_svc%d._tcp IN SRV 0 100 8000 i%d.svc%d\n" % (n, k, n))
                f.write("i%d.svc%d IN A %s\n" % (k, n, addr(n, k)))
        for n in (0, 1):
            for k in range(instances):
                f.write("router IN A %s\n" % addr(n, k))

    hosts = os.path.abspath(os.path.join(out, "dnsmasq.hosts"))
    with open(hosts, "w") as f:
        for n in range(services):
            for k in range(instances):
                f.write("%s svc%d.local\n" % (addr(n, k), n))
                f.write("%s i%d.svc%d.local\n" % (addr(n, k), k, n))
        for n in (0, 1):
            for k in range(instances):
                f.write("%s router.local\n" % addr(n, k))
    with open(os.path.join(out, "dnsmasq.conf"), "w") as f:
        f.write("no-resolv\nno-hosts\naddn-hosts=%s\nlocal=/local/\n"
                "domain-needed\nlocal-ttl=60\n" % hosts)
        for n in range(services):
            for k in range(instances):
                f.write("srv-host=_svc%d._tcp.local,i%d.svc%d.local,8000,0,100\n"
                        % (n, k, n))

    rnd = random.Random(7)
    with open(os.path.join(out, "queries.txt"), "w") as f:
        for _ in range(nqueries):
            r = rnd.random()
            n = rnd.randrange(services)
            if r < 0.4:
                f.write("svc%d.local A\n" % n)
            elif r < 0.6:
                f.write("_svc%d._tcp.local SRV\n" % n)
            elif r < 0.8:
                f.write("i%d.svc%d.local A\n" % (rnd.randrange(instances), n))
            elif r < 0.9:
                f.write("router.local A\n")
            else:
                f.write("nx%d.local A\n" % rnd.randrange(1000000))


if __name__ == "__main__":
    main()
