//! The query model: what a metrics question is (`MetricsQuery`), the SQL that
//! answers it per dialect, and the shape of the answer with its JSON/CSV forms.
//!
//! SQL is generated here and nowhere else. A [`Dialect`] supplies the few
//! engine-specific pieces (time buckets in a time zone, placeholders, table
//! names); the embedded store runs the DataFusion dialect, a ClickHouse store
//! will run the ClickHouse one. This crate executes nothing itself: [`Ask`]
//! hands a question's statements to the storage seam, the step before it.

mod activity;
mod answer;
mod ask;
mod attendance;
mod audience;
mod cdn;
mod dialect;
mod live;
mod model;
mod monthly;
mod owners;
mod retention;
mod rollup;
mod select;
mod sql;

pub use activity::{ActivityQuery, EVENTS_PER_PAGE, MAX_EVENTS_PER_PAGE};
pub use answer::{format_in_tz, Answer, Cell, Table};
pub use ask::Ask;
pub use attendance::{attendance_answer, AttendanceQuery, ATTENDANCE_COLUMNS};
pub use audience::{Registrations, RegistrationsQuery, REGISTRATION_PARTS};
pub use cdn::{cdn_answer, CdnGroup, CdnQuery, CDN_METRICS, HIT_STATUSES, MISS_STATUSES};
pub use dialect::{dialect_of, ClickHouse, DataFusion, Dialect};
pub use live::{live_details, LiveDetail, LiveQuery, MINUTE};
pub use model::{parse_filters, parse_range, parse_tz, Dimension, Filter, FreeName, Metric, MetricsQuery, QueryError, TimeUnit, MAX_FREE_VALUES};
pub use monthly::{MonthlyQuery, MONTHLY_COLUMNS};
pub use owners::{OwnedPlaybacks, OwnedStretch, UserTrace, MAX_OWNED_PLAYBACKS};
pub use retention::{retention_csv, retention_json, sections, DurationFrom, RetentionBasis, RetentionCurve, RetentionQuery, Section, SECTIONS};
pub use rollup::rollup_definition;
pub use select::{FromFacts, Select};
pub use sql::metrics_sql;
pub use streamtally_store::{Scope, Sql, CONTENT_COLUMNS, USER_COLUMNS};
