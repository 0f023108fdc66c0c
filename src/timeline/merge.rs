//! Bars too narrow to see at the drawn width, side by side on one row: merged into one span
//! that says how many downloads it holds and how they ended.

use super::spool::{Bar, Class};
use crate::units::human_bytes;

/// Spans side by side on one row, taken together.
#[derive(Clone)]
pub struct Merged {
    /// The first of them, whole: drawn as itself if no other joins it.
    pub first: Bar,
    pub end: u64,
    pub count: u64,
    /// How many ended each way, by [`Class`].
    by_class: [u64; Class::ALL.len()],
    bytes: u64,
}

impl Merged {
    pub fn of(span: Bar) -> Merged {
        let mut by_class = [0; Class::ALL.len()];
        by_class[span.class as usize] += 1;
        Merged {
            end: span.end,
            count: 1,
            bytes: span.bytes,
            by_class,
            first: span,
        }
    }

    /// Whether `span` joins these, `x` placing times in pixels: it starts less than `width`
    /// after them, and they are not yet `width` wide.
    pub fn takes(&self, span: &Bar, x: impl Fn(u64) -> f64, width: f64) -> bool {
        let (start, end) = (x(self.first.start), x(self.end));
        end - start < width && x(span.start) - end < width
    }

    pub fn add(&mut self, span: Bar) {
        self.end = self.end.max(span.end);
        self.count += 1;
        self.by_class[span.class as usize] += 1;
        self.bytes += span.bytes;
    }

    fn counted(&self, class: Class) -> u64 {
        self.by_class[class as usize]
    }

    /// The colour of the worst that happened in them: any failure shows; else the most common.
    pub fn class(&self) -> Class {
        if self.counted(Class::Failed) > 0 {
            return Class::Failed;
        }
        Class::ALL
            .into_iter()
            .max_by_key(|c| self.counted(*c))
            .unwrap_or(Class::Ok)
    }

    /// "412 downloads from 1.20 s to 1.21 s: 410 ok, 2 failed; 1.6 MiB".
    pub fn title(&self) -> String {
        let (downloads, pieces) = (
            self.count - self.counted(Class::Piece),
            self.counted(Class::Piece),
        );
        let mut what = Vec::new();
        if downloads > 0 {
            what.push(plural(downloads, "download"));
        }
        if pieces > 0 {
            what.push(plural(pieces, "piece") + " of split downloads");
        }
        let ended = [
            Class::Ok,
            Class::Failed,
            Class::Interrupted,
            Class::Skipped,
            Class::Unchanged,
        ];
        let counts: Vec<String> = ended
            .into_iter()
            .filter(|c| self.counted(*c) > 0)
            .map(|c| format!("{} {}", self.counted(c), c.as_str()))
            .collect();
        let mut title = format!(
            "{} {}",
            what.join(" and "),
            super::span_text(self.first.start, self.end)
        );
        if !counts.is_empty() {
            title = format!(
                "{title}: {}; {}",
                counts.join(", "),
                human_bytes(self.bytes)
            );
        }
        title
    }
}

fn plural(n: u64, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(class: Class, start: u64) -> Bar {
        Bar {
            row: 0,
            line: 0,
            start,
            end: start + 4,
            class,
            bytes: 1024,
            marks: Vec::new(),
            title: String::new(),
        }
    }

    #[test]
    fn the_title_says_what_it_holds() {
        let mut m = Merged::of(span(Class::Ok, 0));
        m.add(span(Class::Ok, 10));
        m.add(span(Class::Skipped, 20));
        assert_eq!(m.class(), Class::Ok, "the most common");
        assert_eq!(
            m.title(),
            "3 downloads from 0.00 s to 0.00 s: 2 ok, 1 skipped; 3.0 KiB"
        );
        m.add(span(Class::Failed, 30));
        assert_eq!(m.class(), Class::Failed, "any failure shows");
        let mut p = Merged::of(span(Class::Piece, 0));
        p.add(span(Class::Piece, 10));
        assert_eq!(p.class(), Class::Piece);
        assert_eq!(
            p.title(),
            "2 pieces of split downloads from 0.00 s to 0.00 s"
        );
        p.add(span(Class::Ok, 20));
        assert!(
            p.title()
                .starts_with("1 download and 2 pieces of split downloads")
        );
    }

    #[test]
    fn it_takes_what_starts_close_by_until_it_is_wide_enough() {
        // Ten time units a pixel: each span is 0.4 px wide.
        let px = |t: u64| t as f64 / 10.0;
        let m = Merged::of(span(Class::Ok, 0));
        assert!(m.takes(&span(Class::Ok, 12), px, 1.0), "0.8 px after it");
        assert!(!m.takes(&span(Class::Ok, 15), px, 1.0), "1.1 px after it");
        let mut wide = m.clone();
        wide.add(span(Class::Ok, 8));
        assert_eq!(wide.end, 12);
        assert!(
            !wide.takes(&span(Class::Ok, 13), px, 1.0),
            "1.2 px wide already"
        );
    }
}
