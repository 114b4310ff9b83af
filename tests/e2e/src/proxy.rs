//! [`HoldingProxy`]: a loopback HTTP/1.1 proxy between a provider (the test's client) and the
//! webhook receiver, which can hold one exchange in the middle: it forwards the request, then
//! hands the test a [`Held`] exchange (after the receiver answered, with the answer withheld, or
//! as soon as the request is forwarded) and does what the test says: close the provider's
//! connection with no answer, or pass the answer on.
//!
//! That is how a test kills the receiver between its commit and its answer without any hook in
//! the production binary: the answer exists (or is being made) and the provider never sees it,
//! exactly as when the process dies before writing it.
//!
//! Each provider connection carries one request (the upstream request is sent with
//! `Connection: close`, so the receiver's answer ends at its end of stream). Bodies must come
//! with `Content-Length`, as every provider's and reqwest's do.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::oneshot,
    task::JoinHandle,
};

/// When the held exchange is handed to the test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldAt {
    /// Once the receiver's whole answer is read (it is withheld from the provider).
    Answer,
    /// As soon as the request has been forwarded: the receiver is working on it.
    Forwarded,
}

/// What the proxy does with a held exchange.
enum Verdict {
    /// Close the provider's connection without a byte of answer.
    Drop,
    /// Pass the answer on (reading it first, for [`HoldAt::Forwarded`]).
    Forward,
}

struct Armed {
    at: HoldAt,
    held: oneshot::Sender<Held>,
}

/// One exchange the proxy holds.
pub struct Held {
    /// The receiver's answer, read in full: `None` for [`HoldAt::Forwarded`].
    pub answer: Option<Vec<u8>>,
    verdict: oneshot::Sender<Verdict>,
}

impl Held {
    /// The status code of the withheld answer.
    pub fn status(&self) -> Option<u16> {
        let answer = self.answer.as_deref()?;
        let line = answer.split(|b| *b == b'\n').next()?;
        std::str::from_utf8(line)
            .ok()?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    /// The withheld answer's body, as text.
    pub fn body(&self) -> String {
        let answer = self.answer.as_deref().unwrap_or_default();
        let text = String::from_utf8_lossy(answer);
        text.split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default()
    }

    /// The provider's connection is closed with no answer.
    pub fn drop_connection(self) {
        let _ = self.verdict.send(Verdict::Drop);
    }

    /// The answer goes to the provider after all.
    pub fn forward(self) {
        let _ = self.verdict.send(Verdict::Forward);
    }
}

pub struct HoldingProxy {
    addr: SocketAddr,
    armed: Arc<Mutex<Option<Armed>>>,
    server: JoinHandle<()>,
}

impl HoldingProxy {
    /// Listens on a free loopback port and forwards to `upstream` (`http://127.0.0.1:port`).
    pub async fn start(upstream: &str) -> Self {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .unwrap_or_else(|e| panic!("proxy upstream {upstream}: {e}"));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("proxy: bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("proxy: local address: {e}"));
        let armed: Arc<Mutex<Option<Armed>>> = Arc::default();
        let shared = Arc::clone(&armed);
        let server = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(exchange(client, upstream, Arc::clone(&shared)));
            }
        });
        Self {
            addr,
            armed,
            server,
        }
    }

    /// The URL providers are pointed at instead of the receiver's.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next request through the proxy is held at `at`; the receiver yields the exchange
    /// once it is.
    pub fn hold_next(&self, at: HoldAt) -> oneshot::Receiver<Held> {
        let (held, receiver) = oneshot::channel();
        let previous = self
            .armed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(Armed { at, held });
        assert!(
            previous.is_none(),
            "the proxy was already holding the next request"
        );
        receiver
    }
}

impl Drop for HoldingProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// One provider connection: one request, forwarded; the answer passed on or held. Any I/O
/// error ends it, closing the provider's connection with no answer.
async fn exchange(mut client: TcpStream, upstream: SocketAddr, armed: Arc<Mutex<Option<Armed>>>) {
    let Some(request) = read_request(&mut client).await else {
        return;
    };
    let Ok(mut receiver) = TcpStream::connect(upstream).await else {
        return;
    };
    if receiver.write_all(&request).await.is_err() {
        return;
    }
    let hold = armed.lock().unwrap_or_else(PoisonError::into_inner).take();
    let Some(Armed { at, held }) = hold else {
        if let Some(answer) = read_to_end(&mut receiver).await {
            let _ = client.write_all(&answer).await;
        }
        return;
    };
    let answer = match at {
        HoldAt::Answer => match read_to_end(&mut receiver).await {
            Some(answer) => Some(answer),
            None => return,
        },
        HoldAt::Forwarded => None,
    };
    let (verdict, decided) = oneshot::channel();
    let _ = held.send(Held {
        answer: answer.clone(),
        verdict,
    });
    match decided.await {
        Ok(Verdict::Forward) => {
            let answer = match answer {
                Some(answer) => Some(answer),
                None => read_to_end(&mut receiver).await,
            };
            if let Some(answer) = answer {
                let _ = client.write_all(&answer).await;
            }
        }
        // Dropped unanswered: both connections close here.
        Ok(Verdict::Drop) | Err(_) => {}
    }
}

/// The provider's request, with `Connection: close` in place of any connection header;
/// `None` if the connection ends first.
async fn read_request(client: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            break end;
        }
        let mut chunk = [0u8; 8192];
        let read = client.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?.to_owned();
    let mut content_length = 0usize;
    let mut rewritten = vec![request_line];
    for line in lines {
        let (name, value) = line.split_once(':')?;
        if name.eq_ignore_ascii_case("content-length") {
            content_length = value.trim().parse().ok()?;
        }
        assert!(
            !name.eq_ignore_ascii_case("transfer-encoding"),
            "the holding proxy needs a Content-Length body"
        );
        if !name.eq_ignore_ascii_case("connection") {
            rewritten.push(line.to_owned());
        }
    }
    rewritten.push("Connection: close".to_owned());
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < content_length {
        let mut chunk = [0u8; 8192];
        let read = client.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..read]);
    }
    let mut request = rewritten.join("\r\n").into_bytes();
    request.extend_from_slice(b"\r\n\r\n");
    request.extend_from_slice(&body);
    Some(request)
}

/// Everything until the receiver closes; `None` if it sent nothing (it died first).
async fn read_to_end(receiver: &mut TcpStream) -> Option<Vec<u8>> {
    let mut answer = Vec::new();
    let _ = receiver.read_to_end(&mut answer).await;
    (!answer.is_empty()).then_some(answer)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
