//! Erasure on several nodes (spec §8). A subject's facts and events are on
//! every node's shard and in every node's engine state, so with shared
//! metadata the node that takes a request records it there first; each node
//! then applies every request it has not applied (`Pipeline::apply_shared_erasures`,
//! every few seconds) and notes it. The user directory is shared: the node
//! that took the request erases the entry once.

use streamtally_model::DeviceKey;
use streamtally_store::Subject;

use crate::{Pipeline, PipelineError};

/// How a subject is kept in a request: a device by its key (never its id).
pub(crate) fn to_record(subject: &Subject) -> (&'static str, String) {
    match subject {
        Subject::UserId(u) => ("user", u.clone()),
        Subject::Device(d) => ("device", d.0.to_string()),
        Subject::AccessCode(c) => ("access_code", c.clone()),
    }
}

fn from_record(kind: &str, value: &str) -> Option<Subject> {
    match kind {
        "user" => Some(Subject::UserId(value.to_string())),
        "device" => value.parse().ok().map(|k| Subject::Device(DeviceKey(k))),
        "access_code" => Some(Subject::AccessCode(value.to_string())),
        _ => None,
    }
}

fn refused(e: streamtally_store::MetaError) -> PipelineError {
    PipelineError::NotDurable(format!("shared erasure requests: {e}"))
}

impl Pipeline {
    /// Erasures are shared through the metadata from now on, this node being
    /// `node` (its `--node` name); for nodes whose metadata is shared.
    pub fn share_erasures(&self, node: &str) {
        let _ = self.erasure_node.set(node.to_string());
    }

    /// Records `subject`'s erasure for the other nodes; the request's number
    /// and this node's name, or `None` when erasures are not shared.
    /// The request stays "in hand" until [`Pipeline::shared_erasure_done`],
    /// so this node's own loop does not apply it a second time meanwhile.
    pub(crate) fn request_shared_erasure(&self, tenant: streamtally_model::TenantId, subject: &Subject) -> Result<Option<(i64, &str)>, PipelineError> {
        let Some(node) = self.erasure_node.get() else { return Ok(None) };
        let (kind, value) = to_record(subject);
        // Held while the request is written, so this node's loop (which holds
        // it while it reads the pending requests) never sees it unclaimed.
        let mut in_hand = self.erasures_in_hand.lock().unwrap_or_else(|p| p.into_inner());
        let id = self.meta.request_erasure(tenant, kind, &value).map_err(refused)?;
        in_hand.insert(id);
        Ok(Some((id, node.as_str())))
    }

    /// This node applied request `id` (`done`), or failed to: then its loop
    /// applies it later, as it does the other nodes' requests.
    pub(crate) fn shared_erasure_done(&self, id: i64, node: &str, done: bool) -> Result<(), PipelineError> {
        let noted = if done { self.meta.erasure_applied(id, node).map_err(refused) } else { Ok(()) };
        self.erasures_in_hand.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        noted
    }

    /// Applies the requests other nodes took that this one has not applied
    /// yet, oldest first; how many.
    pub async fn apply_shared_erasures(&self) -> Result<usize, PipelineError> {
        let Some(node) = self.erasure_node.get() else { return Ok(0) };
        let pending: Vec<_> = {
            let in_hand = self.erasures_in_hand.lock().unwrap_or_else(|p| p.into_inner());
            let pending = self.meta.erasures_pending_on(node).map_err(refused)?;
            pending.into_iter().filter(|r| !in_hand.contains(&r.id)).collect()
        };
        for r in &pending {
            match from_record(&r.kind, &r.value) {
                Some(subject) => {
                    let user = matches!(&subject, Subject::UserId(_)).then(|| r.value.clone());
                    let erased = self.erase_stored(r.tenant, subject).await?;
                    // The shared directory entry too (gone already, unless the
                    // node that took the request failed before erasing it).
                    if let Some(u) = user {
                        self.meta.erase_registered_user(r.tenant, &u).map_err(refused)?;
                    }
                    tracing::info!(request = r.id, tenant = r.tenant, kind = %r.kind, facts = erased.facts, events = erased.events, "applied a shared erasure request");
                }
                None => tracing::warn!(request = r.id, kind = %r.kind, "an erasure request of a kind this release does not know; skipped"),
            }
            self.meta.erasure_applied(r.id, node).map_err(refused)?;
        }
        Ok(pending.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subject_survives_its_record() {
        for subject in [
            Subject::UserId("u 1".into()),
            Subject::Device(DeviceKey(u64::MAX)),
            Subject::AccessCode("A-1".into()),
        ] {
            let (kind, value) = to_record(&subject);
            assert_eq!(from_record(kind, &value), Some(subject));
        }
        assert_eq!(from_record("device", "not a number"), None);
        assert_eq!(from_record("planet", "x"), None);
    }
}
