//! Authentication: API keys for `/api/v1` (§2) and the admin token for `/admin` (§9).

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

/// Who is calling: the key's user and the properties the key may see.
#[derive(Debug, Clone)]
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
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let key = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_secret(&key);
    (key, hash)
}

/// SHA-256: right for high-entropy machine secrets (no salt or stretching needed).
pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The key of `user-api-key: <key>` or `Authorization: Bearer <key>`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get("user-api-key") {
        return value.to_str().ok().map(str::trim).filter(|k| !k.is_empty());
    }
    bearer(headers)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Middleware for `/api/v1`: resolves the key to a [`Principal`] or answers 401.
pub async fn require_api_key(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let client = auth_failures::client_addr(&req);
    if let Some(refused) = auth_failures::refusal(&state, client) {
        return Ok(refused);
    }
    let key = presented_key(req.headers()).ok_or(ApiError::Unauthorized)?;
    let hash = hash_secret(key);
    let Some(principal) = state
        .principals
        .get_or_load(&hash, || db::api_keys::find_principal(&state.db, &hash))
        .await?
    else {
        auth_failures::count_failure(&state, client);
        return Err(ApiError::Unauthorized);
    };
    req.extensions_mut().insert(principal);
    Ok(next.run(req).await)
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
    let presented = bearer(req.headers())
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
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn keys_come_from_user_api_key_or_bearer() {
        assert_eq!(
            presented_key(&headers(&[("user-api-key", "abc")])),
            Some("abc")
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "Bearer abc")])),
            Some("abc")
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "bearer  abc ")])),
            Some("abc")
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "Basic abc")])),
            None
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "Bearer ")])),
            None
        );
        assert_eq!(presented_key(&headers(&[("user-api-key", "")])), None);
        assert_eq!(presented_key(&headers(&[])), None);
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
