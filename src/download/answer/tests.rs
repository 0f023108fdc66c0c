//! One test for each row of the table, in its order, and the Content-Range reader.

use reqwest::header::{CONTENT_RANGE, DATE, ETAG, HeaderMap, LAST_MODIFIED};

use super::*;

const D1: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
const D2: &str = "Mon, 07 Nov 1994 08:49:37 GMT";
/// When every answer here was sent: a day after D2, so both dates are strong.
const NOW: &str = "Tue, 08 Nov 1994 08:49:37 GMT";

/// An answer with this status, Content-Range, ETag, Last-Modified and Content-Length.
fn heard(
    status: u16,
    range: Option<&str>,
    etag: Option<&str>,
    date: Option<&str>,
    len: Option<u64>,
) -> Heard {
    let mut headers = HeaderMap::new();
    if let Some(range) = range {
        headers.insert(CONTENT_RANGE, range.parse().unwrap());
    }
    if let Some(etag) = etag {
        headers.insert(ETAG, etag.parse().unwrap());
    }
    if let Some(date) = date {
        headers.insert(LAST_MODIFIED, date.parse().unwrap());
    }
    headers.insert(DATE, NOW.parse().unwrap());
    Heard::of(StatusCode::from_u16(status).unwrap(), &headers, len)
}

/// The pin of a 100-byte file first answered with this ETag and date.
fn pin(etag: Option<&str>, date: Option<&str>) -> Pin {
    let first = heard(200, None, etag, date, Some(100));
    Pin {
        stamp: first.stamp,
        len: Some(100),
    }
}

fn whole() -> Asked {
    Asked {
        from: None,
        revalidating: false,
    }
}

fn rest_from(from: u64) -> Asked {
    Asked {
        from: Some(from),
        revalidating: false,
    }
}

fn pinned(pin: &Pin) -> Holding<'_> {
    Holding {
        pin: Some(pin),
        digest: false,
    }
}

const NOTHING: Holding = Holding {
    pin: None,
    digest: false,
};

fn refused_as(meaning: Result<Meaning, Fault>) -> &'static str {
    match meaning {
        Ok(Meaning::Refused(Refusal::Changed(_))) => "changed",
        Ok(Meaning::Refused(Refusal::Unproven(_))) => "unproven",
        Ok(Meaning::Refused(Refusal::OtherBytes(_))) => "other bytes",
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn row_1_a_304_to_a_revalidation_is_unchanged() {
    let asked = Asked {
        from: None,
        revalidating: true,
    };
    let h = heard(304, None, None, None, None);
    assert_eq!(meaning(&h, asked, NOTHING), Ok(Meaning::Unchanged));
    // Not asked to revalidate, a 304 is just not a success.
    assert_eq!(meaning(&h, whole(), NOTHING), Err(Fault::Status));
}

#[test]
fn row_2_a_status_that_is_not_2xx_fails() {
    let p = pin(Some("\"a\""), None);
    for status in [301, 404, 429, 500, 503] {
        let h = heard(status, None, Some("\"a\""), None, Some(10));
        assert_eq!(meaning(&h, whole(), NOTHING), Err(Fault::Status));
        assert_eq!(meaning(&h, rest_from(40), pinned(&p)), Err(Fault::Status));
    }
    // 416 to a request for the whole file is no answer to a range.
    let h = heard(416, Some("bytes */0"), None, None, None);
    assert_eq!(meaning(&h, whole(), NOTHING), Err(Fault::Status));
}

#[test]
fn row_3_a_206_nobody_asked_for_fails() {
    let h = heard(206, Some("bytes 0-9/100"), None, None, Some(10));
    assert_eq!(meaning(&h, whole(), NOTHING), Err(Fault::Unasked));
}

#[test]
fn row_4_a_2xx_to_a_request_for_the_whole_file_is_the_file() {
    for status in [200, 203] {
        let h = heard(status, None, Some("\"b\""), None, Some(100));
        let expected = Meaning::Whole {
            len: Some(100),
            changed: None,
        };
        assert_eq!(meaning(&h, whole(), NOTHING), Ok(expected));
    }
}

#[test]
fn row_5_a_200_to_a_range_request_is_the_whole_file_of_whichever_version() {
    let p = pin(Some("\"a\""), Some(D1));
    let same = heard(200, None, Some("\"a\""), Some(D1), Some(100));
    let unknown = heard(200, None, None, None, None);
    let etag = heard(200, None, Some("\"b\""), Some(D1), Some(100));
    let date = heard(200, None, None, Some(D2), Some(100));
    let length = heard(200, None, None, None, Some(101));
    for (h, changed) in [(same, false), (unknown, false), (etag, true), (date, true)]
        .into_iter()
        .chain([(length, true)])
    {
        match meaning(&h, rest_from(40), pinned(&p)) {
            Ok(Meaning::Whole { changed: c, .. }) => assert_eq!(c.is_some(), changed, "{h:?}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn row_6_a_416_that_says_the_held_bytes_are_the_file_completes_them() {
    let p = pin(Some("\"a\""), None);
    let h = heard(416, Some("bytes */100"), None, None, None);
    assert_eq!(
        meaning(&h, rest_from(100), pinned(&p)),
        Ok(Meaning::Complete)
    );
    // With nothing pinned (a digest vouches for the bytes), the total is all it can say.
    let digest = Holding {
        pin: None,
        digest: true,
    };
    assert_eq!(meaning(&h, rest_from(100), digest), Ok(Meaning::Complete));
}

#[test]
fn row_7_any_other_416_is_a_change() {
    let p = pin(Some("\"a\""), None);
    for (range, from, etag) in [
        (Some("bytes */100"), 60, None), // the file is longer than what is held
        (Some("bytes */60"), 60, None),  // as long as held, but not the pinned length
        (None, 100, None),               // does not say how long
        (Some("bytes */100"), 100, Some("\"b\"")), // whole, but another version
    ] {
        let h = heard(416, range, etag, None, None);
        assert_eq!(
            refused_as(meaning(&h, rest_from(from), pinned(&p))),
            "changed"
        );
    }
}

#[test]
fn row_8_a_206_that_does_not_say_which_bytes_is_refused() {
    let p = pin(Some("\"a\""), None);
    for range in [
        None,
        Some("bytes */100"),
        Some("bytes 40-99/*"),
        Some("bytes 40-/100"),
    ] {
        let h = heard(206, range, Some("\"a\""), None, Some(60));
        let m = meaning(&h, rest_from(40), pinned(&p));
        assert_eq!(refused_as(m), "other bytes", "{range:?}");
    }
}

#[test]
fn row_9_a_206_of_another_version_or_length_is_a_change() {
    let p = pin(Some("\"a\""), Some(D1));
    for h in [
        heard(
            206,
            Some("bytes 40-99/100"),
            Some("\"b\""),
            Some(D1),
            Some(60),
        ),
        heard(
            206,
            Some("bytes 40-99/100"),
            Some("\"a\""),
            Some(D2),
            Some(60),
        ),
        heard(
            206,
            Some("bytes 40-100/101"),
            Some("\"a\""),
            Some(D1),
            Some(61),
        ),
    ] {
        assert_eq!(
            refused_as(meaning(&h, rest_from(40), pinned(&p))),
            "changed"
        );
    }
    // Even where a digest would decide: a change named is a change.
    let digest = Holding {
        pin: Some(&p),
        digest: true,
    };
    let h = heard(206, Some("bytes 40-99/100"), Some("\"b\""), None, Some(60));
    assert_eq!(refused_as(meaning(&h, rest_from(40), digest)), "changed");
}

#[test]
fn row_10_a_206_that_names_no_validator_of_the_pin_proves_nothing() {
    let by_etag = pin(Some("\"a\""), None);
    let by_date = pin(None, Some(D1));
    let silent = heard(206, Some("bytes 40-99/100"), None, None, Some(60));
    let weak_etag = heard(
        206,
        Some("bytes 40-99/100"),
        Some("W/\"a\""),
        None,
        Some(60),
    );
    let other_kind = heard(206, Some("bytes 40-99/100"), None, Some(D1), Some(60));
    for (p, h) in [
        (&by_etag, &silent),
        (&by_date, &silent),
        (&by_etag, &other_kind),
        (&by_date, &weak_etag),
    ] {
        assert_eq!(refused_as(meaning(h, rest_from(40), pinned(p))), "unproven");
    }
    // Nothing held that could tell, and no digest: no proof either.
    assert_eq!(
        refused_as(meaning(&silent, rest_from(40), NOTHING)),
        "unproven"
    );
}

#[test]
fn row_11_a_206_of_other_bytes_is_refused() {
    let p = pin(Some("\"a\""), None);
    for range in [
        "bytes 41-99/100",
        "bytes 39-99/100",
        "bytes 40-100/100",
        "bytes 50-40/100",
    ] {
        let h = heard(206, Some(range), Some("\"a\""), None, None);
        let m = meaning(&h, rest_from(40), pinned(&p));
        assert_eq!(refused_as(m), "other bytes", "{range}");
    }
}

#[test]
fn row_12_a_206_whose_length_is_not_its_range_fails() {
    let p = pin(Some("\"a\""), None);
    let h = heard(206, Some("bytes 40-99/100"), Some("\"a\""), None, Some(61));
    assert_eq!(meaning(&h, rest_from(40), pinned(&p)), Err(Fault::Length));
}

#[test]
fn row_13_a_206_of_the_pinned_version_is_written_where_asked() {
    let expected = Ok(Meaning::Rest {
        from: 40,
        end: 100,
        total: 100,
    });
    let by_etag = pin(Some("\"a\""), Some(D1));
    let by_date = pin(Some("W/\"a\""), Some(D1));
    let etag_only = heard(206, Some("bytes 40-99/100"), Some("\"a\""), None, Some(60));
    let date_only = heard(206, Some("bytes 40-99/100"), None, Some(D1), Some(60));
    assert_eq!(
        meaning(&etag_only, rest_from(40), pinned(&by_etag)),
        expected
    );
    assert_eq!(
        meaning(&date_only, rest_from(40), pinned(&by_etag)),
        expected
    );
    assert_eq!(
        meaning(&date_only, rest_from(40), pinned(&by_date)),
        expected
    );
    // Shorter than asked is still the right bytes: the rest comes later.
    let short = heard(206, Some("bytes 40-59/100"), Some("\"a\""), None, None);
    let m = meaning(&short, rest_from(40), pinned(&by_etag));
    assert_eq!(
        m,
        Ok(Meaning::Rest {
            from: 40,
            end: 60,
            total: 100
        })
    );
    // Unproven, but a digest will check the whole file before it is placed.
    let silent = heard(206, Some("bytes 40-99/100"), None, None, Some(60));
    for pin in [Some(&by_etag), None] {
        let digest = Holding { pin, digest: true };
        assert_eq!(meaning(&silent, rest_from(40), digest), expected);
    }
}

#[test]
fn a_weak_date_proves_nothing() {
    // Last-Modified in the same second as the answer: two versions may share it.
    let mut first = heard(200, None, None, None, Some(100));
    first.stamp.modified = httpdate::parse_http_date(D1).ok();
    first.stamp.strong_date = false;
    let p = Pin {
        stamp: first.stamp,
        len: Some(100),
    };
    assert_eq!(p.if_range(), None);
    let same_date = heard(206, Some("bytes 40-99/100"), None, Some(D1), Some(60));
    assert_eq!(
        refused_as(meaning(&same_date, rest_from(40), pinned(&p))),
        "unproven"
    );
}

#[test]
fn content_ranges() {
    let r = parse_content_range("bytes 100-199/200").unwrap();
    assert_eq!((r.start, r.end, r.total), (100, Some(199), Some(200)));
    let r = parse_content_range("bytes */1234").unwrap();
    assert_eq!((r.end, r.total), (None, Some(1234)));
    let r = parse_content_range("bytes 0-9/*").unwrap();
    assert_eq!((r.start, r.end, r.total), (0, Some(9), None));
    for bad in [
        "bytes 5-/10",
        "items 0-1/2",
        "bytes x-1/2",
        "bytes +1-2/3",
        "bytes 0-1/99999999999999999999999",
        "",
    ] {
        assert!(parse_content_range(bad).is_none(), "{bad}");
    }
}

proptest::proptest! {
    #[test]
    fn any_content_range_is_read_or_refused_without_a_panic(
        text in crate::hostile::text(),
        bytes in crate::hostile::bytes(),
    ) {
        for input in [&text, &bytes] {
            if let Some(r) = parse_content_range(input) {
                proptest::prop_assert!(r.end.is_some() || r.start == u64::MAX);
            }
        }
    }
}

#[test]
fn a_megabyte_of_content_range_is_read_in_linear_time() {
    crate::hostile::a_megabyte_within_a_second(&["bytes 1-2/3"], |text| {
        let _ = parse_content_range(text);
    });
}
