//! The store's file I/O, behind a trait small enough to simulate: a folder of named files
//! that are read and written at offsets and flushed one by one. [`Folder`] is the real one;
//! tests also run the engine on a simulated disk that loses what was not flushed at a crash.

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::Error;

/// A folder of files.
pub trait Disk: Send + Sync + fmt::Debug {
    /// The names of the files in the folder.
    fn list(&self) -> io::Result<Vec<String>>;
    /// An existing file, for reading and writing.
    fn open(&self, name: &str) -> io::Result<Arc<dyn DiskFile>>;
    /// A new, empty file; its name survives a crash once this returns.
    fn create(&self, name: &str) -> io::Result<Arc<dyn DiskFile>>;
    /// Removes a file; gone for good once this returns.
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Where a file is, for messages to the operator.
    fn path(&self, name: &str) -> String;
}

/// One file. What is written survives a crash only once [`DiskFile::sync`] returns.
pub trait DiskFile: Send + Sync + fmt::Debug {
    /// Fills `buf` from `offset`; an error if the file ends first.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Makes everything written so far durable (`fdatasync`).
    fn sync(&self) -> io::Result<()>;
    fn size(&self) -> io::Result<u64>;
    fn set_len(&self, len: u64) -> io::Result<()>;
}

/// A folder on the real disk, held by this process alone: the lock is taken when it is
/// opened and let go when the process ends, however it ends.
#[derive(Debug)]
pub struct Folder {
    dir: PathBuf,
    _lock: File,
}

impl Folder {
    pub fn open(dir: &Path) -> Result<Folder, Error> {
        let at =
            |e: io::Error| Error::Io(io::Error::new(e.kind(), format!("{}: {e}", dir.display())));
        std::fs::create_dir_all(dir).map_err(at)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))
            .map_err(at)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(Error::Locked(format!(
                    "{} is in use by another maillage process; stop it first, or give this one a data folder of its own",
                    dir.display()
                )));
            }
            Err(TryLockError::Error(e)) => return Err(at(e)),
        }
        Ok(Folder {
            dir: dir.to_owned(),
            _lock: lock,
        })
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }
}

impl Disk for Folder {
    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            if let Some(name) = entry?.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }

    fn open(&self, name: &str) -> io::Result<Arc<dyn DiskFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.dir.join(name))?;
        Ok(Arc::new(file))
    }

    fn create(&self, name: &str) -> io::Result<Arc<dyn DiskFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(self.dir.join(name))?;
        self.sync_dir()?;
        Ok(Arc::new(file))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        std::fs::remove_file(self.dir.join(name))?;
        self.sync_dir()
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl DiskFile for File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.read_exact_at(buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.write_all_at(buf, offset)
    }

    fn sync(&self) -> io::Result<()> {
        self.sync_data()
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
}

#[cfg(any(test, feature = "sim"))]
pub mod sim;
