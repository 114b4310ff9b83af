//! What can go wrong building, signing, delivering or replaying a local webhook. Messages name
//! files, URLs and variables, never a secret or a signature.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A certificate or key could not be made or read.
    #[error("certificate: {0}")]
    Certificate(String),
    /// `openssl` is needed once, to make the development signing key (ring cannot generate RSA
    /// keys).
    #[error(
        "`openssl` is needed to create the PayPal development signing key (RSA); install it \
         (Debian: `apt-get install openssl`) and run again: {0}"
    )]
    OpensslMissing(String),
    #[error("`openssl genpkey` failed: {0}")]
    Openssl(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A PayPal certificate URL that a certificate directory cannot hold.
    #[error("certificate URL {url}: {reason}")]
    CertUrl { url: String, reason: &'static str },
    /// The event cannot be built from these parameters.
    #[error("{0}")]
    Invalid(String),
    /// A subaccount's auth token could not be read from Twilio.
    #[error("reading the auth token of {account} from Twilio: {message}")]
    TwilioToken { account: String, message: String },
    /// The receiver (or the admin API) could not be reached.
    #[error("{url}: {message}")]
    Http { url: String, message: String },
    /// The admin API answered something else than expected.
    #[error("{url} answered {status}: {body}")]
    Api {
        url: String,
        status: u16,
        body: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }

    pub(crate) fn certificate(error: impl std::fmt::Display) -> Self {
        Self::Certificate(error.to_string())
    }
}
