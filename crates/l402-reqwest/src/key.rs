//! Token keys: which requests share a token.

use reqwest::Url;

use crate::error::L402Error;

/// Which requests share a token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyScope {
    /// One token per origin, `scheme://host:port` (the default, as lnget does). A server
    /// that sells several services on one origin then makes the middleware trade one
    /// token for another; key by path prefix for those.
    #[default]
    Origin,
    /// One token per origin and first `n` path segments: with `1`,
    /// `https://api.example.com/weather/today` and `https://api.example.com/weather/week`
    /// share the key `https://api.example.com:443/weather`, and `/maps/…` has its own.
    PathPrefix(usize),
}

impl KeyScope {
    /// The key of a URL.
    ///
    /// # Errors
    /// [`L402Error::NoHost`] if the URL has no host.
    pub fn key_for(&self, url: &Url) -> Result<String, L402Error> {
        let host = url.host_str().ok_or(L402Error::NoHost)?;
        let mut key = match url.port_or_known_default() {
            Some(port) => format!("{}://{host}:{port}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        };
        if let KeyScope::PathPrefix(n) = *self
            && let Some(segments) = url.path_segments()
        {
            for s in segments.filter(|s| !s.is_empty()).take(n) {
                key.push('/');
                key.push_str(s);
            }
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert_eq!(
            KeyScope::Origin
                .key_for(&u("https://API.example.com/a/b?x=1"))
                .unwrap(),
            "https://api.example.com:443"
        );
        assert_eq!(
            KeyScope::Origin.key_for(&u("http://[::1]:8080/")).unwrap(),
            "http://[::1]:8080"
        );
        assert_eq!(
            KeyScope::PathPrefix(1)
                .key_for(&u("http://h:1/weather/today"))
                .unwrap(),
            "http://h:1/weather"
        );
        assert_eq!(
            KeyScope::PathPrefix(2).key_for(&u("http://h:1/w")).unwrap(),
            "http://h:1/w"
        );
        assert!(matches!(
            KeyScope::Origin.key_for(&u("data:text/plain,hi")),
            Err(L402Error::NoHost)
        ));
    }
}
