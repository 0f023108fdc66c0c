//! Tests of `parse`.

use super::*;
use crate::entry::to_hex;

const HASH: &str = "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b";

fn line(text: &str) -> Result<(Url, Options), String> {
    entry(text, &[]).map_err(|(_, reason)| reason)
}

/// `parse_entry`'s answer as a pair either way: the URL and options, or the option line
/// that is wrong and why.
fn entry(
    text: &str,
    options: &[(usize, String, String)],
) -> Result<(Url, Options), (Option<usize>, String)> {
    parse_entry(text, options)
        .map(|p| (p.url, p.options))
        .map_err(|i| (i.line, i.reason))
}

#[test]
fn options() {
    let (url, opts) = line(&format!(
        "https://e.com/get?id=7\tout=sub/b.bin  size=1048576 sha256={HASH}"
    ))
    .unwrap();
    assert_eq!(url.as_str(), "https://e.com/get?id=7");
    assert_eq!(opts.out.as_deref(), Some("sub/b.bin"));
    assert_eq!(opts.size, Some(1_048_576));
    assert_eq!(to_hex(opts.digests.get(Algo::Sha256).unwrap()), HASH);
    assert!(line(&format!("https://e.com/x sha256={}", HASH.to_uppercase())).is_ok());
}

#[test]
fn every_digest_and_mirrors() {
    let md5 = &HASH[..32];
    let sha1 = &HASH[..40];
    let sha512 = HASH.repeat(2);
    let (_, opts) = line(&format!(
        "https://a.example/f.iso md5={md5} sha1={sha1} sha512={sha512} blake2b={sha512} \
         mirror=https://b.example/f.iso mirror=http://c.example:8080/pub/f.iso"
    ))
    .unwrap();
    let algos: Vec<Algo> = opts.digests.iter().map(|(a, _)| a).collect();
    assert_eq!(algos, [Algo::Md5, Algo::Sha1, Algo::Sha512, Algo::Blake2b]);
    assert_eq!(to_hex(opts.digests.get(Algo::Sha1).unwrap()), sha1);
    let mirrors: Vec<&str> = opts.mirrors.iter().map(|m| m.as_str()).collect();
    assert_eq!(
        mirrors,
        ["https://b.example/f.iso", "http://c.example:8080/pub/f.iso"]
    );
    for (bad, why) in [
        (
            format!("https://a/x md5={HASH}"),
            "md5= must be 32 hex digits",
        ),
        (format!("https://a/x md5={md5} md5={md5}"), "given twice"),
        (
            "https://a/x mirror=ftp://b/x".to_string(),
            "mirror=: unsupported scheme",
        ),
        (
            "https://a/x mirror=".to_string(),
            "mirror=: not a valid URL",
        ),
        (
            "https://a/x crc32=00000000".to_string(),
            "unknown option 'crc32'",
        ),
    ] {
        let err = line(&bad).unwrap_err();
        assert!(err.contains(why), "{bad}: {err}");
    }
}

#[test]
fn lines_of_aria2s_input_format() {
    assert_eq!(kind("  # note"), Line::Skip);
    assert_eq!(kind("\t"), Line::Skip);
    assert_eq!(
        kind("  header=Authorization: Bearer x"),
        Line::Option {
            key: "header",
            value: "Authorization: Bearer x"
        }
    );
    assert_eq!(kind(" https://e.com/a"), Line::Item("https://e.com/a"));
    assert_eq!(kind("https://e.com/?a=b"), Line::Item("https://e.com/?a=b"));
    // URLs separated by TAB are one file; its option lines follow.
    let options = [
        (2, "dir".to_string(), "iso".to_string()),
        (3, "out".to_string(), "os.iso".to_string()),
        (4, "checksum".to_string(), format!("sha-256={HASH}")),
        (5, "header".to_string(), "X-Token: a b c".to_string()),
    ];
    let (url, opts) = entry("https://a.example/x.iso\thttps://b.example/x.iso", &options).unwrap();
    assert_eq!(url.as_str(), "https://a.example/x.iso");
    assert_eq!(opts.mirrors[0].as_str(), "https://b.example/x.iso");
    assert_eq!(opts.out.as_deref(), Some("iso/os.iso"));
    assert!(opts.digests.get(Algo::Sha256).is_some());
    assert_eq!(opts.headers, [("X-Token".to_string(), "a b c".to_string())]);
    // dir= alone goes in front of the URL's name.
    let dir = [(2, "dir".to_string(), "data/".to_string())];
    let (_, opts) = entry("https://a.example/p/x.bin", &dir).unwrap();
    assert_eq!(opts.out.as_deref(), Some("data/x.bin"));
    // An option fetchpool does not have, that changes what is fetched, fails the entry,
    // naming it and its line.
    let unknown = [(7, "http-passwd".to_string(), "x".to_string())];
    let (at, err) = entry("https://a.example/x", &unknown).unwrap_err();
    assert_eq!(at, Some(7));
    assert!(err.starts_with("unknown option 'http-passwd'"), "{err}");
    let bad = [(2, "checksum".to_string(), format!("sha-384={HASH}"))];
    let (at, err) = entry("https://a/x", &bad).unwrap_err();
    assert_eq!(at, Some(2));
    assert!(err.contains("checksum=sha-384"), "{err}");
    let secret = [(2, "header".to_string(), "Bearer s3cret".to_string())];
    let (_, err) = entry("https://a/x", &secret).unwrap_err();
    assert!(!err.contains("s3cret"), "{err}");
}

#[test]
fn aria2_options_as_people_write_them() {
    let lines = |pairs: &[(&str, &str)]| -> Vec<(usize, String, String)> {
        (2..)
            .zip(pairs)
            .map(|(n, (k, v))| (n, k.to_string(), v.to_string()))
            .collect()
    };
    let given = lines(&[
        ("split", "4"),
        ("max-connection-per-server", "4"),
        ("min-split-size", "1M"),
        ("referer", "https://e.com/page"),
        ("user-agent", "Mozilla/5.0 (X11)"),
        ("max-connection-per-server", "8"),
    ]);
    let parsed = parse_entry("https://a.example/x.iso", &given).unwrap();
    assert_eq!(parsed.options.split, Some(4));
    assert_eq!(
        parsed.options.headers,
        [
            ("Referer".to_string(), "https://e.com/page".to_string()),
            ("User-Agent".to_string(), "Mozilla/5.0 (X11)".to_string())
        ]
    );
    assert_eq!(
        parsed.ignored,
        [
            "max-connection-per-server",
            "min-split-size",
            "max-connection-per-server"
        ]
    );
    // On the URL line too.
    let (_, opts) = line("https://a/x split=2 timeout=30").unwrap();
    assert_eq!(opts.split, Some(2));
    for (key, value, why) in [
        ("split", "0", "split=0 is not a count from 1 to 64"),
        ("split", "many", "split=many is not a count"),
        ("split", "65", "from 1 to 64"),
        ("referer", "a\u{7}b", "holds"),
        ("user-agent", "x", "given twice"),
        ("all-proxy", "http://p:3128", "unknown option 'all-proxy'"),
        ("select-file", "1", "unknown option 'select-file'"),
    ] {
        let mut given = lines(&[(key, value)]);
        if key == "user-agent" {
            given.push((9, key.to_string(), value.to_string()));
        }
        let (_, err) = entry("https://a/x", &given).unwrap_err();
        assert!(err.contains(why), "{key}={value}: {err}");
    }
}

#[test]
fn a_header_s_value_cut_off_on_the_url_line_is_never_shown() {
    for text in [
        "https://a/x header=X-Api-Key: s3cret",
        "https://a/x header=Authorization: Bearer s3cret",
        "https://a/x header=Authorization:Bearer s3cret",
        "https://a/x header=X-Token: k=s3cret",
        "https://a/x header=X-Token: s3cret:more",
    ] {
        let err = line(text).unwrap_err();
        assert!(
            err.contains("header=X-") || err.contains("header=Auth"),
            "{err}"
        );
        assert!(
            !err.contains("s3cret") && !err.contains("Bearer"),
            "{text}: {err}"
        );
    }
    let err = line("https://a/x Authorization: Bearer").unwrap_err();
    assert!(
        err.starts_with("'Authorization:...' is not an option"),
        "{err}"
    );
    let err = line("https://a/x tok:s3cret").unwrap_err();
    assert!(!err.contains("s3cret"), "{err}");
    // Written whole, it is a header.
    let (_, opts) = line("https://a/x header=X-Api-Key:s3cret").unwrap();
    assert_eq!(
        opts.headers,
        [("X-Api-Key".to_string(), "s3cret".to_string())]
    );
}
