//! The POP as its official document: a PDF laid out by typst (used as a library) from the
//! template `assets/pdf/pop.typ`, with the fonts that ship inside `typst-assets` (nothing is read
//! from the system or downloaded) and a QR code to the POP's catalogue address.
//!
//! - [`input`]: what one rendering depends on ([`PdfInput`]) and the data the template reads.
//! - [`render`]: the typst world and the PDF writer ([`Renderer`]): the same input always gives
//!   the same bytes (fixed document identifier, no creation date), so a response carries an
//!   [`Renderer::etag`] computed before rendering.
//!
//! Served by `GET /pops/{id}/pdf` (`crate::http::pdf`); the POP's `pdfUrl` field points there.

pub mod input;
pub mod render;

pub use input::PdfInput;
pub use render::Renderer;

/// Path of a POP's PDF on this server.
pub fn pdf_path(public_id: impl std::fmt::Display) -> String {
    format!("/pops/{public_id}/pdf")
}

/// A POP's address in the public catalogue (`PUBLIC_BASE_URL` + `/catalogo/pops/{id}`): the QR
/// code's and the notices' link.
pub fn catalogue_url(public_base_url: &str, public_id: impl std::fmt::Display) -> String {
    format!(
        "{}/catalogo/pops/{public_id}",
        public_base_url.trim_end_matches('/')
    )
}
