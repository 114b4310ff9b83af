//! The checks every other test leans on can fail: a refusal or a replay that wrote anything is
//! caught, so "changed nothing" is never vacuously true.

use crate::common::{TestApp, created, key};

#[tokio::test]
#[should_panic(expected = "but wrote")]
async fn a_refusal_that_wrote_is_caught() {
    let (app, org) = TestApp::funded("10.00").await;
    app.refused(
        async {
            app.fund(&org.id, "1.00").await;
            app.debit(&org, Some(&key()), "100.00").await
        },
        422,
        "INSUFFICIENT_FUNDS",
    )
    .await;
}

#[tokio::test]
#[should_panic(expected = "a replay wrote")]
async fn a_replay_that_wrote_is_caught() {
    let (app, org) = TestApp::funded("10.00").await;
    let first = created(app.debit(&org, Some("k"), "1.00").await).await;
    app.replayed(
        async {
            app.open_hold(&org, "x", "1.00").await;
            app.debit(&org, Some("k"), "1.00").await
        },
        &first,
    )
    .await;
}
