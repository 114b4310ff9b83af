//! Fingerprints `migrations/` so test helpers can name a migrated template database after exactly
//! the migrations compiled into this crate (diesel does not expose the embedded SQL).

use std::{
    env, fs,
    io::{self, Write as _},
    path::Path,
};

fn main() -> io::Result<()> {
    let dir = Path::new(&env::var("CARGO_MANIFEST_DIR").map_err(io::Error::other)?)
        .join("../../migrations");
    println!("cargo:rerun-if-changed={}", dir.display());

    let mut hash = Fnv64::default();
    let mut migrations = fs::read_dir(&dir)?.collect::<Result<Vec<_>, _>>()?;
    migrations.sort_by_key(|entry| entry.file_name());
    for migration in migrations.iter().filter(|e| e.path().is_dir()) {
        hash.write_field(migration.file_name().as_encoded_bytes());
        let mut files = fs::read_dir(migration.path())?.collect::<Result<Vec<_>, _>>()?;
        files.sort_by_key(|entry| entry.file_name());
        for file in files.iter().filter(|e| e.path().is_file()) {
            hash.write_field(file.file_name().as_encoded_bytes());
            hash.write_field(&fs::read(file.path())?);
        }
    }
    writeln!(
        io::stdout(),
        "cargo:rustc-env=DB_MIGRATIONS_FINGERPRINT={:016x}",
        hash.0
    )
}

/// FNV-1a: tiny, dependency-free and stable across Rust releases (unlike `DefaultHasher`), so the
/// template name only changes when the migrations do.
struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv64 {
    /// Length-prefixed, so moving bytes between adjacent fields changes the hash.
    fn write_field(&mut self, bytes: &[u8]) {
        self.write(&(bytes.len() as u64).to_le_bytes());
        self.write(bytes);
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}
