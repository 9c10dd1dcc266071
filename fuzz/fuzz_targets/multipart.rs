//! The `multipart` target: `aiohttp::fuzz_support::multipart` documents what it drives, the
//! layout of its input and its checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = aiohttp::fuzz_support::multipart(data);
});
