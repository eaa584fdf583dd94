//! The embedded store's answer to [`crate::FactStore::select`]: one tenant's
//! files of the scope's days and its in-memory rows, read as one table
//! `facts` by DataFusion (with the catalogue as `contents` when asked), and
//! each statement run over them.

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use streamtally_model::TenantId;

use super::table::{between, TableState};
use super::EmbeddedStore;
use super::TenantTables;
use crate::arrow_rows::{batches_to_table, events_schema, facts_schema};
use crate::{Scope, Sql, StoreError, Table};

impl EmbeddedStore {
    pub(crate) async fn run_select(&self, tenant: TenantId, scope: Scope, statements: &[Sql]) -> Result<Vec<Table>, StoreError> {
        let ctx = session(&self.runtime);
        // A scope with rollups reads its facts as `rollups` and `unrolled` only.
        match scope.rollups {
            Some(definition) => self.register_rollups(&ctx, tenant, scope, definition).await?,
            None => self.register_rows(&ctx, tenant, scope, "facts", |t| &t.facts, facts_schema()).await?,
        }
        if scope.catalogue {
            ctx.register_batch("contents", contents_batch(&self.meta.contents(tenant)?)?)?;
        }
        if scope.events {
            self.register_rows(&ctx, tenant, scope, "events", |t| &t.events, events_schema()).await?;
        }
        if scope.directory {
            ctx.register_batch("users", users_batch(&self.meta, tenant)?)?;
        }
        let mut tables = Vec::new();
        for sql in statements {
            let params: Vec<ScalarValue> = sql.params.iter().map(|p| ScalarValue::Utf8(Some(p.clone()))).collect();
            let batches = ctx.sql(&sql.text).await?.with_param_values(params)?.collect().await?;
            tables.push(batches_to_table(&sql.columns, &batches)?);
        }
        Ok(tables)
    }
}

/// A query's session: two partitions (the machine's cores), the store's
/// runtime (its cache of Parquet footers) and its functions.
pub(super) fn session(runtime: &Arc<datafusion::execution::runtime_env::RuntimeEnv>) -> SessionContext {
    let config = SessionConfig::new()
        .set_bool("datafusion.execution.parquet.schema_force_view_types", false)
        .with_target_partitions(2);
    let ctx = SessionContext::new_with_config_rt(config, runtime.clone());
    ctx.register_udf(super::free_dimension::free_dimension());
    ctx
}

/// A table's rows in memory with `scope.from <= ts < scope.to`, in the read `schema`.
pub(super) fn memory_between(table: &TableState, scope: Scope, schema: &SchemaRef) -> Result<Vec<RecordBatch>, StoreError> {
    table
        .memory()
        .map(|b| between(b, scope.from, scope.to).and_then(|b| as_read(&b, schema)))
        .collect()
}

/// Registers `files` and the batches `mem` (both of the read `schema`) as one table `name`.
pub(super) async fn register_files(ctx: &SessionContext, name: &str, files: Vec<String>, mem: Vec<RecordBatch>, schema: &SchemaRef) -> Result<(), StoreError> {
    let mut rows = if mem.is_empty() {
        ctx.read_batch(RecordBatch::new_empty(schema.clone()))?
    } else {
        ctx.read_batches(mem)?
    };
    if !files.is_empty() {
        let disk = ctx.read_parquet(files, ParquetReadOptions::default().schema(schema)).await?;
        rows = disk.union(rows)?;
    }
    ctx.register_table(name, rows.into_view())?;
    Ok(())
}

impl EmbeddedStore {
    /// Registers one table of the tenant as `name`: its files of the scope's
    /// days and its in-memory rows of the scope's range.
    async fn register_rows(
        &self,
        ctx: &SessionContext,
        tenant: TenantId,
        scope: Scope,
        name: &str,
        table: fn(&TenantTables) -> &TableState,
        schema: SchemaRef,
    ) -> Result<(), StoreError> {
        let schema = read_schema(&schema);
        let (files, mem) = self.with_tenant(tenant, |t| {
            let rows = table(t);
            Ok((rows.files_between(scope.from, scope.to), memory_between(rows, scope, &schema)?))
        })?;
        register_files(ctx, name, files, mem, &schema).await
    }
}

/// Text columns as views: Parquet's dictionary pages decode into views of
/// the dictionary, not a copy of every value (copying and comparing texts
/// was a fifth of an overview's time), and short texts compare inline. The
/// free dimensions' JSON stays plain text, as `free_dimension` reads it.
pub(super) fn read_schema(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 if f.name() != "dimensions" => f.as_ref().clone().with_data_type(DataType::Utf8View),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// An in-memory batch in the read schema's types.
fn as_read(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, StoreError> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| match c.data_type() == f.data_type() {
            true => Ok(c.clone()),
            false => datafusion::arrow::compute::cast(c, f.data_type()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// The tenant's user directory as audience dimensions ([`crate::USER_COLUMNS`]).
pub(crate) fn users_batch(meta: &crate::Meta, tenant: TenantId) -> Result<RecordBatch, StoreError> {
    let settings = meta.settings(tenant)?;
    let tz: chrono_tz::Tz = settings.timezone.parse().unwrap_or(chrono_tz::Tz::UTC);
    let ranges = settings.age_ranges();
    let users = meta.registered_users(tenant)?;
    let mut columns: [Vec<Option<String>>; 6] = Default::default();
    for u in &users {
        let place = u.home_place(&settings.home_country);
        let row = [
            Some(u.user_id.clone()),
            Some(u.gender.as_str().to_string()),
            Some(ranges.of(u, tz)),
            Some(place.country),
            place.region,
            place.city,
        ];
        for (column, value) in columns.iter_mut().zip(row) {
            column.push(value);
        }
    }
    let schema = Arc::new(Schema::new(
        crate::USER_COLUMNS
            .iter()
            .map(|c| Field::new(*c, DataType::Utf8, *c != "user_id"))
            .collect::<Vec<_>>(),
    ));
    let arrays = columns
        .into_iter()
        .map(|c| Arc::new(StringArray::from(c)) as datafusion::arrow::array::ArrayRef)
        .collect();
    Ok(RecordBatch::try_new(schema, arrays)?)
}

pub(crate) fn contents_batch(contents: &[crate::Content]) -> Result<RecordBatch, StoreError> {
    use datafusion::arrow::array::{ArrayRef, Float64Array};
    let s = |f: &dyn Fn(&crate::Content) -> Option<&str>| -> ArrayRef { Arc::new(contents.iter().map(f).collect::<StringArray>()) };
    let n = |f: &dyn Fn(&crate::Content) -> Option<f64>| -> ArrayRef { Arc::new(contents.iter().map(f).collect::<Float64Array>()) };
    let schema = Arc::new(Schema::new(
        crate::CONTENT_COLUMNS
            .iter()
            .map(|c| {
                Field::new(
                    *c,
                    if matches!(*c, "duration" | "bitrate") {
                        DataType::Float64
                    } else {
                        DataType::Utf8
                    },
                    *c != "content_id",
                )
            })
            .collect::<Vec<_>>(),
    ));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            s(&|c| Some(c.content_id.as_str())),
            s(&|c| c.title.as_deref()),
            s(&|c| c.kind.as_deref()),
            s(&|c| c.media.as_deref()),
            n(&|c| c.duration),
            n(&|c| c.bitrate),
            s(&|c| c.category.as_deref()),
            s(&|c| c.show.as_deref()),
            s(&|c| c.producer.as_deref()),
            s(&|c| c.distributor.as_deref()),
            s(&|c| c.season.as_deref()),
            s(&|c| c.episode.as_deref()),
            s(&|c| c.broadcaster.as_deref()),
            s(&|c| c.guid.as_deref()),
        ],
    )?)
}
