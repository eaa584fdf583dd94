//! The tables, and the migrations of folders written by older releases.

use rusqlite::Connection;

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tenants (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL, device_secret BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (
  key_id TEXT PRIMARY KEY, tenant_id INTEGER REFERENCES tenants(id), role TEXT NOT NULL,
  secret_hash TEXT NOT NULL, created_at INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0, property TEXT);
CREATE TABLE IF NOT EXISTS settings (
  tenant_id INTEGER NOT NULL REFERENCES tenants(id), key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (tenant_id, key));
-- The one place raw IP addresses are kept (spec §8): blocked clients, pruned after abuse_retention.
-- One row per address, reason and tenant (0: no tenant known), so each tenant sees its own blocks.
CREATE TABLE IF NOT EXISTS blocked_clients (
  ip TEXT NOT NULL, reason TEXT NOT NULL, tenant_id INTEGER NOT NULL, first_at INTEGER NOT NULL, last_at INTEGER NOT NULL,
  hits INTEGER NOT NULL, PRIMARY KEY (ip, reason, tenant_id));
CREATE TABLE IF NOT EXISTS contents (
  tenant_id INTEGER NOT NULL REFERENCES tenants(id), content_id TEXT NOT NULL, title TEXT, kind TEXT, media TEXT,
  duration REAL, bitrate REAL, category TEXT, show TEXT, producer TEXT, distributor TEXT,
  season TEXT, episode TEXT, broadcaster TEXT, guid TEXT,
  PRIMARY KEY (tenant_id, content_id));
-- Access lists (spec §6). Revoked codes stay, so their tokens and SecureIDs stay refused.
CREATE TABLE IF NOT EXISTS access_codes (
  tenant_id INTEGER NOT NULL REFERENCES tenants(id), code TEXT NOT NULL, note TEXT, expires_at INTEGER,
  revoked_at INTEGER, created_at INTEGER NOT NULL, PRIMARY KEY (tenant_id, code));
CREATE TABLE IF NOT EXISTS access_secrets (
  tenant_id INTEGER PRIMARY KEY REFERENCES tenants(id), secret TEXT NOT NULL, created_at INTEGER NOT NULL);
-- Log imports: how far each file (known by a hash of its first bytes) was imported.
CREATE TABLE IF NOT EXISTS imports (
  tenant_id INTEGER NOT NULL REFERENCES tenants(id), file_key TEXT NOT NULL, imported_bytes INTEGER NOT NULL,
  updated_at INTEGER NOT NULL, PRIMARY KEY (tenant_id, file_key));
-- Staff accounts for the dashboard: an argon2id hash of the password, never the password.
CREATE TABLE IF NOT EXISTS staff_accounts (
  account_id TEXT PRIMARY KEY, tenant_id INTEGER NOT NULL REFERENCES tenants(id), email TEXT NOT NULL UNIQUE COLLATE NOCASE,
  role TEXT NOT NULL, password_hash TEXT NOT NULL, created_at INTEGER NOT NULL, last_sign_in INTEGER);
-- The user directory (issue 14): the tenant's registered users; only here, never in facts or events.
CREATE TABLE IF NOT EXISTS user_directory (
  tenant_id INTEGER NOT NULL REFERENCES tenants(id), user_id TEXT NOT NULL, name TEXT, gender TEXT NOT NULL,
  birth_date TEXT, birth_year INTEGER, age_range TEXT, country TEXT, region TEXT, city TEXT, registered_at INTEGER,
  attributes TEXT, PRIMARY KEY (tenant_id, user_id));
CREATE INDEX IF NOT EXISTS user_directory_registered ON user_directory (tenant_id, registered_at);
-- Who looked at which registered user, and when.
CREATE TABLE IF NOT EXISTS user_lookups (
  tenant_id INTEGER NOT NULL REFERENCES tenants(id), at INTEGER NOT NULL, by_whom TEXT NOT NULL, user_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS user_lookups_at ON user_lookups (tenant_id, at);
-- Failed access checks per content and UTC day; no code, no address.
CREATE TABLE IF NOT EXISTS access_failures (
  tenant_id INTEGER NOT NULL REFERENCES tenants(id), content_id TEXT NOT NULL, day TEXT NOT NULL, failed INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, content_id, day));
-- Erasure requests, applied by each node of a cluster (spec §8; erasures.rs).
CREATE TABLE IF NOT EXISTS erasure_requests (
  id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL REFERENCES tenants(id), kind TEXT NOT NULL, value TEXT NOT NULL,
  requested_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS erasures_applied (
  request_id INTEGER NOT NULL REFERENCES erasure_requests(id), node TEXT NOT NULL, applied_at INTEGER NOT NULL,
  PRIMARY KEY (request_id, node));
";

/// The metadata schema this release writes (`PRAGMA user_version`); see
/// `format.rs` for the folder's format and what opening an older one does.
pub const SCHEMA_VERSION: u32 = 1;

/// Folders of earlier releases kept blocks per address and reason only.
pub(crate) fn migrate_abuse_blocks(conn: &Connection) -> rusqlite::Result<()> {
    let old: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'abuse_blocks'",
        [],
        |r| r.get(0),
    )?;
    if old {
        conn.execute_batch(
            "INSERT OR IGNORE INTO blocked_clients SELECT ip, reason, COALESCE(tenant_id, 0), first_at, last_at, hits FROM abuse_blocks;
             DROP TABLE abuse_blocks;",
        )?;
    }
    Ok(())
}

/// Columns that folders of earlier releases lack: the catalogue fields of
/// source 004's glossary (season, episode, broadcaster, episode GUID) and
/// the property of an ingest key (spec §1).
pub(crate) fn migrate_added_columns(conn: &Connection) -> rusqlite::Result<()> {
    let added = [
        ("contents", "season"),
        ("contents", "episode"),
        ("contents", "broadcaster"),
        ("contents", "guid"),
        ("api_keys", "property"),
    ];
    for (table, column) in added {
        let present: bool = conn.query_row("SELECT COUNT(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2", [table, column], |r| r.get(0))?;
        if !present {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} TEXT"))?;
        }
    }
    Ok(())
}
