#!/usr/bin/env python3
"""tests/e2e/malformed.py - broken DNS packets against a running meshdns.

    malformed.py PORT cases          one packet per kind of damage, each
                                     followed by a good query
    malformed.py PORT random N       N random and N mutated packets (UDP),
                                     then a few garbage TCP streams
    malformed.py PORT all N          both

Raw sockets only (no dnspython). Prints "ok - ..." / "not ok - ..." per
check and exits 1 when one failed.
"""
import random
import socket
import struct
import sys
import time

HOST = "127.0.0.1"
PORT = 0
failed = 0

QR, AA, TC, RD = 0x8000, 0x0400, 0x0200, 0x0100
NOERROR, FORMERR, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 3, 4, 5
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def ok(cond, what):
    global failed
    if cond:
        print("ok - " + what)
    else:
        failed += 1
        print("not ok - " + what)
    sys.stdout.flush()
    return cond


def name(text):
    return b"".join(bytes([len(l)]) + l.encode() for l in text.rstrip(".").split(".") if l) + b"\0"


def header(qid=0x4242, flags=RD, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def question(qname="payments-v1.local", qtype=1, qclass=1):
    return name(qname) + struct.pack("!HH", qtype, qclass)


def opt(payload=1232, version=0, options=b"", owner=b"\0"):
    return owner + struct.pack("!HHIH", 41, payload, version << 16, len(options)) + options


def exchange(pkt, wait=1.0):
    """Sends pkt over UDP; returns the answer (bytes) or None after wait s."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(wait)
    try:
        s.sendto(pkt, (HOST, PORT))
        return s.recv(65535)
    except socket.timeout:
        return None
    finally:
        s.close()


def parse(m):
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", m[:12])
    return {"id": qid, "flags": flags, "rcode": flags & 0xF, "qd": qd, "an": an, "ns": ns, "ar": ar,
            "opcode": (flags >> 11) & 0xF}


def alive(what):
    """A good query right after: the server must still answer it."""
    qid = random.randrange(65536)
    m = exchange(header(qid=qid) + question(), wait=2.0)
    good = m is not None and len(m) >= 12 and parse(m)["id"] == qid and parse(m)["rcode"] == NOERROR \
        and parse(m)["an"] > 0
    return ok(good, "alive after " + what)


def expect(what, pkt, rcode, qd=None, edns=None, opcode=0):
    """pkt must get rcode (None: no answer at all)."""
    qid = struct.unpack("!H", pkt[:2])[0] if len(pkt) >= 2 else None
    m = exchange(pkt, wait=0.5 if rcode is None else 2.0)
    if rcode is None:
        ok(m is None, what + ": no answer")
    elif m is None or len(m) < 12:
        ok(False, what + ": %s expected, got %s" % (RCODES.get(rcode), "nothing" if m is None else m))
    else:
        h = parse(m)
        got = RCODES.get(h["rcode"], str(h["rcode"]))
        good = h["rcode"] == rcode and h["id"] == qid and h["flags"] & QR and h["opcode"] == opcode
        detail = "rcode %s, id %04x" % (got, h["id"])
        if qd is not None:
            good = good and h["qd"] == qd
            detail += ", qdcount %d" % h["qd"]
        if edns is not None:
            good = good and (h["ar"] > 0) == edns
            detail += ", arcount %d" % h["ar"]
        good = good and (h["an"] == 0 or rcode == NOERROR)
        ok(good, "%s: %s (%s)" % (what, RCODES.get(rcode), detail))
    alive(what)


def cases():
    q = question()
    expect("good query", header() + q, NOERROR, qd=1)
    expect("empty packet", b"", None)
    expect("header of 5 bytes", header()[:5], None)
    expect("header of 11 bytes", header()[:11], None)
    expect("header only, qdcount 1", header(), FORMERR, qd=0)
    expect("question cut inside the name", header() + q[:6], FORMERR, qd=0)
    expect("question without type and class", header() + name("payments-v1.local"), FORMERR, qd=0)
    expect("question without class", header() + q[:-2], FORMERR, qd=0)
    expect("qdcount 0", header(qd=0), FORMERR, qd=0)
    expect("qdcount 2", header(qd=2) + q + question("payments-v2.local"), FORMERR)
    expect("qdcount 2 with one question", header(qd=2) + q, FORMERR)
    expect("compression pointer to itself", header() + b"\xc0\x0c" + struct.pack("!HH", 1, 1),
           FORMERR, qd=0)
    expect("compression pointer loop of two",
           header() + b"\x03abc\xc0\x12" + b"\x03def\xc0\x0c" + struct.pack("!HH", 1, 1), FORMERR, qd=0)
    expect("compression pointer forward out of the packet", header() + b"\xc3\xff" +
           struct.pack("!HH", 1, 1), FORMERR, qd=0)
    expect("label length 64 (reserved bits)", header() + b"\x40" + b"a" * 64 + b"\0" +
           struct.pack("!HH", 1, 1), FORMERR, qd=0)
    long_name = b"".join(b"\x3f" + b"a" * 63 for _ in range(4)) + b"\x05local\0"
    expect("name longer than 255 bytes", header() + long_name + struct.pack("!HH", 1, 1), FORMERR, qd=0)
    rr = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 5, 4) + b"\x7f\0\0\1"
    expect("ancount 1", header(an=1) + q + rr, FORMERR, edns=False)
    expect("nscount 1", header(ns=1) + q + rr, FORMERR, edns=False)
    expect("ancount 1 without the record", header(an=1) + q, FORMERR)
    expect("one OPT: good", header(ar=1) + q + opt(), NOERROR, edns=True)
    expect("two OPT records", header(ar=2) + q + opt() + opt(), FORMERR, qd=1, edns=False)
    expect("OPT with a non-root owner", header(ar=1) + q + opt(owner=name("x")), FORMERR, edns=False)
    expect("OPT option longer than its rdata", header(ar=1) + q + opt(options=struct.pack("!HH", 10, 40)),
           FORMERR, edns=False)
    expect("OPT rdlength past the end", header(ar=1) + q + b"\0" + struct.pack("!HHIH", 41, 1232, 0, 20),
           FORMERR, edns=False)
    expect("arcount 1 without the record", header(ar=1) + q, FORMERR)
    expect("garbage after the message", header() + q + b"\xde\xad\xbe\xef", FORMERR, qd=1)
    expect("one garbage byte after the message", header() + q + b"\0", FORMERR, qd=1)
    expect("garbage after the OPT", header(ar=1) + q + opt() + b"junk", FORMERR, edns=False)
    expect("QR=1 (a response)", header(flags=QR | RD) + q, None)
    expect("QR=1 with an error rcode", header(flags=QR | FORMERR) + q, None)
    expect("opcode IQUERY", header(flags=1 << 11) + q, NOTIMP, opcode=1)
    expect("opcode STATUS", header(flags=2 << 11) + q, NOTIMP, opcode=2)
    expect("opcode 15", header(flags=15 << 11) + q, NOTIMP, opcode=15)
    expect("question of type OPT", header() + question(qtype=41), FORMERR)
    expect("question of type TSIG", header() + question(qtype=250), FORMERR)
    expect("class CH, unknown name", header() + question("foo.bar", 16, 3), REFUSED)
    expect("class NONE", header() + question(qclass=254), REFUSED)
    expect("EDNS version 1 (BADVERS: header rcode 0, OPT present)", header(ar=1) + q + opt(version=1), 16 & 0xF, edns=True)
    expect("EDNS buffer 0 (treated as 512)", header(ar=1) + question("big.local", 33) + opt(payload=0),
           NOERROR, edns=True)
    m = exchange(header(ar=1) + question("big.local", 33) + opt(payload=0), 2.0)
    ok(m is not None and len(m) <= 512, "EDNS buffer 0: answer of at most 512 bytes (%s)"
       % (len(m) if m else None))
    # BADVERS is extended rcode 16: header rcode 0, OPT ttl high byte 1.
    m = exchange(header(ar=1) + q + opt(version=1), 2.0)
    ok(m is not None and m[-11] == 0 and m[-10:-8] == b"\0\x29" and m[-6] == 1, "EDNS version 1: extended rcode BADVERS in OPT")


def update(records, nrec=1, nopt=0):
    """An unsigned UPDATE of zone local with records (wire form, nrec of
    them) in its update section, then nopt OPT records."""
    return (header(flags=5 << 11, ns=nrec, ar=nopt) + question("local", 6, 1) + records +
            b"".join(opt() for _ in range(nopt)))


def rr(rdtype, rdata, owner=None):
    return (owner or name("t1.payments-v1.local")) + struct.pack("!HHIH", rdtype, 1, 5, len(rdata)) + rdata


def update_cases():
    a = b"\x0a\0\0\x05"
    srv = struct.pack("!HHH", 0, 100, 5000)
    expect("UPDATE, well-formed but unsigned", update(rr(1, a)), REFUSED, opcode=5)
    expect("UPDATE, A record of 3 bytes", update(rr(1, a[:3])), FORMERR, opcode=5)
    expect("UPDATE, AAAA record of 4 bytes", update(rr(28, a)), FORMERR, opcode=5)
    expect("UPDATE, TXT string longer than its rdata", update(rr(16, b"\x05ab")), FORMERR, opcode=5)
    expect("UPDATE, SRV target cut", update(rr(33, srv + b"\x02t1")), FORMERR, opcode=5)
    expect("UPDATE, SRV with a byte after its target", update(rr(33, srv + b"\0\0")), FORMERR,
           opcode=5)
    expect("UPDATE, two OPT records", update(rr(1, a), nopt=2), FORMERR, opcode=5)
    # A first record of a private type holds a root label, then 127
    # compression pointers, each to the one before; the second record's
    # owner is a pointer to one of them: to the last, 128 hops in all.
    first = rr(65280, b"")
    base = 12 + len(question("local", 6, 1)) + len(first)   # where its rdata starts
    chain = b"\0" + b"".join(struct.pack("!H", 0xC000 | (base if i == 0 else base + 1 + 2 * (i - 1)))
                             for i in range(127))
    first = rr(65280, chain)
    for hops, rcode in ((128, FORMERR), (127, REFUSED)):
        owner = struct.pack("!H", 0xC000 | (base + 1 + 2 * (hops - 2)))
        expect("UPDATE, an owner name through %d compression pointers" % hops,
               update(first + rr(1, a, owner=owner), nrec=2), rcode, opcode=5)


def random_packets(n):
    rnd = random.Random(1234)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    base = header() + question() + opt()
    answered = 0
    for i in range(n):
        pkt = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 600)))
        s.sendto(pkt, (HOST, PORT))
        m = bytearray(base)
        for _ in range(rnd.randrange(1, 6)):
            m[rnd.randrange(len(m))] = rnd.randrange(256)
        if rnd.random() < 0.3:
            m = m[:rnd.randrange(len(m))]
        s.sendto(bytes(m), (HOST, PORT))
        if i % 100 == 99:  # drain, so our buffer does not fill; keep pace with the server
            time.sleep(0.005)
            while True:
                try:
                    s.recv(65535)
                    answered += 1
                except (BlockingIOError, socket.error):
                    break
    # The server may still be working through the flood (under valgrind,
    # thousands of packets behind): take its answers until it has been quiet
    # for a second (at most 60 s), so the check below asks whether it still
    # serves, not whether it caught up within alive()'s 2 s.
    s.setblocking(True)
    s.settimeout(1.0)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            s.recv(65535)
            answered += 1
        except socket.timeout:
            break
    s.close()
    print("# %d of %d random/mutated packets answered" % (answered, 2 * n))
    alive("%d random and %d mutated UDP packets" % (n, n))
    # TCP: garbage streams, a length prefix with nothing after, a zero length.
    for what, data in (("TCP garbage", bytes(rnd.randrange(256) for _ in range(3000))),
                       ("TCP length without message", b"\x01\x00"),
                       ("TCP zero length", b"\x00\x00" + b"\x00\x00"),
                       ("TCP half a length", b"\x00")):
        c = socket.create_connection((HOST, PORT), timeout=2)
        try:
            c.sendall(data)
        except OSError:
            pass
        c.close()
        alive(what)


def main():
    global PORT
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    PORT = int(sys.argv[1])
    mode = sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    if mode in ("cases", "all"):
        cases()
        update_cases()
    if mode in ("random", "all"):
        random_packets(n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
