//! Real libpam in process (pam_start, the timed pam_authenticate,
//! pam_end) for the wall times, and pamtester under /usr/bin/time for
//! the peak memory.

use super::*;

impl Bench {
    // ---- (2) wall time ---------------------------------------------------

    /// Microseconds spent in pam_authenticate, `count` times, state reset
    /// (outside the timed part) before each.
    pub(crate) fn time_in_process(
        &self,
        module: Module,
        right: bool,
        layout: Layout,
        count: usize,
    ) -> Vec<f64> {
        let generator = generator(self.secret_of(module));
        let mut samples = Vec::with_capacity(count);
        for _ in 0..count {
            self.reset(module, layout, 1);
            let code = if right {
                generator.code_for_step(generator.step_at(common::now()))
            } else {
                self.wrong_code()
            };
            let (rc, elapsed) = authenticate_timed(module.service(), USER, &code);
            let expected = right || module == Module::Permit;
            assert_eq!(
                rc == 0,
                expected,
                "{} with a {} code returned {rc}",
                module.service(),
                if right { "right" } else { "wrong" }
            );
            samples.push(elapsed.as_secs_f64() * 1e6);
        }
        samples
    }

    pub(crate) fn wall_time(&self, report: &mut Report) {
        let table = &mut report.main;
        self.configure(Layout::Home, 1);
        let count = if self.quick { 50 } else { 200 };
        for (right, name) in [(true, "right"), (false, "wrong")] {
            let mut cells = Vec::new();
            // Warm up every module once (page cache, NSS, first dlopen).
            for module in MODULES {
                self.time_in_process(module, right, Layout::Home, 5);
            }
            for module in MODULES {
                let samples = self.time_in_process(module, right, Layout::Home, count);
                cells.push(spread(&samples, "µs"));
            }
            table.row(
                &format!("pam_authenticate wall time, {name} code, median (p10–p90), {count} in-process runs"),
                cells,
            );
        }
    }

    // ---- (3) memory ------------------------------------------------------

    pub(crate) fn max_rss_kib(&self, module: Module) -> u64 {
        let runs = if self.quick { 3 } else { 11 };
        let mut values = Vec::new();
        for _ in 0..runs {
            self.reset(module, Layout::Home, 1);
            let report = self.out.join("time.txt");
            let mut child = Command::new("/usr/bin/time")
                .arg("-f")
                .arg("%M")
                .arg("-o")
                .arg(&report)
                .args(["pamtester", module.service(), USER, "authenticate"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let code = self.right_code_for(module);
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("{code}\n").as_bytes())
                .ok(); // pam_permit asks nothing; pamtester may be gone already
            assert!(
                child.wait().unwrap().success(),
                "{} failed",
                module.service()
            );
            values.push(
                std::fs::read_to_string(&report)
                    .unwrap()
                    .trim()
                    .parse::<u64>()
                    .unwrap(),
            );
        }
        values.sort_unstable();
        values[values.len() / 2]
    }

    pub(crate) fn memory(&self, report: &mut Report) {
        let table = &mut report.main;
        self.configure(Layout::Home, 1);
        let base = self.max_rss_kib(Module::Permit);
        let mut cells = vec![format!("{base} KiB (whole process)")];
        for module in PEERS {
            let rss = self.max_rss_kib(module);
            cells.push(format!("{} KiB", rss as i64 - base as i64));
        }
        table.row(
            "Peak memory added to the host process (maxrss of pamtester, median of 11)",
            cells,
        );
    }
}

// ---- libpam, in process ----------------------------------------------------

#[repr(C)]
pub(crate) struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
pub(crate) struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

#[repr(C)]
pub(crate) struct PamConv {
    conv: extern "C" fn(c_int, *mut *const PamMessage, *mut *mut PamResponse, *mut c_void) -> c_int,
    appdata_ptr: *mut c_void,
}

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_start(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        pamh: *mut *mut c_void,
    ) -> c_int;
    fn pam_authenticate(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_end(pamh: *mut c_void, status: c_int) -> c_int;
}

/// Answers every prompt with the code; shows nothing.
extern "C" fn answer_with_code(
    count: c_int,
    messages: *mut *const PamMessage,
    responses: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    // SAFETY: appdata is the CString authenticate_timed passes, alive for
    // the whole transaction.
    let code = unsafe { &*(appdata as *const CString) };
    let count = count as usize;
    // SAFETY: calloc of `count` zeroed responses; libpam frees it.
    let replies =
        unsafe { libc::calloc(count, std::mem::size_of::<PamResponse>()) } as *mut PamResponse;
    for i in 0..count {
        // SAFETY: libpam passes `count` valid message pointers.
        let message = unsafe { &**messages.add(i) };
        if message.msg_style == 1 || message.msg_style == 2 {
            // SAFETY: reply i < count; strdup copies a NUL-terminated string.
            unsafe { (*replies.add(i)).resp = libc::strdup(code.as_ptr()) };
        }
    }
    // SAFETY: libpam gives a valid place for the responses pointer.
    unsafe { *responses = replies };
    0
}

/// pam_start, then time pam_authenticate alone, then pam_end.
pub(crate) fn authenticate_timed(service: &str, user: &str, code: &str) -> (c_int, Duration) {
    let code = CString::new(code).unwrap();
    let conv = PamConv {
        conv: answer_with_code,
        appdata_ptr: &code as *const CString as *mut c_void,
    };
    let service = CString::new(service).unwrap();
    let user = CString::new(user).unwrap();
    let mut handle: *mut c_void = std::ptr::null_mut();
    // SAFETY: NUL-terminated strings and a conversation that outlive the
    // transaction, and a place for the handle.
    let rc = unsafe { pam_start(service.as_ptr(), user.as_ptr(), &conv, &mut handle) };
    assert_eq!(rc, 0, "pam_start failed");
    let started = Instant::now();
    // SAFETY: the handle pam_start returned, ended once below.
    let rc = unsafe { pam_authenticate(handle, 0) };
    let elapsed = started.elapsed();
    // SAFETY: as above.
    unsafe { pam_end(handle, rc) };
    (rc, elapsed)
}
