//! Staff accounts: people of a tenant who sign in to the dashboard with an
//! e-mail address and a password (argon2id), each with the read or admin
//! role. Made by an admin; an account's sessions end when it is deleted.
//! Not the tenant's audience: viewers are never accounts here.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::Serialize;
use streamtally_model::TenantId;

use crate::db::{args, DbError, Row};
use crate::{now_secs, random_hex, Meta, MetaError, Principal, Role};

/// Passwords shorter than this are refused (NIST SP 800-63B asks for 8 at
/// least; a dashboard that shows every tenant's audience deserves more).
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longer ones too: argon2 of a megabyte is a denial of service.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// What may be shown of an account: everything but its password.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Account {
    pub account_id: String,
    pub email: String,
    pub role: String,
    pub created_at: i64,
    /// When it last signed in (seconds since 1970), if ever.
    pub last_sign_in: Option<i64>,
}

/// An address a person can type and read back: one `@`, no spaces, ≤ 254.
fn valid_email(email: &str) -> bool {
    let mut parts = email.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn hash_password(password: &str) -> Result<String, MetaError> {
    let salt = SaltString::encode_b64(random_hex(16).as_bytes()).map_err(|e| MetaError::Hash(e.to_string()))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| MetaError::Hash(e.to_string()))?
        .to_string())
}

fn account_row(r: &Row) -> Result<Account, DbError> {
    Ok(Account {
        account_id: r.get(0)?,
        email: r.get(1)?,
        role: r.get(2)?,
        created_at: r.get(3)?,
        last_sign_in: r.get(4)?,
    })
}

impl Meta {
    /// Makes an account of `tenant`; e-mail addresses are unique on the
    /// server (the sign-in form names no tenant), compared without case.
    pub fn create_account(&self, tenant: TenantId, email: &str, password: &str, role: Role) -> Result<Account, MetaError> {
        let email = email.trim();
        if !valid_email(email) {
            return Err(MetaError::BadAccount(format!("`{email}` is not an e-mail address")));
        }
        let chars = password.chars().count();
        if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
            return Err(MetaError::BadAccount(format!(
                "the password must have {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
            )));
        }
        if role == Role::Ingest {
            return Err(MetaError::BadAccount(
                "an account is read or admin (ingest is for players and log shippers)".into(),
            ));
        }
        let hash = hash_password(password)?;
        let account = Account {
            account_id: random_hex(6),
            email: email.to_string(),
            role: role.as_str().to_string(),
            created_at: now_secs(),
            last_sign_in: None,
        };
        match self.conn().execute(
            "INSERT INTO staff_accounts (account_id, tenant_id, email, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            args![account.account_id, tenant, account.email, account.role, hash, account.created_at],
        ) {
            Ok(_) => Ok(account),
            Err(DbError::Conflict) => Err(MetaError::AccountExists(email.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// A tenant's accounts, oldest first.
    pub fn accounts(&self, tenant: TenantId) -> Result<Vec<Account>, MetaError> {
        let rows = self.conn().query(
            "SELECT account_id, email, role, created_at, last_sign_in FROM staff_accounts WHERE tenant_id = ?1 ORDER BY created_at, email",
            args![tenant],
        )?;
        Ok(rows.iter().map(account_row).collect::<Result<_, _>>()?)
    }

    /// Deletes an account of `tenant`; false when it has none of that id.
    pub fn delete_account(&self, tenant: TenantId, account_id: &str) -> Result<bool, MetaError> {
        let n = self
            .conn()
            .execute("DELETE FROM staff_accounts WHERE account_id = ?1 AND tenant_id = ?2", args![account_id, tenant])?;
        Ok(n > 0)
    }

    /// Who the account `account_id` speaks for now: `None` once deleted, so
    /// its sessions end; a changed role applies at once.
    pub fn account_principal(&self, account_id: &str) -> Result<Option<Principal>, MetaError> {
        let row: Option<(TenantId, String)> = self
            .conn()
            .query_opt("SELECT tenant_id, role FROM staff_accounts WHERE account_id = ?1", args![account_id])?
            .map(|r| Ok::<_, DbError>((r.get(0)?, r.get(1)?)))
            .transpose()?;
        row.map(|(tenant, role)| {
            Ok(Principal {
                tenant: Some(tenant),
                role: Role::parse(&role)?,
                key_id: format!("account:{account_id}"),
                property: None,
            })
        })
        .transpose()
    }

    /// Checks an e-mail address and password (slow on purpose: argon2, also
    /// for an unknown address, so the time says nothing about who exists).
    /// The account's id when they match.
    pub fn verify_account(&self, email: &str, password: &str) -> Result<Option<String>, MetaError> {
        if password.chars().count() > MAX_PASSWORD_CHARS {
            return Ok(None);
        }
        // Without case, as addresses are unique (SQLite: NOCASE; PostgreSQL: an
        // index on lower(email) under "C"): ASCII letters only, on both sides.
        let row: Option<(String, String)> = self
            .conn()
            .query_opt(
                "SELECT account_id, password_hash FROM staff_accounts WHERE lower(email) = ?1",
                args![email.trim().to_ascii_lowercase()],
            )?
            .map(|r| Ok::<_, DbError>((r.get(0)?, r.get(1)?)))
            .transpose()?;
        let (account_id, hash) = match row {
            Some(row) => row,
            None => {
                // The same work as a wrong password.
                let _ = hash_password(password);
                return Ok(None);
            }
        };
        let parsed = PasswordHash::new(&hash).map_err(|e| MetaError::Hash(e.to_string()))?;
        if Argon2::default().verify_password(password.as_bytes(), &parsed).is_err() {
            return Ok(None);
        }
        self.conn().execute(
            "UPDATE staff_accounts SET last_sign_in = ?1 WHERE account_id = ?2",
            args![now_secs(), account_id],
        )?;
        Ok(Some(account_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::backends;

    /// Each backend's metadata, with one tenant.
    fn metas() -> Vec<(crate::tests::Backend, TenantId)> {
        backends()
            .into_iter()
            .map(|b| {
                let t = b.meta.create_tenant("cme").unwrap().id;
                (b, t)
            })
            .collect()
    }

    #[test]
    fn an_account_signs_in_with_its_password_only() {
        for (b, t) in metas() {
            eprintln!("on {}", b.name);
            signs_in_with_its_password_only(&b.meta, t);
        }
    }

    fn signs_in_with_its_password_only(meta: &Meta, t: TenantId) {
        let a = meta.create_account(t, "ana@example.org", "correct horse battery", Role::Read).unwrap();
        assert_eq!(
            meta.verify_account("ana@example.org", "correct horse battery").unwrap(),
            Some(a.account_id.clone())
        );
        assert_eq!(
            meta.verify_account("ANA@example.org", "correct horse battery").unwrap(),
            Some(a.account_id.clone())
        );
        assert_eq!(meta.verify_account("ana@example.org", "correct horse batterY").unwrap(), None);
        assert_eq!(meta.verify_account("bob@example.org", "correct horse battery").unwrap(), None);
        let p = meta.account_principal(&a.account_id).unwrap().unwrap();
        assert_eq!((p.tenant, p.role), (Some(t), Role::Read));
        assert!(meta.accounts(t).unwrap()[0].last_sign_in.is_some());
        // The password is stored as an argon2id hash, never in clear.
        let stored: String = meta.conn().query("SELECT password_hash FROM staff_accounts", &[]).unwrap()[0].get(0).unwrap();
        assert!(stored.starts_with("$argon2id$") && !stored.contains("horse"), "{stored}");
    }

    #[test]
    fn bad_accounts_are_refused_with_a_reason() {
        for (b, t) in metas() {
            eprintln!("on {}", b.name);
            refused_with_a_reason(&b.meta, t);
        }
    }

    fn refused_with_a_reason(meta: &Meta, t: TenantId) {
        for (email, password, role) in [
            ("not-an-address", "long enough password", Role::Read),
            ("a b@example.org", "long enough password", Role::Read),
            ("ana@example.org", "short", Role::Read),
            ("ana@example.org", "long enough password", Role::Ingest),
        ] {
            let e = meta.create_account(t, email, password, role).unwrap_err();
            assert!(matches!(e, MetaError::BadAccount(_)), "{email}: {e}");
        }
        meta.create_account(t, "ana@example.org", "long enough password", Role::Admin).unwrap();
        let other = meta.create_tenant("other").unwrap().id;
        let e = meta.create_account(other, "Ana@Example.org", "long enough password", Role::Read).unwrap_err();
        assert!(matches!(e, MetaError::AccountExists(_)), "{e}");
    }

    #[test]
    fn a_deleted_account_speaks_for_no_one() {
        for (b, t) in metas() {
            eprintln!("on {}", b.name);
            deleted_speaks_for_no_one(&b.meta, t);
        }
    }

    fn deleted_speaks_for_no_one(meta: &Meta, t: TenantId) {
        let a = meta.create_account(t, "ana@example.org", "long enough password", Role::Admin).unwrap();
        let other = meta.create_tenant("other").unwrap().id;
        assert!(!meta.delete_account(other, &a.account_id).unwrap(), "another tenant cannot delete it");
        assert!(meta.delete_account(t, &a.account_id).unwrap());
        assert_eq!(meta.account_principal(&a.account_id).unwrap(), None);
        assert_eq!(meta.verify_account("ana@example.org", "long enough password").unwrap(), None);
    }
}
