//! Rendering a POP's PDF: `GET /pops/{id}/pdf` of a published 50-step POP with long texts, on the
//! real server (SQLite: the database is not what is measured), next to `pop(id)` reading the same
//! POP's document, in the same run. Each request renders (no `If-None-Match`), with as many
//! clients as the server renders at once (`PDF_MAX_CONCURRENT_RENDERS`, 2), so the latency is the
//! render's own; the server's peak memory over the run is reported too. The first request of
//! freshly started processes (a cold render: the template compiled and laid out with nothing
//! memoized; the fonts are parsed at start-up, before `/healthz` answers) is timed next to the
//! first `pop(id)` of fresh processes.

use crate::load::{self, Api};
use crate::report::{Report, Row};
use crate::{server, BoxError, Settings};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Concurrent renders the server allows, and clients of both runs.
const RENDERS: usize = 2;
/// Fresh server processes whose first request is timed (the worst is reported).
const COLD_STARTS: usize = 3;

/// A POP of `steps` steps of the later form, each with a paragraph of ~500 characters.
fn content(steps: usize) -> Value {
    let long = "Verificar a documentação apresentada pelo requerente, conferindo cada folha com o \
                original e registrando no processo eletrônico as divergências encontradas. "
        .repeat(3);
    let etapas: Vec<Value> = (1..=steps)
        .map(|i| {
            json!({"ordem": i, "acao_principal": format!("Ação {i}"), "descricao": long,
                   "operador_nome": "Técnico Especializado", "sistemas": ["SEI", "SIAPE"],
                   "docs_gerados": [format!("Despacho {i}")], "tempo_estimado": "10 min"})
        })
        .collect();
    json!({"nomeProcesso": "Conceder pensão", "codigoProcesso": "03.02.01.01.001",
           "area": {"codigo": "CGBEN", "nome": "Coordenação-Geral de Benefícios"},
           "entregaEsperada": long, "pontosAtencao": long, "etapas": etapas})
}

/// Measures both and adds their table to `report`.
pub async fn section(report: &mut Report, s: &Settings) -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.sqlite3").display());
    server::run(&url, &["migrate"])?;
    let token = server::create_staff_token(&url, "bench")?;
    let server = server::Server::start(&url, &[("PDF_MAX_CONCURRENT_RENDERS", "2")]).await?;
    let api = Api::new(&server.base, &token)?;
    let created = api
        .gql(
            "mutation($input: AutosavePopInput!) { autosavePop(input: $input) { pop { id } } }",
            json!({"input": {"sessionId": "bench-pdf", "content": content(50)}}),
        )
        .await?;
    let id = created["autosavePop"]["pop"]["id"].clone();
    for status in ["IN_REVIEW", "PUBLISHED"] {
        api.gql(
            "mutation($id: ID!, $s: PopStatus!) { changePopStatus(popId: $id, status: $s) { pop { id } } }",
            json!({"id": id, "s": status}),
        )
        .await?;
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;

    // Cold: the first request of a process that just started (template compiled, nothing
    // memoized; fonts are parsed at start-up), next to the first `pop(id)` of fresh processes.
    drop(server);
    let settings = [("PDF_MAX_CONCURRENT_RENDERS", "2")];
    let mut cold_pdf = Vec::new();
    let mut cold_read = Vec::new();
    for _ in 0..COLD_STARTS {
        let fresh = server::Server::start(&url, &settings).await?;
        let pdf_at = format!(
            "{}/pops/{}/pdf",
            fresh.base,
            id.as_str().unwrap_or_default()
        );
        let started = Instant::now();
        let response = http.get(&pdf_at).bearer_auth(&token).send().await?;
        let ok = response.status().is_success() && response.bytes().await?.starts_with(b"%PDF-");
        cold_pdf.push(started.elapsed().as_secs_f64() * 1000.0);
        if !ok {
            return Err("the cold render failed".into());
        }
        drop(fresh);
        let fresh = server::Server::start(&url, &settings).await?;
        let api = Api::new(&fresh.base, &token)?;
        let started = Instant::now();
        api.gql(
            "query($id: ID!) { pop(id: $id) { document } }",
            json!({"id": id}),
        )
        .await?;
        cold_read.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let worst = |times: &[f64]| times.iter().copied().fold(0.0, f64::max);
    let (cold_pdf, cold_read) = (worst(&cold_pdf), worst(&cold_read));
    let server = server::Server::start(&url, &settings).await?;
    let api = Api::new(&server.base, &token)?;
    let pdf_url = format!(
        "{}/pops/{}/pdf",
        server.base,
        id.as_str().unwrap_or_default()
    );

    let sampler = server::MemorySampler::start(server.pid(), "VmRSS");
    let rendered = load::run(RENDERS, s.warmup, s.window, move |_, _| {
        let request = http.get(&pdf_url).bearer_auth(&token);
        async move {
            let response = request.send().await.map_err(|e| e.to_string())?;
            let status = response.status();
            let body = response.bytes().await.map_err(|e| e.to_string())?;
            if !status.is_success() || !body.starts_with(b"%PDF-") {
                return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
            }
            Ok(())
        }
    })
    .await?;
    let peak = sampler.finish();
    let read = load::run(RENDERS, s.warmup, s.window, move |_, _| {
        let api = api.clone();
        let id = id.clone();
        async move {
            api.gql(
                "query($id: ID!) { pop(id: $id) { document } }",
                json!({"id": id}),
            )
            .await
            .map(|_| ())
        }
    })
    .await?;
    drop(server);
    report.table(
        &format!("8. PDF of a published 50-step POP ({RENDERS} clients, SQLite)"),
        "`pop(id)` of the same POP",
        &[
            Row {
                what: "PDFs/s",
                value: rendered.rate,
                baseline: read.rate,
                unit: "/s",
                goal: None,
            },
            Row {
                what: "  p50 latency",
                value: rendered.p50_ms,
                baseline: read.p50_ms,
                unit: "ms",
                goal: None,
            },
            Row {
                what: "  p99 latency",
                value: rendered.p99_ms,
                baseline: read.p99_ms,
                unit: "ms",
                goal: Some(("p99 < 1000 ms".into(), rendered.p99_ms < 1000.0)),
            },
            Row {
                what: "first request of a fresh process (worst of 3)",
                value: cold_pdf,
                baseline: cold_read,
                unit: "ms",
                goal: Some(("< 1000 ms".into(), cold_pdf < 1000.0)),
            },
        ],
    );
    report.push(&format!(
        "\nServer memory (VmRSS) peak while rendering: {peak:.0} MiB.\n"
    ));
    Ok(())
}
