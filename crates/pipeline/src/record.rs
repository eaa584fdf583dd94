//! WAL records: a batch of one tenant's enriched inputs, as written to the
//! WAL and read back; versions 1 to 5 of earlier releases still decode.

use super::*;

/// One WAL record: a batch of one tenant's enriched inputs, with what they
/// were accepted under, so a replay counts them exactly as the live run did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WalRecord {
    pub tenant: TenantId,
    /// When the batch was accepted (record version 3 on): the counting clock
    /// never runs more than an hour ahead of it (spec §8a).
    pub received_at: Micros,
    /// The tenant's settings in force when the batch was accepted, as text
    /// pairs (record version 3 on; empty: the settings at hand when counted).
    /// Pairs rather than a struct, so a setting added later still decodes.
    pub settings: Vec<(String, String)>,
    pub events: Vec<EnrichedEvent>,
    /// Enriched log requests (record version 2 on).
    pub requests: Vec<EnrichedRequest>,
    /// The property of the log requests (spec §1: per import or file, else
    /// the ingest key's; record version 4 on). `None`: `Others`.
    pub property: Option<String>,
    /// How far each imported file is taken once this record is (record
    /// version 6 on): counting it moves the import ledger there, so a chunk
    /// made durable just before a crash is a duplicate when sent again.
    pub import: Vec<ImportPosition>,
}

/// A place in the import ledger: a file's (or a shard of a file's) key, and
/// the byte it is taken up to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportPosition {
    pub file_key: String,
    pub end: u64,
}

/// Version 5 records: without the import positions.
#[derive(Deserialize)]
struct WalRecordV5 {
    tenant: TenantId,
    received_at: Micros,
    settings: Vec<(String, String)>,
    events: Vec<EnrichedEvent>,
    requests: Vec<EnrichedRequest>,
    property: Option<String>,
}

/// Version 4 records: inputs without the quality fields (spec §8d).
#[derive(Deserialize)]
struct WalRecordV4 {
    tenant: TenantId,
    received_at: Micros,
    settings: Vec<(String, String)>,
    events: Vec<legacy::EnrichedEventV4>,
    requests: Vec<legacy::EnrichedRequestV4>,
    property: Option<String>,
}

/// Version 3 records: without the requests' property.
#[derive(Deserialize)]
struct WalRecordV3 {
    tenant: TenantId,
    received_at: Micros,
    settings: Vec<(String, String)>,
    events: Vec<legacy::EnrichedEventV4>,
    requests: Vec<legacy::EnrichedRequestV4>,
}

/// Version 1 records held player events only.
#[derive(Deserialize)]
struct WalRecordV1 {
    tenant: TenantId,
    events: Vec<legacy::EnrichedEventV4>,
}

/// Version 2 records: events and log requests, without receive time or settings.
#[derive(Deserialize)]
struct WalRecordV2 {
    tenant: TenantId,
    events: Vec<legacy::EnrichedEventV4>,
    requests: Vec<legacy::EnrichedRequestV2>,
}

/// First byte of every WAL record: the encoding is not self-describing, so new
/// record kinds (log requests…) get a new version instead of breaking old logs.
pub(crate) const WAL_RECORD_V1: u8 = 1;
pub(crate) const WAL_RECORD_V2: u8 = 2;
pub(crate) const WAL_RECORD_V3: u8 = 3;
pub(crate) const WAL_RECORD_V4: u8 = 4;
pub(crate) const WAL_RECORD_V5: u8 = 5;
pub(crate) const WAL_RECORD_V6: u8 = 6;

/// Records older than version 3 say nothing of when they were received.
pub(crate) const RECEIVED_UNKNOWN: Micros = Micros::MAX;

impl WalRecord {
    /// A record of inputs accepted now under `ctx`'s settings.
    pub fn accepted(ctx: &TenantContext, events: Vec<EnrichedEvent>, requests: Vec<EnrichedRequest>) -> WalRecord {
        WalRecord {
            tenant: ctx.id,
            received_at: chrono::Utc::now().timestamp_micros(),
            settings: ctx.settings_pairs.clone(),
            events,
            requests,
            property: None,
            import: Vec::new(),
        }
    }

    /// The record with its log requests under `property`.
    pub fn with_property(mut self, property: Option<String>) -> WalRecord {
        self.property = property;
        self
    }

    /// The record with the import positions it takes files to.
    pub fn with_import(mut self, import: Vec<ImportPosition>) -> WalRecord {
        self.import = import;
        self
    }

    pub fn encode(&self) -> Result<Vec<u8>, PipelineError> {
        // About what an enriched input takes encoded; growing by doubling copies megabytes per record.
        let mut out = Vec::with_capacity(512 + 128 * (self.events.len() + self.requests.len()));
        out.push(WAL_RECORD_V6);
        postcard::to_io(self, &mut out).map_err(|e| PipelineError::BadRecord { lsn: 0, reason: e.to_string() })?;
        Ok(out)
    }
    pub fn decode(lsn: u64, bytes: &[u8]) -> Result<WalRecord, PipelineError> {
        let bad = |e: postcard::Error| PipelineError::BadRecord { lsn, reason: e.to_string() };
        match bytes.split_first() {
            Some((&WAL_RECORD_V6, body)) => postcard::from_bytes(body).map_err(bad),
            Some((&WAL_RECORD_V5, body)) => postcard::from_bytes::<WalRecordV5>(body)
                .map(|v5| WalRecord {
                    tenant: v5.tenant,
                    received_at: v5.received_at,
                    settings: v5.settings,
                    events: v5.events,
                    requests: v5.requests,
                    property: v5.property,
                    import: Vec::new(),
                })
                .map_err(bad),
            Some((&WAL_RECORD_V4, body)) => postcard::from_bytes::<WalRecordV4>(body)
                .map(|v4| WalRecord {
                    tenant: v4.tenant,
                    received_at: v4.received_at,
                    settings: v4.settings,
                    events: legacy::upgrade(v4.events),
                    requests: legacy::upgrade(v4.requests),
                    property: v4.property,
                    import: Vec::new(),
                })
                .map_err(bad),
            Some((&WAL_RECORD_V3, body)) => postcard::from_bytes::<WalRecordV3>(body)
                .map(|v3| WalRecord {
                    tenant: v3.tenant,
                    received_at: v3.received_at,
                    settings: v3.settings,
                    events: legacy::upgrade(v3.events),
                    requests: legacy::upgrade(v3.requests),
                    property: None,
                    import: Vec::new(),
                })
                .map_err(bad),
            Some((&WAL_RECORD_V2, body)) => postcard::from_bytes::<WalRecordV2>(body)
                .map(|v2| WalRecord {
                    tenant: v2.tenant,
                    received_at: RECEIVED_UNKNOWN,
                    settings: Vec::new(),
                    events: legacy::upgrade(v2.events),
                    requests: legacy::upgrade(v2.requests),
                    property: None,
                    import: Vec::new(),
                })
                .map_err(bad),
            Some((&WAL_RECORD_V1, body)) => postcard::from_bytes::<WalRecordV1>(body)
                .map(|v1| WalRecord {
                    tenant: v1.tenant,
                    received_at: RECEIVED_UNKNOWN,
                    settings: Vec::new(),
                    events: legacy::upgrade(v1.events),
                    requests: Vec::new(),
                    property: None,
                    import: Vec::new(),
                })
                .map_err(bad),
            Some((v, _)) => Err(PipelineError::BadRecord {
                lsn,
                reason: format!("unknown record version {v}; written by a newer streamtally?"),
            }),
            None => Err(PipelineError::BadRecord {
                lsn,
                reason: "empty record".into(),
            }),
        }
    }
}
