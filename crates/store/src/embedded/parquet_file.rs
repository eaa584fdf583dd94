//! Parquet files of a table: written durably in one schema (rows that
//! name users sorted by user, with bloom filters), and read back in the
//! table's current columns.

use datafusion::arrow::array::{new_null_array, RecordBatchReader};
use datafusion::arrow::compute::{concat_batches, lexsort_to_indices, take_record_batch, SortColumn, SortOptions};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;

use super::*;

/// Writes batches (of one schema) as one file, in order, and makes it durable.
/// Takes the batches: sorting them by user drops each copy once the next is
/// made, so a merge holds its rows about twice, not three times.
pub(super) fn write_parquet(path: &Path, batches: Vec<RecordBatch>) -> Result<(), StoreError> {
    let Some(schema) = batches.first().map(RecordBatch::schema) else {
        return Ok(());
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let file = File::create(path).map_err(io_err(path))?;
    // Device keys and times are mostly distinct: a dictionary of them costs
    // the checkpoint thread its building and makes files no smaller (they
    // came out 15 % smaller without, on the log bench). Texts, values and WAL
    // positions repeat and keep theirs.
    let mut props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default()));
    for column in ["device_key", "ts", "received_at"] {
        props = props.set_column_dictionary_enabled(column.into(), false);
    }
    let by_user = has_users(&batches);
    if by_user {
        // One user's activity (issue 14) reads a user's rows of many days:
        // sorted by user, each row group and page holds a narrow range of
        // users, which the reader skips by their statistics, and a bloom
        // filter answers "not here" for the groups whose range holds the user
        // by chance. Rows without a user stay in time order after them (log
        // imports have none and are written as they came). Playbacks have a
        // bloom filter too: a user's playbacks named late are read by id.
        props = props.set_max_row_group_row_count(Some(EVENTS_ROW_GROUP));
        for column in [USER_COLUMN, PLAYBACK_COLUMN] {
            props = props
                .set_column_bloom_filter_enabled(column.into(), true)
                .set_column_bloom_filter_max_ndv(column.into(), EVENTS_ROW_GROUP as u64);
        }
    }
    let props = props.build();
    let mut writer = ArrowWriter::try_new(file, schema, Some(props))?;
    if by_user {
        writer.write(&sorted_by_user(batches)?)?;
    } else {
        for batch in &batches {
            writer.write(batch)?;
        }
    }
    let file = writer.into_inner()?;
    file.sync_all().map_err(io_err(path))?;
    Ok(())
}

/// Rows in a row group of a file with users: small enough that one user's
/// rows are read without much of anyone else's.
const EVENTS_ROW_GROUP: usize = 64 * 1024;
const USER_COLUMN: &str = "user_id";
const PLAYBACK_COLUMN: &str = "playback_id";

/// Whether any row names a user (both tables have the column).
fn has_users(batches: &[RecordBatch]) -> bool {
    batches.iter().any(|b| b.column_by_name(USER_COLUMN).is_some_and(|c| c.null_count() < c.len()))
}

/// The rows of `batches` as one batch, by user (anonymous rows last), then
/// time, then WAL position.
fn sorted_by_user(batches: Vec<RecordBatch>) -> Result<RecordBatch, StoreError> {
    let all = concat_batches(&batches[0].schema(), &batches)?;
    drop(batches);
    let column = |name: &str| {
        all.column_by_name(name)
            .cloned()
            .ok_or_else(|| ArrowError::SchemaError(format!("no column `{name}`")))
    };
    let keys = [
        SortColumn {
            values: column(USER_COLUMN)?,
            options: Some(SortOptions {
                descending: false,
                nulls_first: false,
            }),
        },
        SortColumn {
            values: column("ts")?,
            options: None,
        },
        SortColumn {
            values: column("lsn")?,
            options: None,
        },
    ];
    let order = lexsort_to_indices(&keys, None)?;
    Ok(take_record_batch(&all, &order)?)
}

/// A file's rows in the current columns of its table: a file written before
/// a column was added (facts' `dimensions`) gets it as nulls, so rewriting it
/// with newer rows (compaction, erasure, retention) writes one schema. The
/// table is known by its columns: only facts have `kind`.
pub(super) fn read_parquet(path: &Path) -> Result<Vec<RecordBatch>, StoreError> {
    let file = File::open(path).map_err(io_err(path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
    let current = match reader.schema().column_with_name("kind") {
        Some(_) => crate::arrow_rows::facts_schema(),
        None => crate::arrow_rows::events_schema(),
    };
    reader.map(|b| conform(b?, &current)).collect()
}

fn conform(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, StoreError> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch);
    }
    let columns = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) => c.clone(),
            None => new_null_array(f.data_type(), batch.num_rows()),
        })
        .collect();
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}
