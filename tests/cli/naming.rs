//! Names: hostile URLs and `out=` values never escape the output directory; collisions
//! get `-2`, `-3` in list order.

use crate::support::server::{Reply, Server};
use crate::support::{TestEnv, assert_has};

#[test]
fn hostile_names_stay_inside_the_output_directory() {
    let env = TestEnv::nested();
    let server = Server::start(|req| Reply::ok(format!("from {}", req.target)));
    let long = "n".repeat(300);
    let urls = [
        server.url("/a%2Fb"),
        server.url("/x/..%2F..%2F..%2Fescape"),
        server.url("/x/%2E%2E/%2E%2E/up"),
        server.url("/%2Fetc%2Fpasswd"),
        server.url("/ctl%0A%0Dname%1B"),
        server.url("/back%5Cslash"),
        server.url(&format!("/{long}.txt")),
        server.url("/"),
        server.url("/q?file=../../evil"),
        format!("{} out=/tmp/abs-escape", server.url("/abs")),
        format!("{} out=../up-escape", server.url("/up")),
        format!("{} out=sub/../../up2", server.url("/up2")),
    ];
    let report = env.fetch(&urls, &[]);
    assert_eq!(report.code, 1, "the three bad out= lines fail");
    let report = report.report;
    assert_eq!(report.len(), 12);
    assert_has(&report[9], "absolute paths are not allowed");
    assert_has(&report[10], "'..' is not allowed");
    assert_has(&report[11], "'..' is not allowed");

    let got = env.out_files();
    let long_name = format!("{}.txt", "n".repeat(246));
    let mut want = vec![
        "a_b".to_string(),
        ".._.._.._escape".to_string(),
        "up".to_string(),
        "_etc_passwd".to_string(),
        "ctl__name_".to_string(),
        "back_slash".to_string(),
        long_name.clone(),
        "index.html".to_string(),
        "q".to_string(),
    ];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(long_name.len(), 250);
    // Nothing anywhere else: the work dir holds only the list and out/, its parent only work/.
    assert_eq!(crate::support::files_below(env.root()).len(), 10);
    assert!(!std::path::Path::new("/tmp/abs-escape").exists());
}

#[test]
fn collisions_get_suffixes_in_list_order() {
    let env = TestEnv::new().handle(|req| Reply::ok(format!("from {}", req.target)));
    let mut urls = env.urls(&["/one/report.pdf", "/two/report.pdf"]);
    urls.push(format!("{} out=report.pdf", env.url("/three")));
    urls.extend(env.urls(&["/a/data.tar.gz", "/b/data.tar.gz"]));
    env.list(&urls);
    // Twice, to show the same list always gives the same names.
    for round in 0..2 {
        let out_dir = format!("out{round}");
        assert_eq!(env.exec(&["urls.txt", "-j", "5", "-o", &out_dir]).code, 0);
        let read = |name: &str| env.text(format!("{out_dir}/{name}"));
        assert_eq!(read("report.pdf"), "from /one/report.pdf");
        assert_eq!(read("report-2.pdf"), "from /two/report.pdf");
        assert_eq!(read("report-3.pdf"), "from /three");
        assert_eq!(read("data.tar.gz"), "from /a/data.tar.gz");
        assert_eq!(read("data-2.tar.gz"), "from /b/data.tar.gz");
    }
}
