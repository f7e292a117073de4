//! Reads a Django `dumpdata` JSON file (`[{"model": …, "pk": …, "fields": {…}}, …]`).
//!
//! The array is read one entry at a time and each entry is normalized at once, so the parsed JSON
//! tree of the whole file is never held in memory. Entries of other models are ignored.

use super::values::{
    at, content_json, decode_raw_payload, int, non_empty, parse_date, parse_datetime,
    parse_opt_datetime, parse_uuid, status,
};
use super::{
    LegacyArea, LegacyChange, LegacyData, LegacyPop, LegacyProfile, LegacyReview, LegacySnapshot,
    LegacyUser, LegacyVersion,
};
use crate::db::models::PopContent;
use anyhow::{anyhow, Context};
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::fmt;
use std::path::Path;

#[derive(Deserialize)]
struct Entry {
    model: String,
    pk: Option<i64>,
    #[serde(default)]
    fields: Map<String, Value>,
}

/// Reads the users, POPs, snapshots and change logs of a dump file.
pub fn read(path: &Path) -> anyhow::Result<LegacyData> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::new(file));
    let mut collector = Collector::default();
    (&mut collector)
        .deserialize(&mut de)
        .with_context(|| format!("{} is not a Django dump", path.display()))?;
    de.end()
        .with_context(|| format!("{}: trailing data", path.display()))?;
    match collector.error {
        Some(err) => Err(err),
        None => Ok(collector.data),
    }
}

#[derive(Default)]
struct Collector {
    data: LegacyData,
    error: Option<anyhow::Error>,
}

impl<'de> DeserializeSeed<'de> for &mut Collector {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for &mut Collector {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of Django model entries")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(entry) = seq.next_element::<Entry>()? {
            if self.error.is_none() {
                if let Err(err) = self.add(entry) {
                    self.error = Some(err);
                }
            }
        }
        Ok(())
    }
}

impl Collector {
    fn add(&mut self, entry: Entry) -> anyhow::Result<()> {
        let table = match entry.model.as_str() {
            "auth.user" => "auth_user",
            "processos.pop" => "processos_pop",
            "processos.popsnapshot" => "processos_popsnapshot",
            "processos.popchangelog" => "processos_popchangelog",
            "processos.area" => "processos_area",
            "processos.popversion" => "processos_popversion",
            "processos.userprofile" => "processos_userprofile",
            _ => return Ok(()),
        };
        let id = entry.pk.ok_or_else(|| {
            anyhow!(
                "{} entry without an integer pk (dump without --natural-primary)",
                entry.model
            )
        })?;
        let f = Fields {
            map: entry.fields,
            table,
            id,
        };
        match table {
            "auth_user" => self.data.users.push(f.user()?),
            "processos_pop" => self.data.pops.push(f.pop()?),
            "processos_popsnapshot" => self.data.snapshots.push(f.snapshot()?),
            "processos_area" => self.data.areas.push(f.area()?),
            "processos_popversion" => self.data.versions.push(f.version()?),
            "processos_userprofile" => self.data.profiles.push(f.profile()?),
            _ => self.data.changes.push(f.change()?),
        }
        Ok(())
    }
}

struct Fields {
    map: Map<String, Value>,
    table: &'static str,
    id: i64,
}

impl Fields {
    fn place(&self, column: &str) -> String {
        at(self.table, self.id, column)
    }

    fn missing(&self, column: &str, what: &str) -> anyhow::Error {
        anyhow!("{}: expected {what}", self.place(column))
    }

    fn value(&mut self, column: &str) -> Option<Value> {
        match self.map.remove(column) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    fn opt_text(&mut self, column: &str) -> anyhow::Result<Option<String>> {
        match self.value(column) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.missing(column, "a string")),
        }
    }

    fn text(&mut self, column: &str) -> anyhow::Result<String> {
        self.opt_text(column)?
            .ok_or_else(|| self.missing(column, "a string"))
    }

    fn opt_int(&mut self, column: &str) -> anyhow::Result<Option<i64>> {
        match self.value(column) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.missing(column, "an integer")),
        }
    }

    fn int32(&mut self, column: &str) -> anyhow::Result<i32> {
        let raw = self
            .opt_int(column)?
            .ok_or_else(|| self.missing(column, "an integer"))?;
        int(raw, &self.place(column))
    }

    fn flag(&mut self, column: &str) -> anyhow::Result<bool> {
        match self.value(column) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(b),
            Some(_) => Err(self.missing(column, "a boolean")),
        }
    }

    fn datetime(&mut self, column: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
        let raw = self.text(column)?;
        parse_datetime(&raw, &self.place(column))
    }

    fn opt_datetime(
        &mut self,
        column: &str,
    ) -> anyhow::Result<Option<chrono::DateTime<chrono::Utc>>> {
        let raw = self.opt_text(column)?;
        parse_opt_datetime(raw.as_deref(), &self.place(column))
    }

    fn area(mut self) -> anyhow::Result<LegacyArea> {
        Ok(LegacyArea {
            id: self.id,
            codigo: self.text("codigo")?,
            nome: self.text("nome")?,
            nome_curto: self.opt_text("nome_curto")?.unwrap_or_default(),
            slug: self.text("slug")?,
            prefixo: non_empty(self.opt_text("prefixo")?),
            ordem: match self.opt_int("ordem")? {
                Some(raw) => int(raw, &self.place("ordem"))?,
                None => 0,
            },
            ativo: self.flag("ativo")?,
            descricao: self.opt_text("descricao")?.unwrap_or_default(),
            parent_id: self.opt_int("area_pai")?,
            created_at: self.datetime("created_at")?,
            updated_at: self.datetime("updated_at")?,
        })
    }

    fn user(mut self) -> anyhow::Result<LegacyUser> {
        Ok(LegacyUser {
            id: self.id,
            username: self.text("username")?,
            email: self.opt_text("email")?.unwrap_or_default(),
            password: self.opt_text("password")?.unwrap_or_else(|| "!".into()),
            is_staff: self.flag("is_staff")?,
            is_superuser: self.flag("is_superuser")?,
            is_active: self.flag("is_active")?,
            date_joined: self.datetime("date_joined")?,
            last_login: self.opt_datetime("last_login")?,
        })
    }

    fn pop(mut self) -> anyhow::Result<LegacyPop> {
        let content = PopContent {
            nome_usuario: self.opt_text("nome_usuario")?.unwrap_or_default(),
            area_codigo: self.opt_text("area_codigo")?,
            area_nome: self.opt_text("area_nome")?,
            macroprocesso: self.opt_text("macroprocesso")?,
            codigo_processo: self.opt_text("codigo_processo")?,
            nome_processo: self.opt_text("nome_processo")?,
            processo_especifico: self.opt_text("processo_especifico")?,
            entrega_esperada: self.opt_text("entrega_esperada")?,
            dispositivos_normativos: self.opt_text("dispositivos_normativos")?,
            sistemas_utilizados: content_json(self.value("sistemas_utilizados")).into(),
            operadores: self.opt_text("operadores")?,
            pontos_atencao: self.opt_text("pontos_atencao")?,
            etapas: content_json(self.value("etapas")).into(),
            documentos_utilizados: content_json(self.value("documentos_utilizados")).into(),
            fluxos_entrada: content_json(self.value("fluxos_entrada")).into(),
            fluxos_saida: content_json(self.value("fluxos_saida")).into(),
        };
        let uuid = self.text("uuid")?;
        let raw_status = self.text("status")?;
        let data_aprovacao = self.opt_text("data_aprovacao")?;
        Ok(LegacyPop {
            id: self.id,
            uuid: parse_uuid(&uuid, &self.place("uuid"))?,
            session_id: self.opt_text("session_id")?,
            created_by: self.opt_int("created_by")?,
            content,
            versao: self.int32("versao")?,
            mes_ano: non_empty(self.opt_text("mes_ano")?),
            data_aprovacao: parse_date(data_aprovacao.as_deref(), &self.place("data_aprovacao"))?,
            status: status(&raw_status, &self.place("status"))?,
            is_completo: self.flag("is_completo")?,
            is_deleted: self.flag("is_deleted")?,
            integrity_hash: non_empty(self.opt_text("integrity_hash")?),
            autosave_sequence: self.int32("autosave_sequence")?,
            raw_payload: decode_raw_payload(self.value("raw_payload")),
            created_at: self.datetime("created_at")?,
            updated_at: self.datetime("updated_at")?,
            last_autosave_at: self.opt_datetime("last_autosave_at")?,
            last_activity_at: self.datetime("last_activity_at")?,
            review: LegacyReview {
                submitted_at: self.opt_datetime("submitted_for_review_at")?,
                submitted_by: self.opt_int("submitted_by")?,
                reviewed_by: self.opt_int("reviewed_by")?,
                notes: non_empty(self.opt_text("review_notes")?),
            },
        })
    }

    fn snapshot(mut self) -> anyhow::Result<LegacySnapshot> {
        let raw_status = self.text("status")?;
        Ok(LegacySnapshot {
            id: self.id,
            pop_id: self
                .opt_int("pop")?
                .ok_or_else(|| self.missing("pop", "the POP's id"))?,
            sequence: self.int32("sequence")?,
            versao: self.int32("versao")?,
            autosave_sequence: self.int32("autosave_sequence")?,
            status: status(&raw_status, &self.place("status"))?,
            integrity_hash: non_empty(self.opt_text("integrity_hash")?),
            payload: self
                .value("payload")
                .ok_or_else(|| self.missing("payload", "a document"))?,
            milestone: self.flag("milestone")?,
            milestone_label: non_empty(self.opt_text("milestone_label")?),
            created_at: self.datetime("created_at")?,
        })
    }

    fn profile(mut self) -> anyhow::Result<LegacyProfile> {
        Ok(LegacyProfile {
            user_id: self
                .opt_int("user")?
                .ok_or_else(|| self.missing("user", "the user's id"))?,
            role: self.opt_text("role")?.unwrap_or_else(|| "operator".into()),
            area_id: self.opt_int("area")?,
            access_status: self
                .opt_text("access_status")?
                .unwrap_or_else(|| "pending".into()),
            email_verified: self.flag("email_verified")?,
        })
    }

    fn version(mut self) -> anyhow::Result<LegacyVersion> {
        Ok(LegacyVersion {
            id: self.id,
            pop_id: self
                .opt_int("pop")?
                .ok_or_else(|| self.missing("pop", "the POP's id"))?,
            versao: self.int32("versao")?,
            payload: self
                .value("payload")
                .ok_or_else(|| self.missing("payload", "a document"))?,
            integrity_hash: non_empty(self.opt_text("integrity_hash")?),
            published_by: self.opt_int("published_by")?,
            published_at: self.datetime("published_at")?,
            motivo: self.opt_text("motivo")?.unwrap_or_default(),
            is_current: self.flag("is_current")?,
        })
    }

    fn change(mut self) -> anyhow::Result<LegacyChange> {
        Ok(LegacyChange {
            id: self.id,
            pop_id: self
                .opt_int("pop")?
                .ok_or_else(|| self.missing("pop", "the POP's id"))?,
            user_id: self.opt_int("user")?,
            field_name: self.text("field_name")?,
            old_value: self.value("old_value"),
            new_value: self.value("new_value"),
            autosave_sequence: self.int32("autosave_sequence")?,
            created_at: self.datetime("created_at")?,
        })
    }
}
