//! Fuzzes the CSV imports: the recipients list of a send job (`parse_csv`) and the Mini Program users import (`parse_import`, with the line number a piece starts on).
#![no_main]

use libfuzzer_sys::fuzz_target;

// Input: 8 bytes of the piece's first line number (as the page sends it), then the text.
fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (head, rest) = data.split_at(8);
    let mut n = [0u8; 8];
    n.copy_from_slice(head);
    let first_line = usize::try_from(u64::from_le_bytes(n)).unwrap_or(usize::MAX);
    let text = String::from_utf8_lossy(rest);

    for unionids in [false, true] {
        let (ids, errors, count) = engine::jobs::plan::fuzz_parse_csv(&text, unionids);
        assert!(errors.len() <= count, "more errors reported than counted");
        assert!(ids.iter().chain(&errors).all(|&line| line >= 1));
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids out of order");
    }

    for first in [1, first_line] {
        if let Some((rows, errors, count)) =
            engine::followers::mp_users::fuzz_parse_import(&text, first)
        {
            assert!(errors.len() <= count, "more errors reported than counted");
            assert!(rows + count <= text.split('\n').count());
            assert!(
                errors.iter().all(|&line| line >= first),
                "a line before the first"
            );
        }
    }
});
