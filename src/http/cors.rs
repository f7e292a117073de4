//! Cross-origin access from browsers (`CORS_ALLOWED_ORIGINS`).
//!
//! Each listed origin is `scheme://host[:port]` with `http` or `https`, as a browser sends it in
//! `Origin`. It is stored the way browsers serialise origins (lower-case host, default port left
//! out, international names in punycode), so `https://MapaGov.example.gov.br:443/` still matches.
//! A value without a scheme (`127.0.0.1:3000`), with a path, a query or credentials is refused at
//! start-up: it could never match.
//!
//! `*` alone allows every origin. That is safe for this API because it authenticates with a
//! bearer token the calling page must send itself, never with cookies, and the layer never allows
//! credentials. `*` mixed with other origins is refused (it would make the list meaningless).
//!
//! Browsers may send `Authorization`, `Content-Type`, `Accept` and `x-request-id` (the request id
//! the server logs and echoes), and may read the response's `x-request-id`. A preflight's answer
//! is cached for `CORS_MAX_AGE` seconds (`Access-Control-Max-Age`), so an editor autosaving every
//! few seconds pays for one preflight per period rather than one every few requests.

use crate::http::observe::X_REQUEST_ID;
use axum::http::{header, HeaderName, HeaderValue, Method};
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Default of `CORS_MAX_AGE`: two hours, the longest Chromium honours.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7200);
/// Longest `CORS_MAX_AGE` accepted: a day, the longest any browser honours.
pub const MAX_MAX_AGE: Duration = Duration::from_secs(86_400);

/// Parses `CORS_MAX_AGE`: whole seconds from 0 (no caching) to a day.
pub fn parse_max_age(raw: &str) -> Result<Duration, String> {
    let seconds: u64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("`{raw}` is not a whole number of seconds"))?;
    let age = Duration::from_secs(seconds);
    if age > MAX_MAX_AGE {
        return Err(format!(
            "{seconds} s is over {} s, the longest a browser caches a preflight",
            MAX_MAX_AGE.as_secs()
        ));
    }
    Ok(age)
}

/// Which browser origins may call the API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// No cross-origin access (the default).
    #[default]
    None,
    /// Every origin (`*`), without credentials.
    Any,
    /// These origins, normalised.
    List(Vec<HeaderValue>),
}

impl CorsOrigins {
    /// Parses a comma-separated list of origins, or `*`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let entries: Vec<&str> = raw
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        if entries.is_empty() {
            return Ok(CorsOrigins::None);
        }
        if entries.contains(&"*") {
            return if entries.len() == 1 {
                Ok(CorsOrigins::Any)
            } else {
                Err("`*` (any origin) cannot be combined with a list of origins".into())
            };
        }
        entries
            .into_iter()
            .map(origin)
            .collect::<Result<_, _>>()
            .map(CorsOrigins::List)
    }

    /// The layer that answers preflights (cached by browsers for `max_age`) and adds the CORS
    /// headers; `None` when cross-origin access is off.
    pub fn layer(&self, max_age: Duration) -> Option<CorsLayer> {
        let allow = match self {
            CorsOrigins::None => return None,
            CorsOrigins::Any => AllowOrigin::any(),
            CorsOrigins::List(origins) => AllowOrigin::list(origins.iter().cloned()),
        };
        Some(
            CorsLayer::new()
                .allow_origin(allow)
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    header::ACCEPT,
                    X_REQUEST_ID,
                    HeaderName::from_static(crate::db::replica::READ_AFTER),
                ])
                .expose_headers([
                    X_REQUEST_ID,
                    HeaderName::from_static(crate::db::replica::WRITE_POSITION),
                ])
                .max_age(max_age),
        )
    }
}

/// One origin, checked and normalised.
fn origin(entry: &str) -> Result<HeaderValue, String> {
    let refuse = |why: &str| {
        format!("`{entry}` is not an origin like https://mapagov.example.gov.br ({why})")
    };
    let url = url::Url::parse(entry).map_err(|_| refuse("scheme://host[:port]"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse("the scheme must be http or https"));
    }
    if url.host().is_none() {
        return Err(refuse("no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("no credentials in an origin"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(refuse("no path, query or fragment in an origin"));
    }
    HeaderValue::from_str(&url.origin().ascii_serialization())
        .map_err(|_| refuse("not a valid header value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(raw: &str) -> Vec<String> {
        match CorsOrigins::parse(raw).expect("valid") {
            CorsOrigins::List(origins) => origins
                .iter()
                .map(|o| o.to_str().expect("ascii").to_owned())
                .collect(),
            other => panic!("not a list: {other:?}"),
        }
    }

    #[test]
    fn origins_are_normalised_as_browsers_send_them() {
        assert_eq!(
            list("https://MapaGov.example.gov.br:443/, http://127.0.0.1:3000"),
            ["https://mapagov.example.gov.br", "http://127.0.0.1:3000"]
        );
        assert_eq!(
            list("https://formulário.gov.br"),
            ["https://xn--formulrio-51a.gov.br"]
        );
    }

    #[test]
    fn star_alone_is_any_origin_and_empty_is_none() {
        assert_eq!(CorsOrigins::parse(" * ").expect("valid"), CorsOrigins::Any);
        assert_eq!(CorsOrigins::parse(" , ").expect("valid"), CorsOrigins::None);
        assert!(CorsOrigins::Any.layer(DEFAULT_MAX_AGE).is_some());
        assert!(CorsOrigins::None.layer(DEFAULT_MAX_AGE).is_none());
    }

    #[test]
    fn max_age_is_whole_seconds_up_to_a_day() {
        assert_eq!(parse_max_age(" 600 "), Ok(Duration::from_secs(600)));
        assert_eq!(parse_max_age("0"), Ok(Duration::ZERO));
        for bad in ["-1", "1.5", "86401", "", "ten"] {
            assert!(parse_max_age(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_that_could_never_match_are_refused() {
        for raw in [
            "127.0.0.1:3000",
            "localhost:3000",
            "mapagov.example.gov.br",
            "ftp://files.example",
            "https://a.example/app",
            "https://a.example?x=1",
            "https://user:pw@a.example",
            "*, https://a.example",
            "file:///etc",
        ] {
            let err = CorsOrigins::parse(raw).expect_err(raw);
            assert!(!err.is_empty(), "{raw}");
        }
    }
}
