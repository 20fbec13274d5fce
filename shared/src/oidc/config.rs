//! `OidcConfig`: what a binary needs to know about its OpenID Connect provider. Callers embed
//! it in their own config (e.g. `iam.oidc`), so it follows the same rules: unknown keys
//! rejected, secrets wrapped.

use crate::Secret;
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer URL, exactly as its tokens' `iss`
    /// (e.g. `https://id.example/realms/has`).
    pub issuer: String,
    /// This binary's client at the provider (browser sign-in, client credentials).
    pub client_id: String,
    pub client_secret: Option<Secret>,
    /// The `aud` an access token must carry to be accepted here (e.g. `acmangkut`).
    pub audience: String,
    /// The claim holding the user's groups: a string or an array of strings; a dotted path
    /// (`realm_access.roles`) reaches into nested objects.
    pub roles_claim: String,
    /// Scopes asked for at browser sign-in; a list, or one string split on spaces or commas.
    #[serde(deserialize_with = "string_or_list")]
    pub scopes: Vec<String>,
    /// RFC 8707 resource indicator sent at browser sign-in, for providers that issue JWT
    /// access tokens only for a named resource (oidc-provider, Auth0-like setups).
    pub resource: Option<String>,
    pub http_timeout_ms: u64,
    /// An unknown `kid` makes us refetch the JWKS at most once per this many seconds.
    pub jwks_min_refresh_seconds: u64,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway_seconds: u64,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            client_id: String::new(),
            client_secret: None,
            audience: String::new(),
            roles_claim: "groups".into(),
            scopes: ["openid", "profile", "email"].map(String::from).to_vec(),
            resource: None,
            http_timeout_ms: 5_000,
            jwks_min_refresh_seconds: 10,
            leeway_seconds: 60,
        }
    }
}

/// Environment variables can only carry strings: accept `"openid profile"` as well as a list.
fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => split_scopes(&s),
        OneOrMany::Many(v) => v,
    })
}

pub(crate) fn split_scopes(s: &str) -> Vec<String> {
    s.split([' ', ','])
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn defaults_fill_what_a_config_leaves_out() {
        let c: OidcConfig =
            serde_json::from_str(r#"{"issuer":"http://id","client_id":"c","audience":"a"}"#)
                .expect("parses");
        assert_eq!(c.roles_claim, "groups");
        assert_eq!(c.scopes, ["openid", "profile", "email"]);
        assert_eq!(c.jwks_min_refresh_seconds, 10);
        assert_eq!(c.leeway_seconds, 60);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let e = serde_json::from_str::<OidcConfig>(r#"{"isuser":"x"}"#).expect_err("rejected");
        assert!(e.to_string().contains("isuser"), "{e}");
    }

    #[test]
    fn the_client_secret_never_prints() {
        let c: OidcConfig = serde_json::from_str(r#"{"client_secret":"hunter2"}"#).expect("parses");
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    proptest! {
        #[test]
        fn scopes_from_one_string_are_the_words_between_separators(
            words in proptest::collection::vec("[a-z_:]{1,8}", 0..6),
            sep in prop_oneof![Just(" "), Just(","), Just(", "), Just("  ")],
        ) {
            let c: OidcConfig =
                serde_json::from_value(serde_json::json!({"scopes": words.join(sep)}))
                    .expect("parses");
            prop_assert_eq!(c.scopes, words);
        }
    }
}
