//! `GET /pops/{id}/pdf`: the POP's official document, looked at as a person would: its text
//! extracted with `pdftotext`, its words' boxes with `pdftotext -bbox`, its pages rendered with
//! `pdftoppm` (poppler-utils; `scripts/test` installs it).
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::pops::{change_status, create};
use common::{fixture, Backend, Client, TestServer};
use mapagov::transfer::import::{self, ImportOptions};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

/// Page margins of the template (2.2 cm left and right), in points, less a point of rounding.
const SIDE_MARGIN_PT: f64 = 2.2 / 2.54 * 72.0 - 1.0;

/// GETs a POP's PDF; returns the status, the headers and the body.
async fn get_pdf(
    client: &Client,
    id: &Value,
    query: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let url = client.url(&format!("/pops/{}/pdf{query}", id.as_str().unwrap()));
    let mut request = client.http().get(url);
    if let Some(token) = &client.token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

/// GETs a PDF that must render.
async fn pdf(client: &Client, id: &Value) -> Vec<u8> {
    let (status, headers, body) = get_pdf(client, id, "").await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], "application/pdf");
    assert!(body.starts_with(b"%PDF-"));
    body
}

/// The error code of a JSON error answer.
fn code(body: &[u8]) -> String {
    let body: Value = serde_json::from_slice(body).unwrap();
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Runs a poppler tool on `pdf`; returns its standard output.
fn poppler(tool: &str, args: &[&str], pdf: &[u8], dir: &Path) -> String {
    let file = dir.join("doc.pdf");
    std::fs::write(&file, pdf).unwrap();
    let output = Command::new(tool)
        .args(args)
        .arg(&file)
        .args(match tool {
            "pdftoppm" => vec![dir.join("page").display().to_string()],
            "pdfinfo" => vec![],
            _ => vec!["-".to_owned()],
        })
        .output()
        .unwrap_or_else(|e| panic!("{tool} (install poppler-utils): {e}"));
    assert!(
        output.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Text without any blank (line breaks and wrapping differ from the source text).
fn squeeze(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{200B}')
        .collect()
}

/// The text of every page, in content order.
fn pages_text(pdf: &[u8], dir: &Path) -> Vec<String> {
    let text = poppler("pdftotext", &["-raw", "-enc", "UTF-8"], pdf, dir);
    let mut pages: Vec<String> = text.split('\u{c}').map(str::to_owned).collect();
    if pages.last().is_some_and(|p| p.trim().is_empty()) {
        pages.pop();
    }
    pages
}

/// Page count from `pdfinfo`.
fn page_count(pdf: &[u8], dir: &Path) -> usize {
    let info = poppler("pdfinfo", &[], pdf, dir);
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Every word's box lies inside the page's side margins and its height (`pdftotext -bbox`),
/// the letters of the watermark (drawn diagonally across the page) aside.
fn assert_no_text_off_the_page(pdf: &[u8], dir: &Path) {
    let html = poppler("pdftotext", &["-bbox"], pdf, dir);
    let attr = |tag: &str, name: &str| -> f64 {
        let start = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        let end = start + tag[start..].find('"').unwrap();
        tag[start..end].parse().unwrap()
    };
    let mut words = 0;
    for page in html.split("<page ").skip(1) {
        let (width, height) = (attr(page, "width"), attr(page, "height"));
        for word in page.split("<word ").skip(1) {
            let text = &word[word.find('>').unwrap() + 1..word.find("</word>").unwrap()];
            let (x0, x1) = (attr(word, "xMin"), attr(word, "xMax"));
            let (y0, y1) = (attr(word, "yMin"), attr(word, "yMax"));
            // The 90 pt diagonal watermark; the largest text otherwise is the 24 pt title.
            if y1 - y0 > 40.0 && "RASCUNHOARQUIVADO".contains(text) {
                continue;
            }
            words += 1;
            assert!(
                x0 >= SIDE_MARGIN_PT && x1 <= width - SIDE_MARGIN_PT && y0 >= 0.0 && y1 <= height,
                "`{text}` runs off the page: x {x0}..{x1} y {y0}..{y1} on {width}x{height}"
            );
        }
    }
    assert!(words > 0);
}

/// Renders every page with `pdftoppm` (grey, 36 dpi): as many images as pages, and nothing drawn
/// in the outer centimetre of either side.
fn assert_pages_render_within_margins(pdf: &[u8], dir: &Path) -> usize {
    poppler("pdftoppm", &["-gray", "-r", "36"], pdf, dir);
    let mut images: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pgm"))
        .collect();
    images.sort();
    for image in &images {
        let bytes = std::fs::read(image).unwrap();
        // P5 <width> <height> <max>, then one byte per pixel.
        let mut fields = Vec::new();
        let mut at = 0;
        while fields.len() < 4 {
            while bytes[at].is_ascii_whitespace() {
                at += 1;
            }
            let start = at;
            while !bytes[at].is_ascii_whitespace() {
                at += 1;
            }
            fields.push(String::from_utf8_lossy(&bytes[start..at]).into_owned());
        }
        let (width, height): (usize, usize) =
            (fields[1].parse().unwrap(), fields[2].parse().unwrap());
        let pixels = &bytes[at + 1..];
        assert_eq!(pixels.len(), width * height);
        let strip = (36.0 / 2.54_f64).floor() as usize; // 1 cm
        for y in 0..height {
            for x in (0..strip).chain(width - strip..width) {
                assert!(
                    pixels[y * width + x] > 240,
                    "{}: ink at ({x}, {y}), in the outer centimetre",
                    image.display()
                );
            }
        }
    }
    images.len()
}

/// What a person must find in a POP's document: every section and every value it holds.
fn expected_values(pop: &Value) -> Vec<String> {
    let mut values: Vec<String> = [
        "Identificação",
        "Sumário",
        "Entrega esperada",
        "Dispositivos normativos",
        "Sistemas utilizados",
        "Operadores",
        "Etapas do processo",
        "Tempo total estimado",
        "Documentos utilizados",
        "Pontos de atenção",
        "Controle de revisões",
        "PROCEDIMENTO OPERACIONAL PADRÃO",
    ]
    .map(str::to_owned)
    .to_vec();
    let text = |v: &Value| {
        v.as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    for field in [
        "nomeProcesso",
        "codigoProcesso",
        "macroprocesso",
        "processoEspecifico",
        "entregaEsperada",
        "pontosAtencao",
        "nomeUsuario",
    ] {
        values.extend(text(&pop[field]));
    }
    values.extend(text(&pop["area"]["nome"]));
    for (field, separator) in [("dispositivosNormativos", '|'), ("operadores", ',')] {
        if let Some(all) = pop[field].as_str() {
            values.extend(all.split(separator).filter_map(|v| text(&json!(v))));
        }
    }
    for list in ["sistemas", "fluxosEntrada", "fluxosSaida"] {
        values.extend(pop[list].as_array().into_iter().flatten().filter_map(text));
    }
    for step in pop["etapas"].as_array().into_iter().flatten() {
        for key in ["descricao", "operador", "antes_decisao"] {
            values.extend(text(&step[key]));
        }
        values.extend(
            step["detalhes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(text),
        );
        for scenario in step["cenarios"].as_array().into_iter().flatten() {
            values.extend(text(&scenario["descricao"]));
        }
    }
    for doc in pop["documentosUtilizados"].as_array().into_iter().flatten() {
        for key in ["tipo_documento", "tipo_uso", "descricao", "sistema"] {
            values.extend(text(&doc[key]));
        }
    }
    values
}

/// Imports the legacy Django database (`mapagov import-django`'s code path).
async fn import_fixture(server: &TestServer) {
    let data = mapagov::legacy::read(&fixture("legacy-mapagov.sqlite3"))
        .await
        .unwrap();
    import::import(&server.db().await, &data, &ImportOptions::default())
        .await
        .unwrap_or_else(|e| panic!("import: {}", e.message()));
}

const FIELDS: &str = "id pdfUrl status nomeUsuario area { codigo nome } macroprocesso \
    codigoProcesso nomeProcesso processoEspecifico entregaEsperada dispositivosNormativos \
    sistemas operadores pontosAtencao etapas documentosUtilizados fluxosEntrada fluxosSaida";

async fn every_legacy_pop_renders_every_section_and_value(backend: Backend) {
    let server = TestServer::start(backend).await;
    import_fixture(&server).await;
    let staff = server.staff().await;
    let data = staff
        .data(
            &format!("{{ pops(first: 100, includeDeleted: true) {{ nodes {{ {FIELDS} }} }} }}"),
            json!({}),
        )
        .await;
    let pops = data["pops"]["nodes"].as_array().unwrap();
    assert_eq!(pops.len(), 53);
    for pop in pops {
        let id = &pop["id"];
        assert_eq!(pop["pdfUrl"], format!("/pops/{}/pdf", id.as_str().unwrap()));
        let bytes = pdf(staff, id).await;
        let dir = tempfile::tempdir().unwrap();
        let pages = pages_text(&bytes, dir.path());
        assert_eq!(pages.len(), page_count(&bytes, dir.path()));
        assert!(pages.len() >= 3, "cover, identification, sections");
        let all = squeeze(&pages.concat());
        for value in expected_values(pop) {
            assert!(
                all.contains(&squeeze(&value)),
                "POP {id}: `{value}` is not in its PDF"
            );
        }
        for (n, page) in pages.iter().enumerate() {
            assert!(
                page.contains("RASCUNHO"),
                "POP {id} is a draft: page {} lacks the mark",
                n + 1
            );
        }
        assert_no_text_off_the_page(&bytes, dir.path());
    }
}

/// 55 steps of the later form with long texts, a decision, documents; one word of 300 letters.
fn long_content() -> Value {
    let long = "Verificar a documentação apresentada pelo requerente, conferindo cada folha \
                com o original e registrando no processo eletrônico as divergências encontradas. "
        .repeat(6);
    let steps: Vec<Value> = (1..=55)
        .map(|i| {
            let mut step = json!({
                "id": format!("00000000-0000-4000-8000-{i:012}"),
                "ordem": i,
                "acao_principal": format!("Ação principal número {i} do procedimento"),
                "descricao": format!("{long} Passo {i}."),
                "operador_nome": "Técnico Especializado em Análise de Benefícios",
                "sistemas": ["SEI", "SIAPE"],
                "docs_requeridos": ["Requerimento assinado"],
                "docs_gerados": [{"nome": format!("Despacho {i}")}],
                "verificacoes": [format!("Conferir o item {i}")],
                "tempo_estimado": "10 min",
            });
            if i % 10 == 0 {
                step["tipo"] = json!("condicional");
                step["antes_decisao"] =
                    json!(format!("A documentação da etapa {i} está completa?"));
                step["tipo_condicional"] = json!("binario");
                step["cenarios"] = json!([
                    {"descricao": "Sim, completa", "proximo_passo": format!("{}", i + 1)},
                    {"descricao": "Não, incompleta", "proximo_passo": "Devolver ao requerente"},
                ]);
            }
            step
        })
        .collect();
    let documents: Vec<Value> = (1..=40)
        .map(|i| {
            json!({"tipo_documento": "Formulário", "tipo_uso": "Gerado", "obrigatorio": i % 2 == 0,
                   "descricao": format!("Formulário de requerimento de número {i} com as \
                   informações pessoais do beneficiário e a assinatura do servidor"),
                   "sistema": "SEI"})
        })
        .collect();
    json!({
        "nomeProcesso": "Conceder pensão por morte a cônjuge, companheiro, filhos e pais",
        "codigoProcesso": "03.02.01.01.001",
        "area": {"codigo": "CGBEN", "nome": "Coordenação-Geral de Benefícios"},
        "macroprocesso": "Gestão de Pensões",
        "processoEspecifico": "Concessão de pensões",
        "entregaEsperada": long,
        "dispositivosNormativos": "Lei nº 8.112, de 11 de dezembro de 1990 | Lei nº 9.784, de 29 de janeiro de 1999",
        "sistemas": ["SEI", "SIAPE", "SIGEPE"],
        "operadores": "Técnico Especializado, Coordenador",
        "pontosAtencao": format!("{} {}", "a".repeat(300), long),
        "etapas": steps,
        "documentosUtilizados": documents,
    })
}

async fn a_published_pop_of_55_steps_is_laid_out_within_its_pages(backend: Backend) {
    let server = TestServer::start(backend).await;
    let pop = create(&server, "s", long_content()).await;
    let id = pop["id"].clone();
    change_status(&server, &id, "IN_REVIEW", None).await;
    change_status(&server, &id, "PUBLISHED", None).await;

    let (status, headers, bytes) = get_pdf(&server, &id, "").await;
    assert_eq!(status, StatusCode::OK);
    let dir = tempfile::tempdir().unwrap();
    let pages = pages_text(&bytes, dir.path());
    let all = pages.concat();
    assert!(!all.contains("RASCUNHO"), "a published POP is not marked");
    let squeezed = squeeze(&all);
    let today = chrono::Utc::now().format("%d/%m/%Y").to_string();
    for value in [
        "Publicado",
        "Versão 2",
        "staff",
        &today,
        "9 h 10 min",
        "Ação principal número 55 do procedimento",
        "A documentação da etapa 50 está completa?",
        "Devolver ao requerente",
        "Despacho 55",
        "Conferir o item 55",
        "Formulário de requerimento de número 40",
        &"a".repeat(300),
    ] {
        assert!(squeezed.contains(&squeeze(value)), "`{value}` is missing");
    }
    let count = page_count(&bytes, dir.path());
    assert!(count > 10, "55 long steps take many pages, not {count}");
    assert_eq!(pages.len(), count);
    assert_no_text_off_the_page(&bytes, dir.path());
    let images = tempfile::tempdir().unwrap();
    assert_eq!(
        assert_pages_render_within_margins(&bytes, images.path()),
        count
    );

    // The same version renders the same bytes, so the ETag holds.
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let (_, again_headers, again) = get_pdf(&server, &id, "?version=2").await;
    assert!(
        again == bytes,
        "the same version renders byte-identical output"
    );
    assert_eq!(again_headers["etag"], etag.as_str());
    let not_modified = server
        .http()
        .get(server.url(&format!("/pops/{}/pdf", id.as_str().unwrap())))
        .bearer_auth(server.token.as_ref().unwrap())
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);

    let (status, _, body) = get_pdf(&server, &id, "?version=1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code(&body), "NOT_FOUND");
    let (status, _, body) = get_pdf(&server, &id, "?version=dois").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "BAD_USER_INPUT");
}

async fn the_pdf_is_as_private_as_the_pop(backend: Backend) {
    let server = TestServer::start(backend).await;
    // Typst markup in a POP is text, never code.
    let name = r#"Analisar recurso de pensão #pagebreak() *nada* $x^2$ @ref <rótulo> \ _fim_ ]"#;
    let pop = create(&server, "s", json!({"nomeProcesso": name})).await;
    let id = pop["id"].clone();

    let (status, headers, body) = get_pdf(&server.anonymous(), &id, "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], "Bearer");
    assert_eq!(code(&body), "UNAUTHENTICATED");
    let (status, _, body) = get_pdf(&server.with_token("not-a-token"), &id, "").await;
    assert_eq!(
        (status, code(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED")
    );

    let stranger = server.user("stranger", false, None).await;
    let (status, _, hidden) = get_pdf(&stranger, &id, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let missing = json!(uuid::Uuid::new_v4().to_string());
    let (_, _, absent) = get_pdf(&stranger, &missing, "").await;
    assert_eq!(
        hidden, absent,
        "the same answer as for a POP that does not exist"
    );
    let (status, _, body) = get_pdf(&server, &json!("not-a-uuid"), "").await;
    assert_eq!(
        (status, code(&body).as_str()),
        (StatusCode::BAD_REQUEST, "BAD_USER_INPUT")
    );

    // The owner reads the draft, marked as such on every page.
    let bytes = pdf(&server, &id).await;
    let dir = tempfile::tempdir().unwrap();
    let pages = pages_text(&bytes, dir.path());
    assert!(pages.iter().all(|page| page.contains("RASCUNHO")));
    assert!(squeeze(&pages.concat()).contains(&squeeze(name)));
    // A published version that does not exist yet.
    let (status, _, body) = get_pdf(&server, &id, "?version=1").await;
    assert_eq!(
        (status, code(&body).as_str()),
        (StatusCode::NOT_FOUND, "NOT_FOUND")
    );
}

both_backends!(
    every_legacy_pop_renders_every_section_and_value,
    a_published_pop_of_55_steps_is_laid_out_within_its_pages,
    the_pdf_is_as_private_as_the_pop,
);
