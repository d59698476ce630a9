//! Loading a shared object at run time: the module's PostgreSQL store
//! (`store::plugin`). Which file this code was loaded from, `dlopen`, and
//! calling the store's entry point.
//!
//! Every symbol a shared object imports costs each login a lookup when
//! libpam loads the module (about 790 instructions each, see
//! BENCHMARKS.md), on every host, files store or not. So `dlopen` and
//! `dlerror` are not imported: they are looked up with `dlsym` (which Rust's
//! standard library imports anyway) the first time a PostgreSQL host needs
//! them. `dl_iterate_phdr` is imported by the standard library as well.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

/// The file the shared object holding this code was loaded from (the
/// module, inside sshd), as the dynamic loader names it; the running
/// program when this code is linked into it (the command, the tests).
pub fn own_file() -> Option<PathBuf> {
    let mut found = Search {
        address: own_file as *const () as usize,
        name: None,
    };
    // SAFETY: the callback reads only what dl_iterate_phdr hands it, for
    // the duration of the call, and `found` outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&raw mut found).cast()) };
    match found.name {
        Some(name) if !name.as_os_str().is_empty() => Some(name),
        Some(_) => std::env::current_exe().ok(),
        None => None,
    }
}

struct Search {
    address: usize,
    name: Option<PathBuf>,
}

/// dl_iterate_phdr's callback: is `address` in one of this object's
/// loaded segments? Returns non-zero to stop at the first match.
unsafe extern "C" fn visit(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> c_int {
    // SAFETY: `data` is the `Search` own_file passed; `info` is valid for
    // this call, its `dlpi_phdr` points at `dlpi_phnum` program headers.
    let (search, info) = unsafe { (&mut *data.cast::<Search>(), &*info) };
    if info.dlpi_phdr.is_null() {
        return 0;
    }
    // SAFETY: as above.
    let headers =
        unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
    let base = info.dlpi_addr as usize;
    let inside = headers.iter().any(|header| {
        let start = base.wrapping_add(header.p_vaddr as usize);
        header.p_type == libc::PT_LOAD
            && (start..start.saturating_add(header.p_memsz as usize)).contains(&search.address)
    });
    if !inside {
        return 0;
    }
    search.name = Some(if info.dlpi_name.is_null() {
        PathBuf::new()
    } else {
        // SAFETY: a NUL-terminated string owned by the loader, copied here.
        let name = unsafe { CStr::from_ptr(info.dlpi_name) };
        PathBuf::from(std::ffi::OsStr::from_bytes(name.to_bytes()))
    });
    1
}

/// A shared object loaded with `RTLD_NOW | RTLD_LOCAL`. It is never
/// unloaded: objects it made (their code and vtables live in it) may
/// outlive any handle, and the process (an sshd child per connection) ends
/// soon enough.
pub struct Library {
    handle: NonNull<c_void>,
}

/// The signature of a versioned entry point (a name ending in `_v1`, ...):
/// the caller's build identity (bytes, length) and a pointer to a request
/// only a library of the same build may interpret. Returns what the
/// library says it did.
type Entry = unsafe extern "C" fn(*const u8, usize, *mut c_void) -> c_int;

type DlOpen = unsafe extern "C" fn(*const c_char, c_int) -> *mut c_void;
type DlError = unsafe extern "C" fn() -> *mut c_char;

impl Library {
    pub fn open(path: &Path) -> Result<Library, String> {
        let name = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| "the path contains a NUL byte".to_string())?;
        let dlopen: DlOpen = loader_function(c"dlopen").ok_or("dlopen is not available")?;
        // Before dlopen: any dl* call after a failure clears its message.
        let dlerror: Option<DlError> = loader_function(c"dlerror");
        // SAFETY: a NUL-terminated path; dlopen runs the object's
        // initialisers, which for our own store do nothing unusual.
        let handle = unsafe { dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        NonNull::new(handle)
            .map(|handle| Library { handle })
            .ok_or_else(|| loader_message(dlerror))
    }

    /// Call the entry point `name` with `build` and `request`. `None`: the
    /// library has no such symbol.
    pub fn call_entry<R>(&self, name: &CStr, build: &[u8], request: &mut R) -> Option<c_int> {
        // SAFETY: a handle dlopen returned and a NUL-terminated name.
        let symbol = unsafe { libc::dlsym(self.handle.as_ptr(), name.as_ptr()) };
        if symbol.is_null() {
            return None;
        }
        // SAFETY: an entry point's name carries its version, and every
        // version's signature is `Entry`; a library of another build
        // answers without reading `request` (it cannot know its type).
        let entry: Entry = unsafe { std::mem::transmute::<*mut c_void, Entry>(symbol) };
        // SAFETY: `build` is valid for its length and `request` is an
        // exclusive borrow, both for the duration of the call.
        Some(unsafe { entry(build.as_ptr(), build.len(), (request as *mut R).cast()) })
    }
}

/// A function of the dynamic loader, found through `dlsym` (see the top of
/// this file for why).
fn loader_function<F: Copy>(name: &CStr) -> Option<F> {
    // SAFETY: RTLD_DEFAULT and a NUL-terminated name.
    let symbol = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    if symbol.is_null() || std::mem::size_of::<F>() != std::mem::size_of::<*mut c_void>() {
        return None;
    }
    // SAFETY: only called with the function pointer type matching `name`
    // (DlOpen for dlopen, DlError for dlerror), pointer-sized as checked.
    Some(unsafe { std::mem::transmute_copy::<*mut c_void, F>(&symbol) })
}

/// dlerror's text right after the failure, or a generic sentence.
fn loader_message(dlerror: Option<DlError>) -> String {
    let Some(dlerror) = dlerror else {
        return "dlopen failed".to_string();
    };
    // SAFETY: dlerror returns null or a NUL-terminated string valid until
    // the next dl* call on this thread; it is copied at once.
    let text = unsafe { dlerror() };
    if text.is_null() {
        return "dlopen failed".to_string();
    }
    // SAFETY: as above.
    unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}
