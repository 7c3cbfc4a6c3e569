//! Every input of every committed fuzz corpus, through the target's checks: what fuzzing
//! found once stays fixed.

use std::path::Path;

#[test]
fn every_corpus_input_passes_its_target() {
    let corpora = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (name, check) in maillage_fuzz::TARGETS {
        let dir = corpora.join(name);
        let inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("a corpus entry").path())
            .collect();
        assert!(!inputs.is_empty(), "{} is empty", dir.display());
        for input in &inputs {
            let data = std::fs::read(input).expect("a corpus input reads");
            check(&data);
        }
        eprintln!("{name}: {} inputs", inputs.len());
    }
}
