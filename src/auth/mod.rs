//! One PAM authentication: the flow ([`flow`]), the port it talks to the
//! user and the log through ([`session`]), the PAM adapter behind that port
//! ([`pam_session`]) and the enrollment offered at login
//! ([`enroll_at_login`]).

pub mod connection_mark;
pub mod enroll_at_login;
pub mod flow;
pub mod pam_session;
pub mod session;
