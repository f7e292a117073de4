//! Table definitions, written once for both backends.
//!
//! The two databases store the same columns with different SQL types (JSONB, TIMESTAMPTZ and UUID on
//! PostgreSQL; JSON text, RFC 3339 text and UUID text on SQLite). [`define_tables!`] takes the three
//! backend-specific types as parameters and expands to the same `table!` definitions in [`pg`] and
//! [`sqlite`], so a query written once type-checks against whichever backend runs it (see
//! [`crate::with_backend!`]). The column lists must match `migrations/*/up.sql`; the migration test
//! in `tests/migrations.rs` loads every table through these definitions on both backends.

macro_rules! define_tables {
    ($Json:ident, $Timestamp:ident, $UuidType:ident) => {
        diesel::table! {
            use diesel::sql_types::*;

            /// People who can sign in and own POPs.
            users (id) {
                id -> BigInt,
                legacy_id -> Nullable<BigInt>,
                username -> Text,
                email -> Text,
                password_hash -> Text,
                is_staff -> Bool,
                is_superuser -> Bool,
                is_active -> Bool,
                area_codigo -> Nullable<Text>,
                created_at -> $Timestamp,
                last_login_at -> Nullable<$Timestamp>,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;

            /// One row per POP: its current content and control fields.
            pops (id) {
                id -> BigInt,
                uuid -> $UuidType,
                legacy_id -> Nullable<BigInt>,
                session_id -> Nullable<Text>,
                created_by_id -> Nullable<BigInt>,
                nome_usuario -> Text,
                area_codigo -> Nullable<Text>,
                area_nome -> Nullable<Text>,
                macroprocesso -> Nullable<Text>,
                codigo_processo -> Nullable<Text>,
                nome_processo -> Nullable<Text>,
                processo_especifico -> Nullable<Text>,
                entrega_esperada -> Nullable<Text>,
                dispositivos_normativos -> Nullable<Text>,
                sistemas_utilizados -> $Json,
                operadores -> Nullable<Text>,
                pontos_atencao -> Nullable<Text>,
                etapas -> $Json,
                documentos_utilizados -> $Json,
                fluxos_entrada -> $Json,
                fluxos_saida -> $Json,
                versao -> Integer,
                mes_ano -> Nullable<Text>,
                data_aprovacao -> Nullable<Date>,
                status -> Text,
                is_completo -> Bool,
                integrity_hash -> Text,
                autosave_sequence -> Integer,
                raw_payload -> Nullable<$Json>,
                created_at -> $Timestamp,
                updated_at -> $Timestamp,
                last_autosave_at -> Nullable<$Timestamp>,
                last_activity_at -> $Timestamp,
                deleted_at -> Nullable<$Timestamp>,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;

            /// Immutable copies of a POP's document.
            pop_snapshots (id) {
                id -> BigInt,
                legacy_id -> Nullable<BigInt>,
                pop_id -> BigInt,
                sequence -> Integer,
                kind -> Text,
                versao -> Integer,
                autosave_sequence -> Integer,
                status -> Text,
                integrity_hash -> Text,
                payload -> $Json,
                milestone -> Bool,
                milestone_label -> Nullable<Text>,
                label -> Nullable<Text>,
                created_by_id -> Nullable<BigInt>,
                created_at -> $Timestamp,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;

            /// One row per changed field per write.
            pop_change_log (id) {
                id -> BigInt,
                legacy_id -> Nullable<BigInt>,
                pop_id -> BigInt,
                user_id -> Nullable<BigInt>,
                action -> Text,
                field_name -> Text,
                old_value -> Nullable<$Json>,
                new_value -> Nullable<$Json>,
                autosave_sequence -> Integer,
                snapshot_id -> Nullable<BigInt>,
                created_at -> $Timestamp,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;

            /// Results of autosaves keyed by the client's idempotency key.
            idempotency_keys (key) {
                key -> Text,
                request_hash -> Text,
                response -> $Json,
                created_at -> $Timestamp,
            }
        }

        diesel::table! {
            use diesel::sql_types::*;

            /// Bearer tokens, stored as SHA-256 hashes.
            api_tokens (id) {
                id -> BigInt,
                user_id -> BigInt,
                token_hash -> Text,
                label -> Text,
                created_at -> $Timestamp,
                last_used_at -> Nullable<$Timestamp>,
                revoked_at -> Nullable<$Timestamp>,
            }
        }

        diesel::joinable!(pops -> users (created_by_id));
        diesel::joinable!(api_tokens -> users (user_id));
        diesel::joinable!(pop_snapshots -> pops (pop_id));
        diesel::joinable!(pop_change_log -> pops (pop_id));
        diesel::allow_tables_to_appear_in_same_query!(
            users,
            pops,
            pop_snapshots,
            pop_change_log,
            idempotency_keys,
            api_tokens
        );
    };
}

/// Tables as PostgreSQL stores them.
#[expect(missing_docs, reason = "column types generated by diesel::table!")]
pub mod pg {
    define_tables!(Jsonb, Timestamptz, Uuid);
}

/// Tables as SQLite stores them.
#[expect(missing_docs, reason = "column types generated by diesel::table!")]
pub mod sqlite {
    define_tables!(Json, TimestamptzSqlite, Text);
}
