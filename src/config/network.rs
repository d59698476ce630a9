//! CIDR network ranges matched against `PAM_RHOST`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IPv4 or IPv6 network, e.g. `10.0.0.0/8` or `2001:db8::/32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("\"{text}\" is not an IP address or CIDR network"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(prefix) => match prefix.parse::<u8>() {
                Ok(p) if p <= max && !prefix.starts_with('+') => p,
                _ => return Err(format!("\"{text}\" has a bad prefix length (0 to {max})")),
            },
        };
        Ok(Cidr { network, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Cidr {
    /// Whether `address` lies in this network. IPv4-mapped IPv6 addresses
    /// (`::ffff:192.0.2.1`) match IPv4 networks.
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address) {
            (IpAddr::V4(net), IpAddr::V4(addr)) => v4_in(net, self.prefix, addr),
            (IpAddr::V4(net), IpAddr::V6(addr)) => match addr.to_ipv4_mapped() {
                Some(addr) => v4_in(net, self.prefix, addr),
                None => false,
            },
            (IpAddr::V6(net), IpAddr::V6(addr)) => v6_in(net, self.prefix, addr),
            (IpAddr::V6(net), IpAddr::V4(addr)) => v6_in(net, self.prefix, addr.to_ipv6_mapped()),
        }
    }
}

fn v4_in(net: Ipv4Addr, prefix: u8, addr: Ipv4Addr) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    u32::from(net) & mask == u32::from(addr) & mask
}

fn v6_in(net: Ipv6Addr, prefix: u8, addr: Ipv6Addr) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    u128::from(net) & mask == u128::from(addr) & mask
}

/// Whether the remote host (as PAM reports it) is in any of `networks`.
/// A host name, or anything else that is not an address, never matches.
pub fn host_in(remote_host: &str, networks: &[Cidr]) -> bool {
    let Ok(address) = remote_host.trim().parse::<IpAddr>() else {
        return false;
    };
    networks.iter().any(|net| net.contains(address))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn ipv4_networks() {
        let n = nets(&["10.0.0.0/8", "192.168.1.7"]);
        assert!(host_in("10.1.2.3", &n));
        assert!(host_in("192.168.1.7", &n));
        assert!(!host_in("192.168.1.8", &n));
        assert!(!host_in("11.0.0.1", &n));
        assert!(host_in("1.2.3.4", &nets(&["0.0.0.0/0"])));
    }

    #[test]
    fn ipv6_networks_and_mapped_addresses() {
        let n = nets(&["2001:db8::/32", "127.0.0.0/8"]);
        assert!(host_in("2001:db8:1::5", &n));
        assert!(!host_in("2001:db9::1", &n));
        assert!(host_in("::ffff:127.0.0.1", &n));
        assert!(!host_in("::ffff:128.0.0.1", &n));
        assert!(host_in("::ffff:10.0.0.1", &nets(&["::ffff:10.0.0.0/104"])));
        assert!(host_in("10.0.0.1", &nets(&["::ffff:10.0.0.0/104"])));
    }

    #[test]
    fn host_names_never_match() {
        let n = nets(&["0.0.0.0/0", "::/0"]);
        assert!(!host_in("localhost", &n));
        assert!(!host_in("10.0.0.1.example.com", &n));
        assert!(!host_in("", &n));
    }

    #[test]
    fn bad_networks_are_refused() {
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "host",
            "10.0.0/8",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad} accepted");
        }
    }
}
