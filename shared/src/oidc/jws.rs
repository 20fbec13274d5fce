//! Reading a compact JWS before its signature is checked: the header (to pick the key) and
//! the claims (to refuse a foreign token without fetching keys for it). Nothing read here is
//! trusted until `jsonwebtoken` has verified the signature.

use super::InvalidToken;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::Value;

/// Asymmetric algorithms a provider signs with. HMAC would mean trusting a shared secret as
/// a provider key, and `none` means no signature.
const ACCEPTED: &[(&str, Algorithm)] = &[
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("PS384", Algorithm::PS384),
    ("PS512", Algorithm::PS512),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
    ("EdDSA", Algorithm::EdDSA),
];

/// The parts of an unverified token we look at.
#[derive(Debug)]
pub(crate) struct Unverified {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub claims: Value,
}

pub(crate) fn algorithm(name: &str) -> Option<Algorithm> {
    ACCEPTED.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
}

pub(crate) fn peek(token: &str) -> Result<Unverified, InvalidToken> {
    let malformed = |why: &str| InvalidToken::Malformed(why.to_string());
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("not three dot-separated parts"));
    };
    let header = decode_json(header).ok_or_else(|| malformed("header is not base64url JSON"))?;
    let claims = decode_json(payload).ok_or_else(|| malformed("payload is not base64url JSON"))?;
    if !claims.is_object() {
        return Err(malformed("payload is not a JSON object"));
    }
    let name = header.get("alg").and_then(Value::as_str).unwrap_or("");
    // The name comes from the token: keep what we echo short.
    let alg =
        algorithm(name).ok_or_else(|| InvalidToken::Algorithm(name.chars().take(16).collect()))?;
    if header.get("crit").is_some() {
        return Err(malformed("critical header extensions are not supported"));
    }
    let kid = header.get("kid").and_then(Value::as_str).map(String::from);
    Ok(Unverified { alg, kid, claims })
}

fn decode_json(part: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn none_and_hmac_are_refused_by_name() {
        for alg in ["none", "HS256", "HS512", "", "RSA-OAEP"] {
            let token = format!("{}.{}.", b64(&json!({"alg": alg})), b64(&json!({})));
            assert_eq!(
                peek(&token).expect_err(alg),
                InvalidToken::Algorithm(alg.into())
            );
        }
    }

    #[test]
    fn critical_extensions_are_refused() {
        let token = format!(
            "{}.{}.x",
            b64(&json!({"alg": "RS256", "crit": ["b64"]})),
            b64(&json!({}))
        );
        assert!(matches!(peek(&token), Err(InvalidToken::Malformed(_))));
    }

    proptest! {
        #[test]
        fn a_well_formed_token_yields_its_alg_kid_and_claims(
            i in 0..ACCEPTED.len(), kid in proptest::option::of("[ -~]{0,40}"),
            sub in any::<String>(), sig in "[A-Za-z0-9_-]{0,80}",
        ) {
            let (name, alg) = ACCEPTED[i];
            let mut header = json!({"alg": name, "typ": "at+jwt"});
            if let Some(k) = &kid { header["kid"] = json!(k); }
            let claims = json!({"sub": sub});
            let u = peek(&format!("{}.{}.{sig}", b64(&header), b64(&claims))).expect("reads");
            prop_assert_eq!(u.alg, alg);
            prop_assert_eq!(u.kid, kid);
            prop_assert_eq!(u.claims, claims);
        }

        #[test]
        fn arbitrary_input_is_refused_without_panicking(token in "[ -~]{0,200}") {
            let _ = peek(&token);
        }

        #[test]
        fn a_token_with_other_than_three_parts_is_malformed(
            parts in proptest::collection::vec("[A-Za-z0-9_-]{0,12}", 0..6),
        ) {
            prop_assume!(parts.len() != 3);
            prop_assert!(matches!(peek(&parts.join(".")), Err(InvalidToken::Malformed(_))));
        }
    }
}
