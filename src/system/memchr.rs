//! Finding a byte with the C library's `memchr` (vectorised in glibc), for
//! the files parsed on every login: core's portable version cost about
//! 30,000 instructions per login there (see BENCHMARKS.md).

/// The index of the first `byte` in `haystack`.
pub fn find(haystack: &[u8], byte: u8) -> Option<usize> {
    if haystack.is_empty() {
        return None;
    }
    // SAFETY: the pointer and length describe `haystack`, which outlives
    // the call; memchr reads at most that many bytes and returns either
    // null or a pointer into it.
    let found = unsafe {
        libc::memchr(
            haystack.as_ptr().cast(),
            libc::c_int::from(byte),
            haystack.len(),
        )
    };
    if found.is_null() {
        return None;
    }
    (found as usize).checked_sub(haystack.as_ptr() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_occurrence_or_none() {
        assert_eq!(find(b"", b'a'), None);
        assert_eq!(find(b"abc", b'a'), Some(0));
        assert_eq!(find(b"abcabc", b'c'), Some(2));
        assert_eq!(find(b"abc", b'x'), None);
        let long: Vec<u8> = (0..1000)
            .map(|i| if i == 777 { b'\n' } else { b'x' })
            .collect();
        assert_eq!(find(&long, b'\n'), Some(777));
        assert_eq!(find(&long[..777], b'\n'), None);
    }
}
