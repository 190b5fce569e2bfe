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
    usvg::Tree::from_str(&split_sara_am(svg), &options).map_err(|e| e.to_string())
}

/// SARA AM (ำ) written as NIKHAHIT + SARA AA, the NIKHAHIT moved before any tone mark, as HarfBuzz's
/// Thai shaper does. usvg's text layout keeps one glyph per character and so drops the SARA AA the
/// shaper adds ("จำแนก" drawn as "จํแนก"); given both characters it draws both.
fn split_sara_am(text: &str) -> String {
    let mut out: Vec<char> = Vec::with_capacity(text.len());
    for c in text.chars() {
        if c == '\u{0E33}' {
            let mut at = out.len();
            while at > 0 && matches!(out.get(at - 1), Some('\u{0E48}'..='\u{0E4B}')) {
                at -= 1;
            }
            out.insert(at, '\u{0E4D}');
            out.push('\u{0E32}');
        } else {
            out.push(c);
        }
    }
    out.into_iter().collect()
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

/// `text` cut where it changes between Thai and other letters. A shaper takes one script per call and
/// guesses it from the first letter, so "O-NET ม.3 คณิตศาสตร์" shaped whole would get Latin rules and
/// misplace the Thai marks. Spaces, digits and punctuation stay with the run they follow.
pub fn script_runs(text: &str) -> Vec<&str> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut current: Option<bool> = None;
    for (i, c) in text.char_indices() {
        if !c.is_alphabetic() && !('\u{0E00}'..='\u{0E7F}').contains(&c) {
            continue;
        }
        let thai = ('\u{0E00}'..='\u{0E7F}').contains(&c);
        match current {
            Some(t) if t != thai => {
                runs.extend(text.get(start..i));
                start = i;
                current = Some(thai);
            }
            None => current = Some(thai),
            _ => {}
        }
    }
    if start < text.len() {
        runs.extend(text.get(start..));
    }
    runs
}

/// Width of `text` set in the bundled font at `size` points, after shaping each script run.
pub fn text_width(text: &str, size: f32, bold: bool) -> f32 {
    script_runs(text).into_iter().map(|r| run_width(r, size, bold)).sum()
}

fn run_width(text: &str, size: f32, bold: bool) -> f32 {
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

    #[test]
    fn text_is_shaped_per_script() {
        assert_eq!(script_runs("O-NET ม.3 คณิตศาสตร์"), vec!["O-NET ", "ม.3 คณิตศาสตร์"]);
        assert_eq!(script_runs("ปีงบประมาณ 2570"), vec!["ปีงบประมาณ 2570"]);
        assert_eq!(script_runs("อุปกรณ์ DLTV ใช้งานได้"), vec!["อุปกรณ์ ", "DLTV ", "ใช้งานได้"]);
        assert!(script_runs("").is_empty());
    }

    #[test]
    fn sara_am_keeps_its_sara_aa_in_pictures() {
        assert_eq!(split_sara_am("น้ำ ดำ"), "น\u{0E4D}\u{0E49}\u{0E32} ด\u{0E4D}\u{0E32}");
        let draw = |t: &str| png(&format!(r#"<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><text x="5" y="30" font-size="24">{t}</text></svg>"#), 1.0).unwrap_or_default();
        // With its SARA AA the word is more ink than the consonant and NIKHAHIT alone.
        assert_ne!(draw("ดำ"), draw("ด\u{0E4D}"));
        assert_eq!(draw("ดำ"), draw("ด\u{0E4D}\u{0E32}"));
    }
}

