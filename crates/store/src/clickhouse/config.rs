//! Where the ClickHouse store is: `clickhouse://user:password@host:8123/db`
//! (the HTTP interface) or `https://user:password@host:8443/db` (over TLS),
//! with the node's name, the cluster, if any, and the CA to trust.

use crate::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub struct ClickHouseConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: String,
    /// With a cluster: rows go to this server's `*_local` tables and queries
    /// read the `Distributed` tables over the cluster.
    pub cluster: Option<String>,
    /// This node's name, stored with every row it writes (its batch identity).
    pub node: String,
    pub timeout_secs: u64,
    /// `https://`: the HTTP interface over TLS.
    pub tls: bool,
    /// Certificates (PEM) trusted for the server's, instead of the public
    /// CAs: a private CA or the server's own self-signed certificate.
    pub ca_pem: Option<Vec<u8>>,
}

impl ClickHouseConfig {
    /// Reads `clickhouse://[user[:password]@]host[:port][/database]`
    /// (`http://` alike), or `https://…` for TLS (port 8443 by default).
    pub fn parse(url: &str, node: &str) -> Result<ClickHouseConfig, StoreError> {
        let bad = |reason: &str| StoreError::ClickHouse(format!("the store address {url:?} {reason}"));
        let (tls, rest) = match url.strip_prefix("https://") {
            Some(rest) => (true, rest),
            None => (
                false,
                url.strip_prefix("clickhouse://")
                    .or_else(|| url.strip_prefix("http://"))
                    .ok_or_else(|| bad("must start with clickhouse:// or http:// (the HTTP interface), or https:// (over TLS)"))?,
            ),
        };
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((a, r)) => (Some(a), r),
            None => (None, rest),
        };
        let (user, password) = match auth {
            Some(a) => match a.split_once(':') {
                Some((u, p)) => (decode(u), decode(p)),
                None => (decode(a), String::new()),
            },
            None => ("default".to_string(), String::new()),
        };
        let (hostport, database) = match rest.split_once('/') {
            Some((h, d)) => (h, d.trim_end_matches('/')),
            None => (rest, ""),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad("has a port that is not a number"))?),
            None => (hostport, if tls { 8443 } else { 8123 }),
        };
        if host.is_empty() {
            return Err(bad("names no host"));
        }
        let database = if database.is_empty() { "streamtally" } else { database };
        if !database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad("names a database that is not letters, digits and _"));
        }
        if node.is_empty() || !node.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
            return Err(StoreError::ClickHouse(format!("the node name {node:?} must be letters, digits, _, - and .")));
        }
        Ok(ClickHouseConfig {
            host: host.to_string(),
            port,
            user: if user.is_empty() { "default".into() } else { user },
            password,
            database: database.to_string(),
            cluster: None,
            node: node.to_string(),
            timeout_secs: 60,
            tls,
            ca_pem: None,
        })
    }

    /// Trusts the certificates in the PEM file `path` for the server's.
    pub fn trusting(mut self, path: &std::path::Path) -> Result<ClickHouseConfig, StoreError> {
        if !self.tls {
            return Err(StoreError::ClickHouse(
                "a CA to trust (--store-ca) is for an https:// store; this one is plain HTTP".into(),
            ));
        }
        let pem = std::fs::read(path).map_err(|e| StoreError::ClickHouse(format!("the CA file {}: {e}", path.display())))?;
        self.ca_pem = Some(pem);
        Ok(self)
    }

    /// The same store on the cluster `name` (from ClickHouse's `remote_servers`).
    pub fn on_cluster(mut self, name: &str) -> Result<ClickHouseConfig, StoreError> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(StoreError::ClickHouse(format!("the cluster name {name:?} must be letters, digits and _")));
        }
        self.cluster = Some(name.to_string());
        Ok(self)
    }

    pub fn base_url(&self) -> String {
        format!("{}://{}:{}", if self.tls { "https" } else { "http" }, self.host, self.port)
    }
}

/// Percent-decoding of a user or password in the address.
fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gives_host_port_user_and_database() {
        let c = ClickHouseConfig::parse("clickhouse://st:p%40ss@db.example:8124/analytics", "n1").unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.user.as_str(), c.password.as_str(), c.database.as_str()),
            ("db.example", 8124, "st", "p@ss", "analytics")
        );
        let d = ClickHouseConfig::parse("clickhouse://localhost", "n1").unwrap();
        assert_eq!((d.port, d.user.as_str(), d.database.as_str()), (8123, "default", "streamtally"));
        let s = ClickHouseConfig::parse("https://st@db.example/analytics", "n1").unwrap();
        assert_eq!((s.tls, s.port, s.base_url().as_str()), (true, 8443, "https://db.example:8443"));
        assert!(!d.tls);
    }

    #[test]
    fn a_bad_address_is_refused_with_its_reason() {
        for bad in ["postgres://x", "clickhouse://host:port/db", "clickhouse:///db", "clickhouse://h/db;drop"] {
            assert!(ClickHouseConfig::parse(bad, "n1").is_err(), "{bad}");
        }
        assert!(ClickHouseConfig::parse("clickhouse://h", "a'b").is_err());
    }
}
