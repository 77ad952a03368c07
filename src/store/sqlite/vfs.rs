//! A counting SQLite VFS: proof of durability for the benchmark.
//!
//! Hemolink acknowledges a write only once it is durable, and the benchmark
//! backs that promise with a number: *fsyncs per acknowledged write*. This
//! module measures the numerator in-process. It registers a VFS named
//! [`VFS_NAME`] that wraps SQLite's default VFS ("unix"), forwards every VFS
//! and file method unchanged, and counts each call of the file method `xSync`,
//! classified by the kind of file being synced (main database, WAL, rollback
//! journal, anything else) as declared by the open flags SQLite passes to
//! `xOpen`.
//!
//! Connections opt in by opening with
//! `rusqlite::Connection::open_with_flags_and_vfs(path, flags, VFS_NAME)`
//! after calling [`register`]; the default VFS is left untouched, so plain
//! connections never pay for the wrapper.
//!
//! What is counted is SQLite's *requests* for durability (`xSync` calls),
//! whatever their outcome. The unix VFS may additionally fsync a directory
//! inside such a call (the first sync of a newly created journal or WAL) or
//! inside `xDelete`; those are not separate `xSync` calls and are not counted
//! separately.
//!
//! It also adds up how long those calls kept their thread waiting: each
//! call's wall time less the CPU time its thread spent in it, which is the
//! disk's share of a commit (see [`sync_wait`]).
//!
//! Layout of an open file: SQLite allocates `szOsFile` bytes per file, which
//! we set to our [`CountingFile`] header plus the default VFS's own
//! `szOsFile`. The header starts with the `sqlite3_file` (`pMethods`) that
//! SQLite sees; the default VFS's file lives right after it, at
//! [`INNER_OFFSET`].

use std::ffi::{CStr, c_char, c_int, c_void};
use std::mem::{align_of, size_of};
use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::ffi;

/// The name under which the counting VFS is registered.
pub const VFS_NAME: &str = "hemolink-counting";

/// [`VFS_NAME`] as the NUL-terminated string SQLite keeps a pointer to.
const VFS_NAME_C: &CStr = c"hemolink-counting";

/// Compile-time proof that the two spellings of the name agree.
const _: () = {
    let a = VFS_NAME.as_bytes();
    let b = VFS_NAME_C.to_bytes();
    assert!(a.len() == b.len());
    let mut i = 0;
    while i < a.len() {
        assert!(a[i] == b[i]);
        i += 1;
    }
};

static DATABASE_SYNCS: AtomicU64 = AtomicU64::new(0);
static WAL_SYNCS: AtomicU64 = AtomicU64::new(0);
static JOURNAL_SYNCS: AtomicU64 = AtomicU64::new(0);
static OTHER_SYNCS: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds `xSync` calls waited (wall time less their thread's CPU time).
static SYNC_WAIT_NANOS: AtomicU64 = AtomicU64::new(0);

/// How many times SQLite asked the OS to make a file durable, by kind of file,
/// since the process started.
///
/// Only files opened through the counting VFS are counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncCounts {
    /// Syncs of main database files (`SQLITE_OPEN_MAIN_DB`).
    pub database: u64,
    /// Syncs of write-ahead logs (`SQLITE_OPEN_WAL`).
    pub wal: u64,
    /// Syncs of rollback journals (`SQLITE_OPEN_MAIN_JOURNAL`) and of the
    /// super-journals of multi-database commits (`SQLITE_OPEN_SUPER_JOURNAL`).
    pub journal: u64,
    /// Syncs of any other file: temporary databases and journals,
    /// statement sub-journals, transient databases.
    pub other: u64,
}

impl SyncCounts {
    /// All syncs, whatever the kind of file.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.database + self.wal + self.journal + self.other
    }
}

/// The counts so far.
#[must_use]
pub fn sync_counts() -> SyncCounts {
    SyncCounts {
        database: DATABASE_SYNCS.load(Ordering::Relaxed),
        wal: WAL_SYNCS.load(Ordering::Relaxed),
        journal: JOURNAL_SYNCS.load(Ordering::Relaxed),
        other: OTHER_SYNCS.load(Ordering::Relaxed),
    }
}

/// How long the syncs so far kept their threads waiting, all files: the
/// time the disk took, not counting the CPU the kernel spent on them.
#[must_use]
pub fn sync_wait() -> std::time::Duration {
    std::time::Duration::from_nanos(SYNC_WAIT_NANOS.load(Ordering::Relaxed))
}

/// The CPU time of the calling thread.
fn thread_cpu() -> std::time::Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill; the clock id is
    // one Linux has had since 2.6.12.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    std::time::Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// Why registration failed; kept (it is `Copy`) so that every later call of
/// [`register`] reports the same failure.
#[derive(Debug, Clone, Copy)]
enum RegisterFailure {
    NoDefaultVfs,
    FileTooLarge,
    Sqlite(c_int),
}

impl RegisterFailure {
    fn into_error(self) -> rusqlite::Error {
        let (code, message) = match self {
            Self::NoDefaultVfs => (ffi::SQLITE_ERROR, "the default SQLite VFS was not found"),
            Self::FileTooLarge => (
                ffi::SQLITE_ERROR,
                "the default SQLite VFS's file is too large to wrap",
            ),
            Self::Sqlite(code) => (code, "registering the counting SQLite VFS failed"),
        };
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(message.to_owned()))
    }
}

/// Registers the counting VFS under [`VFS_NAME`], not as the default VFS.
///
/// Idempotent and thread-safe: the first call registers, every call returns
/// the outcome of that first call.
///
/// # Errors
///
/// Fails if SQLite has no default VFS to wrap or refuses the registration.
pub fn register() -> Result<(), rusqlite::Error> {
    static REGISTRATION: OnceLock<Result<(), RegisterFailure>> = OnceLock::new();
    (*REGISTRATION.get_or_init(register_once)).map_err(RegisterFailure::into_error)
}

fn register_once() -> Result<(), RegisterFailure> {
    // SAFETY: with a NULL name sqlite3_vfs_find returns the default VFS (or
    // NULL); it initialises the library if needed and takes SQLite's own lock.
    let base = unsafe { ffi::sqlite3_vfs_find(ptr::null()) };
    if base.is_null() {
        return Err(RegisterFailure::NoDefaultVfs);
    }
    // SAFETY: a registered VFS object stays valid until it is unregistered,
    // and nothing in Hemolink unregisters the default VFS.
    let b = unsafe { &*base };
    let header = c_int::try_from(INNER_OFFSET).map_err(|_| RegisterFailure::FileTooLarge)?;
    let sz_os_file = b
        .szOsFile
        .checked_add(header)
        .ok_or(RegisterFailure::FileTooLarge)?;

    // Optional methods are offered only when the base VFS has them, so that
    // SQLite's own "is it there?" checks see the truth.
    let vfs = Box::leak(Box::new(ffi::sqlite3_vfs {
        iVersion: b.iVersion.min(3),
        szOsFile: sz_os_file,
        mxPathname: b.mxPathname,
        pNext: ptr::null_mut(),
        zName: VFS_NAME_C.as_ptr(),
        pAppData: base.cast(),
        xOpen: b.xOpen.map(|_| vfs_open as _),
        xDelete: b.xDelete.map(|_| vfs_delete as _),
        xAccess: b.xAccess.map(|_| vfs_access as _),
        xFullPathname: b.xFullPathname.map(|_| vfs_full_pathname as _),
        xDlOpen: b.xDlOpen.map(|_| vfs_dl_open as _),
        xDlError: b.xDlError.map(|_| vfs_dl_error as _),
        xDlSym: b.xDlSym.map(|_| vfs_dl_sym as _),
        xDlClose: b.xDlClose.map(|_| vfs_dl_close as _),
        xRandomness: b.xRandomness.map(|_| vfs_randomness as _),
        xSleep: b.xSleep.map(|_| vfs_sleep as _),
        xCurrentTime: b.xCurrentTime.map(|_| vfs_current_time as _),
        xGetLastError: b.xGetLastError.map(|_| vfs_get_last_error as _),
        xCurrentTimeInt64: if b.iVersion >= 2 {
            b.xCurrentTimeInt64.map(|_| vfs_current_time_int64 as _)
        } else {
            None
        },
        xSetSystemCall: if b.iVersion >= 3 {
            b.xSetSystemCall.map(|_| vfs_set_system_call as _)
        } else {
            None
        },
        xGetSystemCall: if b.iVersion >= 3 {
            b.xGetSystemCall.map(|_| vfs_get_system_call as _)
        } else {
            None
        },
        xNextSystemCall: if b.iVersion >= 3 {
            b.xNextSystemCall.map(|_| vfs_next_system_call as _)
        } else {
            None
        },
    }));
    // SAFETY: the VFS object is leaked, so it outlives every connection; its
    // name is a static string; makeDflt = 0 keeps "unix" the default.
    let rc = unsafe { ffi::sqlite3_vfs_register(vfs, 0) };
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(RegisterFailure::Sqlite(rc))
    }
}

// ---------------------------------------------------------------------------
// The VFS object's methods: forward to the base VFS kept in pAppData.
// ---------------------------------------------------------------------------

/// The base VFS that `vfs` (ours) wraps.
///
/// # Safety
///
/// `vfs` must be the VFS object built by `register_once`.
unsafe fn base_vfs(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    // SAFETY: per the contract, `vfs` is our live, leaked VFS object.
    unsafe { (*vfs).pAppData.cast() }
}

/// Calls the base VFS's method `$method` with `$args`, or yields `$missing`
/// when the base VFS lacks it (never the case: we only install a method when
/// the base has it).
macro_rules! forward_vfs {
    ($vfs:expr, $method:ident, $missing:expr $(, $arg:expr)* $(,)?) => {{
        // SAFETY: SQLite only calls our methods with our VFS object.
        let base = unsafe { base_vfs($vfs) };
        // SAFETY: the base VFS is registered for the life of the process.
        match unsafe { (*base).$method } {
            // SAFETY: SQLite's own arguments, handed to the base VFS with the
            // base VFS object as `self`, exactly as if SQLite had called it.
            Some(method) => unsafe { method(base $(, $arg)*) },
            None => $missing,
        }
    }};
}

unsafe extern "C" fn vfs_open(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let ours = file.cast::<CountingFile>();
    let inner = inner_file(file);
    // SAFETY: SQLite hands us `szOsFile` writable bytes, aligned for any
    // file object; the header fits in them. pMethods must be set on every
    // path, so clear it before anything can fail.
    unsafe {
        ptr::addr_of_mut!((*ours).base.pMethods).write(ptr::null());
        ptr::addr_of_mut!((*ours).syncs).write(sync_counter(flags));
        // The inner file's pMethods is what tells us whether the base xOpen
        // left something to close, so do not trust stale memory there.
        ptr::addr_of_mut!((*inner).pMethods).write(ptr::null());
    }
    let rc = forward_vfs!(
        vfs,
        xOpen,
        ffi::SQLITE_CANTOPEN,
        name,
        inner,
        flags,
        out_flags
    );
    // SAFETY: the base xOpen has returned, so the inner header is initialised
    // (we nulled pMethods above; the base sets it when xClose is needed).
    let inner_methods = unsafe { (*inner).pMethods };
    if !inner_methods.is_null() {
        // The base VFS wants xClose called (normally: it opened the file).
        // SAFETY: a non-null pMethods set by the base xOpen is valid.
        let version = unsafe { (*inner_methods).iVersion };
        let methods: &'static ffi::sqlite3_io_methods = match version {
            ..=1 => &IO_METHODS_V1,
            2 => &IO_METHODS_V2,
            _ => &IO_METHODS_V3,
        };
        // SAFETY: `ours` points at our header, initialised above.
        unsafe { (*ours).base.pMethods = methods };
    }
    rc
}

unsafe extern "C" fn vfs_delete(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    sync_dir: c_int,
) -> c_int {
    forward_vfs!(vfs, xDelete, ffi::SQLITE_IOERR_DELETE, name, sync_dir)
}

unsafe extern "C" fn vfs_access(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    flags: c_int,
    res_out: *mut c_int,
) -> c_int {
    forward_vfs!(vfs, xAccess, ffi::SQLITE_IOERR_ACCESS, name, flags, res_out)
}

unsafe extern "C" fn vfs_full_pathname(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    n_out: c_int,
    z_out: *mut c_char,
) -> c_int {
    forward_vfs!(vfs, xFullPathname, ffi::SQLITE_CANTOPEN, name, n_out, z_out)
}

unsafe extern "C" fn vfs_dl_open(vfs: *mut ffi::sqlite3_vfs, name: *const c_char) -> *mut c_void {
    forward_vfs!(vfs, xDlOpen, ptr::null_mut(), name)
}

unsafe extern "C" fn vfs_dl_error(vfs: *mut ffi::sqlite3_vfs, n_byte: c_int, err_msg: *mut c_char) {
    forward_vfs!(vfs, xDlError, (), n_byte, err_msg);
}

/// The type of the symbol `xDlSym` returns, as the bindings spell it.
type DlSymbol = Option<unsafe extern "C" fn(*mut ffi::sqlite3_vfs, *mut c_void, *const c_char)>;

unsafe extern "C" fn vfs_dl_sym(
    vfs: *mut ffi::sqlite3_vfs,
    handle: *mut c_void,
    symbol: *const c_char,
) -> DlSymbol {
    forward_vfs!(vfs, xDlSym, None, handle, symbol)
}

unsafe extern "C" fn vfs_dl_close(vfs: *mut ffi::sqlite3_vfs, handle: *mut c_void) {
    forward_vfs!(vfs, xDlClose, (), handle);
}

unsafe extern "C" fn vfs_randomness(
    vfs: *mut ffi::sqlite3_vfs,
    n_byte: c_int,
    out: *mut c_char,
) -> c_int {
    forward_vfs!(vfs, xRandomness, 0, n_byte, out)
}

unsafe extern "C" fn vfs_sleep(vfs: *mut ffi::sqlite3_vfs, microseconds: c_int) -> c_int {
    forward_vfs!(vfs, xSleep, 0, microseconds)
}

unsafe extern "C" fn vfs_current_time(vfs: *mut ffi::sqlite3_vfs, out: *mut f64) -> c_int {
    forward_vfs!(vfs, xCurrentTime, ffi::SQLITE_ERROR, out)
}

unsafe extern "C" fn vfs_get_last_error(
    vfs: *mut ffi::sqlite3_vfs,
    n_byte: c_int,
    out: *mut c_char,
) -> c_int {
    forward_vfs!(vfs, xGetLastError, 0, n_byte, out)
}

unsafe extern "C" fn vfs_current_time_int64(
    vfs: *mut ffi::sqlite3_vfs,
    out: *mut ffi::sqlite3_int64,
) -> c_int {
    forward_vfs!(vfs, xCurrentTimeInt64, ffi::SQLITE_ERROR, out)
}

unsafe extern "C" fn vfs_set_system_call(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    new: ffi::sqlite3_syscall_ptr,
) -> c_int {
    forward_vfs!(vfs, xSetSystemCall, ffi::SQLITE_NOTFOUND, name, new)
}

unsafe extern "C" fn vfs_get_system_call(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
) -> ffi::sqlite3_syscall_ptr {
    forward_vfs!(vfs, xGetSystemCall, None, name)
}

unsafe extern "C" fn vfs_next_system_call(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
) -> *const c_char {
    forward_vfs!(vfs, xNextSystemCall, ptr::null(), name)
}

// ---------------------------------------------------------------------------
// Open files: our header, the base VFS's file right after it.
// ---------------------------------------------------------------------------

/// The header of every file opened through the counting VFS.
#[repr(C)]
struct CountingFile {
    /// What SQLite sees: its `pMethods` points at one of our method tables.
    base: ffi::sqlite3_file,
    /// The counter this file's syncs go to; one of the statics above.
    syncs: *const AtomicU64,
}

/// Where the base VFS's file starts, counted from the start of ours. SQLite
/// aligns file objects to 8 bytes; keeping the offset a multiple of 8 keeps
/// the inner file just as aligned.
const INNER_OFFSET: usize = size_of::<CountingFile>().next_multiple_of(8);

const _: () = assert!(align_of::<CountingFile>() <= 8);

/// The base VFS's file inside ours. Pure address arithmetic: valid to
/// dereference only for files that SQLite allocated with our `szOsFile`.
fn inner_file(file: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    file.wrapping_byte_add(INNER_OFFSET)
}

/// The counter for syncs of a file opened with `flags`.
fn sync_counter(flags: c_int) -> *const AtomicU64 {
    if flags & ffi::SQLITE_OPEN_MAIN_DB != 0 {
        &raw const DATABASE_SYNCS
    } else if flags & ffi::SQLITE_OPEN_WAL != 0 {
        &raw const WAL_SYNCS
    } else if flags & (ffi::SQLITE_OPEN_MAIN_JOURNAL | ffi::SQLITE_OPEN_SUPER_JOURNAL) != 0 {
        &raw const JOURNAL_SYNCS
    } else {
        &raw const OTHER_SYNCS
    }
}

/// Calls the inner file's method `$method` with `$args`, or yields `$missing`
/// when the base VFS did not provide it.
macro_rules! forward_file {
    ($file:expr, $method:ident, $missing:expr $(, $arg:expr)* $(,)?) => {{
        let inner = inner_file($file);
        // SAFETY: SQLite calls these methods only on files that `vfs_open`
        // opened, whose inner file therefore has a valid, non-null pMethods
        // (we install our table only in that case). Our table offers a
        // version-2/3 method only when the inner table's iVersion has it.
        match unsafe { (*(*inner).pMethods).$method } {
            // SAFETY: SQLite's own arguments, handed to the method the base
            // VFS installed for this very file.
            Some(method) => unsafe { method(inner $(, $arg)*) },
            None => $missing,
        }
    }};
}

unsafe extern "C" fn file_close(file: *mut ffi::sqlite3_file) -> c_int {
    forward_file!(file, xClose, ffi::SQLITE_OK)
}

unsafe extern "C" fn file_read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amt: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    forward_file!(file, xRead, ffi::SQLITE_IOERR_READ, buf, amt, offset)
}

unsafe extern "C" fn file_write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amt: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    forward_file!(file, xWrite, ffi::SQLITE_IOERR_WRITE, buf, amt, offset)
}

unsafe extern "C" fn file_truncate(
    file: *mut ffi::sqlite3_file,
    size: ffi::sqlite3_int64,
) -> c_int {
    forward_file!(file, xTruncate, ffi::SQLITE_IOERR_TRUNCATE, size)
}

/// The one method that does more than forward: it counts, and times the wait.
unsafe extern "C" fn file_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    // SAFETY: `file` was opened by `vfs_open`, which set `syncs` to point at
    // one of the static counters.
    let counter = unsafe { &*(*file.cast::<CountingFile>()).syncs };
    counter.fetch_add(1, Ordering::Relaxed);
    let (wall, cpu) = (std::time::Instant::now(), thread_cpu());
    let rc = forward_file!(file, xSync, ffi::SQLITE_IOERR_FSYNC, flags);
    let waited = wall
        .elapsed()
        .saturating_sub(thread_cpu().saturating_sub(cpu));
    SYNC_WAIT_NANOS.fetch_add(
        u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    rc
}

unsafe extern "C" fn file_file_size(
    file: *mut ffi::sqlite3_file,
    size: *mut ffi::sqlite3_int64,
) -> c_int {
    forward_file!(file, xFileSize, ffi::SQLITE_IOERR_FSTAT, size)
}

unsafe extern "C" fn file_lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    forward_file!(file, xLock, ffi::SQLITE_IOERR_LOCK, level)
}

unsafe extern "C" fn file_unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    forward_file!(file, xUnlock, ffi::SQLITE_IOERR_UNLOCK, level)
}

unsafe extern "C" fn file_check_reserved_lock(
    file: *mut ffi::sqlite3_file,
    res_out: *mut c_int,
) -> c_int {
    forward_file!(
        file,
        xCheckReservedLock,
        ffi::SQLITE_IOERR_CHECKRESERVEDLOCK,
        res_out
    )
}

unsafe extern "C" fn file_file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    forward_file!(file, xFileControl, ffi::SQLITE_NOTFOUND, op, arg)
}

unsafe extern "C" fn file_sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    // 4096 is SQLITE_DEFAULT_SECTOR_SIZE, what SQLite assumes without one.
    forward_file!(file, xSectorSize, 4096)
}

unsafe extern "C" fn file_device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    forward_file!(file, xDeviceCharacteristics, 0)
}

unsafe extern "C" fn file_shm_map(
    file: *mut ffi::sqlite3_file,
    page: c_int,
    page_size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    forward_file!(
        file,
        xShmMap,
        ffi::SQLITE_IOERR_SHMMAP,
        page,
        page_size,
        extend,
        out
    )
}

unsafe extern "C" fn file_shm_lock(
    file: *mut ffi::sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    forward_file!(file, xShmLock, ffi::SQLITE_IOERR_SHMLOCK, offset, n, flags)
}

unsafe extern "C" fn file_shm_barrier(file: *mut ffi::sqlite3_file) {
    forward_file!(file, xShmBarrier, ());
}

unsafe extern "C" fn file_shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    forward_file!(file, xShmUnmap, ffi::SQLITE_OK, delete)
}

unsafe extern "C" fn file_fetch(
    file: *mut ffi::sqlite3_file,
    offset: ffi::sqlite3_int64,
    amt: c_int,
    out: *mut *mut c_void,
) -> c_int {
    // Without an inner xFetch there is no mapping: say so, as SQLite does.
    let no_mapping = || {
        // SAFETY: SQLite passes a valid out-pointer to xFetch.
        unsafe { out.write(ptr::null_mut()) };
        ffi::SQLITE_OK
    };
    forward_file!(file, xFetch, no_mapping(), offset, amt, out)
}

unsafe extern "C" fn file_unfetch(
    file: *mut ffi::sqlite3_file,
    offset: ffi::sqlite3_int64,
    p: *mut c_void,
) -> c_int {
    forward_file!(file, xUnfetch, ffi::SQLITE_OK, offset, p)
}

/// Our method table for an inner file whose own table has `version`: the
/// same version, so that SQLite's checks for WAL and memory-mapping support
/// give the answer the base VFS would.
const fn io_methods(version: c_int) -> ffi::sqlite3_io_methods {
    ffi::sqlite3_io_methods {
        iVersion: version,
        xClose: Some(file_close),
        xRead: Some(file_read),
        xWrite: Some(file_write),
        xTruncate: Some(file_truncate),
        xSync: Some(file_sync),
        xFileSize: Some(file_file_size),
        xLock: Some(file_lock),
        xUnlock: Some(file_unlock),
        xCheckReservedLock: Some(file_check_reserved_lock),
        xFileControl: Some(file_file_control),
        xSectorSize: Some(file_sector_size),
        xDeviceCharacteristics: Some(file_device_characteristics),
        xShmMap: if version >= 2 {
            Some(file_shm_map)
        } else {
            None
        },
        xShmLock: if version >= 2 {
            Some(file_shm_lock)
        } else {
            None
        },
        xShmBarrier: if version >= 2 {
            Some(file_shm_barrier)
        } else {
            None
        },
        xShmUnmap: if version >= 2 {
            Some(file_shm_unmap)
        } else {
            None
        },
        xFetch: if version >= 3 { Some(file_fetch) } else { None },
        xUnfetch: if version >= 3 {
            Some(file_unfetch)
        } else {
            None
        },
    }
}

static IO_METHODS_V1: ffi::sqlite3_io_methods = io_methods(1);
static IO_METHODS_V2: ffi::sqlite3_io_methods = io_methods(2);
static IO_METHODS_V3: ffi::sqlite3_io_methods = io_methods(3);

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::{Connection, OpenFlags};
    use std::path::Path;
    use std::sync::{Mutex, MutexGuard, PoisonError};
    use std::time::Duration;

    /// The counters are process-wide and tests run in parallel: every test
    /// that does I/O through the VFS holds this lock, so deltas are exact.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn serial() -> MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens `path` through the counting VFS.
    fn open(path: &Path) -> Connection {
        register().expect("register the counting VFS");
        let conn = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), VFS_NAME)
            .expect("open through the counting VFS");
        conn.busy_timeout(Duration::from_secs(10))
            .expect("busy_timeout");
        conn
    }

    /// Opens `path` through the counting VFS in WAL mode with `synchronous`.
    fn open_wal(path: &Path, synchronous: &str) -> Connection {
        let conn = open(path);
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
            .expect("journal_mode");
        assert_eq!(mode, "wal");
        conn.pragma_update(None, "synchronous", synchronous)
            .expect("synchronous");
        conn
    }

    fn create_table(conn: &Connection) {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)",
        )
        .expect("create table");
    }

    fn insert(conn: &Connection, v: &str) {
        conn.execute("INSERT INTO t (v) VALUES (?1)", [v])
            .expect("insert");
    }

    fn count_rows(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .expect("count")
    }

    #[test]
    fn wal_full_syncs_the_wal_on_every_commit_and_data_reads_back() {
        let _serial = serial();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("full.db");
        let conn = open_wal(&path, "FULL");
        create_table(&conn);

        let before = sync_counts();
        for i in 0..50 {
            insert(&conn, &format!("row {i}"));
        }
        let after = sync_counts();
        assert!(
            after.wal >= before.wal + 50,
            "50 commits under synchronous=FULL synced the WAL only {} times",
            after.wal - before.wal
        );
        assert!(after.total() >= before.total() + 50);

        let second = open(&path);
        assert_eq!(count_rows(&second), 50);
        let plain = Connection::open(&path).expect("open through the default VFS");
        assert_eq!(count_rows(&plain), 50);
        let last: String = plain
            .query_row("SELECT v FROM t ORDER BY id DESC LIMIT 1", [], |row| {
                row.get(0)
            })
            .expect("last row");
        assert_eq!(last, "row 49");
    }

    #[test]
    fn synchronous_off_does_not_sync_on_commit() {
        let _serial = serial();
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = open_wal(&dir.path().join("off.db"), "OFF");
        create_table(&conn);

        let before = sync_counts();
        for i in 0..50 {
            insert(&conn, &format!("row {i}"));
        }
        assert_eq!(sync_counts(), before);
        assert_eq!(count_rows(&conn), 50);
    }

    #[test]
    fn truncating_checkpoint_syncs_the_database_file() {
        let _serial = serial();
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = open_wal(&dir.path().join("checkpoint.db"), "FULL");
        create_table(&conn);
        for i in 0..10 {
            insert(&conn, &format!("row {i}"));
        }

        let before = sync_counts();
        let (busy, log, checkpointed): (i64, i64, i64) = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .expect("checkpoint");
        assert_eq!(busy, 0, "checkpoint was blocked");
        assert_eq!(log, checkpointed);
        let after = sync_counts();
        assert!(
            after.database > before.database,
            "the checkpoint did not sync the database file"
        );
        assert_eq!(count_rows(&conn), 10);
    }

    #[test]
    fn rollback_journal_syncs_are_counted_as_journal_and_database() {
        let _serial = serial();
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = open(&dir.path().join("rollback.db"));
        let mode: String = conn
            .query_row("PRAGMA journal_mode=DELETE", [], |row| row.get(0))
            .expect("journal_mode");
        assert_eq!(mode, "delete");
        conn.pragma_update(None, "synchronous", "FULL")
            .expect("synchronous");
        create_table(&conn);

        let before = sync_counts();
        for i in 0..5 {
            insert(&conn, &format!("row {i}"));
        }
        let after = sync_counts();
        assert!(after.journal >= before.journal + 5);
        assert!(after.database >= before.database + 5);
        assert_eq!(after.wal, before.wal);
    }

    #[test]
    fn memory_mapped_io_and_temporary_files_work_through_the_vfs() {
        let _serial = serial();
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = open_wal(&dir.path().join("mmap.db"), "NORMAL");
        let mmap: i64 = conn
            .query_row("PRAGMA mmap_size=8388608", [], |row| row.get(0))
            .expect("mmap_size");
        assert_eq!(mmap, 8_388_608, "memory-mapped I/O is not available");
        conn.pragma_update(None, "temp_store", "FILE")
            .expect("temp_store");
        conn.pragma_update(None, "cache_size", 10)
            .expect("cache_size");
        conn.pragma_update(Some("temp"), "cache_size", 10)
            .expect("temp cache_size");
        create_table(&conn);
        conn.execute_batch(
            "BEGIN;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
             INSERT INTO t (v) SELECT printf('%08d-%s', i, hex(randomblob(64))) FROM n;
             COMMIT;
             PRAGMA wal_checkpoint(TRUNCATE);",
        )
        .expect("bulk insert");
        // Reads now come from the database file through xFetch/xUnfetch; the
        // sort and the temporary table spill to temporary files.
        conn.execute_batch("CREATE TEMP TABLE sorted AS SELECT v FROM t ORDER BY v DESC;")
            .expect("temporary table");
        let (rows, first): (i64, String) = conn
            .query_row("SELECT count(*), max(v) FROM temp.sorted", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .expect("read back");
        assert_eq!(rows, 5000);
        assert!(first.starts_with("00005000-"));
        assert_eq!(count_rows(&conn), 5000);
    }

    #[test]
    fn register_is_idempotent_and_leaves_the_default_vfs_alone() {
        register().expect("first registration");
        register().expect("second registration");
        let threads: Vec<_> = (0..4).map(|_| std::thread::spawn(register)).collect();
        for thread in threads {
            thread
                .join()
                .expect("thread")
                .expect("concurrent registration");
        }

        // SAFETY: looking up registered VFS objects by name is always allowed;
        // they stay registered for the life of the process.
        let (ours, default) = unsafe {
            (
                ffi::sqlite3_vfs_find(VFS_NAME_C.as_ptr()),
                ffi::sqlite3_vfs_find(ptr::null()),
            )
        };
        assert!(!ours.is_null());
        assert!(!default.is_null());
        assert_ne!(
            ours, default,
            "the counting VFS must not become the default"
        );
    }

    #[test]
    fn concurrent_writers_through_the_vfs_lose_nothing() {
        let _serial = serial();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("threads.db");
        let setup = open_wal(&path, "FULL");
        create_table(&setup);

        let before = sync_counts();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let conn = open_wal(&path, "FULL");
                    for i in 0..100 {
                        insert(&conn, &format!("thread {t} row {i}"));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("writer thread");
        }
        let after = sync_counts();

        assert_eq!(count_rows(&setup), 400);
        let plain = Connection::open(&path).expect("open through the default VFS");
        assert_eq!(count_rows(&plain), 400);
        assert!(after.wal >= before.wal + 400);
    }
}
