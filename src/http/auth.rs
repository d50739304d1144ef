//! Authentication: API keys and chat sessions for `/api/v1` (§2, §12) and the admin token for
//! `/admin` (§9).

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::AppState;
use crate::db;
use crate::error::ApiError;
use crate::http::auth_failures;

/// Prefix of every API key, so that leaked keys are easy to recognise.
const KEY_PREFIX: &str = "oik_";
/// Prefix of chat session tokens (§12): presented like keys, looked up as sessions.
pub const SESSION_PREFIX: &str = "ois_";
/// Prefix of one-time tokens (§12).
pub const ONE_TIME_PREFIX: &str = "ott_";

/// Who is calling: the key's user and the properties the key may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub key_id: Uuid,
    pub user_id: Uuid,
    pub scope: Scope,
    /// Whether every property of the user has the Messages app (read with the key).
    pub messages_app_everywhere: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every property of the user.
    All,
    /// Only these properties (all of them the user's).
    Listed(Vec<Uuid>),
}

impl Principal {
    /// Whether the key may see a property owned by `owner`.
    pub fn can_see(&self, owner: Uuid, property_id: Uuid) -> bool {
        owner == self.user_id
            && match &self.scope {
                Scope::All => true,
                Scope::Listed(ids) => ids.contains(&property_id),
            }
    }

    /// The listed property ids, or `None` for all of the user's: binds as `$n::uuid[]`.
    pub fn listed(&self) -> Option<&[Uuid]> {
        match &self.scope {
            Scope::All => None,
            Scope::Listed(ids) => Some(ids),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or(ApiError::Unauthorized)
    }
}

/// A new random key (256 bits) and its hash; only the hash is stored.
pub fn generate_key() -> (String, [u8; 32]) {
    generate_secret(KEY_PREFIX)
}

/// A new random secret (256 bits) with a prefix, and its hash.
pub fn generate_secret(prefix: &str) -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_secret(&secret);
    (secret, hash)
}

/// SHA-256: right for high-entropy machine secrets (no salt or stretching needed).
pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The key of `user-api-key: <key>` or `Authorization: Bearer <key>`. Ambiguous credentials
/// are refused (`Err`), never resolved by picking one: two `user-api-key` headers, two
/// `Authorization` headers, or both kinds carrying different keys.
fn presented_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let mut user_api_keys = headers.get_all("user-api-key").iter();
    let user_api_key = match (user_api_keys.next(), user_api_keys.next()) {
        (_, Some(_)) => return Err(ApiError::Unauthorized),
        (Some(value), None) => value.to_str().ok().map(str::trim).filter(|k| !k.is_empty()),
        (None, None) => None,
    };
    match (user_api_key, bearer(headers)?) {
        (Some(key), Some(token)) if key != token => Err(ApiError::Unauthorized),
        (Some(key), _) => Ok(Some(key)),
        (None, token) => Ok(token),
    }
}

/// The token of `Authorization: Bearer <token>`; two `Authorization` headers are refused.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = match (values.next(), values.next()) {
        (_, Some(_)) => return Err(ApiError::Unauthorized),
        (Some(value), None) => value,
        (None, None) => return Ok(None),
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .map(|(scheme, token)| (scheme, token.trim()))
        .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.is_empty())
        .map(|(_, token)| token);
    Ok(token)
}

/// The credential a request presented, kept in its extensions (as a hash) so that long-lived
/// responses can check it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    ApiKey([u8; 32]),
    ChatSession([u8; 32]),
}

impl Credential {
    fn of(secret: &str) -> Self {
        if secret.starts_with(SESSION_PREFIX) {
            Credential::ChatSession(hash_secret(secret))
        } else {
            Credential::ApiKey(hash_secret(secret))
        }
    }

    /// The principal of the credential if it is still live (a session is marked used). Keys go
    /// through the principal cache, which follows revocations.
    pub async fn principal(&self, state: &AppState) -> sqlx::Result<Option<Principal>> {
        match self {
            Credential::ApiKey(hash) => {
                state
                    .principals
                    .get_or_load(hash, || db::api_keys::find_principal(&state.db, hash))
                    .await
            }
            // Never cached: each use counts (sliding expiry) and is checked against the clock.
            Credential::ChatSession(hash) => {
                let idle = state.events.config().chat_session_idle.as_secs();
                let idle = i64::try_from(idle).unwrap_or(i64::MAX);
                db::chat_sessions::find_principal(&state.db, hash, idle).await
            }
        }
    }

    /// As [`Credential::principal`], but a key is read from the database whatever the cache
    /// holds: a change was just announced, and the cache may not have heard of it yet.
    pub async fn principal_uncached(&self, state: &AppState) -> sqlx::Result<Option<Principal>> {
        match self {
            Credential::ApiKey(hash) => db::api_keys::find_principal(&state.db, hash).await,
            Credential::ChatSession(_) => self.principal(state).await,
        }
    }
}

/// Middleware for `/api/v1`: resolves the key or chat session to a [`Principal`] or answers 401.
pub async fn require_api_key(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let client = auth_failures::client_addr(&req);
    if let Some(refused) = auth_failures::refusal(&state, client) {
        return Ok(refused);
    }
    let key = presented_key(req.headers())?.ok_or(ApiError::Unauthorized)?;
    let credential = Credential::of(key);
    let Some(principal) = credential.principal(&state).await? else {
        auth_failures::count_failure(&state, client);
        return Err(ApiError::Unauthorized);
    };
    req.extensions_mut().insert(principal);
    req.extensions_mut().insert(credential);
    Ok(next.run(req).await)
}

/// Middleware for the routes a chat session may not use (provisioning, webhooks, minting
/// tokens): a session there is a 401. The chat needs the Messages API, bookings and events only.
pub async fn refuse_chat_sessions(req: Request, next: Next) -> Result<Response, ApiError> {
    match req.extensions().get::<Credential>() {
        Some(Credential::ChatSession(_)) => Err(ApiError::Unauthorized),
        _ => Ok(next.run(req).await),
    }
}

/// Middleware for `/admin`: the bearer token must match `ADMIN_TOKEN` (compared in constant time).
pub async fn require_admin(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let expected = state.admin_token_hash.ok_or(ApiError::NotFound)?;
    require_token(&state, &expected, req, next).await
}

/// Middleware for `GET /metrics`: when `METRICS_TOKEN` is set, the bearer token must match it.
pub async fn require_metrics_token(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    match state.metrics_token_hash {
        Some(expected) => require_token(&state, &expected, req, next).await,
        None => Ok(next.run(req).await),
    }
}

/// The bearer token must hash to `expected`; a wrong one counts as a failed authentication.
async fn require_token(
    state: &AppState,
    expected: &[u8; 32],
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let client = auth_failures::client_addr(&req);
    if let Some(refused) = auth_failures::refusal(state, client) {
        return Ok(refused);
    }
    let presented = bearer(req.headers())?
        .map(hash_secret)
        .ok_or(ApiError::Unauthorized)?;
    if bool::from(presented.ct_eq(expected)) {
        Ok(next.run(req).await)
    } else {
        auth_failures::count_failure(state, client);
        Err(ApiError::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    type Headers = [(&'static str, &'static str)];
    type Found = Result<Option<String>, ()>;

    /// `Ok(Some(key))`, `Ok(None)` or `Err(())` for an ambiguous pair.
    fn key(pairs: &Headers) -> Found {
        presented_key(&headers(pairs))
            .map(|k| k.map(str::to_owned))
            .map_err(|_| ())
    }

    #[test]
    fn keys_come_from_user_api_key_or_bearer() {
        assert_eq!(key(&[("user-api-key", "abc")]), Ok(Some("abc".into())));
        assert_eq!(
            key(&[("authorization", "Bearer abc")]),
            Ok(Some("abc".into()))
        );
        assert_eq!(
            key(&[("authorization", "bearer  abc ")]),
            Ok(Some("abc".into()))
        );
        assert_eq!(key(&[("authorization", "Basic abc")]), Ok(None));
        assert_eq!(key(&[("authorization", "Bearer ")]), Ok(None));
        assert_eq!(key(&[("user-api-key", "")]), Ok(None));
        assert_eq!(key(&[]), Ok(None));
    }

    #[test]
    fn ambiguous_credentials_are_refused() {
        let cases: [(&Headers, Found); 8] = [
            (&[("user-api-key", "a"), ("user-api-key", "b")], Err(())),
            (&[("user-api-key", "a"), ("user-api-key", "a")], Err(())),
            (
                &[("authorization", "Bearer a"), ("authorization", "Bearer b")],
                Err(()),
            ),
            (
                &[("authorization", "Bearer a"), ("authorization", "Basic x")],
                Err(()),
            ),
            (
                &[("user-api-key", "a"), ("authorization", "Bearer b")],
                Err(()),
            ),
            // The same key both ways is one credential.
            (
                &[("user-api-key", "a"), ("authorization", "Bearer a")],
                Ok(Some("a".into())),
            ),
            // Another scheme (a proxy's Basic) carries no API key.
            (
                &[("user-api-key", "a"), ("authorization", "Basic x")],
                Ok(Some("a".into())),
            ),
            (
                &[("user-api-key", ""), ("authorization", "Bearer b")],
                Ok(Some("b".into())),
            ),
        ];
        for (pairs, expected) in cases {
            assert_eq!(key(pairs), expected, "{pairs:?}");
        }
    }

    #[test]
    fn session_tokens_are_told_from_keys_by_their_prefix() {
        let (session, hash) = generate_secret(SESSION_PREFIX);
        assert!(session.starts_with("ois_") && session.len() == 4 + 43);
        assert_eq!(Credential::of(&session), Credential::ChatSession(hash));
        let (key, hash) = generate_key();
        assert_eq!(Credential::of(&key), Credential::ApiKey(hash));
        assert_eq!(
            Credential::of("anything"),
            Credential::ApiKey(hash_secret("anything"))
        );
    }

    #[test]
    fn generated_keys_are_long_random_and_hash_to_what_is_stored() {
        let (a, hash_a) = generate_key();
        let (b, _) = generate_key();
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX) && a.len() == KEY_PREFIX.len() + 43);
        assert_eq!(hash_secret(&a), hash_a);
    }

    #[test]
    fn visibility_depends_on_owner_and_scope() {
        let (user, other, p1, p2) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let all = Principal {
            key_id: Uuid::new_v4(),
            user_id: user,
            scope: Scope::All,
            messages_app_everywhere: true,
        };
        let listed = Principal {
            scope: Scope::Listed(vec![p1]),
            ..all.clone()
        };
        let cases = [
            (&all, user, p1, true),
            (&all, user, p2, true),
            (&all, other, p1, false),
            (&listed, user, p1, true),
            (&listed, user, p2, false),
            (&listed, other, p1, false),
        ];
        for (principal, owner, property, expected) in cases {
            assert_eq!(principal.can_see(owner, property), expected);
        }
    }
}
