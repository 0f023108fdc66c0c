//! The picture drawn from spans: merging, size, escaping, the axis.

use super::*;

fn span(row: u32, start: u64, end: u64, class: Class) -> Bar {
    Bar {
        row,
        line: 0,
        start,
        end,
        class,
        bytes: 10,
        marks: Vec::new(),
        title: format!("row {row} at {start}"),
    }
}

fn frame(rows: usize, axis: u64, spans: u64) -> Frame {
    Frame {
        rows: (1..=rows).map(|i| format!("worker-{i}")).collect(),
        lines: 1,
        axis,
        heading: vec!["fetchpool: a test".into()],
        spans,
        present: Class::ALL.to_vec(),
    }
}

fn drawn(frame: &Frame, spans: Vec<Bar>) -> String {
    let mut out = Vec::new();
    draw(&mut out, frame, spans.into_iter().map(Ok)).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn round_steps() {
    assert_eq!(nice_step(0.13), 0.2);
    assert_eq!(nice_step(1.0), 1.0);
    assert_eq!(nice_step(3.1), 5.0);
    assert_eq!(nice_step(0.05), 0.05);
    assert_eq!(nice_step(70.0), 100.0);
}

/// 10 s over 1,080 px: a pixel is about 9.3 ms. Bars of 1 ms, back to back, are merged into
/// spans about a pixel wide; a wide bar between them is drawn as itself.
#[test]
fn bars_narrower_than_a_pixel_are_merged_per_row() {
    let mut spans = Vec::new();
    for i in 0..1000u64 {
        spans.push(span(0, i * 1000, i * 1000 + 900, Class::Ok));
        spans.push(span(1, i * 1000, i * 1000 + 900, Class::Skipped));
    }
    spans.push(span(0, 2_000_000, 3_000_000, Class::Failed));
    let svg = drawn(&frame(2, 10_000_000, spans.len() as u64), spans);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let bars: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class").is_some_and(|c| c.starts_with("bar")))
        .collect();
    let merged: Vec<_> = bars
        .iter()
        .filter(|n| n.attribute("class").unwrap().contains("merged"))
        .collect();
    let held: u64 = merged
        .iter()
        .map(|n| n.attribute("data-count").unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(held, 2000, "every download in one merged span");
    // 1 s of 1 ms bars per row is about 108 px: a span per pixel or so.
    assert!((150..=250).contains(&merged.len()), "{}", merged.len());
    let title = merged[0]
        .children()
        .find(|c| c.has_tag_name("title"))
        .unwrap();
    assert!(
        title
            .text()
            .unwrap()
            .starts_with("10 downloads from 0.00 s"),
        "{:?}",
        title.text()
    );
    let wide: Vec<_> = bars
        .iter()
        .filter(|n| n.attribute("class") == Some("bar failed"))
        .collect();
    assert_eq!(wide.len(), 1, "the wide bar is drawn as itself");
    assert!(svg.contains("row 0 at 2000000"));
}

#[test]
fn a_merged_span_with_a_failure_shows_it() {
    let spans = vec![
        span(0, 0, 100, Class::Ok),
        span(0, 100, 200, Class::Failed),
        span(0, 200, 300, Class::Ok),
    ];
    let svg = drawn(&frame(1, 10_000_000, 3), spans);
    assert!(svg.contains("class=\"bar merged failed\""), "{svg}");
    assert!(svg.contains("3 downloads from 0.00 s to 0.00 s: 2 ok, 1 failed"));
}

/// More bars than the picture can hold one by one, each wide enough to be drawn (2.4 px, on 64
/// rows): past BARS_MAX the merge width grows, so about that many are drawn, and every download
/// is still counted.
#[test]
fn a_crowded_run_is_drawn_in_a_bounded_number_of_bars() {
    let rows = 64u32;
    let per_row = 400u64;
    let spans: Vec<Bar> = (0..per_row)
        .flat_map(|i| (0..rows).map(move |r| span(r, i * 10_000, i * 10_000 + 9_000, Class::Ok)))
        .collect();
    let total = spans.len() as u64;
    let svg = drawn(&frame(rows as usize, per_row * 10_000, total), spans);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let bars: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class").is_some_and(|c| c.starts_with("bar ")))
        .collect();
    let counted: u64 = bars
        .iter()
        .map(|n| {
            n.attribute("data-count")
                .map_or(1, |c| c.parse::<u64>().unwrap())
        })
        .sum();
    assert_eq!(counted, total);
    assert!(bars.len() as f64 <= BARS_MAX, "{} bars", bars.len());
    assert!(
        bars.len() > 1000,
        "still a picture of the run: {} bars",
        bars.len()
    );
    assert!(svg.len() < 3 << 20, "{} bytes", svg.len());
}

#[test]
fn titles_and_names_are_escaped() {
    let mut s = span(0, 0, 5_000_000, Class::Ok);
    s.title = "http://h/<a>&\u{1b}[31m\n→ out/x".into();
    let mut f = frame(1, 10_000_000, 1);
    f.rows = vec!["<w>".into()];
    let svg = drawn(&f, vec![s]);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let title = doc
        .descendants()
        .find(|n| n.has_tag_name("title") && n.parent().unwrap().has_tag_name("rect"))
        .unwrap();
    assert_eq!(title.text(), Some("http://h/<a>&\\x1b[31m\n→ out/x"));
    assert!(svg.contains("&lt;w&gt;"));
}

#[test]
fn downloads_in_flight_together_on_one_worker_get_a_line_each() {
    let mut frame = frame(2, 1_000_000, 3);
    frame.lines = 3;
    let at = |line: u32| Bar {
        line,
        ..span(1, 0, 900_000, Class::Ok)
    };
    let svg = drawn(&frame, vec![at(0), at(1), at(2)]);
    let ys: Vec<f64> = svg
        .lines()
        .filter(|l| l.contains("class=\"bar ok\""))
        .map(|l| {
            let y = l.split(" y=\"").nth(1).unwrap();
            y.split('"').next().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(ys.len(), 3, "{svg}");
    assert!(
        ys[0] < ys[1] && ys[1] < ys[2],
        "one above the other, none hidden: {ys:?}"
    );
}
