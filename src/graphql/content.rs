//! The POP's content as GraphQL types: `PopContent` (read from any stored document: a POP's, a
//! snapshot's, a published version's) and `PopContentTypedInput` (written by `autosavePop` and
//! `createPop` as `typedContent`), so a generated client has types, not `JSON`, for the steps,
//! their decision scenarios, the documents used and the lists of strings.
//!
//! The document keeps its legacy keys (`nome_processo`, `etapas`, `acao_principal`…); the types
//! name them in camelCase (`nomeProcesso`, `etapas`, `acaoPrincipal`). Nothing stored is lost to
//! the types: a key a step (or a scenario, or a document used) has that the types do not know, or
//! a known key holding a value of another type (a `numero` written as text), stays in that
//! object's `extra`, and `extra` given on input is written back as it is.

use crate::error::AppError;
use async_graphql::{Enum, InputObject, Json, SimpleObject};
use serde_json::{Map, Value};

/// Reads a stored JSON object's keys into typed fields, leaving the rest in `extra`.
struct Reader(Map<String, Value>);

impl Reader {
    fn new(value: &Value) -> Reader {
        Reader(value.as_object().cloned().unwrap_or_default())
    }
    /// The text under `key`, taken out when it is text.
    fn text(&mut self, key: &str) -> Option<String> {
        match self.0.get(key) {
            Some(Value::String(_)) => match self.0.remove(key) {
                Some(Value::String(text)) => Some(text),
                _ => None,
            },
            _ => None,
        }
    }
    /// The integer under `key`, taken out when it is one that fits an `Int`.
    fn int(&mut self, key: &str) -> Option<i32> {
        let number = self.0.get(key)?.as_i64()?;
        let number = i32::try_from(number).ok()?;
        self.0.remove(key);
        Some(number)
    }
    /// The boolean under `key`, taken out when it is one.
    fn boolean(&mut self, key: &str) -> Option<bool> {
        let flag = self.0.get(key)?.as_bool()?;
        self.0.remove(key);
        Some(flag)
    }
    /// The list of texts under `key`, taken out when every item is text.
    fn texts(&mut self, key: &str) -> Option<Vec<String>> {
        let items = texts(self.0.get(key)?)?;
        self.0.remove(key);
        Some(items)
    }
    /// The list of objects under `key`, read by `read`, taken out when every item is an object.
    fn objects<T>(&mut self, key: &str, read: fn(&Value) -> T) -> Option<Vec<T>> {
        let items = self.0.get(key)?.as_array()?;
        if !items.iter().all(Value::is_object) {
            return None;
        }
        let read = items.iter().map(read).collect();
        self.0.remove(key);
        Some(read)
    }
    /// What is left.
    fn extra(self) -> Json<Map<String, Value>> {
        Json(self.0)
    }
}

/// The items of a list of texts; `None` when it is not one.
fn texts(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|item| item.as_str().map(str::to_owned))
        .collect()
}

/// What kind of decision a decision step makes (`tipo_condicional`).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum DecisionKind {
    /// Yes or no (`binario`).
    Binario,
    /// One of several scenarios (`multiplos`).
    Multiplos,
}

impl DecisionKind {
    fn stored(self) -> &'static str {
        match self {
            DecisionKind::Binario => "binario",
            DecisionKind::Multiplos => "multiplos",
        }
    }
}

/// One scenario of a decision step (a `cenarios` item).
#[derive(SimpleObject, Debug, Clone)]
pub struct DecisionScenario {
    /// What happens in this scenario (`descricao`).
    pub descricao: Option<String>,
    /// The step it leads to (`proximo_passo`).
    pub proximo_passo: Option<String>,
    /// What that next step is (`proxima_etapa_descricao`).
    pub proxima_etapa_descricao: Option<String>,
    /// The scenario's other keys, as stored (keys the types do not know, or known keys holding another type).
    pub extra: Json<Map<String, Value>>,
}

impl DecisionScenario {
    fn read(value: &Value) -> DecisionScenario {
        let mut r = Reader::new(value);
        DecisionScenario {
            descricao: r.text("descricao"),
            proximo_passo: r.text("proximo_passo"),
            proxima_etapa_descricao: r.text("proxima_etapa_descricao"),
            extra: r.extra(),
        }
    }
}

/// One step of the procedure (an `etapas` item). A decision step has `tipo: "condicional"`.
#[derive(SimpleObject, Debug, Clone)]
pub struct Step {
    /// Stable id (`id`; given by the server on a POP's next write, absent from older steps).
    pub id: Option<String>,
    /// Step number (`numero`).
    pub numero: Option<i32>,
    /// Position (`ordem`).
    pub ordem: Option<i32>,
    /// What is done (`descricao`).
    pub descricao: Option<String>,
    /// The main action (`acao_principal`).
    pub acao_principal: Option<String>,
    /// Details, one per item (`detalhes`).
    pub detalhes: Option<Vec<String>>,
    /// Who does it (`operador`).
    pub operador: Option<String>,
    /// The operator's name (`operador_nome`).
    pub operador_nome: Option<String>,
    /// Systems used in this step (`sistemas`).
    pub sistemas: Option<Vec<String>>,
    /// Documents the step needs (`docs_requeridos`).
    pub docs_requeridos: Option<Vec<String>>,
    /// Documents the step produces (`docs_gerados`).
    pub docs_gerados: Option<Vec<String>>,
    /// Checks made (`verificacoes`).
    pub verificacoes: Option<Vec<String>>,
    /// Estimated time (`tempo_estimado`).
    pub tempo_estimado: Option<String>,
    /// `condicional` for a decision step (`tipo`).
    pub tipo: Option<String>,
    /// What is done before deciding (`antes_decisao`).
    pub antes_decisao: Option<String>,
    /// The kind of decision (`tipo_condicional`).
    pub tipo_condicional: Option<DecisionKind>,
    /// The decision's scenarios (`cenarios`).
    pub cenarios: Option<Vec<DecisionScenario>>,
    /// Version of the step's form (`schema_version`).
    pub schema_version: Option<i32>,
    /// The step's other keys, as stored (keys the types do not know, or known keys holding another type).
    pub extra: Json<Map<String, Value>>,
}

impl Step {
    fn read(value: &Value) -> Step {
        let mut r = Reader::new(value);
        let tipo_condicional = match r.0.get("tipo_condicional").and_then(Value::as_str) {
            Some("binario") => Some(DecisionKind::Binario),
            Some("multiplos") => Some(DecisionKind::Multiplos),
            _ => None,
        };
        if tipo_condicional.is_some() {
            r.0.remove("tipo_condicional");
        }
        Step {
            id: r.text("id"),
            numero: r.int("numero"),
            ordem: r.int("ordem"),
            descricao: r.text("descricao"),
            acao_principal: r.text("acao_principal"),
            detalhes: r.texts("detalhes"),
            operador: r.text("operador"),
            operador_nome: r.text("operador_nome"),
            sistemas: r.texts("sistemas"),
            docs_requeridos: r.texts("docs_requeridos"),
            docs_gerados: r.texts("docs_gerados"),
            verificacoes: r.texts("verificacoes"),
            tempo_estimado: r.text("tempo_estimado"),
            tipo: r.text("tipo"),
            antes_decisao: r.text("antes_decisao"),
            tipo_condicional,
            cenarios: r.objects("cenarios", DecisionScenario::read),
            schema_version: r.int("schema_version"),
            extra: r.extra(),
        }
    }
}

/// One document used (a `documentos_utilizados` item).
#[derive(SimpleObject, Debug, Clone)]
pub struct DocumentUsed {
    /// Kind of document (`tipo_documento`).
    pub tipo_documento: Option<String>,
    /// How it is used (`tipo_uso`).
    pub tipo_uso: Option<String>,
    /// Whether it is required (`obrigatorio`).
    pub obrigatorio: Option<bool>,
    /// Description (`descricao`).
    pub descricao: Option<String>,
    /// The system it lives in (`sistema`).
    pub sistema: Option<String>,
    /// The item's other keys, as stored (keys the types do not know, or known keys holding another type).
    pub extra: Json<Map<String, Value>>,
}

impl DocumentUsed {
    fn read(value: &Value) -> DocumentUsed {
        let mut r = Reader::new(value);
        DocumentUsed {
            tipo_documento: r.text("tipo_documento"),
            tipo_uso: r.text("tipo_uso"),
            obrigatorio: r.boolean("obrigatorio"),
            descricao: r.text("descricao"),
            sistema: r.text("sistema"),
            extra: r.extra(),
        }
    }
}

/// A POP's content, typed: the same document as `document`, key by key in camelCase. A list the types cannot read (not a list, or items of another type) is empty here and whole in `document`.
#[derive(SimpleObject, Debug, Clone)]
pub struct PopContent {
    /// Author name shown on the document (`nome_usuario`).
    pub nome_usuario: Option<String>,
    /// Macroprocess (`macroprocesso`).
    pub macroprocesso: Option<String>,
    /// Process code, CAP (`codigo_processo`).
    pub codigo_processo: Option<String>,
    /// Process name (`nome_processo`).
    pub nome_processo: Option<String>,
    /// Specific process (`processo_especifico`).
    pub processo_especifico: Option<String>,
    /// Expected deliverable (`entrega_esperada`).
    pub entrega_esperada: Option<String>,
    /// Legal basis, items joined by ` | ` (`dispositivos_normativos`).
    pub dispositivos_normativos: Option<String>,
    /// Systems used (`sistemas`).
    pub sistemas: Vec<String>,
    /// Operators, joined by `, ` (`operadores`).
    pub operadores: Option<String>,
    /// Points of attention (`pontos_atencao`).
    pub pontos_atencao: Option<String>,
    /// Steps (`etapas`).
    pub etapas: Vec<Step>,
    /// Documents used (`documentos_utilizados`).
    pub documentos_utilizados: Vec<DocumentUsed>,
    /// Input flows (`fluxos_entrada`).
    pub fluxos_entrada: Vec<String>,
    /// Output flows (`fluxos_saida`).
    pub fluxos_saida: Vec<String>,
}

impl PopContent {
    /// The typed view of a stored document (a POP's, a snapshot's or a published version's).
    pub fn of(document: &Value) -> PopContent {
        let mut r = Reader::new(document);
        PopContent {
            nome_usuario: r.text("nome_usuario"),
            macroprocesso: r.text("macroprocesso"),
            codigo_processo: r.text("codigo_processo"),
            nome_processo: r.text("nome_processo"),
            processo_especifico: r.text("processo_especifico"),
            entrega_esperada: r.text("entrega_esperada"),
            dispositivos_normativos: r.text("dispositivos_normativos"),
            sistemas: r.texts("sistemas").unwrap_or_default(),
            operadores: r.text("operadores"),
            pontos_atencao: r.text("pontos_atencao"),
            etapas: r.objects("etapas", Step::read).unwrap_or_default(),
            documentos_utilizados: r
                .objects("documentos_utilizados", DocumentUsed::read)
                .unwrap_or_default(),
            fluxos_entrada: r.texts("fluxos_entrada").unwrap_or_default(),
            fluxos_saida: r.texts("fluxos_saida").unwrap_or_default(),
        }
    }
}

/// Writes typed input fields into a JSON object under their stored keys.
struct Writer {
    object: Map<String, Value>,
    /// Input path of the object, for errors.
    path: String,
}

impl Writer {
    fn new(path: String) -> Writer {
        Writer {
            object: Map::new(),
            path,
        }
    }
    fn set(&mut self, key: &str, value: Option<impl Into<Value>>) {
        if let Some(value) = value {
            self.object.insert(key.to_owned(), value.into());
        }
    }
    /// Adds `extra`'s keys: they must form an object and not repeat a key given by a typed field.
    fn finish(mut self, extra: Option<Json<Value>>) -> Result<Value, AppError> {
        match extra.map(|Json(value)| value) {
            None | Some(Value::Null) => {}
            Some(Value::Object(extra)) => {
                for (key, value) in extra {
                    if self.object.contains_key(&key) {
                        return Err(AppError::bad_input(
                            format!("{}.extra", self.path),
                            format!("`{key}` is also given by its own field"),
                        ));
                    }
                    self.object.insert(key, value);
                }
            }
            Some(_) => {
                return Err(AppError::bad_input(
                    format!("{}.extra", self.path),
                    "must be a JSON object",
                ))
            }
        }
        Ok(Value::Object(self.object))
    }
}

/// A decision scenario to write; see `DecisionScenario`.
#[derive(InputObject, Debug, Default)]
pub struct DecisionScenarioInput {
    /// What happens in this scenario (`descricao`).
    pub descricao: Option<String>,
    /// The step it leads to (`proximo_passo`).
    pub proximo_passo: Option<String>,
    /// What that next step is (`proxima_etapa_descricao`).
    pub proxima_etapa_descricao: Option<String>,
    /// Other keys to store as they are: a JSON object, e.g. the `extra` read back.
    pub extra: Option<Json<Value>>,
}

impl DecisionScenarioInput {
    fn write(self, path: String) -> Result<Value, AppError> {
        let mut w = Writer::new(path);
        w.set("descricao", self.descricao);
        w.set("proximo_passo", self.proximo_passo);
        w.set("proxima_etapa_descricao", self.proxima_etapa_descricao);
        w.finish(self.extra)
    }
}

/// A step to write; see `Step`. Fields left out are absent from the stored step.
#[derive(InputObject, Debug, Default)]
pub struct StepInput {
    /// Stable id; leave it out for a new step (the server gives one).
    pub id: Option<String>,
    /// Step number.
    pub numero: Option<i32>,
    /// Position.
    pub ordem: Option<i32>,
    /// What is done.
    pub descricao: Option<String>,
    /// The main action.
    pub acao_principal: Option<String>,
    /// Details, one per item.
    pub detalhes: Option<Vec<String>>,
    /// Who does it.
    pub operador: Option<String>,
    /// The operator's name.
    pub operador_nome: Option<String>,
    /// Systems used in this step.
    pub sistemas: Option<Vec<String>>,
    /// Documents the step needs.
    pub docs_requeridos: Option<Vec<String>>,
    /// Documents the step produces.
    pub docs_gerados: Option<Vec<String>>,
    /// Checks made.
    pub verificacoes: Option<Vec<String>>,
    /// Estimated time.
    pub tempo_estimado: Option<String>,
    /// `condicional` for a decision step.
    pub tipo: Option<String>,
    /// What is done before deciding.
    pub antes_decisao: Option<String>,
    /// The kind of decision.
    pub tipo_condicional: Option<DecisionKind>,
    /// The decision's scenarios.
    pub cenarios: Option<Vec<DecisionScenarioInput>>,
    /// Version of the step's form.
    pub schema_version: Option<i32>,
    /// Other keys to store as they are: a JSON object, e.g. the `extra` read back.
    pub extra: Option<Json<Value>>,
}

impl StepInput {
    fn write(self, path: String) -> Result<Value, AppError> {
        let cenarios = self
            .cenarios
            .map(|cenarios| {
                cenarios
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| c.write(format!("{path}.cenarios.{i}")))
                    .collect::<Result<Vec<Value>, AppError>>()
            })
            .transpose()?;
        let mut w = Writer::new(path);
        w.set("id", self.id);
        w.set("numero", self.numero);
        w.set("ordem", self.ordem);
        w.set("descricao", self.descricao);
        w.set("acao_principal", self.acao_principal);
        w.set("detalhes", self.detalhes);
        w.set("operador", self.operador);
        w.set("operador_nome", self.operador_nome);
        w.set("sistemas", self.sistemas);
        w.set("docs_requeridos", self.docs_requeridos);
        w.set("docs_gerados", self.docs_gerados);
        w.set("verificacoes", self.verificacoes);
        w.set("tempo_estimado", self.tempo_estimado);
        w.set("tipo", self.tipo);
        w.set("antes_decisao", self.antes_decisao);
        w.set(
            "tipo_condicional",
            self.tipo_condicional.map(DecisionKind::stored),
        );
        w.set("cenarios", cenarios);
        w.set("schema_version", self.schema_version);
        w.finish(self.extra)
    }
}

/// A document used to write; see `DocumentUsed`.
#[derive(InputObject, Debug, Default)]
pub struct DocumentUsedInput {
    /// Kind of document.
    pub tipo_documento: Option<String>,
    /// How it is used.
    pub tipo_uso: Option<String>,
    /// Whether it is required.
    pub obrigatorio: Option<bool>,
    /// Description.
    pub descricao: Option<String>,
    /// The system it lives in.
    pub sistema: Option<String>,
    /// Other keys to store as they are: a JSON object, e.g. the `extra` read back.
    pub extra: Option<Json<Value>>,
}

impl DocumentUsedInput {
    fn write(self, path: String) -> Result<Value, AppError> {
        let mut w = Writer::new(path);
        w.set("tipo_documento", self.tipo_documento);
        w.set("tipo_uso", self.tipo_uso);
        w.set("obrigatorio", self.obrigatorio);
        w.set("descricao", self.descricao);
        w.set("sistema", self.sistema);
        w.finish(self.extra)
    }
}

/// A content field `clear` can empty.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum PopContentField {
    /// `macroprocesso`.
    Macroprocesso,
    /// `codigoProcesso`.
    CodigoProcesso,
    /// `nomeProcesso`.
    NomeProcesso,
    /// `processoEspecifico`.
    ProcessoEspecifico,
    /// `entregaEsperada`.
    EntregaEsperada,
    /// `dispositivosNormativos`.
    DispositivosNormativos,
    /// `operadores`.
    Operadores,
    /// `pontosAtencao`.
    PontosAtencao,
    /// `sistemas`.
    Sistemas,
    /// `etapas`.
    Etapas,
    /// `documentosUtilizados`.
    DocumentosUtilizados,
    /// `fluxosEntrada`.
    FluxosEntrada,
    /// `fluxosSaida`.
    FluxosSaida,
}

impl PopContentField {
    /// The field's column name and its empty value.
    fn emptied(self) -> (&'static str, Value) {
        let text = |name| (name, Value::String(String::new()));
        let list = |name| (name, Value::Array(Vec::new()));
        match self {
            PopContentField::Macroprocesso => text("macroprocesso"),
            PopContentField::CodigoProcesso => text("codigo_processo"),
            PopContentField::NomeProcesso => text("nome_processo"),
            PopContentField::ProcessoEspecifico => text("processo_especifico"),
            PopContentField::EntregaEsperada => text("entrega_esperada"),
            PopContentField::DispositivosNormativos => text("dispositivos_normativos"),
            PopContentField::Operadores => text("operadores"),
            PopContentField::PontosAtencao => text("pontos_atencao"),
            PopContentField::Sistemas => list("sistemas_utilizados"),
            PopContentField::Etapas => list("etapas"),
            PopContentField::DocumentosUtilizados => list("documentos_utilizados"),
            PopContentField::FluxosEntrada => list("fluxos_entrada"),
            PopContentField::FluxosSaida => list("fluxos_saida"),
        }
    }
}

/// Typed lists of a POP's content and explicit clearing: the part of `typedContent` that `content` has as `JSON` or cannot say. Give a field in one of `content` and `typedContent`, not both (`BAD_USER_INPUT`).
#[derive(InputObject, Debug, Default)]
pub struct PopContentTypedInput {
    /// Systems used.
    pub sistemas: Option<Vec<String>>,
    /// Steps, in order; the whole list replaces the stored one (steps keep their `id`).
    pub etapas: Option<Vec<StepInput>>,
    /// Documents used, in order; the whole list replaces the stored one.
    pub documentos_utilizados: Option<Vec<DocumentUsedInput>>,
    /// Input flows.
    pub fluxos_entrada: Option<Vec<String>>,
    /// Output flows.
    pub fluxos_saida: Option<Vec<String>>,
    /// Fields to empty: text becomes `""` and lists `[]`. (A `null` in `content` leaves a field as it is, as the legacy autosave did; this is how a field is cleared.)
    pub clear: Option<Vec<PopContentField>>,
}

impl PopContentTypedInput {
    /// Adds the given fields, by column name, to `fields` (those of `content`); `path` is the
    /// input's path, for errors.
    pub fn add_to(self, fields: &mut Map<String, Value>, path: &str) -> Result<(), AppError> {
        let mut given: Vec<(&str, &str, Value)> = Vec::new();
        let strings = |items: Vec<String>| Value::from(items);
        if let Some(items) = self.sistemas {
            given.push(("sistemas_utilizados", "sistemas", strings(items)));
        }
        if let Some(steps) = self.etapas {
            let steps = steps
                .into_iter()
                .enumerate()
                .map(|(i, step)| step.write(format!("{path}.etapas.{i}")))
                .collect::<Result<Vec<Value>, AppError>>()?;
            given.push(("etapas", "etapas", Value::Array(steps)));
        }
        if let Some(documents) = self.documentos_utilizados {
            let documents = documents
                .into_iter()
                .enumerate()
                .map(|(i, d)| d.write(format!("{path}.documentosUtilizados.{i}")))
                .collect::<Result<Vec<Value>, AppError>>()?;
            given.push((
                "documentos_utilizados",
                "documentosUtilizados",
                Value::Array(documents),
            ));
        }
        if let Some(items) = self.fluxos_entrada {
            given.push(("fluxos_entrada", "fluxosEntrada", strings(items)));
        }
        if let Some(items) = self.fluxos_saida {
            given.push(("fluxos_saida", "fluxosSaida", strings(items)));
        }
        for field in self.clear.unwrap_or_default() {
            let (column, empty) = field.emptied();
            given.push((column, "clear", empty));
        }
        for (column, name, value) in given {
            let taken = fields.get(column).is_some_and(|old| !old.is_null());
            if taken {
                return Err(AppError::bad_input(
                    format!("{path}.{name}"),
                    "this field is given twice (in `content` as well, or also cleared)",
                ));
            }
            fields.insert(column.to_owned(), value);
        }
        Ok(())
    }
}

/// The GraphQL name of the content field a document key (`nome_processo`, the first segment of a
/// JSON Pointer) or a history field (`sistemas_utilizados`, `area_codigo`) belongs to; `None`
/// for what is not a `Pop` field (`data_criacao`, `uuid`, the history's pseudo-fields).
pub fn graphql_name(key: &str) -> Option<&'static str> {
    Some(match key {
        "nome_usuario" => "nomeUsuario",
        "area" | "area_codigo" | "area_nome" => "area",
        "macroprocesso" => "macroprocesso",
        "codigo_processo" => "codigoProcesso",
        "nome_processo" => "nomeProcesso",
        "processo_especifico" => "processoEspecifico",
        "entrega_esperada" => "entregaEsperada",
        "dispositivos_normativos" => "dispositivosNormativos",
        "sistemas" | "sistemas_utilizados" => "sistemas",
        "operadores" => "operadores",
        "pontos_atencao" => "pontosAtencao",
        "etapas" => "etapas",
        "documentos_utilizados" => "documentosUtilizados",
        "fluxos_entrada" => "fluxosEntrada",
        "fluxos_saida" => "fluxosSaida",
        "status" => "status",
        "versao" => "versao",
        "status_reason" => "statusReason",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every key of a POP's document but the three that are not fields maps to a field of `Pop`.
    #[test]
    fn every_document_key_has_its_graphql_name() {
        let sdl = crate::graphql::sdl();
        let pop_type = sdl
            .split("type Pop implements Node {")
            .nth(1)
            .and_then(|rest| rest.split("\n}").next())
            .unwrap_or_default();
        let document = crate::domain::document::document_parts(
            &crate::db::models::PopContent::default(),
            "draft",
            1,
            chrono::Utc::now(),
            "00000000-0000-0000-0000-000000000000",
        );
        for key in document.as_object().map(|o| o.keys()).into_iter().flatten() {
            match graphql_name(key) {
                Some(name) => assert!(pop_type.contains(&format!("\t{name}")), "{key} → {name}"),
                None => assert!(["data_criacao", "uuid"].contains(&key.as_str()), "{key}"),
            }
        }
        assert_eq!(graphql_name("sistemas_utilizados"), Some("sistemas"));
        assert_eq!(json!(graphql_name("restore_source")), json!(null));
    }
}
