//! The SMTP sink speaks enough SMTP for a client, records what it accepts and refuses on request.

// Marks the helpers below as test code, where unwrap is allowed.
#![cfg(test)]

use testkit::SmtpSink;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};

/// A line-at-a-time SMTP client that checks each reply's code.
struct Client {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Client {
    async fn connect(sink: &SmtpSink) -> Self {
        let stream = TcpStream::connect((sink.host(), sink.port()))
            .await
            .unwrap();
        let (reader, writer) = stream.into_split();
        let mut client = Self {
            reader: BufReader::new(reader),
            writer,
        };
        assert_eq!(client.reply().await, 220);
        client
    }

    /// The code of the next (possibly multi-line) reply.
    async fn reply(&mut self) -> u16 {
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).await.unwrap();
            if line.as_bytes().get(3) != Some(&b'-') {
                return line[..3].parse().unwrap();
            }
        }
    }

    async fn send(&mut self, line: &str) -> u16 {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        self.reply().await
    }
}

#[tokio::test]
async fn records_envelope_and_unstuffed_data_and_forgets_reset_transactions() {
    let sink = SmtpSink::start().await;
    let mut client = Client::connect(&sink).await;
    assert_eq!(client.send("EHLO test").await, 250);
    assert_eq!(client.send("MAIL FROM:<dropped@example.com>").await, 250);
    assert_eq!(client.send("RSET").await, 250);
    assert_eq!(client.send("DATA").await, 503);
    assert_eq!(client.send("NOOP").await, 250);
    assert_eq!(
        client
            .send("mail from:<billing@example.com> BODY=8BITMIME")
            .await,
        250
    );
    assert_eq!(client.send("RCPT TO:<a@example.org>").await, 250);
    assert_eq!(client.send("RCPT TO:<b@example.org>").await, 250);
    assert_eq!(client.send("DATA").await, 354);
    let data =
        "Subject: Hi\r\n\tthere\r\nTo: a@example.org\r\n\r\nline one\r\n..starts with a dot\r\n.";
    assert_eq!(client.send(data).await, 250);
    assert_eq!(client.send("VRFY x").await, 502);
    assert_eq!(client.send("QUIT").await, 221);

    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    let mail = &messages[0];
    assert_eq!(mail.from, "billing@example.com");
    assert_eq!(mail.recipients, ["a@example.org", "b@example.org"]);
    assert_eq!(mail.header("subject").as_deref(), Some("Hi there"));
    assert_eq!(mail.header("To").as_deref(), Some("a@example.org"));
    assert_eq!(mail.header("From"), None);
    assert_eq!(mail.body(), "line one\r\n.starts with a dot");
}

#[tokio::test]
async fn refuses_the_next_transactions_with_the_chosen_codes() {
    let sink = SmtpSink::start().await;
    sink.fail_next(1, 451);
    sink.fail_next(1, 550);
    let mut client = Client::connect(&sink).await;
    assert_eq!(client.send("HELO test").await, 250);
    for expected in [451, 550, 250] {
        assert_eq!(client.send("MAIL FROM:<f@example.com>").await, 250);
        assert_eq!(client.send("RCPT TO:<t@example.com>").await, 250);
        assert_eq!(client.send("DATA").await, 354);
        assert_eq!(client.send("Subject: x\r\n\r\nbody\r\n.").await, expected);
    }
    assert_eq!(sink.refused(), 2);
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn goes_down_cutting_open_sessions_and_comes_back_on_the_same_port() {
    let sink = SmtpSink::start().await;
    let port = sink.port();
    let mut client = Client::connect(&sink).await;
    assert_eq!(client.send("HELO test").await, 250);
    assert_eq!(client.send("MAIL FROM:<f@example.com>").await, 250);
    assert_eq!(client.send("RCPT TO:<t@example.com>").await, 250);
    assert_eq!(client.send("DATA").await, 354);
    assert_eq!(client.send("Subject: x\r\n\r\nbefore\r\n.").await, 250);

    sink.down().await;
    assert!(!sink.is_up());
    // The open session is cut: the next read finds the end of the stream.
    client.writer.write_all(b"NOOP\r\n").await.ok();
    let mut line = String::new();
    assert_eq!(client.reader.read_line(&mut line).await.unwrap_or(0), 0);
    assert!(
        TcpStream::connect((sink.host(), port)).await.is_err(),
        "the port still accepts connections"
    );

    sink.up().await;
    assert_eq!(sink.port(), port);
    let mut client = Client::connect(&sink).await;
    assert_eq!(client.send("HELO test").await, 250);
    assert_eq!(client.send("MAIL FROM:<f@example.com>").await, 250);
    assert_eq!(client.send("RCPT TO:<t@example.com>").await, 250);
    assert_eq!(client.send("DATA").await, 354);
    assert_eq!(client.send("Subject: y\r\n\r\nafter\r\n.").await, 250);
    let bodies: Vec<String> = sink
        .messages()
        .iter()
        .map(|m| m.body().to_owned())
        .collect();
    assert_eq!(bodies, ["before", "after"]);
}
