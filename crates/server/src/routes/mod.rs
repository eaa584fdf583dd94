pub mod access;
pub mod admin;
pub mod attendance;
pub mod ingest;
pub mod live;
pub mod ops;
pub mod query;
