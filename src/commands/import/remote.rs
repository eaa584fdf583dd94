//! A running server as an import's sink (`--server`): chunks posted to
//! `POST /api/v1/logs` with the file's key and each chunk's offset, so the
//! server's ledger takes each chunk once; the reply is the typed
//! [`PushReply`] the server wrote.

use std::time::Duration;

use streamtally_parse::log::LogFormat;
use streamtally_source::{Chunk, Pending, PushReply, Sink, SourceError, Tally};

use super::local::parser_for;
use super::ImportArgs;

/// Chunks posted to a server stay well under its default body limit of 1 MiB.
const REMOTE_CHUNK: usize = 512 * 1024;

pub(super) struct RemoteSink {
    agent: ureq::Agent,
    /// `…/api/v1/logs?tenant=…` with the import's options.
    url: String,
    key: String,
}

/// One file's reading state: the number of its next line (the server parses).
pub(super) struct RemoteReader {
    name: String,
    line_no: usize,
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn unreachable(e: ureq::Error) -> SourceError {
    SourceError::Sink(format!("cannot reach the server: {e}"))
}

impl RemoteSink {
    pub fn new(server: &str, args: &ImportArgs) -> RemoteSink {
        let mut url = format!("{}/api/v1/logs?tenant={}", server.trim_end_matches('/'), url_encode(&args.tenant));
        for (k, v) in [
            ("format", &args.format),
            ("log_format", &args.log_format),
            ("zone", &args.zone),
            ("pop", &args.pop),
            ("property", &args.property),
            ("shard", &args.shard.map(|s| s.to_string())),
        ] {
            if let Some(v) = v {
                url.push_str(&format!("&{k}={}", url_encode(v)));
            }
        }
        RemoteSink {
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(120)))
                .build()
                .into(),
            url,
            key: args.key.clone().unwrap_or_default(),
        }
    }
}

impl Sink for RemoteSink {
    type Reader = RemoteReader;

    fn chunk_size(&self) -> usize {
        REMOTE_CHUNK
    }

    /// `GET /api/v1/logs/imported?file=`.
    fn imported_bytes(&self, key: &str) -> Result<u64, SourceError> {
        let url = format!("{}&file={key}", self.url.replacen("/api/v1/logs?", "/api/v1/logs/imported?", 1));
        let mut r = self.agent.get(&url).header("X-Ingest-Key", &self.key).call().map_err(unreachable)?;
        let status = r.status().as_u16();
        let v: serde_json::Value = r.body_mut().read_json().unwrap_or_default();
        if status != 200 {
            return Err(SourceError::Sink(format!("the server answered {status}: {v}")));
        }
        v["imported_bytes"]
            .as_u64()
            .ok_or_else(|| SourceError::Sink("the server did not say how much of the file it has".into()))
    }

    /// A file whose format cannot be told is refused here, before a line is
    /// sent, unless the format is named (the server reads each chunk itself).
    fn reader(&self, name: &str, head: &[u8], before: Option<RemoteReader>) -> Result<RemoteReader, SourceError> {
        if before.is_none() && !self.url.contains("&format=") {
            parser_for(None::<&LogFormat>, head, None)?;
        }
        Ok(RemoteReader {
            name: name.to_string(),
            line_no: 1,
        })
    }

    fn send(&self, reader: &mut RemoteReader, chunk: Chunk<'_>, tally: &mut Tally) -> Result<Option<Box<dyn Pending>>, SourceError> {
        let url = match chunk.origin {
            Some((file, offset)) => format!("{}&file={file}&offset={offset}", self.url),
            None => self.url.clone(),
        };
        let mut r = self
            .agent
            .post(&url)
            .header("X-Ingest-Key", &self.key)
            .content_type("text/plain")
            .send(chunk.bytes)
            .map_err(unreachable)?;
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        let reply = match serde_json::from_str::<PushReply>(&text) {
            Ok(reply) if status == 202 || status == 400 || (status == 200 && reply.duplicate) => reply,
            _ => return Err(SourceError::Sink(format!("the server answered {status}: {text}"))),
        };
        if reply.duplicate {
            // The server has this chunk already (an earlier run sent it).
            reader.line_no += memchr::memchr_iter(b'\n', chunk.bytes).count();
            return Ok(None);
        }
        let lines = reply.lines();
        tally.lines += lines;
        tally.parsed += reply.accepted;
        tally.rejected += reply.rejected;
        tally.repaired += reply.repaired;
        tally.skipped += reply.skipped;
        let first = reader.line_no;
        tally.reject_examples(&reader.name, reply.errors.into_iter().map(|e| (first - 1 + e.line, e.error, String::new())));
        for (why, n) in reply.excluded {
            *tally.excluded.entry(why).or_default() += n;
        }
        reader.line_no += lines as usize;
        // `202`: the server answered once the lines were durable.
        Ok(None)
    }

    /// The server records each chunk in its ledger when it is durable.
    fn taken(&self, _key: &str, _upto: u64) -> Result<(), SourceError> {
        Ok(())
    }
}
