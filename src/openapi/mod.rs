//! The OpenAPI 3.1 document, generated from the code: each handler carries its
//! `#[utoipa::path]`, and [`crate::routes::router`] registers handlers only through
//! `utoipa_axum::routes!`, so a route and its documentation cannot part. What every route of a
//! kind can answer (the §4 errors of authentication, bodies, path ids, rate limits, timeouts
//! and an unreachable database) is added here, once, by [`complete`].

pub mod params;
pub mod schemas;

use std::sync::Arc;

use axum::Extension;
use axum::extract::Path;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use utoipa::OpenApi;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::{Response as OaResponse, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, SecurityRequirement};

use crate::error::ApiError;

/// The security scheme of API keys (`oik_…`) in the `user-api-key` header.
pub const API_KEY: &str = "user-api-key";
/// `Authorization: Bearer` with a chat session token (`ois_…`) or an API key, on the
/// Messages API, bookings and events.
pub const CHAT_SESSION: &str = "chat-session";
/// `Authorization: Bearer` with the admin token (`ADMIN_TOKEN`), on `/admin`.
pub const ADMIN_TOKEN: &str = "admin-token";
/// `Authorization: Bearer` with `METRICS_TOKEN`, on `/metrics` when one is set.
pub const METRICS_TOKEN: &str = "metrics-token";

/// `/api/v1` routes that take an API key only: a chat session there is a 401.
const KEYS_ONLY: [&str; 3] = [
    "/api/v1/applications",
    "/api/v1/webhooks",
    "/api/v1/auth/one_time_token",
];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ota-inbox",
        description = "A self-hosted guest-messaging server that speaks the Channex.io Messages \
            API (`/api/v1`), with an admin API that plays the OTA side (`/admin`).\n\n\
            Lists take `pagination[page]`, `pagination[limit]`, `order[field]=asc|desc` and \
            `filter[...]` parameters; errors are `{\"errors\": {\"code\", \"title\", \
            \"details\"?}}`.",
        license(name = "MIT OR Apache-2.0")
    ),
    tags(
        (name = "Messages", description = "Channex Messages API: threads and their messages."),
        (name = "Attachments", description = "Files sent with messages."),
        (name = "Properties", description = "Properties and the Messages app."),
        (name = "Bookings", description = "Bookings of the key's properties."),
        (name = "Webhooks", description = "Webhooks and their deliveries."),
        (name = "Events", description = "The event feed and the live stream (SSE)."),
        (name = "Chat", description = "One-time tokens and the embedded chat."),
        (name = "Admin", description = "The OTA side: users, keys, bookings, guests (admin token)."),
        (name = "Console", description = "The OTA console page and its reads (admin token)."),
        (name = "Service", description = "Index, health, readiness, metrics, this document."),
    ),
    components(schemas(schemas::ErrorBody))
)]
pub struct Base;

/// The document of `router`'s routes, completed.
pub fn complete(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let base = Base::openapi();
    doc.info = base.info;
    doc.tags = base.tags;
    let components = doc.components.get_or_insert_with(Default::default);
    if let Some(more) = base.components {
        components.schemas.extend(more.schemas);
    }
    components.add_security_scheme(
        API_KEY,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "user-api-key",
            "An API key (`oik_…`).",
        ))),
    );
    for (name, what) in [
        (
            CHAT_SESSION,
            "A chat session token (`ois_…`, from `/auth/exchange`) or an API key.",
        ),
        (ADMIN_TOKEN, "The admin token (`ADMIN_TOKEN`)."),
        (METRICS_TOKEN, "`METRICS_TOKEN`, when one is set."),
    ] {
        components.add_security_scheme(
            name,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(what))
                    .build(),
            ),
        );
    }
    for (name, response) in error_responses() {
        components
            .responses
            .insert(name.to_owned(), response.into());
    }

    let paths = std::mem::take(&mut doc.paths.paths);
    for (path, mut item) in paths {
        // axum's catch-all `{*path}` is an ordinary parameter in OpenAPI.
        let path = path.replace("{*", "{");
        for_each_operation(&mut item, |method, operation| {
            complete_operation(method, &path, operation)
        });
        doc.paths.paths.insert(path, item);
    }
    doc
}

fn for_each_operation(item: &mut PathItem, mut f: impl FnMut(&str, &mut Operation)) {
    for (method, operation) in [
        ("GET", &mut item.get),
        ("PUT", &mut item.put),
        ("POST", &mut item.post),
        ("DELETE", &mut item.delete),
        ("OPTIONS", &mut item.options),
        ("HEAD", &mut item.head),
        ("PATCH", &mut item.patch),
        ("TRACE", &mut item.trace),
    ] {
        if let Some(operation) = operation {
            f(method, operation);
        }
    }
}

/// What the kind of route can answer besides its own responses.
fn complete_operation(method: &str, path: &str, operation: &mut Operation) {
    let api = path.starts_with("/api/v1/") && path != "/api/v1/openapi.json";
    let admin = path.starts_with("/admin/");
    let has_path_id = path.contains("{id}");
    let has_body = operation.request_body.is_some();
    if api {
        let mut security = vec![SecurityRequirement::new::<_, _, &str>(API_KEY, [])];
        if !KEYS_ONLY.iter().any(|prefix| path.starts_with(prefix)) {
            security.push(SecurityRequirement::new::<_, _, &str>(CHAT_SESSION, []));
        }
        operation.security.get_or_insert(security);
    }
    if admin {
        operation
            .security
            .get_or_insert(vec![SecurityRequirement::new::<_, _, &str>(
                ADMIN_TOKEN,
                [],
            )]);
    }
    let mut add = |status: &str| {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(status)));
    };
    // Every route: the request's head or body too slow (408), the database away or busy (503).
    add("408");
    let exchange = path == "/auth/exchange" && method == "GET";
    if api || admin || path == "/ready" || exchange || path == "/metrics" {
        add("503");
    }
    if api || admin {
        // 401: no or a wrong credential; 429: too many failed authentications from the client
        // (and, on /api/v1, too many requests for the key).
        add("401");
        add("429");
    }
    if admin {
        // No admin token is configured: /admin does not exist.
        add("404");
    }
    if api {
        // 403: the Messages app is not installed on the property.
        add("403");
    }
    if has_path_id {
        add("404");
    }
    // A malformed path id, query parameter or body field.
    if api || admin {
        add("422");
    }
    if has_body {
        add("400");
        add("413");
        add("415");
    }
}

/// The shared error responses, named by their status.
fn error_responses() -> Vec<(&'static str, OaResponse)> {
    let error = |description: &str| {
        ResponseBuilder::new().description(description).content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
    };
    let integer_header = |description: &str| {
        HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(Type::Integer))
            .description(Some(description))
            .build()
    };
    vec![
        ("400", error("`bad_request`: the body is not a JSON object.").build()),
        (
            "401",
            error("`unauthorized`: no credential, a wrong one, or one that may not see this.")
                .build(),
        ),
        (
            "403",
            error("`forbidden`: the Messages app is not installed on the property.").build(),
        ),
        (
            "404",
            error("`not_found`: no such resource (or, on `/admin`, no admin token configured).")
                .build(),
        ),
        ("405", error("`method_not_allowed`.").build()),
        (
            "408",
            error("`request_timeout`: the request's head or body did not arrive in time.")
                .build(),
        ),
        ("413", error("`payload_too_large`: the body is over the limit.").build()),
        (
            "415",
            error("`unsupported_media_type`: the body is not `application/json`.").build(),
        ),
        (
            "422",
            error(
                "`validation_error` (a body field), `bad_request` (a path id or a query \
                 parameter) or `not_supported` (the OTA does not support it); `details` \
                 names each field.",
            )
            .build(),
        ),
        (
            "429",
            error("`http_too_many_requests`: over the key's rate limit, or too many failed authentications from this client.")
                .header("RateLimit-Limit", integer_header("The burst: the most requests at once."))
                .header("RateLimit-Remaining", integer_header("Requests that may still be made at once."))
                .header("RateLimit-Reset", integer_header("Seconds until a request is allowed again."))
                .header("Retry-After", integer_header("Seconds to wait."))
                .build(),
        ),
        (
            "503",
            error("`service_unavailable`: the database cannot be reached, is busy, or the request took too long.")
                .header("Retry-After", integer_header("Seconds to wait."))
                .build(),
        ),
    ]
}

/// The document, shared by `/api/v1/openapi.json` and `/docs`.
#[derive(Clone)]
pub struct Document(pub Arc<String>);

/// GET /api/v1/openapi.json
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "Service",
    responses((status = 200, description = "This document (OpenAPI 3.1).", content_type = "application/json", body = Object))
)]
pub async fn document(Extension(document): Extension<Document>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document.0.as_str().to_owned(),
    )
        .into_response()
}

/// The Swagger UI configuration: the document this server serves.
static SWAGGER: std::sync::LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> =
    std::sync::LazyLock::new(|| {
        Arc::new(
            utoipa_swagger_ui::Config::new(["/api/v1/openapi.json"])
                .try_it_out_enabled(true)
                .persist_authorization(false),
        )
    });

/// GET /docs: Swagger UI, served from the binary (no CDN).
#[utoipa::path(
    get,
    path = "/docs",
    tag = "Service",
    responses((status = 200, description = "The interactive documentation (Swagger UI).", content_type = "text/html", body = String))
)]
pub async fn docs() -> Response {
    match utoipa_swagger_ui::serve("index.html", SWAGGER.clone()) {
        // The page names its files relative to `/docs/`; it is served at `/docs`.
        Ok(Some(file)) => {
            Html(String::from_utf8_lossy(&file.bytes).replace("\"./", "\"/docs/")).into_response()
        }
        _ => ApiError::NotFound.into_response(),
    }
}

/// GET /docs/{file}: the files of Swagger UI.
#[utoipa::path(
    get,
    path = "/docs/{*file}",
    tag = "Service",
    params(("file" = String, Path, description = "A file of Swagger UI, e.g. `swagger-ui.css`.")),
    responses(
        (status = 200, description = "The file.", content(
            (String = "text/css"), (String = "text/javascript"), (String = "text/html"),
            (String = "image/png"), (String = "application/octet-stream"), (String = "application/json")
        )),
        (status = 404, description = "`not_found`: no such file.", body = schemas::ErrorBody),
    )
)]
pub async fn docs_file(Path(file): Path<String>) -> Response {
    match utoipa_swagger_ui::serve(&file, SWAGGER.clone()) {
        Ok(Some(file)) => (
            [
                (header::CONTENT_TYPE, file.content_type),
                (header::CACHE_CONTROL, "public, max-age=3600".to_owned()),
            ],
            file.bytes.into_owned(),
        )
            .into_response(),
        _ => ApiError::NotFound.into_response(),
    }
}
