use std::fs::File;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use super::CryptoError;

/// A result file that appears at its path whole or not at all.
///
/// Bytes go to a temporary file in the output's own directory (so the final
/// rename is atomic: same file system), created with mode 0600 (decrypted
/// snapshots hold secrets). [`OutputFile::commit`] renames it into place;
/// dropping it uncommitted, on any error or cancellation, deletes it.
pub struct OutputFile {
    temp: NamedTempFile,
    path: PathBuf,
}

impl OutputFile {
    /// Creates the temporary file beside `path`.
    pub fn create(path: &Path) -> Result<Self, CryptoError> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(CryptoError::NoOutputDir {
                path: path.display().to_string(),
                dir: dir.display().to_string(),
            });
        }
        if path.is_dir() {
            return Err(CryptoError::write(
                path,
                std::io::Error::other("it is a directory; give a file path as `output`"),
            ));
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".lifeboat-partial")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .tempfile_in(&dir)
            .map_err(|e| CryptoError::write(path, e))?;
        Ok(Self {
            temp,
            path: path.to_path_buf(),
        })
    }

    pub fn file(&mut self) -> &mut File {
        self.temp.as_file_mut()
    }

    /// Writes `data` at `offset`. Takes `&self`, so that both pipeline
    /// threads can write their parts of a buffer (see `decrypt.rs`).
    pub fn write_at(&self, data: &[u8], offset: u64) -> Result<(), CryptoError> {
        use std::os::unix::fs::FileExt;
        self.temp
            .as_file()
            .write_all_at(data, offset)
            .map_err(|e| CryptoError::write(&self.path, e))
    }

    /// Renames the finished file to its path, replacing what was there.
    /// The data and the rename are fsynced: the engine journals the step's
    /// success right after, and a resume must never find an empty file
    /// behind a "succeeded" record after a power loss.
    pub fn commit(self) -> Result<(), CryptoError> {
        let path = self.path;
        self.temp
            .as_file()
            .sync_all()
            .map_err(|e| CryptoError::write(&path, e))?;
        self.temp
            .persist(&path)
            .map_err(|e| CryptoError::write(&path, e.error))?;
        if let Some(dir) = path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                dir
            };
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| CryptoError::write(&path, e))?;
        }
        Ok(())
    }
}
