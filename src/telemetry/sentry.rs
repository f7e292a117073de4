//! Error reporting to Sentry, when `SENTRY_DSN` is set.
//!
//! What is sent: internal errors (`INTERNAL_SERVER_ERROR`, never user errors such as validation,
//! not found or unauthenticated), grouped by GraphQL operation (the event's transaction and
//! fingerprint are the bounded operation label), and panics (the `sentry` panic integration).
//! What is never sent: request bodies, GraphQL variables, headers (the bearer token), cookies or
//! user data — `send_default_pii` is off and [`scrub`] removes those parts of every event before
//! it leaves the process.

use crate::config::Config;
use sentry::protocol::{Event, Level};
use std::borrow::Cow;
use std::sync::Arc;

/// Keeps the Sentry client alive; dropping it flushes pending events (up to its shutdown timeout).
pub type Guard = sentry::ClientInitGuard;

/// Starts the Sentry client if `SENTRY_DSN` is configured.
pub fn init(config: &Config) -> Option<Guard> {
    let dsn = config.sentry_dsn.as_ref()?;
    let dsn = match dsn.expose().parse::<sentry::types::Dsn>() {
        Ok(dsn) => dsn,
        Err(_) => {
            // The DSN was validated by the configuration; never print it (it holds a key).
            tracing::error!(
                "SENTRY_DSN is not usable by the Sentry client; error reporting is off"
            );
            return None;
        }
    };
    let environment = format!("{:?}", config.app_env).to_lowercase();
    let guard = sentry::init(sentry::ClientOptions {
        dsn: Some(dsn),
        release: sentry::release_name!(),
        environment: Some(Cow::Owned(environment)),
        send_default_pii: false,
        before_send: Some(Arc::new(|event| Some(scrub(event)))),
        ..Default::default()
    });
    tracing::info!("error reporting to Sentry is on");
    Some(guard)
}

/// Removes every part of an event that could carry a request body, variables, headers, cookies
/// or user data.
pub fn scrub(mut event: Event<'static>) -> Event<'static> {
    event.request = None;
    event.user = None;
    event.breadcrumbs = Default::default();
    event.extra.clear();
    event
}

/// Reports an internal error of the GraphQL operation labelled `operation` (with `detail`, the
/// server-side description that clients never see).
pub fn report_internal(operation: &str, detail: &str) {
    if sentry::Hub::current().client().is_none() {
        return;
    }
    let mut event = Event::new();
    event.level = Level::Error;
    event.message = Some(format!("internal error in operation {operation}: {detail}"));
    event.transaction = Some(operation.to_owned());
    event.fingerprint = Cow::Owned(vec![
        Cow::Borrowed("internal-error"),
        Cow::Owned(operation.to_owned()),
    ]);
    event.tags.insert("operation".into(), operation.to_owned());
    sentry::capture_event(event);
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentry::protocol::{Breadcrumb, Request, User};

    #[test]
    fn scrub_removes_request_user_breadcrumbs_and_extras() {
        let mut event = Event::new();
        event.message = Some("internal error in operation ReadPop: boom".into());
        event.request = Some(Request {
            data: Some("{\"query\":\"...\"}".into()),
            headers: [("Authorization".to_owned(), "Bearer mgv_secret".to_owned())]
                .into_iter()
                .collect(),
            cookies: Some("session=secret".into()),
            ..Default::default()
        });
        event.user = Some(User {
            username: Some("maria".into()),
            ..Default::default()
        });
        event.breadcrumbs = vec![Breadcrumb {
            message: Some("Bearer mgv_secret".into()),
            ..Default::default()
        }]
        .into();
        event.extra.insert("variables".into(), "secret".into());
        let scrubbed = scrub(event);
        let text = serde_json::to_string(&scrubbed).unwrap_or_default();
        assert!(!text.contains("secret"), "{text}");
        assert!(!text.contains("maria"), "{text}");
        assert!(
            text.contains("internal error in operation ReadPop"),
            "{text}"
        );
    }
}
