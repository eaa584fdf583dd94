//! Who is asking: API keys from headers (or `?key=` for beacons), and which
//! tenant a request is about. A key of tenant A never reaches tenant B: asking
//! for B answers 404, exactly as for a tenant that does not exist.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use streamtally_model::TenantId;
use streamtally_store::{Principal, Role};

use crate::{ApiError, AppState};

tokio::task_local! {
    /// The address of the client whose request this task serves.
    static CLIENT: IpAddr;
}

/// The client's address: the peer, or with `--trust-forwarded-for` the first
/// address of `X-Forwarded-For`.
fn client_ip(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
    if state.config.trust_forwarded_for {
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|ip| ip.trim().parse().ok());
        if let Some(ip) = forwarded {
            return ip;
        }
    }
    peer.ip()
}

/// Serves a request with its client's address known to [`authenticate`], so
/// that failed authentications count against that address on every route.
pub async fn client_scope(State(state): State<AppState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request, next: Next) -> Response {
    let ip = client_ip(&state, request.headers(), peer);
    CLIENT.scope(ip, next.run(request)).await
}

/// The client's address as [`client_scope`] found it, for handlers: worked
/// out once per request.
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(_: &mut axum::http::request::Parts, _: &S) -> Result<Self, ApiError> {
        CLIENT
            .try_with(|ip| ClientIp(*ip))
            .map_err(|_| ApiError::Internal("the client address is known only inside `client_scope`".into()))
    }
}

pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")).map(|s| s.trim().to_string())
}

/// The key of a sender: `X-Ingest-Key`, else `?key=` (beacons cannot set
/// headers), else a bearer token.
pub fn ingest_key(headers: &HeaderMap, query_key: Option<String>) -> Option<String> {
    headers
        .get("x-ingest-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(query_key)
        .or_else(|| bearer(headers))
}

/// Checks a presented key and the role it needs.
pub async fn authenticate(state: &AppState, key: Option<String>, needed: Role) -> Result<Principal, ApiError> {
    let key = key
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::Unauthorized("an API key is required (Authorization: Bearer KEY)".into()))?;
    let meta = state.meta.clone();
    let ip = CLIENT.try_with(|ip| *ip).ok();
    if key.starts_with(crate::dashboard::ACCOUNT_BEARER_PREFIX) {
        // A staff account's dashboard session: valid while both live.
        let account = state.sessions.account_of_bearer(&key);
        let principal = match account {
            Some(id) => meta.account_principal(&id)?,
            None => None,
        };
        let Some(principal) = principal else {
            if let Some(ip) = ip {
                state.abuse.auth_failed(ip);
            }
            return Err(ApiError::Unauthorized("the session has ended; sign in again".into()));
        };
        return with_role(principal, needed);
    }
    // Keys that worked from this address lately pass even while it is over
    // its failure budget: the players of a network beside a guesser.
    let digest = *blake3::hash(key.as_bytes()).as_bytes();
    let principal = match meta.recently_verified(&key) {
        Some(p) => p,
        None => {
            if let Some(ip) = ip.filter(|ip| !state.abuse.trusted(*ip, &digest)) {
                state.abuse.check_auth_ip(ip)?;
            }
            let verified = tokio::task::spawn_blocking(move || meta.verify_key(&key))
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))??;
            match verified {
                Some(p) => p,
                None => {
                    if let Some(ip) = ip {
                        state.abuse.auth_failed(ip);
                    }
                    return Err(ApiError::Unauthorized("the API key is not valid".into()));
                }
            }
        }
    };
    if let Some(ip) = ip {
        state.abuse.trust(ip, digest);
    }
    with_role(principal, needed)
}

/// The principal if its role allows what is `needed`.
fn with_role(principal: Principal, needed: Role) -> Result<Principal, ApiError> {
    if !principal.role.allows(needed) {
        let article = |r: Role| if r == Role::Ingest || r == Role::Admin { "an" } else { "a" };
        return Err(ApiError::Forbidden(format!(
            "{} {} key cannot do this; it needs {} {} key",
            article(principal.role),
            principal.role.as_str(),
            article(needed),
            needed.as_str()
        )));
    }
    Ok(principal)
}

/// The tenant a request is about: the key's own, or for the server
/// administrator the one named by `?tenant=`.
pub fn tenant_of(state: &AppState, principal: &Principal, named: Option<&str>) -> Result<TenantId, ApiError> {
    let meta = &state.meta;
    match (principal.tenant, named) {
        (Some(own), None) => Ok(own),
        (Some(own), Some(name)) => match meta.tenant_by_name(name) {
            Ok(t) if t.id == own => Ok(own),
            _ => Err(ApiError::NotFound(format!("tenant `{name}` does not exist"))),
        },
        (None, Some(name)) => Ok(meta.tenant_by_name(name)?.id),
        (None, None) => Err(ApiError::BadRequest("the administrator key needs ?tenant=NAME".into())),
    }
}
