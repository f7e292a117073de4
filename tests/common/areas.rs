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

/// Publishes the POP with the smallest id (with a reason), so `pop_versions` holds a row.
pub async fn with_a_published_version(db: &Db) {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use mapagov::domain::transition::ExpectedHash;
    use mapagov::domain::{workflow, Status};
    let uuid: mapagov::db::types::DbUuid = {
        let mut pooled = db.get().await.unwrap();
        let mut conn = pooled.conn();
        mapagov::with_backend!(&mut conn, |c| schema::pops::table
            .order(schema::pops::id)
            .select(schema::pops::uuid)
            .first(c)
            .await)
        .unwrap()
    };
    let staff = Actor::system();
    for (to, reason) in [
        (Status::InReview, None),
        (Status::Published, Some("aprovado")),
    ] {
        workflow::change_status(db, &staff, uuid.0, to, reason, ExpectedHash::default())
            .await
            .unwrap();
    }
}

/// Through the API as `staff`: DIGEP (CAP prefix 05), its sub-area DIGEP-RO (no prefix of its
/// own) and COATE (07).
pub async fn digep_and_coate(staff: &super::Client) {
    for input in [
        serde_json::json!({"codigo": "DIGEP", "nome": "Gestão de Pessoas", "slug": "digep",
                           "prefixo": "05"}),
        serde_json::json!({"codigo": "DIGEP-RO", "nome": "Regional RO", "slug": "digep-ro",
                           "parentCodigo": "DIGEP"}),
        serde_json::json!({"codigo": "COATE", "nome": "Coordenação", "slug": "coate",
                           "prefixo": "07"}),
    ] {
        staff
            .data(
                "mutation($input: CatalogueAreaInput!) { createArea(input: $input) { codigo } }",
                serde_json::json!({ "input": input }),
            )
            .await;
    }
}
