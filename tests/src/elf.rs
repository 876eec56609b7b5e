//! Just enough ELF reading to tell a binary's machine and whether it needs a dynamic loader.

/// What a binary needs from the system that runs it.
#[derive(Debug, PartialEq, Eq)]
pub struct Linkage {
    /// `e_machine`: 62 x86_64, 183 aarch64.
    pub machine: u16,
    /// A `PT_INTERP` program header: the binary asks for a dynamic loader.
    pub interpreter: bool,
    /// `DT_NEEDED` entries: shared libraries it loads.
    pub needed: usize,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Read a 64-bit little-endian ELF file.
pub fn linkage(bytes: &[u8]) -> Linkage {
    assert!(
        bytes.len() > 64 && &bytes[..4] == b"\x7fELF",
        "not an ELF file"
    );
    assert_eq!(bytes[4], 2, "not a 64-bit ELF");
    assert_eq!(bytes[5], 1, "not little-endian");
    let machine = u16_at(bytes, 18);
    let phoff = u64_at(bytes, 32) as usize;
    let phentsize = u16_at(bytes, 54) as usize;
    let phnum = u16_at(bytes, 56) as usize;
    let mut interpreter = false;
    let mut needed = 0;
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        match u32_at(bytes, ph) {
            3 => interpreter = true,
            2 => {
                let offset = u64_at(bytes, ph + 8) as usize;
                let size = u64_at(bytes, ph + 32) as usize;
                for entry in (offset..offset + size).step_by(16) {
                    match u64_at(bytes, entry) {
                        0 => break,
                        1 => needed += 1,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Linkage {
        machine,
        interpreter,
        needed,
    }
}
