//! Charts drawn with plotters as SVG: horizontal bars (side by side or stacked), trend lines, the
//! grade-by-sex pyramid and disbursement progress against targets. Text stays text, so the browser
//! shapes Thai; for PDF and PNG the same SVG is rendered with the bundled Thai font (see `fonts`).

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::{Cell, Chart, ChartKind, Table};
use crate::thai;

/// The bundled Laksaman first, so browser, PDF and PNG draw the same letters.
pub const FONT: &str = "Laksaman, Sarabun, Noto Sans Thai, sans-serif";
const PALETTE: [RGBColor; 5] = [RGBColor(0x1f, 0x5f, 0x99), RGBColor(0xe0, 0x8a, 0x1e), RGBColor(0x3a, 0x9a, 0x5b), RGBColor(0xb8, 0x3b, 0x5e), RGBColor(0x6b, 0x5b, 0x95)];
const GREY: RGBColor = RGBColor(0x5a, 0x6b, 0x7d);
const WIDTH: u32 = 760;
const TITLE_H: u32 = 40;
const LEGEND_H: u32 = 30;

type Drawn = Result<(), String>;

/// The `i`th series' colour (the palette repeats).
fn color(i: usize) -> RGBColor {
    PALETTE.get(i % PALETTE.len()).copied().unwrap_or(BLACK)
}

/// Text inside the SVG written by hand (the plotters backend escapes its own).
fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn err(e: impl std::fmt::Debug) -> String {
    format!("{e:?}")
}

/// The chart as an SVG document (a short message in SVG if drawing failed, never a panic).
pub fn svg(chart: &Chart) -> String {
    let mut out = String::new();
    let drawn = match chart.kind {
        ChartKind::Bars => bars(&mut out, &chart.table, false),
        ChartKind::Stacked => bars(&mut out, &chart.table, true),
        ChartKind::Pyramid => pyramid(&mut out, &chart.table),
        ChartKind::Trend => trend(&mut out, &chart.table),
        ChartKind::Progress => progress(&mut out, &chart.table),
    };
    match drawn {
        Ok(()) => out,
        Err(e) => {
            tracing::warn!(chart = chart.table.key, error = %e, "chart not drawn");
            format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"40\"><text x=\"10\" y=\"25\" font-family=\"{FONT}\">{}</text></svg>", xml_escape(&chart.table.title))
        }
    }
}

fn categories(t: &Table) -> Vec<String> {
    t.rows.iter().map(|r| r.first().map(Cell::text).unwrap_or_default()).collect()
}

/// Series: every column after the first, values missing as 0.
fn series(t: &Table) -> Vec<(String, Vec<f64>)> {
    t.columns.iter().enumerate().skip(1).map(|(c, col)| (col.name.clone(), t.rows.iter().map(|r| r.get(c).and_then(Cell::as_f64).unwrap_or(0.0)).collect())).collect()
}

/// A round upper bound for an axis.
fn nice(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(max.log10().floor());
    for m in [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0] {
        if m * p >= max * 1.05 {
            return m * p;
        }
    }
    10.0 * p
}

fn axis_number(v: f64) -> String {
    if v.abs() >= 1_000_000.0 {
        format!("{} {}", thai::decimal(v / 1_000_000.0, 1), crate::msg::MILLION)
    } else if v.fract() == 0.0 {
        thai::number(v as i64)
    } else {
        thai::decimal(v, 1)
    }
}

fn text_style(size: u32) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).color(&BLACK)
}

/// The light grid and grey axes every chart shares.
fn quiet_grid<'m, 'a, 'b, X: plotters::coord::ranged1d::Ranged, Y: plotters::coord::ranged1d::Ranged, DB: DrawingBackend>(
    mesh: &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, DB> {
    mesh.axis_style(GREY).light_line_style(RGBColor(0xe6, 0xeb, 0xf0)).bold_line_style(RGBColor(0xd6, 0xde, 0xe8))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// A white canvas with the chart's title and legend; returns it and the area left for the plot.
fn frame<'a>(out: &'a mut String, height: u32, t: &str, names: &[String]) -> Result<(Area<'a>, Area<'a>), String> {
    let root = SVGBackend::with_string(out, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    title(&root, t)?;
    legend(&root, names)?;
    let (_, area) = root.split_vertically(TITLE_H + LEGEND_H);
    Ok((root, area))
}

fn title<DB: DrawingBackend>(root: &DrawingArea<DB, plotters::coord::Shift>, t: &str) -> Drawn {
    root.draw(&Text::new(t.to_string(), (12, 10), text_style(20))).map_err(err)
}

fn legend<DB: DrawingBackend>(root: &DrawingArea<DB, plotters::coord::Shift>, names: &[String]) -> Drawn {
    let mut x = 12;
    for (i, n) in names.iter().enumerate() {
        let c = color(i);
        root.draw(&Rectangle::new([(x, TITLE_H as i32 + 6), (x + 14, TITLE_H as i32 + 20)], c.filled())).map_err(err)?;
        root.draw(&Text::new(n.clone(), (x + 20, TITLE_H as i32 + 13), text_style(15).pos(Pos::new(HPos::Left, VPos::Center)))).map_err(err)?;
        x += 40 + 9 * n.chars().filter(|c| !is_thai_mark(*c)).count() as i32;
    }
    Ok(())
}

/// Thai vowel and tone marks above or below a consonant take no width of their own.
fn is_thai_mark(c: char) -> bool {
    matches!(c, '\u{0E31}' | '\u{0E34}'..='\u{0E3A}' | '\u{0E47}'..='\u{0E4E}')
}

/// Horizontal bars, one row per category: side by side per series, or stacked.
fn bars(out: &mut String, t: &Table, stacked: bool) -> Drawn {
    let cats = categories(t);
    let series = series(t);
    let n = cats.len().max(1);
    let k = series.len().max(1);
    let row_h = if stacked || k == 1 { 30 } else { 12 * k as u32 + 14 };
    let height = TITLE_H + LEGEND_H + row_h * n as u32 + 44;
    let max = if stacked {
        (0..cats.len()).map(|i| series.iter().map(|s| s.1.get(i).copied().unwrap_or(0.0).max(0.0)).sum::<f64>()).fold(0.0, f64::max)
    } else {
        series.iter().flat_map(|s| s.1.iter().copied()).fold(0.0, f64::max)
    };
    let xmax = nice(max);
    let (root, area) = frame(out, height, &t.title, &series.iter().map(|s| s.0.clone()).collect::<Vec<_>>())?;
    let mut chart = ChartBuilder::on(&area).margin_right(24).x_label_area_size(34).y_label_area_size(250).build_cartesian_2d(0f64..xmax, 0f64..n as f64).map_err(err)?;
    quiet_grid(&mut chart.configure_mesh())
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(6)
        .x_label_formatter(&|v| axis_number(*v))
        .x_label_style(text_style(13))
        .draw()
        .map_err(err)?;
    for (i, cat) in cats.iter().enumerate() {
        // The first category at the top.
        let top = (n - i) as f64;
        let (px, py) = chart.backend_coord(&(0.0, top - 0.5));
        root.draw(&Text::new(cat.clone(), (px - 8, py), text_style(15).pos(Pos::new(HPos::Right, VPos::Center)))).map_err(err)?;
        let mut start = 0.0;
        for (j, (_, values)) in series.iter().enumerate() {
            let v = values.get(i).copied().unwrap_or(0.0).max(0.0);
            let c = color(j);
            let (x0, x1, y0, y1) = if stacked || k == 1 {
                (start, start + v, top - 0.85, top - 0.15)
            } else {
                let h = 0.8 / k as f64;
                (0.0, v, top - 0.1 - h * (j + 1) as f64, top - 0.1 - h * j as f64)
            };
            if covers_a_pixel(&chart, (x0, y0), (x1, y1)) {
                chart.draw_series(std::iter::once(Rectangle::new([(x0, y0), (x1, y1)], c.filled()))).map_err(err)?;
            }
            if stacked {
                start += v;
            }
        }
    }
    root.present().map_err(err)
}

/// Whether a bar between two corners covers at least a pixel each way. Nothing is drawn for a zero
/// or a value too small to see: the SVG backend would write a rectangle of width 0, which the PDF
/// and PNG renderers reject (with a warning per bar) and other SVG readers call invalid.
fn covers_a_pixel<DB: DrawingBackend>(chart: &ChartContext<'_, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>>, a: (f64, f64), b: (f64, f64)) -> bool {
    let (p, q) = (chart.backend_coord(&a), chart.backend_coord(&b));
    p.0 != q.0 && p.1 != q.1
}

/// Students by grade and sex: male to the left, female to the right, the youngest grade at the bottom.
fn pyramid(out: &mut String, t: &Table) -> Drawn {
    let cats = categories(t);
    let series = series(t);
    let n = cats.len().max(1);
    let (male, female) = match series.as_slice() {
        [m, f, ..] => (m.1.clone(), f.1.clone()),
        _ => (vec![0.0; n], vec![0.0; n]),
    };
    let max = nice(male.iter().chain(female.iter()).copied().fold(0.0, f64::max));
    let height = TITLE_H + LEGEND_H + 26 * n as u32 + 44;
    let (root, area) = frame(out, height, &t.title, &series.iter().map(|s| s.0.clone()).collect::<Vec<_>>())?;
    let mut chart = ChartBuilder::on(&area).margin_right(24).x_label_area_size(34).y_label_area_size(60).build_cartesian_2d(-max..max, 0f64..n as f64).map_err(err)?;
    quiet_grid(&mut chart.configure_mesh())
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(7)
        .x_label_formatter(&|v| axis_number(v.abs()))
        .x_label_style(text_style(13))
        .draw()
        .map_err(err)?;
    for (i, cat) in cats.iter().enumerate() {
        let y = i as f64;
        let (px, py) = chart.backend_coord(&(-max, y + 0.5));
        root.draw(&Text::new(cat.clone(), (px - 8, py), text_style(15).pos(Pos::new(HPos::Right, VPos::Center)))).map_err(err)?;
        let (m, f) = (male.get(i).copied().unwrap_or(0.0), female.get(i).copied().unwrap_or(0.0));
        let bars = [((-m, y + 0.12), (0.0, y + 0.88), color(0)), ((0.0, y + 0.12), (f, y + 0.88), color(1))];
        let bars: Vec<_> = bars.into_iter().filter(|(a, b, _)| covers_a_pixel(&chart, *a, *b)).map(|(a, b, c)| Rectangle::new([a, b], c.filled())).collect();
        chart.draw_series(bars).map_err(err)?;
    }
    root.present().map_err(err)
}

/// Categories along the bottom (left to right), drawn as text under the plot.
fn x_categories<DB: DrawingBackend, C>(root: &DrawingArea<DB, plotters::coord::Shift>, chart: &C, cats: &[String]) -> Drawn
where
    C: Fn(f64) -> (i32, i32),
{
    for (i, cat) in cats.iter().enumerate() {
        let (px, py) = chart(i as f64);
        root.draw(&Text::new(cat.clone(), (px, py + 8), text_style(14).pos(Pos::new(HPos::Center, VPos::Top)))).map_err(err)?;
    }
    Ok(())
}

/// The first series over time as a line with its points labelled.
fn trend(out: &mut String, t: &Table) -> Drawn {
    let cats = categories(t);
    let series = series(t);
    let n = cats.len().max(1);
    let Some((name, values)) = series.first() else { return Err("no series".into()) };
    let ymax = nice(values.iter().copied().fold(0.0, f64::max));
    let height = TITLE_H + LEGEND_H + 300;
    let (root, area) = frame(out, height, &t.title, std::slice::from_ref(name))?;
    let mut chart = ChartBuilder::on(&area).margin_right(30).margin_left(10).x_label_area_size(40).y_label_area_size(70).build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..ymax).map_err(err)?;
    quiet_grid(&mut chart.configure_mesh())
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(6)
        .y_label_formatter(&|v| axis_number(*v))
        .y_label_style(text_style(13))
        .draw()
        .map_err(err)?;
    let points: Vec<(f64, f64)> = values.iter().enumerate().map(|(i, v)| (i as f64, *v)).collect();
    chart.draw_series(LineSeries::new(points.clone(), color(0).stroke_width(3))).map_err(err)?;
    chart.draw_series(points.iter().map(|p| Circle::new(*p, 4, color(0).filled()))).map_err(err)?;
    for (x, v) in &points {
        let (px, py) = chart.backend_coord(&(*x, *v));
        root.draw(&Text::new(axis_number(*v), (px, py - 8), text_style(13).pos(Pos::new(HPos::Center, VPos::Bottom)))).map_err(err)?;
    }
    x_categories(&root, &|x| chart.backend_coord(&(x, 0.0)), &cats)?;
    root.present().map_err(err)
}

/// Cumulative percent disbursed per quarter as bars, the target as a line.
fn progress(out: &mut String, t: &Table) -> Drawn {
    let cats = categories(t);
    let series = series(t);
    let n = cats.len().max(1);
    let (done, target) = match series.as_slice() {
        [d, tg, ..] => (d.1.clone(), tg.1.clone()),
        _ => return Err("needs the done and target columns".into()),
    };
    let height = TITLE_H + LEGEND_H + 300;
    let (root, area) = frame(out, height, &t.title, &series.iter().map(|s| s.0.clone()).collect::<Vec<_>>())?;
    let mut chart = ChartBuilder::on(&area).margin_right(30).margin_left(10).x_label_area_size(40).y_label_area_size(60).build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..110.0).map_err(err)?;
    quiet_grid(&mut chart.configure_mesh())
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(12)
        .y_label_formatter(&|v| format!("{v:.0}%"))
        .y_label_style(text_style(13))
        .draw()
        .map_err(err)?;
    let bars: Vec<_> = done.iter().enumerate().map(|(i, v)| ((i as f64 - 0.3, 0.0), (i as f64 + 0.3, v.min(110.0)))).filter(|(a, b)| covers_a_pixel(&chart, *a, *b)).map(|(a, b)| Rectangle::new([a, b], color(0).filled())).collect();
    chart.draw_series(bars).map_err(err)?;
    for (i, v) in done.iter().enumerate().filter(|(_, v)| **v > 0.0) {
        let (px, py) = chart.backend_coord(&(i as f64, v.min(110.0)));
        root.draw(&Text::new(format!("{}%", thai::decimal(*v, 1)), (px, py - 6), text_style(14).pos(Pos::new(HPos::Center, VPos::Bottom)))).map_err(err)?;
    }
    let target_points: Vec<(f64, f64)> = target.iter().enumerate().map(|(i, v)| (i as f64, *v)).collect();
    chart.draw_series(LineSeries::new(target_points.clone(), color(1).stroke_width(3))).map_err(err)?;
    chart.draw_series(target_points.iter().map(|p| Circle::new(*p, 5, color(1).filled()))).map_err(err)?;
    x_categories(&root, &|x| chart.backend_coord(&(x, 0.0)), &cats)?;
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Column, Kind};

    fn table(rows: Vec<Vec<Cell>>, cols: &[&str]) -> Table {
        Table { key: "t", title: "นักเรียนจำแนกตามชั้นและเพศ".into(), columns: cols.iter().map(|c| Column { name: c.to_string(), kind: Kind::Count }).collect(), rows }
    }

    #[test]
    fn every_kind_draws_thai_text() {
        let t = table(
            vec![vec![Cell::Text("อ.1".into()), Cell::Int(120), Cell::Int(98)], vec![Cell::Text("ป.1".into()), Cell::Int(140), Cell::Num(131.0)]],
            &["ชั้น", "ชาย", "หญิง"],
        );
        for kind in [ChartKind::Bars, ChartKind::Stacked, ChartKind::Pyramid, ChartKind::Trend, ChartKind::Progress] {
            let s = svg(&Chart { kind, table: t.clone() });
            assert!(s.starts_with("<svg"), "{kind:?}");
            assert!(s.contains("นักเรียนจำแนกตามชั้นและเพศ"), "{kind:?}");
            assert!(s.contains("ป.1"), "{kind:?}: {s}");
            assert!(s.contains("<rect") || s.contains("<path") || s.contains("<polyline"), "{kind:?}");
        }
    }

    #[test]
    fn no_bar_is_drawn_thinner_than_a_pixel() {
        // Beside 20,000 students, 3 is less than a pixel: it is left out, not written as width 0.
        let t = table(
            vec![vec![Cell::Text("อ.1".into()), Cell::Int(20_000), Cell::Int(3)], vec![Cell::Text("ป.1".into()), Cell::Int(3), Cell::Int(19_000)]],
            &["ชั้น", "ชาย", "หญิง"],
        );
        for kind in [ChartKind::Bars, ChartKind::Stacked, ChartKind::Pyramid, ChartKind::Progress] {
            let s = svg(&Chart { kind, table: t.clone() });
            assert!(s.contains("<rect"), "{kind:?}");
            assert!(!s.contains(r#"width="0""#) && !s.contains(r#"height="0""#), "{kind:?}: {s}");
        }
    }

    #[test]
    fn axis_bounds_are_round() {
        assert_eq!(nice(95.0), 100.0);
        assert_eq!(nice(1234.0), 1500.0);
        assert_eq!(nice(0.0), 1.0);
    }
}
