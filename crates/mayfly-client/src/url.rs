//! The CA URL: `https://HOST[:PORT][/PREFIX]`, and the token audience it implies.

use crate::ClientError;

/// A parsed CA URL. Only `https` is accepted: the CA has no plain-HTTP API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaUrl {
    authority: String,
    host: String,
    port: u16,
    prefix: String,
}

impl CaUrl {
    /// Parses `https://HOST[:PORT][/PREFIX]` (IPv6 hosts in brackets).
    pub fn parse(url: &str) -> Result<Self, ClientError> {
        let bad = |reason| ClientError::BadUrl {
            url: url.to_owned(),
            reason,
        };
        let rest = url
            .trim()
            .strip_prefix("https://")
            .ok_or_else(|| bad("must start with https:// (the CA API is TLS only)"))?;
        let (authority, prefix) = match rest.find(['/', '?', '#']) {
            Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].trim_end_matches('/')),
            Some(_) => return Err(bad("query strings and fragments are not allowed")),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(bad("missing host (or user info, which is not allowed)"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed [ in host"))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad("port is not a number 1-65535"))?,
            None => 443,
        };
        if host.is_empty() || port == 0 {
            return Err(bad("missing host or port 0"));
        }
        Ok(Self {
            authority: authority.to_owned(),
            host: host.to_owned(),
            port,
            prefix: prefix.to_owned(),
        })
    }

    /// The host name or IP address (without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port (443 unless given).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `HOST[:PORT]` as written in the URL: what token audiences are built from.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The token audience for `operation`: `https://HOST[:PORT]/1.0/sign` and so on.
    pub fn audience(&self, operation: mayfly_jwt::Operation) -> String {
        operation.audience(&self.authority)
    }

    /// The request path for an API route such as `/1.0/sign`.
    pub(crate) fn path(&self, route: &str) -> String {
        format!("{}{route}", self.prefix)
    }
}

impl std::fmt::Display for CaUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "https://{}{}", self.authority, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_ports_and_prefixes() {
        let url = CaUrl::parse("https://ca.example.com:9000/").unwrap();
        assert_eq!((url.host(), url.port()), ("ca.example.com", 9000));
        assert_eq!(
            url.audience(mayfly_jwt::Operation::Sign),
            "https://ca.example.com:9000/1.0/sign"
        );
        assert_eq!(url.path("/roots"), "/roots");
        let url = CaUrl::parse("https://[::1]:8443/ca").unwrap();
        assert_eq!((url.host(), url.port()), ("::1", 8443));
        assert_eq!(url.path("/1.0/sign"), "/ca/1.0/sign");
        assert_eq!(CaUrl::parse("https://ca").unwrap().port(), 443);
    }

    #[test]
    fn refuses_what_it_cannot_use() {
        for bad in [
            "http://ca:9000",
            "https://",
            "https://ca:x",
            "https://ca:0",
            "https://u@ca",
            "https://ca?x",
        ] {
            assert!(
                matches!(CaUrl::parse(bad), Err(ClientError::BadUrl { .. })),
                "{bad}"
            );
        }
    }
}
