//! The timeline drawn: a heading with the run's summary, a legend, a row per worker with its
//! bars on one time axis in seconds. One pass over the spans, in the order they were recorded
//! (on each row, in time order: a worker does one thing at a time); bars too narrow to see at
//! the drawn width are merged, per row, into spans that say how many downloads they hold, so a
//! list of any length gives a picture of a bounded size. Plain SVG 1.1 with an inline style
//! sheet: no script, nothing from outside.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::merge::Merged;
use super::spool::{Bar, Class};
use crate::printable::xml as escape;

/// The picture's width in pixels, the plot's left edge (after the worker names) and its width.
const WIDTH: f64 = 1200.0;
const PLOT_LEFT: f64 = 92.0;
const PLOT_WIDTH: f64 = 1080.0;
/// The heading is broken between fields to lines of at most this many characters.
pub const HEADING_COLUMNS: usize = 150;
/// The rows together are at most this tall; one row at most `ROW_MAX`.
const ROWS_HEIGHT: f64 = 720.0;
const ROW_MAX: f64 = 24.0;
/// At most about this many bars are drawn, whatever the list: beyond it, bars narrower than
/// what keeps to it are merged too (each is a few hundred bytes with its title).
const BARS_MAX: f64 = 12_000.0;

/// What the picture shows besides the spans.
pub struct Frame {
    /// The workers' names, one row each.
    pub rows: Vec<String>,
    /// Lines in each row: the most downloads one worker had in flight at once.
    pub lines: u32,
    /// The time axis's length, in microseconds.
    pub axis: u64,
    /// The summary, in lines.
    pub heading: Vec<String>,
    /// How many spans there are.
    pub spans: u64,
    /// The classes the spans hold: what the legend names.
    pub present: Vec<Class>,
}

const STYLE: &str = "\
text{font-family:'DejaVu Sans',Verdana,Arial,sans-serif;font-size:12px;fill:#24292f}\
.head{font-size:13px;font-weight:bold}.label{text-anchor:end}.tick{text-anchor:middle;fill:#57606a}\
.row{fill:#f3f4f6}.row.odd{fill:#e9ebef}.grid{stroke:#c9ced6;stroke-width:1}\
.ok{fill:#2e9e57}.failed{fill:#d43f2f}.interrupted{fill:#7d5ba6}.skipped{fill:#a2a9b3}\
.unchanged{fill:#4f86d0}.piece{fill:#58c0ad}.wait{fill:url(#hatch)}.try{fill:#f0a32e}\
.edge{fill:none;stroke:#d43f2f;stroke-width:2}";

/// Where things go.
struct Geometry {
    rows: usize,
    /// Lines in each row, one per download a worker had in flight at once.
    lines: usize,
    plot_top: f64,
    /// The legend's first baseline.
    legend_top: f64,
    row_height: f64,
    line_height: f64,
    bar_height: f64,
    /// Pixels per microsecond.
    scale: f64,
    /// Bars narrower than this are merged.
    merge_below: f64,
}

impl Geometry {
    fn new(frame: &Frame) -> Geometry {
        let rows = frame.rows.len().max(1);
        let lines = frame.lines.max(1) as usize;
        // A row of several lines grows, up to its share of the rows' height.
        let row_height = (ROWS_HEIGHT / rows as f64).min(ROW_MAX * lines as f64);
        let line_height = row_height / lines as f64;
        let legend_lines = legend_keys(&frame.present)
            .last()
            .map_or(1, |(_, _, line)| line + 1);
        let plot_top = 24.0
            + 18.0 * frame.heading.len() as f64
            + 30.0
            + LEGEND_LINE * (legend_lines - 1) as f64;
        // Each row holds at most about two bars per `merge_below` pixels (a bar that wide, then
        // a merged span): the bound that keeps a huge list to BARS_MAX bars.
        let crowded = frame.spans as f64 > BARS_MAX;
        let merge_below = match crowded {
            true => (2.0 * (rows * lines) as f64 * PLOT_WIDTH / BARS_MAX).max(1.0),
            false => 1.0,
        };
        // A gap between rows, and a thinner one between the lines of a row.
        let gap = if lines > 1 { 1.0 } else { 3.0 };
        Geometry {
            rows,
            lines,
            plot_top,
            legend_top: 24.0 + 18.0 * frame.heading.len() as f64 + 12.0,
            row_height,
            line_height,
            bar_height: if line_height >= 4.0 {
                line_height - gap
            } else {
                line_height
            },
            scale: PLOT_WIDTH / frame.axis.max(1000) as f64,
            merge_below,
        }
    }

    fn x(&self, micros: u64) -> f64 {
        PLOT_LEFT + micros as f64 * self.scale
    }

    fn row_top(&self, row: usize) -> f64 {
        self.plot_top + row as f64 * self.row_height
    }

    fn bar_top(&self, row: u32, line: u32) -> f64 {
        self.row_top(row as usize)
            + line as f64 * self.line_height
            + (self.line_height - self.bar_height) / 2.0
    }

    fn plot_bottom(&self) -> f64 {
        self.row_top(self.rows)
    }

    fn height(&self) -> f64 {
        self.plot_bottom() + 44.0
    }
}

/// Draws the picture of `spans` into `out`.
pub fn draw(
    out: &mut impl Write,
    frame: &Frame,
    spans: impl Iterator<Item = io::Result<Bar>>,
) -> io::Result<()> {
    let g = Geometry::new(frame);
    let mut s = String::with_capacity(64 * 1024);
    head(&mut s, frame, &g);
    // What is held for merging, per line of each row.
    let mut open: Vec<Option<Merged>> = vec![None; g.rows * g.lines];
    for span in spans {
        let span = span?;
        let (row, line) = (span.row as usize, span.line as usize);
        if row >= g.rows || line >= g.lines {
            continue;
        }
        let row = row * g.lines + line;
        let width = g.x(span.end) - g.x(span.start);
        if width >= g.merge_below {
            if let Some(held) = open[row].take() {
                merged(&mut s, &g, held);
            }
            bar(&mut s, &g, &span);
        } else {
            match &mut open[row] {
                Some(held) if held.takes(&span, |t| g.x(t), g.merge_below) => held.add(span),
                slot => {
                    if let Some(held) = slot.take() {
                        merged(&mut s, &g, held);
                    }
                    *slot = Some(Merged::of(span));
                }
            }
        }
        if s.len() > 48 * 1024 {
            out.write_all(s.as_bytes())?;
            s.clear();
        }
    }
    for held in open.into_iter().flatten() {
        merged(&mut s, &g, held);
    }
    s.push_str("</svg>\n");
    out.write_all(s.as_bytes())?;
    out.flush()
}

/// Everything but the bars: the heading, the legend, the rows and the time axis.
fn head(s: &mut String, frame: &Frame, g: &Geometry) {
    let height = g.height();
    let _ = write!(
        s,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {WIDTH} {height:.0}\">\n<title>{}</title>\n<style>{STYLE}</style>\n\
         <defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#eef0f3\"/>\
         <rect width=\"2.5\" height=\"6\" fill=\"#8c96a3\"/></pattern></defs>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n",
        escape(
            &frame
                .heading
                .iter()
                .map(|l| l.trim())
                .collect::<Vec<_>>()
                .join(" ")
        )
    );
    for (i, line) in frame.heading.iter().enumerate() {
        let y = 24.0 + 18.0 * i as f64;
        let _ = writeln!(
            s,
            "<text class=\"head\" x=\"16\" y=\"{y}\">{}</text>",
            escape(line)
        );
    }
    legend(s, &frame.present, g.legend_top);
    rows(s, frame, g);
    axis(s, frame.axis, g);
}

/// What a colour means, in plain words.
fn meaning(class: Class) -> &'static str {
    match class {
        Class::Ok => "downloaded",
        Class::Failed => "failed",
        Class::Interrupted => "cut short by Ctrl-C",
        Class::Skipped => "skipped: already there",
        Class::Unchanged => "unchanged since last time",
        Class::Piece => "part of a big file, fetched alongside",
        Class::Try => "attempt that failed, then tried again",
        Class::Wait => "waiting: to retry, or for the server's turn",
    }
}

/// The legend's keys for the classes the picture holds, only: each with its x and its line
/// (a new line where the picture's width ends).
fn legend_keys(present: &[Class]) -> Vec<(Class, f64, usize)> {
    let (mut x, mut line) = (16.0, 0);
    let mut keys = Vec::new();
    for &class in present {
        // About 6.6 pixels a character at 12 px.
        let width = 17.0 + meaning(class).len() as f64 * 6.6;
        if x > 16.0 && x + width > WIDTH - 16.0 {
            (x, line) = (16.0, line + 1);
        }
        keys.push((class, x, line));
        x += width + 22.0;
    }
    keys
}

/// The legend, its first line's baseline at `y`.
fn legend(s: &mut String, present: &[Class], y: f64) {
    for (class, x, line) in legend_keys(present) {
        let y = y + LEGEND_LINE * line as f64;
        let _ = writeln!(
            s,
            "<rect class=\"key {}\" x=\"{x:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\"/>\
             <text x=\"{:.1}\" y=\"{y}\">{}</text>",
            class.as_str(),
            y - 10.0,
            x + 17.0,
            meaning(class)
        );
    }
}

/// The row backgrounds and the workers' names (every row's when there is room; else every
/// k-th).
fn rows(s: &mut String, frame: &Frame, g: &Geometry) {
    let every = (12.0 / g.row_height).ceil().max(1.0) as usize;
    let font = g.row_height.clamp(9.0, 12.0);
    for (i, name) in frame.rows.iter().enumerate() {
        let top = g.row_top(i);
        let odd = if i % 2 == 1 { " odd" } else { "" };
        let _ = writeln!(
            s,
            "<rect class=\"row{odd}\" data-worker=\"{}\" x=\"{PLOT_LEFT}\" y=\"{top:.2}\" \
             width=\"{PLOT_WIDTH}\" height=\"{:.2}\"/>",
            escape(name),
            g.row_height
        );
        if i % every == 0 {
            let y = top + g.row_height / 2.0 + font * 0.35;
            let _ = writeln!(
                s,
                "<text class=\"label\" x=\"{:.0}\" y=\"{y:.1}\" style=\"font-size:{font:.0}px\">{}</text>",
                PLOT_LEFT - 8.0,
                escape(name)
            );
        }
    }
}

/// Grid lines and labels at round numbers of seconds: at most about ten of them.
fn axis(s: &mut String, axis: u64, g: &Geometry) {
    let secs = axis.max(1000) as f64 / 1e6;
    let step = nice_step(secs / 10.0);
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    let (top, bottom) = (g.plot_top, g.plot_bottom());
    let mut k = 0u32;
    loop {
        let t = f64::from(k) * step;
        if t > secs * 1.0001 {
            break;
        }
        let x = g.x((t * 1e6) as u64);
        let _ = writeln!(
            s,
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>\
             <text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\">{t:.decimals$} s</text>",
            bottom + 4.0,
            bottom + 18.0
        );
        k += 1;
    }
    let _ = writeln!(
        s,
        "<text class=\"tick\" x=\"{:.0}\" y=\"{:.1}\">time since the run started</text>",
        PLOT_LEFT + PLOT_WIDTH / 2.0,
        bottom + 36.0
    );
}

/// The smallest of 1, 2 and 5 times a power of ten that is at least `at_least`.
fn nice_step(at_least: f64) -> f64 {
    let power = 10f64.powf(at_least.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|step| *step >= at_least * 0.999)
        .unwrap_or(10.0 * power)
}

/// One download's (or piece's) bar, with its marks inside.
fn bar(s: &mut String, g: &Geometry, span: &Bar) {
    let (x, y) = (g.x(span.start), g.bar_top(span.row, span.line));
    let failed = span.class == Class::Failed;
    // A failure is seen at a glance: never thinner than a few pixels, and edged in red all
    // along when retries and waits fill it.
    let width = match failed {
        true => drawn_width(g.x(span.end) - x).max(FAILED_MIN),
        false => drawn_width(g.x(span.end) - x),
    };
    let (class, row, h) = (span.class.as_str(), span.row, g.bar_height);
    let title = title_text(&span.title);
    if span.marks.is_empty() {
        let _ = writeln!(
            s,
            "<rect class=\"bar {class}\" data-row=\"{row}\" x=\"{x:.1}\" y=\"{y:.1}\" \
             width=\"{width:.1}\" height=\"{h:.1}\"><title>{title}</title></rect>"
        );
        return;
    }
    let _ = write!(
        s,
        "<g class=\"bar {class}\" data-row=\"{row}\"><title>{title}</title>\
         <rect class=\"{class}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{h:.1}\"/>"
    );
    for mark in &span.marks {
        let mx = g.x(mark.start);
        let mw = (g.x(mark.end) - mx).max(0.5);
        let class = mark.class.as_str();
        let _ = write!(
            s,
            "<rect class=\"mark {class}\" x=\"{mx:.1}\" y=\"{y:.1}\" width=\"{mw:.1}\" height=\"{h:.1}\"/>"
        );
    }
    if failed {
        let _ = write!(
            s,
            "<rect class=\"edge\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{h:.1}\"/>"
        );
    }
    s.push_str("</g>\n");
}

/// The legend's lines, apart.
const LEGEND_LINE: f64 = 18.0;
/// The least a failed bar is drawn wide, in pixels.
const FAILED_MIN: f64 = 3.0;

/// A bar `width` pixels long as drawn: a pixel shorter where it is long enough to spare one,
/// so bars back to back stay apart; never under a pixel, so every bar shows.
fn drawn_width(width: f64) -> f64 {
    if width >= 4.0 {
        width - 1.0
    } else {
        width.max(1.0)
    }
}

/// A title's lines, each escaped (a control byte shown as its escape), kept as lines.
fn title_text(title: &str) -> String {
    title.split('\n').map(escape).collect::<Vec<_>>().join("\n")
}

/// Merged bars: drawn as one span, titled with what they hold; one alone is drawn as itself.
fn merged(s: &mut String, g: &Geometry, merged: Merged) {
    if merged.count == 1 {
        return bar(s, g, &merged.first);
    }
    let (row, start) = (merged.first.row, merged.first.start);
    let (x, y) = (g.x(start), g.bar_top(row, merged.first.line));
    let class = merged.class();
    let least = if class == Class::Failed {
        FAILED_MIN
    } else {
        1.0
    };
    let width = (g.x(merged.end) - x).max(least);
    let _ = writeln!(
        s,
        "<rect class=\"bar merged {}\" data-row=\"{row}\" data-count=\"{}\" x=\"{x:.1}\" \
         y=\"{y:.1}\" width=\"{width:.1}\" height=\"{:.1}\"><title>{}</title></rect>",
        class.as_str(),
        merged.count,
        g.bar_height,
        escape(&merged.title())
    );
}

#[cfg(test)]
mod tests;
