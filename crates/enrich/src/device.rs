//! The device key: a keyed hash of IP + User-Agent (IAB rule), or of an app's
//! own device id. The key (secret) is per tenant, so keys cannot be reversed by
//! hashing every IPv4 address.

use std::net::IpAddr;

use streamtally_model::DeviceKey;

/// A tenant's 32-byte hashing secret; it stays in the tenant's store.
#[derive(Clone)]
pub struct DeviceSecret([u8; 32]);

impl DeviceSecret {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        DeviceSecret(bytes)
    }
}

impl std::fmt::Debug for DeviceSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceSecret(..)")
    }
}

/// IPv6 addresses count by their /64 network: one household, many addresses.
fn normalized_ip(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_ipv6_mapped().octets(),
            None => {
                let mut o = v6.octets();
                o[8..].fill(0);
                o
            }
        },
    }
}

pub fn device_key(secret: &DeviceSecret, ip: Option<IpAddr>, user_agent: &str, device_id: Option<&str>) -> DeviceKey {
    let mut h = blake3::Hasher::new_keyed(&secret.0);
    match device_id {
        Some(id) => {
            h.update(b"device_id\0");
            h.update(id.as_bytes());
        }
        None => {
            h.update(b"ip+ua\0");
            h.update(&ip.map(normalized_ip).unwrap_or([0; 16]));
            h.update(user_agent.as_bytes());
        }
    }
    let out = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&out.as_bytes()[..8]);
    DeviceKey(u64::from_le_bytes(first))
}

/// The key of an app's own device id: what erasure by `device_id` looks for.
pub fn device_id_key(secret: &DeviceSecret, device_id: &str) -> DeviceKey {
    device_key(secret, None, "", Some(device_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_ip_and_ua_same_key_and_ipv6_counts_by_64_bits() {
        let s = DeviceSecret::from_bytes([1; 32]);
        let ua = "Mozilla/5.0";
        let a = device_key(&s, "203.0.113.7".parse().ok(), ua, None);
        assert_eq!(a, device_key(&s, "203.0.113.7".parse().ok(), ua, None));
        assert_ne!(a, device_key(&s, "203.0.113.8".parse().ok(), ua, None));
        assert_ne!(a, device_key(&s, "203.0.113.7".parse().ok(), "curl/8", None));
        assert_eq!(a, device_key(&s, "::ffff:203.0.113.7".parse().ok(), ua, None));
        let v6a = device_key(&s, "2001:db8:1:2:aaaa::1".parse().ok(), ua, None);
        let v6b = device_key(&s, "2001:db8:1:2:bbbb::9".parse().ok(), ua, None);
        let v6c = device_key(&s, "2001:db8:1:3::1".parse().ok(), ua, None);
        assert_eq!(v6a, v6b);
        assert_ne!(v6a, v6c);
    }

    #[test]
    fn the_secret_changes_every_key_and_device_id_wins() {
        let ip = "203.0.113.7".parse().ok();
        let a = device_key(&DeviceSecret::from_bytes([1; 32]), ip, "UA", None);
        let b = device_key(&DeviceSecret::from_bytes([2; 32]), ip, "UA", None);
        assert_ne!(a, b);
        let s = DeviceSecret::from_bytes([1; 32]);
        assert_eq!(device_key(&s, ip, "UA", Some("tv-42")), device_key(&s, None, "other", Some("tv-42")));
    }
}
