//! Development credentials: the public admin token and caller key of the shipped `config/gatehouse.toml` (by their
//! digests), and every literal secret (the default config's webhook secret and vendor credential are literals;
//! shared configs use `env:` or `file:`). `check-config` and start-up warn when any is used on a listener that is
//! not a loopback address.

use std::net::SocketAddr;

use super::Config;

/// SHA-256 of `dev-admin-token`, the admin token the README's walkthrough uses.
const DEV_ADMIN_TOKEN_SHA256: &str = "1734d503f6aa6a047c36d113cbad769f719c93784b469b771c4c3e7c63adbefd";
/// SHA-256 of `dev-caller-key`, the caller key the README's walkthrough uses.
const DEV_CALLER_KEY_SHA256: &str = "680eaa3da1afcffd5f8ff8c1fba606a8798aa59086932f7b68955819b0019e16";

impl Config {
    /// The keys holding development credentials: the published admin token or caller key, or a literal secret.
    pub fn development_credentials(&self) -> Vec<String> {
        let mut keys = Vec::new();
        if let Some(admin) = &self.admin
            && admin.token_sha256.eq_ignore_ascii_case(DEV_ADMIN_TOKEN_SHA256)
        {
            keys.push("admin.token_sha256 (the public \"dev-admin-token\")".to_owned());
        }
        for (i, caller) in self.callers.iter().enumerate() {
            if caller.key_sha256.eq_ignore_ascii_case(DEV_CALLER_KEY_SHA256) {
                keys.push(format!("callers[{i}].key_sha256 (the public \"dev-caller-key\")"));
            }
        }
        keys.extend(self.literal_secrets());
        keys
    }

    /// The listeners (`server.listen`, `server.admin_listen`) reachable from other machines, by key.
    pub fn exposed_listeners(&self) -> Vec<(&'static str, SocketAddr)> {
        let server = &self.server;
        [
            ("server.listen", Some(server.listen)),
            ("server.admin_listen", server.admin_listen),
        ]
        .into_iter()
        .filter_map(|(key, addr)| addr.filter(|a| !a.ip().is_loopback()).map(|a| (key, a)))
        .collect()
    }
}

/// The warning for development credentials on a non-loopback listener, if that is the case.
pub fn exposed_development_credentials(config: &Config) -> Option<String> {
    let credentials = config.development_credentials();
    let exposed = config.exposed_listeners();
    if credentials.is_empty() || exposed.is_empty() {
        return None;
    }
    let listeners: Vec<String> = exposed.iter().map(|(key, addr)| format!("{key} = {addr}")).collect();
    Some(format!(
        "development credentials ({}) are in use while {} is not a loopback address: anyone who has read the \
         default config can use them; replace them with your own (env:/file: secrets, new digests)",
        credentials.join(", "),
        listeners.join(" and "),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::from_toml_str(text).unwrap()
    }

    #[test]
    fn the_published_digests_are_those_of_the_walkthrough_credentials() {
        use sha2::{Digest, Sha256};
        assert_eq!(hex::encode(Sha256::digest(b"dev-admin-token")), DEV_ADMIN_TOKEN_SHA256);
        assert_eq!(hex::encode(Sha256::digest(b"dev-caller-key")), DEV_CALLER_KEY_SHA256);
    }

    #[test]
    fn warns_only_for_development_credentials_on_a_reachable_address() {
        let dev = format!("[admin]\ntoken_sha256 = \"{DEV_ADMIN_TOKEN_SHA256}\"\n");
        let local = config(&format!("[server]\nlisten = \"127.0.0.1:8080\"\n{dev}"));
        assert!(exposed_development_credentials(&local).is_none());
        let public = config(&format!("[server]\nlisten = \"0.0.0.0:8080\"\n{dev}"));
        let warning = exposed_development_credentials(&public).unwrap();
        assert!(warning.contains("admin.token_sha256") && warning.contains("server.listen = 0.0.0.0:8080"));
        let admin_public = config(&format!(
            "[server]\nlisten = \"127.0.0.1:8080\"\nadmin_listen = \"[::]:9090\"\n{dev}"
        ));
        let warning = exposed_development_credentials(&admin_public).unwrap();
        assert!(warning.contains("server.admin_listen = [::]:9090"), "{warning}");
        let own = config("[server]\nlisten = \"0.0.0.0:8080\"\n[providers.stripe.webhook]\nsecrets = [\"env:HOME\"]\n");
        assert!(exposed_development_credentials(&own).is_none());
        let literal =
            config("[server]\nlisten = \"0.0.0.0:8080\"\n[providers.stripe.webhook]\nsecrets = [\"s3cret\"]\n");
        let warning = exposed_development_credentials(&literal).unwrap();
        assert!(warning.contains("providers.stripe.webhook.secrets[0]") && !warning.contains("s3cret"));
    }
}
