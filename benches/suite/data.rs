//! Benchmark data: POP documents shaped like the legacy fixture's (classification, normative
//! texts, systems, operators, numbered steps with details, documents, flows), grown to a target
//! size; and bulk SQL that fills a database with many POPs, snapshots and change-log rows.

use serde_json::{json, Value};

const SISTEMAS: [&str; 12] = [
    "SIAPE",
    "SIGEPE",
    "SEI",
    "SOUGOV",
    "E-Pessoal TCU",
    "SIAPNET",
    "SIGAC",
    "DOU",
    "CNIS",
    "PETRVS",
    "Portal da Transparência",
    "SISTEMA COMPREV",
];
const OPERADORES: [&str; 5] = [
    "Técnico Especializado",
    "Coordenador de Auxílios",
    "Coordenador",
    "Apoio-gabinete",
    "Equipe técnica",
];
const VERBOS: [&str; 6] = [
    "Analisar",
    "Conferir",
    "Registrar",
    "Encaminhar",
    "Instruir",
    "Publicar",
];
const OBJETOS: [&str; 6] = [
    "o requerimento do servidor",
    "a documentação comprobatória no SEI",
    "os dados funcionais no SIAPE",
    "a nota técnica de conclusão",
    "o despacho à coordenação-geral",
    "a portaria no Diário Oficial da União",
];

/// One step of a POP; `revision` changes its description so that autosaves differ.
fn etapa(numero: usize, revision: u64) -> Value {
    let verbo = VERBOS[numero % VERBOS.len()];
    let objeto = OBJETOS[(numero * 7) % OBJETOS.len()];
    json!({
        "numero": numero,
        "descricao": format!("{verbo} {objeto} (revisão {revision})"),
        "detalhes": (1..=3)
            .map(|d| format!("{numero}.{d} Verificar {} conforme a Lei nº 8.112, de 11 de dezembro de 1990", OBJETOS[(numero + d) % OBJETOS.len()]))
            .collect::<Vec<_>>(),
        "operador": OPERADORES[numero % OPERADORES.len()],
    })
}

/// Steps totalling about `bytes` of JSON; every `change_every`-th one carries `revision`
/// (the others revision 0), so two revisions differ in a known fraction of the steps.
pub fn etapas(bytes: usize, revision: u64, change_every: usize) -> Value {
    let mut steps = Vec::new();
    let mut size = 2;
    let mut numero = 1;
    while size < bytes {
        let rev = if numero % change_every.max(1) == 0 {
            revision
        } else {
            0
        };
        let step = etapa(numero, rev);
        size += step.to_string().len() + 1;
        steps.push(step);
        numero += 1;
    }
    Value::Array(steps)
}

/// A whole `PopContentInput` of about `bytes` (most of it in `etapas`).
pub fn content(pop: usize, bytes: usize, revision: u64, change_every: usize) -> Value {
    let fixed = json!({
        "nomeUsuario": format!("Servidora {pop}"),
        "area": { "codigo": "CGBEN", "nome": "Coordenação de Benefícios" },
        "macroprocesso": "Gestão de Benefícios",
        "codigoProcesso": format!("1.3.1.{}.2", pop % 50),
        "nomeProcesso": format!("Conceder pensão civil (processo {pop})"),
        "processoEspecifico": "Pensão por morte de servidor",
        "entregaEsperada": "Pensão concedida e registrada no SIAPE.",
        "dispositivosNormativos": "Lei nº 8.112, de 11 de dezembro de 1990 | Lei nº 9.784, de 29 de janeiro de 1999 | Instrução Normativa SGP/SEDGG/ME nº 97, de 26 de dezembro de 2022",
        "sistemas": SISTEMAS,
        "operadores": OPERADORES.join(", "),
        "pontosAtencao": "Conferir a certidão de óbito e a qualidade de dependente antes do cadastro.",
        "documentosUtilizados": [
            { "tipo_documento": "Formulário", "tipo_uso": "Gerado", "obrigatorio": true, "descricao": "Requerimento de pensão", "sistema": "SEI" },
            { "tipo_documento": "Despacho", "tipo_uso": "Gerado", "obrigatorio": true, "descricao": "Despacho de concessão", "sistema": null },
            { "tipo_documento": "Nota Técnica", "tipo_uso": "Utilizado", "obrigatorio": false, "descricao": "Nota de conclusão", "sistema": null }
        ],
        "fluxosEntrada": ["Protocolo SEI", "Unidade de gestão de pessoas"],
        "fluxosSaida": ["Coordenação-Geral de Pagamentos"],
    });
    let rest = bytes.saturating_sub(fixed.to_string().len());
    let mut doc = fixed;
    doc["etapas"] = etapas(rest, revision, change_every);
    doc
}

/// SQL filling a migrated PostgreSQL database with `pops` POPs of `per_pop` snapshots and
/// `per_pop` change-log rows each, owned by the user `owner` (an SQL expression). Snapshot `s` of a POP is dated
/// `(per_pop - s) * 35` hours ago (500 snapshots span about two years); every 50th is a milestone.
pub fn pg_bulk(pops: u64, per_pop: u64, owner: &str) -> String {
    format!(
        "INSERT INTO pops (uuid, session_id, created_by_id, nome_usuario, nome_processo, etapas,
                           integrity_hash, autosave_sequence, created_at, updated_at, last_activity_at)
         SELECT gen_random_uuid(), 'bulk-' || g, {owner}, 'Servidora ' || g, 'Processo ' || g,
                '[]', md5(g::text), {per_pop}, now() - interval '2 years', now(), now()
         FROM generate_series(1, {pops}) g;
         INSERT INTO pop_snapshots (pop_id, sequence, kind, versao, autosave_sequence, status,
                                    integrity_hash, payload, milestone, created_by_id, created_at)
         SELECT p.id, s, 'autosave', 1, s, 'draft', md5(p.id || ':' || s),
                jsonb_build_object('uuid', p.uuid, 'nome_processo', p.nome_processo,
                  'etapas', jsonb_build_array(jsonb_build_object('numero', 1,
                    'descricao', 'Analisar o requerimento (revisão ' || s || ')'))),
                s % 50 = 0, {owner}, now() - ({per_pop} - s) * interval '35 hours'
         FROM (SELECT id, uuid, nome_processo FROM pops WHERE session_id LIKE 'bulk-%') p,
              generate_series(1, {per_pop}) s;
         INSERT INTO pop_change_log (pop_id, user_id, action, field_name, old_value, new_value,
                                     autosave_sequence, created_at)
         SELECT p.id, {owner}, 'autosave', 'etapas', to_jsonb('revisão ' || (s - 1)),
                to_jsonb('revisão ' || s), s, now() - ({per_pop} - s) * interval '35 hours'
         FROM (SELECT id FROM pops WHERE session_id LIKE 'bulk-%') p, generate_series(1, {per_pop}) s;
         ANALYZE;"
    )
}

/// Statements filling a migrated SQLite database with one user, `pops` POPs and `per_pop` small
/// snapshots each (the source of `mapagov copy`). Values are written the way the server writes
/// them: UUID text, JSON text, `YYYY-MM-DD HH:MM:SS.fff+00:00` timestamps.
pub fn sqlite_bulk(pops: u64, per_pop: u64) -> Vec<String> {
    let now = "strftime('%Y-%m-%d %H:%M:%f', 'now') || '+00:00'";
    vec![
        format!(
            "INSERT INTO users (id, username, created_at) VALUES (1, 'copy-bench', {now})"
        ),
        format!(
            "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {pops})
             INSERT INTO pops (id, uuid, session_id, created_by_id, nome_usuario, nome_processo,
                               integrity_hash, autosave_sequence, created_at, updated_at,
                               last_activity_at)
             SELECT i, printf('%08x-0000-4000-8000-%012x', i, i), 'bulk-' || i, 1,
                    'Servidora ' || i, 'Processo ' || i, lower(hex(randomblob(32))), {per_pop},
                    {now}, {now}, {now}
             FROM g"
        ),
        format!(
            "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {per_pop})
             INSERT INTO pop_snapshots (pop_id, sequence, kind, versao, autosave_sequence, status,
                                        integrity_hash, payload, milestone, created_by_id, created_at)
             SELECT p.id, s.n, 'autosave', 1, s.n, 'draft', lower(hex(randomblob(32))),
                    json_object('uuid', p.uuid, 'nome_processo', p.nome_processo,
                      'etapas', json_array(json_object('numero', 1,
                        'descricao', 'Analisar o requerimento (revisão ' || s.n || ')'))),
                    s.n % 50 = 0, 1,
                    strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || (({per_pop} - s.n) * 35) || ' hours') || '+00:00'
             FROM pops p, s
             ORDER BY p.id, s.n"
        ),
    ]
}
