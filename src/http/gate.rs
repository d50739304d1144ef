//! The gates of the Messages API (§3), in one middleware layer: after authentication it
//! resolves the resource of the path, checks the id (422), existence (404), access to its
//! property (401), the Messages app (403) and the OTA (422 `not_supported`), and hands the
//! resource to the handler as [`Gated`]. Handlers never repeat a gate.
//!
//! The message routes (`/message_threads/{id}/messages`, `/bookings/{id}/messages`) read their
//! resource in the statement that does their work, so that a request is one round trip: there
//! the layer checks only the id and hands the handler a [`Deferred`] gate; the handler's
//! statement answers what the gates need, and the handler applies them in the same order
//! ([`Deferred::check_thread`], [`Deferred::check_booking`]). When the handler fails before
//! its statement (a bad parameter, a bad body), it runs [`Deferred::thread`] or
//! [`Deferred::booking`] first, so that a failing gate still answers before the request's own
//! error.

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use uuid::Uuid;

use crate::AppState;
use crate::db;
use crate::error::ApiError;
use crate::http::auth::Principal;
use crate::http::deadline::Clock;
use crate::http::path::Id;
use crate::ota::Provider;

/// The resource a gate let through.
#[derive(Debug, Clone)]
pub struct Gated<T>(pub T);

impl<S: Send + Sync, T: Clone + Send + Sync + 'static> FromRequestParts<S> for Gated<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .remove::<Gated<T>>()
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("route without its gate")))
    }
}

/// Gates 4 and 5: the key sees the property (else 401), which has the Messages app (else 403).
pub fn check_property(
    principal: &Principal,
    owner: Uuid,
    property_id: Uuid,
    messages_app: bool,
) -> Result<(), ApiError> {
    if !principal.can_see(owner, property_id) {
        Err(ApiError::Unauthorized)
    } else if !messages_app {
        Err(ApiError::Forbidden)
    } else {
        Ok(())
    }
}

/// The properties named by `filter[property_id]`: each visible (else 401) with the app (else 403).
pub async fn checked_properties(
    state: &AppState,
    principal: &Principal,
    mut ids: Vec<uuid::Uuid>,
) -> Result<Vec<uuid::Uuid>, ApiError> {
    ids.sort_unstable();
    ids.dedup();
    let found = db::applications::properties_with_app(&state.db, &ids).await?;
    if found.len() != ids.len()
        || found
            .iter()
            .any(|(id, owner, _)| !principal.can_see(*owner, *id))
    {
        return Err(ApiError::Unauthorized);
    }
    if found.iter().any(|(_, _, app)| !app) {
        return Err(ApiError::Forbidden);
    }
    Ok(ids)
}

/// Gate 6: the thread's OTA has messaging, and `no_reply_needed` is Booking.com's only.
pub fn check_thread_endpoint(provider: &str, matched_path: &str) -> Result<Provider, ApiError> {
    let provider = Provider::parse(provider).ok_or(ApiError::NotSupported)?;
    if matched_path.ends_with("/no_reply_needed") && !provider.supports_no_reply_needed() {
        return Err(ApiError::NotSupported);
    }
    Ok(provider)
}

async fn resolve(parts: &mut Parts, state: &AppState) -> Result<(Principal, Uuid), ApiError> {
    let principal = parts
        .extensions
        .get::<Principal>()
        .cloned()
        .ok_or(ApiError::Unauthorized)?;
    let Id(id) = Id::from_request_parts(parts, state).await?;
    Ok((principal, id))
}

/// `POST /attachments`: the key sees at least one property with the Messages app (else 403),
/// checked before the body is read.
pub async fn upload_gate(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let principal = req
        .extensions()
        .get::<Principal>()
        .ok_or(ApiError::Unauthorized)?;
    if db::applications::messaging_properties(&state.db, principal)
        .await?
        .is_empty()
    {
        return Err(ApiError::Forbidden);
    }
    Ok(next.run(req).await)
}

/// Hands the gated resource to the handler and runs it.
async fn forward<T: Clone + Send + Sync + 'static>(
    mut parts: Parts,
    body: axum::body::Body,
    next: Next,
    resource: T,
) -> Response {
    parts.extensions.insert(Gated(resource));
    next.run(Request::from_parts(parts, body)).await
}

/// A gate the handler applies itself, to what its own statement read (see the module
/// documentation): the checked id, the principal and the route.
#[derive(Debug, Clone)]
pub struct Deferred {
    pub id: Uuid,
    pub principal: Principal,
    pub matched_path: String,
    /// The request's clock (`REQUEST_TIMEOUT`), when it has one.
    pub clock: Option<Clock>,
}

impl<S: Send + Sync> FromRequestParts<S> for Deferred {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .remove::<Deferred>()
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("route without its gate")))
    }
}

/// What the gates of a thread need to know of it.
#[derive(Debug, Clone, Copy)]
pub struct ThreadGate<'a> {
    pub owner_id: Uuid,
    pub property_id: Uuid,
    pub messages_app: bool,
    pub provider: &'a str,
}

/// What the gates of a booking need to know of it.
#[derive(Debug, Clone, Copy)]
pub struct BookingGate<'a> {
    pub owner_id: Uuid,
    pub property_id: Uuid,
    pub messages_app: bool,
    pub ota_name: &'a str,
}

impl Deferred {
    /// Gates 3 to 6 of a thread (`None`: no such thread).
    pub fn check_thread(&self, thread: Option<ThreadGate<'_>>) -> Result<Provider, ApiError> {
        let thread = thread.ok_or(ApiError::NotFound)?;
        check_property(
            &self.principal,
            thread.owner_id,
            thread.property_id,
            thread.messages_app,
        )?;
        check_thread_endpoint(thread.provider, &self.matched_path)
    }

    /// Gates 3 to 6 of a booking (`None`: no such booking).
    pub fn check_booking(&self, booking: Option<BookingGate<'_>>) -> Result<Provider, ApiError> {
        let booking = booking.ok_or(ApiError::NotFound)?;
        check_property(
            &self.principal,
            booking.owner_id,
            booking.property_id,
            booking.messages_app,
        )?;
        Provider::for_ota(booking.ota_name).ok_or(ApiError::NotSupported)
    }

    /// The gates of a thread on their own (one statement), for a request that fails before
    /// its own statement: `Err` with the first gate that fails.
    pub async fn thread(&self, state: &AppState) -> Result<(), ApiError> {
        let thread = db::threads::get(&state.db, self.id).await?;
        self.check_thread(thread.as_ref().map(|t| ThreadGate {
            owner_id: t.owner_id,
            property_id: t.property_id,
            messages_app: t.messages_app,
            provider: &t.provider,
        }))?;
        Ok(())
    }

    /// The gates of a booking on their own, as [`Deferred::thread`].
    pub async fn booking(&self, state: &AppState) -> Result<(), ApiError> {
        let booking = db::bookings::get(&state.db, self.id).await?;
        self.check_booking(booking.as_ref().map(|b| BookingGate {
            owner_id: b.owner_id,
            property_id: b.property_id,
            messages_app: b.messages_app,
            ota_name: &b.ota_name,
        }))?;
        Ok(())
    }
}

fn matched_path(parts: &Parts) -> String {
    parts
        .extensions
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default()
}

/// Hands the handler a [`Deferred`] gate and runs it.
async fn defer(
    mut parts: Parts,
    body: axum::body::Body,
    next: Next,
    principal: Principal,
    id: Uuid,
) -> Response {
    let matched_path = matched_path(&parts);
    let clock = parts.extensions.get::<Clock>().cloned();
    parts.extensions.insert(Deferred {
        id,
        principal,
        matched_path,
        clock,
    });
    next.run(Request::from_parts(parts, body)).await
}

/// `/message_threads/{id}/...`
pub async fn thread_gate(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    let (principal, id) = resolve(&mut parts, &state).await?;
    if matched_path(&parts).ends_with("/messages") {
        return Ok(defer(parts, body, next, principal, id).await);
    }
    let thread = db::threads::get(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    check_property(
        &principal,
        thread.owner_id,
        thread.property_id,
        thread.messages_app,
    )?;
    check_thread_endpoint(&thread.provider, &matched_path(&parts))?;
    Ok(forward(parts, body, next, thread).await)
}

/// `/bookings/{id}/messages`: the handlers apply the gates (see [`Deferred`]).
pub async fn booking_gate(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    let (principal, id) = resolve(&mut parts, &state).await?;
    Ok(defer(parts, body, next, principal, id).await)
}

/// `/attachments/{id}[/{file_name}]`: the key that uploaded it, or a key that sees the thread
/// holding the attachment (whose property must have the Messages app). Reads the attachment's
/// description only: no byte is read for a refused request.
pub async fn attachment_gate(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    let (principal, id) = resolve(&mut parts, &state).await?;
    let download = db::attachments::get_download(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    match (download.owner_id, download.property_id) {
        // In a message: whoever sees its thread, and nobody else (another key of the uploader
        // limited to other properties included).
        (Some(owner), Some(property_id)) => check_property(
            &principal,
            owner,
            property_id,
            download.messages_app.unwrap_or(false),
        )?,
        // Not sent yet: the credential that uploaded it, not the user's other keys.
        _ if download.attachment.uploader_key_id == Some(principal.key_id) => {}
        _ => return Err(ApiError::Unauthorized),
    }
    Ok(forward(parts, body, next, download).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::auth::Scope;

    #[test]
    fn property_gates_come_in_the_contracts_order() {
        let user = Uuid::new_v4();
        let property = Uuid::new_v4();
        let principal = Principal {
            key_id: Uuid::new_v4(),
            user_id: user,
            scope: Scope::All,
            messages_app_everywhere: true,
        };
        let cases = [
            (user, true, Ok(())),
            (user, false, Err(403)),
            (Uuid::new_v4(), true, Err(401)),
            // Access is checked before the app: another user's property without the app is a 401.
            (Uuid::new_v4(), false, Err(401)),
        ];
        for (owner, app, expected) in cases {
            let got =
                check_property(&principal, owner, property, app).map_err(|e| e.status().as_u16());
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn no_reply_needed_is_for_booking_com_threads_only() {
        let path = "/api/v1/message_threads/{id}/no_reply_needed";
        assert!(check_thread_endpoint("BookingCom", path).is_ok());
        assert!(matches!(
            check_thread_endpoint("AirBNB", path),
            Err(ApiError::NotSupported)
        ));
        assert!(check_thread_endpoint("AirBNB", "/api/v1/message_threads/{id}/messages").is_ok());
        assert!(matches!(
            check_thread_endpoint("Expedia", "/x"),
            Err(ApiError::NotSupported)
        ));
    }
}
