//! Certificates from files in the data directory, for renewals that write files (certbot's
//! deploy hooks, a secrets manager's sync): `certificates/NAME.pem` (the certificate, then any
//! chain certificates) beside `certificates/NAME.key`.
//!
//! # Architecture
//! 1. Each pair is the ACM certificate `arn:aws:acm:{region}:{account}:certificate/file-NAME`,
//!    created on first sight and re-imported (the rotation path: the next handshake uses it, open
//!    connections keep theirs) whenever either file's content changes.
//! 2. [`watch_loop`] looks every [`CERTIFICATE_DIR_POLL_MS`] on the admin thread; nothing of it runs on a worker.
//!    A pair that does not parse, or whose key does not match, is logged once per change and
//!    the previous version stays in service.
//! 3. A pair whose files are removed stays imported (a domain may still use it): delete it with
//!    `DeleteCertificate` like any other.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use portico_shared::limits::{CERTIFICATE_DIR_POLL_MS, CERTIFICATE_FILE_MAX_BYTES};

use super::acm::{self, Target};
use crate::AdminState;

/// The directory under the data directory.
pub(crate) const DIR: &str = "certificates";

/// What a pair's files held when last read: a hash of both (modification times can be too
/// coarse to see a quick renewal, and sizes often stay the same).
type Stamp = u64;

/// Imports the directory's pairs now and whenever they change. Runs on the admin runtime; the
/// file reads run on its blocking pool.
pub(crate) async fn watch_loop(state: AdminState, data_dir: PathBuf) {
    let dir = data_dir.join(DIR);
    let mut seen: HashMap<String, Stamp> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(CERTIFICATE_DIR_POLL_MS));
    loop {
        tick.tick().await;
        let dir = dir.clone();
        let (changed, now_seen) =
            match tokio::task::spawn_blocking(move || changed_pairs(&dir, seen)).await {
                Ok(found) => found,
                Err(e) => {
                    // Everything is looked at again next time; unchanged pairs are not re-stored.
                    tracing::error!(error = %e, "certificate directory scan failed");
                    (Vec::new(), HashMap::new())
                }
            };
        seen = now_seen;
        for (name, path, read) in changed {
            import(&state, &name, &path, read).await;
        }
    }
}

/// What a changed pair held: (certificate, chain, key), or why it could not be read.
type Read = Result<(String, Option<String>, String), String>;

/// A changed pair: its name, its `.pem` path and what it held.
type Changed = (String, PathBuf, Read);

/// The pairs in `dir` that are new or changed since `seen`, read; and the new `seen`.
fn changed_pairs(
    dir: &Path,
    mut seen: HashMap<String, Stamp>,
) -> (Vec<Changed>, HashMap<String, Stamp>) {
    let mut changed = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (changed, seen);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = pair_name(&path) else {
            continue;
        };
        let key_path = path.with_extension("key");
        if !key_path.is_file() {
            continue;
        }
        let read = read_small(&path).and_then(|pem| Ok((pem, read_small(&key_path)?)));
        let now = match &read {
            Ok((pem, key)) => {
                let mut h = std::hash::DefaultHasher::new();
                (pem, key).hash(&mut h);
                h.finish()
            }
            // Unreadable now: logged once, looked at again when it reads differently.
            Err(why) => {
                let mut h = std::hash::DefaultHasher::new();
                why.hash(&mut h);
                h.finish()
            }
        };
        if seen.get(name) == Some(&now) {
            continue;
        }
        seen.insert(name.to_string(), now);
        let read = read.map(|(pem, key)| {
            let (certificate, chain) = split_chain(&pem);
            (certificate, chain, key)
        });
        changed.push((name.to_string(), path, read));
    }
    (changed, seen)
}

/// Imports one changed pair as `file-{name}`, unless the store already holds it as it is.
async fn import(state: &AdminState, name: &str, path: &Path, read: Read) {
    let arn = acm::arn(&format!("file-{name}"));
    let (certificate, chain, key) = match read {
        Ok(pair) => pair,
        Err(why) => {
            tracing::warn!(
                %arn,
                file = %path.display(),
                error = %why,
                "certificate file unreadable; the previous version stays in service"
            );
            return;
        }
    };
    if stored_is(state, &arn, &certificate, chain.as_deref(), &key).await {
        // Unchanged since it was stored (a restart): nothing to publish.
        return;
    }
    match acm::put(state, Target::Upsert(arn.clone()), certificate, chain, key).await {
        Ok(_) => tracing::info!(%arn, file = %path.display(), "certificate file imported"),
        Err(e) => tracing::warn!(
            %arn,
            file = %path.display(),
            error = e.message(),
            "certificate file refused; the previous version stays in service"
        ),
    }
}

/// Whether `arn` already holds exactly this certificate, chain and key.
async fn stored_is(
    state: &AdminState,
    arn: &str,
    certificate: &str,
    chain: Option<&str>,
    key: &str,
) -> bool {
    state
        .read(|c| {
            Ok(c.domains.certs.get(arn).is_some_and(|r| {
                r.certificate_pem == certificate
                    && r.chain_pem.as_deref() == chain
                    && r.private_key_pem == key
            }))
        })
        .await
        .unwrap_or(false)
}

/// `NAME` of `.../NAME.pem`, when NAME is a plain name (letters, digits, `.`, `_`, `-`).
fn pair_name(path: &Path) -> Option<&str> {
    if path.extension()? != "pem" {
        return None;
    }
    let name = path.file_stem()?.to_str()?;
    let plain = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    plain.then_some(name)
}

fn read_small(path: &Path) -> Result<String, String> {
    let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if len > CERTIFICATE_FILE_MAX_BYTES {
        return Err(format!("larger than {CERTIFICATE_FILE_MAX_BYTES} bytes"));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| "not PEM text".to_string())
}

/// Splits a PEM bundle after its first certificate: (leaf, chain).
fn split_chain(pem: &str) -> (String, Option<String>) {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    let second = pem.find(BEGIN).and_then(|first| {
        pem[first + BEGIN.len()..]
            .find(BEGIN)
            .map(|i| first + BEGIN.len() + i)
    });
    match second {
        Some(at) => (pem[..at].to_string(), Some(pem[at..].to_string())),
        None => (pem.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_bundles() {
        assert_eq!(
            pair_name(Path::new("/d/api.example.pem")),
            Some("api.example")
        );
        assert_eq!(pair_name(Path::new("/d/api.key")), None);
        assert_eq!(pair_name(Path::new("/d/a b.pem")), None);
        assert_eq!(pair_name(Path::new("/d/.pem")), None);
        let leaf = "-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n";
        let ca = "-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----\n";
        assert_eq!(split_chain(leaf), (leaf.to_string(), None));
        assert_eq!(
            split_chain(&format!("{leaf}{ca}")),
            (leaf.to_string(), Some(ca.to_string()))
        );
    }
}
