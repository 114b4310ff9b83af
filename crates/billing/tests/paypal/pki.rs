//! A certificate hierarchy of our own for PayPal verification tests (used by the `paypal` and
//! `contract` test binaries): root CA -> intermediate CA -> RSA leaf named like PayPal's, plus
//! an untrusted root, so fresh payloads can be signed and every refusal reached with a
//! signature that is otherwise valid. The CA keys are generated per run (ECDSA P-256, which ring
//! can generate); the leaf key is RSA (PayPal signs SHA256withRSA and ring cannot generate
//! RSA keys), a test-only key kept in `tests/fixtures/paypal/generated/`.

use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

const LEAF_KEY: &str = include_str!("../fixtures/paypal/generated/leaf_rsa2048.pk8.pem");

/// PayPal's live name for its message-verification leaf.
pub const LEAF_NAME: &str = "messageverificationcerts.paypal.com";

/// Which CA issues a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuedBy {
    /// Our intermediate under our root: trusted when the root is configured.
    Trusted,
    /// An intermediate under a root nobody configures.
    Untrusted,
}

/// What the leaf looks like.
#[derive(Debug, Clone)]
pub struct LeafSpec {
    pub name: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub issued_by: IssuedBy,
    /// Whether the served document carries the intermediate after the leaf.
    pub with_intermediate: bool,
}

impl LeafSpec {
    /// A valid, trusted leaf named like PayPal's, valid from `from` to `until`.
    pub fn valid(from: DateTime<Utc>, until: DateTime<Utc>) -> Self {
        Self {
            name: LEAF_NAME.to_owned(),
            not_before: from,
            not_after: until,
            issued_by: IssuedBy::Trusted,
            with_intermediate: true,
        }
    }
}

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

pub struct Pki {
    root: Ca,
    intermediate: Ca,
    untrusted_intermediate: Ca,
    leaf_key: KeyPair,
    signer: ring::signature::RsaKeyPair,
}

fn ca(name: &str, parent: Option<&Ca>) -> Ca {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Billing Tests");
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(match parent {
        None => BasicConstraints::Unconstrained,
        Some(_) => BasicConstraints::Constrained(0),
    });
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    params.not_after = rcgen::date_time_ymd(2099, 1, 1);
    let key = KeyPair::generate().unwrap_or_else(|e| panic!("CA key: {e}"));
    let issuer = match parent {
        None => CertifiedIssuer::self_signed(params, key),
        Some(parent) => CertifiedIssuer::signed_by(params, key, &parent.issuer),
    }
    .unwrap_or_else(|e| panic!("CA {name}: {e}"));
    Ca { issuer }
}

fn rsa_key(pem: &str) -> (KeyPair, ring::signature::RsaKeyPair) {
    let key = KeyPair::from_pem(pem).unwrap_or_else(|e| panic!("leaf key: {e}"));
    let signer = ring::signature::RsaKeyPair::from_pkcs8(key.serialized_der())
        .unwrap_or_else(|e| panic!("leaf key for ring: {e}"));
    (key, signer)
}

impl Pki {
    /// The one hierarchy of this test process (CA keys are generated once).
    pub fn get() -> &'static Self {
        static PKI: OnceLock<Pki> = OnceLock::new();
        PKI.get_or_init(|| {
            let root = ca("Billing Test Root CA", None);
            let intermediate = ca("Billing Test Intermediate CA", Some(&root));
            let untrusted_root = ca("Untrusted Root CA", None);
            let untrusted_intermediate = ca("Untrusted Intermediate CA", Some(&untrusted_root));
            let (leaf_key, signer) = rsa_key(LEAF_KEY);
            Pki {
                root,
                intermediate,
                untrusted_intermediate,
                leaf_key,
                signer,
            }
        })
    }

    /// Our root, to configure as the trusted root.
    pub fn root_pem(&self) -> String {
        self.root.issuer.pem()
    }

    /// Our intermediate, for configurations that supply it instead of the served document.
    pub fn intermediate_pem(&self) -> String {
        self.intermediate.issuer.pem()
    }

    /// The PEM document a certificate URL serves for `spec`: the leaf, then (usually) its
    /// intermediate.
    pub fn leaf_document(&self, spec: &LeafSpec) -> String {
        let mut params = CertificateParams::new(vec![spec.name.clone()])
            .unwrap_or_else(|e| panic!("leaf name {}: {e}", spec.name));
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Billing Tests");
        dn.push(DnType::CommonName, spec.name.as_str());
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.not_before = rcgen::date_time_ymd(1970, 1, 1) + since_epoch(spec.not_before);
        params.not_after = rcgen::date_time_ymd(1970, 1, 1) + since_epoch(spec.not_after);
        let ca = match spec.issued_by {
            IssuedBy::Trusted => &self.intermediate,
            IssuedBy::Untrusted => &self.untrusted_intermediate,
        };
        let leaf = params
            .signed_by(&self.leaf_key, &ca.issuer)
            .unwrap_or_else(|e| panic!("leaf: {e}"));
        let mut document = leaf.pem();
        if spec.with_intermediate {
            document.push_str(&ca.issuer.pem());
        }
        document
    }

    /// Base64 RSA PKCS#1 v1.5 SHA-256 signature over `message`, as PayPal's header carries it.
    pub fn sign(&self, message: &[u8]) -> String {
        let signer = &self.signer;
        let mut signature = vec![0; signer.public().modulus_len()];
        signer
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                message,
                &mut signature,
            )
            .unwrap_or_else(|e| panic!("signing: {e}"));
        base64::engine::general_purpose::STANDARD.encode(signature)
    }
}

fn since_epoch(time: DateTime<Utc>) -> Duration {
    let secs = u64::try_from(time.timestamp()).unwrap_or_else(|_| panic!("time before 1970"));
    Duration::from_secs(secs)
}
