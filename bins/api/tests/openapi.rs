//! The OpenAPI document is a contract: any change to it shows up as a diff of the committed
//! snapshot. Run with `UPDATE_SNAPSHOTS=1` to accept a change.

use std::{fs, path::Path};

#[test]
fn openapi_document_matches_the_committed_snapshot() {
    let mut generated = api::openapi()
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
    let document = serde_json::to_value(api::openapi()).unwrap_or_default();
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
