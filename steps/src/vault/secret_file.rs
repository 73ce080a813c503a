//! Files that hold secrets (unseal keys, root tokens) or secret-derived
//! data (export manifests): mode 0600 from the first byte, fsynced.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::StepError;

/// A secret output file reserved before the server is asked for anything.
///
/// `vault.init` and `vault.rotate_keys` produce keys exactly once: if the
/// file cannot be written afterwards, the keys are lost. So a temporary file
/// next to the target is created first (exclusively, mode 0600): a failure
/// to create it stops the step before the server is touched. The answer is
/// then written to it, fsynced, linked to the final name (which never
/// overwrites, so a reader sees either no file or the whole file, never an
/// empty or half-written one, even after a SIGKILL) and the directory is
/// fsynced. If the step fails first, the temporary file is removed on drop.
pub struct SecretFile {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<File>,
}

impl SecretFile {
    /// Reserves `path`: refuses if it exists, and creates the temporary
    /// file it will be written through.
    pub fn reserve(path: &Path) -> Result<Self, StepError> {
        if std::fs::symlink_metadata(path).is_ok() {
            return Err(already_exists(path));
        }
        let dir = parent_dir(path);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.partial-{}-{nanos}", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| StepError::new(format!("cannot create `{}`: {e}", path.display())))?;
        Ok(Self {
            path: path.to_path_buf(),
            tmp,
            file: Some(file),
        })
    }

    /// The name the file gets when it is committed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` (see [`json_bytes`] and [`sealed_if_asked`]),
    /// fsyncs it, gives it its final name (never replacing an existing file)
    /// and fsyncs the directory.
    pub fn commit(mut self, contents: &[u8]) -> Result<PathBuf, StepError> {
        let mut file = self.file.take().expect("commit is called once");
        let result = file
            .write_all(contents)
            .and_then(|_| file.sync_all())
            .and_then(|_| std::fs::hard_link(&self.tmp, &self.path));
        let _ = std::fs::remove_file(&self.tmp);
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(already_exists(&self.path))
            }
            Err(e) => {
                return Err(StepError::new(format!(
                    "writing `{}` failed: {e}",
                    self.path.display()
                )))
            }
        }
        sync_dir(parent_dir(&self.path)).map_err(|e| {
            StepError::new(format!(
                "`{}` was written but its directory could not be fsynced: {e}",
                self.path.display()
            ))
        })?;
        Ok(std::mem::take(&mut self.path))
    }
}

/// A key file's JSON as it is written: pretty, with a final newline.
pub fn json_bytes(value: &Value) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(value).expect("a JSON value serialises");
    text.push(b'\n');
    text
}

/// `plain` sealed to the run's recipients when the run has some
/// ([`crate::StepContext::file_sealer`]), else `plain` itself. `Err` when
/// sealing failed: the caller must not write the plaintext instead.
pub fn sealed_if_asked(plain: Vec<u8>, ctx: &crate::StepContext) -> Result<Vec<u8>, String> {
    match &ctx.file_sealer {
        Some(sealer) => sealer.seal(&plain),
        None => Ok(plain),
    }
}

fn already_exists(path: &Path) -> StepError {
    StepError::new(format!(
        "`{}` already exists; refusing to overwrite a file that may hold the only copy of earlier keys. Move it away or choose another `output_file`",
        path.display()
    ))
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes a rename or link in `dir` durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl SecretFile {
    /// Commits, and if that fails, never loses the keys: they are written to
    /// a fresh 0600 file in the run's work directory instead, with a loud
    /// warning; if even that fails, the step still succeeds with the keys in
    /// its secret outputs (in memory for the rest of the run) and says so.
    /// Returning an error here would throw away the only copy of keys the
    /// server has already switched to.
    /// The fallback file gets the same `contents`: sealed if they are.
    pub fn commit_or_fallback(self, contents: &[u8], ctx: &crate::StepContext) -> Option<PathBuf> {
        let wanted = self.path.clone();
        let first_error = match self.commit(contents) {
            Ok(path) => return Some(path),
            Err(e) => e.message,
        };
        let fallback = ctx.work_dir.join(format!(
            "{}-keys-{}.json",
            ctx.step_id,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or_default()
        ));
        let written = SecretFile::reserve(&fallback).and_then(|f| f.commit(contents));
        match written {
            Ok(path) => {
                ctx.progress.warn(
                    &ctx.step_id,
                    &format!(
                        "could not write `{}` ({first_error}); the keys were saved to `{}` (mode 0600) instead — move them somewhere safe now",
                        wanted.display(),
                        path.display()
                    ),
                );
                Some(path)
            }
            Err(e) => {
                ctx.progress.warn(
                    &ctx.step_id,
                    &format!(
                        "could not write `{}` ({first_error}) nor a fallback file ({}); the keys exist only in this run's memory as the step's secret outputs — save them before this run ends",
                        wanted.display(),
                        e.message
                    ),
                );
                None
            }
        }
    }
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory
/// and a rename, mode 0600, so a reader never sees half a file. The
/// temporary file has a random name and is created exclusively
/// ([`crate::private_file::temp_beside`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StepError> {
    let mut file = AtomicFile::create(path)?;
    file.write(bytes)?;
    file.commit()
}

/// A file written piece by piece and moved into place whole: the pieces go
/// to a temporary file beside `path` (random name, created exclusively,
/// 0600, [`crate::private_file::temp_beside`]), which [`AtomicFile::commit`]
/// fsyncs and renames to `path`. Dropped before the commit, it is removed:
/// a reader sees the old file or the whole new one, never a part.
pub struct AtomicFile {
    path: PathBuf,
    temp: std::io::BufWriter<tempfile::NamedTempFile>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<Self, StepError> {
        let temp = crate::private_file::temp_beside(path).map_err(|e| Self::failed(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            temp: std::io::BufWriter::with_capacity(64 << 10, temp),
        })
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<(), StepError> {
        self.temp
            .write_all(bytes)
            .map_err(|e| Self::failed(&self.path, e))
    }

    /// Flushes, fsyncs and renames the file to its name, then fsyncs the
    /// directory.
    pub fn commit(self) -> Result<(), StepError> {
        let path = self.path;
        let result = (|| {
            let temp = self.temp.into_inner().map_err(|e| e.into_error())?;
            temp.as_file().sync_all()?;
            temp.persist(&path).map_err(|e| e.error)?;
            sync_dir(parent_dir(&path))
        })();
        result.map_err(|e| Self::failed(&path, e))
    }

    fn failed(path: &Path, e: std::io::Error) -> StepError {
        StepError::new(format!("writing `{}` failed: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn reserve_refuses_to_overwrite_and_an_uncommitted_file_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let reserved = SecretFile::reserve(&path).unwrap();
        assert!(!path.exists(), "the final name appears only when complete");
        drop(reserved);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "an uncommitted reservation leaves nothing behind"
        );
        let first = SecretFile::reserve(&path).unwrap();
        let second = SecretFile::reserve(&path).unwrap();
        let kept = first
            .commit(&json_bytes(&serde_json::json!({"k": 1})))
            .unwrap();
        let mode = std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            std::fs::read_to_string(&kept).unwrap().trim(),
            "{\n  \"k\": 1\n}"
        );
        // A race to the same name never overwrites the first file.
        let err = second
            .commit(&json_bytes(&serde_json::json!({"k": 2})))
            .err()
            .unwrap();
        assert!(err.message.contains("already exists"), "{}", err.message);
        let err = SecretFile::reserve(&path).err().unwrap();
        assert!(err.message.contains("already exists"), "{}", err.message);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn write_atomic_does_not_follow_a_planted_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        // The name the temporary file used to have.
        let planted = dir
            .path()
            .join(format!(".export.json.partial-{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let target = dir.path().join("export.json");
        write_atomic(&target, b"{}").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        let meta = std::fs::symlink_metadata(&target).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "{}");
    }

    #[test]
    fn sha256_of_empty_input() {
        assert_eq!(
            crate::checksum::sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
