//! Compiles the protos in `proto/` with protox (no system `protoc` needed),
//! writes the descriptor set for server reflection and generates the tonic
//! services from it.

use std::{env, fs, path::PathBuf};

use prost::Message;

const PROTO_ROOT: &str = "proto";
const PROTO_DIR: &str = "proto/goalpost/v1";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");

    let mut protos: Vec<PathBuf> = fs::read_dir(PROTO_DIR)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    protos.retain(|path| path.extension().is_some_and(|ext| ext == "proto"));
    protos.sort();

    // protox keeps source comments, so reflection (grpcurl describe) shows them.
    let descriptors = protox::compile(&protos, [PROTO_ROOT])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("goalpost_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        // Ordered maps make encodings deterministic, which request_id replays
        // rely on to recognise the same request.
        .btree_map(".")
        .compile_fds(descriptors)?;
    Ok(())
}
