//! Drive the built module through the real libpam: a service file in a
//! temporary directory (`pam_start_confdir`) and a scripted conversation.
#![allow(
    dead_code,
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub mod child;
pub mod crowd;
pub mod fleet;
pub mod pam_oath;
pub mod patroni;
pub mod pg;
pub mod pgbouncer;
pub mod ports;
#[path = "../../src/system/test_skip.rs"]
pub mod skip;
pub mod sshd;
pub mod syslog;
pub mod terminal;
pub mod users;
pub mod watchdog;

/// The per-test timeout's watchdog, started before `main` in every test
/// binary (see watchdog.rs).
#[used]
// SAFETY: .init_array holds pointers to functions the loader calls once
// before main with no arguments; `watchdog::start` is such a function.
#[unsafe(link_section = ".init_array")]
static START_WATCHDOG: extern "C" fn() = watchdog::start;

pub use skip::skip;

pub const PAM_SUCCESS: c_int = 0;
pub const PAM_SERVICE_ERR: c_int = 3;
pub const PAM_AUTH_ERR: c_int = 7;
pub const PAM_AUTHINFO_UNAVAIL: c_int = 9;
pub const PAM_MAXTRIES: c_int = 11;
pub const PAM_CONV_ERR: c_int = 19;
pub const PAM_IGNORE: c_int = 25;
pub const PAM_ABORT: c_int = 26;

/// What `Service::ignore_probe` returns when the module said PAM_IGNORE.
pub const PROBED_IGNORE: c_int = PAM_SUCCESS;
/// What `Service::ignore_probe` returns when the module said PAM_SUCCESS.
pub const PROBED_SUCCESS: c_int = PAM_AUTH_ERR;

const PAM_PROMPT_ECHO_OFF: c_int = 1;
const PAM_PROMPT_ECHO_ON: c_int = 2;
const PAM_ERROR_MSG: c_int = 3;
const PAM_TEXT_INFO: c_int = 4;
const PAM_RHOST: c_int = 4;

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

#[repr(C)]
struct PamConv {
    conv: extern "C" fn(c_int, *mut *const PamMessage, *mut *mut PamResponse, *mut c_void) -> c_int,
    appdata_ptr: *mut c_void,
}

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_start_confdir(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        confdir: *const c_char,
        pamh: *mut *mut c_void,
    ) -> c_int;
    fn pam_authenticate(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_set_item(pamh: *mut c_void, item_type: c_int, item: *const c_void) -> c_int;
    fn pam_end(pamh: *mut c_void, status: c_int) -> c_int;
}

/// What the scripted user does and what they saw.
#[derive(Default)]
pub struct Script {
    /// Answers given to prompts, in order; `None` makes the conversation fail.
    pub answers: Vec<Option<Vec<u8>>>,
    /// Every message shown: (style, text).
    pub shown: Vec<(String, String)>,
    /// What the conversation returns when it fails (a real client's may return anything).
    pub failure_code: c_int,
    /// Answers decided on the spot, from what was shown so far and the
    /// prompt (used instead of `answers` when set).
    pub responder: Option<Responder>,
    /// How many messages each conversation call carried.
    pub calls: Vec<usize>,
}

/// Given everything shown so far and the prompt, the answer (`None` fails).
pub type Responder = Box<dyn FnMut(&[(String, String)], &str) -> Option<Vec<u8>>>;

extern "C" fn conversation(
    count: c_int,
    messages: *mut *const PamMessage,
    responses: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    // SAFETY: appdata is the Mutex<Script> `run` boxed, alive for the whole
    // transaction; libpam passes it back unchanged.
    let script = unsafe { &*(appdata as *const Mutex<Script>) };
    let mut script = script.lock().unwrap();
    let count = count as usize;
    script.calls.push(count);
    // SAFETY: calloc of `count` zeroed responses; libpam frees it.
    let replies =
        unsafe { libc::calloc(count, std::mem::size_of::<PamResponse>()) } as *mut PamResponse;
    for i in 0..count {
        // SAFETY: libpam passes `count` valid message pointers.
        let message = unsafe { &**messages.add(i) };
        // SAFETY: each message's text is a NUL-terminated string.
        let text = unsafe { CStr::from_ptr(message.msg) }
            .to_string_lossy()
            .into_owned();
        let style = match message.msg_style {
            PAM_PROMPT_ECHO_OFF => "prompt_hidden",
            PAM_PROMPT_ECHO_ON => "prompt",
            PAM_ERROR_MSG => "error",
            PAM_TEXT_INFO => "info",
            _ => "other",
        };
        script.shown.push((style.to_string(), text.clone()));
        let is_prompt =
            message.msg_style == PAM_PROMPT_ECHO_OFF || message.msg_style == PAM_PROMPT_ECHO_ON;
        if is_prompt && script.responder.is_some() {
            let Script {
                responder, shown, ..
            } = &mut *script;
            let answer = responder.as_mut().unwrap()(shown, &text);
            script.answers.insert(0, answer);
        }
        if is_prompt {
            if script.answers.is_empty() {
                // SAFETY: replies came from calloc and is not handed out.
                unsafe { libc::free(replies as *mut c_void) };
                return script.failure_code;
            }
            match script.answers.remove(0) {
                Some(answer) => {
                    // The C string ends at the first NUL, as a real client's would.
                    // SAFETY: a zeroed buffer one byte longer than the answer
                    // (so NUL-terminated), filled from the answer, stored in
                    // reply i < count; libpam frees it.
                    let copy = unsafe { libc::calloc(answer.len() + 1, 1) } as *mut u8;
                    // SAFETY: as above.
                    unsafe { std::ptr::copy_nonoverlapping(answer.as_ptr(), copy, answer.len()) };
                    // SAFETY: as above.
                    unsafe { (*replies.add(i)).resp = copy as *mut c_char };
                }
                None => {
                    // SAFETY: replies came from calloc and is not handed out.
                    unsafe { libc::free(replies as *mut c_void) };
                    return script.failure_code;
                }
            }
        }
    }
    // SAFETY: libpam gives a valid place for the responses pointer.
    unsafe { *responses = replies };
    PAM_SUCCESS
}

/// The module as `make test` built it for this run (`cargo build
/// --features test-hooks`, before `cargo test`, which does not build
/// another package's shared object), in `deps/` beside the test binary;
/// pam_totp_postgres.so is beside it.
pub fn module_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().join("libpam_totp.so");
    assert!(
        path.exists(),
        "{} not built: run `make test`, or `cargo build --features test-hooks` before `cargo test`",
        path.display()
    );
    static FRESH: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    FRESH.get_or_init(|| {
        let library = pam_totp::store::plugin::library_beside(&path).unwrap();
        for object in [&path, &library] {
            assert_built_with_these_sources(object);
        }
    });
    path
}

/// `cargo test` rebuilds the library for the test binaries but not the
/// shared objects: a module or store built from other sources carries
/// another build identity (build.rs), and a test would run the old code.
fn assert_built_with_these_sources(object: &Path) {
    let bytes =
        std::fs::read(object).unwrap_or_else(|error| panic!("{}: {error}", object.display()));
    let identity = pam_totp::store::plugin::BUILD.as_bytes();
    assert!(
        memchr::memmem::find(&bytes, identity).is_some(),
        "{} is from other sources than this test: run `make test`, or `cargo build --features test-hooks` before `cargo test`",
        object.display()
    );
}

/// A throwaway PAM configuration directory with one service.
pub struct Service {
    pub dir: tempfile::TempDir,
    pub name: String,
}

impl Service {
    /// A service whose auth stack is `auth required pam_totp.so ARGS`.
    pub fn with_args(args: &str) -> Service {
        Service::with_stack(&format!(
            "auth required {} {args}\n",
            module_path().display()
        ))
    }

    /// A stack that tells the module's answer apart, PAM_IGNORE above all:
    /// libpam turns a stack whose only module ignores into PAM_PERM_DENIED,
    /// which a module's own PAM_PERM_DENIED would look like. Here only
    /// PAM_IGNORE reaches pam_permit (`PROBED_IGNORE`), PAM_SUCCESS goes on
    /// to pam_deny (`PROBED_SUCCESS`), and any other code ends the stack
    /// as itself.
    pub fn ignore_probe(args: &str) -> Service {
        Service::with_stack(&format!(
            "auth [success=1 ignore=ignore default=die] {} {args}\n\
             auth sufficient pam_permit.so\n\
             auth requisite pam_deny.so\n",
            module_path().display()
        ))
    }

    pub fn with_stack(stack: &str) -> Service {
        let dir = tempfile::tempdir().unwrap();
        let name = "pam-totp-test".to_string();
        std::fs::write(dir.path().join(&name), stack).unwrap();
        Service { dir, name }
    }

    /// Run pam_authenticate for `user`, answering prompts from `answers`.
    pub fn authenticate(&self, user: &str, answers: Vec<Option<Vec<u8>>>) -> Outcome {
        self.authenticate_with(user, answers, None)
    }

    pub fn authenticate_with(
        &self,
        user: &str,
        answers: Vec<Option<Vec<u8>>>,
        rhost: Option<&str>,
    ) -> Outcome {
        authenticate_in(self.dir.path(), &self.name, user, answers, rhost)
    }

    /// Run pam_authenticate for `user`, each prompt answered by `responder`.
    pub fn authenticate_responding(&self, user: &str, responder: Responder) -> Outcome {
        run_script(
            self.dir.path(),
            &self.name,
            user,
            None,
            Script {
                responder: Some(responder),
                failure_code: PAM_CONV_ERR,
                ..Script::default()
            },
        )
    }

    /// A login whose conversation fails at the first prompt, returning `code`.
    pub fn authenticate_with_failing_conversation(&self, user: &str, code: c_int) -> Outcome {
        run(self.dir.path(), &self.name, user, vec![None], None, code)
    }
}

/// pam_authenticate for `user` with service `name` from PAM configuration directory `confdir`.
pub fn authenticate_in(
    confdir: &Path,
    name: &str,
    user: &str,
    answers: Vec<Option<Vec<u8>>>,
    rhost: Option<&str>,
) -> Outcome {
    run(confdir, name, user, answers, rhost, PAM_CONV_ERR)
}

fn run(
    confdir: &Path,
    name: &str,
    user: &str,
    answers: Vec<Option<Vec<u8>>>,
    rhost: Option<&str>,
    failure_code: c_int,
) -> Outcome {
    let script = Script {
        answers,
        failure_code,
        ..Script::default()
    };
    run_script(confdir, name, user, rhost, script)
}

fn run_script(
    confdir: &Path,
    name: &str,
    user: &str,
    rhost: Option<&str>,
    script: Script,
) -> Outcome {
    let script = Box::new(Mutex::new(script));
    let conv = PamConv {
        conv: conversation,
        appdata_ptr: &*script as *const Mutex<Script> as *mut c_void,
    };
    let service = CString::new(name).unwrap();
    let user = CString::new(user).unwrap();
    let confdir = CString::new(confdir.to_str().unwrap()).unwrap();
    let mut handle: *mut c_void = std::ptr::null_mut();
    // SAFETY: NUL-terminated strings and a conversation that outlive the
    // transaction, and a place for the handle.
    let rc = unsafe {
        pam_start_confdir(
            service.as_ptr(),
            user.as_ptr(),
            &conv,
            confdir.as_ptr(),
            &mut handle,
        )
    };
    assert_eq!(rc, PAM_SUCCESS, "pam_start_confdir failed");
    if let Some(host) = rhost {
        let host = CString::new(host).unwrap();
        // SAFETY: a live handle and a NUL-terminated string libpam copies.
        unsafe { pam_set_item(handle, PAM_RHOST, host.as_ptr() as *const c_void) };
    }
    // SAFETY: the handle pam_start_confdir returned, ended once here.
    let code = unsafe { pam_authenticate(handle, 0) };
    // SAFETY: as above.
    unsafe { pam_end(handle, code) };
    let script = script.into_inner().unwrap();
    Outcome {
        code,
        shown: script.shown,
        unanswered: script.answers.len(),
        calls: script.calls,
    }
}

pub struct Outcome {
    pub code: c_int,
    pub shown: Vec<(String, String)>,
    pub unanswered: usize,
    /// How many messages each conversation call carried.
    pub calls: Vec<usize>,
}

impl Outcome {
    pub fn prompts(&self) -> Vec<String> {
        self.shown
            .iter()
            .filter(|(style, _)| style.starts_with("prompt"))
            .map(|(_, text)| text.clone())
            .collect()
    }

    pub fn errors(&self) -> Vec<String> {
        self.shown
            .iter()
            .filter(|(style, _)| style == "error")
            .map(|(_, text)| text.clone())
            .collect()
    }
}

/// One enrolled user's files in a temporary directory (administrator store).
pub struct Fixture {
    pub root: tempfile::TempDir,
    pub user: String,
    pub secret: Vec<u8>,
}

pub const SECRET_B32: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

impl Fixture {
    /// The current user, enrolled with SECRET_B32 (SHA1, 6 digits, 30 s).
    pub fn new() -> Fixture {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("secrets")).unwrap();
        let user = current_user();
        let fixture = Fixture {
            root,
            user,
            secret: base32_decode(SECRET_B32),
        };
        fixture.write_secret(&format!("version = 1\nsecret = \"{SECRET_B32}\"\nalgorithm = \"SHA1\"\ndigits = 6\nperiod = 30\n"));
        fixture
    }

    pub fn secret_file(&self) -> PathBuf {
        self.root
            .path()
            .join("secrets")
            .join(format!("{}.toml", self.user))
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root.path().join("state")
    }

    pub fn write_secret(&self, text: &str) {
        let path = self.secret_file();
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, text).unwrap();
        set_mode(&path, 0o600);
    }

    /// Module arguments pointing at this fixture.
    pub fn args(&self) -> String {
        format!(
            "secret_path={}/secrets/%u.toml state_dir={}",
            self.root.path().display(),
            self.state_dir().display()
        )
    }

    pub fn service(&self, extra: &str) -> Service {
        Service::with_args(&format!("{} {extra}", self.args()))
    }

    /// Set the module's clock (test-hooks builds read `state_dir/test-clock`).
    pub fn set_clock(&self, time: u64) {
        std::fs::create_dir_all(self.state_dir()).unwrap();
        set_mode(&self.state_dir(), 0o700);
        std::fs::write(self.state_dir().join("test-clock"), time.to_string()).unwrap();
    }

    /// The code for the time step containing `time`.
    pub fn code_at(&self, time: u64) -> String {
        let generator = pam_totp::otp::code::Generator::new(
            &self.secret,
            pam_totp::otp::code::HashAlgorithm::Sha1,
            6,
            30,
        )
        .unwrap();
        generator.code_for_step(generator.step_at(time))
    }

    /// A code that is wrong at `time` (and at the steps around it).
    pub fn wrong_code_at(&self, time: u64) -> String {
        let near: Vec<String> = (0..5)
            .map(|i| self.code_at(time.saturating_sub(60) + i * 30))
            .collect();
        (0..)
            .map(|n| format!("{:06}", n * 111_111 % 1_000_000))
            .find(|c| !near.contains(c))
            .unwrap()
    }

    /// Where the module keeps this user's state.
    pub fn state_file(&self) -> PathBuf {
        let uid = pam_totp::system::account::lookup_user(&self.user)
            .unwrap()
            .uid;
        self.state_dir()
            .join(pam_totp::store::files::state::state_file_name(
                uid,
                Some(&self.user),
            ))
    }

    /// The user's state file as the module wrote it.
    pub fn state_text(&self) -> String {
        std::fs::read_to_string(self.state_file()).unwrap_or_default()
    }

    /// The code for the step at `now + offset_steps * 30`.
    pub fn code(&self, offset_steps: i64) -> String {
        let generator = pam_totp::otp::code::Generator::new(
            &self.secret,
            pam_totp::otp::code::HashAlgorithm::Sha1,
            6,
            30,
        )
        .unwrap();
        let step = generator
            .step_at(now())
            .checked_add_signed(offset_steps)
            .unwrap();
        generator.code_for_step(step)
    }
}

/// Wait, if need be, until the current 30-second step has at least 3 s
/// left, so that codes computed now are still for the same step when the
/// module checks them.
pub fn wait_clear_of_a_step_edge() {
    let into_step = now() % 30;
    if into_step >= 27 {
        std::thread::sleep(std::time::Duration::from_secs(30 - into_step + 1));
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn current_user() -> String {
    pam_totp::system::account::lookup_uid(pam_totp::system::account::effective_uid())
        .unwrap()
        .name
}

/// Load the shared object at `path` into this process (its constructors
/// run); whether it loaded. The handle is never closed.
pub fn load_library(path: &Path) -> bool {
    let Ok(name) = CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: a NUL-terminated path; whatever the library runs when loaded
    // is the caller's test fixture.
    let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW) };
    !handle.is_null()
}

pub fn is_root() -> bool {
    pam_totp::system::account::effective_uid() == 0
}

/// Not root: the test is recorded as skipped with `reason` (a failure
/// under `CI=true`) and true is returned, for the caller to return.
pub fn skip_unless_root(reason: &str) -> bool {
    if is_root() {
        return false;
    }
    skip(reason);
    true
}

/// An exclusive lock, across every test process on this machine, on a
/// resource tests share system-wide (an installed package, a fixed user
/// name); held until the returned file is dropped.
pub fn machine_lock(name: &str) -> std::fs::File {
    // The test users' lock first: every process takes the machine's locks
    // in one order, so two runs cannot wait on each other in a circle.
    hold_test_users();
    flock_exclusive(name)
}

/// The tests' fixed user names (pt5-op-alice, ...) are the machine's: a
/// test process that creates or uses one holds this lock until it ends, so
/// two `make test` runs on one machine take turns with them instead of
/// deleting each other's users. Cargo runs one test binary at a time, so
/// within one run no one waits.
pub fn hold_test_users() {
    static HELD: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();
    HELD.get_or_init(|| flock_exclusive("test-users"));
}

fn flock_exclusive(name: &str) -> std::fs::File {
    use std::os::fd::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(ports::lock_dir().join(format!("{name}.lock")))
        .unwrap();
    // SAFETY: flock on a descriptor this File owns; blocks until granted.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(
        locked,
        0,
        "flock {name}: {}",
        std::io::Error::last_os_error()
    );
    file
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub fn base32_decode(text: &str) -> Vec<u8> {
    pam_totp::otp::secret::decode_base32(text).unwrap().to_vec()
}

pub fn answer(text: &str) -> Vec<Option<Vec<u8>>> {
    vec![Some(text.as_bytes().to_vec())]
}
