//! A function's code: `Code.ZipFile` (base64 of a zip) checked and unpacked into the data
//! directory, `functions/{name}/{revision}/`, the way Lambda unpacks it into `/var/task`.
//!
//! Invariants: nothing is written outside the revision directory (entries with `..`, absolute
//! paths or links are refused); the unpacked size is bounded by
//! `LAMBDA_CODE_UNZIPPED_MAX_BYTES`, counted on the bytes really written (a zip that lies about
//! its sizes cannot fill the disk); Unix permission bits are kept (`bootstrap` must stay
//! executable). Blocking: call from `spawn_blocking`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use portico_shared::limits::{LAMBDA_CODE_ENTRIES_MAX, LAMBDA_CODE_UNZIPPED_MAX_BYTES};
use sha2::{Digest, Sha256};

use super::LambdaError;

/// Code that was decoded and unpacked.
#[derive(Debug)]
pub(crate) struct Unpacked {
    /// The revision directory (complete once this exists).
    pub(crate) dir: PathBuf,
    /// The zip's size, bytes (`CodeSize`).
    pub(crate) zip_bytes: u64,
    /// Base64 of the zip's SHA-256 (`CodeSha256`).
    pub(crate) sha256: String,
    /// The zip itself, kept by a cluster store for the other nodes (`Change::PutCode`).
    pub(crate) zip: std::sync::Arc<[u8]>,
}

/// AWS's message for a zip it cannot read.
const BAD_ZIP: &str =
    "Could not unzip uploaded file. Please check your file, then try to upload again.";

/// Decodes `zip_b64` and unpacks it into `root/{revision}` (created; must not exist).
pub(crate) fn unpack(root: &Path, revision: &str, zip_b64: &str) -> Result<Unpacked, LambdaError> {
    let zip = base64::engine::general_purpose::STANDARD
        .decode(zip_b64.trim())
        .map_err(|_| {
            LambdaError::InvalidParameter("Could not decode ZipFile: invalid base64".into())
        })?;
    unpack_zip(root, revision, zip)
}

/// Unpacks `zip` into `root/{revision}` (created; must not exist): an upload, or a revision
/// another node of the cluster stored.
pub(crate) fn unpack_zip(
    root: &Path,
    revision: &str,
    zip: Vec<u8>,
) -> Result<Unpacked, LambdaError> {
    let sha256 = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&zip));
    let dir = root.join(revision);
    let staging = root.join(format!(".{revision}.tmp"));
    std::fs::create_dir_all(&staging).map_err(io)?;
    match extract(&zip, &staging) {
        Ok(()) => {}
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    }
    std::fs::rename(&staging, &dir).map_err(io)?;
    Ok(Unpacked {
        dir,
        zip_bytes: zip.len() as u64,
        sha256,
        zip: zip.into(),
    })
}

/// Removes a revision directory (or a function's whole directory); absent is fine.
pub(crate) fn remove(dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(dir = %dir.display(), error = %e, "could not remove function code");
        }
    }
}

fn extract(zip: &[u8], into: &Path) -> Result<(), LambdaError> {
    fn bad<E>(_: E) -> LambdaError {
        LambdaError::InvalidParameter(BAD_ZIP.into())
    }
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).map_err(bad)?;
    if archive.len() > LAMBDA_CODE_ENTRIES_MAX {
        return Err(LambdaError::InvalidParameter(format!(
            "Unzipped code has more than {LAMBDA_CODE_ENTRIES_MAX} entries"
        )));
    }
    let mut budget = LAMBDA_CODE_UNZIPPED_MAX_BYTES;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(bad)?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(LambdaError::InvalidParameter(format!(
                "Zip entry {:?} points outside the code directory",
                entry.name()
            )));
        };
        if entry.is_symlink() {
            return Err(LambdaError::InvalidParameter(format!(
                "Zip entry {:?} is a symbolic link (not supported)",
                entry.name()
            )));
        }
        let path = into.join(rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&path).map_err(io)?;
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut out = std::fs::File::create(&path).map_err(io)?;
        loop {
            let n = entry.read(&mut buf).map_err(bad)?;
            if n == 0 {
                break;
            }
            budget = budget.checked_sub(n as u64).ok_or_else(|| {
                LambdaError::InvalidParameter(format!(
                    "Unzipped size must be smaller than {LAMBDA_CODE_UNZIPPED_MAX_BYTES} bytes"
                ))
            })?;
            out.write_all(&buf[..n]).map_err(io)?;
        }
        // Keep the rwx bits only (no setuid/setgid from an uploaded zip), and always let the
        // owner read and write; a zip without Unix modes keeps the default permissions.
        if let Some(mode) = entry.unix_mode().filter(|m| m & 0o777 != 0) {
            use std::os::unix::fs::PermissionsExt;
            let mode = (mode & 0o777) | 0o600;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(io)?;
        }
    }
    Ok(())
}

fn io(e: std::io::Error) -> LambdaError {
    LambdaError::Service(format!("function code: {e}"))
}
