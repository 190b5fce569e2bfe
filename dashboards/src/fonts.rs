//! The bundled Thai font (Laksaman, `data/fonts/`) and what is drawn with it outside a browser:
//! charts as PNG, and the font database the PDF report shapes its text and charts with.

use std::sync::{Arc, OnceLock};

use resvg::usvg;

pub const REGULAR: &[u8] = include_bytes!("../../data/fonts/Laksaman.ttf");
pub const BOLD: &[u8] = include_bytes!("../../data/fonts/Laksaman-Bold.ttf");

/// A font database holding only the bundled font, so output never depends on the machine's fonts.
pub fn database() -> Arc<usvg::fontdb::Database> {
    static DB: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        db.load_font_data(REGULAR.to_vec());
        db.load_font_data(BOLD.to_vec());
        db.set_sans_serif_family("Laksaman");
        db.set_serif_family("Laksaman");
        Arc::new(db)
    })
    .clone()
}

/// Parses one of our SVG charts with the bundled font.
pub fn svg_tree(svg: &str) -> Result<usvg::Tree, String> {
    let options = usvg::Options { fontdb: database(), font_family: "Laksaman".into(), ..usvg::Options::default() };
    usvg::Tree::from_str(svg, &options).map_err(|e| e.to_string())
}

/// Renders an SVG chart to PNG at `scale` (2 gives print-quality pixels), Thai shaped by the font's own rules.
pub fn png(svg: &str, scale: f32) -> Result<Vec<u8>, String> {
    let tree = svg_tree(svg)?;
    let size = tree.size().to_int_size().scale_by(scale).ok_or("chart too large to render")?;
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).ok_or("chart has no area")?;
    pixmap.fill(resvg::tiny_skia::Color::WHITE);
    resvg::render(&tree, resvg::tiny_skia::Transform::from_scale(scale, scale), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| e.to_string())
}

/// Width of `text` set in the bundled font at `size` points, after shaping.
pub fn text_width(text: &str, size: f32, bold: bool) -> f32 {
    static FACES: OnceLock<Option<(rustybuzz::Face<'static>, rustybuzz::Face<'static>)>> = OnceLock::new();
    let Some((regular, bold_face)) = FACES.get_or_init(|| Some((rustybuzz::Face::from_slice(REGULAR, 0)?, rustybuzz::Face::from_slice(BOLD, 0)?))) else {
        return text.chars().count() as f32 * size * 0.5;
    };
    let face = if bold { bold_face } else { regular };
    let mut buffer = rustybuzz::UnicodeBuffer::new();
    buffer.push_str(text);
    buffer.guess_segment_properties();
    let shaped = rustybuzz::shape(face, &[], buffer);
    let units: i32 = shaped.glyph_positions().iter().map(|p| p.x_advance).sum();
    units as f32 * size / face.units_per_em() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thai_chart_renders_to_png() {
        let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40"><text x="5" y="28" font-family="Laksaman" font-size="20">นักเรียนทั้งหมด</text></svg>"#;
        let png = png(svg, 1.0).unwrap_or_default();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        // Dark pixels exist: the Thai text was drawn with the bundled font, not left blank.
        assert!(png.len() > 500);
        assert!(text_width("นักเรียน", 20.0, false) > 40.0);
        // Marks above and below take no width: shaping, not character counting.
        assert!(text_width("นักเรียน", 20.0, false) < text_width("นกเรยน", 20.0, false) + 1.0);
    }
}
