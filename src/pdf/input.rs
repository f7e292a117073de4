//! What a POP's document shows, and the `pop.json` the template reads.
//!
//! [`PdfInput`] is everything one rendering depends on, and nothing else (no "now", no edit
//! times): the same input always renders the same bytes. It is built from the POP's current state
//! ([`PdfInput::current`]) or from a stored published version's frozen document
//! ([`PdfInput::published`]). [`PdfInput::template_data`] turns it into plain strings and lists for the template
//! (steps of the old and the later front-end forms alike), so the template holds no data rules.

use crate::db::models::{PopContent, PopMeta};
use crate::domain::approval::Approval;
use crate::domain::Status;
use crate::error::AppError;
use chrono::NaiveDate;
use serde_json::{json, Map, Value};

/// One rendering of a POP: its content and the facts about the version shown.
#[derive(Debug, Clone, PartialEq)]
pub struct PdfInput {
    /// The POP's content.
    pub content: PopContent,
    /// The process-architecture code (CAP) shown on every page.
    pub code: Option<String>,
    /// The area's name.
    pub area_name: Option<String>,
    /// The version number.
    pub version: i32,
    /// The workflow status of what is shown.
    pub status: Status,
    /// When this version was approved (published).
    pub approved_on: Option<NaiveDate>,
    /// Who approved it.
    pub approver: Option<String>,
    /// The POP's catalogue address (the QR code's target).
    pub catalogue_url: String,
}

impl PdfInput {
    /// The document of a POP's current state; `approval` is its last publication, if any.
    pub fn current(
        meta: &PopMeta,
        content: &PopContent,
        approval: Option<Approval>,
        catalogue_url: String,
    ) -> Result<PdfInput, AppError> {
        let status = meta.status;
        // Only a published or archived POP shows an approval: a draft's last publication belongs
        // to an earlier version. Imported POPs keep the legacy approval date.
        let approval = matches!(status, Status::Published | Status::Archived)
            .then_some(approval)
            .flatten();
        let (approved_on, approver) = match approval {
            Some(a) => (Some(a.on), a.by),
            None => (
                meta.data_aprovacao
                    .filter(|_| matches!(status, Status::Published | Status::Archived)),
                None,
            ),
        };
        Ok(PdfInput {
            code: content.codigo_processo.clone(),
            area_name: content.area_nome.clone(),
            content: content.clone(),
            version: meta.versao,
            status,
            approved_on,
            approver,
            catalogue_url,
        })
    }

    /// The document of a stored published version: its frozen content, approved on the day it
    /// was published (UTC) by `publisher`; the version in force when it is current, else marked
    /// as archived (no longer in force).
    pub fn published(
        version: &crate::db::models::PublishedVersion,
        publisher: Option<String>,
        catalogue_url: String,
    ) -> Result<PdfInput, AppError> {
        let content = crate::domain::document::content_from_document(&version.payload)?;
        Ok(PdfInput {
            code: content.codigo_processo.clone(),
            area_name: content.area_nome.clone(),
            content,
            version: version.versao,
            status: if version.is_current {
                Status::Published
            } else {
                Status::Archived
            },
            approved_on: Some(version.published_at.date_naive()),
            approver: publisher,
            catalogue_url,
        })
    }

    /// The mark printed on every page of a document that is not the published version in force.
    pub fn watermark(&self) -> Option<(&'static str, &'static str)> {
        match self.status {
            Status::Published => None,
            Status::Archived => Some(("ARQUIVADO", "versão sem vigência")),
            Status::Draft | Status::InReview => Some(("RASCUNHO", "documento não publicado")),
        }
    }

    /// The data the template reads as `pop.json`.
    pub fn template_data(&self) -> Value {
        let c = &self.content;
        let situacao = situation(self.status);
        let (marca, aviso) = match self.watermark() {
            Some((mark, notice)) => (json!(mark), json!(notice)),
            None => (Value::Null, Value::Null),
        };
        let steps: Vec<Value> = items(&c.etapas)
            .iter()
            .enumerate()
            .map(|(i, step)| step_data(i, step))
            .collect();
        let total = total_time(items(&c.etapas));
        let approved_on = self.approved_on.map(|d| d.format("%d/%m/%Y").to_string());
        let mut hierarchy = Vec::new();
        for (level, name) in [
            ("Macroprocesso", &c.macroprocesso),
            ("Processo", &c.processo_especifico),
            ("Atividade", &c.nome_processo),
        ] {
            hierarchy.push(json!({"nivel": level, "nome": text(name.as_deref())}));
        }
        json!({
            "nome": text(c.nome_processo.as_deref()).unwrap_or_else(|| "POP sem nome".into()),
            "codigo": text(self.code.as_deref()),
            "area": area_label(self.area_name.as_deref(), c.area_codigo.as_deref()),
            "hierarquia": hierarchy,
            "versao": self.version,
            "situacao": situacao,
            "marca": marca,
            "aviso": aviso,
            "data_aprovacao": approved_on,
            "aprovado_por": self.approver.as_deref().and_then(|a| text(Some(a))),
            "autor": text(Some(&c.nome_usuario)).unwrap_or_default(),
            "url": self.catalogue_url,
            "entrega_esperada": text(c.entrega_esperada.as_deref()),
            "dispositivos": split(c.dispositivos_normativos.as_deref(), '|'),
            "sistemas": strings(&c.sistemas_utilizados),
            "operadores": split(c.operadores.as_deref(), ','),
            "etapas": steps,
            "tempo_total": total,
            "documentos": documents(&c.documentos_utilizados),
            "fluxos_entrada": strings(&c.fluxos_entrada),
            "fluxos_saida": strings(&c.fluxos_saida),
            "pontos_atencao": text(c.pontos_atencao.as_deref()),
            "revisoes": [{
                "versao": self.version,
                "data": approved_on,
                "situacao": situacao,
                "elaborado_por": text(Some(&c.nome_usuario)),
                "aprovado_por": self.approver,
            }],
        })
    }
}

/// The status in the document's words.
fn situation(status: Status) -> &'static str {
    match status {
        Status::Draft => "Rascunho",
        Status::InReview => "Em revisão",
        Status::Published => "Publicado",
        Status::Archived => "Arquivado",
    }
}

fn area_label(name: Option<&str>, code: Option<&str>) -> Option<String> {
    match (text(name), text(code)) {
        (Some(name), Some(code)) => Some(format!("{name} ({code})")),
        (name, code) => name.or(code),
    }
}

/// Longest run of characters without a break opportunity the layout is given: longer words (a
/// pasted address, a run of letters) get zero-width spaces so they wrap instead of running off the
/// page.
const LONGEST_WORD: usize = 24;

/// A text for display: trimmed, `None` when empty, overlong words made breakable.
fn text(raw: Option<&str>) -> Option<String> {
    let raw = raw?.trim();
    if raw.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(raw.len());
    let mut run = 0;
    for ch in raw.chars() {
        if ch.is_whitespace() {
            run = 0;
        } else {
            run += 1;
            if run > LONGEST_WORD {
                out.push('\u{200B}');
                run = 1;
            }
        }
        out.push(ch);
    }
    Some(out)
}

fn items(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// A legacy list kept as text with a separator (`dispositivos_normativos`, `operadores`).
fn split(raw: Option<&str>, separator: char) -> Vec<String> {
    raw.unwrap_or_default()
        .split(separator)
        .filter_map(|item| text(Some(item)))
        .collect()
}

/// A JSON value as one line of text (lists joined by `; `, objects by their name-like key).
fn display(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::Bool(true) => Some("Sim".into()),
        Value::Bool(false) => Some("Não".into()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => text(Some(s)),
        Value::Array(list) => {
            let parts: Vec<String> = list.iter().filter_map(display).collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        Value::Object(map) => {
            for key in ["nome", "descricao", "titulo", "tipo_documento", "texto"] {
                if let Some(shown) = map.get(key).and_then(display) {
                    return Some(shown);
                }
            }
            let parts: Vec<String> = map
                .iter()
                .filter_map(|(k, v)| display(v).map(|v| format!("{k}: {v}")))
                .collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        }
    }
}

/// A JSON list as lines of text (a lone value is a list of one).
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Array(list) => list.iter().filter_map(display).collect(),
        other => display(other).into_iter().collect(),
    }
}

/// Step keys shown in their own place; any other key is listed under the step as it came.
const STEP_KEYS: &[&str] = &[
    "id",
    "numero",
    "ordem",
    "schema_version",
    "descricao",
    "acao_principal",
    "operador",
    "operador_nome",
    "sistemas",
    "docs_requeridos",
    "docs_gerados",
    "detalhes",
    "verificacoes",
    "tempo_estimado",
    "tipo",
    "antes_decisao",
    "tipo_condicional",
    "cenarios",
];

/// One step (old form `{numero, descricao, detalhes, operador}` with optional decision, or the
/// later form with `acao_principal`, `operador_nome`, `sistemas`, documents and time).
fn step_data(index: usize, step: &Value) -> Value {
    let empty = Map::new();
    let s = step.as_object().unwrap_or(&empty);
    let get = |key: &str| s.get(key).and_then(display);
    let number = get("numero")
        .or_else(|| get("ordem"))
        .unwrap_or_else(|| (index + 1).to_string());
    let action = get("acao_principal");
    let description = get("descricao");
    let (title, description) = match (action, description) {
        (Some(action), Some(d)) if d != action => (action, Some(d)),
        (Some(action), _) => (action, None),
        (None, Some(d)) => (d, None),
        (None, None) => (format!("Etapa {number}"), None),
    };
    let list = |key: &str| s.get(key).map(strings).unwrap_or_default();
    let decision = (s.get("tipo").and_then(Value::as_str) == Some("condicional")
        || s.contains_key("cenarios"))
    .then(|| {
        let kind = match s.get("tipo_condicional").and_then(Value::as_str) {
            Some("binario") => "binária",
            Some("multiplos") => "múltipla",
            _ => "condicional",
        };
        let scenarios: Vec<Value> = s
            .get("cenarios")
            .map(items)
            .unwrap_or_default()
            .iter()
            .map(|c| {
                let field = |key: &str| c.get(key).and_then(display);
                json!({
                    "descricao": field("descricao").or_else(|| display(c)),
                    "proximo": field("proximo_passo").or_else(|| field("proxima_etapa_descricao")),
                })
            })
            .collect();
        json!({"tipo": kind, "pergunta": get("antes_decisao"), "cenarios": scenarios})
    });
    let others: Vec<Value> = s
        .iter()
        .filter(|(key, _)| !STEP_KEYS.contains(&key.as_str()))
        .filter_map(|(key, value)| {
            display(value).map(|v| json!({"campo": key.replace('_', " "), "valor": v}))
        })
        .collect();
    json!({
        "numero": number,
        "titulo": title,
        "descricao": description,
        "operador": get("operador_nome").or_else(|| get("operador")),
        "sistemas": list("sistemas"),
        "docs_requeridos": list("docs_requeridos"),
        "docs_gerados": list("docs_gerados"),
        "detalhes": list("detalhes"),
        "verificacoes": list("verificacoes"),
        "tempo": get("tempo_estimado"),
        "decisao": decision,
        "outros": others,
    })
}

/// The documents table; a legacy row holding text is one row with that description.
fn documents(value: &Value) -> Vec<Value> {
    let row = |doc: &Value| match doc {
        Value::Object(d) => {
            let get = |key: &str| d.get(key).and_then(display);
            json!({
                "tipo": get("tipo_documento"),
                "uso": get("tipo_uso"),
                "obrigatorio": get("obrigatorio"),
                "descricao": get("descricao"),
                "sistema": get("sistema"),
            })
        }
        other => json!({"tipo": null, "uso": null, "obrigatorio": null,
                        "descricao": display(other), "sistema": null}),
    };
    match value {
        Value::Array(list) => list.iter().map(row).collect(),
        Value::Null => Vec::new(),
        Value::String(s) if s.trim().is_empty() => Vec::new(),
        other => vec![row(other)],
    }
}

/// Minutes in a step's `tempo_estimado`: a number of minutes, or `N min`, `N h`, `N horas`,
/// `N dias` (working days of 8 hours), `HH:MM`.
fn minutes(value: &Value) -> Option<f64> {
    if let Some(n) = value.as_f64() {
        return (n >= 0.0).then_some(n);
    }
    let raw = value.as_str()?.trim().to_lowercase().replace(',', ".");
    if let Some((h, m)) = raw.split_once(':') {
        let (h, m) = (h.trim().parse::<f64>().ok()?, m.trim().parse::<f64>().ok()?);
        return Some(h * 60.0 + m);
    }
    let split = raw
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(raw.len());
    let amount: f64 = raw[..split].trim().parse().ok()?;
    let unit = raw[split..].trim();
    let factor = match unit {
        "" | "m" | "min" | "mins" | "minuto" | "minutos" => 1.0,
        "h" | "hr" | "hrs" | "hora" | "horas" => 60.0,
        "d" | "dia" | "dias" | "dia útil" | "dias úteis" => 8.0 * 60.0,
        _ => return None,
    };
    Some(amount * factor)
}

/// The steps' total time, when any step gives one; says how many steps gave none.
fn total_time(steps: &[Value]) -> Option<String> {
    let times: Vec<Option<f64>> = steps
        .iter()
        .map(|s| s.get("tempo_estimado").and_then(minutes))
        .collect();
    let known: Vec<f64> = times.iter().flatten().copied().collect();
    if known.is_empty() {
        return None;
    }
    let total = known.iter().sum::<f64>().round() as i64;
    let (h, m) = (total / 60, total % 60);
    let mut shown = match (h, m) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    };
    let missing = times.len() - known.len();
    if missing > 0 {
        let plural = if missing == 1 { "etapa" } else { "etapas" };
        shown.push_str(&format!(
            " (sem contar {missing} {plural} sem tempo informado)"
        ));
    }
    Some(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_times_add_up_in_the_units_people_write() {
        let steps = json!([
            {"tempo_estimado": "30 min"},
            {"tempo_estimado": "1 hora"},
            {"tempo_estimado": 15},
            {"tempo_estimado": "0:45"},
            {"tempo_estimado": "quando der"},
        ]);
        assert_eq!(
            total_time(items(&steps)).as_deref(),
            Some("2 h 30 min (sem contar 1 etapa sem tempo informado)")
        );
        assert_eq!(total_time(items(&json!([{"numero": 1}]))), None);
    }

    #[test]
    fn both_step_forms_give_the_same_fields() {
        let old = json!({"numero": 3, "descricao": "Analisar", "detalhes": ["3.1 ver"],
                         "operador": "Técnico", "tipo": "condicional", "antes_decisao": "Está completo?",
                         "tipo_condicional": "binario",
                         "cenarios": [{"descricao": "Sim", "proximo_passo": "4"}]});
        let data = step_data(0, &old);
        assert_eq!(data["numero"], "3");
        assert_eq!(data["titulo"], "Analisar");
        assert_eq!(data["operador"], "Técnico");
        assert_eq!(data["decisao"]["tipo"], "binária");
        assert_eq!(data["decisao"]["cenarios"][0]["proximo"], "4");
        let new = json!({"id": "x", "ordem": 2, "acao_principal": "Conferir", "operador_nome": "Chefe",
                         "sistemas": ["SEI"], "docs_gerados": [{"nome": "Despacho"}],
                         "tempo_estimado": "10 min", "prazo_legal": "5 dias"});
        let data = step_data(0, &new);
        assert_eq!(data["numero"], "2");
        assert_eq!(data["titulo"], "Conferir");
        assert_eq!(data["docs_gerados"], json!(["Despacho"]));
        assert_eq!(
            data["outros"],
            json!([{"campo": "prazo legal", "valor": "5 dias"}])
        );
        assert_eq!(data["decisao"], Value::Null);
    }

    #[test]
    fn overlong_words_get_break_opportunities() {
        let word = "a".repeat(60);
        let shown = text(Some(&word)).unwrap_or_default();
        assert_eq!(shown.replace('\u{200B}', ""), word);
        assert!(shown
            .split('\u{200B}')
            .all(|part| part.chars().count() <= LONGEST_WORD));
        assert_eq!(text(Some("  ")), None);
    }
}
