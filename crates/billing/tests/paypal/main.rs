//! The PayPal adapter on its own: published vectors, a generated certificate chain signing
//! fresh payloads, the certificate rules, the REST calls against a loopback server, the event
//! mapping as reviewed snapshots, and property tests. No network: certificates are injected
//! through a static fetcher, REST goes to wiremock.

mod cert_dir;
mod certs;
mod customer;
mod events;
mod pki;
mod props;
mod rest;
mod secrets;
mod support;
mod vectors;
mod verify_generated;
mod verify_vectors;
