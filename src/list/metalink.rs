//! A Metalink 4 file (RFC 5854, `.meta4`) as a list: each `<file>` is an entry, its `name` the
//! target (made safe as an `out=` is), its `<size>` and `<hash>`es what the file is checked
//! against, and its `<url>`s the URL and mirrors, in priority order. A `<file>` that cannot be
//! an entry is a bad line at its place; a document that is not Metalink 4 XML cannot be read
//! at all. DTDs are refused (and with them any entity a file could bring in).

use reqwest::Url;

use super::parse::parse_url;
use crate::entry::{Algo, Options, parse_hex};

/// Metalink 4's XML namespace.
const NS: &str = "urn:ietf:params:xml:ns:metalink";
/// Where a `<url>` without a priority goes: after every one with (RFC 5854 4.2.16.1).
const LOWEST: u32 = 1_000_000;

/// One `<file>` of a Metalink file.
pub struct File {
    /// The line its element starts on.
    pub line: usize,
    /// How it is shown when it is not an entry: its first URL, or its name.
    pub shown: String,
    /// What a list line would say: its URL and options, or why it cannot be an entry.
    pub parsed: Result<(Url, Options), String>,
}

/// Whether `head`, the start of a list file, is a Metalink 4 document.
pub fn sniff(head: &[u8]) -> bool {
    let head = String::from_utf8_lossy(head);
    head.contains("<metalink") && head.contains(NS)
}

/// Every `<file>` of the Metalink 4 document `text`, in document order; `Err` when it is not
/// one (not XML, a DTD, or another root).
pub fn read(text: &str) -> Result<Vec<File>, String> {
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("not Metalink 4 XML: {e}"))?;
    let root = doc.root_element();
    if !root.has_tag_name((NS, "metalink")) {
        return Err(format!(
            "the document is not Metalink 4 (its root is <{}>, not <metalink xmlns=\"{NS}\">)",
            root.tag_name().name()
        ));
    }
    // Lines are counted on from one <file> to the next (they come in document order): asking
    // the document for each one's position counts from its start, every time.
    let mut counted = (0, 1);
    Ok(root
        .children()
        .filter(|n| n.has_tag_name((NS, "file")))
        .map(|file| {
            let start = file.range().start;
            let (from, line) = counted;
            let line = line
                + text.as_bytes()[from..start]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count();
            counted = (start, line);
            let urls = urls(file);
            let shown = match (urls.first(), file.attribute("name")) {
                (Some(url), _) => url.to_string(),
                (None, Some(name)) => format!("<file name=\"{name}\">"),
                (None, None) => "<file>".to_string(),
            };
            let parsed = entry(file, urls);
            File {
                line,
                shown,
                parsed,
            }
        })
        .collect())
}

/// The http(s) URLs of a `<file>`, as text, in priority order (1 first; the order of the
/// document among equals).
fn urls<'a>(file: roxmltree::Node<'a, 'a>) -> Vec<&'a str> {
    let mut urls: Vec<(u32, &str)> = file
        .children()
        .filter(|n| n.has_tag_name((NS, "url")))
        .filter_map(|n| {
            let priority = n.attribute("priority").and_then(|p| p.trim().parse().ok());
            Some((priority.unwrap_or(LOWEST), n.text()?.trim()))
        })
        .collect();
    urls.sort_by_key(|&(priority, _)| priority);
    urls.into_iter().map(|(_, url)| url).collect()
}

/// What a `<file>` says, as a list line's URL and options would.
fn entry(file: roxmltree::Node, urls: Vec<&str>) -> Result<(Url, Options), String> {
    let name = file
        .attribute("name")
        .ok_or("a <file> without a name attribute")?;
    let mut options = Options {
        out: Some(name.to_string()),
        ..Options::default()
    };
    for node in file
        .children()
        .filter(|n| n.is_element() && n.tag_name().namespace() == Some(NS))
    {
        let text = node.text().unwrap_or_default().trim();
        match node.tag_name().name() {
            "size" => {
                let size = text
                    .parse()
                    .map_err(|_| format!("<size>{text}</size> is not a byte count"))?;
                options.size = Some(size);
            }
            "hash" => {
                let kind = node.attribute("type").unwrap_or_default();
                // Other hashes are not checked.
                let Some(algo) = Algo::from_iana(kind) else {
                    continue;
                };
                let digest = parse_hex(algo, text).ok_or_else(|| {
                    format!(
                        "<hash type=\"{kind}\"> must be {} hex digits",
                        2 * algo.len()
                    )
                })?;
                options
                    .digests
                    .add(algo, digest)
                    .map_err(|_| format!("two different <hash type=\"{kind}\">"))?;
            }
            _ => {}
        }
    }
    // Only http and https are fetched; an ftp or bittorrent one is passed over.
    let mut usable = urls.into_iter().filter_map(|url| parse_url(url).ok());
    let url = usable
        .next()
        .ok_or("no <url> of this <file> is an http or https URL")?;
    options.mirrors = usable.collect();
    Ok((url, options))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::to_hex;

    const SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn meta4(files: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metalink xmlns=\"{NS}\">\n\
             <published>2026-11-27T00:00:00Z</published>\n{files}</metalink>\n"
        )
    }

    #[test]
    fn files_with_their_names_sizes_hashes_and_urls_by_priority() {
        let text = meta4(&format!(
            "  <file name=\"iso/os.iso\">\n    <size>3</size>\n\
             <hash type=\"sha-256\">{SHA256}</hash>\n    <hash type=\"sha-384\">ab</hash>\n\
             <url priority=\"2\">https://b.example/os.iso</url>\n\
             <url>ftp://c.example/os.iso</url>\n\
             <url priority=\"1\" location=\"de\">https://a.example/os.iso</url>\n\
             <url>http://d.example/os.iso</url>\n  </file>\n"
        ));
        assert!(sniff(text.as_bytes()));
        let files = read(&text).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].line, 4);
        let (url, options) = files[0].parsed.as_ref().unwrap();
        assert_eq!(url.as_str(), "https://a.example/os.iso");
        let mirrors: Vec<&str> = options.mirrors.iter().map(Url::as_str).collect();
        assert_eq!(
            mirrors,
            ["https://b.example/os.iso", "http://d.example/os.iso"]
        );
        assert_eq!(options.out.as_deref(), Some("iso/os.iso"));
        assert_eq!(options.size, Some(3));
        assert_eq!(
            options.digests.get(Algo::Sha256).map(to_hex).as_deref(),
            Some(SHA256)
        );
    }

    #[test]
    fn a_bad_file_is_bad_alone_and_a_document_that_is_not_metalink_is_refused() {
        let text = meta4(
            "<file name=\"a\"><url>https://e.com/a</url></file>\n\
             <file name=\"b\"><size>big</size><url>https://e.com/b</url></file>\n\
             <file><url>https://e.com/c</url></file>\n\
             <file name=\"d\"><url>ftp://e.com/d</url></file>\n\
             <file name=\"e\"><hash type=\"md5\">zz</hash><url>https://e.com/e</url></file>\n",
        );
        let files = read(&text).unwrap();
        let errors: Vec<String> = files
            .iter()
            .map(|f| f.parsed.as_ref().err().cloned().unwrap_or_default())
            .collect();
        assert_eq!(errors[0], "");
        assert!(errors[1].contains("<size>big</size> is not a byte count"));
        assert!(errors[2].contains("without a name"));
        assert!(errors[3].contains("no <url>"));
        assert!(errors[4].contains("must be 32 hex digits"));
        assert_eq!(files[3].shown, "ftp://e.com/d");
        for bad in [
            "not xml".to_string(),
            "<metalink><file name=\"a\"/></metalink>".to_string(),
            format!("<!DOCTYPE m [<!ENTITY x \"y\">]><metalink xmlns=\"{NS}\"/>"),
        ] {
            assert!(read(&bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_read_or_refused_without_a_panic(
            text in crate::hostile::text(),
            bytes in crate::hostile::bytes(),
        ) {
            let _ = read(&text);
            let _ = read(&bytes);
            let doc = format!(
                "<metalink xmlns=\"{NS}\"><file name=\"{0}\"><size>{0}</size>\
                 <hash type=\"{0}\">{0}</hash><url priority=\"{0}\">{0}</url></file></metalink>",
                text.replace(['<', '&', '"'], "")
            );
            let _ = read(&doc);
        }
    }

    #[test]
    fn a_megabyte_of_metalink_is_read_in_linear_time() {
        let file = "<file name=\"a\"><size>1</size><url>http://h/a</url></file>\n";
        crate::hostile::a_megabyte_within_a_second(&[file], |text| {
            let _ = read(text);
            let doc = format!("<metalink xmlns=\"{NS}\">\n{text}</metalink>");
            let _ = read(&doc);
        });
    }
}
