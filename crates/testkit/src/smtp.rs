//! [`SmtpSink`]: a tiny SMTP server on loopback that records what it receives, for testing mail
//! delivery without a real server. It speaks just enough SMTP for a client: EHLO/HELO, MAIL FROM,
//! RCPT TO, DATA (dot-unstuffed), RSET, NOOP, QUIT; no TLS, no AUTH.
//!
//! ```no_run
//! # async fn example() {
//! let sink = testkit::SmtpSink::start().await;
//! sink.fail_next(1, 451); // the next transaction is refused with "451 ..."
//! // ... point the mailer at sink.host():sink.port() ...
//! let mail = &sink.messages()[0];
//! sink.down().await; // the port refuses connections, open sessions are cut
//! sink.up().await; // listening again on the same port
//! # }
//! ```

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    task::{JoinHandle, JoinSet},
};

/// One accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`), without angle brackets.
    pub from: String,
    /// The envelope recipients (`RCPT TO`), without angle brackets.
    pub recipients: Vec<String>,
    /// The message as sent after `DATA`, dot-unstuffed, lines joined by CRLF.
    pub data: String,
}

impl ReceivedMail {
    /// The first header of that name (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let (head, _) = self.split();
        let mut lines = head.split("\r\n").peekable();
        while let Some(line) = lines.next() {
            let Some((field, value)) = line.split_once(':') else {
                continue;
            };
            if field.eq_ignore_ascii_case(name) {
                let mut value = value.trim().to_owned();
                while let Some(folded) = lines.next_if(|l| l.starts_with([' ', '\t'])) {
                    value.push(' ');
                    value.push_str(folded.trim());
                }
                return Some(value);
            }
        }
        None
    }

    /// What follows the blank line after the headers.
    pub fn body(&self) -> &str {
        self.split().1
    }

    fn split(&self) -> (&str, &str) {
        self.data.split_once("\r\n\r\n").unwrap_or((&self.data, ""))
    }
}

#[derive(Debug, Default)]
struct State {
    messages: Vec<ReceivedMail>,
    /// Reply codes for the next transactions, used up one per `DATA`.
    failures: Vec<u16>,
    refused: usize,
}

/// A running sink; stops when dropped.
#[derive(Debug)]
pub struct SmtpSink {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    /// The accept loop, which owns the listener and every session; `None` while down.
    server: Mutex<Option<JoinHandle<()>>>,
}

impl SmtpSink {
    /// Listens on `127.0.0.1` on a free port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("testkit: SMTP sink could not bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("testkit: SMTP sink has no address: {e}"));
        let state = Arc::new(Mutex::new(State::default()));
        let server = serve_on(listener, Arc::clone(&state));
        Self {
            addr,
            state,
            server: Mutex::new(Some(server)),
        }
    }

    /// Goes down like a crashed server: the port refuses connections and every open session
    /// is cut mid-conversation (a client's pooled connection included). Returns once the port
    /// is closed.
    pub async fn down(&self) {
        let server = self
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(server) = server {
            server.abort();
            // Cancelled: the listener and the sessions are dropped by now.
            let _ = server.await;
        }
    }

    /// Comes back up on the same port (after [`SmtpSink::down`]), with what it recorded.
    pub async fn up(&self) {
        if self.is_up() {
            return;
        }
        let listener = TcpListener::bind(self.addr).await.unwrap_or_else(|e| {
            panic!("testkit: SMTP sink could not bind {} again: {e}", self.addr)
        });
        let server = serve_on(listener, Arc::clone(&self.state));
        *self.server.lock().unwrap_or_else(PoisonError::into_inner) = Some(server);
    }

    /// Whether it is listening.
    pub fn is_up(&self) -> bool {
        self.server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    pub fn host(&self) -> String {
        self.addr.ip().to_string()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The messages accepted so far, in order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.lock().messages.clone()
    }

    /// Refuses the next `transactions` messages at the end of `DATA` with `code` (e.g. 451 for
    /// a transient failure, 550 for a permanent one); they are not recorded.
    pub fn fail_next(&self, transactions: usize, code: u16) {
        self.lock()
            .failures
            .extend(std::iter::repeat_n(code, transactions));
    }

    /// How many messages were refused on request so far.
    pub fn refused(&self) -> usize {
        self.lock().refused
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(server) = self
            .server
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            server.abort();
        }
    }
}

/// The accept loop. Sessions live in its `JoinSet`, so ending the loop ends them too.
fn serve_on(listener: TcpListener, state: Arc<Mutex<State>>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut sessions = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        sessions.spawn(serve(stream, Arc::clone(&state)));
                    }
                    Err(_) => return,
                },
                Some(_) = sessions.join_next() => {}
            }
        }
    })
}

/// One client connection. Any I/O error just ends it, like a real server hanging up.
async fn serve(stream: TcpStream, state: Arc<Mutex<State>>) {
    let _ = session(stream, &state).await;
}

async fn session(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut envelope: Option<(String, Vec<String>)> = None;
    writer.write_all(b"220 testkit SMTP sink\r\n").await?;
    loop {
        let Some(line) = read_line(&mut reader).await? else {
            return Ok(());
        };
        let verb = line.get(..4).unwrap_or(&line).to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "EHLO" => "250-testkit\r\n250-8BITMIME\r\n250 SMTPUTF8".into(),
            "HELO" => "250 testkit".into(),
            "MAIL" => match address_after(&line, "MAIL FROM:") {
                Some(from) => {
                    envelope = Some((from, Vec::new()));
                    "250 OK".into()
                }
                None => "501 Syntax: MAIL FROM:<address>".into(),
            },
            "RCPT" => match (&mut envelope, address_after(&line, "RCPT TO:")) {
                (Some((_, recipients)), Some(to)) => {
                    recipients.push(to);
                    "250 OK".into()
                }
                (None, _) => "503 MAIL first".into(),
                (_, None) => "501 Syntax: RCPT TO:<address>".into(),
            },
            "DATA" => match envelope.take() {
                Some((from, recipients)) if !recipients.is_empty() => {
                    writer
                        .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let Some(data) = read_data(&mut reader).await? else {
                        return Ok(());
                    };
                    accept(state, from, recipients, data)
                }
                _ => "503 RCPT first".into(),
            },
            "RSET" => {
                envelope = None;
                "250 OK".into()
            }
            "NOOP" => "250 OK".into(),
            "QUIT" => {
                writer.write_all(b"221 Bye\r\n").await?;
                return Ok(());
            }
            _ => "502 Command not implemented".into(),
        };
        writer.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}

/// Records the message, or refuses it if a failure was requested; returns the reply.
fn accept(state: &Mutex<State>, from: String, recipients: Vec<String>, data: String) -> String {
    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    if !state.failures.is_empty() {
        let code = state.failures.remove(0);
        state.refused += 1;
        return format!("{code} testkit refuses this message as asked");
    }
    state.messages.push(ReceivedMail {
        from,
        recipients,
        data,
    });
    "250 OK queued".into()
}

/// `<address>` after a case-insensitive prefix, ignoring any ESMTP parameters.
fn address_after(line: &str, prefix: &str) -> Option<String> {
    let head = line.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = line[prefix.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_owned())
}

/// One line without its CRLF (or bare LF); `None` at end of stream.
async fn read_line<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> std::io::Result<Option<String>> {
    let mut bytes = Vec::new();
    if reader.read_until(b'\n', &mut bytes).await? == 0 {
        return Ok(None);
    }
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// The lines after `DATA` up to the lone `.`, with the client's dot-stuffing undone.
async fn read_data<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> std::io::Result<Option<String>> {
    let mut lines = Vec::new();
    loop {
        let Some(line) = read_line(reader).await? else {
            return Ok(None);
        };
        if line == "." {
            return Ok(Some(lines.join("\r\n")));
        }
        lines.push(line.strip_prefix('.').map(str::to_owned).unwrap_or(line));
    }
}
