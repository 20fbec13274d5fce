//! The console's message catalog (English and 简体中文) and how a request's language is chosen.
//!
//! Order of precedence: `?lang=en|zh-CN` (which also sets the `lang` cookie), then the `lang`
//! cookie, then the browser's `Accept-Language` (its most preferred language: `zh*` gives
//! zh-CN, anything else English).

mod drills;
mod en;
mod zh_cn;

use en::EN;
use zh_cn::ZH_CN;

pub const COOKIE: &str = "lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    ZhCn,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::ZhCn];

    /// The BCP 47 tag used in `<html lang>`, the cookie and `?lang=`.
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::ZhCn => "zh-CN",
        }
    }

    /// Accepts the codes of [`Lang::code`], case-insensitively, and a bare `zh`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("en") {
            Some(Self::En)
        } else if s.eq_ignore_ascii_case("zh-CN") || s.eq_ignore_ascii_case("zh") {
            Some(Self::ZhCn)
        } else {
            None
        }
    }

    /// The most preferred language of an `Accept-Language` header (`q` weights honoured).
    pub fn from_accept_language(header: &str) -> Self {
        let mut best: Option<(f32, &str)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("").trim();
            if tag.is_empty() {
                continue;
            }
            let q = pieces
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, tag));
            }
        }
        match best {
            Some((_, tag)) if tag.len() >= 2 && tag[..2].eq_ignore_ascii_case("zh") => Self::ZhCn,
            _ => Self::En,
        }
    }

    /// The message for `key`; the key itself when it is missing (a test keeps that from
    /// happening).
    pub fn t(self, key: &str) -> &'static str {
        lookup(self, key).unwrap_or_else(|| {
            tracing::warn!(i18n.key = key, lang = self.code(), "missing message");
            lookup(Lang::En, key).unwrap_or("?")
        })
    }
}

fn lookup(lang: Lang, key: &str) -> Option<&'static str> {
    catalog(lang).find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// A language's messages: the console's, then each feature's own list.
pub fn catalog(lang: Lang) -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    let parts: [&'static [(&'static str, &'static str)]; 2] = match lang {
        Lang::En => [EN, drills::EN],
        Lang::ZhCn => [ZH_CN, drills::ZH_CN],
    };
    parts.into_iter().flatten()
}

/// The language of a request and whether the `lang` cookie must be (re)set.
pub fn negotiate(
    query: Option<&str>,
    cookie: Option<&str>,
    accept_language: Option<&str>,
) -> (Lang, bool) {
    if let Some(l) = query.and_then(Lang::parse) {
        return (l, true);
    }
    if let Some(l) = cookie.and_then(Lang::parse) {
        return (l, false);
    }
    (
        accept_language.map_or(Lang::En, Lang::from_accept_language),
        false,
    )
}

/// What templates call: `{{ t.get("nav.monitors") }}`.
#[derive(Debug, Clone, Copy)]
pub struct Tr(pub Lang);

impl Tr {
    pub fn get(&self, key: &str) -> &'static str {
        self.0.t(key)
    }
}

/// Panics naming the first of `keys` that a language's catalog lacks (the pages' tests of the
/// labels they look up by value).
#[cfg(test)]
pub fn assert_in_every_catalog(keys: impl IntoIterator<Item = impl AsRef<str>>) {
    for key in keys {
        let key = key.as_ref();
        for lang in Lang::ALL {
            assert!(
                catalog(lang).any(|(k, _)| *k == key),
                "{key} missing in {}",
                lang.code()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn keys(lang: Lang) -> BTreeSet<&'static str> {
        catalog(lang).map(|(k, _)| *k).collect()
    }

    #[test]
    fn both_catalogs_have_the_same_keys_and_no_duplicates() {
        for lang in Lang::ALL {
            assert_eq!(
                keys(lang).len(),
                catalog(lang).count(),
                "duplicate key in {}",
                lang.code()
            );
        }
        let (en, zh) = (keys(Lang::En), keys(Lang::ZhCn));
        assert_eq!(
            en.difference(&zh).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "missing in zh-CN"
        );
        assert_eq!(
            zh.difference(&en).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "missing in en"
        );
    }

    #[test]
    fn no_message_is_empty() {
        for lang in Lang::ALL {
            for (k, v) in catalog(lang) {
                assert!(!v.trim().is_empty(), "{k} is empty in {}", lang.code());
            }
        }
    }

    #[test]
    fn every_key_used_by_the_templates_and_code_exists() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        fn read_all(dir: &std::path::Path, into: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).expect("readable dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    read_all(&path, into);
                } else {
                    into.push(std::fs::read_to_string(&path).expect("readable file"));
                }
            }
        }
        let mut sources = Vec::new();
        for dir in ["templates", "src/ui"] {
            read_all(&root.join(dir), &mut sources);
        }
        let en = keys(Lang::En);
        let mut used = 0;
        for src in &sources {
            for chunk in src.split("t.get(\"").skip(1) {
                let key = chunk.split('"').next().unwrap_or("");
                used += 1;
                assert!(en.contains(key), "unknown message key `{key}`");
            }
        }
        assert!(used > 20, "the scan found the keys ({used})");
    }

    #[test]
    fn accept_language_prefers_the_highest_weight() {
        let cases = [
            ("zh-CN,zh;q=0.9,en;q=0.8", Lang::ZhCn),
            ("zh", Lang::ZhCn),
            ("zh-TW", Lang::ZhCn),
            ("en-US,en;q=0.9", Lang::En),
            ("en;q=0.5, zh-CN;q=0.8", Lang::ZhCn),
            ("fr-FR", Lang::En),
            ("zh;q=0", Lang::En),
            ("", Lang::En),
            (";;,,", Lang::En),
        ];
        for (header, want) in cases {
            assert_eq!(Lang::from_accept_language(header), want, "{header}");
        }
    }

    #[test]
    fn the_query_beats_the_cookie_beats_the_header() {
        assert_eq!(
            negotiate(Some("en"), Some("zh-CN"), Some("zh")),
            (Lang::En, true)
        );
        assert_eq!(
            negotiate(Some("xx"), Some("zh-CN"), None),
            (Lang::ZhCn, false)
        );
        assert_eq!(negotiate(None, None, Some("zh-CN")), (Lang::ZhCn, false));
        assert_eq!(negotiate(None, Some("bogus"), None), (Lang::En, false));
    }
}
