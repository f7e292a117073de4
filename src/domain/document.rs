//! The POP document: the legacy payload object that snapshots store and the integrity hash covers.
//!
//! Keys: `nome_usuario`, `area: {codigo, nome}`, `macroprocesso`, `codigo_processo`,
//! `nome_processo`, `processo_especifico`, `entrega_esperada`, `dispositivos_normativos`, `sistemas`,
//! `operadores`, `pontos_atencao`, `etapas`, `documentos_utilizados`, `fluxos_entrada`,
//! `fluxos_saida`, `data_criacao` (`DD/MM/YYYY HH:MM` of the creation time, UTC), `status`, `versao`
//! and `uuid`. The hash covers everything but `uuid` (see [`super::hash`]).

use super::hash::integrity_hash;
use crate::db::models::{PopContent, PopMeta};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

/// Builds the legacy document of a POP.
pub fn document(meta: &PopMeta, content: &PopContent) -> Value {
    let uuid = meta.uuid.to_string();
    DocumentView::of(meta, content, &uuid).to_value()
}

/// Builds the legacy document from its parts (for a POP not yet written).
pub fn document_parts(
    content: &PopContent,
    status: &str,
    versao: i32,
    created_at: DateTime<Utc>,
    uuid: &str,
) -> Value {
    DocumentView {
        content,
        status,
        versao,
        created_at,
        uuid,
    }
    .to_value()
}

/// The legacy document of a POP, borrowed from its parts: it serializes to the same JSON text as
/// the [`Value`] of [`document`] (the keys in code-point order, as `serde_json`'s map keeps them),
/// so a reader can write it out without copying the content into a [`Value`] first (JSON columns
/// as read from the database go out as their text, [`crate::db::json::JsonColumn::as_written`]).
pub struct DocumentView<'a> {
    content: &'a PopContent,
    status: &'a str,
    versao: i32,
    created_at: DateTime<Utc>,
    uuid: &'a str,
}

impl<'a> DocumentView<'a> {
    /// The document of a stored POP; `uuid` is its public id as text.
    pub fn of(meta: &PopMeta, content: &'a PopContent, uuid: &'a str) -> Self {
        DocumentView {
            content,
            status: meta.status.as_str(),
            versao: meta.versao,
            created_at: meta.created_at,
            uuid,
        }
    }

    /// The document as a [`Value`].
    fn to_value(&self) -> Value {
        match serde_json::to_value(self) {
            Ok(document) => document,
            // Strings, numbers and JSON values under string keys: serializing cannot fail.
            Err(_) => Value::Null,
        }
    }
}

/// The `area` object of a document.
#[derive(Serialize)]
struct AreaView<'a> {
    codigo: &'a Option<String>,
    nome: &'a Option<String>,
}

impl Serialize for DocumentView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let c = self.content;
        let created = self.created_at.format("%d/%m/%Y %H:%M");
        // In code-point order, the order `serde_json::Map` writes a document's keys in.
        let mut map = serializer.serialize_map(Some(19))?;
        map.serialize_entry(
            "area",
            &AreaView {
                codigo: &c.area_codigo,
                nome: &c.area_nome,
            },
        )?;
        map.serialize_entry("codigo_processo", &c.codigo_processo)?;
        map.serialize_entry("data_criacao", &format_args!("{created}"))?;
        map.serialize_entry("dispositivos_normativos", &c.dispositivos_normativos)?;
        map.serialize_entry(
            "documentos_utilizados",
            &c.documentos_utilizados.as_written(),
        )?;
        map.serialize_entry("entrega_esperada", &c.entrega_esperada)?;
        map.serialize_entry("etapas", &c.etapas.as_written())?;
        map.serialize_entry("fluxos_entrada", &c.fluxos_entrada.as_written())?;
        map.serialize_entry("fluxos_saida", &c.fluxos_saida.as_written())?;
        map.serialize_entry("macroprocesso", &c.macroprocesso)?;
        map.serialize_entry("nome_processo", &c.nome_processo)?;
        map.serialize_entry("nome_usuario", &c.nome_usuario)?;
        map.serialize_entry("operadores", &c.operadores)?;
        map.serialize_entry("pontos_atencao", &c.pontos_atencao)?;
        map.serialize_entry("processo_especifico", &c.processo_especifico)?;
        map.serialize_entry("sistemas", &c.sistemas_utilizados.as_written())?;
        map.serialize_entry("status", self.status)?;
        map.serialize_entry("uuid", self.uuid)?;
        map.serialize_entry("versao", &self.versao)?;
        map.end()
    }
}

/// The legacy hash of a POP's current document.
pub fn hash_of(meta: &PopMeta, content: &PopContent) -> String {
    integrity_hash(&document(meta, content))
}

/// Reads the content back out of a document (to restore a snapshot).
pub fn content_from_document(doc: &Value) -> Result<PopContent, AppError> {
    let obj = doc
        .as_object()
        .ok_or_else(|| AppError::internal("snapshot payload is not a JSON object"))?;
    let area = obj.get("area").and_then(Value::as_object);
    let area_field = |key: &str| {
        area.and_then(|a| a.get(key))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let mut fields = Map::new();
    for (key, value) in obj {
        match key.as_str() {
            "sistemas" => {
                fields.insert("sistemas_utilizados".into(), value.clone());
            }
            "area" | "data_criacao" | "status" | "versao" | "uuid" => {}
            _ => {
                fields.insert(key.clone(), value.clone());
            }
        }
    }
    fields.insert("area_codigo".into(), area_field("codigo"));
    fields.insert("area_nome".into(), area_field("nome"));
    from_fields(fields)
}

/// The content as a map from legacy column name to value (the unit of change tracking).
pub fn to_fields(content: &PopContent) -> Map<String, Value> {
    match serde_json::to_value(content) {
        Ok(Value::Object(map)) => map,
        // PopContent is a struct of strings and JSON values: it always serializes to an object.
        _ => Map::new(),
    }
}

/// Rebuilds the content from a field map, checking every field's type.
pub fn from_fields(fields: Map<String, Value>) -> Result<PopContent, AppError> {
    let mut full = to_fields(&PopContent::default());
    for (key, value) in fields {
        if full.contains_key(&key) {
            full.insert(key, value);
        }
    }
    if full.get("nome_usuario").is_some_and(Value::is_null) {
        full.insert("nome_usuario".into(), Value::String(String::new()));
    }
    serde_json::from_value(Value::Object(full)).map_err(|e| AppError::BadUserInput {
        message: format!("invalid POP content: {e}"),
        field: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture_snapshots() -> Vec<Value> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/dump_pops.json"
        );
        let dump: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        dump.into_iter()
            .filter(|e| e["model"] == "processos.popsnapshot")
            .map(|e| e["fields"].clone())
            .collect()
    }

    #[test]
    fn a_snapshot_document_survives_the_round_trip_through_content() {
        let snapshots = fixture_snapshots();
        assert_eq!(snapshots.len(), 55);
        for snap in snapshots {
            let payload = &snap["payload"];
            let content = content_from_document(payload).unwrap();
            let created = chrono::NaiveDateTime::parse_from_str(
                payload["data_criacao"].as_str().unwrap(),
                "%d/%m/%Y %H:%M",
            )
            .unwrap()
            .and_utc();
            let rebuilt = document_parts(
                &content,
                payload["status"].as_str().unwrap(),
                payload["versao"].as_i64().unwrap() as i32,
                created,
                payload["uuid"].as_str().unwrap(),
            );
            assert_eq!(&rebuilt, payload);
            assert_eq!(
                integrity_hash(&rebuilt),
                snap["integrity_hash"].as_str().unwrap()
            );
        }
    }

    #[test]
    fn the_borrowed_document_writes_the_text_of_the_document_value() {
        for snap in fixture_snapshots() {
            let payload = &snap["payload"];
            let content = content_from_document(payload).unwrap();
            let view = DocumentView {
                content: &content,
                status: payload["status"].as_str().unwrap(),
                versao: payload["versao"].as_i64().unwrap() as i32,
                created_at: chrono::NaiveDateTime::parse_from_str(
                    payload["data_criacao"].as_str().unwrap(),
                    "%d/%m/%Y %H:%M",
                )
                .unwrap()
                .and_utc(),
                uuid: payload["uuid"].as_str().unwrap(),
            };
            assert_eq!(
                serde_json::to_string(&view).unwrap(),
                serde_json::to_string(payload).unwrap()
            );
        }
    }

    #[test]
    fn from_fields_rejects_wrong_types() {
        let mut fields = Map::new();
        fields.insert("macroprocesso".into(), json!(42));
        assert!(matches!(
            from_fields(fields),
            Err(AppError::BadUserInput { .. })
        ));
    }
}
