//! Where the node is, and the HTTP client's fixed settings.

use std::time::Duration;

use reqwest::Url;

/// Why a node URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The URL does not parse, or cannot be a base for API paths.
    #[error("{0}")]
    Invalid(String),
    /// The scheme is neither `https` nor `http`.
    #[error("unsupported url scheme {0:?} (want https or http)")]
    UnsupportedScheme(String),
}

/// Parses a node's base URL: `https` or `http` with a host; a trailing slash is added to
/// the path (so API paths join below it) and any query or fragment is dropped. Also says
/// whether it is `https`.
///
/// # Errors
/// [`UrlError`] for a URL that does not parse, has no host, or another scheme.
pub fn base_url(url: &str) -> Result<(Url, bool), UrlError> {
    let mut base = Url::parse(url).map_err(|e| UrlError::Invalid(e.to_string()))?;
    if base.cannot_be_a_base() || base.host_str().is_none() {
        return Err(UrlError::Invalid("not a base url".to_owned()));
    }
    let https = match base.scheme() {
        "https" => true,
        "http" => false,
        other => return Err(UrlError::UnsupportedScheme(other.to_owned())),
    };
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base.set_query(None);
    base.set_fragment(None);
    Ok((base, https))
}

/// A client builder with the settings every node backend uses: the connect timeout, no
/// redirects (a credential must never follow one to another host), and `user_agent`.
pub fn client_builder(
    user_agent: &'static str,
    connect_timeout: Duration,
) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(user_agent)
}

/// Whether the URL's host is `localhost` or a loopback address.
#[must_use]
pub fn is_loopback(base: &Url) -> bool {
    let host = base.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Logs a warning when `base` is plain HTTP to a host other than this machine: the
/// `credential` (a macaroon, a rune) would cross the network unencrypted.
pub fn warn_if_plaintext(base: &Url, node: &str, credential: &str) {
    if base.scheme() == "http" && !is_loopback(base) {
        tracing::warn!(
            url = %base,
            "{node} over plain http: the {credential} travels unencrypted"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_base_urls() {
        for (input, expected, https) in [
            ("https://n:8080", "https://n:8080/", true),
            ("https://n:8080/rest", "https://n:8080/rest/", true),
            (
                "http://127.0.0.1:3010/?a=b#c",
                "http://127.0.0.1:3010/",
                false,
            ),
        ] {
            let (url, is_https) = base_url(input).unwrap();
            assert_eq!(url.as_str(), expected);
            assert_eq!(is_https, https);
        }
        assert!(matches!(base_url("not a url"), Err(UrlError::Invalid(_))));
        assert!(matches!(base_url("mailto:a@b"), Err(UrlError::Invalid(_))));
        assert_eq!(
            base_url("ftp://n/"),
            Err(UrlError::UnsupportedScheme("ftp".to_owned()))
        );
    }

    #[test]
    fn knows_loopback_hosts() {
        for (url, loopback) in [
            ("http://localhost:1/", true),
            ("http://127.0.0.1:1/", true),
            ("http://[::1]:1/", true),
            ("http://10.0.0.1:1/", false),
            ("http://node.example/", false),
        ] {
            assert_eq!(is_loopback(&Url::parse(url).unwrap()), loopback, "{url}");
        }
    }
}
