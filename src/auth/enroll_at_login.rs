//! Enrollment at login (`unenrolled = "enroll"`): a user without a secret
//! sets it up during the login, after the stack's earlier factor. The
//! conversation: the explanation, the QR code, the secret in groups of four
//! and the URI as PAM text messages; the current code asked for (three
//! tries); on a right code the enrollment saved through the store, the
//! code's time step recorded as used, and the recovery codes shown once.
//!
//! What sshd passes (OpenSSH portable, `auth-pam.c`): a conversation call
//! with more than `PAM_MAX_NUM_MSG` (32) messages fails (`PAM_CONV_ERR`,
//! `sshpam_thread_conv`). OpenSSH up to 10.2 (Debian 12 has 9.2) gathers
//! every text message up to the next prompt into that prompt
//! (`sshpam_query`), which the client prints through `asmprintf`: UTF-8
//! passes in a UTF-8 locale, colour sequences are escaped. Text messages
//! after the last prompt go to the login banner, which `ssh host command`
//! and `~/.hushlogin` never show, so the recovery codes (or, with
//! `recovery_codes = 0`, the confirmation alone) are followed by a
//! prompt. From 10.3 each text message is a keyboard-interactive round of
//! its own. Every message here is one conversation call and at most
//! [`MAX_MESSAGE_BYTES`].

use pam::constants::PamResultCode;
use zeroize::Zeroizing;

use crate::auth::session::Session;
use crate::config::Config;
use crate::enroll::new_enrollment::{NewEnrollment, TRIES};
use crate::enroll::provisioning::{self, Provisioning, qr::Drawing};
use crate::otp::answer::parse_answer;
use crate::otp::code::HashAlgorithm;
use crate::store::{Repair, Replacing, Store, StoreError};
use crate::system::account::Account;
use crate::system::clock;

/// The longest message sent: Linux-PAM's `PAM_MAX_MSG_SIZE`
/// (`security/_pam_types.h`, also OpenPAM's and Solaris'), the size a PAM
/// application may assume; OpenPAM truncates longer prompts. It also keeps
/// a message within the 1024 bytes older `ssh` clients log an instruction
/// with.
pub const MAX_MESSAGE_BYTES: usize = 512;
/// Messages in one conversation call: one. sshd refuses more than
/// `PAM_MAX_NUM_MSG` (32) in one call (`sshpam_thread_conv`), and one per
/// call is what every application handles.
pub const MESSAGES_PER_CALL: usize = 1;
/// The widest QR code drawn, in character cells (modules, quiet zone
/// included): a terminal of 80 columns. A wider one is left out; the
/// secret and the URI are still shown.
pub const MAX_QR_COLUMNS: usize = 80;

/// The QR code's height, in lines, where it can be made that small: an
/// 80x24 terminal less the prompt's line.
pub const QR_LINES: usize = 23;

const ACKNOWLEDGE_PROMPT: &str = "Press Enter once you have saved them: ";
/// The same prompt without recovery codes to save (`recovery_codes = 0`).
const CONTINUE_PROMPT: &str = "Press Enter to continue: ";

/// How the conversation ended.
pub enum Ending {
    /// Saved, and the confirming code's step recorded (its start).
    Enrolled { place: String, step_start: u64 },
    /// Three wrong codes: nothing saved.
    WrongCodes,
    /// The conversation failed (the client left): nothing saved.
    Conversation(PamResultCode),
    /// Another login enrolled this user meanwhile: nothing saved.
    EnrolledMeanwhile,
    /// Something on this host failed, said in a sentence: nothing kept.
    Failed(String),
}

/// Enroll `account`, who has no secret, through `session`.
pub fn run(
    session: &mut dyn Session,
    config: &Config,
    store: &mut dyn Store,
    account: &Account,
) -> Ending {
    let issuer = provisioning::issuer(config.issuer.as_deref());
    let label = provisioning::label(&account.name);
    if issuer.contains(':') || label.contains(':') {
        return Ending::Failed("the issuer or the account label contains ':'".into());
    }
    let new = match NewEnrollment::create(
        HashAlgorithm::Sha1,
        6,
        30,
        usize::try_from(config.recovery_codes).unwrap_or(usize::MAX),
    ) {
        Ok(new) => new,
        Err(error) => return Ending::Failed(error.to_string()),
    };
    let shown = Provisioning::with_short_uri(&issuer, &label, &new.file);
    for message in messages(&introduction(&account.name, &shown)) {
        session.show_info(&message);
    }
    let step_start = match ask_for_code(session, config, &new, &shown) {
        Ok(step_start) => step_start,
        Err(ending) => return ending,
    };
    let ending = save(store, account, &new, step_start);
    // The recovery codes are shown, and acknowledged, with no connection.
    store.release();
    if let Ending::Enrolled { place, .. } = &ending {
        let mut lines = vec![format!(
            "Saved: two-factor authentication is on for {} ({place}).",
            account.name
        )];
        lines.extend(provisioning::recovery_code_lines(
            &account.name,
            &new.recovery_codes,
            config.recovery_codes > 0,
        ));
        for message in messages(&lines) {
            session.show_info(&message);
        }
        // Only so that sshd shows the codes now (see the module comment):
        // the answer does not matter, nor does a client that gives none.
        let _ = session.prompt_hidden(match new.recovery_codes.is_empty() {
            true => CONTINUE_PROMPT,
            false => ACKNOWLEDGE_PROMPT,
        });
    }
    ending
}

/// What is shown before the first prompt, line by line: the QR code
/// last, right above the prompt, and at most [`QR_LINES`] high where the
/// code allows, so that its top is still on an 80x24 screen at the prompt
/// (the lines above it scroll away first).
fn introduction(user: &str, shown: &Provisioning) -> Vec<String> {
    let qr = shown
        .qr_code()
        .ok()
        .filter(|matrix| matrix.width() <= MAX_QR_COLUMNS);
    let mut lines = vec![
        format!("Two-factor authentication is now required for {user}; set it up once, now."),
        provisioning::ADD_TO_APP.to_string(),
        match qr {
            Some(_) => provisioning::SCAN_OR_TYPE.to_string(),
            None => provisioning::TYPE_OR_OPEN.to_string(),
        },
    ];
    lines.extend(shown.details());
    if let Some(mut matrix) = qr {
        matrix.fit_lines(QR_LINES);
        lines.extend(matrix.lines(Drawing::HalfBlocksPlain));
    }
    lines
}

/// Up to `TRIES` prompts: the start of the confirmed code's time step,
/// or how it ended without one.
fn ask_for_code(
    session: &mut dyn Session,
    config: &Config,
    new: &NewEnrollment,
    shown: &Provisioning,
) -> Result<u64, Ending> {
    let prompt = shown.code_prompt();
    for try_number in 1..=TRIES {
        let raw: Zeroizing<Vec<u8>> = session
            .prompt_hidden(&prompt)
            .map_err(Ending::Conversation)?;
        let answer = parse_answer(&raw);
        drop(raw);
        let Some(now) = clock::now(&config.state_dir) else {
            return Err(Ending::Failed("the system clock is before 1970".into()));
        };
        if let Some(step_start) = new.confirmed_step_start(&answer, now, config.window) {
            return Ok(step_start);
        }
        let tries_left = TRIES - try_number;
        if tries_left > 0 {
            session.show_error(&provisioning::wrong_code(tries_left));
        }
    }
    session.show_error(&format!(
        "{TRIES} wrong codes, so nothing was saved; remove the entry from the app and log in again to start over."
    ));
    Err(Ending::WrongCodes)
}

/// Save the enrollment as `pam-totp enroll` does, then record the
/// confirming code as used (a login with it). If that record cannot be
/// made the enrollment is removed again: the code could log in once more.
fn save(store: &mut dyn Store, account: &Account, new: &NewEnrollment, step_start: u64) -> Ending {
    // Two logins (or a login and `pam-totp enroll`) enrolling at once: the
    // save is exclusive (the files store links the new file into place,
    // which fails if one is there; PostgreSQL inserts with ON CONFLICT DO
    // NOTHING), so the first one saved wins and this one saves nothing.
    let place =
        match store.save_enrollment(account, &new.file, Replacing::NoEnrollment, Repair::Refuse) {
            Ok(place) => place,
            Err(StoreError::AlreadyEnrolled) => return Ending::EnrolledMeanwhile,
            Err(error) => return Ending::Failed(error.to_string()),
        };
    let recorded = store.update(account, Repair::Refuse, &mut |state, now| {
        let mut next = crate::enroll::new_enrollment::confirming_code_used(state, step_start);
        next.record_success(now, Some(step_start));
        Some(next)
    });
    match recorded {
        Ok(_) => Ending::Enrolled { place, step_start },
        Err(error) => Ending::Failed(undo(store, account, &error)),
    }
}

fn undo(store: &mut dyn Store, account: &Account, error: &StoreError) -> String {
    match store.remove(account) {
        Ok(_) => format!("{error}; the new enrollment was removed again"),
        Err(also) => format!(
            "{error}; removing the new enrollment failed too ({also}): run `pam-totp disable --user {}`",
            account.name
        ),
    }
}

/// `lines` as messages of at most [`MAX_MESSAGE_BYTES`]: consecutive
/// lines joined with `\n` while they fit (fewer rounds where each message
/// is one), a longer line cut at character boundaries. No message ends in
/// a line end: the client adds one.
pub fn messages(lines: &[String]) -> Vec<String> {
    let mut messages: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in lines.iter().flat_map(|line| pieces(line)) {
        let joined = current.len() + 1 + line.len();
        if !current.is_empty() && joined > MAX_MESSAGE_BYTES {
            messages.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(line);
    }
    if !current.is_empty() {
        messages.push(current);
    }
    messages
}

/// `line` in pieces of at most [`MAX_MESSAGE_BYTES`], cut between characters.
fn pieces(line: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = line;
    while rest.len() > MAX_MESSAGE_BYTES {
        let mut cut = MAX_MESSAGE_BYTES;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (piece, after) = rest.split_at(cut);
        pieces.push(piece);
        rest = after;
    }
    pieces.push(rest);
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_pack_lines_within_the_limit() {
        let lines: Vec<String> = (0..40).map(|i| format!("{i:03}").repeat(40)).collect();
        let packed = messages(&lines);
        assert!(packed.iter().all(|m| m.len() <= MAX_MESSAGE_BYTES));
        assert!(packed.iter().all(|m| !m.ends_with('\n')));
        assert_eq!(packed.join("\n"), lines.join("\n"));
        assert_eq!(packed.len(), 10, "four lines of 120 bytes per message");
    }

    #[test]
    fn a_long_line_is_cut_between_characters() {
        let long = "█".repeat(400); // 1200 bytes
        let packed = messages(&[long.clone(), "end".into()]);
        assert!(
            packed.iter().all(|m| m.len() <= MAX_MESSAGE_BYTES),
            "{packed:?}"
        );
        assert_eq!(packed.concat().replace('\n', ""), long + "end");
    }

    #[test]
    fn the_qr_code_comes_last_and_fits_24_lines_with_the_prompt() {
        let new = NewEnrollment::create(HashAlgorithm::Sha1, 6, 30, 10).unwrap();
        // A host name of 15 characters and a user name of 20.
        let (host, user) = ("mail.example.ne", "alexandra.smith-1234");
        let shown = Provisioning::with_short_uri(host, &format!("{user}@{host}"), &new.file);
        let lines = introduction(user, &shown);
        let first_qr = lines.iter().position(|l| l.starts_with('█')).unwrap();
        let qr = &lines[first_qr..];
        assert!(qr.iter().all(|l| l.starts_with('█')), "{lines:#?}");
        assert!(qr.len() <= QR_LINES, "{} lines", qr.len());
        assert!(!shown.uri.contains("algorithm="), "{}", shown.uri.as_str());
    }

    #[test]
    fn the_introduction_fits_a_terminal_and_the_limit() {
        let new = NewEnrollment::create(HashAlgorithm::Sha1, 6, 30, 10).unwrap();
        let host = "a-rather-long-host-name.example.org";
        let shown = Provisioning::new(host, &format!("someone@{host}"), &new.file);
        let lines = introduction("someone", &shown);
        let qr: Vec<&String> = lines.iter().filter(|l| l.starts_with('█')).collect();
        assert!(qr.len() > 20, "{lines:?}");
        assert!(qr.iter().all(|l| l.chars().count() <= MAX_QR_COLUMNS));
        let packed = messages(&lines);
        assert!(packed.iter().all(|m| m.len() <= MAX_MESSAGE_BYTES));
        assert!(packed.len() < 32);
        assert!(packed.concat().contains(shown.uri.as_str()));
    }
}
