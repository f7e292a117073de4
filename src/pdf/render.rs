//! Rendering: a typst world of three files (the template, `pop.json`, `qr.svg`) over the fonts
//! of `typst-assets`, compiled and written as PDF.
//!
//! Deterministic: the world has no clock (`today` is `None`), the document has no creation date
//! (`set document(date: none)`), and the PDF identifier comes from a fixed string, so equal inputs
//! give byte-identical files. Rendering is CPU work: callers run it on a blocking thread and
//! bound how many run at once (`crate::http::pdf`). typst memoizes layout across renders; entries
//! unused for [`CACHE_RENDERS`] renders are evicted, so memory stays bounded.

use super::input::PdfInput;
use crate::error::AppError;
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use sha2::{Digest, Sha256};
use typst::diag::{FileError, FileResult, SourceDiagnostic};
use typst::foundations::{Bytes, Datetime, Smart};
use typst::layout::PagedDocument;
use typst::syntax::{FileId, Source, VirtualPath};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, World};

/// The template (typst markup), compiled into the binary.
const TEMPLATE: &str = include_str!("../../assets/pdf/pop.typ");
/// What changes the bytes besides the input: the template and the typst release.
const RENDERER_VERSION: &str = "typst 0.13.1";
/// The PDF identifier's seed: fixed, so it never varies between renders.
const PDF_IDENT: &str = "mapagov-pop";
/// Renders after which an unused typst cache entry is dropped.
const CACHE_RENDERS: usize = 8;

/// The fonts and the standard library, loaded once and shared by every render.
pub struct Renderer {
    stdlib: LazyHash<Library>,
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("fonts", &self.fonts.len())
            .finish()
    }
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

impl Renderer {
    /// Loads the embedded fonts (Libertinus Serif, New Computer Modern, DejaVu Sans Mono).
    pub fn new() -> Renderer {
        let fonts: Vec<Font> = typst_assets::fonts()
            .flat_map(|data| Font::iter(Bytes::new(data)))
            .collect();
        Renderer {
            stdlib: LazyHash::new(Library::default()),
            book: LazyHash::new(FontBook::from_fonts(&fonts)),
            fonts,
        }
    }

    /// The entity tag of `input`'s document: a digest of everything the bytes depend on, known
    /// without rendering.
    pub fn etag(input: &PdfInput) -> String {
        let mut digest = Sha256::new();
        digest.update(RENDERER_VERSION.as_bytes());
        digest.update([0]);
        digest.update(TEMPLATE.as_bytes());
        digest.update([0]);
        digest.update(input.template_data().to_string().as_bytes());
        format!("\"{}\"", hex::encode(&digest.finalize()[..16]))
    }

    /// Renders `input` as PDF bytes.
    pub fn render(&self, input: &PdfInput) -> Result<Vec<u8>, AppError> {
        let data = serde_json::to_vec(&input.template_data()).map_err(AppError::internal)?;
        let world = PopWorld {
            renderer: self,
            main: Source::new(main_id(), TEMPLATE.to_owned()),
            data: Bytes::new(data),
            qr: Bytes::new(qr_svg(&input.catalogue_url)?.into_bytes()),
        };
        let compiled = typst::compile::<PagedDocument>(&world);
        let document = compiled.output.map_err(|errors| diagnostics(&errors))?;
        let options = typst_pdf::PdfOptions {
            ident: Smart::Custom(PDF_IDENT),
            timestamp: None,
            ..Default::default()
        };
        let bytes = typst_pdf::pdf(&document, &options).map_err(|errors| diagnostics(&errors))?;
        typst::comemo::evict(CACHE_RENDERS);
        Ok(bytes)
    }
}

/// A template error is a bug of ours, never of the POP: its data is only ever read as text.
fn diagnostics(errors: &[SourceDiagnostic]) -> AppError {
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    AppError::internal(format!("PDF template failed: {}", messages.join("; ")))
}

/// The QR code of `url`, as SVG (medium error correction survives a worn printout).
fn qr_svg(url: &str) -> Result<String, AppError> {
    let code = QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M)
        .map_err(|e| AppError::internal(format!("QR code of the catalogue address: {e}")))?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

fn main_id() -> FileId {
    FileId::new(None, VirtualPath::new("pop.typ"))
}

/// One render's files over the shared fonts and library.
struct PopWorld<'r> {
    renderer: &'r Renderer,
    main: Source,
    data: Bytes,
    qr: Bytes,
}

impl World for PopWorld<'_> {
    fn library(&self) -> &LazyHash<Library> {
        &self.renderer.stdlib
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &self.renderer.book
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            Ok(self.main.clone())
        } else {
            Err(FileError::NotSource)
        }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        let path = id.vpath().as_rootless_path();
        if path == std::path::Path::new("pop.json") {
            Ok(self.data.clone())
        } else if path == std::path::Path::new("qr.svg") {
            Ok(self.qr.clone())
        } else {
            Err(FileError::NotFound(path.to_owned()))
        }
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.renderer.fonts.get(index).cloned()
    }

    fn today(&self, _offset: Option<i64>) -> Option<Datetime> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::models::PopContent;
    use crate::domain::Status;
    use serde_json::json;

    fn input(status: Status) -> PdfInput {
        PdfInput {
            content: PopContent {
                nome_processo: Some("Conceder pensão".into()),
                etapas: json!([{"numero": 1, "descricao": "Receber o requerimento"}]).into(),
                ..PopContent::default()
            },
            code: Some("03.02.01.01.001".into()),
            area_name: Some("Coordenação-Geral de Benefícios".into()),
            version: 2,
            status,
            approved_on: None,
            approver: None,
            catalogue_url: "https://pops.example.gov.br/catalogo/pops/x".into(),
        }
    }

    #[test]
    fn equal_inputs_render_equal_bytes_and_etags() {
        let renderer = Renderer::new();
        let first = renderer.render(&input(Status::Published)).unwrap();
        let second = renderer.render(&input(Status::Published)).unwrap();
        assert!(first.starts_with(b"%PDF-"));
        assert!(first == second, "byte-identical");
        assert_eq!(
            Renderer::etag(&input(Status::Published)),
            Renderer::etag(&input(Status::Published))
        );
        assert_ne!(
            Renderer::etag(&input(Status::Published)),
            Renderer::etag(&input(Status::Draft))
        );
    }
}
