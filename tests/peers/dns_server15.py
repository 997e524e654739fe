#!/usr/bin/env python3
"""An authoritative DNS server written in plain Python 3 (standard library only), to prove that
the lesson 15 grader judges any implementation by the bytes it puts on the wire.

    python3 tests/peers/dns_server15.py --zone lessons/15-dns/grader.zone --addr 127.0.0.1:0
    dig @127.0.0.1 -p PORT www.course.test A

UDP and TCP on one port and one selector (non-blocking sockets), the zone format of lesson 15
(a subset of RFC 1035 section 5), CNAME chains, NXDOMAIN and NODATA with the SOA, REFUSED outside
the zone, NOTIMP, FORMERR, EDNS (RFC 6891) with BADVERS, truncation at record boundaries with
TC, and compression of every name against the names written before it.

With `--break NAME` it makes one deliberate, plausible mistake (see BREAKS), so that the tests
can prove each check of the grader catches the mistake it is named after.
"""
import argparse
import selectors
import socket
import struct
import sys

BREAKS = {
    "id-little-endian": "writes the reply's ID in little-endian byte order",
    "no-qr": "leaves QR clear in replies",
    "lowercases-question": "echoes the question name in lower case",
    "case-sensitive": "looks names up without folding case",
    "rd-always-set": "sets RD in every reply",
    "ra-set": "sets RA in every reply",
    "no-aa": "never sets AA",
    "ignores-record-ttl": "gives every record the $TTL, ignoring a TTL on its line",
    "aaaa-expands-wrong": "expands '::' in an IPv6 address at the end instead of in place",
    "txt-joined": "joins a TXT record's strings into one",
    "mx-relative-name": "leaves names in MX data relative (without the origin)",
    "cname-only": "answers the CNAME of an alias without following it",
    "cname-out-refused": "answers REFUSED when a CNAME chain leaves the zone",
    "cname-query-follows": "follows CNAMEs even for a query of type CNAME",
    "nxdomain-no-soa": "sends NXDOMAIN without the SOA",
    "negative-ttl-soa": "gives the SOA in negative answers the SOA's own TTL, not min(TTL, MINIMUM)",
    "ent-nxdomain": "answers NXDOMAIN for an empty non-terminal",
    "suffix-match": "takes any name that ends in the origin's text as inside the zone",
    "ignores-opcode": "answers every opcode as a QUERY",
    "answers-qr": "answers messages with QR set",
    "loops-on-pointers": "follows compression pointers without a hop limit or direction check",
    "crash-on-short": "indexes past the end of a truncated question (the server dies)",
    "qdcount-ignored": "answers the first question whatever QDCOUNT says",
    "label-64-ok": "takes any length byte below 0xC0 as a label length",
    "no-opt": "never sends an OPT record",
    "edns-version-ignored": "answers an OPT of any version as version 0",
    "tc-never": "never truncates UDP replies",
    "ignores-edns-size": "limits UDP replies to 512 bytes even with EDNS",
    "edns-size-literal": "limits UDP replies to the EDNS size even below 512",
    "tcp-truncates": "applies the UDP size limit over TCP too",
    "tcp-no-prefix": "writes TCP replies without the 2-byte length prefix",
    "one-read-one-message": "takes each TCP read as one whole message",
    "one-query-per-tcp": "closes a TCP connection after its first answer",
    "blocking-tcp": "reads a TCP query to its end with blocking reads",
    "separate-ports": "binds UDP and TCP each on a port of its own",
    "pointers-count-tcp-prefix": "counts the TCP length prefix in compression offsets",
    "two-opt-ok": "takes the first of two OPT records instead of answering FORMERR",
    "long-name-ok": "reads names of any length",
    "crash-on-reset": "lets a reset connection's error end the server",
    "udp-first-peer": "answers every datagram to the first client it heard from",
}

A, NS, CNAME, SOA, MX, TXT, AAAA, OPT = 1, 2, 5, 6, 15, 16, 28, 41
TYPES = {"A": A, "NS": NS, "CNAME": CNAME, "SOA": SOA, "MX": MX, "TXT": TXT, "AAAA": AAAA}
NOERROR, FORMERR, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 3, 4, 5
UDP_SIZE = 1232
BROKEN = None


class FormErr(Exception):
    pass


# ---- The zone file ---------------------------------------------------------------------------

def tokens(line):
    """Split a zone line into words; "quoted strings" keep spaces, `;` outside quotes ends it."""
    out, i = [], 0
    while i < len(line):
        c = line[i]
        if c in " \t":
            i += 1
        elif c == ";":
            break
        elif c == '"':
            s, i = bytearray(), i + 1
            while line[i] != '"':
                if line[i] == "\\":
                    i += 1
                s += line[i].encode()
                i += 1
            out.append(bytes(s))
            i += 1
        else:
            j = i
            while j < len(line) and line[j] not in " \t;":
                j += 1
            out.append(line[i:j])
            i = j
    return out


def absolute(name, origin):
    if name == "@":
        return origin
    if name.endswith("."):
        return tuple(l for l in name.lower().split(".") if l)
    return tuple(name.lower().split(".")) + origin


def ipv6(text):
    if "::" in text:
        head, tail = text.split("::")
        head = [g for g in head.split(":") if g]
        tail = [g for g in tail.split(":") if g]
        if BROKEN == "aaaa-expands-wrong":
            groups = head + tail + ["0"] * (8 - len(head) - len(tail))
        else:
            groups = head + ["0"] * (8 - len(head) - len(tail)) + tail
    else:
        groups = text.split(":")
    return b"".join(struct.pack("!H", int(g, 16)) for g in groups)


def load_zone(path):
    """The zone as {name (tuple of lower-case labels): [(type, ttl, rdata)]}, and its origin.
    rdata is a list of parts: bytes, or a name (tuple) that the writer may compress."""
    origin, default_ttl, records = (), 3600, {}
    for line in open(path, encoding="utf-8"):
        words = tokens(line.rstrip("\n"))
        if not words:
            continue
        if words[0] == "$ORIGIN":
            origin = absolute(words[1], ())
            continue
        if words[0] == "$TTL":
            default_ttl = int(words[1])
            continue
        owner, rest = absolute(words[0], origin), words[1:]
        ttl = default_ttl
        if rest[0].isdigit():
            if BROKEN != "ignores-record-ttl":
                ttl = int(rest[0])
            rest = rest[1:]
        if rest[0].upper() == "IN":
            rest = rest[1:]
        rtype, args = TYPES[rest[0].upper()], rest[1:]
        if rtype == A:
            rdata = [socket.inet_aton(args[0])]
        elif rtype == AAAA:
            rdata = [ipv6(args[0])]
        elif rtype in (NS, CNAME):
            rdata = [absolute(args[0], origin)]
        elif rtype == MX:
            target = args[1].lower().split(".") if BROKEN == "mx-relative-name" else None
            rdata = [struct.pack("!H", int(args[0])),
                     tuple(target) if target else absolute(args[1], origin)]
        elif rtype == SOA:
            rdata = [absolute(args[0], origin), absolute(args[1], origin),
                     struct.pack("!5I", *(int(a) for a in args[2:7]))]
        elif rtype == TXT:
            strings = [bytes(s) for s in args]
            if BROKEN == "txt-joined":
                strings = [b" ".join(strings)]
            rdata = [b"".join(bytes([len(s)]) + s for s in strings)]
        records.setdefault(owner, []).append((rtype, ttl, rdata))
    return origin, records


# ---- Reading a query -------------------------------------------------------------------------

def read_name(msg, at):
    """The name at `at` (a tuple of labels, case kept) and the offset after it in place."""
    labels, end, hops, length = [], None, 0, 1
    while True:
        if length > 255 and BROKEN != "long-name-ok":
            raise FormErr("a name over 255 bytes")
        if at >= len(msg):
            raise FormErr("the message ends inside a name")
        n = msg[at]
        if n == 0:
            return tuple(labels), (end if end is not None else at + 1)
        if n >= 0xC0:
            if at + 1 >= len(msg):
                raise FormErr("a pointer cut short")
            target = ((n & 0x3F) << 8) | msg[at + 1]
            if BROKEN != "loops-on-pointers":
                hops += 1
                if target >= at or hops > 32:
                    raise FormErr("a pointer that does not point back")
            if end is None:
                end = at + 2
            at = target
            continue
        if n > 63 and BROKEN != "label-64-ok":
            raise FormErr("a label over 63 bytes")
        if at + 1 + n > len(msg):
            if BROKEN == "crash-on-short":
                sys.exit("IndexError: the question ends inside a label")
            raise FormErr("a label cut short")
        labels.append(bytes(msg[at + 1:at + 1 + n]))
        length += 1 + n
        at += 1 + n


def read_query(msg):
    """(header fields, question, its raw bytes, edns) or raises FormErr."""
    ident, flags, qd, an, ns, ar = struct.unpack("!6H", msg[:12])
    if qd != 1 and not (BROKEN == "qdcount-ignored" and qd > 1):
        raise FormErr("QDCOUNT is not 1")
    name, at = read_name(msg, 12)
    if at + 4 > len(msg):
        if BROKEN == "crash-on-short":
            sys.exit("struct.error: no TYPE and CLASS after the name")
        raise FormErr("no TYPE and CLASS")
    qtype, qclass = struct.unpack("!HH", msg[at:at + 4])
    raw_question = msg[12:at + 4]
    at += 4
    for _ in range(qd - 1):  # qdcount-ignored only
        _, at = read_name(msg, at)
        at += 4
    edns = None
    for _ in range(an + ns + ar):
        _, at = read_name(msg, at)
        if at + 10 > len(msg):
            raise FormErr("a record cut short")
        rtype, rclass, ttl, rdlen = struct.unpack("!HHIH", msg[at:at + 10])
        if rtype == OPT:
            if edns is not None:
                if BROKEN == "two-opt-ok":
                    continue
                raise FormErr("two OPT records")
            edns = (rclass, (ttl >> 16) & 0xFF)
        at += 10 + rdlen
    return ident, flags, name, qtype, raw_question, edns


# ---- Looking up the answer -------------------------------------------------------------------

class Zone:
    def __init__(self, origin, records):
        self.origin, self.records = origin, records
        self.names = set(records)

    def key(self, name):
        return name if BROKEN == "case-sensitive" else tuple(l.lower() for l in name)

    def inside(self, name):
        key = tuple(l.decode("latin-1") if isinstance(l, bytes) else l for l in name)
        key = tuple(l.lower() for l in key)
        if BROKEN == "suffix-match":
            return ".".join(key).endswith(".".join(self.origin))
        return key[len(key) - len(self.origin):] == self.origin

    def exists(self, key):
        """A name exists if it has records or names below it (an empty non-terminal)."""
        if key in self.names:
            return True
        if BROKEN == "ent-nxdomain":
            return False
        return any(n[len(n) - len(key):] == key and len(n) > len(key) for n in self.names)

    def soa(self, negative):
        rtype, ttl, rdata = next(r for r in self.records[self.origin] if r[0] == SOA)
        minimum = struct.unpack("!5I", rdata[2])[4]
        if negative and BROKEN != "negative-ttl-soa":
            ttl = min(ttl, minimum)
        return (self.origin, SOA, ttl, rdata)

    def answer(self, qname, qtype):
        """(rcode, answer records, authority records); a record is (owner, type, ttl, rdata)."""
        name = tuple(l.decode("latin-1") for l in qname)
        if not self.inside(name):
            return REFUSED, [], []
        answer, owner, seen = [], self.key(name), set()
        while True:
            here = self.records.get(owner, [])
            cname = [r for r in here if r[0] == CNAME]
            if cname and qtype != CNAME:
                _, ttl, rdata = cname[0]
                answer.append((owner, CNAME, ttl, rdata))
                target = rdata[0]
                if BROKEN == "cname-only":
                    return NOERROR, answer, []
                if not self.inside(target):
                    return (REFUSED if BROKEN == "cname-out-refused" else NOERROR), answer, []
                if target in seen or len(seen) > 8:
                    return NOERROR, answer, []  # a loop: stop where we are
                seen.add(owner)
                owner = target
                continue
            if qtype == CNAME and cname and BROKEN == "cname-query-follows":
                qtype = A
                continue
            matching = [(owner, t, ttl, d) for (t, ttl, d) in here if t == qtype]
            if matching:
                return NOERROR, answer + matching, []
            if not self.exists(owner):
                if answer:
                    return NOERROR, answer, []
                soa = [] if BROKEN == "nxdomain-no-soa" else [self.soa(True)]
                return NXDOMAIN, [], soa
            return NOERROR, answer, [self.soa(True)]


# ---- Writing the reply -----------------------------------------------------------------------

class Writer:
    """A message under construction; names are compressed against every name written before."""

    def __init__(self, base):
        self.msg, self.names, self.base = bytearray(), {}, base

    def name(self, labels):
        labels = list(labels)
        for i in range(len(labels)):
            suffix = tuple(l.lower() if isinstance(l, str) else l.decode("latin-1").lower()
                           for l in labels[i:])
            if suffix in self.names:
                self.msg += struct.pack("!H", 0xC000 | (self.names[suffix] + self.base))
                return
            if len(self.msg) < 0x3FFF:
                self.names[suffix] = len(self.msg)
            label = labels[i] if isinstance(labels[i], bytes) else labels[i].encode()
            self.msg += bytes([len(label)]) + label
        self.msg.append(0)

    def record(self, owner, rtype, ttl, rdata, rclass=1):
        self.name(owner)
        self.msg += struct.pack("!HHI", rtype, rclass, ttl)
        length_at = len(self.msg)
        self.msg += b"\0\0"
        for part in rdata:
            if isinstance(part, tuple):
                self.name(part)
            else:
                self.msg += part
        struct.pack_into("!H", self.msg, length_at, len(self.msg) - length_at - 2)


def reply(zone, msg, over_tcp):
    """The reply to `msg`, or None for no reply at all."""
    if len(msg) < 12:
        return None
    ident, flags = struct.unpack("!HH", msg[:4])
    if flags & 0x8000 and BROKEN != "answers-qr":
        return None  # never answer a response
    opcode = (flags >> 11) & 0xF
    base = flags & 0x7900 if BROKEN != "rd-always-set" else (flags & 0x7800) | 0x0100
    base |= 0x8000 if BROKEN != "no-qr" else 0
    base |= 0x0080 if BROKEN == "ra-set" else 0

    def header(rcode, counts, tc=False, aa=True):
        f = base | rcode | (0x0200 if tc else 0) | (0x0400 if aa and BROKEN != "no-aa" else 0)
        packed_id = struct.pack("<H", ident) if BROKEN == "id-little-endian" else struct.pack("!H", ident)
        return packed_id + struct.pack("!H4H", f, *counts)

    if opcode != 0 and BROKEN != "ignores-opcode":
        return header(NOTIMP, (0, 0, 0, 0), aa=False)
    try:
        _, _, qname, qtype, raw_question, edns = read_query(msg)
    except (FormErr, struct.error):
        return header(FORMERR, (0, 0, 0, 0), aa=False)
    if BROKEN == "no-opt":
        edns = None

    # The question, copied: its name written by the compressing writer (so that later names
    # can point at it; the dictionary is empty, so these are the query's own bytes), then TYPE
    # and CLASS.
    w = Writer(2 if over_tcp and BROKEN == "pointers-count-tcp-prefix" else 0)
    w.msg += b"\0" * 12
    w.name(qname)
    w.msg += raw_question[-4:]
    if BROKEN == "lowercases-question":
        w.msg[12:] = bytes(w.msg[12:]).lower()

    if edns and edns[1] > 0 and BROKEN != "edns-version-ignored":
        w.record((), OPT, 1 << 24, [], rclass=UDP_SIZE)  # BADVERS: extended RCODE 16
        return header(NOERROR, (1, 0, 0, 1)) + w.msg[12:]

    rcode, answer, authority = zone.answer(qname, qtype)
    aa = rcode != REFUSED
    if rcode == REFUSED:
        answer, authority = [], []
    if over_tcp and BROKEN != "tcp-truncates":
        limit = 65535
    elif edns is None or BROKEN == "ignores-edns-size":
        limit = 512
    elif BROKEN == "edns-size-literal":
        limit = min(edns[0], UDP_SIZE)
    else:
        limit = max(512, min(edns[0], UDP_SIZE))
    if BROKEN == "tc-never":
        limit = 65535
    room = limit - (11 if edns else 0)
    counts, tc = [1, 0, 0, 0], False
    for section, records in ((1, answer), (2, authority)):
        for owner, rtype, ttl, rdata in records:
            mark = len(w.msg)
            # The answer's first owner is the question's name: point at it (offset 12).
            w.record(qname if owner == zone.key(tuple(l.decode("latin-1") for l in qname)) else owner,
                     rtype, ttl, rdata)
            if len(w.msg) > room:
                del w.msg[mark:]
                tc = True
                break
            counts[section] += 1
        if tc:
            break
    if edns:
        w.record((), OPT, 0, [], rclass=UDP_SIZE)
        counts[3] = 1
    return header(rcode, counts, tc=tc, aa=aa) + w.msg[12:]


# ---- Sockets ---------------------------------------------------------------------------------

def main():
    global BROKEN
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", default="127.0.0.1:7015")
    parser.add_argument("--zone", required=True)
    parser.add_argument("--break", dest="broken", choices=sorted(BREAKS))
    args = parser.parse_args()
    BROKEN = args.broken
    origin, records = load_zone(args.zone)
    zone = Zone(origin, records)
    host, port = args.addr.rsplit(":", 1)

    # TCP and UDP on the same port number. With port 0 the kernel picks a free TCP port, which
    # may be taken for UDP by someone else (tests run in parallel): then try again.
    for attempt in range(50):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, int(port)))
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            udp.bind((host, 0 if BROKEN == "separate-ports" else listener.getsockname()[1]))
            break
        except OSError:
            listener.close()
            udp.close()
            if int(port) != 0 or attempt == 49:
                raise
    listener.listen(128)
    listener.setblocking(False)
    udp.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "listener")
    sel.register(udp, selectors.EVENT_READ, "udp")
    print(f"listening on udp://{host}:{udp.getsockname()[1]}", flush=True)
    print(f"listening on tcp://{host}:{listener.getsockname()[1]}", flush=True)

    inbox = {}  # TCP connection -> bytes received and not yet a whole message
    first_peer = None  # only for --break udp-first-peer

    def close(conn):
        sel.unregister(conn)
        inbox.pop(conn, None)
        conn.close()

    def send_tcp(conn, answer):
        """Send a reply; False if the client has gone (reset, closed), and then it is closed."""
        data = answer if BROKEN == "tcp-no-prefix" else struct.pack("!H", len(answer)) + answer
        try:
            conn.setblocking(True)  # replies are small: let sendall finish
            conn.sendall(data)
            conn.setblocking(False)
            return True
        except OSError:
            if BROKEN == "crash-on-reset":
                raise
            close(conn)
            return False

    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            if key.data == "listener":
                try:
                    conn, _ = sock.accept()
                except BlockingIOError:
                    continue
                conn.setblocking(False)
                inbox[conn] = b""
                sel.register(conn, selectors.EVENT_READ, "conn")
            elif key.data == "udp":
                try:
                    msg, peer = sock.recvfrom(65535)
                except BlockingIOError:
                    continue
                answer = reply(zone, msg, over_tcp=False)
                first_peer = first_peer or peer
                if answer is not None:
                    sock.sendto(answer, first_peer if BROKEN == "udp-first-peer" else peer)
            else:
                conn = sock
                try:
                    data = conn.recv(65535)
                except (BlockingIOError, InterruptedError):
                    continue
                except ConnectionError:
                    if BROKEN == "crash-on-reset":
                        raise
                    close(conn)
                    continue
                if not data:
                    close(conn)
                    continue
                if BROKEN == "one-read-one-message":
                    msg = data[2:2 + struct.unpack("!H", data[:2])[0]] if len(data) >= 2 else b""
                    answer = reply(zone, msg, over_tcp=True)
                    if answer is not None:
                        send_tcp(conn, answer)
                    continue
                buf = inbox[conn] + data
                if BROKEN == "blocking-tcp":
                    conn.setblocking(True)
                    while len(buf) < 2 or len(buf) < 2 + struct.unpack("!H", buf[:2])[0]:
                        more = conn.recv(65535)
                        if not more:
                            break
                        buf += more
                    conn.setblocking(False)
                closed = False
                while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                    n = struct.unpack("!H", buf[:2])[0]
                    msg, buf = buf[2:2 + n], buf[2 + n:]
                    answer = reply(zone, msg, over_tcp=True)
                    if answer is not None and not send_tcp(conn, answer):
                        closed = True
                        break
                    if BROKEN == "one-query-per-tcp":
                        close(conn)
                        closed = True
                        break
                if not closed:
                    inbox[conn] = buf


if __name__ == "__main__":
    main()
