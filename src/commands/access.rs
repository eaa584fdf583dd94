//! `streamtally access`: a tenant's access list and SecureID secret, on the
//! data folder directly (a running server picks changes up within seconds).

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use streamtally_access::{parse_code_list, sign_secure_id, AccessEntry};
use streamtally_model::format_ts;

use crate::commands::admin::meta;
use crate::DataArg;

#[derive(Subcommand)]
pub enum AccessAction {
    /// List codes (a re-added revoked code is valid again).
    Add {
        #[arg(long)]
        tenant: String,
        #[arg(required = true)]
        codes: Vec<String>,
        /// Valid until (RFC 3339 or a date).
        #[arg(long)]
        expires: Option<String>,
        #[command(flatten)]
        data: DataArg,
    },
    /// Revoke codes (or SecureID ids): checks, tokens and events with them are refused from now on.
    Revoke {
        #[arg(long)]
        tenant: String,
        #[arg(required = true)]
        codes: Vec<String>,
        #[command(flatten)]
        data: DataArg,
    },
    /// List codes from a CSV (header with `code`, optional `expires`, `note`) or JSON file.
    Import {
        #[arg(long)]
        tenant: String,
        file: PathBuf,
        #[command(flatten)]
        data: DataArg,
    },
    /// Print the access list.
    List {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// Make a new SecureID secret (the old one's SecureIDs stop working) and print it.
    Secret {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// Sign a SecureID with the tenant's secret, as the customer's website would.
    SignSecureId {
        #[arg(long)]
        tenant: String,
        id: String,
        /// Valid until (RFC 3339 or a date).
        #[arg(long)]
        expires: String,
        #[command(flatten)]
        data: DataArg,
    },
}

pub fn run(action: AccessAction) -> anyhow::Result<()> {
    match action {
        AccessAction::Add { tenant, codes, expires, data } => {
            let m = meta(&data)?;
            let expires_at = match expires {
                Some(e) => Some(streamtally_model::parse_ts(&e).with_context(|| format!("`{e}` is not a time"))?),
                None => None,
            };
            let entries: Vec<AccessEntry> = codes
                .iter()
                .map(|c| AccessEntry {
                    expires_at,
                    ..AccessEntry::new(c.trim())
                })
                .collect();
            let n = m.upsert_access_codes(m.tenant_by_name(&tenant)?.id, &entries)?;
            println!("listed {n} codes");
        }
        AccessAction::Revoke { tenant, codes, data } => {
            let m = meta(&data)?;
            let n = m.revoke_access_codes(m.tenant_by_name(&tenant)?.id, &codes, chrono::Utc::now().timestamp_micros())?;
            println!("revoked {n} codes");
        }
        AccessAction::Import { tenant, file, data } => {
            let body = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let entries = parse_code_list(&body).with_context(|| file.display().to_string())?;
            let m = meta(&data)?;
            let n = m.upsert_access_codes(m.tenant_by_name(&tenant)?.id, &entries)?;
            println!("listed {n} codes");
        }
        AccessAction::List { tenant, data } => {
            let m = meta(&data)?;
            let mut out = csv::Writer::from_writer(std::io::stdout());
            out.write_record(["code", "note", "expires", "revoked"])?;
            for e in m.access_codes(m.tenant_by_name(&tenant)?.id)? {
                let t = |v: Option<i64>| v.map(format_ts).unwrap_or_default();
                out.write_record([e.code, e.note.unwrap_or_default(), t(e.expires_at), t(e.revoked_at)])?;
            }
            out.flush()?;
        }
        AccessAction::Secret { tenant, data } => {
            let m = meta(&data)?;
            println!("{}", m.rotate_access_secret(m.tenant_by_name(&tenant)?.id)?);
        }
        AccessAction::SignSecureId { tenant, id, expires, data } => {
            let m = meta(&data)?;
            let secret = m
                .access_secret(m.tenant_by_name(&tenant)?.id)?
                .context("the tenant has no SecureID secret yet; run `streamtally access secret` first")?;
            let at = streamtally_model::parse_ts(&expires).with_context(|| format!("`{expires}` is not a time"))?;
            anyhow::ensure!(!id.contains('.') && !id.is_empty(), "a SecureID id must be non-empty and contain no `.`");
            println!("{}", sign_secure_id(&secret, &id, at.div_euclid(1_000_000)));
        }
    }
    Ok(())
}
