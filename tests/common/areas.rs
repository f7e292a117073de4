//! Areas for tests of whole-database transfers.

use mapagov::db::Db;
use mapagov::domain::areas::{self, AreaInput};
use mapagov::domain::Actor;

/// Creates two top-level areas, then moves the first under the second, so the sub-area's
/// `parent_id` names a row with a larger id: a copy or load inserting in id order must still
/// succeed.
pub async fn with_a_later_parent(db: &Db) {
    let staff = Actor::system();
    let area = |codigo: &str, prefixo: &str| AreaInput {
        codigo: codigo.into(),
        nome: format!("Área {codigo}"),
        slug: codigo.to_lowercase(),
        prefixo: Some(prefixo.into()),
        ativo: true,
        ..Default::default()
    };
    areas::create(db, &staff, &area("SUB", "11")).await.unwrap();
    areas::create(db, &staff, &area("TOP", "12")).await.unwrap();
    let moved = AreaInput {
        parent_codigo: Some("TOP".into()),
        prefixo: None,
        ..area("SUB", "11")
    };
    areas::update(db, &staff, "SUB", &moved).await.unwrap();
}
