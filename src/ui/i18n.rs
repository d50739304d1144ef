//! The server's own words on the chat's error pages, in the languages of Channex's `lng`.

/// A language of the error pages; others fall back to English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Es,
    De,
    Pt,
    It,
    Fr,
}

impl Lang {
    /// The language of an `lng` value (`es`, `pt-BR`, `de_DE`, ...).
    pub fn from_lng(lng: Option<&str>) -> Self {
        match primary_subtag(lng.unwrap_or_default()).as_deref() {
            Some("es") => Lang::Es,
            Some("de") => Lang::De,
            Some("pt") => Lang::Pt,
            Some("it") => Lang::It,
            Some("fr") => Lang::Fr,
            _ => Lang::En,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
            Lang::De => "de",
            Lang::Pt => "pt",
            Lang::It => "it",
            Lang::Fr => "fr",
        }
    }
}

/// The primary language subtag of a language tag, lowercased, when it looks like one (two or
/// three ASCII letters); what the chat page is told.
pub fn primary_subtag(lng: &str) -> Option<String> {
    let primary = lng.trim().split(['-', '_']).next().unwrap_or_default();
    ((2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| primary.to_ascii_lowercase())
}

/// What went wrong, as the error page tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Missing or malformed parameters.
    InvalidLink,
    LinkUsed,
    LinkExpired,
    /// Unknown, for another property, or minted by a revoked key.
    LinkUnknown,
    ThreadNotFound,
    NoMessagesApp,
    Unavailable,
    Internal,
    NotFound,
}

/// The title and the sentence of a problem's page.
pub fn text(problem: Problem, lang: Lang) -> (&'static str, &'static str) {
    use Lang::*;
    use Problem::*;
    match (problem, lang) {
        (InvalidLink, En) => (
            "This link is not valid",
            "The chat link is incomplete or malformed. Open the chat again from your property-management system.",
        ),
        (InvalidLink, Es) => (
            "Este enlace no es válido",
            "El enlace del chat está incompleto o mal formado. Vuelva a abrir el chat desde su sistema de gestión (PMS).",
        ),
        (InvalidLink, De) => (
            "Dieser Link ist ungültig",
            "Der Chat-Link ist unvollständig oder fehlerhaft. Öffnen Sie den Chat erneut aus Ihrem PMS.",
        ),
        (InvalidLink, Pt) => (
            "Este link não é válido",
            "O link do chat está incompleto ou mal formado. Abra o chat novamente a partir do seu PMS.",
        ),
        (InvalidLink, It) => (
            "Questo link non è valido",
            "Il link della chat è incompleto o non corretto. Riapri la chat dal tuo PMS.",
        ),
        (InvalidLink, Fr) => (
            "Ce lien n'est pas valide",
            "Le lien du chat est incomplet ou mal formé. Rouvrez le chat depuis votre PMS.",
        ),
        (LinkUsed, En) => (
            "This link has already been used",
            "Each chat link opens the chat once. Open the chat again from your property-management system to get a new one.",
        ),
        (LinkUsed, Es) => (
            "Este enlace ya se ha utilizado",
            "Cada enlace abre el chat una sola vez. Vuelva a abrir el chat desde su PMS para obtener uno nuevo.",
        ),
        (LinkUsed, De) => (
            "Dieser Link wurde bereits verwendet",
            "Jeder Chat-Link öffnet den Chat nur einmal. Öffnen Sie den Chat erneut aus Ihrem PMS, um einen neuen zu erhalten.",
        ),
        (LinkUsed, Pt) => (
            "Este link já foi utilizado",
            "Cada link abre o chat uma única vez. Abra o chat novamente a partir do seu PMS para obter um novo.",
        ),
        (LinkUsed, It) => (
            "Questo link è già stato utilizzato",
            "Ogni link apre la chat una sola volta. Riapri la chat dal tuo PMS per ottenerne uno nuovo.",
        ),
        (LinkUsed, Fr) => (
            "Ce lien a déjà été utilisé",
            "Chaque lien n'ouvre le chat qu'une seule fois. Rouvrez le chat depuis votre PMS pour en obtenir un nouveau.",
        ),
        (LinkExpired, En) => (
            "This link has expired",
            "Chat links are valid for 15 minutes. Open the chat again from your property-management system.",
        ),
        (LinkExpired, Es) => (
            "Este enlace ha caducado",
            "Los enlaces del chat son válidos durante 15 minutos. Vuelva a abrir el chat desde su PMS.",
        ),
        (LinkExpired, De) => (
            "Dieser Link ist abgelaufen",
            "Chat-Links sind 15 Minuten gültig. Öffnen Sie den Chat erneut aus Ihrem PMS.",
        ),
        (LinkExpired, Pt) => (
            "Este link expirou",
            "Os links do chat são válidos durante 15 minutos. Abra o chat novamente a partir do seu PMS.",
        ),
        (LinkExpired, It) => (
            "Questo link è scaduto",
            "I link della chat sono validi per 15 minuti. Riapri la chat dal tuo PMS.",
        ),
        (LinkExpired, Fr) => (
            "Ce lien a expiré",
            "Les liens du chat sont valables 15 minutes. Rouvrez le chat depuis votre PMS.",
        ),
        (LinkUnknown, En) => (
            "This link is not valid",
            "The chat link is unknown or does not belong to this property. Open the chat again from your property-management system.",
        ),
        (LinkUnknown, Es) => (
            "Este enlace no es válido",
            "El enlace del chat es desconocido o no corresponde a este alojamiento. Vuelva a abrir el chat desde su PMS.",
        ),
        (LinkUnknown, De) => (
            "Dieser Link ist ungültig",
            "Der Chat-Link ist unbekannt oder gehört nicht zu dieser Unterkunft. Öffnen Sie den Chat erneut aus Ihrem PMS.",
        ),
        (LinkUnknown, Pt) => (
            "Este link não é válido",
            "O link do chat é desconhecido ou não pertence a esta propriedade. Abra o chat novamente a partir do seu PMS.",
        ),
        (LinkUnknown, It) => (
            "Questo link non è valido",
            "Il link della chat è sconosciuto o non appartiene a questa struttura. Riapri la chat dal tuo PMS.",
        ),
        (LinkUnknown, Fr) => (
            "Ce lien n'est pas valide",
            "Le lien du chat est inconnu ou ne correspond pas à cet établissement. Rouvrez le chat depuis votre PMS.",
        ),
        (ThreadNotFound, En) => (
            "Conversation not found",
            "The conversation this link points to does not exist for this property.",
        ),
        (ThreadNotFound, Es) => (
            "Conversación no encontrada",
            "La conversación a la que apunta este enlace no existe en este alojamiento.",
        ),
        (ThreadNotFound, De) => (
            "Unterhaltung nicht gefunden",
            "Die Unterhaltung, auf die dieser Link verweist, gibt es in dieser Unterkunft nicht.",
        ),
        (ThreadNotFound, Pt) => (
            "Conversa não encontrada",
            "A conversa indicada por este link não existe nesta propriedade.",
        ),
        (ThreadNotFound, It) => (
            "Conversazione non trovata",
            "La conversazione indicata da questo link non esiste per questa struttura.",
        ),
        (ThreadNotFound, Fr) => (
            "Conversation introuvable",
            "La conversation visée par ce lien n'existe pas pour cet établissement.",
        ),
        (NoMessagesApp, En) => (
            "Messages are not enabled",
            "The Messages app is not installed on this property.",
        ),
        (NoMessagesApp, Es) => (
            "Los mensajes no están activados",
            "La aplicación Messages no está instalada en este alojamiento.",
        ),
        (NoMessagesApp, De) => (
            "Nachrichten sind nicht aktiviert",
            "Die Messages-App ist für diese Unterkunft nicht installiert.",
        ),
        (NoMessagesApp, Pt) => (
            "As mensagens não estão ativadas",
            "A aplicação Messages não está instalada nesta propriedade.",
        ),
        (NoMessagesApp, It) => (
            "I messaggi non sono attivi",
            "L'app Messages non è installata su questa struttura.",
        ),
        (NoMessagesApp, Fr) => (
            "La messagerie n'est pas activée",
            "L'application Messages n'est pas installée sur cet établissement.",
        ),
        (Unavailable, En) => (
            "Temporarily unavailable",
            "The server cannot reach its database right now. Try again in a moment.",
        ),
        (Unavailable, Es) => (
            "No disponible temporalmente",
            "El servidor no puede acceder a su base de datos en este momento. Inténtelo de nuevo en unos instantes.",
        ),
        (Unavailable, De) => (
            "Vorübergehend nicht verfügbar",
            "Der Server erreicht seine Datenbank gerade nicht. Versuchen Sie es gleich noch einmal.",
        ),
        (Unavailable, Pt) => (
            "Temporariamente indisponível",
            "O servidor não consegue aceder à base de dados neste momento. Tente novamente dentro de instantes.",
        ),
        (Unavailable, It) => (
            "Temporaneamente non disponibile",
            "Il server non riesce a raggiungere il database in questo momento. Riprova tra poco.",
        ),
        (Unavailable, Fr) => (
            "Temporairement indisponible",
            "Le serveur ne parvient pas à joindre sa base de données pour le moment. Réessayez dans un instant.",
        ),
        (Internal, En) => (
            "Something went wrong",
            "The chat could not be opened. Try again later.",
        ),
        (Internal, Es) => (
            "Algo ha fallado",
            "No se ha podido abrir el chat. Inténtelo de nuevo más tarde.",
        ),
        (Internal, De) => (
            "Etwas ist schiefgelaufen",
            "Der Chat konnte nicht geöffnet werden. Versuchen Sie es später noch einmal.",
        ),
        (Internal, Pt) => (
            "Ocorreu um erro",
            "Não foi possível abrir o chat. Tente novamente mais tarde.",
        ),
        (Internal, It) => (
            "Si è verificato un errore",
            "Non è stato possibile aprire la chat. Riprova più tardi.",
        ),
        (Internal, Fr) => (
            "Une erreur est survenue",
            "Le chat n'a pas pu être ouvert. Réessayez plus tard.",
        ),
        (NotFound, En) => ("Page not found", "There is no page here."),
        (NotFound, Es) => ("Página no encontrada", "Aquí no hay ninguna página."),
        (NotFound, De) => ("Seite nicht gefunden", "Hier gibt es keine Seite."),
        (NotFound, Pt) => ("Página não encontrada", "Não existe nenhuma página aqui."),
        (NotFound, It) => ("Pagina non trovata", "Qui non c'è nessuna pagina."),
        (NotFound, Fr) => ("Page introuvable", "Il n'y a aucune page ici."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lng_values_pick_a_language_or_english() {
        for (lng, lang) in [
            (Some("es"), Lang::Es),
            (Some("pt-BR"), Lang::Pt),
            (Some("de_DE"), Lang::De),
            (Some("IT"), Lang::It),
            (Some("fr"), Lang::Fr),
            (Some("ja"), Lang::En),
            (Some("<script>"), Lang::En),
            (Some(""), Lang::En),
            (None, Lang::En),
        ] {
            assert_eq!(Lang::from_lng(lng), lang, "{lng:?}");
        }
    }

    #[test]
    fn only_language_tags_reach_the_page() {
        assert_eq!(primary_subtag("pt-BR").as_deref(), Some("pt"));
        assert_eq!(primary_subtag("JA").as_deref(), Some("ja"));
        assert_eq!(primary_subtag("\"><b>"), None);
        assert_eq!(primary_subtag("english"), None);
    }

    #[test]
    fn every_language_has_its_own_words() {
        let problems = [
            Problem::InvalidLink,
            Problem::LinkUsed,
            Problem::LinkExpired,
            Problem::LinkUnknown,
            Problem::ThreadNotFound,
            Problem::NoMessagesApp,
            Problem::Unavailable,
            Problem::Internal,
            Problem::NotFound,
        ];
        for problem in problems {
            let english = text(problem, Lang::En);
            for lang in [Lang::Es, Lang::De, Lang::Pt, Lang::It, Lang::Fr] {
                assert_ne!(text(problem, lang), english, "{problem:?} {lang:?}");
            }
        }
    }
}
