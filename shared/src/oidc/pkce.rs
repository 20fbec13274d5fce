//! Random values for browser sign-in: PKCE (RFC 7636, S256), `state` and `nonce`.

use crate::Secret;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// A PKCE pair: keep `verifier` (in the sign-in cookie) until the callback; send `challenge`.
#[derive(Clone, Debug)]
pub struct Pkce {
    pub verifier: Secret,
    pub challenge: String,
}

impl Pkce {
    pub const METHOD: &'static str = "S256";

    /// 256 random bits as the verifier (43 characters of base64url).
    pub fn generate() -> Self {
        let verifier = random_token();
        let challenge = Self::challenge_of(&verifier);
        Self {
            verifier: Secret::new(verifier),
            challenge,
        }
    }

    /// `BASE64URL(SHA256(verifier))`, unpadded.
    pub fn challenge_of(verifier: &str) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
    }
}

/// 256 random bits, base64url: for `state`, `nonce` and anything else that must be unguessable.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_of_the_rfc_7636_example_verifier_is_the_rfc_s() {
        // RFC 7636, appendix B.
        assert_eq!(
            Pkce::challenge_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn generated_pairs_are_fresh_and_match() {
        let (a, b) = (Pkce::generate(), Pkce::generate());
        assert_ne!(a.verifier, b.verifier);
        assert_eq!(Pkce::challenge_of(a.verifier.expose()), a.challenge);
        assert_eq!(a.verifier.expose().len(), 43);
    }
}
