//! Writes the conformance vectors and `manifest.txt` into a folder (default `testdata`):
//! `cargo run -p elv-format --example gen_testdata -- testdata`.

#[path = "../tests/vectors/mod.rs"]
mod vectors;

fn main() -> std::io::Result<()> {
    let dir =
        std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "testdata".into()));
    let all = vectors::all();
    for sub in ["valid", "invalid"] {
        let d = dir.join(sub);
        if d.exists() {
            for e in std::fs::read_dir(&d)? {
                let p = e?.path();
                if p.extension().is_some_and(|x| x == "elv") {
                    std::fs::remove_file(p)?;
                }
            }
        }
        std::fs::create_dir_all(d)?;
    }
    for v in &all {
        std::fs::write(dir.join(vectors::path_of(v)), &v.bytes)?;
    }
    std::fs::write(dir.join("manifest.txt"), vectors::manifest(&all))?;
    println!(
        "wrote {} vectors and manifest.txt to {}",
        all.len(),
        dir.display()
    );
    Ok(())
}
