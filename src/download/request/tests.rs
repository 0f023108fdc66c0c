use super::*;

/// An error that says `text`, and has no cause.
#[derive(Debug)]
struct Says(&'static str);

impl std::fmt::Display for Says {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Says {}

#[test]
fn a_proxy_asks_for_credentials_only_when_its_tunnel_says_so() {
    let asked = Says("proxy authorization required");
    assert!(proxy_asks_credentials(&[&asked]));
    // A 407 in the URL (its port, its path) is not the proxy's answer, nor is a word of it.
    for url in [
        "error sending request for url (http://no-such-host.invalid:40747/x)",
        "error sending request for url (https://h.example/407/tunnel/unsuccessful.bin)",
    ] {
        let e = Says(url);
        assert!(!proxy_asks_credentials(&[&e]), "{url}");
        assert!(
            !said(&[&e], "tunnel") && !said(&[&e], "unsuccessful"),
            "{url}"
        );
    }
    assert!(said(&[&Says("unsuccessful tunnel")], "tunnel"));
}
