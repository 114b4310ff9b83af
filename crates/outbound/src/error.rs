//! Errors of the outbound layer. None carries a header value, a body or a URL's query: the
//! texts are our own words or reqwest's without the URL.

/// A call that got no answer, or could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// The client or the request cannot be built (a base URL that does not parse, a header
    /// value that cannot be sent).
    #[error("outbound configuration: {0}")]
    Config(String),
    /// No answer came back. `connect` is true when the connection itself failed, so the
    /// request certainly never reached the other side.
    #[error("no answer: {message}")]
    Transport { message: String, connect: bool },
}

impl OutboundError {
    pub(crate) fn transport(error: &reqwest::Error) -> Self {
        Self::Transport {
            connect: error.is_connect(),
            // Without the URL: its query may carry customer data. reqwest never puts headers,
            // so never credentials, in its text.
            message: error_text(error),
        }
    }

    /// Whether the request certainly never left this host.
    pub fn is_connect(&self) -> bool {
        matches!(self, Self::Transport { connect: true, .. })
    }
}

/// reqwest's text without the URL, with its sources: the top level alone often says only
/// "error sending request".
fn error_text(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        "exchange failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
