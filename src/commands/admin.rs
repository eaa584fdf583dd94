//! Tenants, keys, settings and catalogue on the data folder directly; safe while
//! a server runs (it picks changes up within seconds).

use std::path::Path;

use anyhow::Context;
use clap::Subcommand;
use serde_json::json;
use streamtally_store::{Content, Meta, Role};

use crate::DataArg;

pub fn meta(data: &DataArg) -> anyhow::Result<Meta> {
    if let Some(meta) = shared_meta(data)? {
        return Ok(meta);
    }
    std::fs::create_dir_all(&data.data).with_context(|| format!("cannot create {}", data.data.display()))?;
    Ok(Meta::open(&streamtally_store::DataFolder::new(&data.data).meta_file())?)
}

/// The metadata several nodes share, when `--meta` names it.
pub fn shared_meta(data: &DataArg) -> anyhow::Result<Option<Meta>> {
    let Some(url) = &data.meta else { return Ok(None) };
    anyhow::ensure!(
        streamtally_store::is_postgres_url(url),
        "--meta must be a PostgreSQL address, postgres://user:password@host:5432/database"
    );
    let ca = match &data.meta_ca {
        Some(path) => Some(std::fs::read(path).with_context(|| format!("cannot read the CA file {}", path.display()))?),
        None => None,
    };
    let meta =
        Meta::connect_with(url, ca.as_deref()).with_context(|| format!("cannot reach the shared metadata at {}", crate::commands::serve::redact(url)))?;
    Ok(Some(meta))
}

#[derive(Subcommand)]
pub enum TenantAction {
    /// Create a tenant.
    Create {
        name: String,
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        json: bool,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum KeyAction {
    /// Create a key for a tenant (the key is printed once).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long, value_parser = ["ingest", "read", "admin"])]
        role: String,
        /// For an ingest key: the property of its events that name none (spec §1).
        #[arg(long)]
        property: Option<String>,
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a tenant's key by its id (the part after the role); a running
    /// server stops taking it within a minute.
    Revoke {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        key_id: String,
        #[command(flatten)]
        data: DataArg,
    },
}

#[derive(Subcommand)]
pub enum SettingsAction {
    /// Print a tenant's settings (all, or the keys named).
    Get {
        #[arg(long)]
        tenant: String,
        keys: Vec<String>,
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        json: bool,
    },
    /// Change settings: KEY=VALUE ...
    Set {
        #[arg(long)]
        tenant: String,
        #[arg(required = true)]
        pairs: Vec<String>,
        #[command(flatten)]
        data: DataArg,
    },
}

#[derive(Subcommand)]
pub enum ContentsAction {
    /// Import catalogue entries from a CSV file with a header row
    /// (content_id,title,kind,media,duration,bitrate,category,show,producer,distributor).
    Import {
        file: std::path::PathBuf,
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        data: DataArg,
    },
}

pub fn tenant(action: TenantAction) -> anyhow::Result<()> {
    match action {
        TenantAction::Create { name, data, json } => {
            let t = meta(&data)?.create_tenant(&name)?;
            if json {
                println!("{}", json!(t));
            } else {
                println!("created tenant {} (id {})", t.name, t.id);
            }
        }
        TenantAction::List { data, json } => {
            let tenants = meta(&data)?.tenants()?;
            if json {
                println!("{}", json!(tenants));
            } else {
                for t in tenants {
                    println!("{}\t{}", t.id, t.name);
                }
            }
        }
    }
    Ok(())
}

pub fn key(action: KeyAction) -> anyhow::Result<()> {
    match action {
        KeyAction::Create {
            tenant,
            role,
            property,
            data,
            json,
        } => {
            let m = meta(&data)?;
            let t = m.tenant_by_name(&tenant)?;
            let key = m.create_key_with_property(Some(t.id), Role::parse(&role)?, property.as_deref())?;
            if json {
                println!("{}", json!(key));
            } else {
                println!("{}", key.key);
            }
        }
        KeyAction::Revoke { tenant, key_id, data } => {
            let m = meta(&data)?;
            let t = m.tenant_by_name(&tenant)?;
            anyhow::ensure!(
                m.revoke_key(Some(t.id), &key_id)?,
                "tenant `{tenant}` has no key `{key_id}` that is not revoked"
            );
            println!("revoked {key_id}");
        }
    }
    Ok(())
}

pub fn settings(action: SettingsAction) -> anyhow::Result<()> {
    match action {
        SettingsAction::Get { tenant, keys, data, json } => {
            let m = meta(&data)?;
            let s = m.settings(m.tenant_by_name(&tenant)?.id)?;
            let pairs: Vec<(String, String)> = if keys.is_empty() {
                s.to_pairs().into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            } else {
                keys.iter().map(|k| Ok((k.clone(), s.get(k)?))).collect::<anyhow::Result<_>>()?
            };
            if json {
                let obj: serde_json::Map<String, serde_json::Value> = pairs.into_iter().map(|(k, v)| (k, json!(v))).collect();
                println!("{}", serde_json::Value::Object(obj));
            } else {
                for (k, v) in pairs {
                    println!("{k}={v}");
                }
            }
        }
        SettingsAction::Set { tenant, pairs, data } => {
            let m = meta(&data)?;
            let id = m.tenant_by_name(&tenant)?.id;
            let parsed: Vec<(String, String)> = pairs
                .iter()
                .map(|p| {
                    p.split_once('=')
                        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                        .with_context(|| format!("`{p}` is not KEY=VALUE"))
                })
                .collect::<anyhow::Result<_>>()?;
            let s = m.update_settings(id, &parsed)?;
            for (k, _) in &parsed {
                println!("{k}={}", s.get(k)?);
            }
        }
    }
    Ok(())
}

fn read_contents_csv(file: &Path) -> anyhow::Result<Vec<Content>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let mut out = Vec::new();
    for (i, row) in reader.deserialize::<CsvContent>().enumerate() {
        let row = row.with_context(|| format!("{} line {}", file.display(), i + 2))?;
        out.push(row.into());
    }
    Ok(out)
}

/// A CSV row: empty cells are absent values.
#[derive(serde::Deserialize)]
struct CsvContent {
    content_id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    media: String,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    bitrate: Option<f64>,
    #[serde(default)]
    category: String,
    #[serde(default)]
    show: String,
    #[serde(default)]
    producer: String,
    #[serde(default)]
    distributor: String,
    #[serde(default)]
    season: String,
    #[serde(default)]
    episode: String,
    #[serde(default)]
    broadcaster: String,
    #[serde(default)]
    guid: String,
}

impl From<CsvContent> for Content {
    fn from(c: CsvContent) -> Self {
        let opt = |s: String| (!s.is_empty()).then_some(s);
        Content {
            content_id: c.content_id,
            title: opt(c.title),
            kind: opt(c.kind),
            media: opt(c.media),
            duration: c.duration,
            bitrate: c.bitrate,
            category: opt(c.category),
            show: opt(c.show),
            producer: opt(c.producer),
            distributor: opt(c.distributor),
            season: opt(c.season),
            episode: opt(c.episode),
            broadcaster: opt(c.broadcaster),
            guid: opt(c.guid),
        }
    }
}

pub fn contents(action: ContentsAction) -> anyhow::Result<()> {
    let ContentsAction::Import { file, tenant, data } = action;
    let contents = read_contents_csv(&file)?;
    let m = meta(&data)?;
    let n = m.upsert_contents(m.tenant_by_name(&tenant)?.id, &contents)?;
    println!("imported {n} catalogue entries");
    Ok(())
}
