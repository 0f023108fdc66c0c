//! Text from outside (a list line, a file name, a URL, a server's answer) made safe to show: the
//! characters a terminal or a CI log acts on instead of showing (C0 and C1 controls, DEL) and the
//! ones that reorder or break what surrounds them (bidirectional overrides, line and paragraph
//! separators), and the invisible ones that make two different names look the same (zero-width
//! spaces and joiners, the word joiner, the byte-order mark), are written as escapes, so nothing
//! a list or a server says can move a cursor, change colours or a window title, forge a line of
//! the log, turn text around, or pass for something it is not.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is shown as an escape rather than as itself.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{2028}' | '\u{2029}' | '\u{2060}'
                | '\u{FEFF}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with every unsafe character escaped: `\t`, `\n`, `\r`, `\x1b` for the ASCII ones,
/// `\u{9b}` for the others. Borrowed when there is nothing to escape, as almost always.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if is_unsafe(c) && (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A line of JSON with the unsafe characters its strings may still hold raw (a JSON writer
/// escapes only the C0 controls) written as `\uXXXX` escapes: the same value to a JSON reader,
/// and nothing for a terminal that shows the line to act on.
pub fn json_printable(line: String) -> String {
    if !line.chars().any(is_unsafe) {
        return line;
    }
    let mut out = String::with_capacity(line.len() + 12);
    for c in line.chars() {
        if is_unsafe(c) {
            // Outside strings a JSON writer puts no such character, so each is in a string.
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// Text as XML 1.0 allows it in content and attribute values, and as a person reads it in every
/// report: controls and text-reordering characters shown as their escapes (`\x1b`), markup
/// escaped, and the two non-characters XML cannot hold at all replaced.
pub fn xml(text: &str) -> String {
    let text = printable(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\u{FFFE}' | '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `line`, whose fields are joined by `"; "`, in lines of at most `width` columns, broken only
/// between fields (a continuation is indented by two spaces); a field longer than a line keeps a
/// line of its own rather than be cut.
pub fn fit_fields(line: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    let mut fields = line.split("; ").peekable();
    while let Some(field) = fields.next() {
        // A line that is not the last ends in ';' where it breaks: room for it too.
        let semicolon = usize::from(fields.peek().is_some());
        let joined = current.chars().count() + "; ".len() + field.chars().count() + semicolon;
        if current.is_empty() {
            current.push_str(field);
        } else if joined <= width {
            current.push_str("; ");
            current.push_str(field);
        } else {
            current.push(';');
            lines.push(std::mem::take(&mut current));
            current.push_str("  ");
            current.push_str(field);
        }
    }
    lines.push(current);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_reorderings_are_escaped_and_the_rest_is_kept() {
        assert!(matches!(printable("plain é 日本"), Cow::Borrowed(_)));
        assert_eq!(
            printable("a\u{1b}[31mb\u{1b}]0;t\u{7}c"),
            "a\\x1b[31mb\\x1b]0;t\\x07c"
        );
        assert_eq!(printable("x\u{9b}2Jy\u{7f}"), "x\\u{9b}2Jy\\x7f");
        assert_eq!(printable("tab\there\nnext\r"), "tab\\there\\nnext\\r");
        assert_eq!(printable("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(printable("a\u{2028}b"), "a\\u{2028}b");
        // Invisible: two names that look the same are told apart.
        assert_eq!(
            printable("\u{feff}a\u{200b}b\u{200c}c\u{200d}d\u{2060}e"),
            "\\u{feff}a\\u{200b}b\\u{200c}c\\u{200d}d\\u{2060}e"
        );
    }

    #[test]
    fn json_stays_the_same_value() {
        let line = serde_json::json!({"url": "a\u{1b}b\u{9b}c\u{202e}d\u{7f}"}).to_string();
        let safe = json_printable(line.clone());
        assert!(!safe.chars().any(is_unsafe), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(&line).unwrap()
        );
    }
}
