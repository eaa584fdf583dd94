//! `streamtally users import FILE`: loads a tenant's user directory (CSV
//! with a header, NDJSON or a JSON array) into the data folder's metadata,
//! as `PUT /api/v1/users` does. Bad rows are named; the good ones are kept.

use anyhow::Context;
use clap::Subcommand;

use crate::DataArg;

#[derive(Subcommand)]
pub enum UsersAction {
    /// Import registered users (user_id, name, gender, birth_date|birth_year|age_range,
    /// country, region, city, registered_at, and any other column as an attribute).
    Import {
        file: std::path::PathBuf,
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        data: DataArg,
    },
}

/// Rows whose errors are printed; the rest are only counted.
const SHOWN_ERRORS: usize = 20;

pub fn run(action: UsersAction) -> anyhow::Result<()> {
    let UsersAction::Import { file, tenant, data } = action;
    let body = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let parsed = streamtally_parse::users::parse_users(&body).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let meta = super::admin::meta(&data)?;
    let n = meta.upsert_users(meta.tenant_by_name(&tenant)?.id, &parsed.users)?;
    println!("imported {n} users");
    for e in parsed.errors.iter().take(SHOWN_ERRORS) {
        let field = e.field.as_deref().map(|f| format!(" `{f}`")).unwrap_or_default();
        eprintln!("row {}{field}: {}", e.row, e.message);
    }
    if !parsed.errors.is_empty() {
        anyhow::bail!("{} rows rejected (the {n} others were imported)", parsed.errors.len());
    }
    Ok(())
}
