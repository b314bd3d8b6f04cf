//! IP addresses and their networks.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::{Deserialize, Serialize};

/// Most bytes of raw input looked at (the longest IPv6 text with a port is
/// under 60).
const MAX_INPUT: usize = 128;
/// Prefix length of an IPv4 network signal: one /24 is commonly one
/// customer network, an office, or one carrier NAT pool.
pub const IPV4_PREFIX: u8 = 24;
/// Prefix length of an IPv6 network signal: a /64 is one subnet (one
/// household or phone), within which the host part changes at will.
pub const IPV6_PREFIX: u8 = 64;

/// Why an IP address (or prefix) was refused. Never contains the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IpError {
    /// Nothing but whitespace.
    #[error("empty")]
    Empty,
    /// Far longer than any address.
    #[error("input too long ({len} bytes)")]
    TooLong {
        /// Bytes of the input.
        len: usize,
    },
    /// Not an IPv4 or IPv6 address (with or without a port).
    #[error("not an IPv4 or IPv6 address")]
    Invalid,
    /// A prefix whose length is not /24 (IPv4) or /64 (IPv6).
    #[error("a prefix must be /{IPV4_PREFIX} for IPv4 and /{IPV6_PREFIX} for IPv6")]
    PrefixLength,
}

/// Parses an IP address as a host sees it: IPv4 or IPv6 text, optionally
/// in brackets or with a port (`[2001:db8::1]:443`, `203.0.113.7:80`; the
/// port is dropped), surrounding whitespace ignored. An IPv4-mapped IPv6
/// address (`::ffff:203.0.113.7`, as dual-stack sockets report IPv4
/// clients) is the IPv4 address.
///
/// IPv4 with leading zeros (`010.0.0.1`) is refused: it is read as octal
/// by some software and decimal by other, so it names no one address.
///
/// # Errors
/// [`IpError::Empty`], [`IpError::TooLong`] or [`IpError::Invalid`].
pub fn parse_ip(raw: &str) -> Result<IpAddr, IpError> {
    if raw.len() > MAX_INPUT {
        return Err(IpError::TooLong { len: raw.len() });
    }
    let text = raw.trim();
    if text.is_empty() {
        return Err(IpError::Empty);
    }
    let bare = text
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(text);
    let addr = match bare.parse::<IpAddr>() {
        Ok(addr) => addr,
        Err(_) => text
            .parse::<SocketAddr>()
            .map_err(|_| IpError::Invalid)?
            .ip(),
    };
    Ok(fold_mapped(addr))
}

/// IPv4-mapped IPv6 as IPv4; everything else unchanged.
fn fold_mapped(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        IpAddr::V4(_) => addr,
    }
}

/// The canonical text of an IP address: dotted decimal for IPv4 (mapped
/// IPv6 included), RFC 5952 text for IPv6 (lower case, longest zero run
/// compressed), so every spelling of one address is one text. See
/// [`parse_ip`] for what is read. Idempotent.
///
/// # Errors
/// As [`parse_ip`].
///
/// # Example
/// ```
/// use referrals::fraud::identity::normalise_ip;
/// assert_eq!(normalise_ip("2001:0DB8:0000:0000:0000:0000:0000:0001")?, "2001:db8::1");
/// assert_eq!(normalise_ip("::ffff:203.0.113.7")?, "203.0.113.7");
/// assert_eq!(normalise_ip("[2001:db8::1]:443")?, "2001:db8::1");
/// # Ok::<(), referrals::fraud::identity::IpError>(())
/// ```
pub fn normalise_ip(raw: &str) -> Result<String, IpError> {
    parse_ip(raw).map(|addr| addr.to_string())
}

/// The network of an address as text: its IPv4 `/24` or IPv6 `/64`
/// (`203.0.113.0/24`, `2001:db8:1:2::/64`).
///
/// # Example
/// ```
/// use referrals::fraud::identity::{ip_prefix, parse_ip};
/// assert_eq!(ip_prefix(parse_ip("203.0.113.77")?), "203.0.113.0/24");
/// assert_eq!(ip_prefix(parse_ip("2001:db8:1:2:3:4:5:6")?), "2001:db8:1:2::/64");
/// # Ok::<(), referrals::fraud::identity::IpError>(())
/// ```
pub fn ip_prefix(addr: IpAddr) -> String {
    match fold_mapped(addr) {
        IpAddr::V4(v4) => {
            let network = Ipv4Addr::from(u32::from(v4) & (u32::MAX << (32 - IPV4_PREFIX)));
            format!("{network}/{IPV4_PREFIX}")
        }
        IpAddr::V6(v6) => {
            let network = Ipv6Addr::from(u128::from(v6) & (u128::MAX << (128 - IPV6_PREFIX)));
            format!("{network}/{IPV6_PREFIX}")
        }
    }
}

/// The canonical network text of an address, or of a network text
/// [`ip_prefix`] made (`203.0.113.0/24`; host bits are cleared, so
/// `203.0.113.9/24` is read too). Idempotent.
///
/// # Errors
/// As [`parse_ip`], and [`IpError::PrefixLength`] for any length but /24
/// for IPv4 and /64 for IPv6.
pub fn normalise_ip_prefix(raw: &str) -> Result<String, IpError> {
    if raw.len() > MAX_INPUT {
        return Err(IpError::TooLong { len: raw.len() });
    }
    match raw.trim().split_once('/') {
        None => parse_ip(raw).map(ip_prefix),
        Some((addr, len)) => {
            let addr = parse_ip(addr)?;
            let expected = match addr {
                IpAddr::V4(_) => IPV4_PREFIX,
                IpAddr::V6(_) => IPV6_PREFIX,
            };
            if len.parse::<u8>() != Ok(expected) || len.starts_with('+') {
                return Err(IpError::PrefixLength);
            }
            Ok(ip_prefix(addr))
        }
    }
}
