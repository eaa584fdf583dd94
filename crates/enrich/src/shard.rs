//! Which node's lines a log import takes (`import --shard i/N`): the split
//! nginx makes with `upstream { hash $remote_addr; }` over N servers of equal
//! weight, so a device's log lines reach the node its player beacons reach.
//! nginx's hash (compatible with Cache::Memcached) is
//! `((crc32(key) >> 16) & 0x7fff) % N` on its first try; the key is the
//! address as nginx writes `$remote_addr`, which is how Rust writes an
//! `IpAddr` (dotted quads; RFC 5952 for IPv6) — except the deprecated
//! IPv4-compatible range `::/96`, which nginx writes as `::a.b.c.d`. It
//! holds for servers of weight 1 that are never marked down (`max_fails=0`:
//! nginx re-hashes a failed server's clients to another). The address is the
//! client address the log line gives (with `$http_x_forwarded_for` logged,
//! that one, as the parser takes it). Lines without an address go to shard 0.

use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// Reads `i/N` (0 ≤ i < N).
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("a shard is i/N with 0 <= i < N, like 0/2 (not {text:?})");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (i.trim().parse::<u32>().map_err(|_| bad())?, n.trim().parse::<u32>().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// The shard nginx's `hash $remote_addr` sends `addr` to.
    pub fn of(addr: Option<IpAddr>, count: u32) -> u32 {
        match addr {
            Some(ip) => ((crc32fast::hash(ip.to_string().as_bytes()) >> 16) & 0x7fff) % count.max(1),
            None => 0,
        }
    }

    /// Whether a line from `addr` is this shard's.
    pub fn takes(&self, addr: Option<IpAddr>) -> bool {
        Shard::of(addr, self.count) == self.index
    }
}

impl Shard {
    /// The import ledger's key for this shard of a file: each shard of one
    /// file is taken on its own (by its own node), so each has its own place.
    pub fn ledger_key(&self, file_key: &str) -> String {
        format!("{file_key}+shard{self}")
    }
}

/// The ledger key of a file, of one shard of it when given.
pub fn ledger_key(file_key: &str, shard: Option<&Shard>) -> String {
    match shard {
        Some(s) => s.ledger_key(file_key),
        None => file_key.to_string(),
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_read_as_i_of_n() {
        assert_eq!(Shard::parse("1/3").unwrap().to_string(), "1/3");
        for bad in ["3/3", "0/0", "1", "a/2", "-1/2", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_address_is_in_exactly_one_shard() {
        let shards: Vec<Shard> = (0..3).map(|i| Shard::parse(&format!("{i}/3")).unwrap()).collect();
        for k in 0..200u32 {
            let ip: IpAddr = format!("192.0.2.{}", k % 256).parse().unwrap();
            assert_eq!(shards.iter().filter(|s| s.takes(Some(ip))).count(), 1);
        }
        assert!(shards[0].takes(None));
    }

    #[test]
    fn the_hash_is_nginx_s() {
        // crc32("127.0.0.1") = 0xd7b7e7a8 (as zlib computes it): (0xd7b7 & 0x7fff) = 22455.
        assert_eq!(crc32fast::hash(b"127.0.0.1"), 0xd7b7_e7a8);
        assert_eq!(Shard::of(Some("127.0.0.1".parse().unwrap()), 7), 22455 % 7);
    }
}
