//! `examples/embed.rs`, the embedder's tour of the API, run as a test in a process of its
//! own (it checks its own peak memory while streaming a 128 MiB tensor).

#[path = "../examples/embed.rs"]
mod embed;

#[test]
fn the_embed_example_runs() {
    embed::main().unwrap();
}
