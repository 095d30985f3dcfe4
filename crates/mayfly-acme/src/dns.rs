//! A small DNS client for the lookups validation needs (A, AAAA, TXT), so a provisioner
//! can name its own resolver (`"validation": {"resolver": "127.0.0.1:8053"}`), e.g.
//! `pebble-challtestsrv` in tests. Queries go over UDP with EDNS0 (1232-byte answers); an
//! answer the server truncates anyway (many TXT records) is asked again over TCP.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

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

/// The UDP answer size offered with EDNS0 (RFC 6891), the DNS flag day 2020 value.
const EDNS_UDP_SIZE: u16 = 1232;

fn encode_query(id: u16, name: &str, kind: RecordType) -> Result<Vec<u8>, AcmeError> {
    let mut q = Vec::with_capacity(name.len() + 29);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]); // RD; 1 question, 1 additional
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
    // OPT: root name, type 41, class = UDP size, TTL 0 (no flags), no options.
    q.extend_from_slice(&[0, 0, 41]);
    q.extend_from_slice(&EDNS_UDP_SIZE.to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    Ok(q)
}

/// Whether a response has the TC (truncated) flag.
fn truncated(msg: &[u8]) -> bool {
    u16_at(msg, 2).is_some_and(|flags| flags & 0x0200 != 0)
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

/// Queries `name` for `kind` at `server` over UDP, retrying once on timeout, and over TCP
/// when the UDP answer is truncated.
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
        let answer = if truncated(&buf[..n]) {
            tokio::time::timeout(timeout, query_tcp(server, &query))
                .await
                .map_err(|_| {
                    dns_error(format!(
                        "DNS query for {name} to {server} over TCP timed out"
                    ))
                })?
                .map_err(|e| dns_error(format!("DNS query to {server} over TCP: {e}")))?
        } else {
            buf.truncate(n);
            buf
        };
        return parse_answers(&answer, id, kind).map_err(|e| dns_error(format!("{name}: {e}")));
    }
    Err(dns_error(format!(
        "DNS query for {name} to {server} timed out"
    )))
}

/// Sends `query` over TCP (RFC 1035 section 4.2.2: two-byte length prefix) and reads the
/// answer.
async fn query_tcp(server: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(server).await?;
    let len = u16::try_from(query.len()).map_err(std::io::Error::other)?;
    stream
        .write_all(&[&len.to_be_bytes()[..], query].concat())
        .await?;
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix).await?;
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream.read_exact(&mut answer).await?;
    Ok(answer)
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

    /// A response to `query` (its question, no OPT record) with these answers' rdata.
    fn response(query: &[u8], kind: RecordType, rdata: &[Vec<u8>]) -> Vec<u8> {
        let question_end = skip_name(query, 12).unwrap_or_default() + 4;
        let mut msg = query[..question_end].to_vec();
        msg[2] = 0x81;
        msg[3] = 0x80;
        msg[6..8].copy_from_slice(&u16::try_from(rdata.len()).unwrap_or(0).to_be_bytes());
        msg[10..12].fill(0);
        for data in rdata {
            msg.extend_from_slice(&[0xC0, 12]);
            msg.extend_from_slice(&(kind as u16).to_be_bytes());
            msg.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            msg.extend_from_slice(&u16::try_from(data.len()).unwrap_or(0).to_be_bytes());
            msg.extend_from_slice(data);
        }
        msg
    }

    #[test]
    fn queries_offer_edns0() {
        let q = encode_query(7, "a.example", RecordType::Txt).unwrap_or_default();
        assert_eq!(u16_at(&q, 10), Some(1), "one additional record");
        assert_eq!(&q[q.len() - 11..q.len() - 6], &[0, 0, 41, 0x04, 0xD0]);
    }

    /// Many TXT records (stale dns-01 answers) overflow a UDP answer: the server sets TC and
    /// the query is asked again over TCP, on the same address.
    #[tokio::test]
    async fn a_truncated_udp_answer_is_asked_again_over_tcp() {
        let udp = UdpSocket::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let server = udp.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let tcp = tokio::net::TcpListener::bind(server)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let values: Vec<String> = (0..40)
            .map(|i| format!("{i:02}-{}", "x".repeat(60)))
            .collect();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            if let Ok((n, peer)) = udp.recv_from(&mut buf).await {
                let mut reply = buf[..n].to_vec();
                reply[2] = 0x83; // answer, truncated, recursion desired
                let _ = udp.send_to(&reply, peer).await;
            }
        });
        let records: Vec<Vec<u8>> = values
            .iter()
            .map(|v| [&[u8::try_from(v.len()).unwrap_or(0)][..], v.as_bytes()].concat())
            .collect();
        tokio::spawn(async move {
            let Ok((mut stream, _)) = tcp.accept().await else {
                return;
            };
            let mut prefix = [0u8; 2];
            if stream.read_exact(&mut prefix).await.is_err() {
                return;
            }
            let mut query = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
            if stream.read_exact(&mut query).await.is_err() {
                return;
            }
            let reply = response(&query, RecordType::Txt, &records);
            let len = u16::try_from(reply.len()).unwrap_or(0).to_be_bytes();
            let _ = stream.write_all(&[&len[..], &reply].concat()).await;
        });
        let found = txt(server, "_acme-challenge.big.test", Duration::from_secs(4))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(found, values);
    }

    #[test]
    fn a_response_with_compressed_names_parses() {
        let query = encode_query(7, "a.example", RecordType::A).unwrap_or_default();
        let mut msg = response(&query, RecordType::A, &[]);
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
