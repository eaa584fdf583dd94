//! Access codes (spec §6): who may watch, proven three ways.
//!
//! - **Codes** a viewer types (a physician number, a ticket code) are checked
//!   against the tenant's [`AccessList`], with optional expiry and revocation.
//! - **SecureIDs** are made by the customer's website, not uploaded: the text
//!   `<id>.<expires>.<signature>` where `signature` is the lowercase hex
//!   HMAC-SHA256 of `<id>.<expires>` keyed with the tenant's SecureID secret
//!   (see `docs/ACCESS.md` for the recipe in several languages). The `id` is the
//!   code attendance is reported under; listing it as revoked blocks it.
//! - **Playback tokens** are what the server hands out after a successful check:
//!   short-lived, bound to one content, encrypted and authenticated
//!   (XChaCha20-Poly1305) under a key derived from the tenant's secret, so
//!   later events carry the token and never the raw code — and the token, which
//!   travels in URLs that web servers log, reveals neither code nor content.
//!
//! This crate decides; it stores nothing and knows no HTTP.

mod list;

pub use list::{parse_code_list, AccessEntry, ListError};

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::Aead;
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use streamtally_model::{Micros, MICROS_PER_SEC};

type HmacSha256 = Hmac<Sha256>;

/// How long a playback token lasts unless asked otherwise: a long event day.
pub const DEFAULT_TOKEN_TTL: Micros = 12 * 3600 * MICROS_PER_SEC;
/// Tokens of the last release: signed, not encrypted (the code readable in
/// them). Still verified until they expire; none are issued.
const TOKEN_PREFIX: &str = "st1";
/// Encrypted tokens: `st2.` + base64url(nonce ‖ ciphertext ‖ tag).
const SEALED_PREFIX: &str = "st2.";

/// Why a code, SecureID or token was refused. Said to the caller only as "no";
/// the reason goes to logs and `explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("the code is not on the access list")]
    Unknown,
    #[error("the code was revoked")]
    Revoked,
    #[error("the code or token has expired")]
    Expired,
    #[error("the signature does not match")]
    BadSignature,
    #[error("the token was issued for another content")]
    WrongContent,
    #[error("the text is not a code, SecureID or token")]
    Malformed,
    #[error("SecureIDs are not enabled for this tenant (no SecureID secret)")]
    NoSecureIdSecret,
}

/// One tenant's access list and keys, as loaded from its metadata.
#[derive(Debug, Clone, Default)]
pub struct AccessList {
    entries: HashMap<String, AccessEntry>,
    secure_id_secret: Option<String>,
    token_key: [u8; 32],
    sealing_key: [u8; 32],
}

/// A successful check: the code recorded for attendance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    pub code: String,
}

/// 16 random bytes for a token's nonce (with the issue time, 24 bytes that
/// never repeat under one key).
fn uuid_like_random() -> [u8; 16] {
    let mut b = [0u8; 16];
    rand::fill(&mut b);
    b
}

fn hmac(key: &[u8], text: &str) -> HmacSha256 {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(text.as_bytes());
    mac
}

/// Signs a SecureID the way a customer's website does (used by tests, the CLI
/// and the documentation's examples).
pub fn sign_secure_id(secret: &str, id: &str, expires_unix: i64) -> String {
    let payload = format!("{id}.{expires_unix}");
    let sig = hex::encode(hmac(secret.as_bytes(), &payload).finalize().into_bytes());
    format!("{payload}.{sig}")
}

impl AccessList {
    /// `device_secret` is the tenant's hashing secret; the token key is derived
    /// from it, so tokens need no key of their own and die with the tenant.
    pub fn new(entries: Vec<AccessEntry>, secure_id_secret: Option<String>, device_secret: &[u8; 32]) -> AccessList {
        AccessList {
            entries: entries.into_iter().map(|e| (e.code.clone(), e)).collect(),
            secure_id_secret,
            token_key: blake3::derive_key("streamtally playback token v1", device_secret),
            sealing_key: blake3::derive_key("streamtally playback token v2 sealing", device_secret),
        }
    }

    /// Whether a listed code may be used at `now` (an unlisted one is unknown).
    fn listed(&self, code: &str, now: Micros) -> Option<Result<(), Denied>> {
        self.entries.get(code).map(|e| {
            if e.revoked_at.is_some_and(|r| r <= now) {
                Err(Denied::Revoked)
            } else if e.expires_at.is_some_and(|x| x <= now) {
                Err(Denied::Expired)
            } else {
                Ok(())
            }
        })
    }

    /// Checks what a viewer presented: a listed code or a SecureID.
    pub fn check(&self, presented: &str, now: Micros) -> Result<Granted, Denied> {
        let presented = presented.trim();
        if presented.is_empty() || presented.len() > 512 {
            return Err(Denied::Malformed);
        }
        // A listed code wins, even if it happens to look like a SecureID.
        if let Some(verdict) = self.listed(presented, now) {
            return verdict.map(|()| Granted { code: presented.to_string() });
        }
        let parts: Vec<&str> = presented.split('.').collect();
        let [id, expires, sig] = parts[..] else {
            return Err(Denied::Unknown);
        };
        let (Ok(expires), true) = (expires.parse::<i64>(), sig.len() == 64 && !id.is_empty()) else {
            return Err(Denied::Unknown);
        };
        let secret = self.secure_id_secret.as_deref().ok_or(Denied::NoSecureIdSecret)?;
        let sig = hex::decode(sig).map_err(|_| Denied::Malformed)?;
        hmac(secret.as_bytes(), &format!("{id}.{expires}"))
            .verify_slice(&sig)
            .map_err(|_| Denied::BadSignature)?;
        if expires.saturating_mul(MICROS_PER_SEC) <= now {
            return Err(Denied::Expired);
        }
        if let Some(Err(e)) = self.listed(id, now) {
            return Err(e);
        }
        Ok(Granted { code: id.to_string() })
    }

    /// A playback token for a granted code and one content, valid until the
    /// returned instant: opaque to everyone but this tenant's server.
    pub fn issue_token(&self, granted: &Granted, content_id: &str, now: Micros, ttl: Micros) -> (String, Micros) {
        let expires = now + ttl.max(MICROS_PER_SEC);
        let plain = serde_json::json!([granted.code, content_id, expires / MICROS_PER_SEC]).to_string();
        let mut nonce = [0u8; 24];
        nonce[..16].copy_from_slice(&uuid_like_random());
        nonce[16..].copy_from_slice(&now.to_le_bytes());
        let cipher = <XChaCha20Poly1305 as chacha20poly1305::KeyInit>::new((&self.sealing_key).into());
        // Encrypting a short text in memory cannot fail.
        let sealed = cipher.encrypt(XNonce::from_slice(&nonce), plain.as_bytes()).unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        (format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)), expires)
    }

    /// Opens an `st2.` token: (code, content, expiry in epoch seconds).
    fn open_sealed(&self, body: &str) -> Result<(String, String, i64), Denied> {
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| Denied::Malformed)?;
        if bytes.len() < 24 + 16 {
            return Err(Denied::Malformed);
        }
        let (nonce, sealed) = bytes.split_at(24);
        let cipher = <XChaCha20Poly1305 as chacha20poly1305::KeyInit>::new((&self.sealing_key).into());
        let plain = cipher.decrypt(XNonce::from_slice(nonce), sealed).map_err(|_| Denied::BadSignature)?;
        serde_json::from_slice::<(String, String, i64)>(&plain).map_err(|_| Denied::Malformed)
    }

    /// Checks the parts of a token once it was opened or its signature verified.
    fn granted_by(&self, code: String, content: &str, expires: i64, content_id: Option<&str>, now: Micros) -> Result<Granted, Denied> {
        if expires.saturating_mul(MICROS_PER_SEC) <= now {
            return Err(Denied::Expired);
        }
        if content_id.is_some_and(|c| c != content) {
            return Err(Denied::WrongContent);
        }
        if let Some(Err(e)) = self.listed(&code, now) {
            return Err(e);
        }
        Ok(Granted { code })
    }

    /// Verifies a playback token for `content_id` at `now`; the code must still
    /// be usable (a revocation stops the tokens issued before it).
    pub fn verify_token(&self, token: &str, content_id: Option<&str>, now: Micros) -> Result<Granted, Denied> {
        if let Some(body) = token.strip_prefix(SEALED_PREFIX) {
            let (code, content, expires) = self.open_sealed(body)?;
            return self.granted_by(code, &content, expires, content_id, now);
        }
        let (payload, sig) = token.rsplit_once('.').ok_or(Denied::Malformed)?;
        let parts: Vec<&str> = payload.split('.').collect();
        let [TOKEN_PREFIX, code, content, expires] = parts[..] else {
            return Err(Denied::Malformed);
        };
        let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| Denied::Malformed)?;
        hmac(&self.token_key, payload).verify_truncated_left(&sig).map_err(|_| Denied::BadSignature)?;
        let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).ok().and_then(|b| String::from_utf8(b).ok()).ok_or(Denied::Malformed);
        let (code, content) = (decode(code)?, decode(content)?);
        let expires: i64 = expires.parse().map_err(|_| Denied::Malformed)?;
        self.granted_by(code, &content, expires, content_id, now)
    }

    /// Resolves what an event carries (a token, or a raw code or SecureID) into
    /// the verified code, or `None` when it carries nothing valid.
    pub fn resolve(&self, token: Option<&str>, code: Option<&str>, content_id: Option<&str>, now: Micros) -> Option<String> {
        if let Some(t) = token {
            return self.verify_token(t, content_id, now).ok().map(|g| g.code);
        }
        code.and_then(|c| self.check(c, now).ok()).map(|g| g.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Micros = 1_772_445_600 * MICROS_PER_SEC; // 2026-03-02T10:00:00Z

    fn list() -> AccessList {
        let entries = vec![
            AccessEntry::new("A-1001"),
            AccessEntry {
                revoked_at: Some(NOW - 1),
                ..AccessEntry::new("A-1002")
            },
            AccessEntry {
                expires_at: Some(NOW - 1),
                ..AccessEntry::new("A-1003")
            },
            AccessEntry {
                revoked_at: Some(NOW - 1),
                ..AccessEntry::new("sid-revoked")
            },
        ];
        AccessList::new(entries, Some("s3cret".into()), &[7; 32])
    }

    #[test]
    fn listed_codes_are_checked_with_expiry_and_revocation() {
        let l = list();
        assert_eq!(l.check(" A-1001 ", NOW), Ok(Granted { code: "A-1001".into() }));
        assert_eq!(l.check("A-1002", NOW), Err(Denied::Revoked));
        assert_eq!(l.check("A-1003", NOW), Err(Denied::Expired));
        assert_eq!(l.check("WRONG", NOW), Err(Denied::Unknown));
        assert_eq!(l.check("", NOW), Err(Denied::Malformed));
    }

    #[test]
    fn secure_ids_need_the_right_secret_and_time() {
        let l = list();
        let exp = NOW / MICROS_PER_SEC + 3600;
        let sid = sign_secure_id("s3cret", "dr-4711", exp);
        assert_eq!(l.check(&sid, NOW).unwrap().code, "dr-4711");
        assert_eq!(l.check(&sign_secure_id("other", "dr-4711", exp), NOW), Err(Denied::BadSignature));
        assert_eq!(l.check(&sign_secure_id("s3cret", "dr-4711", exp - 7200), NOW), Err(Denied::Expired));
        assert_eq!(l.check(&sign_secure_id("s3cret", "sid-revoked", exp), NOW), Err(Denied::Revoked));
        // Tampering with the id or the expiry breaks the signature.
        let forged = sid.replacen("dr-4711", "dr-4712", 1);
        assert_eq!(l.check(&forged, NOW), Err(Denied::BadSignature));
        let without = AccessList::new(vec![], None, &[7; 32]);
        assert_eq!(without.check(&sid, NOW), Err(Denied::NoSecureIdSecret));
    }

    #[test]
    fn the_documented_example_signature() {
        // docs/ACCESS.md shows this value; Python's hmac and Node's crypto print the same.
        assert_eq!(
            sign_secure_id("my-tenant-secret", "dr-4711", 1772467200),
            "dr-4711.1772467200.ff03984ab2257cb6b06e554e030f5eac6daf5037cbf3e1d2a0082f4b56b5c692"
        );
    }

    #[test]
    fn tokens_are_bound_to_content_time_tenant_and_a_live_code() {
        let l = list();
        let g = l.check("A-1001", NOW).unwrap();
        let (token, until) = l.issue_token(&g, "L", NOW, DEFAULT_TOKEN_TTL);
        assert_eq!(until, NOW + DEFAULT_TOKEN_TTL);
        assert!(token.starts_with(SEALED_PREFIX), "{token}");
        assert_eq!(l.verify_token(&token, Some("L"), NOW + 1), Ok(g.clone()));
        assert_eq!(l.verify_token(&token, Some("M"), NOW + 1), Err(Denied::WrongContent));
        assert_eq!(l.verify_token(&token, Some("L"), until), Err(Denied::Expired));
        // Another tenant's key does not verify it.
        let other = AccessList::new(vec![AccessEntry::new("A-1001")], None, &[8; 32]);
        assert_eq!(other.verify_token(&token, Some("L"), NOW), Err(Denied::BadSignature));
        let mut bad = token.clone();
        bad.push('x');
        assert!(l.verify_token(&bad, Some("L"), NOW).is_err());
        // Revoking the code stops its tokens.
        let revoked = AccessList::new(
            vec![AccessEntry {
                revoked_at: Some(NOW + 5),
                ..AccessEntry::new("A-1001")
            }],
            None,
            &[7; 32],
        );
        assert!(revoked.verify_token(&token, Some("L"), NOW + 1).is_ok());
        assert_eq!(revoked.verify_token(&token, Some("L"), NOW + 10), Err(Denied::Revoked));
        assert_eq!(l.resolve(Some(&token), Some("ignored"), Some("L"), NOW).as_deref(), Some("A-1001"));
        assert_eq!(l.resolve(None, Some("WRONG"), Some("L"), NOW), None);
    }

    /// Every way a code could be spelled inside a token.
    fn spellings(text: &str) -> Vec<String> {
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE};
        let b = text.as_bytes();
        let mut out = vec![text.to_string(), text.to_lowercase(), hex::encode(b), hex::encode_upper(b)];
        for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            // A text's base64 inside a longer base64 string depends on its
            // offset; all three offsets, without the edge characters.
            for pad in 0..3 {
                let mut shifted = vec![0u8; pad];
                shifted.extend_from_slice(b);
                let enc = engine.encode(&shifted);
                let skip = (pad * 4).div_ceil(3) + 1;
                if enc.len() > skip + 2 {
                    out.push(enc[skip..enc.len() - 2].to_string());
                }
            }
        }
        out
    }

    #[test]
    fn tokens_reveal_no_code_and_no_content_in_any_encoding() {
        let codes = ["A-1001", "physician-4711", "Ärztin-0815-long-attendee-number"];
        let entries = codes.iter().map(|c| AccessEntry::new(c)).collect();
        let l = AccessList::new(entries, None, &[9; 32]);
        for code in codes {
            let g = l.check(code, NOW).unwrap();
            let (token, _) = l.issue_token(&g, "conference-keynote", NOW, DEFAULT_TOKEN_TTL);
            for spelled in spellings(code).into_iter().chain(spellings("conference-keynote")) {
                assert!(!token.contains(&spelled), "{token} contains {spelled}");
            }
            assert_eq!(l.verify_token(&token, Some("conference-keynote"), NOW + 1), Ok(g));
            // Two tokens of the same grant differ: nothing repeats to correlate.
            let (again, _) = l.issue_token(&l.check(code, NOW).unwrap(), "conference-keynote", NOW, DEFAULT_TOKEN_TTL);
            assert_ne!(token, again);
        }
        // A token with a changed byte does not open.
        let (token, _) = l.issue_token(&l.check("A-1001", NOW).unwrap(), "L", NOW, DEFAULT_TOKEN_TTL);
        let mut bytes = URL_SAFE_NO_PAD.decode(&token[SEALED_PREFIX.len()..]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let forged = format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        assert_eq!(l.verify_token(&forged, Some("L"), NOW), Err(Denied::BadSignature));
    }

    #[test]
    fn tokens_of_the_last_release_still_verify() {
        let l = list();
        let expires = NOW / MICROS_PER_SEC + 3600;
        let payload = format!("{TOKEN_PREFIX}.{}.{}.{expires}", URL_SAFE_NO_PAD.encode("A-1001"), URL_SAFE_NO_PAD.encode("L"));
        let sig = hmac(&l.token_key, &payload).finalize().into_bytes();
        let old = format!("{payload}.{}", URL_SAFE_NO_PAD.encode(&sig[..16]));
        assert_eq!(l.verify_token(&old, Some("L"), NOW).unwrap().code, "A-1001");
    }
}
