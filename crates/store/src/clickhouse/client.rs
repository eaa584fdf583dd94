//! ClickHouse's HTTP interface: statements, inserts and selects with
//! external data (tables sent along with a query, multipart), over one
//! keep-alive agent. Settings every request carries keep answers the same on
//! old and current servers.

use std::time::{Duration, Instant};

use super::ClickHouseConfig;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("ClickHouse at {url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("ClickHouse refused a statement ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("TLS to ClickHouse: {0}")]
    Tls(String),
}

/// TLS that trusts only the certificates in `pem` (without it: the public CAs).
fn trusting(pem: &[u8]) -> Result<ureq::tls::TlsConfig, ClientError> {
    let bad = |reason: String| ClientError::Tls(format!("the CA file: {reason}"));
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        if let ureq::tls::PemItem::Certificate(c) = item.map_err(|e| bad(e.to_string()))? {
            certs.push(c.to_owned());
        }
    }
    if certs.is_empty() {
        return Err(bad("no certificate in it (PEM, -----BEGIN CERTIFICATE-----)".into()));
    }
    Ok(ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(certs)))
        .build())
}

/// One external table sent with a query: its name, `structure` and rows as TabSeparated.
pub(super) struct External {
    pub name: &'static str,
    pub structure: String,
    pub tsv: String,
}

pub(super) struct Client {
    agent: ureq::Agent,
    base: String,
    user: String,
    password: String,
    database: String,
}

impl Client {
    pub fn new(config: &ClickHouseConfig) -> Result<Client, ClientError> {
        let mut agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(config.timeout_secs)));
        if let Some(pem) = &config.ca_pem {
            agent = agent.tls_config(trusting(pem)?);
        }
        Ok(Client {
            agent: agent.build().into(),
            base: config.base_url(),
            user: config.user.clone(),
            password: config.password.clone(),
            database: config.database.clone(),
        })
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    fn url(&self, query: Option<&str>, database: bool, extra: &[(String, String)]) -> String {
        let mut url = format!("{}/?output_format_json_quote_64bit_integers=0&output_format_json_quote_denormals=0", self.base);
        if database {
            url.push_str(&format!("&database={}", encode(&self.database)));
        }
        if let Some(q) = query {
            url.push_str(&format!("&query={}", encode(q)));
        }
        for (k, v) in extra {
            url.push_str(&format!("&{}={}", encode(k), encode(v)));
        }
        url
    }

    fn send(&self, url: &str, content_type: &str, body: Vec<u8>) -> Result<String, ClientError> {
        self.send_encoded(url, content_type, None, body)
    }

    fn send_encoded(&self, url: &str, content_type: &str, encoding: Option<&str>, body: Vec<u8>) -> Result<String, ClientError> {
        let mut request = self
            .agent
            .post(url)
            .header("X-ClickHouse-User", &self.user)
            .header("X-ClickHouse-Key", &self.password)
            .header("Content-Type", content_type);
        if let Some(e) = encoding {
            request = request.header("Content-Encoding", e);
        }
        let mut response = request.send(&body[..]).map_err(|e| ClientError::Unreachable {
            url: self.base.clone(),
            reason: e.to_string(),
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .map_err(|e| ClientError::Unreachable {
                url: self.base.clone(),
                reason: e.to_string(),
            })?;
        if status != 200 {
            return Err(ClientError::Refused {
                status,
                message: text.trim().chars().take(2000).collect(),
            });
        }
        Ok(text)
    }

    /// Runs a statement in the configured database (`database: false`: in the default one).
    pub fn execute(&self, sql: &str, database: bool) -> Result<String, ClientError> {
        let url = self.url(None, database, &[]);
        self.send(&url, "text/plain; charset=utf-8", sql.as_bytes().to_vec())
    }

    /// Runs a statement answering one number (`count()`, `max(…)`); 0 for an empty answer.
    pub fn number(&self, sql: &str, database: bool) -> Result<u64, ClientError> {
        Ok(self.execute(&format!("{sql} FORMAT TabSeparated"), database)?.trim().parse().unwrap_or(0))
    }

    /// Asks the count `sql` until it is 0 (`true`), or `limit` passed (`false`).
    pub fn wait_for_none(&self, sql: &str, database: bool, limit: Duration) -> Result<bool, ClientError> {
        let deadline = Instant::now() + limit;
        while self.number(sql, database)? > 0 {
            if Instant::now() > deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(true)
    }

    /// Inserts TabSeparated rows into `table`, as the query `query_id`.
    pub fn insert(&self, table: &str, query_id: &str, tsv: String) -> Result<(), ClientError> {
        let query = format!("INSERT INTO {table} FORMAT TabSeparated");
        let url = self.url(Some(&query), true, &[("query_id".to_string(), query_id.to_string())]);
        // Compressed: rows of one tenant repeat much (a tenth of the bytes or less).
        let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(tsv.len() / 8), flate2::Compression::fast());
        let body = std::io::Write::write_all(&mut gz, tsv.as_bytes())
            .and_then(|()| gz.finish())
            .map_err(|e| ClientError::Unreachable {
                url: self.base.clone(),
                reason: format!("compressing an insert: {e}"),
            })?;
        self.send_encoded(&url, "text/tab-separated-values; charset=utf-8", Some("gzip"), body)
            .map(drop)
    }

    /// Runs a select with external tables (none: a plain statement).
    pub fn select(&self, sql: &str, externals: &[External]) -> Result<String, ClientError> {
        if externals.is_empty() {
            return self.execute(sql, true);
        }
        let extra: Vec<(String, String)> = externals
            .iter()
            .flat_map(|e| {
                [
                    (format!("{}_structure", e.name), e.structure.clone()),
                    (format!("{}_format", e.name), "TabSeparated".into()),
                ]
            })
            .collect();
        let url = self.url(Some(sql), true, &extra);
        // A boundary no table's text holds (the tables carry client text).
        let boundary = loop {
            let b = format!("streamtally-{:016x}", rand::random::<u64>());
            if !externals.iter().any(|e| e.tsv.contains(&b)) {
                break b;
            }
        };
        let mut body = Vec::new();
        for e in externals {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{0}\"; filename=\"{0}\"\r\nContent-Type: text/plain\r\n\r\n",
                    e.name
                )
                .as_bytes(),
            );
            body.extend_from_slice(e.tsv.as_bytes());
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        self.send(&url, &format!("multipart/form-data; boundary={boundary}"), body)
    }
}

/// Percent-encoding of a URL query value.
fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
