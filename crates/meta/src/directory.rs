//! The user directory: each tenant's registered users (names, gender, birth,
//! home, registration time, the tenant's own attributes), and the record of
//! every look-up of one user (who, when, which user). Only here: facts and
//! raw events carry the `user_id`, never what this table knows of them.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;
use streamtally_model::registered::{Birth, Gender, RegisteredUser};
use streamtally_model::TenantId;

use crate::db::{args, DbError, Row};
use crate::{now_secs, Meta, MetaError};

/// One look-up of one user's directory entry or activity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lookup {
    /// Seconds since 1970.
    pub at: i64,
    /// The key id or `account:ID` that looked.
    pub by: String,
    pub user_id: String,
}

const COLUMNS: &str = "user_id, name, gender, birth_date, birth_year, age_range, country, region, city, registered_at, attributes";

fn user_row(r: &Row) -> Result<RegisteredUser, DbError> {
    let birth_date: Option<String> = r.get(3)?;
    let birth_year: Option<i32> = r.get(4)?;
    let age_range: Option<String> = r.get(5)?;
    let birth = match (birth_date.and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()), birth_year, age_range) {
        (Some(d), _, _) => Birth::Date(d),
        (None, Some(y), _) => Birth::Year(y),
        (None, None, Some(a)) => Birth::AgeRange(a),
        _ => Birth::Unknown,
    };
    let attributes: Option<String> = r.get(10)?;
    Ok(RegisteredUser {
        user_id: r.get(0)?,
        name: r.get(1)?,
        gender: Gender::parse(&r.get::<String>(2)?),
        birth,
        country: r.get(6)?,
        region: r.get(7)?,
        city: r.get(8)?,
        registered_at: r.get(9)?,
        attributes: attributes
            .and_then(|a| serde_json::from_str::<BTreeMap<String, String>>(&a).ok())
            .unwrap_or_default(),
    })
}

impl Meta {
    /// Adds or replaces users (by `user_id`), all in one transaction.
    pub fn upsert_users(&self, tenant: TenantId, users: &[RegisteredUser]) -> Result<usize, MetaError> {
        // Replaced whole: every column of an entry given again is the new one.
        let sql = format!(
            "INSERT INTO user_directory (tenant_id, {COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT (tenant_id, user_id) DO UPDATE SET {}",
            COLUMNS
                .split(", ")
                .skip(1)
                .map(|c| format!("{c} = excluded.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.conn().transaction(|c| {
            for u in users {
                let (date, year, range) = match &u.birth {
                    Birth::Date(d) => (Some(d.format("%Y-%m-%d").to_string()), None, None),
                    Birth::Year(y) => (None, Some(*y), None),
                    Birth::AgeRange(a) => (None, None, Some(a.clone())),
                    Birth::Unknown => (None, None, None),
                };
                let attributes = (!u.attributes.is_empty()).then(|| serde_json::to_string(&u.attributes).unwrap_or_default());
                c.execute(
                    &sql,
                    args![
                        tenant,
                        u.user_id,
                        u.name,
                        u.gender.as_str(),
                        date,
                        year,
                        range,
                        u.country,
                        u.region,
                        u.city,
                        u.registered_at,
                        attributes
                    ],
                )?;
            }
            Ok(users.len())
        })
    }

    /// One user's entry.
    pub fn registered_user(&self, tenant: TenantId, user_id: &str) -> Result<Option<RegisteredUser>, MetaError> {
        let row = self.conn().query_opt(
            &format!("SELECT {COLUMNS} FROM user_directory WHERE tenant_id = ?1 AND user_id = ?2"),
            args![tenant, user_id],
        )?;
        Ok(row.as_ref().map(user_row).transpose()?)
    }

    /// Users registered in `[from, to)` (µs), oldest first.
    pub fn registered_between(&self, tenant: TenantId, from: i64, to: i64) -> Result<Vec<RegisteredUser>, MetaError> {
        let rows = self.conn().query(
            &format!(
                "SELECT {COLUMNS} FROM user_directory WHERE tenant_id = ?1 AND registered_at >= ?2 AND registered_at < ?3 ORDER BY registered_at, user_id"
            ),
            args![tenant, from, to],
        )?;
        Ok(rows.iter().map(user_row).collect::<Result<_, _>>()?)
    }

    /// Every user of the tenant (what a query grouping by the audience joins).
    pub fn registered_users(&self, tenant: TenantId) -> Result<Vec<RegisteredUser>, MetaError> {
        let rows = self.conn().query(
            &format!("SELECT {COLUMNS} FROM user_directory WHERE tenant_id = ?1 ORDER BY user_id"),
            args![tenant],
        )?;
        Ok(rows.iter().map(user_row).collect::<Result<_, _>>()?)
    }

    /// Removes a user's entry (the tenant's own deletion); false when there was none.
    pub fn delete_registered_user(&self, tenant: TenantId, user_id: &str) -> Result<bool, MetaError> {
        let n = self
            .conn()
            .execute("DELETE FROM user_directory WHERE tenant_id = ?1 AND user_id = ?2", args![tenant, user_id])?;
        Ok(n > 0)
    }

    /// Erasure (spec §8): the entry goes, and the look-ups of the user keep
    /// who looked and when but no longer name the user. Entries removed.
    pub fn erase_registered_user(&self, tenant: TenantId, user_id: &str) -> Result<u64, MetaError> {
        self.conn().transaction(|c| {
            let n = c.execute("DELETE FROM user_directory WHERE tenant_id = ?1 AND user_id = ?2", args![tenant, user_id])?;
            c.execute(
                "UPDATE user_lookups SET user_id = '(erased)' WHERE tenant_id = ?1 AND user_id = ?2",
                args![tenant, user_id],
            )?;
            Ok(n)
        })
    }

    /// Notes that `by` looked at `user_id`.
    pub fn record_lookup(&self, tenant: TenantId, by: &str, user_id: &str) -> Result<(), MetaError> {
        self.conn().execute(
            "INSERT INTO user_lookups (tenant_id, at, by_whom, user_id) VALUES (?1, ?2, ?3, ?4)",
            args![tenant, now_secs(), by, user_id],
        )?;
        Ok(())
    }

    /// The latest `limit` look-ups, newest first.
    pub fn lookups(&self, tenant: TenantId, limit: usize) -> Result<Vec<Lookup>, MetaError> {
        let mut conn = self.conn();
        let sql = format!(
            "SELECT at, by_whom, user_id FROM user_lookups WHERE tenant_id = ?1 ORDER BY at DESC, {} DESC LIMIT ?2",
            conn.insertion_order()
        );
        let rows = conn.query(&sql, args![tenant, limit as i64])?;
        let lookups = rows.iter().map(|r| {
            Ok(Lookup {
                at: r.get(0)?,
                by: r.get(1)?,
                user_id: r.get(2)?,
            })
        });
        Ok(lookups.collect::<Result<_, DbError>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, birth: Birth, registered_at: Option<i64>) -> RegisteredUser {
        RegisteredUser {
            user_id: id.into(),
            name: Some(format!("Name of {id}")),
            gender: Gender::Female,
            birth,
            country: Some("BR".into()),
            region: Some("SP".into()),
            city: Some("Campinas".into()),
            registered_at,
            attributes: BTreeMap::from([("plan".to_string(), "gold".to_string())]),
        }
    }

    #[test]
    fn entries_are_kept_whole_replaced_by_id_and_apart_per_tenant() {
        for b in crate::tests::backends() {
            eprintln!("on {}", b.name);
            entries_kept_whole_on(&b.meta);
        }
    }

    fn entries_kept_whole_on(meta: &Meta) {
        let a = meta.create_tenant("a").unwrap().id;
        let b = meta.create_tenant("b").unwrap().id;
        let born = NaiveDate::from_ymd_opt(1990, 5, 17).unwrap();
        let u1 = user("u1", Birth::Date(born), Some(1_000_000));
        let u2 = user("u2", Birth::AgeRange("25-34".into()), Some(2_000_000));
        meta.upsert_users(a, &[u1.clone(), u2.clone(), user("u3", Birth::Year(1980), None)]).unwrap();
        assert_eq!(meta.registered_user(a, "u1").unwrap(), Some(u1.clone()));
        assert_eq!(meta.registered_user(b, "u1").unwrap(), None);
        let mut changed = u1.clone();
        changed.name = Some("Ana".into());
        meta.upsert_users(a, &[changed.clone()]).unwrap();
        assert_eq!(meta.registered_user(a, "u1").unwrap(), Some(changed));
        let ids: Vec<String> = meta.registered_between(a, 0, 3_000_000).unwrap().into_iter().map(|u| u.user_id).collect();
        assert_eq!(ids, ["u1", "u2"], "u3 has no registration time");
        assert!(meta.delete_registered_user(a, "u2").unwrap());
        assert!(!meta.delete_registered_user(a, "u2").unwrap());
        meta.record_lookup(a, "key1", "u1").unwrap();
        meta.record_lookup(a, "account:x", "u3").unwrap();
        let seen: Vec<(String, String)> = meta.lookups(a, 10).unwrap().into_iter().map(|l| (l.by, l.user_id)).collect();
        assert_eq!(seen, [("account:x".to_string(), "u3".to_string()), ("key1".into(), "u1".into())]);
        assert!(meta.lookups(b, 10).unwrap().is_empty());
        // Erased: the entry goes and the look-ups no longer name the user.
        assert_eq!(meta.erase_registered_user(a, "u1").unwrap(), 1);
        assert_eq!(meta.registered_user(a, "u1").unwrap(), None);
        let seen: Vec<String> = meta.lookups(a, 10).unwrap().into_iter().map(|l| l.user_id).collect();
        assert_eq!(seen, ["u3", "(erased)"]);
    }
}
