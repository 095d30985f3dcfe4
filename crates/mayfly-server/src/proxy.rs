//! The PROXY protocol (HAProxy's v1 text and v2 binary headers) in front of the TLS API, so
//! that behind a layer-4 load balancer passing TLS through, logs and the audit trail name the
//! client rather than the balancer.
//!
//! Only the header is read (never a byte of the TLS handshake after it), within a time limit
//! and a size limit, and only from a trusted proxy address. `LOCAL` (v2) and `UNKNOWN` (v1)
//! headers, the balancer's own health checks, keep the connection's real peer address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use mayfly_authority::config::ProxyProtocolConfig;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::ServerError;

/// The 12 bytes every v2 header starts with.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 header, CRLF included (the specification's limit).
const V1_MAX_LEN: usize = 107;
/// The largest v2 address block (addresses + TLVs) accepted. The specification allows
/// 65535 bytes; balancers send 12 or 36 bytes of addresses and a few TLVs.
pub(crate) const V2_MAX_LEN: usize = 4096;

/// Why a PROXY header was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProxyError {
    /// The connection did not start with `PROXY ` or the v2 signature.
    #[error("no PROXY protocol header (the connection does not start with one)")]
    Signature,
    /// The connection closed (or the time ran out) in the middle of the header.
    #[error("the PROXY protocol header is truncated")]
    Truncated,
    /// The header is longer than allowed.
    #[error("the PROXY protocol header is longer than {0} bytes")]
    TooLong(usize),
    /// The header's content does not follow the specification.
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(String),
    /// Reading the socket failed.
    #[error("reading the PROXY protocol header: {0}")]
    Io(String),
}

/// What a valid header says about the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyHeader {
    /// The balancer relays a client: its address and the address it connected to.
    Proxied {
        /// The client.
        source: SocketAddr,
        /// The address the client connected to (the balancer's listener).
        destination: SocketAddr,
    },
    /// The balancer speaks for itself (v2 `LOCAL`, v1 `UNKNOWN`, or an address family other
    /// than TCP over IPv4/IPv6): keep the connection's own peer address.
    Local,
}

/// The `proxyProtocol` block of ca.json, checked: who may send headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyPolicy {
    trusted: Vec<Cidr>,
}

impl ProxyPolicy {
    /// The policy of `config`, `None` when PROXY protocol is off. Refuses an enabled block
    /// without `trustedProxies` and entries that are not an address or `address/prefix`.
    pub fn from_config(config: Option<&ProxyProtocolConfig>) -> Result<Option<Self>, ServerError> {
        let Some(config) = config.filter(|c| c.enabled) else {
            return Ok(None);
        };
        if config.trusted_proxies.is_empty() {
            return Err(ServerError::ProxyProtocol(
                "trustedProxies must list the load balancers' addresses".into(),
            ));
        }
        let trusted = config
            .trusted_proxies
            .iter()
            .map(|entry| {
                Cidr::parse(entry).ok_or_else(|| {
                    ServerError::ProxyProtocol(format!(
                        "trustedProxies: {entry:?} is not an address or \
                         address/prefix (10.0.0.5, 10.0.0.0/8, fd00::/8)"
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Some(Self { trusted }))
    }

    /// Whether `addr` is one of the trusted proxies.
    pub fn trusts(&self, addr: IpAddr) -> bool {
        self.trusted.iter().any(|c| c.contains(addr))
    }

    /// Reads the header a connection from `peer` must start with, within `timeout`, and
    /// returns the client's address: the header's source, or `peer` for `LOCAL`.
    pub(crate) async fn client_address<R: AsyncRead + Unpin>(
        &self,
        io: &mut R,
        peer: SocketAddr,
        timeout: Duration,
    ) -> Result<SocketAddr, String> {
        if !self.trusts(peer.ip()) {
            return Err(format!("{} is not a trusted proxy", peer.ip()));
        }
        match tokio::time::timeout(timeout, read_header(io)).await {
            Ok(Ok(ProxyHeader::Proxied { source, .. })) => Ok(source),
            Ok(Ok(ProxyHeader::Local)) => Ok(peer),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "no complete PROXY protocol header within {timeout:?}"
            )),
        }
    }
}

/// An address range: an address and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.trim(), None),
        };
        let network: IpAddr = addr.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
            Some(_) => return None,
            None => max,
        };
        (prefix <= max).then_some(Self { network, prefix })
    }

    fn contains(&self, addr: IpAddr) -> bool {
        // An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d.
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        match (self.network, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => same_prefix(
                u128::from(net.to_bits()),
                u128::from(a.to_bits()),
                32,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                same_prefix(net.to_bits(), a.to_bits(), 128, self.prefix)
            }
            _ => false,
        }
    }
}

/// Whether the top `prefix` of `width` bits of `a` and `b` agree.
fn same_prefix(a: u128, b: u128, width: u8, prefix: u8) -> bool {
    let shift = u32::from(width - prefix);
    prefix == 0 || (a >> shift) == (b >> shift)
}

/// Reads exactly one v1 or v2 header from `io`, nothing after it.
pub async fn read_header<R: AsyncRead + Unpin>(io: &mut R) -> Result<ProxyHeader, ProxyError> {
    // "PROXY " and the v2 signature differ in their first byte; six bytes never overrun
    // either header (the shortest, v1 "PROXY UNKNOWN\r\n", has 15).
    let mut start = [0u8; 16];
    read_exact(io, &mut start[..6]).await?;
    if &start[..6] == b"PROXY " {
        let mut line = start[..6].to_vec();
        while !line.ends_with(b"\r\n") {
            if line.len() >= V1_MAX_LEN {
                return Err(ProxyError::TooLong(V1_MAX_LEN));
            }
            let mut byte = [0u8; 1];
            read_exact(io, &mut byte).await?;
            line.push(byte[0]);
        }
        return parse_v1(&line);
    }
    if start[..6] != V2_SIGNATURE[..6] {
        return Err(ProxyError::Signature);
    }
    read_exact(io, &mut start[6..]).await?;
    if start[..12] != V2_SIGNATURE {
        return Err(ProxyError::Signature);
    }
    let len = usize::from(u16::from_be_bytes([start[14], start[15]]));
    if len > V2_MAX_LEN {
        return Err(ProxyError::TooLong(16 + V2_MAX_LEN));
    }
    let mut body = vec![0u8; len];
    read_exact(io, &mut body).await?;
    parse_v2(&start, &body)
}

async fn read_exact<R: AsyncRead + Unpin>(io: &mut R, buf: &mut [u8]) -> Result<(), ProxyError> {
    match io.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(ProxyError::Truncated),
        Err(e) => Err(ProxyError::Io(e.to_string())),
    }
}

/// Parses a complete v1 line, `PROXY TCP4 src dst sport dport\r\n` (or `TCP6`, or `UNKNOWN`).
pub fn parse_v1(line: &[u8]) -> Result<ProxyHeader, ProxyError> {
    if line.len() > V1_MAX_LEN {
        return Err(ProxyError::TooLong(V1_MAX_LEN));
    }
    let text = line
        .strip_suffix(b"\r\n")
        .ok_or(ProxyError::Truncated)
        .and_then(|l| {
            std::str::from_utf8(l)
                .map_err(|_| ProxyError::Malformed("v1 header is not ASCII".into()))
        })?;
    let rest = text.strip_prefix("PROXY ").ok_or(ProxyError::Signature)?;
    let fields: Vec<&str> = rest.split(' ').collect();
    let v6 = match fields.first() {
        Some(&"UNKNOWN") => return Ok(ProxyHeader::Local),
        Some(&"TCP4") => false,
        Some(&"TCP6") => true,
        other => {
            return Err(ProxyError::Malformed(format!(
                "v1 protocol {:?} (expected TCP4, TCP6 or UNKNOWN)",
                other.unwrap_or(&"")
            )));
        }
    };
    let [_, src, dst, sport, dport] = fields.as_slice() else {
        return Err(ProxyError::Malformed(format!(
            "v1 header has {} fields, expected 5 after PROXY",
            fields.len()
        )));
    };
    let ip = |text: &str| -> Result<IpAddr, ProxyError> {
        let ip = if v6 {
            text.parse::<Ipv6Addr>().map(IpAddr::V6)
        } else {
            text.parse::<Ipv4Addr>().map(IpAddr::V4)
        };
        ip.map_err(|_| ProxyError::Malformed(format!("v1 address {text:?}")))
    };
    let port = |text: &str| -> Result<u16, ProxyError> {
        let canonical = !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_digit())
            && (text == "0" || !text.starts_with('0'));
        canonical
            .then(|| text.parse().ok())
            .flatten()
            .ok_or_else(|| ProxyError::Malformed(format!("v1 port {text:?}")))
    };
    Ok(ProxyHeader::Proxied {
        source: SocketAddr::new(ip(src)?, port(sport)?),
        destination: SocketAddr::new(ip(dst)?, port(dport)?),
    })
}

/// Parses a v2 header: its 16 fixed bytes and the `len` bytes after them.
pub fn parse_v2(fixed: &[u8; 16], body: &[u8]) -> Result<ProxyHeader, ProxyError> {
    if fixed[..12] != V2_SIGNATURE {
        return Err(ProxyError::Signature);
    }
    let declared = usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    if declared > V2_MAX_LEN {
        return Err(ProxyError::TooLong(16 + V2_MAX_LEN));
    }
    if body.len() != declared {
        return Err(ProxyError::Truncated);
    }
    let (version, command) = (fixed[12] >> 4, fixed[12] & 0x0f);
    if version != 2 {
        return Err(ProxyError::Malformed(format!(
            "version {version}, expected 2"
        )));
    }
    match command {
        0x0 => return Ok(ProxyHeader::Local),
        0x1 => {}
        other => return Err(ProxyError::Malformed(format!("command {other:#x}"))),
    }
    let (family, transport) = (fixed[13] >> 4, fixed[13] & 0x0f);
    let addresses = match (family, transport) {
        // TCP over IPv4, TCP over IPv6.
        (0x1, 0x1) => 12,
        (0x2, 0x1) => 36,
        // UNSPEC, UDP, UNIX sockets: nothing to report about a TCP client.
        (0x0..=0x3, 0x0..=0x2) => return Ok(ProxyHeader::Local),
        _ => {
            return Err(ProxyError::Malformed(format!(
                "address family/transport byte {:#04x}",
                fixed[13]
            )));
        }
    };
    let a = body.get(..addresses).ok_or_else(|| {
        ProxyError::Malformed(format!("{declared}-byte address block, {addresses} needed"))
    })?;
    let port = |at: usize| u16::from_be_bytes([a[at], a[at + 1]]);
    let (source, destination) = if addresses == 12 {
        let ip = |at: usize| IpAddr::V4(Ipv4Addr::new(a[at], a[at + 1], a[at + 2], a[at + 3]));
        (
            SocketAddr::new(ip(0), port(8)),
            SocketAddr::new(ip(4), port(10)),
        )
    } else {
        let ip = |at: usize| {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&a[at..at + 16]);
            IpAddr::V6(Ipv6Addr::from(octets))
        };
        (
            SocketAddr::new(ip(0), port(32)),
            SocketAddr::new(ip(16), port(34)),
        )
    };
    Ok(ProxyHeader::Proxied {
        source,
        destination,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test assertions")]

    use super::*;

    fn v2(command: u8, family: u8, addresses: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x20 | command);
        h.push(family);
        h.extend_from_slice(&u16::try_from(addresses.len()).unwrap().to_be_bytes());
        h.extend_from_slice(addresses);
        h
    }

    fn tcp4() -> Vec<u8> {
        let mut a = vec![192, 0, 2, 7, 10, 0, 0, 1];
        a.extend_from_slice(&51234u16.to_be_bytes());
        a.extend_from_slice(&443u16.to_be_bytes());
        a
    }

    async fn read(bytes: &[u8]) -> (Result<ProxyHeader, ProxyError>, Vec<u8>) {
        let mut io = bytes;
        let header = read_header(&mut io).await;
        (header, io.to_vec())
    }

    fn proxied(source: &str, destination: &str) -> ProxyHeader {
        ProxyHeader::Proxied {
            source: source.parse().unwrap(),
            destination: destination.parse().unwrap(),
        }
    }

    #[tokio::test]
    async fn v1_tcp4_and_tcp6_stop_at_the_header() {
        let (h, rest) = read(b"PROXY TCP4 192.0.2.7 10.0.0.1 51234 443\r\n\x16\x03\x01").await;
        assert_eq!(h.unwrap(), proxied("192.0.2.7:51234", "10.0.0.1:443"));
        assert_eq!(
            rest, b"\x16\x03\x01",
            "the TLS bytes after the header stay unread"
        );
        let (h, _) = read(b"PROXY TCP6 2001:db8::7 2001:db8::1 65535 9000\r\n").await;
        assert_eq!(
            h.unwrap(),
            proxied("[2001:db8::7]:65535", "[2001:db8::1]:9000")
        );
        let (h, _) = read(b"PROXY UNKNOWN\r\n").await;
        assert_eq!(h.unwrap(), ProxyHeader::Local);
        let (h, _) = read(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n").await;
        assert_eq!(h.unwrap(), ProxyHeader::Local);
    }

    #[tokio::test]
    async fn v1_refuses_bad_fields() {
        for bad in [
            &b"PROXY TCP4 192.0.2.7 10.0.0.1 51234\r\n"[..],
            b"PROXY TCP4 2001:db8::7 10.0.0.1 1 2\r\n",
            b"PROXY TCP6 192.0.2.7 10.0.0.1 1 2\r\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.1 65536 443\r\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.1 0443 443\r\n",
            b"PROXY TCP4 192.0.2.7  10.0.0.1 1 443\r\n",
            b"PROXY UDP4 192.0.2.7 10.0.0.1 1 2\r\n",
        ] {
            let (h, _) = read(bad).await;
            assert!(matches!(h, Err(ProxyError::Malformed(_))), "{bad:?}: {h:?}");
        }
    }

    #[tokio::test]
    async fn v1_truncated_and_oversized() {
        let (h, _) = read(b"PROXY TCP4 192.0.2.7 10.0.0.1 5").await;
        assert_eq!(h, Err(ProxyError::Truncated));
        let mut long = b"PROXY TCP4 ".to_vec();
        long.extend(std::iter::repeat_n(b'1', 200));
        let (h, rest) = read(&long).await;
        assert_eq!(h, Err(ProxyError::TooLong(V1_MAX_LEN)));
        assert_eq!(
            rest.len(),
            long.len() - V1_MAX_LEN,
            "reading stops at the limit"
        );
        assert_eq!(
            parse_v1(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2"),
            Err(ProxyError::Truncated)
        );
    }

    #[tokio::test]
    async fn v2_tcp4_tcp6_with_tlvs() {
        let mut header = v2(1, 0x11, &tcp4());
        header.extend_from_slice(b"\x16\x03\x01");
        let (h, rest) = read(&header).await;
        assert_eq!(h.unwrap(), proxied("192.0.2.7:51234", "10.0.0.1:443"));
        assert_eq!(rest, b"\x16\x03\x01");

        let mut a = Vec::new();
        a.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        a.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        a.extend_from_slice(&1u16.to_be_bytes());
        a.extend_from_slice(&9000u16.to_be_bytes());
        // A TLV (PP2_TYPE_AUTHORITY "ca.test") after the addresses is skipped.
        a.extend_from_slice(b"\x02\x00\x07ca.test");
        let (h, rest) = read(&v2(1, 0x21, &a)).await;
        assert_eq!(h.unwrap(), proxied("[2001:db8::7]:1", "[2001:db8::1]:9000"));
        assert!(rest.is_empty());
    }

    #[tokio::test]
    async fn v2_local_and_unspecified_keep_the_peer() {
        let (h, _) = read(&v2(0, 0x00, &[])).await;
        assert_eq!(h.unwrap(), ProxyHeader::Local);
        // LOCAL may still carry addresses; they are ignored.
        let (h, _) = read(&v2(0, 0x11, &tcp4())).await;
        assert_eq!(h.unwrap(), ProxyHeader::Local);
        let (h, _) = read(&v2(1, 0x00, &[])).await;
        assert_eq!(h.unwrap(), ProxyHeader::Local);
    }

    #[tokio::test]
    async fn v2_refuses_bad_headers() {
        let (h, _) = read(&v2(1, 0x11, &tcp4()[..8])).await;
        assert!(matches!(h, Err(ProxyError::Malformed(_))), "{h:?}");
        let mut wrong_version = v2(1, 0x11, &tcp4());
        wrong_version[12] = 0x11;
        let (h, _) = read(&wrong_version).await;
        assert!(matches!(h, Err(ProxyError::Malformed(_))), "{h:?}");
        let (h, _) = read(&v2(2, 0x11, &tcp4())).await;
        assert!(matches!(h, Err(ProxyError::Malformed(_))), "{h:?}");
        let (h, _) = read(&v2(1, 0x41, &tcp4())).await;
        assert!(matches!(h, Err(ProxyError::Malformed(_))), "{h:?}");
    }

    #[tokio::test]
    async fn v2_truncated_and_oversized() {
        let header = v2(1, 0x11, &tcp4());
        for cut in [3, 10, 15, header.len() - 1] {
            let (h, _) = read(&header[..cut]).await;
            assert_eq!(h, Err(ProxyError::Truncated), "cut at {cut}");
        }
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        huge.extend(std::iter::repeat_n(0u8, 100));
        let (h, rest) = read(&huge).await;
        assert_eq!(h, Err(ProxyError::TooLong(16 + V2_MAX_LEN)));
        assert_eq!(rest.len(), 100, "the oversized body is not read");
    }

    #[tokio::test]
    async fn wrong_signature() {
        // A TLS ClientHello straight away: a client that bypassed the balancer.
        let (h, _) = read(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03").await;
        assert_eq!(h, Err(ProxyError::Signature));
        let (h, _) = read(b"GET / HTTP/1.1\r\n\r\n").await;
        assert_eq!(h, Err(ProxyError::Signature));
        let mut almost = V2_SIGNATURE.to_vec();
        almost[11] = b'X';
        almost.extend_from_slice(&[0x21, 0x11, 0, 0]);
        let (h, _) = read(&almost).await;
        assert_eq!(h, Err(ProxyError::Signature));
    }

    #[test]
    fn trusted_proxies() {
        let config = |enabled: bool, trusted: &[&str]| ProxyProtocolConfig {
            enabled,
            trusted_proxies: trusted.iter().map(|s| (*s).to_owned()).collect(),
        };
        assert_eq!(ProxyPolicy::from_config(None).unwrap(), None);
        assert_eq!(
            ProxyPolicy::from_config(Some(&config(false, &[]))).unwrap(),
            None
        );
        let e = ProxyPolicy::from_config(Some(&config(true, &[]))).unwrap_err();
        assert!(e.to_string().contains("trustedProxies"), "{e}");
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "example.com",
            "10.0.0.0/",
            "10.0.0.0/+8",
        ] {
            let e = ProxyPolicy::from_config(Some(&config(true, &[bad]))).unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
        let policy = ProxyPolicy::from_config(Some(&config(
            true,
            &["127.0.0.1", "10.0.0.0/8", "fd00::/8"],
        )))
        .unwrap()
        .unwrap();
        for yes in ["127.0.0.1", "10.255.0.3", "fd12::1", "::ffff:10.1.2.3"] {
            assert!(policy.trusts(yes.parse().unwrap()), "{yes}");
        }
        for no in ["127.0.0.2", "11.0.0.1", "fe80::1", "::1"] {
            assert!(!policy.trusts(no.parse().unwrap()), "{no}");
        }
        let everyone = ProxyPolicy::from_config(Some(&config(true, &["0.0.0.0/0", "::/0"])))
            .unwrap()
            .unwrap();
        assert!(everyone.trusts("203.0.113.9".parse().unwrap()));
        assert!(everyone.trusts("2001:db8::9".parse().unwrap()));
    }

    #[tokio::test]
    async fn untrusted_peers_and_timeouts_are_refused() {
        let policy = ProxyPolicy::from_config(Some(&ProxyProtocolConfig {
            enabled: true,
            trusted_proxies: vec!["127.0.0.1/32".into()],
        }))
        .unwrap()
        .unwrap();
        let lb: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let mut header = &b"PROXY TCP4 192.0.2.7 127.0.0.1 5000 443\r\n"[..];
        let client = policy
            .client_address(&mut header, lb, Duration::from_secs(1))
            .await;
        assert_eq!(client, Ok("192.0.2.7:5000".parse().unwrap()));
        let mut local = &b"PROXY UNKNOWN\r\n"[..];
        let client = policy
            .client_address(&mut local, lb, Duration::from_secs(1))
            .await;
        assert_eq!(client, Ok(lb));

        let mut header = &b"PROXY TCP4 192.0.2.7 127.0.0.1 5000 443\r\n"[..];
        let stranger: SocketAddr = "192.0.2.99:1234".parse().unwrap();
        let refused = policy
            .client_address(&mut header, stranger, Duration::from_secs(1))
            .await;
        assert!(refused.unwrap_err().contains("not a trusted proxy"));

        // A client that opens the connection and sends nothing.
        let (mut silent, _keep_open) = tokio::io::duplex(64);
        let refused = policy
            .client_address(&mut silent, lb, Duration::from_millis(50))
            .await;
        assert!(refused.unwrap_err().contains("within"));
    }
}
