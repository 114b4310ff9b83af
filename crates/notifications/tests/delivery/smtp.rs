//! The SMTP notifier on its own, against the sink.

use std::time::Duration;

use crate::common::*;
use notifications::{EmailAddress, NotificationKind, Notifier, OutgoingEmail, SmtpNotifier};
use outbox::MessageId;
use primitives::OrganizationId;
use testkit::SmtpSink;

fn email(to: &str) -> OutgoingEmail {
    OutgoingEmail {
        to: EmailAddress::parse(to).unwrap(),
        subject: "Payment failed for Acme Ltd".into(),
        text: "Hello,\n\nLine one.\n.A line starting with a dot.\n".into(),
        outbox_id: MessageId::new(),
        kind: NotificationKind::PaymentFailed,
        organization_id: OrganizationId::new(),
    }
}

#[tokio::test]
async fn sends_exactly_the_sender_recipient_subject_body_and_message_id() {
    let sink = SmtpSink::start().await;
    let notifier = SmtpNotifier::new(smtp_config(&sink)).unwrap();
    let email = email("ap@acme.example");
    notifier.deliver(&email).await.unwrap();

    let received = sink.messages();
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert_eq!(mail.from, "billing@example.com");
    assert_eq!(mail.recipients, ["ap@acme.example"]);
    assert_eq!(
        mail.header("From").as_deref(),
        Some("Billing <billing@example.com>")
    );
    assert_eq!(mail.header("To").as_deref(), Some("ap@acme.example"));
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("Payment failed for Acme Ltd")
    );
    assert_eq!(
        mail.header("Message-ID"),
        Some(format!("<{}@example.com>", email.outbox_id))
    );
    assert_eq!(
        mail.header("Content-Type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        mail.body(),
        "Hello,\r\n\r\nLine one.\r\n.A line starting with a dot.\r\n"
    );

    // A resend of the same outbox message carries the same Message-ID.
    notifier.deliver(&email).await.unwrap();
    let again = &sink.messages()[1];
    assert_eq!(again.header("Message-ID"), mail.header("Message-ID"));
}

#[tokio::test]
async fn transient_and_permanent_replies_are_told_apart() {
    let sink = SmtpSink::start().await;
    let notifier = SmtpNotifier::new(smtp_config(&sink)).unwrap();
    for (code, transient) in [
        (451, true),
        (421, true),
        (550, false),
        (554, false),
        (535, true),
    ] {
        sink.fail_next(1, code);
        let error = notifier
            .deliver(&email("ap@acme.example"))
            .await
            .unwrap_err();
        assert_eq!(error.is_transient(), transient, "{code}: {error}");
        assert!(error.message().contains(&code.to_string()), "{error}");
    }
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn an_unreachable_server_is_a_transient_failure() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let sink = SmtpSink::start().await;
    let config = notifications::SmtpConfig {
        port,
        timeout: Duration::from_secs(2),
        ..smtp_config(&sink)
    };
    let error = SmtpNotifier::new(config)
        .unwrap()
        .deliver(&email("ap@acme.example"))
        .await
        .unwrap_err();
    assert!(error.is_transient(), "{error}");
}

/// A server that accepts the connection and never says a word (a hung relay, a black-holing
/// firewall) fails the attempt within the timeout instead of holding the notification pass.
#[tokio::test]
async fn a_server_that_never_answers_fails_the_attempt_within_the_timeout() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut connections = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            connections.push(socket);
        }
    });
    let sink = SmtpSink::start().await;
    let config = notifications::SmtpConfig {
        port,
        timeout: Duration::from_secs(1),
        ..smtp_config(&sink)
    };
    let notifier = SmtpNotifier::new(config).unwrap();
    let email = email("ap@acme.example");
    let delivery = notifier.deliver(&email);
    // The bound under test is 1 s; 20 s only keeps a broken build from hanging the suite.
    let error = tokio::time::timeout(Duration::from_secs(20), delivery)
        .await
        .expect("the delivery was not bounded by its timeout")
        .unwrap_err();
    assert!(error.is_transient(), "{error}");
    assert!(error.to_string().contains("did not finish"), "{error}");
    held.abort();
}
