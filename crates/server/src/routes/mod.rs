pub mod admin;
pub mod ingest;
pub mod ops;
pub mod query;
