//! A simulated disk for crash tests. Each file keeps what was flushed apart from what was
//! written since. The machine can be switched off after a given number of operations (every
//! call after that fails, as if the power went in the middle of it); a crash then keeps a
//! random subset of the unflushed writes, in order, tearing the last one kept, and may flip
//! one bit in flushed data. Also behind the `sim` feature, for the fuzz targets.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};

use super::{Disk, DiskFile};

#[derive(Clone, Debug)]
enum Write {
    Bytes { offset: u64, bytes: Vec<u8> },
    Len(u64),
}

impl Write {
    fn apply(&self, to: &mut Vec<u8>) {
        match self {
            Write::Bytes { offset, bytes } => {
                let (start, end) = (*offset as usize, *offset as usize + bytes.len());
                if to.len() < end {
                    to.resize(end, 0);
                }
                to[start..end].copy_from_slice(bytes);
            }
            Write::Len(len) => to.resize(*len as usize, 0),
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Content {
    synced: Vec<u8>,
    now: Vec<u8>,
    unsynced: Vec<Write>,
}

#[derive(Debug, Default)]
struct World {
    files: BTreeMap<String, Content>,
    /// Operations left before the power goes.
    power: Option<u64>,
}

impl World {
    fn step(&mut self) -> io::Result<()> {
        match &mut self.power {
            Some(0) => Err(io::Error::other("the simulated machine lost power")),
            Some(left) => {
                *left -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn content(&mut self, name: &str) -> io::Result<&mut Content> {
        self.files
            .get_mut(name)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no file {name}")))
    }
}

/// What a crash did beside losing unflushed writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flip {
    pub file: String,
    pub offset: usize,
}

#[derive(Clone, Debug, Default)]
pub struct SimDisk {
    world: Arc<Mutex<World>>,
}

impl SimDisk {
    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world
            .lock()
            .expect("the simulation never panics holding it")
    }

    /// A disk holding these files, flushed.
    pub fn with_files(files: impl IntoIterator<Item = (String, Vec<u8>)>) -> SimDisk {
        let disk = SimDisk::default();
        disk.world().files = files
            .into_iter()
            .map(|(name, bytes)| {
                let content = Content {
                    synced: bytes.clone(),
                    now: bytes,
                    unsynced: vec![],
                };
                (name, content)
            })
            .collect();
        disk
    }

    /// Lets `n` more operations through, then fails every one.
    pub fn power_off_after(&self, n: u64) {
        self.world().power = Some(n);
    }

    /// The disk as the machine finds it when it starts again.
    pub fn crash(&self, rng: &mut fastrand::Rng, flip: bool) -> (SimDisk, Option<Flip>) {
        let world = self.world();
        let mut files = BTreeMap::new();
        for (name, content) in &world.files {
            let mut bytes = content.synced.clone();
            let kept: Vec<&Write> = content.unsynced.iter().filter(|_| rng.bool()).collect();
            for (i, write) in kept.iter().enumerate() {
                match write {
                    Write::Bytes { offset, bytes: b } if i + 1 == kept.len() => {
                        let torn = rng.usize(..=b.len());
                        Write::Bytes {
                            offset: *offset,
                            bytes: b[..torn].to_vec(),
                        }
                        .apply(&mut bytes);
                    }
                    _ => write.apply(&mut bytes),
                }
            }
            files.insert(
                name.clone(),
                Content {
                    synced: bytes.clone(),
                    now: bytes,
                    unsynced: vec![],
                },
            );
        }
        let mut flipped = None;
        if flip {
            let candidates: Vec<(&String, usize)> = world
                .files
                .iter()
                .map(|(name, c)| (name, c.synced.len()))
                .filter(|(_, len)| *len > 0)
                .collect();
            if !candidates.is_empty() {
                let (name, len) = candidates[rng.usize(..candidates.len())];
                let offset = rng.usize(..len);
                let content = files.get_mut(name).expect("listed just above");
                let bit = 1 << rng.u8(..8);
                content.synced[offset] ^= bit;
                content.now[offset] ^= bit;
                flipped = Some(Flip {
                    file: name.clone(),
                    offset,
                });
            }
        }
        let disk = SimDisk::default();
        disk.world().files = files;
        (disk, flipped)
    }
}

impl Disk for SimDisk {
    fn list(&self) -> io::Result<Vec<String>> {
        let mut world = self.world();
        world.step()?;
        Ok(world.files.keys().cloned().collect())
    }

    fn open(&self, name: &str) -> io::Result<Arc<dyn DiskFile>> {
        let mut world = self.world();
        world.step()?;
        world.content(name)?;
        Ok(Arc::new(SimFile {
            disk: self.clone(),
            name: name.to_owned(),
        }))
    }

    fn create(&self, name: &str) -> io::Result<Arc<dyn DiskFile>> {
        let mut world = self.world();
        world.step()?;
        if world.files.contains_key(name) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, name));
        }
        world.files.insert(name.to_owned(), Content::default());
        Ok(Arc::new(SimFile {
            disk: self.clone(),
            name: name.to_owned(),
        }))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let mut world = self.world();
        world.step()?;
        world.files.remove(name);
        Ok(())
    }

    fn path(&self, name: &str) -> String {
        format!("sim/{name}")
    }
}

#[derive(Debug)]
struct SimFile {
    disk: SimDisk,
    name: String,
}

impl SimFile {
    fn with<T>(&self, f: impl FnOnce(&mut Content) -> io::Result<T>) -> io::Result<T> {
        let mut world = self.disk.world();
        world.step()?;
        f(world.content(&self.name)?)
    }

    fn write(&self, write: Write) -> io::Result<()> {
        self.with(|c| {
            write.apply(&mut c.now);
            c.unsynced.push(write);
            Ok(())
        })
    }
}

impl DiskFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.with(|c| {
            let start = offset as usize;
            let bytes = c
                .now
                .get(start..start + buf.len())
                .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
            buf.copy_from_slice(bytes);
            Ok(())
        })
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.write(Write::Bytes {
            offset,
            bytes: buf.to_vec(),
        })
    }

    fn sync(&self) -> io::Result<()> {
        self.with(|c| {
            c.synced = c.now.clone();
            c.unsynced.clear();
            Ok(())
        })
    }

    fn size(&self) -> io::Result<u64> {
        self.with(|c| Ok(c.now.len() as u64))
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.write(Write::Len(len))
    }
}
