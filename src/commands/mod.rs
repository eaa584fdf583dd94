pub mod access;
pub mod admin;
pub mod demo;
pub mod erase;
pub mod explain;
pub mod import;
pub mod report;
pub mod serve;
pub mod users;

use tracing_subscriber::EnvFilter;

pub fn init_logging(format: &str) {
    let filter = EnvFilter::try_from_env("STREAMTALLY_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
