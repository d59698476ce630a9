//! Random bytes from the kernel (getrandom(2)).

use std::io;

/// Fill `buffer` from the OS random source.
pub fn fill(buffer: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buffer.len() {
        let Some(rest) = buffer.get_mut(filled..) else {
            break;
        };
        // SAFETY: the pointer and length describe `rest`, a live mutable
        // slice; getrandom writes at most that many bytes into it.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        filled += usize::try_from(n).unwrap_or(0);
    }
    Ok(())
}

/// `n` random bytes.
pub fn bytes(n: usize) -> io::Result<Vec<u8>> {
    let mut buffer = vec![0; n];
    fill(&mut buffer)?;
    Ok(buffer)
}
