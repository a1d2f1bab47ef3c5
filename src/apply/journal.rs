//! The create journal: a local, append-only record of every create that returns a key, so a
//! key lost to an interruption is never lost silently.
//!
//! A Mist token's key is shown once, in the create's response. If warrant dies between sending
//! the create and handing the key to its sink (SIGKILL, a power cut, a second interrupt whose
//! wait ran out), the token exists live without anyone holding its key, and the next plan
//! would see a token with the declared privileges: "no-op". The journal closes that gap:
//!
//! - before a create is sent, an **intent** record (target, kind, names, plan id, time) is
//!   appended and `fsync`ed (`Journal::begin`); if it cannot be written, nothing is sent;
//! - after the key went to its sink, or the create failed, a **done** record says how it
//!   ended ([`KeyOutcome`]) and with which id (`Journal::finish`);
//! - an intent without a done record, or one whose done record says the key may be lost, is
//!   **open** ([`OpenRecord`]): `plan` turns the object into a conflict ("a token named X may
//!   have been created by an interrupted apply; its key was not captured; rotate it") and
//!   `apply` refuses to create or update it, until a human rotates the token and appends a
//!   **resolved** record with `warrant journal resolve` (`Journal::resolve`).
//!
//! Records never hold a key: only addresses, ids, the plan id, times and outcomes.
//!
//! The file is JSON lines (`.warrant/journal.jsonl` under the repository root, or
//! `--journal`). Each record is one `write` of one line to a file opened with `O_APPEND`, so
//! concurrent applies on other targets interleave whole lines. It is read like any other
//! input: opened without following a symlink and without blocking on a FIFO, a regular file
//! of at most `MAX_JOURNAL_BYTES`, lines of at most `MAX_LINE_BYTES`, fields checked; a line
//! that is not a valid record is skipped with a warning, and an unfinished last line (a
//! process killed while writing it: its create was never sent) is ignored. Open records are
//! kept in memory, at most `MAX_OPEN_RECORDS` of them.
//!
//! A journal also tracks the creates of the running apply (`Journal::creates`), so that a
//! second interrupt can stop new creates (`Journal::stop_new`) and wait, bounded, for the
//! ones in flight to settle (`Journal::settled`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::model::{Address, CreateEnded, Kind, OpenCreate, Reason};
use crate::plan::file::PlanFile;
use crate::plan::{Action, Summary};
use crate::platform::{ErrorKind, PlatformError};

/// The directory, under the repository root, that holds the journal and the lock files.
pub(crate) const STATE_DIR: &str = ".warrant";
/// The journal's file name in [`STATE_DIR`].
pub(crate) const FILE_NAME: &str = "journal.jsonl";
/// The version every record carries; records of another version are skipped with a warning.
pub(crate) const RECORD_VERSION: u32 = 1;
/// A larger journal is refused: resolve its open records and move it aside.
pub(crate) const MAX_JOURNAL_BYTES: u64 = 64 * 1024 * 1024;
/// A longer line is not a record warrant wrote.
pub(crate) const MAX_LINE_BYTES: usize = 16 * 1024;
/// More open records than this is not a journal warrant wrote (it would take that many
/// interrupted creates); refused rather than held in memory.
pub(crate) const MAX_OPEN_RECORDS: usize = 10_000;
/// The longest name, id or time a record may carry.
const MAX_FIELD_CHARS: usize = 1024;

/// Where the journal is when `--journal` is not given.
pub(crate) fn default_path(root: &Path) -> PathBuf {
    root.join(STATE_DIR).join(FILE_NAME)
}

/// How a journalled create ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyOutcome {
    /// The key reached its sink.
    Delivered,
    /// Nothing was created: the server or warrant refused before anything existed, or a read
    /// after the failure showed no such object.
    NotCreated,
    /// The object was created, but its key did not reach its sink.
    NotDelivered,
    /// The create failed in a way that may have created the object, and no read settled it.
    Unknown,
}

impl KeyOutcome {
    /// Whether a record with this outcome needs nobody's attention.
    fn closes(self) -> bool {
        matches!(self, KeyOutcome::Delivered | KeyOutcome::NotCreated)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum RecordKind {
    Intent,
    Done,
    Resolved,
}

/// One line of the journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    v: u32,
    record: RecordKind,
    /// The create this record is about: a UUID chosen by the intent.
    id: String,
    /// RFC 3339, UTC.
    at: String,
    target: String,
    kind: Kind,
    /// `metadata.name` of the declaring manifest document.
    name: String,
    /// The name on the server (the token's name).
    remote_key: String,
    plan_id: String,
    /// The id of the created object (done records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_id: Option<String>,
    /// How the create ended (done records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<KeyOutcome>,
    /// The process that wrote the intent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
}

impl Record {
    fn new(record: RecordKind, id: &str, address: &Address, plan_id: &str) -> Record {
        Record {
            v: RECORD_VERSION,
            record,
            id: id.to_string(),
            at: crate::plan::gather::now_rfc3339(),
            target: address.target.clone(),
            kind: address.kind,
            name: address.name.clone(),
            remote_key: address.remote_key.clone(),
            plan_id: plan_id.to_string(),
            created_id: None,
            key: None,
            pid: None,
        }
    }

    fn address(&self) -> Address {
        Address {
            kind: self.kind,
            name: self.name.clone(),
            target: self.target.clone(),
            remote_key: self.remote_key.clone(),
        }
    }

    /// Why this line is not a record warrant could have written, if it is not.
    fn problem(&self) -> Option<String> {
        if self.v != RECORD_VERSION {
            return Some(format!(
                "record version {} (this warrant writes {RECORD_VERSION})",
                self.v
            ));
        }
        if uuid::Uuid::try_parse(&self.id).is_err() {
            return Some("its id is not a UUID".into());
        }
        let fields = [
            ("at", Some(&self.at)),
            ("target", Some(&self.target)),
            ("name", Some(&self.name)),
            ("remote_key", Some(&self.remote_key)),
            ("plan_id", Some(&self.plan_id)),
            ("created_id", self.created_id.as_ref()),
        ];
        for (field, value) in fields {
            let Some(value) = value else { continue };
            let empty_allowed = field == "plan_id";
            if (value.is_empty() && !empty_allowed)
                || value.chars().count() > MAX_FIELD_CHARS
                || value.chars().any(crate::text::is_hidden)
            {
                return Some(format!(
                    "field {field} is empty, too long or holds hidden characters"
                ));
            }
        }
        if self.record == RecordKind::Done && self.key.is_none() {
            return Some("a done record without its key outcome".into());
        }
        None
    }
}

/// A create that needs a human: its intent has no done record, or the done record says the
/// key may be lost; and nobody resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRecord {
    pub id: String,
    /// When the intent was written.
    pub at: String,
    pub plan_id: String,
    pub address: Address,
    /// The created object's id, when a done record named it.
    pub created_id: Option<String>,
    /// How the create ended; `None` when it never said (an interrupted apply).
    pub outcome: Option<KeyOutcome>,
}

impl OpenRecord {
    /// Whether the record is about the live object `address` names (same target, kind and
    /// name on the server: a renamed manifest document does not escape it).
    pub(crate) fn is_about(&self, address: &Address) -> bool {
        self.address.target == address.target
            && self.address.kind == address.kind
            && self.address.remote_key == address.remote_key
    }

    /// `TARGET/NAME`, what `warrant journal resolve` takes.
    pub fn handle(&self) -> String {
        format!("{}/{}", self.address.target, self.address.remote_key)
    }

    /// The conflict a plan shows, and the reason apply refuses the object.
    pub(crate) fn conflict(&self) -> OpenCreate {
        let ended = match self.outcome {
            Some(KeyOutcome::NotDelivered) => CreateEnded::KeyNotDelivered {
                id: self.created_id.clone(),
            },
            Some(KeyOutcome::Unknown) => CreateEnded::Failed,
            _ => CreateEnded::Interrupted,
        };
        OpenCreate {
            token: self.address.remote_key.clone(),
            handle: self.handle(),
            plan: self.plan_id.get(..12).unwrap_or(&self.plan_id).to_string(),
            at: self.at.clone(),
            ended,
        }
    }
}

/// What a journal holds: its open records, in the order their intents were written, and the
/// lines that were skipped.
#[derive(Debug, Clone, Default)]
pub struct Records {
    pub open: Vec<OpenRecord>,
    /// One line per skipped line of the file (already escaped).
    pub warnings: Vec<String>,
}

impl Records {
    /// The open record about `address`, if any.
    pub(crate) fn about(&self, address: &Address) -> Option<&OpenRecord> {
        self.open.iter().find(|r| r.is_about(address))
    }
}

/// Why the journal cannot be used. Every variant stops the command before any write.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot read the create journal {}: {source}", path.display())]
    Unreadable { path: PathBuf, source: io::Error },
    #[error(
        "cannot write the create journal {}: {source} (--journal FILE puts it elsewhere)",
        path.display()
    )]
    Unwritable { path: PathBuf, source: io::Error },
    #[error(
        "the create journal {} is {what}, not a regular file; refusing to use it",
        path.display()
    )]
    NotRegular { path: PathBuf, what: &'static str },
    #[error(
        "the create journal {} is larger than {} MiB; resolve its open records (`warrant journal list`), then move it aside",
        path.display(), MAX_JOURNAL_BYTES / (1024 * 1024)
    )]
    TooLarge { path: PathBuf },
    #[error(
        "the create journal {} holds more than {MAX_OPEN_RECORDS} open records; this is not a journal warrant wrote",
        path.display()
    )]
    TooManyOpen { path: PathBuf },
    #[error("the apply is stopping (interrupted twice): no new create is started")]
    Stopping,
}

/// Opens `path` for reading: no symlink followed, no FIFO waited on, no controlling terminal
/// taken.
fn open_for_reading(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    no_follow(&mut options);
    options.open(path)
}

/// Opens (creating, mode 0600) `path` for appending, the same way.
fn open_for_appending(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    no_follow(&mut options);
    options.open(path)
}

/// Flags for every file of the state directory: a symlink there is refused (a repository
/// must not be able to point the journal or a lock at a file of the user's), a FIFO does not
/// block the open.
pub(crate) fn no_follow(options: &mut OpenOptions) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    #[cfg(not(unix))]
    let _ = options;
}

/// What a file that is not regular is, for messages; `None` for a regular file.
pub(crate) fn not_regular(meta: &std::fs::Metadata) -> Option<&'static str> {
    let kind = meta.file_type();
    if kind.is_file() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return Some("a FIFO");
        }
        if kind.is_socket() {
            return Some("a socket");
        }
        if kind.is_char_device() || kind.is_block_device() {
            return Some("a device");
        }
    }
    if kind.is_dir() {
        Some("a directory")
    } else {
        Some("not a regular file")
    }
}

/// An error opening a state file: a symlink (`ELOOP` under `O_NOFOLLOW`) said plainly.
pub(crate) fn open_error(path: &Path, e: io::Error) -> io::Error {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::ELOOP) {
        return io::Error::new(
            e.kind(),
            format!(
                "{} is a symbolic link; warrant's state files are never followed through links",
                path.display()
            ),
        );
    }
    let _ = path;
    e
}

/// Creates the directory `dir` (mode 0700) when missing and refuses it when it is a symbolic
/// link or not a directory.
pub(crate) fn ensure_dir(dir: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_symlink() => Err(io::Error::other(format!(
            "{} is a symbolic link; warrant keeps its journal and locks only in a real directory (or give --journal)",
            dir.display()
        ))),
        Ok(meta) if !meta.is_dir() => Err(io::Error::other(format!(
            "{} is not a directory",
            dir.display()
        ))),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder.create(dir)
        }
        Err(e) => Err(e),
    }
}

/// The directory a journal path lives in (and the lock files beside it).
pub(crate) fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Reads the open records of the journal at `path`; a missing journal has none. For `plan`
/// and `warrant journal list`: nothing is created.
pub fn read(path: &Path) -> Result<Records, JournalError> {
    let unreadable = |source| JournalError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let file = match open_for_reading(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Records::default()),
        Err(e) => return Err(unreadable(open_error(path, e))),
    };
    read_open_file(path, file)
}

fn read_open_file(path: &Path, file: File) -> Result<Records, JournalError> {
    let meta = file.metadata().map_err(|source| JournalError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    if let Some(what) = not_regular(&meta) {
        return Err(JournalError::NotRegular {
            path: path.to_path_buf(),
            what,
        });
    }
    if meta.len() > MAX_JOURNAL_BYTES {
        return Err(JournalError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    parse(path, BufReader::new(file.take(MAX_JOURNAL_BYTES + 1)))
}

/// Folds the journal's lines into its open records. See the module docs for what is skipped.
fn parse(path: &Path, mut reader: impl BufRead) -> Result<Records, JournalError> {
    let mut open: BTreeMap<u64, OpenRecord> = BTreeMap::new();
    let mut index: HashMap<String, u64> = HashMap::new();
    let mut warnings = Vec::new();
    let mut line = Vec::with_capacity(512);
    let mut read_total: u64 = 0;
    for number in 1u64.. {
        line.clear();
        let (complete, too_long) =
            read_line(&mut reader, &mut line).map_err(|source| JournalError::Unreadable {
                path: path.to_path_buf(),
                source,
            })?;
        read_total += line.len() as u64;
        if read_total > MAX_JOURNAL_BYTES {
            return Err(JournalError::TooLarge {
                path: path.to_path_buf(),
            });
        }
        if line.is_empty() && !too_long {
            if complete {
                continue;
            }
            break;
        }
        let mut skip = |why: String| {
            warnings.push(
                crate::text::escape(&format!(
                    "{} line {number}: {why}; the line was ignored",
                    path.display()
                ))
                .into_owned(),
            )
        };
        if too_long {
            skip(format!("longer than {MAX_LINE_BYTES} bytes"));
            continue;
        }
        let record = match serde_json::from_slice::<Record>(&line) {
            Ok(record) => record,
            // A write cut short by a killed process: the create after it was never sent.
            Err(_) if !complete => {
                skip("unfinished (a process was stopped while writing it)".into());
                break;
            }
            Err(e) => {
                skip(format!("not a journal record ({e})"));
                continue;
            }
        };
        if let Some(problem) = record.problem() {
            skip(problem);
            continue;
        }
        match record.record {
            RecordKind::Intent => {
                if index.contains_key(&record.id) {
                    skip(format!("a second intent with id {}", record.id));
                    continue;
                }
                if open.len() >= MAX_OPEN_RECORDS {
                    return Err(JournalError::TooManyOpen {
                        path: path.to_path_buf(),
                    });
                }
                index.insert(record.id.clone(), number);
                open.insert(
                    number,
                    OpenRecord {
                        id: record.id.clone(),
                        at: record.at.clone(),
                        plan_id: record.plan_id.clone(),
                        address: record.address(),
                        created_id: None,
                        outcome: None,
                    },
                );
            }
            RecordKind::Done | RecordKind::Resolved => {
                let Some(&at) = index.get(&record.id) else {
                    // Resolved twice, or done after resolved: nothing left to do.
                    if record.record == RecordKind::Done {
                        skip(format!("a done record for no open intent ({})", record.id));
                    }
                    continue;
                };
                let outcome = record.key.filter(|_| record.record == RecordKind::Done);
                let closes = record.record == RecordKind::Resolved
                    || outcome.is_some_and(KeyOutcome::closes);
                if closes {
                    open.remove(&at);
                    index.remove(&record.id);
                } else if let Some(entry) = open.get_mut(&at) {
                    entry.outcome = outcome;
                    entry.created_id = record.created_id.clone().or(entry.created_id.take());
                }
            }
        }
        if !complete {
            break;
        }
    }
    Ok(Records {
        open: open.into_values().collect(),
        warnings,
    })
}

/// Reads one line into `line` (without its `\n`), keeping at most [`MAX_LINE_BYTES`]; the
/// rest of a longer line is read and dropped. Returns whether the line ended with `\n` and
/// whether it was too long.
fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<(bool, bool)> {
    let mut too_long = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok((false, too_long));
        }
        let (chunk, found) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (&available[..i], Some(i)),
            None => (available, None),
        };
        if !too_long {
            if line.len() + chunk.len() > MAX_LINE_BYTES {
                too_long = true;
                line.clear();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        let used = found.map_or(chunk.len(), |i| i + 1);
        reader.consume(used);
        if found.is_some() {
            return Ok((true, too_long));
        }
    }
}

/// A create of the running apply that the journal recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyCreate {
    pub address: Address,
    pub created_id: Option<String>,
    /// `None` while it is in flight.
    pub outcome: Option<KeyOutcome>,
}

/// A journalled create in flight: what [`Journal::finish`] needs. Not `Clone`: one finish.
#[derive(Debug)]
pub(crate) struct Ticket {
    index: usize,
    id: String,
}

struct Appender {
    file: File,
    /// The file ended without a newline when opened (a killed writer): the next record starts
    /// on a line of its own.
    torn_tail: bool,
    /// The directory entry of a new file is made durable once.
    dir_synced: bool,
}

#[derive(Default)]
struct Run {
    /// Set by [`Journal::stop_new`]: no create starts after it.
    stopping: bool,
    creates: Vec<(KeyCreate, String)>,
}

/// The journal an apply writes to, opened (and so checked writable) before anything else.
pub struct Journal {
    path: PathBuf,
    appender: Mutex<Appender>,
    records: Records,
    run: Mutex<Run>,
    in_flight: tokio::sync::watch::Sender<usize>,
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("open", &self.records.open.len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Journal {
    /// Opens the journal at `path` for appending (creating it and its directory) and reads
    /// its open records.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let unwritable = |source| JournalError::Unwritable {
            path: path.to_path_buf(),
            source,
        };
        let dir = dir_of(path);
        ensure_dir(&dir).map_err(unwritable)?;
        let existed = path.exists();
        let file = open_for_appending(path).map_err(|e| unwritable(open_error(path, e)))?;
        let meta = file.metadata().map_err(unwritable)?;
        if let Some(what) = not_regular(&meta) {
            return Err(JournalError::NotRegular {
                path: path.to_path_buf(),
                what,
            });
        }
        let torn_tail =
            meta.len() > 0 && last_byte(&file, meta.len()).map_err(unwritable)? != b'\n';
        let journal = Journal {
            path: path.to_path_buf(),
            appender: Mutex::new(Appender {
                file,
                torn_tail,
                dir_synced: existed,
            }),
            records: Records::default(),
            run: Mutex::new(Run::default()),
            in_flight: tokio::sync::watch::Sender::new(0),
        };
        journal.reread()
    }

    /// The journal read again (under the target locks, right before the apply).
    pub(crate) fn reread(mut self) -> Result<Journal, JournalError> {
        let file = open_for_reading(&self.path).map_err(|e| JournalError::Unreadable {
            source: open_error(&self.path, e),
            path: self.path.clone(),
        })?;
        self.records = read_open_file(&self.path, file)?;
        Ok(self)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The directory of the journal, where the lock files are.
    pub(crate) fn dir(&self) -> PathBuf {
        dir_of(&self.path)
    }

    /// The open records as read when the journal was opened.
    pub(crate) fn records(&self) -> &Records {
        &self.records
    }

    /// Records the intent to create `address` (written and synced before this returns); the
    /// create may be sent only on `Ok`.
    pub(crate) fn begin(&self, plan_id: &str, address: &Address) -> Result<Ticket, JournalError> {
        let mut run = lock(&self.run);
        if run.stopping {
            return Err(JournalError::Stopping);
        }
        let id = uuid::Uuid::new_v4().to_string();
        let mut record = Record::new(RecordKind::Intent, &id, address, plan_id);
        record.pid = Some(std::process::id());
        self.append(&record)?;
        run.creates.push((
            KeyCreate {
                address: address.clone(),
                created_id: None,
                outcome: None,
            },
            plan_id.to_string(),
        ));
        self.in_flight.send_modify(|n| *n += 1);
        Ok(Ticket {
            index: run.creates.len() - 1,
            id,
        })
    }

    /// Records how the create of `ticket` ended. The run's state is updated even when the
    /// record cannot be written; then the intent stays open in the file (the next plan flags
    /// the object until someone resolves it) and the error says so.
    pub(crate) fn finish(
        &self,
        ticket: Ticket,
        created_id: Option<&str>,
        outcome: KeyOutcome,
    ) -> Result<(), JournalError> {
        let mut run = lock(&self.run);
        let Some((create, plan_id)) = run.creates.get_mut(ticket.index) else {
            return Ok(());
        };
        create.created_id = created_id.map(str::to_string);
        create.outcome = Some(outcome);
        let mut record = Record::new(RecordKind::Done, &ticket.id, &create.address, plan_id);
        record.created_id = create.created_id.clone();
        record.key = Some(outcome);
        let written = self.append(&record);
        self.in_flight.send_modify(|n| *n = n.saturating_sub(1));
        written
    }

    /// Appends a resolved record for each open record (`warrant journal resolve`).
    pub(crate) fn resolve(&self, records: &[OpenRecord]) -> Result<(), JournalError> {
        for open in records {
            let record = Record::new(RecordKind::Resolved, &open.id, &open.address, &open.plan_id);
            self.append(&record)?;
        }
        Ok(())
    }

    /// Stops new creates (each later [`Journal::begin`] fails) and returns the objects whose
    /// creates are in flight.
    pub(crate) fn stop_new(&self) -> Vec<Address> {
        let mut run = lock(&self.run);
        run.stopping = true;
        run.creates
            .iter()
            .filter(|(c, _)| c.outcome.is_none())
            .map(|(c, _)| c.address.clone())
            .collect()
    }

    /// Resolves once no journalled create is in flight.
    pub(crate) async fn settled(&self) {
        let mut watch = self.in_flight.subscribe();
        // The sender lives as long as `self`, so waiting cannot fail while we borrow it.
        let _ = watch.wait_for(|n| *n == 0).await;
    }

    /// The creates of this run so far.
    pub(crate) fn creates(&self) -> Vec<KeyCreate> {
        lock(&self.run)
            .creates
            .iter()
            .map(|(c, _)| c.clone())
            .collect()
    }

    /// Writes one record as one line and syncs it.
    fn append(&self, record: &Record) -> Result<(), JournalError> {
        let unwritable = |source| JournalError::Unwritable {
            path: self.path.clone(),
            source,
        };
        let mut line = serde_json::to_vec(record).map_err(|e| unwritable(io::Error::other(e)))?;
        line.push(b'\n');
        let mut appender = lock(&self.appender);
        if appender.torn_tail {
            line.insert(0, b'\n');
        }
        appender
            .file
            .write_all(&line)
            .and_then(|()| appender.file.sync_data())
            .map_err(unwritable)?;
        appender.torn_tail = false;
        if !appender.dir_synced {
            // A new file's directory entry must survive a crash as well as its content.
            File::open(dir_of(&self.path))
                .and_then(|d| d.sync_all())
                .map_err(unwritable)?;
            appender.dir_synced = true;
        }
        Ok(())
    }
}

fn last_byte(file: &File, len: u64) -> io::Result<u8> {
    let mut byte = [0u8; 1];
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(&mut byte, len - 1)?;
    }
    #[cfg(not(unix))]
    {
        let _ = (file, len);
        byte[0] = b'\n';
    }
    Ok(byte[0])
}

/// What a human must do first, in a journalled run, before apply creates `address` again.
pub(crate) fn resolve_first(address: &Address) -> String {
    format!(
        " (before that, run `warrant journal resolve {}/{}`: until then the create journal keeps it open and apply refuses it)",
        address.target, address.remote_key
    )
}

/// Whether a failed create certainly created nothing: the server refused the create itself as
/// invalid or conflicting (400, 409, 422), or warrant refused it before sending (a token of
/// that name appeared since the plan). Anything else — a timeout, a dropped connection, a 5xx,
/// an answer that could not be read, and also a 403 or 429, which may come from the listing a
/// create makes after an unclear attempt — is settled by the read after the writes. A
/// refusal is not settled by a read: a token of that name that exists is someone else's.
pub(crate) fn refused_before_creating(error: &PlatformError) -> bool {
    error.kind == ErrorKind::Rejected
}

/// Makes every change of `plan` that an open record is about a conflict with the record's
/// reason (its additions dropped), and seals the plan again. Returns the open records no
/// change is about.
pub fn hold<'r>(plan: &mut PlanFile, records: &'r Records) -> Vec<&'r OpenRecord> {
    let mut used = vec![false; records.open.len()];
    let mut changed = false;
    for change in &mut plan.changes {
        for (i, record) in records.open.iter().enumerate() {
            if record.is_about(&change.address) {
                used[i] = true;
                changed = true;
                change.reasons.push(Reason::KeyMayBeLost(record.conflict()));
                change.action = Action::Conflict;
                change.additions.clear();
            }
        }
    }
    if changed {
        plan.summary = Summary::of(&plan.changes);
        plan.seal();
    }
    records
        .open
        .iter()
        .zip(used)
        .filter(|(_, used)| !used)
        .map(|(r, _)| r)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(name: &str) -> Address {
        Address {
            kind: Kind::new("OrgApiToken"),
            name: name.into(),
            target: "mist-prod".into(),
            remote_key: name.into(),
        }
    }

    fn parsed(text: &str) -> Records {
        parse(Path::new("j.jsonl"), text.as_bytes()).unwrap()
    }

    fn line(record: &Record) -> String {
        serde_json::to_string(record).unwrap() + "\n"
    }

    const ID: &str = "6f1c1d7e-4e0b-4d36-9b59-0a8f0c7f4a11";
    const ID2: &str = "0d4b3a86-9a9c-4a52-8b38-3f1f55a9b0c2";

    fn intent(id: &str, name: &str) -> Record {
        Record::new(RecordKind::Intent, id, &address(name), "plan")
    }

    fn done(id: &str, name: &str, key: KeyOutcome) -> Record {
        let mut r = Record::new(RecordKind::Done, id, &address(name), "plan");
        r.key = Some(key);
        r.created_id = Some("tok-1".into());
        r
    }

    #[test]
    fn an_intent_without_completion_is_open_and_a_delivered_one_is_not() {
        let text = line(&intent(ID, "a"))
            + &line(&intent(ID2, "b"))
            + &line(&done(ID2, "b", KeyOutcome::Delivered));
        let records = parsed(&text);
        assert_eq!(records.open.len(), 1);
        assert_eq!(records.open[0].address.remote_key, "a");
        assert!(records.warnings.is_empty(), "{:?}", records.warnings);
        let conflict = records.open[0].conflict().to_string();
        assert!(
            conflict.contains("a token named a may have been created by an interrupted apply"),
            "{conflict}"
        );
        assert!(conflict.contains("its key was not captured; rotate it"));
        assert!(conflict.contains("warrant journal resolve mist-prod/a"));
    }

    #[test]
    fn a_key_not_delivered_stays_open_until_resolved() {
        let mut text = line(&intent(ID, "a")) + &line(&done(ID, "a", KeyOutcome::NotDelivered));
        let records = parsed(&text);
        assert_eq!(records.open[0].outcome, Some(KeyOutcome::NotDelivered));
        assert!(
            records.open[0]
                .conflict()
                .to_string()
                .contains("(id tok-1)")
        );
        text += &line(&Record::new(
            RecordKind::Resolved,
            ID,
            &address("a"),
            "plan",
        ));
        assert!(parsed(&text).open.is_empty());
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_a_torn_line_followed_by_records_is_skipped() {
        let whole = line(&intent(ID, "a"));
        let torn = &whole[..whole.len() / 2];
        let records = parsed(torn);
        assert!(records.open.is_empty());
        assert_eq!(records.warnings.len(), 1);
        assert!(records.warnings[0].contains("unfinished"));
        // The next writer starts a new line after a torn tail: the fragment is skipped, the
        // record after it counts.
        let text = format!("{torn}\n{}", line(&intent(ID2, "b")));
        let records = parsed(&text);
        assert_eq!(records.open.len(), 1);
        assert_eq!(records.open[0].address.remote_key, "b");
        assert_eq!(records.warnings.len(), 1);
    }

    #[test]
    fn hostile_lines_are_skipped_with_a_warning_and_never_shown_raw() {
        let mut bad_name = intent(ID, "a");
        bad_name.remote_key = "a\u{1b}[2Jb".into();
        let mut bad_id = intent("not-a-uuid", "c");
        bad_id.id = "not-a-uuid".into();
        let mut newer = intent(ID2, "d");
        newer.v = 99;
        let long = format!("{{\"x\":\"{}\"}}\n", "y".repeat(MAX_LINE_BYTES + 10));
        let text = line(&bad_name)
            + &line(&bad_id)
            + &line(&newer)
            + "[1,2,3]\n"
            + "\u{202e}garbage\n"
            + &long
            + &line(&done(ID, "a", KeyOutcome::Delivered));
        let records = parsed(&text);
        assert!(records.open.is_empty(), "{:?}", records.open);
        assert_eq!(records.warnings.len(), 7, "{:#?}", records.warnings);
        for w in &records.warnings {
            assert!(!w.chars().any(crate::text::is_hidden), "{w:?}");
        }
    }

    #[test]
    fn too_many_open_records_are_refused() {
        let mut text = String::new();
        for _ in 0..=MAX_OPEN_RECORDS {
            text += &line(&intent(&uuid::Uuid::new_v4().to_string(), "a"));
        }
        let error = parse(Path::new("j"), text.as_bytes()).unwrap_err();
        assert!(matches!(error, JournalError::TooManyOpen { .. }), "{error}");
    }

    #[test]
    fn appended_records_are_read_back_and_a_torn_tail_is_not_joined() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join(FILE_NAME);
        let journal = Journal::open(&path).unwrap();
        let a = journal.begin("plan-1", &address("a")).unwrap();
        let b = journal.begin("plan-1", &address("b")).unwrap();
        journal
            .finish(a, Some("id-a"), KeyOutcome::Delivered)
            .unwrap();
        assert_eq!(journal.stop_new(), vec![address("b")]);
        assert!(matches!(
            journal.begin("plan-1", &address("c")),
            Err(JournalError::Stopping)
        ));
        drop(b);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("secret"), "{text}");
        // A writer killed half way through a line.
        std::fs::write(&path, format!("{text}{{\"v\":1,\"rec")).unwrap();
        let journal = Journal::open(&path).unwrap();
        assert_eq!(journal.records().open.len(), 1);
        assert_eq!(journal.records().open[0].address.remote_key, "b");
        let c = journal.begin("plan-2", &address("c")).unwrap();
        journal.finish(c, None, KeyOutcome::Unknown).unwrap();
        let records = read(&path).unwrap();
        let open: Vec<&str> = records
            .open
            .iter()
            .map(|r| r.address.remote_key.as_str())
            .collect();
        assert_eq!(open, ["b", "c"]);
        assert_eq!(records.warnings.len(), 1, "{:?}", records.warnings);
        journal.resolve(&records.open[..1]).unwrap();
        assert_eq!(read(&path).unwrap().open.len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_and_fifos_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "").unwrap();
        let link = dir.path().join("journal.jsonl");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let error = Journal::open(&link).unwrap_err().to_string();
        assert!(error.contains("symbolic link"), "{error}");
        assert!(
            read(&link)
                .unwrap_err()
                .to_string()
                .contains("symbolic link")
        );

        let fifo = dir.path().join("fifo.jsonl");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let error = read(&fifo).unwrap_err().to_string();
        assert!(error.contains("a FIFO"), "{error}");
        let error = Journal::open(&fifo).unwrap_err().to_string();
        assert!(error.contains("FIFO"), "{error}");
    }
}
