//! The secrets a stack knows (its credentials, the API keys it was issued, the signatures it
//! sent) and the check, when a passing test drops its stack, that none of them reached a line of
//! any process's log: a log is read by more people, for longer, than any secret should be.
//!
//! What is looked for, per secret: the value itself, and the part of it that is secret on its
//! own where a public part precedes it (an API key past the prefix listings show; a Stripe
//! signature header's `v1` digests). Fragments are never generic (the last N characters, say):
//! the test secrets are patterned (`sk_test_e2e000...`) and would match innocent ids.

use std::{
    collections::BTreeSet,
    fmt::Write as _,
    fs::File,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
};

/// Shorter values are not searched for: they would match by chance.
const MIN_LEN: usize = 12;
/// `bsk_` and the 8 characters after it, which key listings show (`tenancy`'s display prefix).
const API_KEY_DISPLAY_PREFIX: usize = 12;

/// The secrets of one stack. Clones share the set.
#[derive(Debug, Clone, Default)]
pub struct Secrets(Arc<Mutex<BTreeSet<String>>>);

/// A secret found in a log: where, and the line with every secret in it masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: PathBuf,
    /// From 1.
    pub line: usize,
    /// The secret, masked: its first 4 characters and its length.
    pub secret: String,
    pub masked_line: String,
}

impl Secrets {
    /// A value that must never be logged.
    pub fn add(&self, secret: impl Into<String>) {
        let secret = secret.into();
        let secret = secret.trim();
        if secret.len() >= MIN_LEN {
            self.set().insert(secret.to_owned());
        }
    }

    /// An organization API key: the key and its secret part past the displayed prefix.
    pub fn add_api_key(&self, key: &str) {
        self.add(key);
        if let Some(secret_part) = key.get(API_KEY_DISPLAY_PREFIX..) {
            self.add(secret_part);
        }
    }

    /// A signature header as sent: the value, and each digest in a `k=v,...` list (Stripe's
    /// `t=...,v1=...`).
    pub fn add_signature(&self, value: &str) {
        self.add(value);
        for part in value.split(',') {
            if let Some((name, digest)) = part.split_once('=')
                && name.trim() != "t"
            {
                self.add(digest);
            }
        }
    }

    /// Everything searched for, longest first (so a finding names the whole secret).
    pub fn needles(&self) -> Vec<String> {
        let mut needles: Vec<String> = self.set().iter().cloned().collect();
        needles.sort_by_key(|needle| std::cmp::Reverse(needle.len()));
        needles
    }

    fn set(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every line of every `*.log` file in `dir` that holds a secret.
    pub fn scan_dir(&self, dir: &Path) -> Vec<Finding> {
        let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
            .collect();
        logs.sort();
        logs.iter().flat_map(|log| self.scan_file(log)).collect()
    }

    /// Every line of `log` that holds a secret.
    pub fn scan_file(&self, log: &Path) -> Vec<Finding> {
        let needles = self.needles();
        let file = File::open(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let mut findings = Vec::new();
        for (n, line) in BufReader::new(file).split(b'\n').enumerate() {
            let line = line.unwrap_or_else(|e| panic!("{}: {e}", log.display()));
            let line = String::from_utf8_lossy(&line);
            if let Some(secret) = needles.iter().find(|needle| line.contains(needle.as_str())) {
                findings.push(Finding {
                    file: log.to_owned(),
                    line: n + 1,
                    secret: mask(secret),
                    masked_line: masked(&line, &needles),
                });
            }
        }
        findings
    }

    /// Panics, naming each file and line (secrets masked), when a log in `dir` holds a secret.
    pub fn assert_not_logged(&self, dir: &Path) {
        let findings = self.scan_dir(dir);
        if findings.is_empty() {
            return;
        }
        let mut report = format!(
            "{} log line(s) hold a secret (credentials, API keys and signatures must never be \
             logged):\n",
            findings.len()
        );
        for finding in findings.iter().take(20) {
            let _ = writeln!(
                report,
                "  {}:{}: {} in: {}",
                finding.file.display(),
                finding.line,
                finding.secret,
                finding.masked_line
            );
        }
        panic!("{report}");
    }
}

fn mask(secret: &str) -> String {
    let shown: String = secret.chars().take(4).collect();
    format!("`{shown}…` ({} characters)", secret.chars().count())
}

/// The line with every secret replaced, cut to 300 characters.
fn masked(line: &str, needles: &[String]) -> String {
    let mut line = line.to_owned();
    for needle in needles {
        line = line.replace(needle.as_str(), "[SECRET]");
    }
    line.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_secrets_and_their_secret_parts_and_masks_them() {
        let dir = std::env::temp_dir().join(format!("e2e-secrets-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let secrets = Secrets::default();
        let key = "bsk_AbCdEfGh0123456789abcdefghijklmnopqrstuvwxyz0";
        secrets.add_api_key(key);
        secrets.add_signature(
            "t=1700000000,v1=5f0d2c1e4b3a29180716f5e4d3c2b1a0ffeeddccbbaa99887766554433221100",
        );
        secrets.add("short");
        std::fs::write(
            dir.join("api.log"),
            format!(
                "INFO request status=200\nDEBUG key shown as bsk_AbCdEfGh\nWARN auth={}\n",
                &key[12..]
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("worker-1.log"),
            "sig 5f0d2c1e4b3a29180716f5e4d3c2b1a0ffeeddccbbaa99887766554433221100 short\n",
        )
        .unwrap();
        std::fs::write(dir.join("notes.txt"), key).unwrap();

        let findings = secrets.scan_dir(&dir);
        assert_eq!(findings.len(), 2, "{findings:?}");
        assert_eq!(findings[0].line, 3);
        assert!(findings[0].file.ends_with("api.log"));
        assert_eq!(
            findings[0].secret,
            format!("`{}…` ({} characters)", &key[12..16], key.len() - 12)
        );
        assert_eq!(findings[0].masked_line, "WARN auth=[SECRET]");
        assert!(findings[1].file.ends_with("worker-1.log"));
        assert_eq!(findings[1].masked_line, "sig [SECRET] short");
        let report = std::panic::catch_unwind(|| secrets.assert_not_logged(&dir))
            .unwrap_err()
            .downcast::<String>()
            .unwrap();
        assert!(report.contains("api.log:3"), "{report}");
        assert!(!report.contains(&key[12..]), "{report}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
