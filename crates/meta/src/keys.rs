//! API keys: generated ones verified by a keyed hash, the operator's own by
//! argon2; roles; revocation; a short cache of verified keys.

use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use streamtally_model::TenantId;

use crate::db::args;
use crate::{now_secs, random_hex, Meta, MetaError};

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

/// Who a valid key speaks for. `tenant: None` is the server administrator.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub tenant: Option<TenantId>,
    pub role: Role,
    pub key_id: String,
    /// The property of the events this ingest key sends that name none (spec §1).
    pub property: Option<String>,
}

/// A freshly created key: the only moment its secret is known.
#[derive(Debug, Clone, Serialize)]
pub struct ApiKey {
    pub key_id: String,
    pub tenant: Option<String>,
    pub role: Role,
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
}

/// What may be shown of a key: everything but its secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyInfo {
    pub key_id: String,
    pub role: String,
    pub created_at: i64,
    pub revoked: bool,
    pub property: Option<String>,
}

/// Verified keys are remembered this long, so a beacon costs no hash at all.
/// Verified keys are remembered this long, so a beacon costs no argon2 run.
const KEY_CACHE_TTL: Duration = Duration::from_secs(60);

/// Generated keys carry 128 random bits: a keyed hash is as safe as argon2
/// for them and costs a microsecond, not 25 ms, so guessing costs no CPU.
pub(crate) const FAST_HASH_PREFIX: &str = "blake3k$";

fn fast_key_hash(key_id: &str, secret: &str) -> String {
    let key = blake3::derive_key("streamtally 2026 API key secret", key_id.as_bytes());
    format!("{FAST_HASH_PREFIX}{}", blake3::keyed_hash(&key, secret.as_bytes()).to_hex())
}

/// A property as given (spec §1), trimmed; `None` for none or blank. Refused
/// when longer than 100 characters or holding control characters.
pub fn checked_property(property: Option<&str>) -> Result<Option<&str>, MetaError> {
    let property = property.map(str::trim).filter(|p| !p.is_empty());
    match property {
        Some(p) if p.chars().count() > 100 || p.chars().any(char::is_control) => Err(MetaError::BadProperty(p.chars().take(100).collect())),
        _ => Ok(property),
    }
}

impl Meta {
    /// Creates a key; `tenant: None` with `Role::Admin` makes a server administrator.
    pub fn create_key(&self, tenant: Option<TenantId>, role: Role) -> Result<ApiKey, MetaError> {
        self.create_key_with_property(tenant, role, None)
    }

    /// Creates a key whose events that name no property count under
    /// `property` (spec §1: the event's own, else the ingest key's, else …).
    pub fn create_key_with_property(&self, tenant: Option<TenantId>, role: Role, property: Option<&str>) -> Result<ApiKey, MetaError> {
        let property = checked_property(property)?;
        let key_id = random_hex(6);
        let secret = random_hex(16);
        let key = format!("st_{}_{}_{}", role.as_str(), key_id, secret);
        self.insert_key(tenant, role, &key_id, &secret)?;
        if let Some(p) = property {
            self.conn().execute("UPDATE api_keys SET property = ?1 WHERE key_id = ?2", args![p, key_id])?;
        }
        let tenant_name = tenant.map(|t| self.tenant_by_id(t).map(|t| t.name)).transpose()?;
        Ok(ApiKey {
            key_id,
            tenant: tenant_name,
            role,
            key,
            property: property.map(str::to_string),
        })
    }

    /// Registers a server-administrator key chosen by the operator
    /// (`STREAMTALLY_ADMIN_KEY`); idempotent.
    pub fn ensure_admin_key(&self, key: &str) -> Result<(), MetaError> {
        if self.verify_key(key)?.is_some_and(|p| p.tenant.is_none() && p.role == Role::Admin) {
            return Ok(());
        }
        let key_id = format!("env-{}", &hex::encode(Sha256::digest(key.as_bytes()))[..12]);
        self.insert_key(None, Role::Admin, &key_id, key)
    }

    pub(crate) fn insert_key(&self, tenant: Option<TenantId>, role: Role, key_id: &str, secret: &str) -> Result<(), MetaError> {
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
        // The operator's key is written over (nodes starting together with the
        // same key both write it); a generated id is new, and a clash an error.
        let on_clash = if key_id.starts_with("env-") {
            " ON CONFLICT (key_id) DO UPDATE SET tenant_id = excluded.tenant_id, role = excluded.role, secret_hash = excluded.secret_hash, revoked = 0"
        } else {
            ""
        };
        self.conn().execute(
            &format!("INSERT INTO api_keys (key_id, tenant_id, role, secret_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5){on_clash}"),
            args![key_id, tenant, role.as_str(), hash, now_secs()],
        )?;
        Ok(())
    }

    pub fn has_admin_key(&self) -> Result<bool, MetaError> {
        let admins = self.conn().query(
            "SELECT key_id FROM api_keys WHERE tenant_id IS NULL AND role = 'admin' AND revoked = 0 LIMIT 1",
            &[],
        )?;
        Ok(!admins.is_empty())
    }

    /// Revokes a key of `tenant` (`None`: a server administrator's key);
    /// false when it has no such key. It stops at once in this process.
    pub fn revoke_key(&self, tenant: Option<TenantId>, key_id: &str) -> Result<bool, MetaError> {
        let n = self.conn().execute(
            "UPDATE api_keys SET revoked = 1 WHERE key_id = ?1 AND tenant_id IS NOT DISTINCT FROM ?2 AND revoked = 0",
            args![key_id, tenant],
        )?;
        self.key_cache.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, (p, _)| p.key_id != key_id);
        Ok(n > 0)
    }

    /// A tenant's keys (never their secrets), oldest first.
    pub fn keys(&self, tenant: Option<TenantId>) -> Result<Vec<KeyInfo>, MetaError> {
        let rows = self.conn().query(
            "SELECT key_id, role, created_at, revoked, property FROM api_keys WHERE tenant_id IS NOT DISTINCT FROM ?1 ORDER BY created_at, key_id",
            args![tenant],
        )?;
        let keys = rows.iter().map(|r| {
            Ok(KeyInfo {
                key_id: r.get(0)?,
                role: r.get(1)?,
                created_at: r.get(2)?,
                revoked: r.get(3)?,
                property: r.get(4)?,
            })
        });
        keys.collect::<Result<_, crate::DbError>>().map_err(Into::into)
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
        type Row = (Option<TenantId>, String, String, Option<String>);
        let row: Option<Row> = self
            .conn()
            .query_opt(
                "SELECT tenant_id, role, secret_hash, property FROM api_keys WHERE key_id = ?1 AND revoked = 0",
                args![key_id],
            )?
            .map(|r| Ok::<_, crate::DbError>((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .transpose()?;
        let Some((tenant, role, hash, property)) = row else { return Ok(None) };
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
                        args![fast_key_hash(&key_id, &secret), key_id],
                    )?;
                }
            }
        }
        let principal = Principal {
            tenant,
            role: Role::parse(&role)?,
            key_id,
            property,
        };
        self.key_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest, (principal.clone(), Instant::now()));
        Ok(Some(principal))
    }
}
