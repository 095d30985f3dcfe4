//! A small DNS client over UDP for the lookups validation needs (A, AAAA, TXT), so a
//! provisioner can name its own resolver (`"validation": {"resolver": "127.0.0.1:8053"}`),
//! e.g. `pebble-challtestsrv` in tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::error::{AcmeError, ProblemKind};

/// A record type we query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecordType {
    A = 1,
    Txt = 16,
    Aaaa = 28,
}

fn dns_error(detail: String) -> AcmeError {
    AcmeError::new(ProblemKind::Dns, detail)
}

/// The resolver to use: `configured` (`host:port`, port 53 when absent) or the first
/// `nameserver` of /etc/resolv.conf.
pub(crate) fn resolver_address(configured: Option<&str>) -> Result<SocketAddr, AcmeError> {
    let text = match configured {
        Some(text) => text.to_owned(),
        None => std::fs::read_to_string("/etc/resolv.conf")
            .ok()
            .and_then(|conf| {
                conf.lines()
                    .filter_map(|l| l.trim().strip_prefix("nameserver"))
                    .map(|s| s.trim().to_owned())
                    .next()
            })
            .ok_or_else(|| {
                dns_error("no resolver configured and none in /etc/resolv.conf".into())
            })?,
    };
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    text.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| dns_error(format!("resolver {text:?} is not an address (host:port)")))
}

fn encode_query(id: u16, name: &str, kind: RecordType) -> Result<Vec<u8>, AcmeError> {
    let mut q = Vec::with_capacity(name.len() + 18);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD; 1 question
    for label in name.trim_end_matches('.').split('.') {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|l| (1..=63).contains(l))
            .ok_or_else(|| dns_error(format!("{name:?} is not a valid DNS name")))?;
        q.push(len);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&(kind as u16).to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes()); // IN
    Ok(q)
}

/// Skips a (possibly compressed) name at `pos`; returns the position after it.
fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *msg.get(pos)?;
        match len {
            0 => return Some(pos + 1),
            l if l & 0xC0 == 0xC0 => return Some(pos + 2),
            l => pos += 1 + usize::from(l),
        }
    }
}

fn u16_at(msg: &[u8], pos: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.get(pos)?, *msg.get(pos + 1)?]))
}

/// The rdata of every answer of type `kind`.
fn parse_answers(msg: &[u8], id: u16, kind: RecordType) -> Result<Vec<Vec<u8>>, String> {
    let bad = || "malformed DNS response".to_owned();
    if u16_at(msg, 0) != Some(id) {
        return Err("DNS response id mismatch".into());
    }
    let flags = u16_at(msg, 2).ok_or_else(bad)?;
    match flags & 0x000F {
        0 => {}
        3 => return Ok(Vec::new()), // NXDOMAIN
        rcode => return Err(format!("DNS server answered rcode {rcode}")),
    }
    let questions = u16_at(msg, 4).ok_or_else(bad)?;
    let answers = u16_at(msg, 6).ok_or_else(bad)?;
    let mut pos = 12;
    for _ in 0..questions {
        pos = skip_name(msg, pos).ok_or_else(bad)? + 4;
    }
    let mut out = Vec::new();
    for _ in 0..answers {
        pos = skip_name(msg, pos).ok_or_else(bad)?;
        let rtype = u16_at(msg, pos).ok_or_else(bad)?;
        let len = usize::from(u16_at(msg, pos + 8).ok_or_else(bad)?);
        let start = pos + 10;
        let data = msg.get(start..start + len).ok_or_else(bad)?;
        if rtype == kind as u16 {
            out.push(data.to_vec());
        }
        pos = start + len;
    }
    Ok(out)
}

/// Queries `name` for `kind` at `server`, retrying once on timeout.
pub(crate) async fn query(
    server: SocketAddr,
    name: &str,
    kind: RecordType,
    timeout: Duration,
) -> Result<Vec<Vec<u8>>, AcmeError> {
    let id = u16::from_be_bytes(mayfly_keys::random_bytes::<2>());
    let query = encode_query(id, name, kind)?;
    let bind: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let fail = |e: std::io::Error| dns_error(format!("DNS query to {server}: {e}"));
    let socket = UdpSocket::bind(bind).await.map_err(fail)?;
    socket.connect(server).await.map_err(fail)?;
    let mut buf = vec![0u8; 4096];
    for _ in 0..2 {
        socket.send(&query).await.map_err(fail)?;
        let Ok(received) = tokio::time::timeout(timeout / 2, socket.recv(&mut buf)).await else {
            continue;
        };
        let n = received.map_err(fail)?;
        return parse_answers(&buf[..n], id, kind).map_err(|e| dns_error(format!("{name}: {e}")));
    }
    Err(dns_error(format!(
        "DNS query for {name} to {server} timed out"
    )))
}

/// The TXT strings of `name`, each record's character-strings joined.
pub(crate) async fn txt(
    server: SocketAddr,
    name: &str,
    timeout: Duration,
) -> Result<Vec<String>, AcmeError> {
    let records = query(server, name, RecordType::Txt, timeout).await?;
    Ok(records
        .iter()
        .map(|rdata| {
            let mut text = Vec::new();
            let mut pos = 0;
            while let Some(&len) = rdata.get(pos) {
                let end = (pos + 1 + usize::from(len)).min(rdata.len());
                text.extend_from_slice(&rdata[pos + 1..end]);
                pos = end;
            }
            String::from_utf8_lossy(&text).into_owned()
        })
        .collect())
}

/// The IPv6 then IPv4 addresses of `name`.
pub(crate) async fn addresses(
    server: SocketAddr,
    name: &str,
    timeout: Duration,
) -> Result<Vec<IpAddr>, AcmeError> {
    let (v6, v4) = tokio::join!(
        query(server, name, RecordType::Aaaa, timeout),
        query(server, name, RecordType::A, timeout)
    );
    let mut out: Vec<IpAddr> = Vec::new();
    for rdata in v6.iter().flatten() {
        if let Ok(b) = <[u8; 16]>::try_from(rdata.as_slice()) {
            out.push(IpAddr::from(b));
        }
    }
    for rdata in v4.iter().flatten() {
        if let Ok(b) = <[u8; 4]>::try_from(rdata.as_slice()) {
            out.push(IpAddr::from(b));
        }
    }
    if out.is_empty() {
        return match (v6, v4) {
            (_, Err(e)) => Err(e),
            _ => Err(dns_error(format!("{name} has no A or AAAA record"))),
        };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_with_compressed_names_parses() {
        let mut msg = encode_query(7, "a.example", RecordType::A).unwrap_or_default();
        msg[2] = 0x81;
        msg[3] = 0x80;
        msg[7] = 1; // one answer
        msg.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
        assert_eq!(
            parse_answers(&msg, 7, RecordType::A),
            Ok(vec![vec![127, 0, 0, 1]])
        );
        assert!(parse_answers(&msg, 8, RecordType::A).is_err());
        assert!(parse_answers(&msg[..msg.len() - 2], 7, RecordType::A).is_err());
    }
}
