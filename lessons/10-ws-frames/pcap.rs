//! Reading a capture by hand: what `tcpdump -i lo -w FILE` writes, down to the two byte streams
//! of each TCP connection.
//!
//! Four layers, each a header in front of the next one's bytes:
//!
//! ```text
//!   pcap file:  global header (24 bytes: magic, version, snaplen, link type)
//!               then per packet: 16-byte record header (time, captured length, length)
//!   link:       Ethernet (14, +4 per VLAN tag), Linux cooked v1 (16) or v2 (20), BSD loopback (4)
//!   network:    IPv4 (IHL x 4 bytes) or IPv6 (40 bytes, extension headers skipped)
//!   transport:  TCP (data offset x 4 bytes): ports, sequence number, flags, then the data
//! ```
//!
//! TCP numbers every byte: a segment's sequence number is the position of its first byte in
//! the sender's stream, counted from the initial sequence number its SYN carried (the SYN
//! itself takes one number). Putting a direction's data back in order is therefore "write each
//! segment at `seq - isn - 1`": retransmissions land on the same bytes, reordered segments in
//! their place, and a gap is a hole that the capture missed.
//!
//! What is not read: pcapng (the newer format Wireshark writes by default; `tcpdump -r in.pcapng
//! -w out.pcap` converts it), IP fragments, and link types other than the four above (and raw
//! IP). A capture cut short by `-s` (snaplen) leaves holes, which are reported.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// One direction of one TCP connection: who sent, to whom, and the bytes in stream order.
pub struct Stream {
    pub from: SocketAddr,
    pub to: SocketAddr,
    /// Whether `from` sent the SYN without ACK: the side that opened the connection.
    pub opened: bool,
    pub data: Vec<u8>,
    /// Bytes missing from the capture inside the stream (holes filled with nothing).
    pub missing: u64,
    /// The packet number (from 1) of the first segment, to order connections.
    pub first_packet: usize,
}

/// Why a capture cannot be read.
#[derive(Debug)]
pub struct PcapError(pub String);

impl fmt::Display for PcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PcapError {}

fn err<T>(what: impl Into<String>) -> Result<T, PcapError> {
    Err(PcapError(what.into()))
}

/// Link types (the `network` field of the global header; see tcpdump.org/linktypes.html).
const LINKTYPE_NULL: u32 = 0;
const LINKTYPE_ETHERNET: u32 = 1;
const LINKTYPE_RAW: u32 = 101;
const LINKTYPE_LOOP: u32 = 108;
const LINKTYPE_LINUX_SLL: u32 = 113;
const LINKTYPE_LINUX_SLL2: u32 = 276;

/// Every TCP byte stream in a classic pcap capture, in the order their first packet came.
pub fn tcp_streams(file: &[u8]) -> Result<Vec<Stream>, PcapError> {
    let Some(magic) = file.get(..4) else {
        return err("not a capture: shorter than a pcap header");
    };
    // The magic number says the byte order the writer used, and the time resolution.
    let little = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        [0x0a, 0x0d, 0x0d, 0x0a] => return err(
            "this is a pcapng capture (what Wireshark and `tcpdump --pcapng` write), which this \
                 dissector does not read: convert it with `tcpdump -r FILE.pcapng -w FILE.pcap` \
                 (or `editcap -F pcap`), or capture with plain `tcpdump -w FILE`",
        ),
        _ => return err(format!("not a pcap capture: magic number {magic:02x?}")),
    };
    let u32_at = |b: &[u8], at: usize| -> u32 {
        let v: [u8; 4] = b[at..at + 4].try_into().expect("4 bytes");
        if little {
            u32::from_le_bytes(v)
        } else {
            u32::from_be_bytes(v)
        }
    };
    if file.len() < 24 {
        return err("the pcap global header is cut short");
    }
    let link = u32_at(file, 20) & 0x0fff_ffff;
    let mut flows: BTreeMap<(SocketAddr, SocketAddr), Flow> = BTreeMap::new();
    let mut at = 24;
    let mut number = 0;
    while at + 16 <= file.len() {
        number += 1;
        let captured = u32_at(file, at + 8) as usize;
        let Some(packet) = file.get(at + 16..at + 16 + captured) else {
            break; // the file ends inside a packet: a capture interrupted while writing
        };
        at += 16 + captured;
        let ip = match link_payload(link, packet, little)? {
            Some(ip) => ip,
            None => continue, // not IP (ARP, ...)
        };
        if let Some(seg) = tcp_segment(ip) {
            flows
                .entry((seg.from, seg.to))
                .or_insert_with(|| Flow::new(number))
                .add(&seg);
        }
    }
    let mut streams: Vec<Stream> = flows
        .into_iter()
        .map(|((from, to), flow)| flow.into_stream(from, to))
        .collect();
    streams.sort_by_key(|s| s.first_packet);
    Ok(streams)
}

/// The IP packet inside a link-layer frame, or `None` if it carries something else.
fn link_payload(link: u32, p: &[u8], little: bool) -> Result<Option<&[u8]>, PcapError> {
    let (ethertype, rest) = match link {
        LINKTYPE_ETHERNET => {
            // destination MAC, source MAC, EtherType; 802.1Q tags (0x8100) put 4 bytes before it
            let mut at = 12;
            while p.get(at..at + 2) == Some(&[0x81, 0x00]) {
                at += 4;
            }
            match p.get(at..at + 2) {
                Some(t) => (u16::from_be_bytes([t[0], t[1]]), &p[at + 2..]),
                None => return Ok(None),
            }
        }
        // Linux "cooked" capture (tcpdump -i any, and -i lo on some systems): v1 has the
        // protocol at bytes 14-15 of 16, v2 at bytes 0-1 of 20.
        LINKTYPE_LINUX_SLL => match p.get(14..16) {
            Some(t) => (u16::from_be_bytes([t[0], t[1]]), &p[16..]),
            None => return Ok(None),
        },
        LINKTYPE_LINUX_SLL2 if p.len() >= 20 => (u16::from_be_bytes([p[0], p[1]]), &p[20..]),
        LINKTYPE_LINUX_SLL2 => return Ok(None),
        // BSD loopback: a 4-byte address family, in the writer's byte order (NULL) or network
        // order (LOOP). 2 is AF_INET everywhere; AF_INET6 differs between systems.
        LINKTYPE_NULL | LINKTYPE_LOOP if p.len() >= 4 => {
            let family: [u8; 4] = p[..4].try_into().expect("4 bytes");
            let family = if link == LINKTYPE_NULL && little {
                u32::from_le_bytes(family)
            } else {
                u32::from_be_bytes(family)
            };
            let ethertype = match family {
                2 => 0x0800,
                10 | 24 | 28 | 30 => 0x86dd,
                _ => return Ok(None),
            };
            (ethertype, &p[4..])
        }
        LINKTYPE_NULL | LINKTYPE_LOOP => return Ok(None),
        LINKTYPE_RAW => (0, p),
        other => {
            return err(format!(
                "link type {other} is not supported (Ethernet 1, Linux cooked 113 and 276, \
                 loopback 0 and 108, raw IP 101 are)"
            ))
        }
    };
    Ok(match ethertype {
        0x0800 | 0x86dd | 0 => Some(rest),
        _ => None,
    })
}

/// One TCP segment: addresses, sequence number, flags, data.
struct Segment<'a> {
    from: SocketAddr,
    to: SocketAddr,
    seq: u32,
    syn: bool,
    ack: bool,
    data: &'a [u8],
}

/// The TCP segment in an IPv4 or IPv6 packet, if it is one (and not a fragment).
fn tcp_segment(ip: &[u8]) -> Option<Segment<'_>> {
    let version = ip.first()? >> 4;
    let (src, dst, tcp): (IpAddr, IpAddr, &[u8]) = match version {
        4 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            let fragment = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
            // More fragments (0x2000) or an offset: a piece of a bigger packet; not read.
            if *ip.get(9)? != 6 || fragment & 0x3fff != 0 {
                return None;
            }
            let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            // Ethernet pads short frames: the IP total length says where the packet ends.
            let end = total.min(ip.len());
            (
                Ipv4Addr::from(src).into(),
                Ipv4Addr::from(dst).into(),
                ip.get(ihl..end)?,
            )
        }
        6 => {
            let payload = usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]));
            let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            let mut next = *ip.get(6)?;
            let mut at = 40;
            let end = (40 + payload).min(ip.len());
            // Hop-by-hop (0), routing (43), destination options (60): skip them. Fragments
            // (44) and the rest are not read.
            while matches!(next, 0 | 43 | 60) {
                next = *ip.get(at)?;
                at += (usize::from(*ip.get(at + 1)?) + 1) * 8;
            }
            if next != 6 {
                return None;
            }
            (
                Ipv6Addr::from(src).into(),
                Ipv6Addr::from(dst).into(),
                ip.get(at..end)?,
            )
        }
        _ => return None,
    };
    let port = |at: usize| Some(u16::from_be_bytes([*tcp.get(at)?, *tcp.get(at + 1)?]));
    let seq = u32::from_be_bytes(tcp.get(4..8)?.try_into().ok()?);
    let offset = usize::from(tcp.get(12)? >> 4) * 4;
    let flags = *tcp.get(13)?;
    Some(Segment {
        from: SocketAddr::new(src, port(0)?),
        to: SocketAddr::new(dst, port(2)?),
        seq,
        syn: flags & 0x02 != 0,
        ack: flags & 0x10 != 0,
        data: tcp.get(offset..)?,
    })
}

/// One direction being put back together.
struct Flow {
    first_packet: usize,
    /// The sequence number of the first data byte: ISN + 1 once the SYN is seen, else the
    /// first segment's.
    start: Option<u32>,
    opened: bool,
    /// Data by position in the stream.
    pieces: BTreeMap<u64, Vec<u8>>,
}

impl Flow {
    fn new(first_packet: usize) -> Self {
        Flow {
            first_packet,
            start: None,
            opened: false,
            pieces: BTreeMap::new(),
        }
    }

    fn add(&mut self, seg: &Segment<'_>) {
        if seg.syn {
            // The SYN takes one sequence number: data starts at ISN + 1.
            self.start = Some(seg.seq.wrapping_add(1));
            self.opened = !seg.ack;
        }
        if seg.data.is_empty() {
            return;
        }
        let start = *self.start.get_or_insert(seg.seq);
        // Positions wrap with the 32-bit sequence space; a capture of less than 2 GiB per
        // direction has every position below 2^31.
        let at = u64::from(seg.seq.wrapping_sub(start));
        if at >= 1 << 31 {
            return; // before the start we know of: a retransmission of the SYN's era
        }
        let piece = self.pieces.entry(at).or_default();
        if seg.data.len() > piece.len() {
            *piece = seg.data.to_vec();
        }
    }

    fn into_stream(self, from: SocketAddr, to: SocketAddr) -> Stream {
        let mut data = Vec::new();
        let mut missing = 0;
        for (at, piece) in self.pieces {
            let end = at + piece.len() as u64;
            let have = data.len() as u64;
            if end <= have {
                continue; // retransmitted bytes we already have
            }
            if at > have {
                missing += at - have; // a hole: the capture missed these bytes
                data.extend_from_slice(&piece);
            } else {
                data.extend_from_slice(&piece[(have - at) as usize..]);
            }
        }
        Stream {
            from,
            to,
            opened: self.opened,
            data,
            missing,
            first_packet: self.first_packet,
        }
    }
}
