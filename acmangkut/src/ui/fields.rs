//! The fields of a submitted console form (`application/x-www-form-urlencoded`), read the same
//! way by every POST handler.

use super::{Ui, same_origin};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures::future::LocalBoxFuture;

/// A console form post from the console itself, with its body: extracting one refuses a
/// cross-site post (403) first, so no POST handler can forget the check, and a body with a
/// NUL character (400 naming the field).
pub struct Form {
    pub ui: Ui,
    pub body: web::Bytes,
}

impl FromRequest for Form {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let ui = Ui::of(req);
        let checked = same_origin(&ui, req);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            checked.map_err(actix_web::Error::from)?;
            let body = body.await?;
            // As for the API's URLs: a NUL is refused before it reaches the store.
            if let Some(field) = shared::extract::nul_in_urlencoded(&body) {
                let refused = shared::ApiError::invalid(field, shared::extract::NUL_DETAIL);
                return Err(refused.into());
            }
            Ok(Self { ui, body })
        })
    }
}

/// A form body's fields, in the order sent; a body that does not parse has none.
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn parse(body: &[u8]) -> Self {
        Self(serde_urlencoded::from_bytes(body).unwrap_or_default())
    }

    /// The first value of `key`, or "".
    pub fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `key` (a group of checkboxes sends one pair per ticked box).
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Whether `key` was sent at all (a lone checkbox, ticked).
    pub fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_of_an_empty_or_broken_body_are_none() {
        assert!(Fields::parse(b"").0.is_empty());
        let f = Fields::parse(b"comment=fixed+it&_csrf=x");
        assert_eq!(f.get("comment"), "fixed it");
        assert_eq!(f.get("missing"), "");
    }

    #[test]
    fn repeated_keys_are_all_kept() {
        let f = Fields::parse(b"roles=a&roles=b&break_glass=on");
        assert_eq!(f.all("roles"), ["a", "b"]);
        assert!(f.has("break_glass"));
        assert!(!f.has("roles2"));
    }
}
