//! The query model: what a metrics question is (`MetricsQuery`), the SQL that
//! answers it per dialect, and the shape of the answer with its JSON/CSV forms.
//!
//! SQL is generated here and nowhere else. A [`Dialect`] supplies the few
//! engine-specific pieces (time buckets in a time zone, placeholders, table
//! names); the embedded store runs the DataFusion dialect, a ClickHouse store
//! will run the ClickHouse one. This crate executes nothing.

mod answer;
mod dialect;
mod model;
mod sql;

pub use answer::{Answer, Cell, Table};
pub use dialect::{ClickHouse, DataFusion, Dialect};
pub use model::{Dimension, Filter, Metric, MetricsQuery, QueryError, TimeUnit};
pub use sql::{metrics_sql, Sql, CONTENT_COLUMNS};
