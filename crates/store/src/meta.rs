//! Metadata in SQLite: tenants (with their device-hashing secret), API keys
//! (argon2-hashed), per-tenant settings and the content catalogue.
//! Safe to use from the CLI while a server runs on the same folder.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use streamtally_access::AccessEntry;
use streamtally_model::{ContentKind, Media, Settings, SettingsError, TenantId};

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("metadata database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("tenant `{0}` does not exist")]
    NoTenant(String),
    #[error("tenant `{0}` exists already")]
    TenantExists(String),
    #[error("tenant name `{0}` is not valid: use 1-63 of a-z, 0-9, - and _, starting with a letter or digit")]
    BadTenantName(String),
    #[error("unknown role `{0}` (ingest, read or admin)")]
    BadRole(String),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("content `{content_id}`: {reason}")]
    BadContent { content_id: String, reason: String },
    #[error("key hashing failed: {0}")]
    Hash(String),
    #[error("metadata file: {0}")]
    Io(String),
    #[error("the metadata schema is version {0}, written by a newer streamtally; run the newer release, or restore a backup made for this one")]
    NewerSchema(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Ingest,
    Read,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Read => "read",
            Role::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Result<Role, MetaError> {
        match s {
            "ingest" => Ok(Role::Ingest),
            "read" => Ok(Role::Read),
            "admin" => Ok(Role::Admin),
            _ => Err(MetaError::BadRole(s.to_string())),
        }
    }
    /// Admin may do everything, read may read, ingest may only send.
    pub fn allows(self, needed: Role) -> bool {
        match needed {
            Role::Ingest => self == Role::Ingest || self == Role::Admin,
            Role::Read => self == Role::Read || self == Role::Admin,
            Role::Admin => self == Role::Admin,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub created_at: i64,
}

/// Who a valid key speaks for. `tenant: None` is the server administrator.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub tenant: Option<TenantId>,
    pub role: Role,
    pub key_id: String,
}

/// A freshly created key: the only moment its secret is known.
#[derive(Debug, Clone, Serialize)]
pub struct ApiKey {
    pub key_id: String,
    pub tenant: Option<String>,
    pub role: Role,
    pub key: String,
}

/// A catalogue entry (spec §1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Content {
    pub content_id: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub media: Option<String>,
    #[serde(default)]
    pub duration: Option<f64>,
    #[serde(default)]
    pub bitrate: Option<f64>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub show: Option<String>,
    #[serde(default)]
    pub producer: Option<String>,
    #[serde(default)]
    pub distributor: Option<String>,
}

impl Content {
    pub fn validate(&self) -> Result<(), MetaError> {
        let bad = |reason: &str| MetaError::BadContent {
            content_id: self.content_id.clone(),
            reason: reason.to_string(),
        };
        if self.content_id.trim().is_empty() {
            return Err(bad("content_id is required"));
        }
        if let Some(k) = &self.kind {
            ContentKind::parse(k).ok_or_else(|| bad("kind must be live, vod or dar"))?;
        }
        if let Some(m) = &self.media {
            Media::parse(m).ok_or_else(|| bad("media must be video or audio"))?;
        }
        for (name, v) in [("duration", self.duration), ("bitrate", self.bitrate)] {
            if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
                return Err(bad(&format!("{name} must be a number of at least 0")));
            }
        }
        Ok(())
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tenants (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL, device_secret BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (
  key_id TEXT PRIMARY KEY, tenant_id INTEGER REFERENCES tenants(id), role TEXT NOT NULL,
  secret_hash TEXT NOT NULL, created_at INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
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
-- Failed access checks per content and UTC day; no code, no address.
CREATE TABLE IF NOT EXISTS access_failures (
  tenant_id INTEGER NOT NULL REFERENCES tenants(id), content_id TEXT NOT NULL, day TEXT NOT NULL, failed INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, content_id, day));
";

/// Verified keys are remembered this long, so a beacon costs no argon2 run.
const KEY_CACHE_TTL: Duration = Duration::from_secs(60);

/// Generated keys carry 128 random bits: a keyed hash is as safe as argon2
/// for them and costs a microsecond, not 25 ms, so guessing costs no CPU.
const FAST_HASH_PREFIX: &str = "blake3k$";

fn fast_key_hash(key_id: &str, secret: &str) -> String {
    let key = blake3::derive_key("streamtally 2026 API key secret", key_id.as_bytes());
    format!("{FAST_HASH_PREFIX}{}", blake3::keyed_hash(&key, secret.as_bytes()).to_hex())
}

pub struct Meta {
    conn: Mutex<Connection>,
    key_cache: Mutex<HashMap<[u8; 32], (Principal, Instant)>>,
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// The metadata schema this release writes (`PRAGMA user_version`); see
/// `format.rs` for the folder's format and what opening an older one does.
pub const SCHEMA_VERSION: u32 = 1;

/// Folders of earlier releases kept blocks per address and reason only.
fn migrate_abuse_blocks(conn: &Connection) -> rusqlite::Result<()> {
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

fn tenant_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Tenant> {
    Ok(Tenant {
        id: r.get(0)?,
        name: r.get(1)?,
        created_at: r.get(2)?,
    })
}

fn valid_tenant_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

/// Makes `path` readable by its owner only (`mode` 0700 or 0600), when it is
/// not already: the data folder holds every tenant's secrets. Folders made by
/// older releases (0755, files 0644) are tightened when opened.
pub fn keep_private(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path)?;
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

impl Meta {
    pub fn open(path: &Path) -> Result<Meta, MetaError> {
        if let Some(folder) = path.parent().filter(|p| p.is_dir()) {
            keep_private(folder, 0o700).map_err(|e| MetaError::Io(format!("{}: {e}", folder.display())))?;
        }
        let conn = Connection::open(path)?;
        for file in [path.to_path_buf(), path.with_extension("sqlite-wal"), path.with_extension("sqlite-shm")] {
            if file.exists() {
                keep_private(&file, 0o600).map_err(|e| MetaError::Io(format!("{}: {e}", file.display())))?;
            }
        }
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let version: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(MetaError::NewerSchema(version));
        }
        conn.execute_batch(SCHEMA)?;
        // Version 0 (releases before versions): blocks per address and reason.
        migrate_abuse_blocks(&conn)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok(Meta {
            conn: Mutex::new(conn),
            key_cache: Mutex::new(HashMap::new()),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn create_tenant(&self, name: &str) -> Result<Tenant, MetaError> {
        if !valid_tenant_name(name) {
            return Err(MetaError::BadTenantName(name.to_string()));
        }
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let created_at = now_secs();
        let conn = self.conn();
        match conn.execute(
            "INSERT INTO tenants (name, created_at, device_secret) VALUES (?1, ?2, ?3)",
            params![name, created_at, &secret[..]],
        ) {
            Ok(_) => Ok(Tenant {
                id: conn.last_insert_rowid(),
                name: name.to_string(),
                created_at,
            }),
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => Err(MetaError::TenantExists(name.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    pub fn tenants(&self) -> Result<Vec<Tenant>, MetaError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT id, name, created_at FROM tenants ORDER BY id")?;
        let rows = stmt.query_map([], tenant_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn tenant_by_name(&self, name: &str) -> Result<Tenant, MetaError> {
        self.conn()
            .query_row("SELECT id, name, created_at FROM tenants WHERE name = ?1", [name], tenant_row)
            .optional()?
            .ok_or_else(|| MetaError::NoTenant(name.to_string()))
    }

    pub fn tenant_by_id(&self, id: TenantId) -> Result<Tenant, MetaError> {
        self.conn()
            .query_row("SELECT id, name, created_at FROM tenants WHERE id = ?1", [id], tenant_row)
            .optional()?
            .ok_or_else(|| MetaError::NoTenant(id.to_string()))
    }

    /// The tenant's device-hashing secret (never leaves the server).
    pub fn device_secret(&self, tenant: TenantId) -> Result<[u8; 32], MetaError> {
        let blob: Vec<u8> = self
            .conn()
            .query_row("SELECT device_secret FROM tenants WHERE id = ?1", [tenant], |r| r.get(0))
            .optional()?
            .ok_or_else(|| MetaError::NoTenant(tenant.to_string()))?;
        let mut out = [0u8; 32];
        out.copy_from_slice(&blob[..32.min(blob.len())]);
        Ok(out)
    }

    /// Creates a key; `tenant: None` with `Role::Admin` makes a server administrator.
    pub fn create_key(&self, tenant: Option<TenantId>, role: Role) -> Result<ApiKey, MetaError> {
        let key_id = random_hex(6);
        let secret = random_hex(16);
        let key = format!("st_{}_{}_{}", role.as_str(), key_id, secret);
        self.insert_key(tenant, role, &key_id, &secret)?;
        let tenant_name = tenant.map(|t| self.tenant_by_id(t).map(|t| t.name)).transpose()?;
        Ok(ApiKey {
            key_id,
            tenant: tenant_name,
            role,
            key,
        })
    }

    /// Registers a server-administrator key chosen by the operator
    /// (`STREAMTALLY_ADMIN_KEY`); idempotent.
    pub fn ensure_admin_key(&self, key: &str) -> Result<(), MetaError> {
        if self.verify_key(key)?.is_some_and(|p| p.tenant.is_none() && p.role == Role::Admin) {
            return Ok(());
        }
        let key_id = format!("env-{}", &hex::encode(Sha256::digest(key.as_bytes()))[..12]);
        self.conn().execute("DELETE FROM api_keys WHERE key_id = ?1", [&key_id])?;
        self.insert_key(None, Role::Admin, &key_id, key)
    }

    fn insert_key(&self, tenant: Option<TenantId>, role: Role, key_id: &str, secret: &str) -> Result<(), MetaError> {
        let hash = if key_id.starts_with("env-") {
            // An operator's key is chosen by a person and may be short: argon2.
            // It is found only by its exact digest, so a wrong one never runs it.
            let salt = SaltString::encode_b64(random_hex(16).as_bytes()).map_err(|e| MetaError::Hash(e.to_string()))?;
            Argon2::default()
                .hash_password(secret.as_bytes(), &salt)
                .map_err(|e| MetaError::Hash(e.to_string()))?
                .to_string()
        } else {
            fast_key_hash(key_id, secret)
        };
        self.conn().execute(
            "INSERT INTO api_keys (key_id, tenant_id, role, secret_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![key_id, tenant, role.as_str(), hash, now_secs()],
        )?;
        Ok(())
    }

    pub fn has_admin_key(&self) -> Result<bool, MetaError> {
        let n: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM api_keys WHERE tenant_id IS NULL AND role = 'admin' AND revoked = 0",
            [],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }

    /// Revokes a key of `tenant` (`None`: a server administrator's key);
    /// false when it has no such key. It stops at once in this process.
    pub fn revoke_key(&self, tenant: Option<TenantId>, key_id: &str) -> Result<bool, MetaError> {
        let n = self.conn().execute(
            "UPDATE api_keys SET revoked = 1 WHERE key_id = ?1 AND tenant_id IS ?2 AND revoked = 0",
            params![key_id, tenant],
        )?;
        self.key_cache.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, (p, _)| p.key_id != key_id);
        Ok(n > 0)
    }

    /// A tenant's keys (never their secrets), oldest first.
    pub fn keys(&self, tenant: Option<TenantId>) -> Result<Vec<KeyInfo>, MetaError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT key_id, role, created_at, revoked FROM api_keys WHERE tenant_id IS ?1 ORDER BY created_at, key_id")?;
        let rows = stmt.query_map([tenant], |r| {
            Ok(KeyInfo {
                key_id: r.get(0)?,
                role: r.get(1)?,
                created_at: r.get(2)?,
                revoked: r.get::<_, i64>(3)? != 0,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The principal of a key verified within [`KEY_CACHE_TTL`], without any check.
    pub fn recently_verified(&self, presented: &str) -> Option<Principal> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        match self.key_cache.lock().unwrap_or_else(|p| p.into_inner()).get(&digest) {
            Some((p, at)) if at.elapsed() < KEY_CACHE_TTL => Some(p.clone()),
            _ => None,
        }
    }

    /// Checks a presented key; `None` when it is unknown, revoked or wrong.
    pub fn verify_key(&self, presented: &str) -> Result<Option<Principal>, MetaError> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        if let Some(p) = self.recently_verified(presented) {
            return Ok(Some(p));
        }
        // Generated keys are st_<role>_<id>_<secret>; operator keys are looked up by their digest id.
        let (key_id, secret) = match presented.strip_prefix("st_").and_then(|rest| {
            let mut parts = rest.splitn(3, '_');
            let (_role, id, secret) = (parts.next()?, parts.next()?, parts.next()?);
            Some((id.to_string(), secret.to_string()))
        }) {
            Some(pair) => pair,
            None => (format!("env-{}", &hex::encode(digest)[..12]), presented.to_string()),
        };
        let row: Option<(Option<TenantId>, String, String)> = self
            .conn()
            .query_row(
                "SELECT tenant_id, role, secret_hash FROM api_keys WHERE key_id = ?1 AND revoked = 0",
                [&key_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((tenant, role, hash)) = row else { return Ok(None) };
        match hash.strip_prefix(FAST_HASH_PREFIX) {
            Some(stored) => {
                let Ok(stored) = blake3::Hash::from_hex(stored) else { return Ok(None) };
                // blake3::Hash compares in constant time.
                if blake3::Hash::from_hex(&fast_key_hash(&key_id, &secret)[FAST_HASH_PREFIX.len()..]).ok() != Some(stored) {
                    return Ok(None);
                }
            }
            None => {
                let parsed = PasswordHash::new(&hash).map_err(|e| MetaError::Hash(e.to_string()))?;
                if Argon2::default().verify_password(secret.as_bytes(), &parsed).is_err() {
                    return Ok(None);
                }
                if !key_id.starts_with("env-") {
                    // A generated key of an older release: its next check is fast.
                    self.conn().execute(
                        "UPDATE api_keys SET secret_hash = ?1 WHERE key_id = ?2",
                        params![fast_key_hash(&key_id, &secret), key_id],
                    )?;
                }
            }
        }
        let principal = Principal {
            tenant,
            role: Role::parse(&role)?,
            key_id,
        };
        self.key_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest, (principal.clone(), Instant::now()));
        Ok(Some(principal))
    }

    pub fn settings(&self, tenant: TenantId) -> Result<Settings, MetaError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT key, value FROM settings WHERE tenant_id = ?1")?;
        let pairs: Vec<(String, String)> = stmt.query_map([tenant], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        Ok(Settings::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?)
    }

    /// Validates all pairs first, then stores them together.
    pub fn update_settings(&self, tenant: TenantId, pairs: &[(String, String)]) -> Result<Settings, MetaError> {
        let mut s = self.settings(tenant)?;
        for (k, v) in pairs {
            s.set(k, v)?;
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for (k, _) in pairs {
            let v = s.get(k)?;
            tx.execute(
                "INSERT INTO settings (tenant_id, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (tenant_id, key) DO UPDATE SET value = excluded.value",
                params![tenant, k, v],
            )?;
        }
        tx.commit()?;
        Ok(s)
    }

    /// Inserts or replaces catalogue entries; all are validated before any is written.
    pub fn upsert_contents(&self, tenant: TenantId, contents: &[Content]) -> Result<usize, MetaError> {
        for c in contents {
            c.validate()?;
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for c in contents {
            tx.execute(
                "INSERT INTO contents (tenant_id, content_id, title, kind, media, duration, bitrate, category, show, producer, distributor)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (tenant_id, content_id) DO UPDATE SET title = excluded.title, kind = excluded.kind, media = excluded.media,
                   duration = excluded.duration, bitrate = excluded.bitrate, category = excluded.category, show = excluded.show,
                   producer = excluded.producer, distributor = excluded.distributor",
                params![
                    tenant,
                    c.content_id,
                    c.title,
                    c.kind,
                    c.media,
                    c.duration,
                    c.bitrate,
                    c.category,
                    c.show,
                    c.producer,
                    c.distributor
                ],
            )?;
        }
        tx.commit()?;
        Ok(contents.len())
    }

    pub fn contents(&self, tenant: TenantId) -> Result<Vec<Content>, MetaError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT content_id, title, kind, media, duration, bitrate, category, show, producer, distributor FROM contents WHERE tenant_id = ?1 ORDER BY content_id",
        )?;
        let rows = stmt.query_map([tenant], |r| {
            Ok(Content {
                content_id: r.get(0)?,
                title: r.get(1)?,
                kind: r.get(2)?,
                media: r.get(3)?,
                duration: r.get(4)?,
                bitrate: r.get(5)?,
                category: r.get(6)?,
                show: r.get(7)?,
                producer: r.get(8)?,
                distributor: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// One blocked client, as admins see it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AbuseBlock {
    pub ip: String,
    pub reason: String,
    pub tenant_id: Option<TenantId>,
    pub first_at: i64,
    pub last_at: i64,
    pub hits: i64,
}

impl Meta {
    /// Records (or counts again) a blocked client.
    pub fn record_abuse(&self, ip: &str, reason: &str, tenant: Option<TenantId>, hits: i64) -> Result<(), MetaError> {
        let now = now_secs();
        self.conn().execute(
            "INSERT INTO blocked_clients (ip, reason, tenant_id, first_at, last_at, hits) VALUES (?1, ?2, COALESCE(?3, 0), ?4, ?4, ?5)
             ON CONFLICT (ip, reason, tenant_id) DO UPDATE SET last_at = excluded.last_at, hits = hits + excluded.hits",
            params![ip, reason, tenant, now, hits],
        )?;
        Ok(())
    }

    /// Blocked clients, newest first; `tenant: Some` limits to those that used its keys.
    pub fn abuse_blocks(&self, tenant: Option<TenantId>) -> Result<Vec<AbuseBlock>, MetaError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT ip, reason, NULLIF(tenant_id, 0), first_at, last_at, hits FROM blocked_clients WHERE ?1 IS NULL OR tenant_id = ?1 ORDER BY last_at DESC",
        )?;
        let rows = stmt.query_map([tenant], |r| {
            Ok(AbuseBlock {
                ip: r.get(0)?,
                reason: r.get(1)?,
                tenant_id: r.get(2)?,
                first_at: r.get(3)?,
                last_at: r.get(4)?,
                hits: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Forgets blocks last seen before `before` (seconds since the epoch); for
    /// one tenant's rows, or with `None` for rows of no tenant.
    pub fn prune_abuse(&self, tenant: Option<TenantId>, before: i64) -> Result<usize, MetaError> {
        Ok(self.conn().execute(
            "DELETE FROM blocked_clients WHERE tenant_id = COALESCE(?1, 0) AND last_at < ?2",
            params![tenant, before],
        )?)
    }
}

/// What may be shown of a key: everything but its secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyInfo {
    pub key_id: String,
    pub role: String,
    pub created_at: i64,
    pub revoked: bool,
}

/// Failed access checks of one content on one UTC day.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AccessFailures {
    pub content_id: String,
    pub day: String,
    pub failed: i64,
}

impl Meta {
    /// Adds codes or updates their note and expiry; a re-added code is no longer revoked.
    pub fn upsert_access_codes(&self, tenant: TenantId, entries: &[AccessEntry]) -> Result<usize, MetaError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare(
                "INSERT INTO access_codes (tenant_id, code, note, expires_at, revoked_at, created_at) VALUES (?1, ?2, ?3, ?4, NULL, ?5)
                 ON CONFLICT (tenant_id, code) DO UPDATE SET note = excluded.note, expires_at = excluded.expires_at, revoked_at = NULL",
            )?;
            for e in entries {
                stmt.execute(params![tenant, e.code, e.note, e.expires_at, now_secs()])?;
            }
        }
        tx.commit()?;
        Ok(entries.len())
    }

    /// Revokes codes from `at` (microseconds) on; codes not listed yet are listed
    /// as revoked (that is how a SecureID id is blocked). Returns how many.
    pub fn revoke_access_codes(&self, tenant: TenantId, codes: &[String], at: i64) -> Result<usize, MetaError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare(
                "INSERT INTO access_codes (tenant_id, code, revoked_at, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant_id, code) DO UPDATE SET revoked_at = COALESCE(revoked_at, excluded.revoked_at)",
            )?;
            for c in codes {
                stmt.execute(params![tenant, c, at, now_secs()])?;
            }
        }
        tx.commit()?;
        Ok(codes.len())
    }

    pub fn access_codes(&self, tenant: TenantId) -> Result<Vec<AccessEntry>, MetaError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT code, note, expires_at, revoked_at FROM access_codes WHERE tenant_id = ?1 ORDER BY code")?;
        let rows = stmt.query_map([tenant], |r| {
            Ok(AccessEntry {
                code: r.get(0)?,
                note: r.get(1)?,
                expires_at: r.get(2)?,
                revoked_at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The tenant's SecureID secret, if one was made.
    pub fn access_secret(&self, tenant: TenantId) -> Result<Option<String>, MetaError> {
        Ok(self
            .conn()
            .query_row("SELECT secret FROM access_secrets WHERE tenant_id = ?1", [tenant], |r| r.get(0))
            .optional()?)
    }

    /// Makes a new SecureID secret (replacing the old one: its SecureIDs stop working).
    pub fn rotate_access_secret(&self, tenant: TenantId) -> Result<String, MetaError> {
        let secret = format!("sid_{}", random_hex(24));
        self.conn().execute(
            "INSERT INTO access_secrets (tenant_id, secret, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (tenant_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at",
            params![tenant, secret, now_secs()],
        )?;
        Ok(secret)
    }

    /// Bytes of a log file already imported (0 for a new file).
    pub fn imported_bytes(&self, tenant: TenantId, file_key: &str) -> Result<u64, MetaError> {
        let n: Option<i64> = self
            .conn()
            .query_row(
                "SELECT imported_bytes FROM imports WHERE tenant_id = ?1 AND file_key = ?2",
                params![tenant, file_key],
                |r| r.get(0),
            )
            .optional()?;
        Ok(n.unwrap_or(0).max(0) as u64)
    }

    pub fn set_imported_bytes(&self, tenant: TenantId, file_key: &str, bytes: u64) -> Result<(), MetaError> {
        self.conn().execute(
            "INSERT INTO imports (tenant_id, file_key, imported_bytes, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (tenant_id, file_key) DO UPDATE SET imported_bytes = excluded.imported_bytes, updated_at = excluded.updated_at",
            params![tenant, file_key, bytes as i64, now_secs()],
        )?;
        Ok(())
    }

    pub fn count_access_failure(&self, tenant: TenantId, content_id: &str, day: &str) -> Result<(), MetaError> {
        self.conn().execute(
            "INSERT INTO access_failures (tenant_id, content_id, day, failed) VALUES (?1, ?2, ?3, 1)
             ON CONFLICT (tenant_id, content_id, day) DO UPDATE SET failed = failed + 1",
            params![tenant, content_id, day],
        )?;
        Ok(())
    }

    /// Failed checks per content and day, for days in `[from_day, to_day]` (YYYY-MM-DD).
    pub fn access_failures(&self, tenant: TenantId, from_day: &str, to_day: &str) -> Result<Vec<AccessFailures>, MetaError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT content_id, day, failed FROM access_failures WHERE tenant_id = ?1 AND day >= ?2 AND day <= ?3 ORDER BY day, content_id")?;
        let rows = stmt.query_map(params![tenant, from_day, to_day], |r| {
            Ok(AccessFailures {
                content_id: r.get(0)?,
                day: r.get(1)?,
                failed: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_codes_secrets_and_failures() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::open(&dir.path().join("meta.sqlite")).unwrap();
        let t = meta.create_tenant("cme").unwrap().id;
        meta.upsert_access_codes(t, &[AccessEntry::new("A-1001"), AccessEntry::new("A-1002")]).unwrap();
        meta.revoke_access_codes(t, &["A-1002".into(), "sid-9".into()], 5).unwrap();
        let codes = meta.access_codes(t).unwrap();
        assert_eq!(
            codes.iter().map(|c| (c.code.as_str(), c.revoked_at)).collect::<Vec<_>>(),
            [("A-1001", None), ("A-1002", Some(5)), ("sid-9", Some(5))]
        );
        // Listing a revoked code again restores it.
        meta.upsert_access_codes(t, &[AccessEntry::new("A-1002")]).unwrap();
        assert_eq!(meta.access_codes(t).unwrap()[1].revoked_at, None);
        assert_eq!(meta.access_secret(t).unwrap(), None);
        let s1 = meta.rotate_access_secret(t).unwrap();
        assert_eq!(meta.access_secret(t).unwrap().as_deref(), Some(s1.as_str()));
        assert_ne!(meta.rotate_access_secret(t).unwrap(), s1);
        meta.count_access_failure(t, "L", "2026-03-02").unwrap();
        meta.count_access_failure(t, "L", "2026-03-02").unwrap();
        let f = meta.access_failures(t, "2026-03-01", "2026-03-02").unwrap();
        assert_eq!(
            f,
            vec![AccessFailures {
                content_id: "L".into(),
                day: "2026-03-02".into(),
                failed: 2
            }]
        );
    }

    #[test]
    fn tenants_keys_settings_and_contents() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::open(&dir.path().join("meta.sqlite")).unwrap();
        let a = meta.create_tenant("acme").unwrap();
        assert!(matches!(meta.create_tenant("acme"), Err(MetaError::TenantExists(_))));
        assert!(matches!(meta.create_tenant("Bad Name"), Err(MetaError::BadTenantName(_))));
        let key = meta.create_key(Some(a.id), Role::Read).unwrap();
        let p = meta.verify_key(&key.key).unwrap().unwrap();
        assert_eq!((p.tenant, p.role), (Some(a.id), Role::Read));
        assert_eq!(meta.verify_key(&format!("{}x", key.key)).unwrap(), None);
        assert_eq!(meta.verify_key("st_read_nothing_here").unwrap(), None);
        // Stored hashed: the secret is nowhere in the database.
        let secret = key.key.rsplit('_').next().unwrap().to_string();
        let hashes: Vec<String> = meta
            .conn()
            .prepare("SELECT secret_hash FROM api_keys")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert!(hashes.iter().all(|h| !h.contains(&secret) && h.starts_with(FAST_HASH_PREFIX)));
        meta.ensure_admin_key("operator-chosen-key").unwrap();
        assert_eq!(meta.verify_key("operator-chosen-key").unwrap().unwrap().tenant, None);
        let s = meta.update_settings(a.id, &[("view_window".into(), "2h".into())]).unwrap();
        assert_eq!(meta.settings(a.id).unwrap(), s);
        assert!(meta.update_settings(a.id, &[("view_window".into(), "soon".into())]).is_err());
        meta.upsert_contents(
            a.id,
            &[Content {
                content_id: "A".into(),
                kind: Some("live".into()),
                ..Content::default()
            }],
        )
        .unwrap();
        assert!(meta
            .upsert_contents(
                a.id,
                &[Content {
                    content_id: "B".into(),
                    kind: Some("film".into()),
                    ..Content::default()
                }]
            )
            .is_err());
        assert_eq!(meta.contents(a.id).unwrap().len(), 1);
        meta.record_abuse("198.51.100.9", "rate limit per IP", None, 3).unwrap();
        meta.record_abuse("198.51.100.9", "rate limit per IP", Some(a.id), 2).unwrap();
        meta.record_abuse("198.51.100.9", "rate limit per IP", Some(a.id), 4).unwrap();
        // Each tenant sees its own blocks; the server administrator sees all.
        assert_eq!(meta.abuse_blocks(None).unwrap().len(), 2);
        let own = meta.abuse_blocks(Some(a.id)).unwrap();
        assert_eq!((own.len(), own[0].hits, own[0].tenant_id), (1, 6, Some(a.id)));
        assert_eq!(meta.abuse_blocks(Some(a.id + 1)).unwrap().len(), 0);
        assert_eq!(meta.prune_abuse(Some(a.id), now_secs() + 1).unwrap(), 1);
        assert_eq!(meta.prune_abuse(None, now_secs() + 1).unwrap(), 1);
        assert!(meta.abuse_blocks(None).unwrap().is_empty());
    }

    #[test]
    fn a_schema_of_a_newer_release_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.sqlite");
        drop(Meta::open(&path).unwrap());
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let e = Meta::open(&path).err().expect("a newer schema opened");
        assert!(e.to_string().contains("written by a newer streamtally"), "{e}");
    }

    #[test]
    fn blocks_of_an_older_folder_are_kept_per_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE abuse_blocks (ip TEXT NOT NULL, reason TEXT NOT NULL, tenant_id INTEGER, first_at INTEGER NOT NULL,
                   last_at INTEGER NOT NULL, hits INTEGER NOT NULL, PRIMARY KEY (ip, reason));
                 INSERT INTO abuse_blocks VALUES ('192.0.2.1', 'rate limit per IP', NULL, 1, 2, 7);",
            )
            .unwrap();
        }
        let meta = Meta::open(&path).unwrap();
        let blocks = meta.abuse_blocks(None).unwrap();
        assert_eq!((blocks.len(), blocks[0].hits, blocks[0].tenant_id), (1, 7, None));
    }

    #[test]
    fn a_key_hashed_by_an_older_release_still_works_and_is_rehashed() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::open(&dir.path().join("meta.sqlite")).unwrap();
        let a = meta.create_tenant("acme").unwrap();
        let key = meta.create_key(Some(a.id), Role::Ingest).unwrap();
        let secret = key.key.rsplit('_').next().unwrap();
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let argon = Argon2::default().hash_password(secret.as_bytes(), &salt).unwrap().to_string();
        meta.conn()
            .execute("UPDATE api_keys SET secret_hash = ?1 WHERE key_id = ?2", params![argon, key.key_id])
            .unwrap();
        assert!(meta.verify_key(&key.key).unwrap().is_some());
        let stored: String = meta
            .conn()
            .query_row("SELECT secret_hash FROM api_keys WHERE key_id = ?1", [&key.key_id], |r| r.get(0))
            .unwrap();
        assert!(stored.starts_with(FAST_HASH_PREFIX), "{stored}");
        assert!(meta.verify_key(&format!("{}0", key.key)).unwrap().is_none());
    }
}
