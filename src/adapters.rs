//! The adapter registry: every vendor crate the gateway is built with, one line each. Adding a vendor is its crate
//! under `adapters/`, its line here and its dependency in `Cargo.toml` (see docs/ADDING_A_VENDOR.md); nothing else
//! in `src/` names an adapter.

use gatehouse_kit::Descriptor;

/// Every adapter `adapter = "..."` accepts, in the order `check-config` lists them.
pub const REGISTRY: &[Descriptor] = &[
    gatehouse_acme_crm::DESCRIPTOR,
    gatehouse_stripe::DESCRIPTOR,
    gatehouse_github::DESCRIPTOR,
    gatehouse_shopify::DESCRIPTOR,
    gatehouse_slack::DESCRIPTOR,
    gatehouse_generic::DESCRIPTOR,
    gatehouse_twilio::DESCRIPTOR,
    gatehouse_sendgrid::DESCRIPTOR,
    gatehouse_standard_webhooks::DESCRIPTOR,
];

/// The registry entry for `name`.
pub fn find(name: &str) -> Option<&'static Descriptor> {
    REGISTRY.iter().find(|descriptor| descriptor.name == name)
}

/// Every adapter name, for error messages.
pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|descriptor| descriptor.name).collect()
}
