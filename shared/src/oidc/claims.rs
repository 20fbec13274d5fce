//! What a verified token says about its bearer, read from the JSON claims.

use super::InvalidToken;
use serde_json::Value;

/// The claims of a verified access or ID token.
#[derive(Clone, Debug, PartialEq)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: Vec<String>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// `preferred_username`, else `email`, else `sub`.
    pub username: String,
    /// From the configured roles claim (a string or an array of strings); empty when absent.
    pub groups: Vec<String>,
    /// Every claim as sent, for callers that need more.
    pub raw: Value,
}

impl Claims {
    /// Reads the claims HAS relies on; `roles_claim` may be a dotted path (`realm_access.roles`).
    pub fn from_value(raw: Value, roles_claim: &str) -> Result<Self, InvalidToken> {
        let text = |name: &str| {
            raw.get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let missing =
            |name: &str| InvalidToken::Malformed(format!("claim `{name}` missing or not a string"));
        let sub = text("sub").ok_or_else(|| missing("sub"))?.to_string();
        let iss = text("iss").ok_or_else(|| missing("iss"))?.to_string();
        let aud = string_or_list(raw.get("aud"))
            .ok_or_else(|| InvalidToken::Malformed("claim `aud` not a string or array".into()))?;
        let exp = raw
            .get("exp")
            .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
            .ok_or_else(|| InvalidToken::Malformed("claim `exp` missing or not a number".into()))?;
        let username = text("preferred_username")
            .or_else(|| text("email"))
            .unwrap_or(&sub)
            .to_string();
        let groups = string_or_list(lookup(&raw, roles_claim)).unwrap_or_default();
        Ok(Self {
            sub,
            iss,
            aud,
            exp,
            username,
            groups,
            raw,
        })
    }
}

/// `"a"` → `["a"]`, `["a","b"]` → both (non-strings skipped), absent → `[]`, else `None`.
pub(crate) fn string_or_list(v: Option<&Value>) -> Option<Vec<String>> {
    match v {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::String(s)) => Some(vec![s.clone()]),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
        ),
        Some(_) => None,
    }
}

/// A claim by name; a name with dots that is not itself a claim is read as a path.
fn lookup<'a>(raw: &'a Value, name: &str) -> Option<&'a Value> {
    raw.get(name)
        .or_else(|| name.split('.').try_fold(raw, |v, part| v.get(part)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn base() -> Value {
        json!({"sub": "u1", "iss": "http://id", "aud": "has", "exp": 2_000_000_000})
    }

    #[test]
    fn the_username_falls_back_from_preferred_username_to_email_to_sub() {
        let mut v = base();
        assert_eq!(
            Claims::from_value(v.clone(), "groups")
                .expect("ok")
                .username,
            "u1"
        );
        v["email"] = json!("u@x");
        assert_eq!(
            Claims::from_value(v.clone(), "groups")
                .expect("ok")
                .username,
            "u@x"
        );
        v["preferred_username"] = json!("alice");
        assert_eq!(
            Claims::from_value(v, "groups").expect("ok").username,
            "alice"
        );
    }

    #[test]
    fn groups_come_from_a_nested_claim_given_as_a_dotted_path() {
        let mut v = base();
        v["realm_access"] = json!({"roles": ["sre", "dba"]});
        let c = Claims::from_value(v, "realm_access.roles").expect("ok");
        assert_eq!(c.groups, ["sre", "dba"]);
    }

    #[test]
    fn required_claims_of_the_wrong_shape_are_malformed() {
        for (claim, value, why) in [
            ("sub", json!(1), "sub must be a string"),
            ("iss", json!(null), "iss must be present"),
            ("aud", json!({"x": 1}), "aud must be a string or an array"),
            ("exp", json!("soon"), "exp must be a number"),
        ] {
            let mut v = base();
            v[claim] = value;
            let e = Claims::from_value(v, "groups").expect_err(why);
            assert!(
                matches!(e, InvalidToken::Malformed(ref m) if m.contains(claim)),
                "{why}: {e}"
            );
        }
    }

    proptest! {
        #[test]
        fn groups_given_as_a_string_or_an_array_read_the_same(
            groups in proptest::collection::vec("[a-z-]{1,10}", 1..5),
            claim in "[a-z_]{1,8}",
        ) {
            let mut as_list = base();
            as_list[&claim] = json!(groups);
            let read = Claims::from_value(as_list, &claim).expect("ok");
            prop_assert_eq!(read.groups, groups.clone());
            let mut as_one = base();
            as_one[&claim] = json!(groups[0]);
            let read = Claims::from_value(as_one, &claim).expect("ok");
            prop_assert_eq!(read.groups, vec![groups[0].clone()]);
        }

        #[test]
        fn any_json_claims_set_is_read_or_refused_without_panicking(
            sub in proptest::option::of(any::<String>()),
            aud in prop_oneof![
                Just(json!(null)),
                any::<String>().prop_map(Value::from),
                proptest::collection::vec(any::<String>(), 0..3).prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
            ],
            groups in prop_oneof![
                Just(json!(null)),
                any::<bool>().prop_map(Value::from),
                proptest::collection::vec(any::<String>(), 0..3).prop_map(Value::from),
            ],
        ) {
            let v = json!({"sub": sub, "iss": "i", "aud": aud, "exp": 1, "groups": groups});
            if let Ok(c) = Claims::from_value(v, "groups") {
                prop_assert!(!c.sub.is_empty());
                prop_assert!(!c.username.is_empty());
            }
        }
    }
}
