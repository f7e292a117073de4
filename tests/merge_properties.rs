//! Properties of the three-way merge of POP content (`domain::merge`) on random documents and
//! random pairs of edits (proptest, which shrinks a failure to the smallest case):
//! non-overlapping edits merge to the same document whichever side is the server and keep both
//! sides' edits; overlapping edits always conflict at their path; and merging a side with itself
//! or with the untouched base gives that side back.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use mapagov::domain::merge::merge;
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

const TEXTS: [&str; 4] = [
    "macroprocesso",
    "pontos_atencao",
    "entrega_esperada",
    "nome_processo",
];

/// A base document: four texts, a set of systems and steps with ids `s0`, `s1`...
fn base() -> impl Strategy<Value = Map<String, Value>> {
    (
        prop::collection::vec("[ab]{0,2}", 4),
        prop::collection::btree_set("[A-E]", 0..4),
        prop::collection::vec(("[ab]{0,2}", "[ab]{0,2}"), 0..5),
    )
        .prop_map(|(texts, systems, steps)| {
            let mut doc = Map::new();
            for (name, text) in TEXTS.iter().zip(texts) {
                doc.insert((*name).into(), json!(text));
            }
            doc.insert("sistemas_utilizados".into(), json!(systems));
            let steps: Vec<Value> = steps
                .into_iter()
                .enumerate()
                .map(|(i, (d, o))| json!({"id": format!("s{i}"), "descricao": d, "operador": o}))
                .collect();
            doc.insert("etapas".into(), Value::Array(steps));
            doc
        })
}

/// What one side does, where it may: each number picks an action by its value.
#[derive(Debug, Clone)]
struct Plan {
    texts: Vec<u8>,
    steps: Vec<u8>,
    systems: Vec<u8>,
    added_steps: Vec<usize>,
    added_systems: Vec<usize>,
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        prop::collection::vec(0..2u8, 4),
        prop::collection::vec(0..4u8, 5),
        prop::collection::vec(0..2u8, 5),
        prop::collection::vec(0..6usize, 0..3),
        prop::collection::vec(0..6usize, 0..2),
    )
        .prop_map(|(texts, steps, systems, added_steps, added_systems)| Plan {
            texts,
            steps,
            systems,
            added_steps,
            added_systems,
        })
}

/// Applies `plan` as side `tag` to the parts of `doc` it `owns` (by index: texts, steps,
/// systems in base order).
fn edit(
    doc: &Map<String, Value>,
    plan: &Plan,
    tag: &str,
    owns: &dyn Fn(usize) -> bool,
) -> Map<String, Value> {
    let mut out = doc.clone();
    for (i, name) in TEXTS.iter().enumerate() {
        if owns(i) && plan.texts[i] == 1 {
            out.insert(
                (*name).into(),
                json!(format!("{tag}{}", doc[*name].as_str().unwrap())),
            );
        }
    }
    let mut steps: Vec<Value> = Vec::new();
    for (i, step) in doc["etapas"].as_array().unwrap().iter().enumerate() {
        let mut step = step.clone();
        match (owns(100 + i), plan.steps[i % plan.steps.len()]) {
            (true, 1) => {
                step["descricao"] = json!(format!("{tag}{}", step["descricao"].as_str().unwrap()))
            }
            (true, 2) => step["operador"] = json!(format!("{tag}!")),
            (true, 3) => continue,
            _ => {}
        }
        steps.push(step);
    }
    for (k, at) in plan.added_steps.iter().enumerate() {
        let at = at % (steps.len() + 1);
        steps.insert(
            at,
            json!({"id": format!("{tag}{k}"), "descricao": tag, "operador": tag}),
        );
    }
    out.insert("etapas".into(), Value::Array(steps));
    let mut systems: Vec<Value> = doc["sistemas_utilizados"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(i, _)| !(owns(200 + i) && plan.systems[i % plan.systems.len()] == 1))
        .map(|(_, s)| s.clone())
        .collect();
    for (k, at) in plan.added_systems.iter().enumerate() {
        let at = at % (systems.len() + 1);
        systems.insert(at, json!(format!("{tag}{k}")));
    }
    out.insert("sistemas_utilizados".into(), Value::Array(systems));
    out
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v.get("id").unwrap_or(v).as_str().unwrap().to_owned())
        .collect()
}

/// Whether `items` appear in `list` in the same relative order.
fn keeps_order(list: &[String], items: &[String]) -> bool {
    let kept: Vec<&String> = items.iter().filter(|i| list.contains(i)).collect();
    let seen: Vec<&String> = list.iter().filter(|i| kept.contains(i)).collect();
    kept == seen
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn non_overlapping_edits_merge_the_same_either_way_and_keep_both(
        base in base(), px in plan(), py in plan(), mask in any::<u64>()
    ) {
        let x_owns = move |i: usize| mask >> (i % 64) & 1 == 1;
        let y_owns = move |i: usize| mask >> (i % 64) & 1 == 0;
        let x = edit(&base, &px, "x", &x_owns);
        let y = edit(&base, &py, "y", &y_owns);
        let xy = merge(&base, &x, &y).unwrap();
        let yx = merge(&base, &y, &x).unwrap();
        prop_assert_eq!(&xy.content, &yx.content);
        let m = &xy.content;
        for name in TEXTS {
            let expected = if x[name] != base[name] { &x[name] } else { &y[name] };
            prop_assert_eq!(&m[name], expected);
        }
        // Every step of either side is there, as that side left it (the other side kept it
        // unchanged); a step deleted by its owner is gone.
        let merged_ids = ids(&m["etapas"]);
        for side in [&x, &y] {
            for step in side["etapas"].as_array().unwrap() {
                let id = step["id"].as_str().unwrap();
                let other = if std::ptr::eq(side, &x) { &y } else { &x };
                let in_other = other["etapas"].as_array().unwrap().iter().any(|s| s["id"] == id);
                let in_base = base["etapas"].as_array().unwrap().iter().any(|s| s["id"] == id);
                if in_base && !in_other {
                    prop_assert!(!merged_ids.contains(&id.to_owned()));
                    continue;
                }
                let found = m["etapas"].as_array().unwrap().iter().find(|s| s["id"] == id).unwrap();
                let base_step = base["etapas"].as_array().unwrap().iter().find(|s| s["id"] == id);
                if base_step != Some(step) {
                    prop_assert_eq!(found, step);
                }
            }
            prop_assert!(keeps_order(&merged_ids, &ids(&side["etapas"])));
        }
        // Systems: the base's, minus both sides' removals, plus both sides' additions.
        let set = |d: &Map<String, Value>| ids(&d["sistemas_utilizados"]).into_iter().collect::<BTreeSet<_>>();
        let (b, sx, sy) = (set(&base), set(&x), set(&y));
        let expected: BTreeSet<String> = b
            .iter()
            .filter(|s| sx.contains(*s) && sy.contains(*s))
            .chain(sx.difference(&b))
            .chain(sy.difference(&b))
            .cloned()
            .collect();
        prop_assert_eq!(set(m), expected);
    }

    #[test]
    fn overlapping_edits_always_conflict(
        base in base(), px in plan(), py in plan(), mask in any::<u64>(), which in 0..5usize
    ) {
        let x_owns = move |i: usize| mask >> (i % 64) & 1 == 1;
        let y_owns = move |i: usize| mask >> (i % 64) & 1 == 0;
        let mut x = edit(&base, &px, "x", &x_owns);
        let mut y = edit(&base, &py, "y", &y_owns);
        let steps = base["etapas"].as_array().unwrap().clone();
        let path = if which < 4 || steps.is_empty() {
            // Both change the same text, differently.
            let name = TEXTS[which % 4];
            x.insert(name.into(), json!("x-both"));
            y.insert(name.into(), json!("y-both"));
            format!("/{name}")
        } else {
            // One edits a step the other deletes.
            let id = steps[0]["id"].clone();
            for side in [&mut x, &mut y] {
                let list = side["etapas"].as_array().unwrap().clone();
                let kept: Vec<Value> = list.into_iter().filter(|s| s["id"] != id).collect();
                side.insert("etapas".into(), Value::Array(kept));
            }
            let mut edited = steps[0].clone();
            edited["descricao"] = json!("x-edited");
            x["etapas"].as_array_mut().unwrap().insert(0, edited);
            "/etapas/0".to_owned()
        };
        for (server, client) in [(&x, &y), (&y, &x)] {
            let conflicts = merge(&base, server, client).unwrap_err();
            prop_assert!(
                conflicts.iter().any(|c| c.path == path || (path == "/etapas/0" && c.path.starts_with("/etapas/"))),
                "no conflict at {} in {:?}", path, conflicts
            );
        }
    }

    #[test]
    fn a_side_merged_with_itself_or_the_base_is_that_side(
        base in base(), px in plan(), mask in any::<u64>()
    ) {
        let x = edit(&base, &px, "x", &move |i: usize| mask >> (i % 64) & 1 == 1);
        prop_assert_eq!(&merge(&base, &x, &x).unwrap().content, &x);
        prop_assert_eq!(&merge(&base, &base, &x).unwrap().content, &x);
        prop_assert_eq!(&merge(&base, &x, &base).unwrap().content, &x);
    }
}
