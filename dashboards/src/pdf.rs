//! A document (the four-domain report, the yearly report on use) as an A4 PDF, made in-process with krilla: Thai text shaped with the bundled
//! font and embedded (subset) with its Unicode mapping, so it prints right and can be searched and
//! copied; charts are the same SVG as on the web; every page carries its number and the data version.

use std::sync::OnceLock;

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect, Size, Transform};
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::text::{Font, TextDirection};
use krilla::Document;
use krilla_svg::{SurfaceExt, SvgSettings};

use crate::doc::Doc;
use crate::report::{Figure, Kind, ReportError, Table};
use crate::table::{Cells as _, cell_text, figure_text};
use crate::{charts, fonts, msg};

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 48.0;
const TOP: f32 = 50.0;
/// Where content stops: the footer lives below.
const BOTTOM: f32 = PAGE_H - 70.0;
const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN;

const BLUE: (u8, u8, u8) = (0x1f, 0x3f, 0x66);
const GREY: (u8, u8, u8) = (0x5a, 0x6b, 0x7d);
const BLACK: (u8, u8, u8) = (0x1d, 0x27, 0x33);
const RULE: (u8, u8, u8) = (0xd6, 0xde, 0xe8);
const SHADE: (u8, u8, u8) = (0xee, 0xf2, 0xf7);

/// One drawing instruction on a page, laid out before rendering so the page count is known.
enum Op {
    Text { x: f32, y: f32, size: f32, bold: bool, color: (u8, u8, u8), text: String },
    Rect { x: f32, y: f32, w: f32, h: f32, color: (u8, u8, u8) },
    Line { x1: f32, y1: f32, x2: f32, y2: f32, color: (u8, u8, u8) },
    Svg { x: f32, y: f32, w: f32, h: f32, svg: String },
}

struct Layout {
    /// The pages before this one.
    pages: Vec<Vec<Op>>,
    /// The page being drawn.
    page: Vec<Op>,
    y: f32,
}

impl Layout {
    fn new() -> Layout {
        Layout { pages: Vec::new(), page: Vec::new(), y: TOP }
    }

    fn ops(&mut self) -> &mut Vec<Op> {
        &mut self.page
    }

    fn new_page(&mut self) {
        self.pages.push(std::mem::take(&mut self.page));
        self.y = TOP;
    }

    /// Every page, the last one included.
    fn finish(mut self) -> Vec<Vec<Op>> {
        self.pages.push(self.page);
        self.pages
    }

    /// Starts a new page unless `h` more points fit on this one.
    fn need(&mut self, h: f32) {
        if self.y + h > BOTTOM {
            self.new_page();
        }
    }

    fn text(&mut self, x: f32, size: f32, bold: bool, color: (u8, u8, u8), text: &str) {
        let y = self.y + size;
        self.ops().push(Op::Text { x, y, size, bold, color, text: text.to_string() });
    }

    /// A paragraph wrapped to `width`, moving down.
    fn paragraph(&mut self, x: f32, width: f32, size: f32, bold: bool, color: (u8, u8, u8), text: &str) {
        for line in wrap(text, width, size, bold) {
            self.need(size * 1.45);
            self.text(x, size, bold, color, &line);
            self.y += size * 1.45;
        }
    }
}

/// Lines of at most `width` points: breaks at spaces, or between characters (never before a Thai
/// mark) when one word is wider than the line.
fn wrap(text: &str, width: f32, size: f32, bold: bool) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let candidate = if line.is_empty() { word.to_string() } else { format!("{line} {word}") };
        if fonts::text_width(&candidate, size, bold) <= width {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        if fonts::text_width(word, size, bold) <= width {
            line = word.to_string();
            continue;
        }
        for c in word.chars() {
            let next = format!("{line}{c}");
            if fonts::text_width(&next, size, bold) > width && !line.is_empty() && !is_mark(c) {
                lines.push(std::mem::take(&mut line));
                line.push(c);
            } else {
                line = next;
            }
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn is_mark(c: char) -> bool {
    matches!(c, '\u{0E31}' | '\u{0E33}'..='\u{0E3A}' | '\u{0E47}'..='\u{0E4E}')
}

/// `text` cut to fit `width`, with an ellipsis when cut.
fn fit(text: &str, width: f32, size: f32, bold: bool) -> String {
    if fonts::text_width(text, size, bold) <= width {
        return text.to_string();
    }
    let mut out = String::new();
    for c in text.chars() {
        if fonts::text_width(&format!("{out}{c}…"), size, bold) > width && !is_mark(c) {
            break;
        }
        out.push(c);
    }
    format!("{out}…")
}

const TABLE_SIZE: f32 = 12.5;
const ROW_H: f32 = 17.0;

fn table(l: &mut Layout, t: &Table) {
    if t.rows.is_empty() {
        return;
    }
    let size = TABLE_SIZE;
    // Natural widths, then shrunk proportionally to the page.
    let mut widths: Vec<f32> = t
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let cells = t.rows.iter().map(|r| fonts::text_width(&cell_text(r.at(i), c.kind), size, false)).fold(0.0, f32::max);
            let header = c.name.split(' ').map(|w| fonts::text_width(w, size, true)).fold(0.0, f32::max);
            cells.max(header).min(220.0) + 10.0
        })
        .collect();
    let total: f32 = widths.iter().sum();
    if total > CONTENT_W {
        widths.iter_mut().for_each(|w| *w *= CONTENT_W / total);
    }
    let headers: Vec<Vec<String>> = t.columns.iter().zip(&widths).map(|(c, w)| wrap(&c.name, w - 8.0, size, true).into_iter().take(3).collect()).collect();
    let header_lines = headers.iter().map(Vec::len).max().unwrap_or(1) as f32;
    let header_h = header_lines * size * 1.25 + 6.0;

    l.need(size * 1.6 + header_h + ROW_H * 2.0);
    l.paragraph(MARGIN, CONTENT_W, 14.0, true, BLUE, &t.title);
    let draw_header = |l: &mut Layout| {
        let y = l.y;
        l.ops().push(Op::Rect { x: MARGIN, y, w: widths.iter().sum(), h: header_h, color: SHADE });
        let mut x = MARGIN;
        for ((lines, c), w) in headers.iter().zip(&t.columns).zip(&widths) {
            for (j, line) in lines.iter().enumerate() {
                let tx = if c.kind != Kind::Text { x + w - 4.0 - fonts::text_width(line, size, true) } else { x + 4.0 };
                l.ops().push(Op::Text { x: tx, y: y + 3.0 + size * (1.0 + 1.25 * j as f32), size, bold: true, color: BLACK, text: line.clone() });
            }
            x += w;
        }
        l.y += header_h;
    };
    draw_header(l);
    for row in &t.rows {
        if l.y + ROW_H > BOTTOM {
            l.new_page();
            draw_header(l);
        }
        let y = l.y;
        let mut x = MARGIN;
        for ((c, col), w) in row.iter().zip(&t.columns).zip(&widths) {
            let kind = col.kind;
            let text = fit(&cell_text(c, kind), w - 8.0, size, false);
            let tx = if kind == Kind::Text { x + 4.0 } else { x + w - 4.0 - fonts::text_width(&text, size, false) };
            l.ops().push(Op::Text { x: tx, y: y + size + 1.0, size, bold: false, color: BLACK, text });
            x += w;
        }
        l.ops().push(Op::Line { x1: MARGIN, y1: y + ROW_H, x2: MARGIN + widths.iter().sum::<f32>(), y2: y + ROW_H, color: RULE });
        l.y += ROW_H;
    }
    l.y += 12.0;
}

fn chart(l: &mut Layout, svg: String) {
    let (w, h) = match fonts::svg_tree(&svg) {
        Ok(t) => (t.size().width(), t.size().height()),
        Err(e) => {
            tracing::warn!(error = %e, "chart left out of the PDF");
            return;
        }
    };
    let scale = (CONTENT_W / w).min(1.0) * 0.9;
    let (w, h) = (w * scale, h * scale);
    l.need(h + 10.0);
    let y = l.y;
    l.ops().push(Op::Svg { x: MARGIN, y, w, h, svg });
    l.y += h + 12.0;
}

/// Lays the document out on A4 pages.
fn layout(d: &Doc) -> Layout {
    let mut l = Layout::new();
    l.paragraph(MARGIN, CONTENT_W, 24.0, true, BLUE, &d.heading);
    l.paragraph(MARGIN, CONTENT_W, 19.0, true, BLACK, &d.name);
    for line in &d.lines {
        l.paragraph(MARGIN, CONTENT_W, 14.0, false, GREY, line);
    }
    l.y += 8.0;

    // Headline figures of all parts first, as directors read them.
    if d.summary {
        for p in &d.parts {
            l.need(40.0);
            l.paragraph(MARGIN, CONTENT_W, 15.0, true, BLUE, &p.title);
            figures(&mut l, &p.figures);
            l.y += 4.0;
        }
    }

    for (n, p) in d.parts.iter().enumerate() {
        if d.summary || n > 0 {
            l.new_page();
        } else {
            l.y += 6.0;
        }
        l.paragraph(MARGIN, CONTENT_W, 21.0, true, BLUE, &format!("{}. {}", n + 1, p.title));
        l.y += 4.0;
        if !d.summary {
            figures(&mut l, &p.figures);
            l.y += 6.0;
        }
        for c in &p.charts {
            if c.table.rows.is_empty() {
                continue;
            }
            chart(&mut l, charts::svg(c));
            table(&mut l, &c.table);
        }
        for t in &p.tables {
            table(&mut l, t);
        }
        if !p.notes.is_empty() {
            l.need(40.0);
            l.paragraph(MARGIN, CONTENT_W, 12.0, true, GREY, msg::DEFINITIONS);
            for note in &p.notes {
                l.paragraph(MARGIN, CONTENT_W, 11.5, false, GREY, &format!("• {note}"));
            }
        }
    }
    l
}

/// Figures three to a row: the label small and grey, the value large.
fn figures(l: &mut Layout, figures: &[Figure]) {
    let cols = 3;
    let w = CONTENT_W / cols as f32;
    for chunk in figures.chunks(cols) {
        l.need(38.0);
        let y = l.y;
        for (i, f) in chunk.iter().enumerate() {
            let x = MARGIN + w * i as f32;
            l.ops().push(Op::Text { x, y: y + 11.0, size: 11.0, bold: false, color: GREY, text: f.label.to_string() });
            l.ops().push(Op::Text { x, y: y + 30.0, size: 18.0, bold: true, color: BLACK, text: format!("{} {}", figure_text(f.value, f.kind), f.unit) });
        }
        l.y += 38.0;
    }
}

fn font(bold: bool) -> Option<Font> {
    static FONTS: OnceLock<Option<(Font, Font)>> = OnceLock::new();
    let (regular, bold_font) = FONTS.get_or_init(|| Some((Font::new(fonts::REGULAR.to_vec().into(), 0)?, Font::new(fonts::BOLD.to_vec().into(), 0)?))).as_ref()?;
    Some(if bold { bold_font.clone() } else { regular.clone() })
}

fn fill(c: (u8, u8, u8)) -> Fill {
    Fill { paint: rgb::Color::new(c.0, c.1, c.2).into(), ..Fill::default() }
}

/// The document as PDF bytes.
pub fn render(d: &Doc) -> Result<Vec<u8>, ReportError> {
    let fail = |message: String| ReportError::Render { format: "PDF", message };
    let pages = layout(d).finish();
    let total = pages.len();
    let footer_lines = wrap(&d.footer, CONTENT_W, 9.0, false);
    let mut doc = Document::new();
    doc.set_metadata(krilla::metadata::Metadata::new().title(d.title()).language("th".into()).creator(format!("Khlang ({})", msg::APP)).keywords(d.keywords.clone()));
    let settings = PageSettings::from_wh(PAGE_W, PAGE_H).ok_or_else(|| fail("bad page size".into()))?;
    for (i, ops) in pages.iter().enumerate() {
        let mut page = doc.start_page_with(settings.clone());
        let mut s = page.surface();
        let text = |s: &mut krilla::surface::Surface, x: f32, y: f32, size: f32, bold: bool, color: (u8, u8, u8), t: &str| -> Result<(), ReportError> {
            let f = font(bold).ok_or_else(|| fail("the bundled font cannot be read".into()))?;
            s.set_fill(Some(fill(color)));
            // One script per shaping call: Thai runs get the Thai shaper's mark placement.
            let mut x = x;
            for run in fonts::script_runs(t) {
                s.draw_text(Point::from_xy(x, y), f.clone(), size, run, false, TextDirection::Auto);
                x += fonts::text_width(run, size, bold);
            }
            Ok(())
        };
        for op in ops {
            match op {
                Op::Text { x, y, size, bold, color, text: t } => text(&mut s, *x, *y, *size, *bold, *color, t)?,
                Op::Rect { x, y, w, h, color } => {
                    let mut pb = PathBuilder::new();
                    if let Some(rect) = Rect::from_xywh(*x, *y, *w, *h) {
                        pb.push_rect(rect);
                    }
                    if let Some(path) = pb.finish() {
                        s.set_fill(Some(fill(*color)));
                        s.set_stroke(None);
                        s.draw_path(&path);
                    }
                }
                Op::Line { x1, y1, x2, y2, color } => {
                    let mut pb = PathBuilder::new();
                    pb.move_to(*x1, *y1);
                    pb.line_to(*x2, *y2);
                    if let Some(path) = pb.finish() {
                        s.set_fill(None);
                        s.set_stroke(Some(Stroke { paint: rgb::Color::new(color.0, color.1, color.2).into(), width: 0.6, ..Stroke::default() }));
                        s.draw_path(&path);
                        s.set_stroke(None);
                    }
                }
                Op::Svg { x, y, w, h, svg } => {
                    let tree = fonts::svg_tree(svg).map_err(fail)?;
                    let size = Size::from_wh(*w, *h).ok_or_else(|| fail("chart has no area".into()))?;
                    s.push_transform(&Transform::from_translate(*x, *y));
                    s.draw_svg(&tree, size, SvgSettings::default());
                    s.pop();
                }
            }
        }
        // Footer: the data version and the page number.
        let mut fy = PAGE_H - 52.0;
        for line in &footer_lines {
            text(&mut s, MARGIN, fy, 9.0, false, GREY, line)?;
            fy += 11.0;
        }
        text(&mut s, MARGIN, fy + 2.0, 10.0, false, GREY, &d.generated)?;
        let number = format!("{} {} {} {}", msg::PAGE, i + 1, msg::OF, total);
        text(&mut s, PAGE_W - MARGIN - fonts::text_width(&number, 10.0, false), fy + 2.0, 10.0, false, GREY, &number)?;
        s.finish();
        page.finish();
    }
    doc.finish().map_err(|e| fail(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_thai_without_splitting_marks() {
        let lines = wrap("เงินอุดหนุนรายหัวที่ควรได้รับ = อัตราต่อหัว × นักเรียน", 80.0, 12.0, false);
        assert!(lines.len() > 1);
        for l in &lines {
            assert!(!l.starts_with(is_mark), "line starts with a mark: {l}");
            assert!(fonts::text_width(l, 12.0, false) <= 80.0 + 12.0);
        }
        assert_eq!(lines.concat().replace(' ', ""), "เงินอุดหนุนรายหัวที่ควรได้รับ=อัตราต่อหัว×นักเรียน");
        assert!(fit("โรงเรียนบ้านห้วยทรายขาววิทยาคม", 60.0, 12.0, false).ends_with('…'));
    }
}
