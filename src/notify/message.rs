//! The words of each notice, in Portuguese: subject and plain-text body, with the POP's link.

use super::{Event, Notice};

/// Subject and body of `notice`, linking to `link`.
pub fn compose(notice: &Notice, link: &str) -> (String, String) {
    let name = notice.pop_name.trim();
    let name = if name.is_empty() {
        "POP sem nome"
    } else {
        name
    };
    let (subject, what) = match &notice.event {
        Event::Published { version } => (
            format!("POP publicado: {name}"),
            format!("O POP \"{name}\" foi publicado (versão {version})."),
        ),
        Event::SentBack { reason } => (
            format!("POP devolvido para ajustes: {name}"),
            format!(
                "O POP \"{name}\" foi devolvido para rascunho pela revisão.\n\nMotivo: {}",
                reason.trim()
            ),
        ),
        Event::Archived => (
            format!("POP arquivado: {name}"),
            format!("O POP \"{name}\" foi arquivado e deixou de estar em vigor."),
        ),
    };
    let body = format!(
        "Olá,\n\n{what}\n\nAcesse o POP: {link}\n\n-- \nMapaGov (mensagem automática, não responda)\n"
    );
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_back_notice_gives_the_reason_and_the_link() {
        let notice = Notice {
            pop: uuid::Uuid::nil(),
            pop_name: "Conceder pensão".into(),
            author_id: Some(1),
            event: Event::SentBack {
                reason: " Falta a base legal ".into(),
            },
        };
        let (subject, body) = compose(&notice, "https://pops.example/catalogo/pops/x");
        assert_eq!(subject, "POP devolvido para ajustes: Conceder pensão");
        assert!(body.contains("Motivo: Falta a base legal\n"));
        assert!(body.contains("https://pops.example/catalogo/pops/x"));
    }
}
