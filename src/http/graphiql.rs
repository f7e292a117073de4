//! GraphiQL served entirely by this server, so that it works on networks that
//! cannot reach a CDN.
//!
//! [`page`] renders the HTML page that mounts GraphiQL, and [`asset_routes`]
//! serves its scripts and styles under [`ASSET_PREFIX`] from copies compiled
//! into the binary. The copies are pinned prebuilt files from the npm registry
//! (GraphiQL 3 with its explorer plugin, and React 18); `assets/graphiql/README.md` lists their versions
//! and licences and explains how to refresh them. Every file name carries its
//! version, so the files are served as immutable.

use axum::{
    extract::Path,
    http::{header, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Response},
    routing::get,
    Router,
};

/// URL path under which [`asset_routes`] serves the GraphiQL files.
pub const ASSET_PREFIX: &str = "/graphiql";

/// `Cache-Control` value for the assets: their names are versioned, so a
/// browser may keep them for a year without revalidating.
const CACHE_FOREVER: &str = "public, max-age=31536000, immutable";

/// A static file compiled into the binary.
struct Asset {
    /// File name under [`ASSET_PREFIX`], version included.
    name: &'static str,
    /// Value of the `Content-Type` response header.
    content_type: &'static str,
    /// File contents.
    body: &'static [u8],
}

/// Includes `assets/graphiql/<name>` as an [`Asset`].
macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/assets/graphiql/",
                $name
            )),
        }
    };
}

/// `Content-Type` of the scripts.
const JS: &str = "text/javascript; charset=utf-8";
/// `Content-Type` of the style sheet.
const CSS: &str = "text/css; charset=utf-8";

/// React 18 UMD production build; defines the global `React`.
const REACT: Asset = asset!("react-18.3.1.production.min.js", JS);
/// ReactDOM 18 UMD production build; defines the global `ReactDOM`.
const REACT_DOM: Asset = asset!("react-dom-18.3.1.production.min.js", JS);
/// GraphiQL 3 UMD build; needs `React` and `ReactDOM`, defines `GraphiQL`.
const GRAPHIQL_JS: Asset = asset!("graphiql-3.9.0.min.js", JS);
/// GraphiQL 3 style sheet (its fonts are inlined as data URLs).
const GRAPHIQL_CSS: Asset = asset!("graphiql-3.9.0.min.css", CSS);

/// GraphiQL's explorer plugin, UMD build; needs `React` and `GraphiQL` (it uses the copies of
/// `@graphiql/react` and graphql-js inside GraphiQL), defines `GraphiQLPluginExplorer`.
const EXPLORER_JS: Asset = asset!("graphiql-plugin-explorer-3.2.6.umd.js", JS);
/// The explorer plugin's style sheet.
const EXPLORER_CSS: Asset = asset!("graphiql-plugin-explorer-3.2.6.css", CSS);

/// Every file that [`asset_routes`] serves.
const ASSETS: [&Asset; 6] = [
    &REACT,
    &REACT_DOM,
    &GRAPHIQL_JS,
    &GRAPHIQL_CSS,
    &EXPLORER_JS,
    &EXPLORER_CSS,
];

/// The query GraphiQL opens on, the first time a browser opens it: a MapaGov example, with how
/// to sign in (GraphiQL keeps the editor's text in the browser after that).
pub const EXAMPLE_QUERY: &str = r#"# Welcome to MapaGov's GraphQL API. Run a query with the ▶ button (Ctrl-Enter).
# Most fields need a token: run the `login` mutation below (or ask an admin for
# one), then put {"Authorization": "Bearer <token>"} in the Headers tab below;
# this tab keeps it across reloads. The explorer (sidebar) lists every field.

# The five newest POPs you may read.
query NewestPops {
  me {
    username
  }
  pops(first: 5) {
    totalCount
    nodes {
      id
      nomeProcesso
      codigoProcesso
      status
      autosaveSequence
      updatedAt
    }
  }
}

mutation Login {
  login(username: "your.name", password: "your password") {
    token
  }
}
"#;

/// The GraphiQL page for the GraphQL endpoint at `endpoint`.
///
/// The page loads only the same-origin files served by [`asset_routes`] and
/// sends each operation as a JSON `POST` to `endpoint`, which may be a path
/// such as `/graphql` or an absolute URL. It opens on [`EXAMPLE_QUERY`], has
/// the explorer plugin in its sidebar, and keeps the headers typed into its
/// headers editor, `Authorization` included, in the tab's `sessionStorage`:
/// across reloads, gone with the tab, never on the server; clearing the
/// editor forgets them.
pub fn page(endpoint: &str) -> Html<String> {
    let css = GRAPHIQL_CSS.name;
    let explorer_css = EXPLORER_CSS.name;
    let react = REACT.name;
    let react_dom = REACT_DOM.name;
    let graphiql = GRAPHIQL_JS.name;
    let explorer = EXPLORER_JS.name;
    let endpoint = escape_html(endpoint);
    let example = escape_html(EXAMPLE_QUERY);
    Html(format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>MapaGov GraphiQL</title>
<link rel="stylesheet" href="{ASSET_PREFIX}/{css}">
<link rel="stylesheet" href="{ASSET_PREFIX}/{explorer_css}">
<style>
html, body {{ height: 100%; margin: 0; overflow: hidden; }}
#graphiql {{ height: 100vh; }}
</style>
</head>
<body>
<div id="graphiql" data-endpoint="{endpoint}" data-example="{example}"><noscript>GraphiQL needs JavaScript.</noscript></div>
<script src="{ASSET_PREFIX}/{react}"></script>
<script src="{ASSET_PREFIX}/{react_dom}"></script>
<script src="{ASSET_PREFIX}/{graphiql}"></script>
<script src="{ASSET_PREFIX}/{explorer}"></script>
<script>
(function () {{
  var container = document.getElementById("graphiql");
  var fetcher = GraphiQL.createFetcher({{ url: container.dataset.endpoint }});
  // The headers (the token) are kept in this tab's sessionStorage: across reloads, gone with
  // the tab; the rest of GraphiQL's state in localStorage. GraphiQL 3.9 removes the saved
  // headers once while it mounts, so they would survive a single reload: that removal, in the
  // first seconds after loading, is ignored (the user clearing the editor later goes through).
  var HEADERS = "graphiql:headers";
  var loadedAt = Date.now();
  var mountRemovalSeen = false;
  var shelf = function (key) {{ return key === HEADERS ? sessionStorage : localStorage; }};
  var storage = {{
    getItem: function (key) {{ return shelf(key).getItem(key); }},
    setItem: function (key, value) {{ shelf(key).setItem(key, value); }},
    removeItem: function (key) {{
      if (key === HEADERS && !mountRemovalSeen && Date.now() - loadedAt < 3000) {{
        mountRemovalSeen = true;
        return;
      }}
      shelf(key).removeItem(key);
    }},
    clear: function () {{
      sessionStorage.removeItem(HEADERS);
      Object.keys(localStorage).forEach(function (key) {{
        if (key.indexOf("graphiql:") === 0) localStorage.removeItem(key);
      }});
    }},
    get length() {{ return localStorage.length; }}
  }};
  ReactDOM.createRoot(container).render(
    React.createElement(GraphiQL, {{
      fetcher: fetcher,
      storage: storage,
      plugins: [GraphiQLPluginExplorer.explorerPlugin()],
      defaultQuery: container.dataset.example,
      defaultEditorToolsVisibility: "headers",
      shouldPersistHeaders: true
    }})
  );
}})();
</script>
</body>
</html>
"#
    ))
}

/// Routes that serve the GraphiQL files under `/graphiql/{file}`.
///
/// Each response carries its `Content-Type` and a year-long immutable
/// `Cache-Control`; an unknown file name gets `404 Not Found`.
pub fn asset_routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route(&format!("{ASSET_PREFIX}/{{file}}"), get(serve_asset))
}

/// Serves the asset named `file`, or `404 Not Found`.
async fn serve_asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|asset| asset.name == file) {
        Some(asset) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(asset.content_type),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static(CACHE_FOREVER),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            asset.body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Escapes `text` for use in HTML text or in a quoted attribute value.
fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{body::Body, http::Request};
    use tower::ServiceExt;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// The values of every `src="…"` and `href="…"` attribute in `html`.
    fn linked_urls(html: &str) -> Vec<&str> {
        ["src=\"", "href=\""]
            .iter()
            .flat_map(|attr| html.split(attr).skip(1))
            .filter_map(|rest| rest.split('"').next())
            .collect()
    }

    /// Sends `GET uri` to the asset routes.
    async fn get_asset(uri: &str) -> Result<Response, Box<dyn std::error::Error>> {
        let request = Request::get(uri).body(Body::empty())?;
        Ok(asset_routes::<()>().oneshot(request).await?)
    }

    /// Both operations of the example pass validation against the real schema: run without a
    /// database, they fail only in their resolvers (each error has a path), never as a document.
    #[tokio::test]
    async fn example_query_is_valid() {
        let schema = crate::graphql::schema_builder().finish();
        for operation in ["NewestPops", "Login"] {
            let request = async_graphql::Request::new(EXAMPLE_QUERY).operation_name(operation);
            let response = schema.execute(request).await;
            assert!(!response.errors.is_empty(), "{operation}");
            for error in &response.errors {
                assert!(!error.path.is_empty(), "{operation}: {error:?}");
            }
        }
    }

    #[test]
    fn page_links_only_same_origin_assets() {
        let html = page("/graphql").0;
        let urls = linked_urls(&html);
        assert_eq!(urls.len(), ASSETS.len(), "{urls:?}");
        for url in urls {
            assert!(url.starts_with("/graphiql/"), "{url}");
        }
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(html.contains("<title>MapaGov GraphiQL</title>"));
    }

    #[tokio::test]
    async fn every_linked_asset_is_served() -> TestResult {
        let html = page("/graphql").0;
        for url in linked_urls(&html) {
            let response = get_asset(url).await?;
            assert_eq!(response.status(), StatusCode::OK, "{url}");
            let headers = response.headers();
            assert_eq!(headers[header::CACHE_CONTROL], CACHE_FOREVER, "{url}");
            let content_type = headers[header::CONTENT_TYPE].to_str()?;
            let expected = if url.ends_with(".css") { CSS } else { JS };
            assert_eq!(content_type, expected, "{url}");
            let body = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
            let name = url.trim_start_matches("/graphiql/");
            let asset = ASSETS.iter().find(|asset| asset.name == name);
            assert_eq!(Some(&body[..]), asset.map(|asset| asset.body), "{url}");
        }
        Ok(())
    }

    #[tokio::test]
    async fn unknown_asset_is_not_found() -> TestResult {
        for uri in [
            "/graphiql/graphiql.min.js",
            "/graphiql/LICENSE.react",
            "/graphiql/..%2FCargo.toml",
        ] {
            assert_eq!(
                get_asset(uri).await?.status(),
                StatusCode::NOT_FOUND,
                "{uri}"
            );
        }
        Ok(())
    }

    #[test]
    fn endpoint_is_escaped() {
        let html = page(r#"/q"><script>alert('x')</script>&"#).0;
        assert!(html.contains(
            r#"data-endpoint="/q&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;""#
        ));
        assert!(!html.contains("<script>alert"));
    }

    #[test]
    fn page_mounts_graphiql_with_the_endpoint() {
        let html = page("/graphql").0;
        assert!(html.contains(r#"data-endpoint="/graphql""#));
        assert!(html.contains("GraphiQL.createFetcher({ url: container.dataset.endpoint })"));
    }
}
