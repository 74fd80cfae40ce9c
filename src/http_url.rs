//! An http(s) URL as the configuration and the command line take it (`master`, `agent`, the
//! FleetLock server): parsed, http or https, with a host. Its own module so that `config` and
//! `fleet` both use it without importing each other.

use url::Url;

pub fn parse_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s.trim()).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "unsupported scheme '{}' (use http or https)",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("URL has no host".into());
    }
    Ok(url)
}
