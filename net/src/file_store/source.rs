//! A local file to send: its safe name, size and SHA-256 (computed by
//! streaming, never by reading the whole file into memory), then its
//! content in chunks of at most `FILE_CHUNK_MAX` bytes.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use assent_proto::file_transfer::{OutgoingOffer, SafeFileName};
use assent_proto::messages::file_transfer::{TransferDirection, FILE_CHUNK_MAX};
use sha2::{Digest, Sha256};

use super::FileStoreError;

/// An open file ready to be offered and sent.
#[derive(Debug)]
pub struct SourceFile {
    path: PathBuf,
    file: File,
    name: SafeFileName,
    size: u64,
    sha256: [u8; 32],
    /// Bytes handed out by `read_chunk` so far.
    read: u64,
}

impl SourceFile {
    /// Opens `path`, refusing names the receiver would refuse and anything
    /// but a regular file (a FIFO would block, a directory is not a file),
    /// and hashes the content once.
    pub fn open(path: &Path) -> Result<Self, FileStoreError> {
        let file_name = path
            .file_name()
            .ok_or_else(|| FileStoreError::NoFileName(path.to_path_buf()))?;
        let file_name = file_name
            .to_str()
            .ok_or_else(|| FileStoreError::NameNotUnicode(path.to_path_buf()))?;
        let name =
            SafeFileName::parse(file_name).map_err(|source| FileStoreError::UnsafeSourceName {
                path: path.to_path_buf(),
                source,
            })?;
        // Checked before opening (opening a FIFO blocks) and again on the handle.
        if !fs::metadata(path)
            .map_err(FileStoreError::io(path))?
            .is_file()
        {
            return Err(FileStoreError::SourceNotAFile(path.to_path_buf()));
        }
        let mut file = File::open(path).map_err(FileStoreError::io(path))?;
        if !file.metadata().map_err(FileStoreError::io(path))?.is_file() {
            return Err(FileStoreError::SourceNotAFile(path.to_path_buf()));
        }
        let (size, sha256) = hash_stream(&mut file).map_err(FileStoreError::io(path))?;
        file.seek(SeekFrom::Start(0))
            .map_err(FileStoreError::io(path))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            name,
            size,
            sha256,
            read: 0,
        })
    }

    /// The offer for this file (the size and hash computed at open).
    pub fn offer(&self, transfer_id: u64, direction: TransferDirection) -> OutgoingOffer {
        OutgoingOffer::new(
            transfer_id,
            self.name.clone(),
            self.size,
            self.sha256,
            direction,
        )
    }

    /// The next at most `FILE_CHUNK_MAX` bytes, or `None` once `size` bytes
    /// were read. A file that shrank since `open` is `SourceChanged`; one
    /// that changed otherwise is caught by `OutgoingTransfer::complete`.
    pub fn read_chunk(&mut self) -> Result<Option<Vec<u8>>, FileStoreError> {
        let remaining = self.size - self.read;
        let len = usize::try_from(remaining).map_or(FILE_CHUNK_MAX, |r| r.min(FILE_CHUNK_MAX));
        if len == 0 {
            return Ok(None);
        }
        let mut chunk = vec![0; len];
        match self.file.read_exact(&mut chunk) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(FileStoreError::SourceChanged(self.path.clone()))
            }
            Err(e) => return Err(FileStoreError::io(&self.path)(e)),
        }
        self.read += len as u64;
        Ok(Some(chunk))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn name(&self) -> &SafeFileName {
        &self.name
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }
}

/// Size and SHA-256 of everything `reader` yields, in fixed-size steps.
fn hash_stream(reader: &mut impl Read) -> io::Result<(u64, [u8; 32])> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0; FILE_CHUNK_MAX];
    let mut size = 0u64;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                size += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((size, hasher.finalize().into()))
}
