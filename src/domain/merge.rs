//! Three-way merge of POP content: what a stale autosave changed, applied on top of what the
//! server holds now, when the two do not overlap.
//!
//! [`merge`] takes the content the client was editing from (`base`), the content stored now
//! (`server`) and the client's content (`client`: the base with the autosave's fields applied),
//! each as the field map of [`super::document::to_fields`], and gives either the merged content
//! with the paths where the client's changes were applied, or every conflict. It is pure: no
//! I/O, no clock, no randomness.
//!
//! The rules, at every place in the document (a field, a step, a key of a step):
//! - if the server and the client hold the same value, that is the result (equal changes are
//!   not a conflict); if only one side changed it, that side's value is the result;
//! - if both changed it differently:
//!   - two objects are merged key by key with these same rules (a step's fields);
//!   - `etapas` (and any list of objects that all carry a unique string `"id"`) is merged step by
//!     step, by id, not by position: an edit and an edit of different steps both stay, a step
//!     added on one side stays, an edit against a delete of the same step is a conflict, a step
//!     deleted on both sides is gone;
//!   - a list of distinct strings (`sistemas`, `fluxos_entrada`, `fluxos_saida`, a step's
//!     `sistemas`...) and `operadores` (text joined by `, `) are sets: each side's additions and
//!     removals are applied;
//!   - anything else (text, numbers, a list without ids such as `documentos_utilizados`) is a
//!     conflict: no silent last-writer-wins.
//! - Order of a merged list: the steps (or items) both sides kept follow the order of the side
//!   that reordered them (both reordering differently is a conflict at the list); an added item
//!   goes right after the item that precedes it on the side that added it (or first, when none
//!   does); when both sides added after the same item, the group whose first id sorts first
//!   comes first, so the result does not depend on which side is the server.
//!
//! Paths are JSON Pointers into the POP document (the snapshot payload: `sistemas`,
//! `area/codigo`, ...), a step addressed by its index in the server's document (or, when the
//! server has no such step, in the base's, then in the client's).

use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One place both sides changed differently.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict {
    /// Where, as a JSON Pointer into the POP document.
    pub path: String,
    /// The value the client started from (`None`: absent).
    pub base: Option<Value>,
    /// The value stored now.
    pub server: Option<Value>,
    /// The value the client sent.
    pub client: Option<Value>,
}

/// A successful merge.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// The merged content, by legacy column name.
    pub content: Map<String, Value>,
    /// Where the client's changes were applied on top of the server's content, sorted.
    pub merged_paths: Vec<String>,
}

/// Merges `client`'s changes since `base` into `server` (see the module docs).
pub fn merge(
    base: &Map<String, Value>,
    server: &Map<String, Value>,
    client: &Map<String, Value>,
) -> Result<Merged, Vec<Conflict>> {
    let mut state = State::default();
    let mut content = Map::new();
    let keys: std::collections::BTreeSet<&String> = base
        .keys()
        .chain(server.keys())
        .chain(client.keys())
        .collect();
    for key in keys {
        let path = document_path(key);
        let (b, s, c) = (base.get(key), server.get(key), client.get(key));
        let merged = if key == "operadores" {
            merge_joined(&path, b, s, c, ", ", &mut state)
        } else {
            state.value(&path, b, s, c)
        };
        if let Some(value) = merged {
            content.insert(key.clone(), value);
        }
    }
    if state.conflicts.is_empty() {
        let mut merged_paths = state.merged;
        merged_paths.sort();
        merged_paths.dedup();
        Ok(Merged {
            content,
            merged_paths,
        })
    } else {
        Err(state.conflicts)
    }
}

/// The JSON Pointer of a content column in the POP document.
fn document_path(column: &str) -> String {
    match column {
        "sistemas_utilizados" => "/sistemas".into(),
        "area_codigo" => "/area/codigo".into(),
        "area_nome" => "/area/nome".into(),
        other => format!("/{}", escape(other)),
    }
}

/// A JSON Pointer reference token (RFC 6901).
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// What a merge has found so far.
#[derive(Default)]
struct State {
    conflicts: Vec<Conflict>,
    merged: Vec<String>,
}

impl State {
    fn conflict(&mut self, path: &str, b: Option<&Value>, s: Option<&Value>, c: Option<&Value>) {
        self.conflicts.push(Conflict {
            path: path.to_owned(),
            base: b.cloned(),
            server: s.cloned(),
            client: c.cloned(),
        });
    }

    /// The merged value at `path` (`None`: absent). On a conflict the server's value is given
    /// back, so the walk can go on and report every conflict.
    fn value(
        &mut self,
        path: &str,
        b: Option<&Value>,
        s: Option<&Value>,
        c: Option<&Value>,
    ) -> Option<Value> {
        if s == c || b == c {
            return s.cloned();
        }
        if b == s {
            self.merged.push(path.to_owned());
            return c.cloned();
        }
        match (b, s, c) {
            (Some(Value::Object(b)), Some(Value::Object(s)), Some(Value::Object(c))) => {
                Some(Value::Object(self.objects(path, b, s, c)))
            }
            (Some(Value::Array(bl)), Some(Value::Array(sl)), Some(Value::Array(cl))) => {
                if let [Some(bk), Some(sk), Some(ck)] = [bl, sl, cl].map(|list| keys(list)) {
                    return Some(Value::Array(self.keyed(
                        path,
                        (bl, &bk),
                        (sl, &sk),
                        (cl, &ck),
                    )));
                }
                self.conflict(path, b, s, c);
                s.cloned()
            }
            _ => {
                self.conflict(path, b, s, c);
                s.cloned()
            }
        }
    }

    fn objects(
        &mut self,
        path: &str,
        b: &Map<String, Value>,
        s: &Map<String, Value>,
        c: &Map<String, Value>,
    ) -> Map<String, Value> {
        let keys: std::collections::BTreeSet<&String> =
            b.keys().chain(s.keys()).chain(c.keys()).collect();
        let mut out = Map::new();
        for key in keys {
            let at = format!("{path}/{}", escape(key));
            if let Some(value) = self.value(&at, b.get(key), s.get(key), c.get(key)) {
                out.insert(key.clone(), value);
            }
        }
        out
    }

    /// Merges three lists whose items all have distinct keys (see [`keys`]).
    fn keyed(
        &mut self,
        path: &str,
        (b, bk): (&[Value], &[String]),
        (s, sk): (&[Value], &[String]),
        (c, ck): (&[Value], &[String]),
    ) -> Vec<Value> {
        let index = |ks: &[String]| -> HashMap<String, usize> {
            ks.iter().enumerate().map(|(i, k)| (k.clone(), i)).collect()
        };
        let (bi, si, ci) = (index(bk), index(sk), index(ck));
        // Every key, in a fixed order: the server's, then the base's, then the client's.
        let mut all: Vec<&String> = Vec::new();
        let mut seen = HashSet::new();
        for k in sk.iter().chain(bk).chain(ck) {
            if seen.insert(k) {
                all.push(k);
            }
        }
        let mut items: HashMap<&String, Value> = HashMap::new();
        for k in &all {
            let (bv, sv, cv) = (
                bi.get(*k).map(|&i| &b[i]),
                si.get(*k).map(|&i| &s[i]),
                ci.get(*k).map(|&i| &c[i]),
            );
            let at = match (si.get(*k), bi.get(*k), ci.get(*k)) {
                (Some(i), _, _) | (None, Some(i), _) | (None, None, Some(i)) => {
                    format!("{path}/{i}")
                }
                (None, None, None) => path.to_owned(),
            };
            if let Some(v) = self.value(&at, bv, sv, cv) {
                items.insert(*k, v);
            }
        }

        // The order of the items both sides kept.
        let kept = |ks: &[String]| -> Vec<String> {
            ks.iter()
                .filter(|k| {
                    bi.contains_key(*k)
                        && si.contains_key(*k)
                        && ci.contains_key(*k)
                        && items.contains_key(*k)
                })
                .cloned()
                .collect()
        };
        let (bo, so, co) = (kept(bk), kept(sk), kept(ck));
        let order = if so == bo || so == co {
            if co != so {
                self.merged.push(path.to_owned());
            }
            co
        } else if co == bo {
            so
        } else {
            self.conflict(
                path,
                Some(&Value::Array(b.to_vec())),
                Some(&Value::Array(s.to_vec())),
                Some(&Value::Array(c.to_vec())),
            );
            so
        };

        // Additions, grouped by the kept item they follow on the side that added them.
        let common: HashSet<String> = order.iter().cloned().collect();
        let mut groups: BTreeMap<Option<String>, Vec<Vec<String>>> = BTreeMap::new();
        let mut placed: HashSet<String> = common.clone();
        for ks in [sk, ck] {
            let mut anchor: Option<String> = None;
            let mut group: Vec<String> = Vec::new();
            for k in ks {
                if common.contains(k) {
                    if !group.is_empty() {
                        groups
                            .entry(anchor.clone())
                            .or_default()
                            .push(std::mem::take(&mut group));
                    }
                    anchor = Some(k.clone());
                } else if !bi.contains_key(k) && items.contains_key(k) && !placed.contains(k) {
                    placed.insert(k.clone());
                    group.push(k.clone());
                }
            }
            if !group.is_empty() {
                groups.entry(anchor).or_default().push(group);
            }
        }
        let mut out_keys: Vec<String> = Vec::new();
        let mut emit = |anchor: Option<String>, out: &mut Vec<String>| {
            if let Some(mut list) = groups.remove(&anchor) {
                list.sort_by(|x, y| x.first().cmp(&y.first()));
                out.extend(list.into_iter().flatten());
            }
        };
        emit(None, &mut out_keys);
        for k in order {
            out_keys.push(k.clone());
            emit(Some(k), &mut out_keys);
        }
        // Anything not placed yet (only after a conflict): at the end, so nothing is lost.
        for k in all {
            if items.contains_key(k) && !out_keys.contains(k) {
                out_keys.push(k.clone());
            }
        }
        out_keys
            .into_iter()
            .filter_map(|k| items.get(&k).cloned())
            .collect()
    }
}

/// The identity of each item of a list, when every item has one and no two share it: the
/// string `"id"` of an object, or a string itself.
fn keys(list: &[Value]) -> Option<Vec<String>> {
    let mut seen = HashSet::new();
    list.iter()
        .map(|item| match item {
            Value::Object(map) => match map.get("id") {
                Some(Value::String(id)) => Some(format!("o:{id}")),
                _ => None,
            },
            Value::String(text) => Some(format!("s:{text}")),
            _ => None,
        })
        .map(|key| key.filter(|k| seen.insert(k.clone())))
        .collect()
}

/// Merges a text field holding a list joined by `separator` as a set, when all three sides are
/// text; otherwise by the general rules.
fn merge_joined(
    path: &str,
    b: Option<&Value>,
    s: Option<&Value>,
    c: Option<&Value>,
    separator: &str,
    state: &mut State,
) -> Option<Value> {
    let split = |v: Option<&Value>| -> Option<Value> {
        let text = v?.as_str()?;
        Some(Value::Array(
            text.split(separator)
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| Value::String(item.to_owned()))
                .collect(),
        ))
    };
    match (split(b), split(s), split(c)) {
        (Some(bl), Some(sl), Some(cl)) if s != c && b != c && b != s => {
            let before = state.conflicts.len();
            let merged = state.value(path, Some(&bl), Some(&sl), Some(&cl));
            if state.conflicts.len() > before {
                // Report the texts, not their split form.
                state.conflicts.truncate(before);
                state.conflict(path, b, s, c);
                return s.cloned();
            }
            let items: Vec<&str> = merged
                .as_ref()
                .and_then(Value::as_array)
                .map(|items| items.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            state.merged.retain(|p| !p.starts_with(path));
            state.merged.push(path.to_owned());
            Some(Value::String(items.join(separator)))
        }
        _ => state.value(path, b, s, c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn step(id: &str, descricao: &str) -> Value {
        json!({"id": id, "descricao": descricao})
    }

    #[test]
    fn edits_of_different_fields_merge() {
        let base = map(json!({"macroprocesso": "a", "pontos_atencao": "x"}));
        let server = map(json!({"macroprocesso": "b", "pontos_atencao": "x"}));
        let client = map(json!({"macroprocesso": "a", "pontos_atencao": "y"}));
        let merged = merge(&base, &server, &client).unwrap();
        assert_eq!(
            Value::Object(merged.content),
            json!({"macroprocesso": "b", "pontos_atencao": "y"})
        );
        assert_eq!(merged.merged_paths, vec!["/pontos_atencao"]);
    }

    #[test]
    fn the_same_field_changed_differently_conflicts_and_equal_changes_do_not() {
        let base = map(json!({"pontos_atencao": "x"}));
        let server = map(json!({"pontos_atencao": "y"}));
        let client = map(json!({"pontos_atencao": "z"}));
        let conflicts = merge(&base, &server, &client).unwrap_err();
        assert_eq!(
            conflicts,
            vec![Conflict {
                path: "/pontos_atencao".into(),
                base: Some(json!("x")),
                server: Some(json!("y")),
                client: Some(json!("z")),
            }]
        );
        assert!(merge(&base, &server, &server).is_ok());
    }

    #[test]
    fn steps_merge_by_id() {
        let base = map(json!({"etapas": [step("a", "1"), step("b", "2")]}));
        // The server edits step b; the client edits step a and adds step c after it.
        let server = map(json!({"etapas": [step("a", "1"), step("b", "2!")]}));
        let client = map(json!({"etapas": [step("a", "1!"), step("c", "new"), step("b", "2")]}));
        let merged = merge(&base, &server, &client).unwrap();
        assert_eq!(
            merged.content["etapas"],
            json!([step("a", "1!"), step("c", "new"), step("b", "2!")])
        );
        assert_eq!(merged.merged_paths, vec!["/etapas/0", "/etapas/1"]);
    }

    #[test]
    fn an_edit_against_a_delete_conflicts() {
        let base = map(json!({"etapas": [step("a", "1"), step("b", "2")]}));
        let server = map(json!({"etapas": [step("b", "2")]}));
        let client = map(json!({"etapas": [step("a", "1!"), step("b", "2")]}));
        let conflicts = merge(&base, &server, &client).unwrap_err();
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].path, "/etapas/0");
        assert_eq!(conflicts[0].server, None);
        // A delete against no change is a delete.
        let client = base.clone();
        let merged = merge(&base, &server, &client).unwrap();
        assert_eq!(merged.content["etapas"], json!([step("b", "2")]));
    }

    #[test]
    fn string_lists_are_sets() {
        let base = map(json!({"sistemas_utilizados": ["SEI", "SIAPE"], "operadores": "Ana, Bia"}));
        let server =
            map(json!({"sistemas_utilizados": ["SEI", "SIAPE", "SOUGOV"], "operadores": "Ana"}));
        let client = map(
            json!({"sistemas_utilizados": ["SIAPE", "E-MAIL"], "operadores": "Ana, Bia, Caio"}),
        );
        let merged = merge(&base, &server, &client).unwrap();
        assert_eq!(
            merged.content["sistemas_utilizados"],
            json!(["SIAPE", "E-MAIL", "SOUGOV"])
        );
        assert_eq!(merged.content["operadores"], json!("Ana, Caio"));
        assert_eq!(
            merged.merged_paths,
            vec!["/operadores", "/sistemas/0", "/sistemas/1"]
        );
    }

    #[test]
    fn lists_without_ids_are_values() {
        let base = map(json!({"etapas": [{"descricao": "1"}]}));
        let server = map(json!({"etapas": [{"descricao": "2"}]}));
        let client = map(json!({"etapas": [{"descricao": "3"}]}));
        let conflicts = merge(&base, &server, &client).unwrap_err();
        assert_eq!(conflicts[0].path, "/etapas");
    }
}
