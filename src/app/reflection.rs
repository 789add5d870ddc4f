//! Server reflection, so grpcurl can call goalpost with no proto files.

use super::StartupError;
use crate::pb;

/// Reflection serves goalpost's protos plus the health and `google.rpc`
/// error-detail descriptors, so grpcurl can describe everything and decode
/// error details with no proto files at hand.
fn reflection_builder() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

pub(super) fn reflection_v1() -> Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
    StartupError,
> {
    Ok(reflection_builder().build_v1()?)
}

/// grpcurl 1.8 speaks only the v1alpha reflection protocol.
pub(super) fn reflection_v1alpha() -> Result<
    tonic_reflection::server::v1alpha::ServerReflectionServer<
        impl tonic_reflection::server::v1alpha::ServerReflection,
    >,
    StartupError,
> {
    Ok(reflection_builder().build_v1alpha()?)
}
