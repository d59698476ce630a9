//! The [`Store`] trait and the values it passes: where enrollments and the
//! module's state live, for the module and every command.

use crate::otp::secret::SecretFile;
use crate::otp::state::State;
use crate::store::error::{LoadError, StoreError};
use crate::system::account::Account;

/// A user's state with the store's idea of the time (the database's clock
/// for a shared store, so lockouts end at the same moment on every host).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub state: State,
    pub now: u64,
}

/// What [`Store::update`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Updated {
    /// The state as stored afterwards (unchanged if the change was `None`).
    pub state: State,
    pub now: u64,
    /// The stored state was unreadable and was replaced by the repair state.
    pub repaired: bool,
}

/// What to do when the stored state cannot be parsed.
pub enum Repair {
    /// Fail (the module: a corrupt state refuses the login).
    Refuse,
    /// Start from this state instead (the commands run by root; see
    /// `pam-totp unlock`). It is built before the update, so nothing that
    /// can hang (a user's file on a dead mount) runs under the lock.
    With(State),
}

/// What a new enrollment replaces, and so what the state forgets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replacing {
    /// A new secret: the last accepted step or counter belongs to the old
    /// one, and so do the used recovery codes.
    Secret,
    /// Only new recovery codes: the records of the old ones go.
    RecoveryCodes,
    /// The same secret again (an import of the file already imported):
    /// keep everything, so nothing used becomes usable.
    Nothing,
    /// No enrollment: a first one, saved only if the user has none yet
    /// (of two enrollments at once the first saved wins; the other gets
    /// [`StoreError::AlreadyEnrolled`] and saves nothing). The state
    /// forgets as for [`Replacing::Secret`].
    NoEnrollment,
}

/// What [`Store::remove`] removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removed {
    /// Where the enrollment was (a path, or the database), if there was one.
    pub enrollment: Option<String>,
    /// Whether there was a state record.
    pub state: bool,
}

/// One user the store knows, for `pam-totp list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub user: String,
    /// `None`: a state record without a readable enrollment.
    pub kind: Option<String>,
    pub state: Option<State>,
}

/// The change an update makes: given the stored state and the store's
/// time, the state to store (`None`: leave it). It cannot talk to the user,
/// and it may run more than once (a store that finds another host changed
/// the state in between runs it again on the new state), so it must be a
/// pure function of its arguments such as [`crate::otp::decision::decide`].
pub type Change<'a> = dyn FnMut(&State, u64) -> Option<State> + 'a;

pub trait Store {
    /// The user's enrollment (`LoadError::NotEnrolled` if there is none).
    fn enrollment(&mut self, account: &Account) -> Result<SecretFile, LoadError>;

    /// Whether the user has an enrollment of any kind, even an unreadable one.
    fn is_enrolled(&mut self, account: &Account) -> Result<bool, LoadError>;

    /// The user's state, read without a lock.
    fn snapshot(&mut self, account: &Account) -> Result<Snapshot, StoreError>;

    /// Read, change and write the user's state as one atomic step, so that
    /// of any number of concurrent updates each sees the others' results.
    /// After [`Store::enrollment`], only while that enrollment is still the
    /// one in place (else [`StoreError::EnrollmentChanged`], nothing
    /// written): a login waiting at its prompt is revoked by `disable`,
    /// `enroll --force` and `recovery-codes`.
    fn update(
        &mut self,
        account: &Account,
        repair: Repair,
        change: &mut Change<'_>,
    ) -> Result<Updated, StoreError>;

    /// Save `secret` as the user's enrollment (replacing any, except with
    /// [`Replacing::NoEnrollment`]), and make the state forget what
    /// `replacing` says. Returns where it was saved.
    fn save_enrollment(
        &mut self,
        account: &Account,
        secret: &SecretFile,
        replacing: Replacing,
        repair: Repair,
    ) -> Result<String, StoreError>;

    /// Remove the user's enrollment and state.
    fn remove(&mut self, account: &Account) -> Result<Removed, StoreError>;

    /// Every user the store knows.
    fn list(&mut self) -> Result<Vec<Listed>, StoreError>;

    /// The decoy record standing for `name`, a name without a usable
    /// enrollment (see [`crate::otp::decision::decide_without_credential`]).
    fn decoy_snapshot(&mut self, name: &str) -> Result<Snapshot, StoreError>;

    /// [`Store::update`] for the decoy record standing for `name`.
    fn decoy_update(&mut self, name: &str, change: &mut Change<'_>) -> Result<Updated, StoreError>;

    /// Close what the store holds open (the PostgreSQL store: its
    /// connection); the next call opens it again. The module calls this
    /// before it waits on the user, so no connection is held while a user
    /// types.
    fn release(&mut self);

    /// The enrollment lookup [`Store::enrollment`] makes, made for `name`,
    /// a name without an account (the answer is not used): an unknown name
    /// then costs what a known one does before the prompt, and the time to
    /// the prompt does not tell whether the name exists. The files store
    /// has nothing to look up without an account's home.
    fn look_up_unknown(&mut self, name: &str) -> Result<(), StoreError>;
}

/// The state to keep after `replacing` with a new enrollment whose
/// recovery codes are `recovery`.
pub fn forget(
    state: &State,
    replacing: Replacing,
    recovery: &[crate::otp::recovery::RecoveryHash],
) -> State {
    let mut next = state.clone();
    match replacing {
        Replacing::Nothing => return next,
        Replacing::Secret | Replacing::NoEnrollment => {
            next.last_step_start = None;
            next.last_counter = None;
        }
        Replacing::RecoveryCodes => {}
    }
    let current: Vec<String> = recovery.iter().map(|hash| hash.id()).collect();
    next.used_recovery.retain(|id| current.contains(id));
    next
}
