use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;
use rusqlite::Connection;
use streamtally_access::AccessEntry;

use crate::db::args;
use crate::keys::FAST_HASH_PREFIX;
use crate::*;

#[path = "../tests/support/postgres.rs"]
mod postgres_server;

/// A metadata store under test, and what keeps it (its folder).
pub(crate) struct Backend {
    pub name: &'static str,
    pub meta: Meta,
    _dir: Option<tempfile::TempDir>,
}

/// Every backend a behaviour must hold on: a new SQLite file, and a new
/// database on the test process's PostgreSQL server.
pub(crate) fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Meta::open(&dir.path().join("meta.sqlite")).unwrap();
    let postgres = Meta::connect(&postgres_server::PostgresServer::shared().database()).unwrap();
    vec![
        Backend {
            name: "sqlite",
            meta: sqlite,
            _dir: Some(dir),
        },
        Backend {
            name: "postgres",
            meta: postgres,
            _dir: None,
        },
    ]
}

#[test]
fn access_codes_secrets_and_failures() {
    for b in backends() {
        eprintln!("on {}", b.name);
        access_codes_secrets_and_failures_on(&b.meta);
    }
}

fn access_codes_secrets_and_failures_on(meta: &Meta) {
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
    for b in backends() {
        eprintln!("on {}", b.name);
        tenants_keys_settings_and_contents_on(&b.meta);
    }
}

fn tenants_keys_settings_and_contents_on(meta: &Meta) {
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
        .query("SELECT secret_hash FROM api_keys", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0).unwrap())
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
fn a_catalogue_of_an_older_folder_gains_the_glossary_fields_and_keeps_its_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.sqlite");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE tenants (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL, device_secret BLOB NOT NULL);
             INSERT INTO tenants VALUES (1, 'old', 0, x'00');
             CREATE TABLE contents (tenant_id INTEGER NOT NULL REFERENCES tenants(id), content_id TEXT NOT NULL, title TEXT, kind TEXT,
               media TEXT, duration REAL, bitrate REAL, category TEXT, show TEXT, producer TEXT, distributor TEXT,
               PRIMARY KEY (tenant_id, content_id));
             INSERT INTO contents (tenant_id, content_id, title) VALUES (1, 'e1', 'Episode 1');",
        )
        .unwrap();
    }
    let meta = Meta::open(&path).unwrap();
    assert_eq!(meta.contents(1).unwrap()[0].title.as_deref(), Some("Episode 1"));
    let e1 = Content {
        content_id: "e1".into(),
        season: Some("2".into()),
        guid: Some("urn:uuid:1".into()),
        ..Content::default()
    };
    meta.upsert_contents(1, &[e1]).unwrap();
    let stored = &meta.contents(1).unwrap()[0];
    assert_eq!(
        (stored.season.as_deref(), stored.guid.as_deref(), stored.episode.as_deref()),
        (Some("2"), Some("urn:uuid:1"), None)
    );
}

#[test]
fn a_key_hashed_by_an_older_release_still_works_and_is_rehashed() {
    for b in backends() {
        eprintln!("on {}", b.name);
        a_key_hashed_by_an_older_release_on(&b.meta);
    }
}

fn a_key_hashed_by_an_older_release_on(meta: &Meta) {
    let a = meta.create_tenant("acme").unwrap();
    let key = meta.create_key(Some(a.id), Role::Ingest).unwrap();
    let secret = key.key.rsplit('_').next().unwrap();
    let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
    let argon = Argon2::default().hash_password(secret.as_bytes(), &salt).unwrap().to_string();
    meta.conn()
        .execute("UPDATE api_keys SET secret_hash = ?1 WHERE key_id = ?2", args![argon, key.key_id])
        .unwrap();
    assert!(meta.verify_key(&key.key).unwrap().is_some());
    let stored: String = meta
        .conn()
        .query_opt("SELECT secret_hash FROM api_keys WHERE key_id = ?1", args![key.key_id])
        .unwrap()
        .unwrap()
        .get(0)
        .unwrap();
    assert!(stored.starts_with(FAST_HASH_PREFIX), "{stored}");
    assert!(meta.verify_key(&format!("{}0", key.key)).unwrap().is_none());
}

#[test]
fn postgresql_restarted_between_calls_is_reconnected_without_an_error() {
    let mut server = postgres_server::PostgresServer::start();
    let meta = Meta::connect(&server.database()).unwrap();
    let t = meta.create_tenant("acme").unwrap();
    server.restart();
    // The old connection is gone: the first statement finds that out, and is sent again.
    assert_eq!(meta.tenant_by_name("acme").unwrap().id, t.id);
    server.stop();
    let e = meta.tenant_by_name("acme").unwrap_err();
    assert!(e.to_string().contains("PostgreSQL"), "{e}");
    // After a failed connect, calls fail at once for a few seconds instead of each waiting.
    let started = std::time::Instant::now();
    assert!(meta.tenants().is_err());
    assert!(started.elapsed() < std::time::Duration::from_secs(1), "{:?}", started.elapsed());
}

#[test]
fn postgresql_over_tls_checks_the_servers_certificate() {
    let rcgen::CertifiedKey { cert, key_pair } = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let server = postgres_server::PostgresServer::start_tls(&cert.pem(), &key_pair.serialize_pem());
    let url = server.database();
    let uses_tls = |meta: &Meta| -> bool {
        meta.conn().query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).unwrap()[0]
            .get(0)
            .unwrap()
    };
    // The certificate given to trust: TLS, and the metadata works.
    let meta = Meta::connect_with(&url, Some(cert.pem().as_bytes())).unwrap();
    assert!(uses_tls(&meta));
    meta.create_tenant("acme").unwrap();
    // TLS asked for without it: no public CA vouches for this certificate.
    let e = Meta::connect(&format!("{url}?sslmode=require"))
        .err()
        .expect("connected to a server no CA vouches for");
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
    // Neither asked: in the clear, as before.
    assert!(!uses_tls(&Meta::connect(&url).unwrap()));
}
