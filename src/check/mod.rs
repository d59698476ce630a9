//! What `pam-totp check` examines, as library functions returning typed
//! findings: the PAM stack ([`pam_stack`]), sshd's settings ([`sshd`]),
//! the module's directories (by the rules in [`crate::system::paths`], which
//! the module applies too), the PostgreSQL store ([`database`]) and whether anything
//! receives the log ([`syslog`]). The command only formats what these
//! return.

pub mod database;
pub mod first_factor;
pub mod pam_stack;
pub mod sshd;
pub mod syslog;

/// Where the packages and `make install` put the example PAM stacks
/// (`pam.d/`), sshd drop-ins (`sshd_config.d/`) and configuration.
pub const EXAMPLES_DIR: &str = "/usr/share/doc/pam-totp/examples";
