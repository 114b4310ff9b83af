//! The OpenAPI document is a contract: any change to it shows up as a diff of the committed
//! snapshot. Run with `UPDATE_SNAPSHOTS=1` to accept a change.

use std::{fs, path::Path};

#[test]
fn openapi_document_matches_the_committed_snapshot() {
    let mut generated = app::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| panic!("the document does not serialize: {e}"));
    generated.push('\n');
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/openapi.json");
    if std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
        fs::write(&path, &generated).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return;
    }
    let committed = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}); run with UPDATE_SNAPSHOTS=1 to create it",
            path.display()
        )
    });
    assert!(
        committed == generated,
        "the OpenAPI document differs from {}; review the change and rerun with \
         UPDATE_SNAPSHOTS=1 to accept it",
        path.display()
    );
}

#[test]
fn operation_ids_are_unique() {
    let document = serde_json::to_value(app::openapi()).unwrap_or_default();
    let mut seen = std::collections::BTreeSet::new();
    let operations = document["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(|path| path.as_object())
        .flat_map(|methods| methods.values());
    for operation in operations {
        let id = operation["operationId"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "an operation without an id: {operation}");
        assert!(seen.insert(id.to_owned()), "operationId {id} is used twice");
    }
    assert!(seen.len() > 30, "{seen:?}");
}

fn document() -> serde_json::Value {
    serde_json::to_value(app::openapi()).unwrap_or_default()
}

/// Every operation with its path, method and the names of its parameters by place.
fn operations(document: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
    let mut operations = Vec::new();
    for (path, methods) in document["paths"].as_object().into_iter().flatten() {
        for (method, operation) in methods.as_object().into_iter().flatten() {
            operations.push((
                format!("{} {path}", method.to_uppercase()),
                operation.clone(),
            ));
        }
    }
    operations
}

fn has_parameter_in(operation: &serde_json::Value, place: &str) -> bool {
    operation["parameters"]
        .as_array()
        .is_some_and(|parameters| parameters.iter().any(|p| p["in"] == place))
}

#[test]
fn every_operation_documents_the_errors_of_its_class() {
    let document = document();
    for (name, operation) in operations(&document) {
        let responses = &operation["responses"];
        let mut expected = vec!["500"];
        if operation["security"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
        {
            expected.extend(["401", "503"]);
        }
        if !operation["requestBody"].is_null() {
            expected.extend(["400", "413", "415", "422"]);
        }
        if has_parameter_in(&operation, "path") {
            expected.push("404");
        }
        if has_parameter_in(&operation, "query") {
            expected.push("422");
        }
        for status in expected {
            assert!(
                !responses[status].is_null(),
                "{name} does not document {status}"
            );
        }
        // An operation's own 422 names the shared codes too.
        if !operation["requestBody"].is_null()
            && let Some(own) = responses["422"]["description"].as_str()
        {
            assert!(own.contains("`BODY_NOT_OBJECT`"), "{name}: {own}");
            assert!(own.contains("`VALIDATION_FAILED`"), "{name}: {own}");
        }
    }
    let shared = &document["components"]["responses"];
    assert!(
        shared["Unavailable"]["headers"]["Retry-After"].is_object(),
        "{shared}"
    );
}

#[test]
fn the_hold_expiry_maximum_is_the_ledgers_limit() {
    let document = document();
    let maximum = &document["components"]["schemas"]["HoldRequest"]["properties"]["expires_in_seconds"]
        ["maximum"];
    assert_eq!(
        maximum.as_i64(),
        Some(ledger::MAX_HOLD_TTL.num_seconds()),
        "HoldRequest.expires_in_seconds maximum is {maximum}"
    );
}

/// The money routes take their reference from the header or the body: one of them is required,
/// and both say so; where the header alone carries it, it is required.
#[test]
fn references_document_which_one_is_required() {
    let document = document();
    for (name, operation) in operations(&document) {
        let key = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|parameter| parameter["name"] == "Idempotency-Key");
        let Some(key) = key else { continue };
        let body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .and_then(|reference| reference.rsplit('/').next())
            .map(|schema| &document["components"]["schemas"][schema]);
        let reference = body.map(|schema| &schema["properties"]["reference"]);
        match reference.filter(|reference| !reference.is_null()) {
            Some(reference) => {
                assert_eq!(key["required"], false, "{name}");
                let description = key["description"].as_str().unwrap_or_default();
                assert!(
                    description.contains("required unless"),
                    "{name}: {description}"
                );
                let description = reference["description"].as_str().unwrap_or_default();
                assert!(
                    description.contains("required unless"),
                    "{name}: {description}"
                );
                assert_eq!(reference["maxLength"], 200, "{name}");
            }
            // The release body is optional, its schema inline; every other header-only key is
            // required.
            None if name.ends_with("/release") => {}
            None => assert_eq!(key["required"], true, "{name}"),
        }
        assert_eq!(key["schema"]["maxLength"], 200, "{name}");
    }
}

/// Text in request bodies is bounded: a length, a pattern, a set of values or a format.
#[test]
fn request_text_fields_are_constrained() {
    let document = document();
    let schemas = &document["components"]["schemas"];
    let mut checked = 0;
    for (name, schema) in schemas.as_object().into_iter().flatten() {
        if !name.ends_with("Request") {
            continue;
        }
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            let types = &property["type"];
            let is_text = types == "string"
                || types
                    .as_array()
                    .is_some_and(|types| types.iter().any(|t| t == "string"));
            if !is_text {
                continue;
            }
            checked += 1;
            let constrained = ["maxLength", "pattern", "enum", "format"]
                .iter()
                .any(|keyword| !property[keyword].is_null());
            assert!(
                constrained,
                "{name}.{field} is unconstrained text: {property}"
            );
        }
    }
    assert!(checked > 30, "{checked}");
}

/// A body must be an object, and only the top level is checked (httpkit's `from_object`):
/// request members are never objects themselves.
#[test]
fn request_bodies_are_flat() {
    let document = document();
    let schemas = &document["components"]["schemas"];
    for (name, schema) in schemas.as_object().into_iter().flatten() {
        if !name.ends_with("Request") {
            continue;
        }
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            let target = property["$ref"]
                .as_str()
                .and_then(|reference| reference.rsplit('/').next())
                .map(|target| &schemas[target]);
            let object = property["type"] == "object"
                || target.is_some_and(|target| target["type"] == "object");
            assert!(!object, "{name}.{field} is an object");
        }
    }
}
