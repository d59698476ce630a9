//! Making and showing a new enrollment: the secret and recovery codes
//! ([`new_enrollment`]), and the `otpauth://` URI and QR code an
//! authenticator app reads ([`provisioning`]).

pub mod new_enrollment;
pub mod provisioning;
