//! Stripe webhook signatures (Stripe's "verify signatures manually" documentation): the
//! `Stripe-Signature` header `t={timestamp},v1={signature}`, where the signature is the hex
//! HMAC-SHA256 of `"{timestamp}.{raw body}"` keyed by the endpoint secret as written, `whsec_`
//! prefix included.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header Stripe signs with.
pub const STRIPE_SIGNATURE_HEADER: &str = "Stripe-Signature";

/// The hex `v1` signature of `body` sent at `unix_ts`.
pub fn stripe_signature(secret: &str, unix_ts: i64, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(unix_ts.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The `Stripe-Signature` header value Stripe sends with `body` at `unix_ts`:
/// `t={unix_ts},v1={hex}`.
pub fn stripe_signature_header(secret: &str, unix_ts: i64, body: &[u8]) -> String {
    format!("t={unix_ts},v1={}", stripe_signature(secret, unix_ts, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_t_then_v1() {
        let header = stripe_signature_header("whsec_x", 1_700_000_000, b"{}");
        let signature = stripe_signature("whsec_x", 1_700_000_000, b"{}");
        assert_eq!(header, format!("t=1700000000,v1={signature}"));
        assert_eq!(signature.len(), 64);
        // The timestamp is signed: another second is another signature.
        assert_ne!(signature, stripe_signature("whsec_x", 1_700_000_001, b"{}"));
    }
}
