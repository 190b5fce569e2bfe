//! The building blocks of every web page, as maud templates (text is escaped by the template, never
//! by hand): the page and the app's frame, the one HTML table, headline figures, charts, notes.

use khlang_query::{Principal, Role};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::report::{Chart, Figure};
use crate::table::{Cell, Kind, Table, cell_text, figure_text};
use crate::{charts, msg};

const CSS: &str = "\
@font-face{font-family:Laksaman;src:url(/static/fonts/Laksaman.ttf) format('truetype');font-weight:normal}\
@font-face{font-family:Laksaman;src:url(/static/fonts/Laksaman-Bold.ttf) format('truetype');font-weight:bold}\
body{font-family:Laksaman,Sarabun,'Noto Sans Thai',Tahoma,sans-serif;font-size:19px;margin:0 2rem 2rem;color:#1d2733}\
h1{font-size:1.9rem;margin:.6rem 0} h2{font-size:1.5rem;color:#1f3f66;border-bottom:2px solid #d6dee8} h3{font-size:1.2rem}\
a{color:#1f5f99} .meta{color:#5a6b7d;margin:.2rem 0} .error{color:#b83b5e;font-weight:bold}\
nav.top{display:flex;gap:1.2rem;flex-wrap:wrap;padding:.6rem 0;border-bottom:1px solid #d6dee8} nav.top .user{margin-left:auto}\
nav.subject ul{display:flex;flex-wrap:wrap;gap:.4rem 1.1rem;list-style:none;padding:0;margin:.6rem 0}\
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(12rem,1fr));gap:.8rem;margin:.8rem 0}\
.card{border:1px solid #d6dee8;border-radius:.5rem;padding:.6rem .9rem} .label{color:#5a6b7d} .value{font-size:1.9rem;font-weight:bold} .unit{color:#5a6b7d}\
table{border-collapse:collapse;margin:.8rem 0 1.4rem;min-width:40%} caption{text-align:left;font-weight:bold;color:#1f3f66;padding:.3rem 0}\
th,td{border-bottom:1px solid #e6ebf0;padding:.15rem .6rem;text-align:left} th{background:#eef2f7} td.num{text-align:right;font-variant-numeric:tabular-nums}\
figure.chart{margin:1rem 0} figure.chart svg{max-width:100%;height:auto} details summary{cursor:pointer;color:#1f5f99}\
form.chooser{margin:.6rem 0} select,input,button{font:inherit} form.login{display:grid;gap:.6rem;max-width:22rem}\
@media print{nav,form.chooser{display:none} details{display:block} section.domain{break-before:page}}";

/// A whole page: Thai, the bundled font, `title` as the heading and `body` as its content.
pub fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="th" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                link rel="icon" href="data:,";
                title { (title) " · " (msg::APP) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header { h1 { (title) } }
                main { (body) }
                footer { p.meta { (msg::APP_FOOTER) } }
            }
        }
    }
}

/// A page of the app: the navigation for this user's role above `body`.
pub fn shell(who: &Principal, title: &str, body: Markup) -> Markup {
    let mut nav = vec![("/", msg::NAV_HOME), ("/public", msg::NAV_PUBLIC)];
    if who.role != Role::Public {
        nav.extend([("/saved", msg::NAV_SAVED), ("/quality", msg::NAV_QUALITY), ("/calendar", msg::NAV_CALENDAR)]);
    }
    if matches!(who.role, Role::Admin | Role::Analyst | Role::Director) {
        nav.push(("/approvals", msg::NAV_APPROVALS));
    }
    if matches!(who.role, Role::Admin | Role::Analyst) {
        nav.push(("/admin/ingest", msg::NAV_INGEST));
    }
    if who.role == Role::Admin {
        nav.extend([("/admin/usage", msg::NAV_USAGE), ("/admin/usage-report", msg::NAV_USAGE_REPORT), ("/access/requests", msg::NAV_ACCESS_REQUESTS)]);
    }
    page(
        title,
        html! {
            nav.top {
                @for (href, label) in &nav { a href=(href) { (label) } " " }
                span.user {
                    @if who.role == Role::Public {
                        a href="/access/request" { (msg::NAV_REQUEST_ACCESS) } " · " a href="/login" { (msg::SIGN_IN) }
                    } @else {
                        (who.user) " (" (msg::role(who.role)) ") · " a href="/logout" { (msg::SIGN_OUT) }
                    }
                }
            }
            (body)
        },
    )
}

/// An error message for the reader, announced to screen readers.
pub fn error(detail: &str) -> Markup {
    html! { p.error role="alert" { (detail) } }
}

/// The one HTML table: a caption, headers, numbers right-aligned in Thai format; a school code
/// column links to the school's page.
pub fn table(t: &Table) -> Markup {
    let link_col = t.columns.iter().position(|c| c.name == msg::C_SCHOOL_CODE);
    html! {
        table data-table=(t.key) {
            caption { (t.title) }
            thead { tr { @for c in &t.columns { th scope="col" { (c.name) } } } }
            tbody {
                @for r in &t.rows {
                    tr {
                        @for (i, c) in r.iter().enumerate() {
                            @let kind = t.columns.get(i).map_or(Kind::Text, |c| c.kind);
                            @match (link_col, c) {
                                (Some(l), Cell::Text(code)) if l == i => td { a href={ "/school/" (code) } { (code) } },
                                _ => td class=[kind.is_number().then_some("num")] { (cell_text(c, kind)) },
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Headline figures as cards; `data-figure` names each for tests and scripts.
pub fn figures(figures: &[Figure]) -> Markup {
    html! {
        section.cards {
            @for f in figures {
                div.card data-figure=(f.key) {
                    div.label { (f.label) }
                    div.value { (figure_text(f.value, f.kind)) }
                    div.unit { (f.unit) }
                }
            }
        }
    }
}

/// A chart with its title and, for readers who cannot see it, the same figures as a table; `png`
/// links to it as a picture (for slides and letters).
pub fn chart(c: &Chart, png: Option<&str>) -> Markup {
    if c.table.rows.is_empty() {
        return html! { p.meta { (c.table.title) ": " (msg::NO_DATA_SHORT) } };
    }
    html! {
        figure.chart data-chart=(c.table.key) {
            div role="img" aria-label=(c.table.title) { (PreEscaped(charts::svg(c))) }
            figcaption {
                details { summary { (msg::CHART_TABLE) } (table(&c.table)) }
                @if let Some(href) = png { " " a.png href=(href) download { (msg::PNG_PICTURE) } }
            }
        }
    }
}

/// The definitions of the indicators on a page.
pub fn notes(notes: &[String]) -> Markup {
    html! { section.notes { h3 { (msg::DEFINITIONS) } ul { @for n in notes { li { (n) } } } } }
}
