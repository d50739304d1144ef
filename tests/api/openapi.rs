//! The OpenAPI document: served without credentials, and in step with the router: every
//! documented operation is routed, and no route can be registered without its documentation.

use axum::http::{Method, StatusCode};
use serde_json::Value;

use crate::support::TestApp;

async fn document(app: &TestApp) -> Value {
    let response = app
        .get("/api/v1/openapi.json")
        .send()
        .await
        .expect_status(StatusCode::OK);
    let content_type = response.headers["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    response.json()
}

/// Every (method, path) of the document.
fn operations(doc: &Value) -> Vec<(Method, String)> {
    let mut out = vec![];
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, _) in item.as_object().expect("path item") {
            if let Ok(method) = method.to_uppercase().parse::<Method>() {
                out.push((method, path.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn the_document_is_openapi_3_1_with_both_kinds_of_credentials() {
    let app = TestApp::new().await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["user-api-key"]["type"], "apiKey");
    assert_eq!(schemes["user-api-key"]["in"], "header");
    assert_eq!(schemes["user-api-key"]["name"], "user-api-key");
    for bearer in ["chat-session", "admin-token"] {
        assert_eq!(schemes[bearer]["type"], "http", "{bearer}");
        assert_eq!(schemes[bearer]["scheme"], "bearer", "{bearer}");
    }

    let threads = &doc["paths"]["/api/v1/message_threads"]["get"];
    let names: Vec<&str> = threads["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "pagination[page]",
        "pagination[limit]",
        "order[inserted_at]",
        "filter[property_id]",
        "filter[provider]",
        "filter[updated_at][gte]",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    for status in ["200", "401", "403", "422", "429", "503"] {
        assert!(
            threads["responses"][status].is_object(),
            "GET /api/v1/message_threads lacks {status}"
        );
    }
    let security: Vec<String> = threads["security"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s.as_object().unwrap().keys().cloned())
        .collect();
    assert_eq!(security, ["user-api-key", "chat-session"]);
    // Webhooks take a key only; /admin the admin token.
    assert_eq!(
        doc["paths"]["/api/v1/webhooks"]["post"]["security"],
        serde_json::json!([{"user-api-key": []}])
    );
    assert_eq!(
        doc["paths"]["/admin/users"]["post"]["security"],
        serde_json::json!([{"admin-token": []}])
    );
    let create = &doc["paths"]["/api/v1/properties"]["post"];
    assert!(create["requestBody"].is_object());
    for status in ["201", "400", "413", "415", "422"] {
        assert!(
            create["responses"][status].is_object(),
            "POST /properties lacks {status}"
        );
    }
    assert_eq!(
        doc["components"]["responses"]["429"]["headers"]["RateLimit-Remaining"]["schema"]["type"],
        "integer"
    );
    // The error body of §4.
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
}

/// The value a test request puts in a path parameter.
fn fill(path: &str) -> String {
    path.replace("{id}", &uuid::Uuid::new_v4().to_string())
        .replace("{file_name}", "photo.jpg")
        .replace("{path}", "chat.js")
        .replace("{file}", "swagger-ui.css")
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let app = TestApp::new().await;
    let doc = document(&app).await;
    let operations = operations(&doc);
    assert!(operations.len() >= 55, "{} operations", operations.len());
    for (method, path) in operations {
        let response = app.request(method.clone(), &fill(&path)).send().await;
        let status = response.status;
        if path.starts_with("/api/v1/") && path != "/api/v1/openapi.json"
            || path.starts_with("/admin/")
        {
            // The credential is checked by a layer of the matched route only: an unknown
            // route would be the fallback's 404 (or 405).
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        } else if method == Method::HEAD {
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        } else {
            assert!(
                status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: {status}"
            );
        }
        let documented = &doc["paths"][&path][method.as_str().to_lowercase()]["responses"];
        assert!(
            documented[status.as_str()].is_object(),
            "{method} {path} answered an undocumented {status}"
        );
    }
    // The checks above can fail: an unknown route is the fallback's 404.
    let unknown = app.get("/api/v1/nowhere").send().await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_are_documented_when_served_on_the_main_port() {
    let app = TestApp::with_state(|mut state| {
        state.metrics_on_main_port = true;
        state
    })
    .await;
    let doc = document(&app).await;
    assert!(doc["paths"]["/metrics"]["get"].is_object());
    let app = TestApp::with_state(|mut state| {
        state.metrics_on_main_port = false;
        state
    })
    .await;
    let doc = document(&app).await;
    assert!(doc["paths"].get("/metrics").is_none());
    assert_eq!(
        app.get("/metrics").send().await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_interactive_docs_are_served_from_the_binary() {
    let app = TestApp::new().await;
    let page = app.get("/docs").send().await.expect_status(StatusCode::OK);
    let html = String::from_utf8(page.body).unwrap();
    assert!(html.contains("/docs/swagger-ui-bundle.js"), "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    let script = app
        .get("/docs/swagger-ui-bundle.js")
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert!(script.body.len() > 100_000);
    let init = app
        .get("/docs/swagger-initializer.js")
        .send()
        .await
        .expect_status(StatusCode::OK);
    assert!(String::from_utf8_lossy(&init.body).contains("/api/v1/openapi.json"));
    app.get("/docs/nothing-here.js")
        .send()
        .await
        .expect_error(404, "not_found");
    let index = app
        .get("/")
        .send()
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(index["links"]["docs"], "/docs");
    assert_eq!(index["links"]["openapi"], "/api/v1/openapi.json");
}

/// Routes are registered with `routes!` (a handler and its `#[utoipa::path]` together): a
/// plain axum route anywhere in the server would be missing from the document.
#[test]
fn no_route_bypasses_the_documented_registration() {
    let mut offenders = vec![];
    let mut stack = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src"
    ))];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let source = std::fs::read_to_string(&path).unwrap();
            // Unit tests build small routers of their own.
            let source = source.split("#[cfg(test)]").next().unwrap_or_default();
            for (n, line) in source.lines().enumerate() {
                // `OpenApiRouter::new()` is the documented way; any other router is not.
                let code = line
                    .split("//")
                    .next()
                    .unwrap_or_default()
                    .replace("OpenApiRouter::new()", "");
                for bypass in [
                    ".route(",
                    ".route_service(",
                    ".nest_service(",
                    ".fallback_service(",
                    "routing::",
                    "Router::new()",
                    "Router::<",
                ] {
                    if code.contains(bypass) {
                        offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "routes registered without their documentation (use OpenApiRouter::routes(routes!(..))):\n{}",
        offenders.join("\n")
    );
}
