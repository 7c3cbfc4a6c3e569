//! Maillage search: full-text and faceted search over the records a node holds, on a
//! Tantivy index in `<data_dir>/search`.
//!
//! The index is derived: a thread follows the store's change log and commits what it
//! read, with the change position it covers, a few times a second, so a write is
//! acknowledged without waiting for it and is searchable within a second. Opened without a
//! usable index (missing, damaged, of another format, or ahead of the store), it is built
//! again from the store, with a progress line in the log. Its segments are files mapped
//! from disk: the node's memory does not grow with what it holds.
//!
//! Layout:
//! - [`query`]: a search as readers ask it, its checks and bounds, its Tantivy query;
//! - [`schema`]: the index's fields, analysers and the document a record becomes;
//! - `collect`: one pass that gives the page, the total and the facet counts.

mod collect;
pub mod query;
pub mod schema;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use maillage_core::body::Body;
use maillage_core::{Address, Author, Kind};
use maillage_store::{Store, Stored};
use roaring::RoaringBitmap;
use tantivy::tokenizer::TokenizerManager;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

pub use collect::{Hits, MAX_FACET_VALUES};
pub use query::{Cursor, Facet, Query, Sort};
use schema::Fields;

/// The index format: an index written in another is built again.
const FORMAT: &str = "maillage-search-2";
/// How often the indexer looks for changes.
const POLL: Duration = Duration::from_millis(200);
/// Changes read from the store at once.
pub const BATCH: usize = 2_000;
/// Documents indexed between commits while catching up.
const COMMIT_EVERY: u64 = 100_000;
/// The indexer's memory for documents not yet written to a segment.
const WRITER_BYTES: usize = 32 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The search was asked wrongly: the reader can fix it.
    #[error("{0}")]
    Query(String),
    #[error("search index: {0}")]
    Index(String),
    #[error(transparent)]
    Store(#[from] maillage_store::Error),
}

impl From<tantivy::TantivyError> for Error {
    fn from(e: tantivy::TantivyError) -> Error {
        Error::Index(e.to_string())
    }
}

/// A page of results.
#[derive(Debug)]
pub struct Results {
    pub items: Vec<Stored>,
    /// How many records match, on every page.
    pub total: u64,
    pub facets: Vec<(Facet, Vec<(String, u64)>)>,
    /// Where the next page starts, if there is one.
    pub next: Option<Cursor>,
}

/// A node's search index, kept up with its store.
pub struct Search {
    reader: IndexReader,
    fields: Fields,
    tokenizers: TokenizerManager,
    store: Arc<dyn Store>,
    /// The change position the searchable index covers.
    covered: Arc<AtomicU64>,
    /// Dropped to stop the indexer.
    indexer: Option<(mpsc::SyncSender<()>, std::thread::JoinHandle<()>)>,
}

impl std::fmt::Debug for Search {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Search")
            .field("covered", &self.covered())
            .finish_non_exhaustive()
    }
}

/// The change position a commit covers, from its payload.
fn covered_by(payload: Option<&str>) -> Option<u64> {
    payload?
        .strip_prefix(FORMAT)?
        .strip_prefix(' ')?
        .parse()
        .ok()
}

/// The index in `dir` and the change position it covers, or why it cannot be used.
fn reopen(dir: &Path, fields: &Fields, last_change: u64) -> Result<(Index, u64), String> {
    let index = Index::open_in_dir(dir).map_err(|e| e.to_string())?;
    if index.schema() != fields.schema {
        return Err("it was written by another version of maillage".into());
    }
    let metas = index.load_metas().map_err(|e| e.to_string())?;
    let covered =
        covered_by(metas.payload.as_deref()).ok_or("it does not say which changes it covers")?;
    if covered > last_change {
        return Err(format!(
            "it covers change {covered}, beyond the store's last ({last_change}): the store was replaced"
        ));
    }
    Ok((index, covered))
}

impl Search {
    /// Opens the index in `dir`, or builds it from `store` when it cannot be used, and
    /// follows the store's changes from then on.
    pub fn open(dir: &Path, store: Arc<dyn Store>) -> Result<Search, Error> {
        let fields = Fields::new();
        let last_change = store.summary()?.last_change;
        let io = |e: std::io::Error| Error::Index(format!("{}: {e}", dir.display()));
        let (mut index, covered) = match reopen(dir, &fields, last_change) {
            Ok(found) => found,
            Err(why) => {
                if dir.exists() {
                    tracing::warn!(dir = %dir.display(), why, "the search index cannot be used; it is built again from the store");
                    std::fs::remove_dir_all(dir).map_err(io)?;
                }
                std::fs::create_dir_all(dir).map_err(io)?;
                (Index::create_in_dir(dir, fields.schema.clone())?, 0)
            }
        };
        let tokenizers = schema::tokenizers();
        index.set_tokenizers(tokenizers.clone());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let writer: IndexWriter<TantivyDocument> =
            index.writer_with_num_threads(1, WRITER_BYTES)?;
        let covered = Arc::new(AtomicU64::new(covered));
        let mut indexer = Indexer {
            indexed: indexed(&reader)?,
            pending: std::collections::HashMap::new(),
            writer,
            reader: reader.clone(),
            fields: fields.clone(),
            store: store.clone(),
            covered: covered.clone(),
            last_change,
            dir: dir.to_owned(),
        };
        let (stop, stopped) = mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("search-indexer".into())
            .spawn(move || {
                loop {
                    if let Err(e) = indexer.follow() {
                        tracing::error!(error = %e, "indexing for search failed; it is tried again shortly");
                    }
                    match stopped.recv_timeout(POLL) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        _ => break,
                    }
                }
            })
            .map_err(io)?;
        Ok(Search {
            reader,
            fields,
            tokenizers,
            store,
            covered,
            indexer: Some((stop, thread)),
        })
    }

    /// The change position up to which search answers.
    pub fn covered(&self) -> u64 {
        self.covered.load(Ordering::Acquire)
    }

    /// Waits until search covers every change the store had made when this was called
    /// (for what reads everything: exports, the graph); says whether it does.
    pub fn catch_up(&self, timeout: Duration) -> Result<bool, Error> {
        let last = self.store.summary()?.last_change;
        Ok(self.wait_for(last, timeout))
    }

    /// Waits until search covers change `change`; says whether it does.
    pub fn wait_for(&self, change: u64, timeout: Duration) -> bool {
        let start = Instant::now();
        while self.covered() < change {
            if start.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    pub fn search(&self, q: &Query) -> Result<Results, Error> {
        q.check()?;
        let query = q.to_tantivy(&self.fields, &self.tokenizers);
        let hits = self
            .reader
            .searcher()
            .search(&*query, &collect::Collect::new(q.clone()))?;
        let mut items = Vec::with_capacity(hits.docs.len());
        for doc in hits.docs {
            // A record deleted a moment ago, before the index heard of it, is not shown.
            if let Some(stored) = self.store.document(doc)?
                && stored.record.kind == q.kind
                && !stored.record.body.is_deleted()
            {
                items.push(stored);
            }
        }
        Ok(Results {
            items,
            total: hits.total,
            facets: hits.facets,
            next: hits.next,
        })
    }
}

impl Drop for Search {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.indexer.take() {
            drop(stop);
            let _ = thread.join();
        }
    }
}

/// The documents in the index, by the store's document numbers.
fn indexed(reader: &IndexReader) -> Result<RoaringBitmap, Error> {
    let mut docs = RoaringBitmap::new();
    for segment in reader.searcher().segment_readers() {
        let column = segment.fast_fields().u64("doc")?;
        docs.extend(
            segment
                .doc_ids_alive()
                .filter_map(|d| column.first(d))
                .filter_map(|doc| u32::try_from(doc).ok()),
        );
    }
    Ok(docs)
}

/// The thread that keeps the index up with the store.
struct Indexer {
    /// The store's documents the index holds (those of purged authors may stay listed): a
    /// document it does not hold needs no delete before it is added, and every delete
    /// waits in the writer's memory until the commit, so a build from scratch, or the
    /// catch-up of a new node, needs none.
    indexed: RoaringBitmap,
    /// The collaborations indexed since the last commit, by each party's reference: the
    /// reader does not see them yet, and a party's change must reach them too.
    pending: std::collections::HashMap<String, Vec<u32>>,
    writer: IndexWriter<TantivyDocument>,
    reader: IndexReader,
    fields: Fields,
    store: Arc<dyn Store>,
    covered: Arc<AtomicU64>,
    /// The store's last change when the index was opened: a rebuild reports its progress
    /// against it.
    last_change: u64,
    dir: PathBuf,
}

/// What the indexer does with one change position.
enum Step {
    Purge(Author),
    Version(Box<Stored>),
}

impl Indexer {
    /// Indexes every change the store has made durable since the last commit.
    fn follow(&mut self) -> Result<(), Error> {
        let mut covered = self.covered.load(Ordering::Acquire);
        let mut since_commit = 0u64;
        let started = Instant::now();
        loop {
            let (steps, upto, all) = self.read(covered)?;
            if upto == covered {
                // The last read was a whole batch, and nothing came after it: what it
                // indexed is committed here, or it would be read and indexed again.
                if since_commit > 0 {
                    self.commit(covered)?;
                }
                break;
            }
            for step in steps {
                self.index(step)?;
                since_commit += 1;
            }
            covered = upto;
            if all || since_commit >= COMMIT_EVERY {
                self.commit(covered)?;
                since_commit = 0;
                if !all {
                    tracing::info!(covered, of = self.last_change, seconds = started.elapsed().as_secs(), dir = %self.dir.display(), "building the search index");
                } else if started.elapsed() > Duration::from_secs(1) {
                    tracing::info!(
                        covered,
                        seconds = started.elapsed().as_secs(),
                        "the search index is up to date"
                    );
                }
            }
            if all {
                break;
            }
        }
        Ok(())
    }

    /// The steps after change `covered`, in order; the position they reach; and whether
    /// they are all there is. Purges are read before and after the changes: every change
    /// before a purge seen first is visible to the read after it, and a purge that came
    /// in between makes the round start again.
    fn read(&self, covered: u64) -> Result<(Vec<Step>, u64, bool), Error> {
        loop {
            let before = self.store.purges(covered)?;
            let changes = self.store.changes(covered, BATCH)?;
            if self.store.purges(covered)? != before {
                continue;
            }
            let all = changes.len() < BATCH;
            let last = changes.last().map_or(covered, |s| s.change);
            let upto = if all {
                last.max(before.last().map_or(covered, |(c, _)| *c))
            } else {
                last
            };
            let mut steps: Vec<(u64, Step)> = before
                .into_iter()
                .filter(|(c, _)| *c <= upto)
                .map(|(c, a)| (c, Step::Purge(a)))
                .chain(
                    changes
                        .into_iter()
                        .map(|s| (s.change, Step::Version(Box::new(s)))),
                )
                .collect();
            steps.sort_by_key(|(c, _)| *c);
            return Ok((steps.into_iter().map(|(_, s)| s).collect(), upto, all));
        }
    }

    fn index(&mut self, step: Step) -> Result<(), Error> {
        let stored = match step {
            Step::Purge(author) => {
                self.writer.delete_term(Term::from_field_text(
                    self.fields.facet(Facet::Author),
                    &author.did(),
                ));
                return Ok(());
            }
            Step::Version(stored) => stored,
        };
        if let Body::Endorsement(e) = &stored.record.body {
            // An endorsement changes what its collaboration's confirmation says.
            if let Ok(target) = e.target.parse::<Address>()
                && let Some(collaboration) = self.store.get(&target)?
            {
                self.put(&collaboration)?;
            }
        }
        if stored.record.kind == Kind::Organisation {
            // A party deleted, or listed again, changes what its collaborations'
            // confirmations say: those committed are found by the reader, those since in
            // `pending`.
            let address = stored.record.address().to_string();
            let mut docs = self.naming(&address)?;
            docs.extend(self.pending.get(&address).into_iter().flatten());
            docs.sort_unstable();
            docs.dedup();
            for doc in docs {
                if let Some(collaboration) = self.store.document(doc)?
                    && collaboration.record.kind == Kind::Collaboration
                {
                    self.put(&collaboration)?;
                }
            }
        }
        self.put(&stored)
    }

    /// The store documents of the indexed collaborations with `party` among their parties.
    fn naming(&self, party: &str) -> Result<Vec<u32>, Error> {
        let query = tantivy::query::TermQuery::new(
            Term::from_field_text(self.fields.party, party),
            tantivy::schema::IndexRecordOption::Basic,
        );
        let searcher = self.reader.searcher();
        let found = searcher.search(&query, &tantivy::collector::DocSetCollector)?;
        let mut docs = Vec::with_capacity(found.len());
        for address in found {
            let column = searcher
                .segment_reader(address.segment_ord)
                .fast_fields()
                .u64("doc")?;
            docs.extend(
                column
                    .first(address.doc_id)
                    .and_then(|d| u32::try_from(d).ok()),
            );
        }
        Ok(docs)
    }

    /// Replaces the document of `stored`'s address with what it is now.
    fn put(&mut self, stored: &Stored) -> Result<(), Error> {
        if self.indexed.remove(stored.doc) {
            self.writer.delete_term(self.fields.doc_term(stored.doc));
        }
        let confirmed = matches!(stored.record.body, Body::Collaboration(_))
            && self.store.confirmation(&stored.record)?.confirmed();
        if let Some(doc) = self.fields.document(stored.doc, &stored.record, confirmed) {
            self.writer.add_document(doc)?;
            self.indexed.insert(stored.doc);
        }
        if let Body::Collaboration(c) = &stored.record.body {
            for p in &c.parties {
                let docs = self.pending.entry(p.reference.clone()).or_default();
                if !docs.contains(&stored.doc) {
                    docs.push(stored.doc);
                }
            }
        }
        Ok(())
    }

    fn commit(&mut self, covered: u64) -> Result<(), Error> {
        let mut commit = self.writer.prepare_commit()?;
        commit.set_payload(&format!("{FORMAT} {covered}"));
        commit.commit()?;
        self.reader.reload()?;
        self.pending.clear();
        self.covered.store(covered, Ordering::Release);
        Ok(())
    }
}
