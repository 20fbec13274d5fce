//! `shared::oidc` against a real OpenID Connect provider (oidc-provider under node): access
//! tokens, key rotation, offline verification, and browser sign-in with PKCE.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use has_tests::oidc::{OidcOptions, OidcProvider, REDIRECT_URI, WEB_CLIENT};
use serde_json::{Value, json};
use shared::oidc::{IamError, InvalidToken, OidcClient, Pkce, VerifyMode, random_token};
use std::time::Duration;

const ONLINE: VerifyMode = VerifyMode::Online;

async fn provider() -> OidcProvider {
    OidcProvider::start(OidcOptions::default()).await
}

/// acmangkut's view of the provider: accepts access tokens whose `aud` is `acmangkut`.
fn acmangkut(p: &OidcProvider) -> OidcClient {
    OidcClient::new(
        p.config_for("acmangkut", "acmangkut"),
        &has_tests::outbound(),
    )
    .expect("client")
}

fn reason(r: Result<shared::oidc::Claims, IamError>) -> InvalidToken {
    match r {
        Err(IamError::Invalid(reason)) => reason,
        other => panic!("expected an invalid token, got {other:?}"),
    }
}

/// Rewrites one part (0 header, 1 claims) of a compact JWS, keeping the signature.
fn alter(token: &str, part: usize, f: impl FnOnce(&mut Value)) -> String {
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    let mut v: Value =
        serde_json::from_slice(&B64.decode(&parts[part]).expect("b64")).expect("json");
    f(&mut v);
    parts[part] = B64.encode(v.to_string());
    parts.join(".")
}

#[tokio::test]
async fn a_users_access_token_verifies_with_their_username_and_groups() {
    let p = provider().await;
    let token = p.user_token("alice", "acmangkut").await;

    let claims = acmangkut(&p)
        .verify_access_token(&token, ONLINE)
        .await
        .expect("valid");

    assert_eq!(claims.username, "alice");
    assert_eq!(claims.groups, ["sre"]);
    assert_eq!(claims.aud, ["acmangkut"]);
    assert_eq!(claims.iss, p.issuer());
}

#[tokio::test]
async fn a_client_credentials_token_verifies_at_its_audience_only() {
    let p = provider().await;
    let pageinspect = OidcClient::new(
        p.config_for("pageinspect", "pageinspect"),
        &has_tests::outbound(),
    )
    .expect("client");
    let acmangkut_side = acmangkut(&p);
    let token = acmangkut_side
        .client_credentials("urn:has:pageinspect")
        .await
        .expect("token");

    let claims = pageinspect
        .verify_access_token(token.expose(), ONLINE)
        .await
        .expect("valid");
    assert_eq!((claims.sub.as_str(), claims.groups.len()), ("acmangkut", 0));

    let elsewhere = acmangkut_side
        .verify_access_token(token.expose(), ONLINE)
        .await;
    assert_eq!(reason(elsewhere), InvalidToken::WrongAudience);
}

#[tokio::test]
async fn rsa_pss_and_ecdsa_signatures_verify_and_hmac_is_refused() {
    let p = provider().await;
    let client = acmangkut(&p);
    for alg in ["RS256", "PS256", "ES256"] {
        let token = p
            .token_for("pageinspect", &format!("urn:has:acmangkut?alg={alg}"))
            .await;
        let verified = client.verify_access_token(&token, ONLINE).await;
        assert!(verified.is_ok(), "{alg}: {verified:?}");
    }
    // The provider signs this one with a shared secret: no provider key may be an HMAC secret.
    let hs = p
        .token_for("pageinspect", "urn:has:acmangkut?alg=HS256")
        .await;
    let refused = client.verify_access_token(&hs, ONLINE).await;
    assert_eq!(reason(refused), InvalidToken::Algorithm("HS256".into()));
}

#[tokio::test]
async fn tokens_altered_in_transit_are_refused_each_for_its_reason() {
    let p = provider().await;
    let client = acmangkut(&p);
    let token = p.user_token("bob", "acmangkut").await;
    let other_kid = alter(&token, 0, |h| {
        h["kid"] = json!("not-a-key-of-this-provider")
    });
    let cases = [
        (
            alter(&token, 1, |c| c["groups"] = json!(["has-admins"])),
            InvalidToken::BadSignature,
            "claims changed after signing",
        ),
        (
            alter(&token, 0, |h| h["alg"] = json!("none")),
            InvalidToken::Algorithm("none".into()),
            "unsigned",
        ),
        (
            alter(&token, 0, |h| h["alg"] = json!("HS256")),
            InvalidToken::Algorithm("HS256".into()),
            "public key used as HMAC secret",
        ),
        (
            other_kid,
            InvalidToken::UnknownKey,
            "kid the JWKS does not have",
        ),
        (
            token.rsplit_once('.').expect("3 parts").0.to_string(),
            InvalidToken::Malformed("not three dot-separated parts".into()),
            "signature cut off",
        ),
    ];
    for (bad, expected, why) in cases {
        assert_eq!(
            reason(client.verify_access_token(&bad, ONLINE).await),
            expected,
            "{why}"
        );
    }
}

#[tokio::test]
async fn a_token_from_another_issuer_is_rejected_without_fetching_its_keys() {
    let (p, stranger) = tokio::join!(provider(), provider());
    let client = acmangkut(&p);
    let foreign = stranger.user_token("admin", "acmangkut").await;

    assert_eq!(
        reason(client.verify_access_token(&foreign, ONLINE).await),
        InvalidToken::WrongIssuer
    );
    assert_eq!(
        client.stats().jwks_fetches,
        0,
        "a foreign token costs no request"
    );
}

#[tokio::test]
async fn a_token_for_another_audience_is_rejected() {
    let p = provider().await;
    let token = p.user_token("alice", "pageinspect").await;
    assert_eq!(
        reason(acmangkut(&p).verify_access_token(&token, ONLINE).await),
        InvalidToken::WrongAudience
    );
}

#[tokio::test]
async fn an_expired_token_is_rejected_once_past_the_leeway() {
    let p = OidcProvider::start(OidcOptions {
        access_token_ttl: Duration::from_secs(2),
        ..Default::default()
    })
    .await;
    let token = p.user_token("alice", "acmangkut").await;
    let mut strict = p.config_for("acmangkut", "acmangkut");
    strict.leeway_seconds = 0;
    let strict = OidcClient::new(strict, &has_tests::outbound()).expect("client");
    let exp = strict
        .verify_access_token(&token, ONLINE)
        .await
        .expect("fresh")
        .exp;

    // `exp` is whole seconds: wait until it is strictly in the past.
    let wait = (exp + 1) * 1000 - chrono::Utc::now().timestamp_millis();
    tokio::time::sleep(Duration::from_millis(wait.max(0) as u64 + 50)).await;

    assert_eq!(
        reason(strict.verify_access_token(&token, ONLINE).await),
        InvalidToken::Expired
    );
    let lenient = acmangkut(&p).verify_access_token(&token, ONLINE).await;
    assert!(
        lenient.is_ok(),
        "the default 60 s leeway still covers it: {lenient:?}"
    );
}

#[tokio::test]
async fn after_key_rotation_the_new_key_verifies_after_one_refetch_and_the_old_key_is_refused() {
    let mut p = provider().await;
    let client = acmangkut(&p);
    let old = p.user_token("alice", "acmangkut").await;
    client
        .verify_access_token(&old, ONLINE)
        .await
        .expect("old key verifies");
    assert_eq!(client.stats().jwks_fetches, 1);

    p.restart_with_new_keys().await;
    let new = p.user_token("alice", "acmangkut").await;

    client
        .verify_access_token(&new, ONLINE)
        .await
        .expect("new key verifies");
    assert_eq!(
        client.stats().jwks_fetches,
        2,
        "exactly one refetch for the unknown kid"
    );
    let refused = client.verify_access_token(&old, ONLINE).await;
    assert_eq!(reason(refused), InvalidToken::UnknownKey);
    assert_eq!(
        client.stats().jwks_fetches,
        2,
        "no second refetch within the rate limit"
    );
}

#[tokio::test]
async fn unknown_key_ids_cause_at_most_one_refetch_per_interval() {
    let p = provider().await;
    let client = acmangkut(&p);
    let token = p.user_token("alice", "acmangkut").await;
    client
        .verify_access_token(&token, ONLINE)
        .await
        .expect("valid");

    for i in 0..5 {
        let junk = alter(&token, 0, |h| h["kid"] = json!(format!("junk-{i}")));
        assert_eq!(
            reason(client.verify_access_token(&junk, ONLINE).await),
            InvalidToken::UnknownKey
        );
    }
    assert_eq!(
        client.stats().jwks_fetches,
        2,
        "the first fetch and one refetch"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_verifications_on_a_cold_cache_share_one_discovery_and_one_jwks_fetch() {
    let p = provider().await;
    let client = acmangkut(&p);
    let token = p.user_token("alice", "acmangkut").await;

    let all = (0..20).map(|_| {
        let (client, token) = (client.clone(), token.clone());
        tokio::spawn(async move { client.verify_access_token(&token, ONLINE).await })
    });
    for r in futures::future::join_all(all).await {
        r.expect("task").expect("valid");
    }

    let stats = client.stats();
    assert_eq!((stats.discovery_fetches, stats.jwks_fetches), (1, 1));
}

#[tokio::test]
async fn offline_mode_verifies_with_cached_keys_while_the_provider_is_down_and_sends_nothing() {
    let mut p = provider().await;
    let client = acmangkut(&p);
    let token = p.user_token("admin", "acmangkut").await;
    let never_seen = OidcClient::new(
        p.config_for("acmangkut", "acmangkut"),
        &has_tests::outbound(),
    )
    .expect("client");
    client
        .refresh_keys()
        .await
        .expect("keys fetched while the provider is up");
    let before = client.stats();

    p.stop().await;

    let claims = client
        .verify_access_token(&token, VerifyMode::Offline)
        .await
        .expect("cached key");
    assert_eq!(claims.groups, ["has-admins"]);
    let junk = alter(&token, 0, |h| h["kid"] = json!("junk"));
    assert_eq!(
        reason(client.verify_access_token(&junk, VerifyMode::Offline).await),
        InvalidToken::UnknownKey
    );
    assert_eq!(
        client.stats(),
        before,
        "offline verification made no request"
    );
    // A client that never reached the provider has nothing to verify with offline…
    assert_eq!(
        reason(
            never_seen
                .verify_access_token(&token, VerifyMode::Offline)
                .await
        ),
        InvalidToken::UnknownKey
    );
    // …and online it says the provider is unreachable, not that the token is bad.
    let online = never_seen.verify_access_token(&token, ONLINE).await;
    assert!(
        matches!(online, Err(IamError::Unreachable(_))),
        "{online:?}"
    );
}

#[tokio::test]
async fn browser_sign_in_with_pkce_yields_the_users_claims_and_an_access_token() {
    let p = provider().await;
    let web = OidcClient::new(
        p.config_for(WEB_CLIENT, "acmangkut"),
        &has_tests::outbound(),
    )
    .expect("client");
    let (pkce, state, nonce) = (Pkce::generate(), random_token(), random_token());
    let url = web
        .authorization_url(REDIRECT_URI, &state, &nonce, &pkce)
        .await
        .expect("url");

    let callback = p.sign_in(&url, "alice").await;
    let param = |name: &str| {
        callback
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("state").as_deref(), Some(state.as_str()));
    let code = param("code").expect("code");

    let wrong_nonce = web
        .exchange_code(&code, REDIRECT_URI, pkce.verifier.expose(), "other")
        .await;
    assert!(
        matches!(
            wrong_nonce,
            Err(IamError::Invalid(InvalidToken::WrongNonce))
        ),
        "{wrong_nonce:?}"
    );

    let url = web
        .authorization_url(REDIRECT_URI, &state, &nonce, &pkce)
        .await
        .expect("url");
    let code = p
        .sign_in(&url, "alice")
        .await
        .query_pairs()
        .find(|(k, _)| k == "code")
        .expect("code")
        .1
        .into_owned();
    let signed_in = web
        .exchange_code(&code, REDIRECT_URI, pkce.verifier.expose(), &nonce)
        .await
        .expect("signed in");
    assert_eq!(
        (
            signed_in.claims.username.as_str(),
            signed_in.claims.groups.as_slice()
        ),
        ("alice", &["sre".to_string()][..])
    );
    assert!(signed_in.expires_at > chrono::Utc::now());
    let at = acmangkut(&p)
        .verify_access_token(signed_in.access_token.expose(), ONLINE)
        .await;
    assert_eq!(
        at.expect("the access token is for acmangkut").username,
        "alice"
    );

    let replay = web
        .exchange_code(&code, REDIRECT_URI, pkce.verifier.expose(), &nonce)
        .await;
    assert!(
        matches!(replay, Err(IamError::Rejected { status: 400, .. })),
        "a code is single-use: {replay:?}"
    );
}

#[tokio::test]
async fn a_code_redeemed_with_the_wrong_pkce_verifier_is_refused_by_the_provider() {
    let p = provider().await;
    let web = OidcClient::new(
        p.config_for(WEB_CLIENT, "acmangkut"),
        &has_tests::outbound(),
    )
    .expect("client");
    let (pkce, nonce) = (Pkce::generate(), random_token());
    let url = web
        .authorization_url(REDIRECT_URI, "s", &nonce, &pkce)
        .await
        .expect("url");
    let callback = p.sign_in(&url, "bob").await;
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .expect("code")
        .1
        .into_owned();

    let other = Pkce::generate();
    let r = web
        .exchange_code(&code, REDIRECT_URI, other.verifier.expose(), &nonce)
        .await;
    assert!(
        matches!(&r, Err(IamError::Rejected { error, .. }) if error.starts_with("invalid_grant")),
        "{r:?}"
    );
}

#[tokio::test]
async fn pkce_helpers_produce_a_valid_s256_pair() {
    let pkce = Pkce::generate();
    let verifier = pkce.verifier.expose();
    // RFC 7636 §4.1: 43-128 characters of [A-Za-z0-9-._~].
    assert!((43..=128).contains(&verifier.len()));
    assert!(
        verifier
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
    );
    assert_eq!(pkce.challenge, Pkce::challenge_of(verifier));
    assert_eq!(pkce.challenge.len(), 43, "base64url of 32 bytes, unpadded");
    assert_ne!(Pkce::generate().challenge, pkce.challenge);
    assert_ne!(random_token(), random_token());
}

#[tokio::test]
async fn the_authorization_url_carries_what_rfc_7636_and_openid_connect_need() {
    let p = provider().await;
    let web = OidcClient::new(
        p.config_for(WEB_CLIENT, "acmangkut"),
        &has_tests::outbound(),
    )
    .expect("client");
    let pkce = Pkce::generate();
    let url = web
        .authorization_url(REDIRECT_URI, "the-state", "the-nonce", &pkce)
        .await
        .expect("url");

    assert_eq!(
        url.as_str().split('?').next(),
        Some(format!("{}/auth", p.issuer()).as_str())
    );
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    let expected = [
        ("response_type", "code"),
        ("client_id", WEB_CLIENT),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid profile email"),
        ("state", "the-state"),
        ("nonce", "the-nonce"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("resource", "urn:has:acmangkut"),
    ];
    for (k, v) in expected {
        assert_eq!(q.get(k).map(String::as_str), Some(v), "{k}");
    }
    assert!(
        !url.as_str().contains(pkce.verifier.expose()),
        "the verifier stays with us"
    );
}

#[tokio::test]
async fn client_credentials_tokens_are_reused_until_30_seconds_before_they_expire() {
    let (long, short) = tokio::join!(
        provider(),
        OidcProvider::start(OidcOptions {
            access_token_ttl: Duration::from_secs(20),
            ..Default::default()
        })
    );
    let cached = acmangkut(&long);
    let a = cached
        .client_credentials("urn:has:pageinspect")
        .await
        .expect("token");
    assert_eq!(
        cached
            .client_credentials("urn:has:pageinspect")
            .await
            .expect("token"),
        a
    );

    // A 20 s token is already inside the 30 s margin: never reused.
    let fresh = acmangkut(&short);
    let b = fresh
        .client_credentials("urn:has:pageinspect")
        .await
        .expect("token");
    assert_ne!(
        fresh
            .client_credentials("urn:has:pageinspect")
            .await
            .expect("token"),
        b
    );
}

#[tokio::test]
async fn a_client_starts_while_the_provider_is_down_and_reports_it_unreachable() {
    let mut p = provider().await;
    let token = p.user_token("alice", "acmangkut").await;
    p.stop().await;
    let mut config = p.config_for("acmangkut", "acmangkut");
    config.jwks_min_refresh_seconds = 1;
    let client = OidcClient::new(config, &has_tests::outbound()).expect("client");

    let r = client.verify_access_token(&token, ONLINE).await;
    assert!(matches!(r, Err(IamError::Unreachable(_))), "{r:?}");
    assert!(
        !format!("{r:?}").contains(&token[token.len() - 20..]),
        "errors never carry the token"
    );

    p.restart().await;
    let r = client.verify_access_token(&token, ONLINE).await;
    assert!(
        matches!(r, Err(IamError::Unreachable(_))),
        "no retry within the rate limit: {r:?}"
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    client
        .verify_access_token(&token, ONLINE)
        .await
        .expect("verifies once the provider is back");
}
