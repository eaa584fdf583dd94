//! What a store is asked and what it answers: statements in the store's SQL
//! dialect over one tenant's rows of a [`Scope`], answered as [`Table`]s of
//! [`Cell`]s. The query model (`streamtally-query`, the next step) writes the
//! statements; a store only runs them, so it knows no question's meaning.

use streamtally_model::Micros;

/// The rows a question reads: one tenant's facts with `from <= ts < to`, and
/// whether the catalogue (`contents`, [`CONTENT_COLUMNS`]), the raw events of
/// the same range (`events`) and the user directory (`users`,
/// [`USER_COLUMNS`]) must be there too. With `rollups`, the statements read
/// the facts as that [`RollupDefinition`] keeps them: its rows as `rollups`
/// and the facts no rollup of it holds yet as `unrolled` (a backend that
/// keeps none has every fact in `unrolled`). Backends whose dialect reads
/// no rollups ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub from: Micros,
    pub to: Micros,
    pub catalogue: bool,
    pub events: bool,
    pub directory: bool,
    pub rollups: Option<&'static RollupDefinition>,
}

impl Scope {
    /// The facts of a range, nothing else.
    pub fn facts(from: Micros, to: Micros) -> Scope {
        Scope {
            from,
            to,
            catalogue: false,
            events: false,
            directory: false,
            rollups: None,
        }
    }
}

/// The facts a store keeps pre-aggregated (issue 17): one statement over a
/// table `facts` (alias free), which the store runs over each settled file
/// of facts and keeps beside it for as long as the file lives, so a rewrite
/// of the file (compaction, erasure, retention) drops its rollup with it.
/// The query model writes it (`streamtally_query::rollup_definition`), and
/// statements of a [`Scope`] with these `rollups` read what it made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupDefinition {
    pub sql: String,
}

/// The user directory's columns as statements join it (`users`): what the
/// tenant told of each registered user, as audience dimensions. The age
/// range is the user's at registration in the tenant's ranges and zone; a
/// user outside the tenant's home country has `Other` as region and city.
pub const USER_COLUMNS: [&str; 6] = ["user_id", "gender", "age_range", "home_country", "home_region", "home_city"];

/// SQL text with its string parameters (filter values never enter the text).
#[derive(Debug, Clone, PartialEq)]
pub struct Sql {
    pub text: String,
    pub params: Vec<String>,
    /// Output columns, in order: the answer's [`Table::columns`].
    pub columns: Vec<String>,
}

/// The SQL a backend speaks; the query model writes each statement in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlDialect {
    /// Apache DataFusion, the embedded store's engine.
    DataFusion,
    /// ClickHouse, the scale-out store: tables shared by every tenant.
    ClickHouse,
}

/// Catalogue columns, as the `contents` table a statement joins holds them.
pub const CONTENT_COLUMNS: [&str; 14] = [
    "content_id",
    "title",
    "kind",
    "media",
    "duration",
    "bitrate",
    "category",
    "show",
    "producer",
    "distributor",
    "season",
    "episode",
    "broadcaster",
    "guid",
];

/// One value of an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    Int(i64),
    Float(f64),
    /// An instant (a time bucket's start), shown in the query's time zone.
    Time(Micros),
}

impl Cell {
    /// The number a cell holds, if it holds one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Int(i) => Some(*i as f64),
            Cell::Float(f) => Some(*f),
            _ => None,
        }
    }
}

/// One statement's answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}
