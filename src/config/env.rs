//! Environment overrides: `GATEHOUSE__SECTION__KEY` (double underscores nest, names are case-insensitive).
//!
//! Variable names cannot hold `-`, so a provider's name in `GATEHOUSE__PROVIDERS__<NAME>__...` is matched against
//! the providers of the file with `-` and `_` alike: `GATEHOUSE__PROVIDERS__ACME_CRM__BASE_URL` sets
//! `providers.acme-crm.base_url` when the file has `acme-crm`. A name that matches two providers of the file
//! (`acme-crm` and `acme_crm`) is refused; one that matches none adds a provider under the name as written
//! (lower case, underscores).

use std::collections::{BTreeMap, BTreeSet};

use figment::providers::Env;
use figment::value::Uncased;

use super::ConfigError;

/// The prefix of every override.
pub const PREFIX: &str = "GATEHOUSE__";

/// The override provider, with provider names resolved against `file_providers` (the provider names of the file).
pub fn overrides(file_providers: &BTreeSet<String>) -> Result<Env, ConfigError> {
    let names = provider_names(
        file_providers,
        std::env::vars_os().map(|(k, _)| k.to_string_lossy().into_owned()),
    )?;
    Ok(Env::prefixed(PREFIX).split("__").map(move |key| {
        let lower = key.as_str().to_ascii_lowercase();
        let mut segments = lower.splitn(3, '.');
        match (segments.next(), segments.next(), segments.next()) {
            (Some("providers"), Some(name), rest) => match names.get(name) {
                Some(provider) => {
                    let rest = rest.map(|r| format!(".{r}")).unwrap_or_default();
                    Uncased::from_owned(format!("providers.{provider}{rest}"))
                }
                None => key.into(),
            },
            _ => key.into(),
        }
    }))
}

/// For each provider name used in a `GATEHOUSE__PROVIDERS__<NAME>__…` variable (lower case), the provider of the file
/// it means, when that differs; an error when it could mean two.
fn provider_names(
    file_providers: &BTreeSet<String>,
    variables: impl Iterator<Item = String>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let fold = |name: &str| name.to_ascii_lowercase().replace('-', "_");
    let mut names = BTreeMap::new();
    for variable in variables {
        let Some(rest) = strip_prefix_ignore_case(&variable, PREFIX) else {
            continue;
        };
        let Some(rest) = strip_prefix_ignore_case(rest, "PROVIDERS__") else {
            continue;
        };
        let written = rest.split("__").next().unwrap_or_default().to_ascii_lowercase();
        let matches: Vec<&String> = file_providers.iter().filter(|p| fold(p) == fold(&written)).collect();
        match matches.as_slice() {
            [] => {}
            [provider] => {
                names.insert(written, (*provider).clone());
            }
            several => {
                let several: Vec<&str> = several.iter().map(|p| p.as_str()).collect();
                return Err(ConfigError::invalid(
                    format!("providers.{written}"),
                    format!(
                        "{variable} could mean any of the providers {}: rename one of them, '-' and '_' look \
                         alike in environment variable names",
                        several.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(names)
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(file: &[&str], variables: &[&str]) -> Result<BTreeMap<String, String>, ConfigError> {
        let file = file.iter().map(|p| (*p).to_owned()).collect();
        provider_names(&file, variables.iter().map(|v| (*v).to_owned()))
    }

    #[test]
    fn underscores_reach_hyphenated_providers_of_the_file() {
        let names = resolve(
            &["acme-crm", "stripe", "my_vendor"],
            &[
                "GATEHOUSE__PROVIDERS__ACME_CRM__BASE_URL",
                "gatehouse__providers__my_vendor__timeout",
                "GATEHOUSE__PROVIDERS__NEW_ONE__ADAPTER",
                "GATEHOUSE__SERVER__LISTEN",
                "PATH",
            ],
        )
        .unwrap();
        assert_eq!(names.get("acme_crm").map(String::as_str), Some("acme-crm"));
        assert_eq!(names.get("my_vendor").map(String::as_str), Some("my_vendor"));
        assert!(!names.contains_key("new_one"));
    }

    #[test]
    fn a_name_that_could_mean_two_providers_is_refused() {
        let error = resolve(&["acme-crm", "acme_crm"], &["GATEHOUSE__PROVIDERS__ACME_CRM__TIMEOUT"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("acme-crm, acme_crm"), "{error}");
        assert!(error.contains("GATEHOUSE__PROVIDERS__ACME_CRM__TIMEOUT"), "{error}");
    }
}
