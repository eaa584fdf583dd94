//! Parsing: turns the bytes a source received into typed inputs.
//!
//! Today that is player-event batches (spec §1) as sent to `POST /api/v1/events`:
//! a JSON array, NDJSON (also as `text/plain`, the way `navigator.sendBeacon`
//! posts), or an object `{"sent_at": …, "events": […]}`. Each bad event gets an
//! error naming its index and field; the good events of the batch are kept.
//! Access-log lines (`log`): combined/common, nginx `log_format`, W3C and
//! JSON lines, with CMCD data decoded.

mod event;
pub mod log;
pub mod users;

pub use event::{parse_event_batch, BatchError, EventError, ParsedBatch, MAX_FUTURE_SKEW_US};
