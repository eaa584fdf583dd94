//! The vocabulary of streamtally: player events, enriched events, facts and the
//! per-tenant counting settings of the spec (`shared/spec/metrics.md`).
//!
//! Every other crate speaks in these types. Nothing here does I/O.

mod event;
mod fact;
pub mod registered;
mod request;
mod settings;
mod time;

/// Text shared by many facts (a client family, a place, a content id):
/// cloning it is a reference count, not an allocation. Encoded as a string.
pub type Text = std::sync::Arc<str>;

pub use event::{ClientFamily, ContentKind, EnrichedEvent, EventType, Geo, Media, PlayerEvent};
pub use fact::{Fact, FactKind, Served, Source, OWNER_WINDOW};
pub use request::{Cmcd, CmcdQoe, EnrichedRequest, LogRequest, RequestKind};
pub use settings::{duration_micros, Settings, SettingsError, VideoLogTime};
pub use time::{format_ts, micros_to_datetime, parse_ts, Micros, MAX_AHEAD, MICROS_PER_SEC};

/// A tenant's numeric id in the metadata store; every stored row belongs to one.
pub type TenantId = i64;

/// The keyed hash that stands for a device (spec §2): hash(IP, User-Agent), or of
/// the app's own `device_id`. Never reversible without the tenant's secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct DeviceKey(pub u64);

/// Property used when an event names none (spec §1, source 004).
pub const PROPERTY_OTHERS: &str = "Others";
