//! Content negotiation on `Accept` for `/graphql` (GraphQL over HTTP, with GraphiQL for browsers).
//!
//! The offers are `application/graphql-response+json` (whose status codes tell request errors
//! apart: 400 for a document that does not parse or validate), `application/json` (the older
//! media type: 200 for every well-formed request), `text/event-stream` (GraphQL over Server-Sent
//! Events, [`super::sse`]) and, on `GET` with GraphiQL on, `text/html` (the GraphiQL page). Each offer gets the quality of the most specific range of `Accept` that
//! matches it; the highest positive quality wins. On a tie, a media type the client named
//! outright beats one it reached through a wildcard, and between two named JSON types
//! `application/graphql-response+json` wins, and any JSON type beats `text/event-stream` (urql
//! lists all three for plain queries); through wildcards only (`*/*`, `application/*`)
//! `application/json` does. A stream is answered only to a client that names
//! `text/event-stream` and prefers it. No `Accept` at all means `application/json`, as the GraphQL-over-HTTP
//! specification asks. When nothing offered is acceptable the answer is 406.

use axum::http::{header, HeaderMap, HeaderValue};

/// What a response to `/graphql` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/graphql-response+json`: request errors are 4xx.
    GraphqlResponse,
    /// `application/json`: every well-formed request is answered 200.
    Json,
    /// The GraphiQL page.
    Html,
    /// `text/event-stream`: the operation's results as Server-Sent Events.
    EventStream,
}

impl Format {
    /// The media type, without parameters.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::GraphqlResponse => "application/graphql-response+json",
            Format::Json => "application/json",
            Format::Html => "text/html",
            Format::EventStream => "text/event-stream",
        }
    }

    /// The response's `Content-Type` (UTF-8, always).
    pub fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Format::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            Format::Json => "application/json; charset=utf-8",
            Format::Html => "text/html; charset=utf-8",
            Format::EventStream => "text/event-stream",
        })
    }
}

/// One media range of `Accept`, e.g. `application/*;q=0.5`.
struct Range<'a> {
    kind: &'a str,
    subtype: &'a str,
    quality: f32,
}

impl Range<'_> {
    /// How specifically this range names `media` (2 exactly, 1 `type/*`, 0 `*/*`), if it does.
    fn matches(&self, media: &str) -> Option<u8> {
        let (kind, subtype) = media.split_once('/')?;
        if self.kind == "*" && self.subtype == "*" {
            Some(0)
        } else if self.kind.eq_ignore_ascii_case(kind) && self.subtype == "*" {
            Some(1)
        } else if self.kind.eq_ignore_ascii_case(kind) && self.subtype.eq_ignore_ascii_case(subtype)
        {
            Some(2)
        } else {
            None
        }
    }
}

fn ranges(accept: &str) -> Vec<Range<'_>> {
    accept
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let (kind, subtype) = parts.next()?.trim().split_once('/')?;
            let quality = parts
                .filter_map(|p| p.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
                .map_or(Some(1.0), |(_, q)| q.trim().parse::<f32>().ok())?;
            Some(Range {
                kind: kind.trim(),
                subtype: subtype.trim(),
                quality: quality.clamp(0.0, 1.0),
            })
        })
        .collect()
}

/// The format to answer in, among the JSON types, the event stream and, when `html` is true,
/// GraphiQL's page; `None` when the client accepts none of them.
pub fn choose(headers: &HeaderMap, html: bool) -> Option<Format> {
    let accept: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let accept = accept.join(",");
    if accept.trim().is_empty() {
        return Some(Format::Json);
    }
    let ranges = ranges(&accept);
    let offers: &[Format] = if html {
        &[
            Format::GraphqlResponse,
            Format::Json,
            Format::EventStream,
            Format::Html,
        ]
    } else {
        &[Format::GraphqlResponse, Format::Json, Format::EventStream]
    };
    let mut best: Option<(f32, u8, u8, Format)> = None;
    for &offer in offers {
        // A stream only to a client that names it: `*/*` and `text/*` keep their JSON answer.
        let least = if offer == Format::EventStream { 2 } else { 0 };
        let Some((quality, specificity)) = ranges
            .iter()
            .filter_map(|r| r.matches(offer.media_type()).map(|s| (r.quality, s)))
            .filter(|&(_, s)| s >= least)
            .max_by_key(|&(_, s)| s)
        else {
            continue;
        };
        if quality <= 0.0 {
            continue;
        }
        // Tie-break: graphql-response+json when named outright, application/json otherwise,
        // and a stream last.
        let preference = match (offer, specificity) {
            (Format::GraphqlResponse, 2) => 3,
            (Format::Json, _) => 2,
            (Format::EventStream, _) => 0,
            _ => 1,
        };
        let key = (quality, specificity, preference, offer);
        if best.is_none_or(|(q, s, p, _)| (quality, specificity, preference) > (q, s, p)) {
            best = Some(key);
        }
    }
    best.map(|(_, _, _, format)| format)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(accept: Option<&str>, html: bool) -> Option<Format> {
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept {
            headers.insert(
                header::ACCEPT,
                HeaderValue::from_str(accept).expect("ascii"),
            );
        }
        choose(&headers, html)
    }

    #[test]
    fn json_types_are_negotiated_as_the_specification_asks() {
        use Format::*;
        assert_eq!(pick(None, false), Some(Json));
        assert_eq!(pick(Some("*/*"), false), Some(Json));
        assert_eq!(pick(Some("application/*"), false), Some(Json));
        assert_eq!(pick(Some("application/json"), false), Some(Json));
        assert_eq!(
            pick(Some("application/graphql-response+json"), false),
            Some(GraphqlResponse)
        );
        // urql, graphql-request and Apollo Client send both, graphql-response+json first.
        assert_eq!(
            pick(
                Some("application/graphql-response+json, application/graphql+json, application/json, text/event-stream, multipart/mixed"),
                false
            ),
            Some(GraphqlResponse)
        );
        assert_eq!(
            pick(
                Some("application/graphql-response+json;q=0.5, application/json"),
                false
            ),
            Some(Json)
        );
        assert_eq!(pick(Some("application/json, */*;q=0.1"), false), Some(Json));
        assert_eq!(pick(Some("text/plain"), false), None);
        assert_eq!(pick(Some("text/*"), false), None);
        assert_eq!(pick(Some("application/json;q=0"), false), None);
    }

    #[test]
    fn a_stream_is_answered_to_clients_that_prefer_it() {
        use Format::*;
        // graphql-sse and EventSource send this alone.
        assert_eq!(pick(Some("text/event-stream"), false), Some(EventStream));
        assert_eq!(pick(Some("text/event-stream"), true), Some(EventStream));
        assert_eq!(
            pick(Some("application/json;q=0.5, text/event-stream"), false),
            Some(EventStream)
        );
        assert_eq!(
            pick(Some("text/event-stream, application/json"), false),
            Some(Json)
        );
        assert_eq!(pick(Some("*/*"), false), Some(Json));
        // Through a wildcard a stream is never chosen, whatever the qualities.
        assert_eq!(
            pick(Some("application/json;q=0.9, */*"), false),
            Some(GraphqlResponse)
        );
    }

    #[test]
    fn browsers_get_graphiql_only_when_it_is_offered() {
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert_eq!(pick(Some(browser), true), Some(Format::Html));
        assert_eq!(pick(Some(browser), false), Some(Format::Json));
        assert_eq!(pick(Some("text/html"), false), None);
        assert_eq!(pick(None, true), Some(Format::Json));
        assert_eq!(pick(Some("*/*"), true), Some(Format::Json));
    }
}
