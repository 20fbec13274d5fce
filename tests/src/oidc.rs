//! A real OpenID Connect provider for tests: `tests/oidc/provider.mjs` (panva/oidc-provider)
//! run by node on a free loopback port, killed on drop.
//!
//! Users sign in through the provider's own login form (any username; groups from its table:
//! alice → sre, bob → viewers, admin → has-admins). [`OidcProvider::user_token`] signs in the
//! way a browser would, over plain HTTP (the form needs no JavaScript), so no test-only grant
//! exists. Audiences are resource indicators: `acmangkut` is requested as `urn:has:acmangkut`.

use serde_json::Value;
use shared::Secret;
use shared::oidc::{OidcConfig, Pkce, random_token};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use url::Url;

pub const WEB_CLIENT: &str = "acmangkut-web";
pub const WEB_SECRET: &str = "web-secret";
/// Registered for the web client; never fetched (sign-ins stop at the redirect).
pub const REDIRECT_URI: &str = "http://127.0.0.1/callback";

#[derive(Clone, Debug)]
pub struct OidcOptions {
    pub access_token_ttl: Duration,
    /// More redirect URIs for the web client (e.g. acmangkut's callback in a browser test).
    pub redirect_uris: Vec<String>,
    /// `client_credentials` clients: id → secret.
    pub service_clients: Vec<(String, String)>,
}

impl Default for OidcOptions {
    fn default() -> Self {
        let pair = |id: &str| (id.to_string(), format!("{id}-secret"));
        Self {
            access_token_ttl: Duration::from_secs(600),
            redirect_uris: Vec::new(),
            service_clients: vec![pair("acmangkut"), pair("pageinspect")],
        }
    }
}

pub struct OidcProvider {
    options: OidcOptions,
    port: u16,
    issuer: String,
    dir: tempfile::TempDir,
    key_generation: u32,
    child: Option<Child>,
    http: reqwest::Client,
}

/// `acmangkut` → `urn:has:acmangkut`; anything with a colon is already a resource indicator.
pub fn resource_for(audience: &str) -> String {
    match audience.contains(':') {
        true => audience.to_string(),
        false => format!("urn:has:{audience}"),
    }
}

impl OidcProvider {
    pub async fn start(options: OidcOptions) -> Self {
        install_node_modules().await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        let mut p = Self {
            options,
            port,
            issuer: format!("http://127.0.0.1:{port}"),
            dir: tempfile::tempdir().expect("temp dir"),
            key_generation: 1,
            child: None,
            http,
        };
        p.spawn().await;
        p
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// A client config for this provider: the web client when `client_id` is [`WEB_CLIENT`],
    /// else the service client of that name; `audience` is what access tokens must carry.
    pub fn config_for(&self, client_id: &str, audience: &str) -> OidcConfig {
        OidcConfig {
            issuer: self.issuer.clone(),
            client_id: client_id.into(),
            client_secret: Some(Secret::new(self.secret_of(client_id))),
            audience: audience.into(),
            resource: Some(resource_for(audience)),
            http_timeout_ms: 2_000,
            ..OidcConfig::default()
        }
    }

    /// A client-credentials access token (a JWT) of `client` for `audience`.
    pub async fn token_for(&self, client: &str, audience: &str) -> String {
        let form = [
            ("grant_type", "client_credentials"),
            ("resource", &resource_for(audience)),
        ];
        self.token_request(client, &form).await["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// A user's access token (a JWT) for `audience`, through the authorization code flow.
    pub async fn user_token(&self, username: &str, audience: &str) -> String {
        let pkce = Pkce::generate();
        let mut url = Url::parse(&format!("{}/auth", self.issuer)).expect("url");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", WEB_CLIENT)
            .append_pair("redirect_uri", REDIRECT_URI)
            .append_pair("scope", "openid profile")
            .append_pair("state", &random_token())
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("resource", &resource_for(audience));
        let callback = self.sign_in(&url, username).await;
        let code = query(&callback, "code").expect("code in the callback");
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", pkce.verifier.expose()),
        ];
        let body = self.token_request(WEB_CLIENT, &form).await;
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// Plays the browser: opens `authorization_url`, signs in as `username` on the provider's
    /// form, and returns the URL the provider redirected back to (with `code` and `state`).
    pub async fn sign_in(&self, authorization_url: &Url, username: &str) -> Url {
        let mut cookies: HashMap<String, String> = HashMap::new();
        let redirect_uri = query(authorization_url, "redirect_uri").expect("redirect_uri");
        let mut url = authorization_url.clone();
        for _ in 0..10 {
            let req = if url.path().starts_with("/interaction/") {
                let form = [
                    ("prompt", "login"),
                    ("login", username),
                    ("password", "any"),
                ];
                self.http.post(url.clone()).form_body(&form)
            } else {
                self.http.get(url.clone())
            };
            let cookie = cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>();
            let resp = req
                .header("cookie", cookie.join("; "))
                .send()
                .await
                .expect("provider");
            for c in resp.headers().get_all("set-cookie") {
                let pair = c.to_str().unwrap_or("").split(';').next().unwrap_or("");
                if let Some((k, v)) = pair.split_once('=') {
                    cookies.insert(k.to_string(), v.to_string());
                }
            }
            let status = resp.status();
            let Some(location) = resp.headers().get("location").and_then(|l| l.to_str().ok())
            else {
                panic!(
                    "sign-in stopped at {url}: {status} {}",
                    resp.text().await.unwrap_or_default()
                );
            };
            url = url.join(location).expect("location");
            if url.as_str().starts_with(&redirect_uri) {
                return url;
            }
        }
        panic!("sign-in did not come back to {redirect_uri}");
    }

    /// Registers one more redirect URI of the web client (e.g. the callback of an acmangkut
    /// started after the provider, whose port was not known before); restarts the provider with
    /// the same keys and issuer, so do this before anyone signs in.
    pub async fn allow_redirect_uri(&mut self, uri: &str) {
        self.options.redirect_uris.push(uri.to_string());
        self.restart().await;
    }

    /// Signs `username` in to the acmangkut console at `acmangkut` (its base URL) the way a
    /// browser would, over plain HTTP: `/auth/oidc/start`, the provider's form, the callback.
    /// Returns the `has_session` cookie value. The callback must be allowed
    /// ([`Self::allow_redirect_uri`]).
    pub async fn console_sign_in(&self, acmangkut: &str, username: &str) -> String {
        // acmangkut answers 503 while its last look at the provider failed (a discovery
        // request that timed out on a loaded machine): ask again for a while, as a person would.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        let start = loop {
            let start = self
                .http
                .get(format!("{acmangkut}/auth/oidc/start?next=/"))
                .send()
                .await
                .expect("acmangkut answers");
            if start.status() != 503 || tokio::time::Instant::now() >= deadline {
                break start;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        };
        let status = start.status();
        let location = start
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(String::from);
        let Some(location) = location.filter(|_| status.is_redirection()) else {
            panic!(
                "sign-in start answered {status}: {}",
                start.text().await.unwrap_or_default()
            );
        };
        let callback = self
            .sign_in(&Url::parse(&location).expect("authorization URL"), username)
            .await;
        let done = self
            .http
            .get(callback)
            .send()
            .await
            .expect("acmangkut answers the callback");
        let status = done.status();
        let cookie = done
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|c| c.to_str().ok())
            .filter_map(|c| c.split(';').next()?.strip_prefix("has_session="))
            .find(|v| !v.is_empty())
            .map(String::from);
        match cookie {
            Some(c) if status.is_redirection() => c,
            _ => panic!(
                "the callback answered {status} without a session: {}",
                done.text().await.unwrap_or_default()
            ),
        }
    }

    /// Stops the provider (its keys stay on disk for [`Self::restart`]).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts it again on the same port and issuer, with the same keys.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.spawn().await;
    }

    /// Starts it again on the same port and issuer with a fresh key set: tokens signed before
    /// carry a `kid` the new JWKS no longer has.
    pub async fn restart_with_new_keys(&mut self) {
        self.key_generation += 1;
        self.restart().await;
    }

    fn secret_of(&self, client: &str) -> String {
        if client == WEB_CLIENT {
            return WEB_SECRET.into();
        }
        let found = self
            .options
            .service_clients
            .iter()
            .find(|(id, _)| id == client);
        found
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| panic!("no client {client}"))
    }

    async fn token_request(&self, client: &str, form: &[(&str, &str)]) -> Value {
        let resp = (self.http.post(format!("{}/token", self.issuer)))
            .basic_auth(client, Some(self.secret_of(client)))
            .form_body(form)
            .send()
            .await
            .expect("token endpoint");
        let status = resp.status();
        let body: Value = resp.json().await.expect("token response json");
        assert!(
            status.is_success(),
            "token request of {client}: {status} {body}"
        );
        body
    }

    async fn spawn(&mut self) {
        let jwks = self
            .dir
            .path()
            .join(format!("jwks-{}.json", self.key_generation));
        let services = self
            .options
            .service_clients
            .iter()
            .map(|(id, s)| format!("{id}:{s}"));
        let redirects =
            std::iter::once(REDIRECT_URI.to_string()).chain(self.options.redirect_uris.clone());
        let mut child = Command::new(std::env::var("HAS_TEST_NODE").unwrap_or("node".into()))
            .arg(oidc_dir().join("provider.mjs"))
            .env("OIDC_PORT", self.port.to_string())
            .env("OIDC_ISSUER", &self.issuer)
            .env("OIDC_JWKS_FILE", &jwks)
            .env(
                "OIDC_ACCESS_TOKEN_TTL",
                self.options.access_token_ttl.as_secs().max(1).to_string(),
            )
            .env("OIDC_WEB_CLIENT_ID", WEB_CLIENT)
            .env("OIDC_WEB_CLIENT_SECRET", WEB_SECRET)
            .env(
                "OIDC_WEB_REDIRECT_URIS",
                redirects.collect::<Vec<_>>().join(","),
            )
            .env(
                "OIDC_SERVICE_CLIENTS",
                services.collect::<Vec<_>>().join(","),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs (install Node.js 20+)");
        // Its startup warnings (dev-only adapter, Node version) are noise; anything else goes to
        // the test's output.
        let mut errors = BufReader::new(child.stderr.take().expect("stderr")).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = errors.next_line().await {
                if !line.starts_with("oidc-provider WARNING") {
                    eprintln!("oidc-provider: {line}");
                }
            }
        });
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.starts_with("listening ") {
                    return true;
                }
            }
            false
        });
        assert!(
            ready.await.unwrap_or(false),
            "the OIDC provider did not start (see its stderr)"
        );
        // Keep reading so the provider never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.child = Some(child);
    }
}

fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

trait FormBody {
    fn form_body(self, form: &[(&str, &str)]) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn form_body(self, form: &[(&str, &str)]) -> Self {
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).expect("form"))
    }
}

fn oidc_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("oidc")
}

/// `npm ci` once when `tests/oidc/node_modules` is missing (a fresh clone), under a file lock
/// so parallel test processes do not install over each other.
async fn install_node_modules() {
    let dir = oidc_dir();
    if dir.join("node_modules/oidc-provider").exists() {
        return;
    }
    tokio::task::spawn_blocking(move || {
        let lock = std::fs::File::create(std::env::temp_dir().join("has-tests-oidc-npm.lock"))
            .expect("lock file");
        lock.lock().expect("lock");
        if !dir.join("node_modules/oidc-provider").exists() {
            let status = std::process::Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--prefix"])
                .arg(&dir)
                .status()
                .expect("npm runs");
            assert!(status.success(), "npm ci --prefix {} failed", dir.display());
        }
    })
    .await
    .expect("npm ci");
}

/// Gives `config` the `iam.public_url` that OIDC requires, and the port it names: picked now
/// (a free one), since the provider's redirect URIs must name it before acmangkut starts. The
/// listen host stays.
pub fn with_public_url(config: &mut acmangkut::Config) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let host = config
        .server
        .listen
        .rsplit_once(':')
        .map_or("127.0.0.1", |(host, _)| host)
        .to_string();
    config.server.listen = format!("{host}:{port}");
    config.iam.public_url = format!("http://127.0.0.1:{port}");
}
