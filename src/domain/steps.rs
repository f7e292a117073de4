//! Stable step ids: every object in `etapas` carries an `"id"` (a UUID string), so two people
//! editing different steps can be merged by step rather than by position (see [`super::merge`]).
//!
//! [`identify`] is the one place ids are given. It runs on every write of content by the server
//! (autosave, creation, restore) and on the client's side of a merge:
//! - a step that has an `"id"` (of any JSON type) keeps it;
//! - a step without one takes the id of the step at the same position in the previous list, when
//!   that step has a string id no other step of the new list uses (so a client that does not
//!   know about ids, and sends its steps by position, keeps the ids they already have instead of
//!   getting new ones on every save);
//! - otherwise it gets a new random UUID (v4).
//!
//! Import, `load` and `copy` keep documents byte for byte: a legacy step gets its id on its
//! POP's next write, so imported hashes, dumps and copies keep verifying. Ids travel inside the
//! document, so dump/load and copy keep them.

use super::transition::FieldChange;
use serde_json::Value;
use std::collections::HashSet;

/// Gives ids to the steps a write leaves in `etapas`: those of the `etapas` change when there is
/// one, else the stored `before` (so a legacy POP's steps get theirs on its next write). The
/// change is added, updated or dropped (when only ids were missing) to match.
pub fn identify_change(before: &Value, changes: &mut Vec<FieldChange>) {
    let position = changes.iter().position(|(name, ..)| name == "etapas");
    let sent = position.map_or(before, |i| &changes[i].2);
    let identified = identify(sent, before);
    match position {
        Some(i) if identified == *before => {
            changes.remove(i);
        }
        Some(i) => changes[i].2 = identified,
        None if identified != *before => {
            changes.push(("etapas".into(), before.clone(), identified));
        }
        None => {}
    }
}

/// `steps` with an id on every object (see the module docs); `previous` is the list it replaces.
/// Anything that is not a list, and items that are not objects, are left as they are.
pub fn identify(steps: &Value, previous: &Value) -> Value {
    let Value::Array(items) = steps else {
        return steps.clone();
    };
    if !items
        .iter()
        .any(|item| item.is_object() && item.get("id").is_none())
    {
        return steps.clone();
    }
    let mut used: HashSet<&str> = items
        .iter()
        .filter_map(|item| item.get("id").and_then(Value::as_str))
        .collect();
    let previous_ids: Vec<Option<&str>> = match previous {
        Value::Array(old) => old
            .iter()
            .map(|item| item.get("id").and_then(Value::as_str))
            .collect(),
        _ => Vec::new(),
    };
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let Value::Object(map) = item else {
            out.push(item.clone());
            continue;
        };
        if map.contains_key("id") {
            out.push(item.clone());
            continue;
        }
        let inherited = previous_ids
            .get(index)
            .copied()
            .flatten()
            .filter(|id| used.insert(id));
        let id = match inherited {
            Some(id) => id.to_owned(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        let mut map = map.clone();
        map.insert("id".into(), Value::String(id));
        out.push(Value::Object(map));
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn steps_without_ids_get_new_ones_and_ids_are_kept() {
        let steps = json!([{"descricao": "a"}, {"id": 7, "descricao": "b"}, "text"]);
        let out = identify(&steps, &Value::Null);
        let id = out[0]["id"].as_str().unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok());
        assert_eq!(out[1]["id"], json!(7));
        assert_eq!(out[2], json!("text"));
        assert_eq!(identify(&out, &Value::Null), out);
    }

    #[test]
    fn a_step_sent_without_id_keeps_the_id_at_its_position() {
        let previous = json!([{"id": "A", "descricao": "a"}, {"id": "B", "descricao": "b"}]);
        let sent = json!([{"descricao": "a!"}, {"id": "A", "descricao": "b"}]);
        let out = identify(&sent, &previous);
        // "A" is taken by the second step, so the first gets a new id rather than a duplicate.
        assert_ne!(out[0]["id"], json!("A"));
        assert_eq!(out[1]["id"], json!("A"));
        let sent = json!([{"descricao": "a!"}, {"descricao": "b"}]);
        let out = identify(&sent, &previous);
        assert_eq!(out[0]["id"], json!("A"));
        assert_eq!(out[1]["id"], json!("B"));
    }
}
