//! DNS messages (RFC 1035) as far as an authoritative cluster server needs them: the
//! query's header and single question are parsed with every length checked (a bad
//! packet is an error, never a panic), and answers are written with the question's name
//! compressed.

use std::net::Ipv4Addr;

/// Record types the server answers.
pub const A: u16 = 1;
pub const CNAME: u16 = 5;
pub const SRV: u16 = 33;
const CLASS_IN: u16 = 1;
/// Longest name on the wire (RFC 1035 2.3.4).
const MAX_NAME: usize = 255;

/// Response codes.
pub const NOERROR: u8 = 0;
pub const FORMERR: u8 = 1;
pub const NXDOMAIN: u8 = 3;

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    /// The RD flag, echoed back.
    pub recursion_desired: bool,
    /// The name asked for, lower case, without the trailing dot.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// The question as it was on the wire (echoed in the answer).
    question: Vec<u8>,
}

/// Why a packet is not a query the server can answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("packet shorter than a DNS header")]
    Short,
    /// The header is fine but the rest is not: answer FORMERR with this id.
    #[error("malformed query: {reason}")]
    Malformed { id: u16, reason: &'static str },
    /// A response, not a query: never answered (no loops).
    #[error("not a query")]
    NotQuery,
}

/// Parses a query with exactly one question.
pub fn parse(packet: &[u8]) -> Result<Query, ParseError> {
    if packet.len() < 12 {
        return Err(ParseError::Short);
    }
    let id = u16::from_be_bytes([packet[0], packet[1]]);
    let flags = u16::from_be_bytes([packet[2], packet[3]]);
    if flags & 0x8000 != 0 {
        return Err(ParseError::NotQuery);
    }
    let bad = |reason| ParseError::Malformed { id, reason };
    if (flags >> 11) & 0xf != 0 {
        return Err(bad("only standard queries are served"));
    }
    if u16::from_be_bytes([packet[4], packet[5]]) != 1 {
        return Err(bad("exactly one question is served"));
    }
    let mut at = 12;
    let mut labels: Vec<String> = Vec::new();
    let mut wire_len = 0;
    loop {
        let len = *packet.get(at).ok_or_else(|| bad("name runs past the packet"))? as usize;
        at += 1;
        wire_len += len + 1;
        if wire_len > MAX_NAME {
            return Err(bad("name longer than 255 bytes"));
        }
        if len == 0 {
            break;
        }
        if len > 63 {
            return Err(bad("label longer than 63 bytes or compressed"));
        }
        let label = packet.get(at..at + len).ok_or_else(|| bad("label runs past the packet"))?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        at += len;
    }
    let tail = packet.get(at..at + 4).ok_or_else(|| bad("question without type and class"))?;
    let qtype = u16::from_be_bytes([tail[0], tail[1]]);
    let qclass = u16::from_be_bytes([tail[2], tail[3]]);
    Ok(Query {
        id,
        recursion_desired: flags & 0x0100 != 0,
        name: labels.join("."),
        qtype,
        qclass,
        question: packet[12..at + 4].to_vec(),
    })
}

/// One answer record's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rdata {
    A(Ipv4Addr),
    Cname(String),
    Srv { priority: u16, weight: u16, port: u16, target: String },
}

/// A record: owner name (None: the question's name), TTL and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: Option<String>,
    pub ttl: u32,
    pub data: Rdata,
}

/// The answer to `query`: `rcode`, and `answers` then `additional` records.
pub fn answer(query: &Query, rcode: u8, answers: &[Record], additional: &[Record]) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&query.id.to_be_bytes());
    // QR, AA, RD echoed; RA never (no recursion).
    let flags: u16 = 0x8000 | 0x0400 | if query.recursion_desired { 0x0100 } else { 0 } | u16::from(rcode & 0xf);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&(additional.len() as u16).to_be_bytes());
    out.extend_from_slice(&query.question);
    for record in answers.iter().chain(additional) {
        match &record.name {
            // A pointer to the question's name at offset 12.
            None => out.extend_from_slice(&[0xc0, 0x0c]),
            Some(name) => write_name(&mut out, name),
        }
        let rtype = match record.data {
            Rdata::A(_) => A,
            Rdata::Cname(_) => CNAME,
            Rdata::Srv { .. } => SRV,
        };
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&record.ttl.to_be_bytes());
        let mut data = Vec::new();
        match &record.data {
            Rdata::A(ip) => data.extend_from_slice(&ip.octets()),
            Rdata::Cname(target) => write_name(&mut data, target),
            Rdata::Srv { priority, weight, port, target } => {
                data.extend_from_slice(&priority.to_be_bytes());
                data.extend_from_slice(&weight.to_be_bytes());
                data.extend_from_slice(&port.to_be_bytes());
                write_name(&mut data, target);
            }
        }
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    out
}

/// The FORMERR answer to a malformed query with header id `id`.
pub fn format_error(id: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(12);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&(0x8000u16 | u16::from(FORMERR)).to_be_bytes());
    out.extend_from_slice(&[0; 8]);
    out
}

fn write_name(out: &mut Vec<u8>, name: &str) {
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        let bytes = &label.as_bytes()[..label.len().min(63)];
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }
    out.push(0);
}

/// Whether the query's class is one the server answers (IN or ANY).
pub fn class_ok(query: &Query) -> bool {
    query.qclass == CLASS_IN || query.qclass == 255
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query as `dig` sends it.
    pub fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut out = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        write_name(&mut out, name);
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out
    }

    #[test]
    fn queries_parse_and_answers_point_back_at_the_question() {
        let q = parse(&query("Web.Default.svc.cluster.local", A)).unwrap();
        assert_eq!((q.id, q.name.as_str(), q.qtype, q.recursion_desired), (0x1234, "web.default.svc.cluster.local", A, true));
        let a = answer(&q, NOERROR, &[Record { name: None, ttl: 5, data: Rdata::A(Ipv4Addr::new(10, 43, 0, 2)) }], &[]);
        assert_eq!(&a[..4], &[0x12, 0x34, 0x85, 0x00]);
        assert_eq!(u16::from_be_bytes([a[6], a[7]]), 1);
        assert_eq!(&a[a.len() - 4..], &[10, 43, 0, 2]);
        assert_eq!(&a[a.len() - 16..a.len() - 14], &[0xc0, 0x0c]);
    }

    #[test]
    fn bad_packets_are_errors_not_panics() {
        assert_eq!(parse(&[0; 5]), Err(ParseError::Short));
        let mut long = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert!(matches!(parse(&long), Err(ParseError::Malformed { reason: "name longer than 255 bytes", .. })));
        let mut compressed = query("x.cluster.local", A);
        compressed[12] = 0xc0;
        assert!(matches!(parse(&compressed), Err(ParseError::Malformed { .. })));
        // Every prefix and pseudo-random bytes: parse returns, whatever it returns.
        let good = query("web.default.svc.cluster.local", SRV);
        for end in 0..good.len() {
            let _ = parse(&good[..end]);
        }
        let mut state: u64 = 0x9e3779b97f4a7c15;
        for _ in 0..20_000 {
            let len = (state % 300) as usize;
            let packet: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            if let Ok(q) = parse(&packet) {
                let _ = answer(&q, NXDOMAIN, &[], &[]);
            }
        }
    }
}
