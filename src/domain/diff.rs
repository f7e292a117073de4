//! Structural diff between two JSON documents, such as two versions of a POP payload.
//!
//! [`diff_documents`] reports three views of the same comparison:
//! - the top-level fields that differ (what the legacy snapshot diff was keyed by);
//! - a list of [`Change`]s, recursing into objects key by key and into arrays with a
//!   sequence diff, so that inserting one step in the middle of `etapas` is one change;
//! - an RFC 6902 JSON Patch that turns the first document into the second.
//!
//! Arrays are compared with Myers' algorithm over precomputed element hashes (equal hashes
//! are confirmed by a deep comparison), after trimming the common prefix and suffix, so that
//! large documents with a few edits diff in time close to linear in their size.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Map, Value};
use similar::{capture_diff_slices_deadline, Algorithm, DiffOp};

/// Time allowed for the sequence diffs of one document comparison.
const SEQUENCE_DIFF_BUDGET: Duration = Duration::from_millis(250);

/// The result of comparing two documents with [`diff_documents`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DocumentDiff {
    /// The top-level keys whose values differ, sorted; empty unless both documents are
    /// objects.
    pub changed_fields: Vec<String>,
    /// The differences, in document order (see [`diff_documents`] for what paths mean).
    pub changes: Vec<Change>,
    /// A JSON array of RFC 6902 operations (`add`, `remove`, `replace`) that turns the first
    /// document into the second when applied in order.
    pub patch: Value,
}

/// One difference between two documents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Where the difference is, as an RFC 6901 JSON Pointer (`~` written `~0`, `/` written
    /// `~1`): into the first document for removed and changed values, into the second for
    /// added ones.
    pub path: String,
    /// Whether the value was added, removed or changed.
    pub kind: ChangeKind,
    /// The value in the first document; absent for an addition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    /// The value in the second document; absent for a removal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
}

/// The kind of a [`Change`], serialized in lowercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// The value exists only in the second document.
    Added,
    /// The value exists only in the first document.
    Removed,
    /// The value exists in both documents and differs (scalars, or values of different
    /// types).
    Changed,
}

/// Compares `from` with `to`.
///
/// Objects are compared key by key; arrays with a sequence diff over element equality, where
/// an element replaced by another at the same position is compared recursively when both are
/// objects or both are arrays (so editing one field of a step is one change at that field).
///
/// Paths in [`DocumentDiff::changes`] point into the document where the value lives:
/// `removed` and `changed` paths into `from`, `added` paths into `to`. So, for a step at
/// index 3 in `from` that is at index 4 in `to` (a step was inserted before it), a changed
/// field is reported at `/etapas/3/...` and an added field at `/etapas/4/...`. Patch paths,
/// instead, address the document as it stands while the patch is being applied, as RFC 6902
/// requires.
///
/// Sequence diffs share a time budget of 250 ms per call; past it, as can happen
/// only for huge arrays with little in common, the rest is reported as whole removals and
/// additions, which is still correct but less minimal.
#[must_use]
pub fn diff_documents(from: &Value, to: &Value) -> DocumentDiff {
    let mut differ = Differ::new(Instant::now().checked_add(SEQUENCE_DIFF_BUDGET));
    let changed_fields = match (from, to) {
        (Value::Object(old), Value::Object(new)) => differ.diff_top_level(old, new),
        _ => {
            differ.diff_values(from, to);
            Vec::new()
        }
    };
    DocumentDiff {
        changed_fields,
        changes: differ.changes,
        patch: Value::Array(differ.patch),
    }
}

/// One step down a JSON Pointer.
#[derive(Clone, Copy)]
enum Token<'a> {
    Key(&'a str),
    Index(usize),
}

/// The state of one comparison: the output so far and the current position.
///
/// `from_path` points at the current value in `from`; `to_path` at the current value in the
/// document being patched, which is also its position in `to` because array edits are
/// emitted from the start of each array onwards (everything before the current element has
/// already been turned into its `to` form).
struct Differ {
    changes: Vec<Change>,
    patch: Vec<Value>,
    from_path: String,
    to_path: String,
    deadline: Option<Instant>,
}

impl Differ {
    fn new(deadline: Option<Instant>) -> Self {
        Self {
            changes: Vec::new(),
            patch: Vec::new(),
            from_path: String::new(),
            to_path: String::new(),
            deadline,
        }
    }

    fn diff_values(&mut self, from: &Value, to: &Value) {
        match (from, to) {
            (Value::Object(old), Value::Object(new)) => self.diff_objects(old, new),
            (Value::Array(old), Value::Array(new)) => self.diff_arrays(old, new),
            _ if from == to => {}
            _ => self.changed(from, to),
        }
    }

    /// Compares two top-level objects and returns the keys whose values differ.
    fn diff_top_level(
        &mut self,
        from: &Map<String, Value>,
        to: &Map<String, Value>,
    ) -> Vec<String> {
        let mut differing = Vec::new();
        for key in union_keys(from, to) {
            let changes_before = self.changes.len();
            self.diff_entry(key, from.get(key), to.get(key));
            if self.changes.len() > changes_before {
                differing.push(key.clone());
            }
        }
        differing
    }

    fn diff_objects(&mut self, from: &Map<String, Value>, to: &Map<String, Value>) {
        for key in union_keys(from, to) {
            self.diff_entry(key, from.get(key), to.get(key));
        }
    }

    /// Compares the values of one key, either of which may be absent.
    fn diff_entry(&mut self, key: &str, from: Option<&Value>, to: Option<&Value>) {
        let token = Token::Key(key);
        self.descend(token, token, |differ| match (from, to) {
            (Some(old), Some(new)) => differ.diff_values(old, new),
            (Some(old), None) => differ.removed(old),
            (None, Some(new)) => differ.added(new),
            (None, None) => {}
        });
    }

    fn diff_arrays(&mut self, from: &[Value], to: &[Value]) {
        let old = hashed(from);
        let new = hashed(to);
        let ops = capture_diff_slices_deadline(Algorithm::Myers, &old, &new, self.deadline);
        for op in ops {
            match op {
                DiffOp::Equal { .. } => {}
                DiffOp::Delete {
                    old_index,
                    old_len,
                    new_index,
                } => self.remove_run(from, old_index, old_len, new_index),
                DiffOp::Insert {
                    new_index, new_len, ..
                } => self.add_run(to, new_index, new_len),
                DiffOp::Replace {
                    old_index,
                    old_len,
                    new_index,
                    new_len,
                } => {
                    let paired = old_len.min(new_len);
                    self.pair_run(from, to, old_index, new_index, paired);
                    self.remove_run(
                        from,
                        old_index + paired,
                        old_len - paired,
                        new_index + paired,
                    );
                    self.add_run(to, new_index + paired, new_len - paired);
                }
            }
        }
    }

    /// Compares `len` elements of `from` starting at `old_index` with as many elements of
    /// `to` starting at `new_index`, position by position.
    fn pair_run(
        &mut self,
        from: &[Value],
        to: &[Value],
        old_index: usize,
        new_index: usize,
        len: usize,
    ) {
        let old = run(from, old_index, len);
        let new = run(to, new_index, len);
        for (offset, (old, new)) in old.iter().zip(new).enumerate() {
            let (from_token, to_token) = (
                Token::Index(old_index + offset),
                Token::Index(new_index + offset),
            );
            self.descend(from_token, to_token, |differ| differ.diff_values(old, new));
        }
    }

    /// Removes `len` elements of `from` starting at `old_index`; in the document being
    /// patched they all sit at `new_index` in turn.
    fn remove_run(&mut self, from: &[Value], old_index: usize, len: usize, new_index: usize) {
        for (offset, old) in run(from, old_index, len).iter().enumerate() {
            let (from_token, to_token) =
                (Token::Index(old_index + offset), Token::Index(new_index));
            self.descend(from_token, to_token, |differ| differ.removed(old));
        }
    }

    /// Adds `len` elements of `to` starting at `new_index`.
    fn add_run(&mut self, to: &[Value], new_index: usize, len: usize) {
        for (offset, new) in run(to, new_index, len).iter().enumerate() {
            let token = Token::Index(new_index + offset);
            self.descend(token, token, |differ| differ.added(new));
        }
    }

    /// Runs `visit` with both paths extended by one token each.
    fn descend(
        &mut self,
        from_token: Token<'_>,
        to_token: Token<'_>,
        visit: impl FnOnce(&mut Self),
    ) {
        let (from_len, to_len) = (self.from_path.len(), self.to_path.len());
        push_token(&mut self.from_path, from_token);
        push_token(&mut self.to_path, to_token);
        visit(self);
        self.from_path.truncate(from_len);
        self.to_path.truncate(to_len);
    }

    fn added(&mut self, new: &Value) {
        self.changes.push(Change {
            path: self.to_path.clone(),
            kind: ChangeKind::Added,
            old: None,
            new: Some(new.clone()),
        });
        self.patch
            .push(patch_operation("add", &self.to_path, Some(new)));
    }

    fn removed(&mut self, old: &Value) {
        self.changes.push(Change {
            path: self.from_path.clone(),
            kind: ChangeKind::Removed,
            old: Some(old.clone()),
            new: None,
        });
        self.patch
            .push(patch_operation("remove", &self.to_path, None));
    }

    fn changed(&mut self, old: &Value, new: &Value) {
        self.changes.push(Change {
            path: self.from_path.clone(),
            kind: ChangeKind::Changed,
            old: Some(old.clone()),
            new: Some(new.clone()),
        });
        self.patch
            .push(patch_operation("replace", &self.to_path, Some(new)));
    }
}

/// One RFC 6902 operation object.
fn patch_operation(op: &str, path: &str, value: Option<&Value>) -> Value {
    let mut operation = Map::new();
    operation.insert("op".to_owned(), Value::from(op));
    operation.insert("path".to_owned(), Value::from(path));
    if let Some(value) = value {
        operation.insert("value".to_owned(), value.clone());
    }
    Value::Object(operation)
}

/// The keys of both objects, sorted and without duplicates.
fn union_keys<'a>(from: &'a Map<String, Value>, to: &'a Map<String, Value>) -> Vec<&'a String> {
    let mut keys: Vec<&String> = from.keys().chain(to.keys()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// An array element with its precomputed hash: comparing two of them looks at the hashes
/// first and at the values only when the hashes are equal.
struct Hashed<'a> {
    hash: u64,
    value: &'a Value,
}

impl PartialEq for Hashed<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.value == other.value
    }
}

impl Eq for Hashed<'_> {}

impl Hash for Hashed<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

fn hashed(items: &[Value]) -> Vec<Hashed<'_>> {
    items
        .iter()
        .map(|value| {
            let mut hasher = DefaultHasher::new();
            value.hash(&mut hasher);
            Hashed {
                hash: hasher.finish(),
                value,
            }
        })
        .collect()
}

/// The `len` items starting at `start`, or as many of them as exist.
fn run(items: &[Value], start: usize, len: usize) -> &[Value] {
    let start = start.min(items.len());
    let end = start.saturating_add(len).min(items.len());
    items.get(start..end).unwrap_or_default()
}

/// Appends `/token` to a JSON Pointer, escaping `~` as `~0` and `/` as `~1` (RFC 6901).
fn push_token(path: &mut String, token: Token<'_>) {
    path.push('/');
    match token {
        Token::Key(key) => {
            for c in key.chars() {
                match c {
                    '~' => path.push_str("~0"),
                    '/' => path.push_str("~1"),
                    other => path.push(other),
                }
            }
        }
        Token::Index(index) => path.push_str(&index.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply(from: &Value, patch: &Value) -> Value {
        let operations: json_patch::Patch =
            serde_json::from_value(patch.clone()).expect("the patch is RFC 6902");
        let mut document = from.clone();
        json_patch::patch(&mut document, &operations).expect("the patch applies");
        document
    }

    /// Checks everything that must hold for any pair of documents.
    fn check(from: &Value, to: &Value) -> DocumentDiff {
        let diff = diff_documents(from, to);
        assert_eq!(apply(from, &diff.patch), *to, "patch {}", diff.patch);
        assert_eq!(diff.changes.is_empty(), from == to);
        for change in &diff.changes {
            match change.kind {
                ChangeKind::Added => assert_eq!(to.pointer(&change.path), change.new.as_ref()),
                ChangeKind::Removed | ChangeKind::Changed => {
                    assert_eq!(from.pointer(&change.path), change.old.as_ref())
                }
            }
        }
        if let (Some(old), Some(new)) = (from.as_object(), to.as_object()) {
            let mut expected: Vec<String> = old
                .keys()
                .chain(new.keys())
                .filter(|key| old.get(*key) != new.get(*key))
                .cloned()
                .collect();
            expected.sort();
            expected.dedup();
            assert_eq!(diff.changed_fields, expected);
        }
        diff
    }

    fn step(number: usize) -> Value {
        json!({
            "numero": number,
            "descricao": format!("Etapa {number}: conferir a documentação recebida"),
            "detalhes": [format!("Detalhe {number}.1"), format!("Detalhe {number}.2")],
            "operador": "Técnico",
            "acao_principal": "Analisar o requerimento, conferir a documentação apresentada \
                pelo interessado, registrar a análise no sistema, anexar o parecer técnico ao \
                processo e encaminhar à unidade responsável pela decisão final, observando os \
                prazos, os dispositivos normativos aplicáveis e as orientações vigentes.",
        })
    }

    fn pop(steps: usize) -> Value {
        json!({
            "nome_processo": "Concessão de aposentadoria",
            "area": {"codigo": "7.2", "nome": "CGBEN"},
            "etapas": (1..=steps).map(step).collect::<Vec<_>>(),
            "sistemas": ["SEI", "SIAPE"],
            "pontos_atencao": null,
        })
    }

    fn etapas(document: &mut Value) -> &mut Vec<Value> {
        document["etapas"]
            .as_array_mut()
            .expect("etapas is an array")
    }

    #[test]
    fn equal_documents_have_no_differences() {
        let diff = check(&pop(5), &pop(5));
        assert!(diff.changed_fields.is_empty());
        assert_eq!(diff.patch, json!([]));
    }

    #[test]
    fn a_step_inserted_in_the_middle_is_one_addition() {
        let from = pop(30);
        let mut to = from.clone();
        etapas(&mut to).insert(12, json!({"descricao": "Nova etapa"}));
        let diff = check(&from, &to);
        assert_eq!(diff.changed_fields, ["etapas"]);
        assert_eq!(
            diff.changes,
            [Change {
                path: "/etapas/12".to_owned(),
                kind: ChangeKind::Added,
                old: None,
                new: Some(json!({"descricao": "Nova etapa"})),
            }]
        );
        assert_eq!(
            diff.patch,
            json!([{"op": "add", "path": "/etapas/12", "value": {"descricao": "Nova etapa"}}])
        );
    }

    #[test]
    fn a_removed_step_is_one_removal() {
        let from = pop(30);
        let mut to = from.clone();
        etapas(&mut to).remove(20);
        let diff = check(&from, &to);
        assert_eq!(
            diff.changes,
            [Change {
                path: "/etapas/20".to_owned(),
                kind: ChangeKind::Removed,
                old: Some(step(21)),
                new: None,
            }]
        );
        assert_eq!(diff.patch, json!([{"op": "remove", "path": "/etapas/20"}]));
    }

    #[test]
    fn an_edited_step_field_is_reported_at_that_field() {
        let from = pop(10);
        let mut to = from.clone();
        to["etapas"][3]["descricao"] = json!("Descrição revista");
        let diff = check(&from, &to);
        assert_eq!(
            diff.changes,
            [Change {
                path: "/etapas/3/descricao".to_owned(),
                kind: ChangeKind::Changed,
                old: Some(from["etapas"][3]["descricao"].clone()),
                new: Some(json!("Descrição revista")),
            }]
        );
    }

    #[test]
    fn paths_name_the_side_each_value_lives_on() {
        let from = pop(6);
        let mut to = from.clone();
        etapas(&mut to).insert(0, step(0));
        to["etapas"][4]["operador"] = json!("Chefe");
        to["etapas"][4]["sistemas"] = json!(["SEI"]);
        etapas(&mut to).remove(6);
        let diff = check(&from, &to);
        let summary: Vec<(&str, ChangeKind)> = diff
            .changes
            .iter()
            .map(|change| (change.path.as_str(), change.kind))
            .collect();
        assert_eq!(
            summary,
            [
                ("/etapas/0", ChangeKind::Added),
                ("/etapas/3/operador", ChangeKind::Changed),
                ("/etapas/4/sistemas", ChangeKind::Added),
                ("/etapas/5", ChangeKind::Removed),
            ]
        );
    }

    #[test]
    fn keys_are_added_removed_and_escaped() {
        let from = json!({"a/b": 1, "c~d": {"x": true}, "same": [1, 2]});
        let to = json!({"c~d": {"x": false, "y": null}, "same": [1, 2], "new": "n"});
        let diff = check(&from, &to);
        let paths: Vec<&str> = diff.changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["/a~1b", "/c~0d/x", "/c~0d/y", "/new"]);
        assert_eq!(diff.changed_fields, ["a/b", "c~d", "new"]);
    }

    #[test]
    fn values_of_different_types_are_changed() {
        let from = json!({"area": "CGBEN", "etapas": [{"a": 1}, [1], "x"]});
        let to = json!({"area": {"nome": "CGBEN"}, "etapas": [[1], {"a": 1}, null]});
        check(&from, &to);
        let diff = check(
            &json!({"area": "CGBEN"}),
            &json!({"area": {"nome": "CGBEN"}}),
        );
        assert_eq!(diff.changes[0].kind, ChangeKind::Changed);
        assert_eq!(diff.changes[0].path, "/area");
    }

    #[test]
    fn documents_that_are_not_objects_are_compared_too() {
        let diff = check(&json!([1, 2, 3]), &json!("text"));
        assert!(diff.changed_fields.is_empty());
        assert_eq!(diff.changes[0].path, "");
        check(&json!([1, 2, 3, 4]), &json!([0, 1, 3, 4, 5]));
        check(&json!(null), &json!({"a": 1}));
        check(&json!([]), &json!([[], {}]));
    }

    #[test]
    fn serializes_kinds_in_lowercase_and_omits_absent_values() {
        let diff = diff_documents(&json!({"a": 1}), &json!({"b": 2}));
        assert_eq!(
            serde_json::to_value(&diff.changes).expect("changes serialize"),
            json!([
                {"path": "/a", "kind": "removed", "old": 1},
                {"path": "/b", "kind": "added", "new": 2},
            ])
        );
    }

    #[test]
    fn a_large_document_with_a_few_edits() {
        let from = pop(2400);
        let mut to = from.clone();
        to["etapas"][100]["descricao"] = json!("Editada");
        etapas(&mut to).remove(1500);
        etapas(&mut to).insert(700, json!({"descricao": "Inserida"}));
        assert!(serde_json::to_string(&from).expect("serializes").len() > 1_000_000);
        let diff = check(&from, &to);
        let summary: Vec<(&str, ChangeKind)> = diff
            .changes
            .iter()
            .map(|change| (change.path.as_str(), change.kind))
            .collect();
        assert_eq!(
            summary,
            [
                ("/etapas/100/descricao", ChangeKind::Changed),
                ("/etapas/700", ChangeKind::Added),
                ("/etapas/1500", ChangeKind::Removed),
            ]
        );
        assert_eq!(diff.patch.as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn consecutive_legacy_snapshots() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/dump_pops.json"
        );
        let text = std::fs::read_to_string(path).expect("the legacy fixture dump is readable");
        let dump: Value = serde_json::from_str(&text).expect("the fixture dump is JSON");
        let mut snapshots: Vec<&Value> = dump
            .as_array()
            .expect("the fixture dump is an array")
            .iter()
            .filter(|entry| entry["model"] == "processos.popsnapshot")
            .map(|entry| &entry["fields"])
            .collect();
        snapshots.sort_by_key(|fields| (fields["pop"].as_u64(), fields["sequence"].as_u64()));
        let mut compared = 0;
        for pair in snapshots.windows(2) {
            if pair[0]["pop"] == pair[1]["pop"] {
                check(&pair[0]["payload"], &pair[1]["payload"]);
                compared += 1;
            }
        }
        assert!(compared > 0);
    }

    /// A small deterministic pseudo-random generator (SplitMix64).
    struct SplitMix(u64);

    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound.max(1) as u64) as usize
        }

        /// Short strings from a small set, so that equal elements are common.
        fn text(&mut self) -> String {
            const WORDS: &[&str] = &["a", "b", "SEI", "ação", "x/y", "~0", ""];
            WORDS[self.below(WORDS.len())].to_owned()
        }

        fn scalar(&mut self) -> Value {
            match self.below(4) {
                0 => Value::Null,
                1 => Value::Bool(self.below(2) == 1),
                2 => json!(self.below(5)),
                _ => Value::String(self.text()),
            }
        }

        fn value(&mut self, depth: usize) -> Value {
            match (depth, self.below(3)) {
                (0, _) | (_, 0) => self.scalar(),
                (_, 1) => (0..self.below(6)).map(|_| self.value(depth - 1)).collect(),
                _ => Value::Object(
                    (0..self.below(5))
                        .map(|_| (self.text(), self.value(depth - 1)))
                        .collect(),
                ),
            }
        }

        /// Applies one random edit somewhere inside `value`.
        fn mutate(&mut self, value: &mut Value) {
            let descend = self.below(3) != 0;
            match value {
                Value::Object(map) if descend && !map.is_empty() => {
                    let index = self.below(map.len());
                    if let Some(child) = map.values_mut().nth(index) {
                        self.mutate(child);
                    }
                }
                Value::Array(items) if descend && !items.is_empty() => {
                    let index = self.below(items.len());
                    self.mutate(&mut items[index]);
                }
                Value::Object(map) => self.mutate_object(map),
                Value::Array(items) => self.mutate_array(items),
                scalar => *scalar = self.value(2),
            }
        }

        fn mutate_object(&mut self, map: &mut Map<String, Value>) {
            let key = map.keys().nth(self.below(map.len())).cloned();
            match (self.below(3), key) {
                (0, Some(key)) => {
                    map.remove(&key);
                }
                (1, Some(key)) => {
                    map.insert(key, self.scalar());
                }
                _ => {
                    map.insert(self.text(), self.value(2));
                }
            }
        }

        fn mutate_array(&mut self, items: &mut Vec<Value>) {
            let index = self.below(items.len());
            match self.below(4) {
                0 if !items.is_empty() => {
                    items.remove(index);
                }
                1 if !items.is_empty() => {
                    let other = self.below(items.len());
                    items.swap(index, other);
                }
                2 if !items.is_empty() => {
                    let copy = items[index].clone();
                    items.insert(self.below(items.len() + 1), copy);
                }
                _ => items.insert(self.below(items.len() + 1), self.value(2)),
            }
        }
    }

    #[test]
    fn random_edits_round_trip_through_the_patch() {
        let mut random = SplitMix(3);
        for round in 0..400 {
            let from = if round % 2 == 0 {
                pop(random.below(12))
            } else {
                random.value(4)
            };
            let mut to = from.clone();
            for _ in 0..=random.below(6) {
                random.mutate(&mut to);
            }
            check(&from, &to);
        }
    }

    #[test]
    fn unrelated_random_documents_round_trip_through_the_patch() {
        let mut random = SplitMix(4);
        for _ in 0..300 {
            let from = random.value(4);
            let to = random.value(4);
            check(&from, &to);
        }
    }
}
