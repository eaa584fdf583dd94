//! `streamtally erase`: the right to erasure, on the data folder directly.

use anyhow::Context;
use streamtally_pipeline::{Pipeline, PipelineConfig};
use streamtally_store::{EmbeddedStore, OpenMode, StoreError, Subject};

use crate::DataArg;

#[derive(clap::Args)]
#[group(id = "subject", required = true, multiple = false, args = ["user_id", "device_id", "access_code"])]
pub struct EraseArgs {
    #[command(flatten)]
    pub data: DataArg,
    #[arg(long)]
    pub tenant: String,
    #[arg(long)]
    pub user_id: Option<String>,
    #[arg(long)]
    pub device_id: Option<String>,
    #[arg(long)]
    pub access_code: Option<String>,
}

pub fn run(args: EraseArgs) -> anyhow::Result<()> {
    args.data.folder_only("erase")?;
    let store = match EmbeddedStore::open(&args.data.data, OpenMode::Serve) {
        Err(e @ StoreError::Locked { .. }) => anyhow::bail!("{e}\n(while a server runs, erase through it: DELETE /api/v1/subjects?user_id=…)"),
        other => other.with_context(|| format!("cannot open {}", args.data.data.display()))?,
    };
    let tenant = store.meta().tenant_by_name(&args.tenant)?;
    let secret = streamtally_enrich::DeviceSecret::from_bytes(store.meta().device_secret(tenant.id)?);
    let subject = match (args.user_id, args.device_id, args.access_code) {
        (Some(u), _, _) => Subject::UserId(u),
        (_, Some(d), _) => Subject::Device(streamtally_enrich::device_id_key(&secret, &d)),
        (_, _, Some(c)) => Subject::AccessCode(c),
        _ => anyhow::bail!("name one of --user-id, --device-id, --access-code"),
    };
    let meta = store.meta().clone();
    let folder = store.folder().clone();
    let pipeline = Pipeline::start(std::sync::Arc::new(store), meta, folder, PipelineConfig::default())?;
    let runtime = tokio::runtime::Runtime::new()?;
    let erased = runtime.block_on(pipeline.erase(tenant.id, subject));
    pipeline.shutdown();
    let erased = erased?;
    println!("{}", serde_json::json!({ "erased": erased }));
    Ok(())
}
