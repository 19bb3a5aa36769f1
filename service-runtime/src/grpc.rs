//! The standard services every gRPC server of the system exposes, so that
//! `grpcurl`, `buf curl` and other clients can explore and call it with no
//! proto files at hand, and Kubernetes can probe it.

use tonic::service::RoutesBuilder;
use tonic_health::server::HealthReporter;

/// The health service's full name.
const HEALTH: &str = "grpc.health.v1.Health";

/// Adds gRPC reflection (`grpc.reflection.v1` and, for the many clients that
/// still speak only it, `grpc.reflection.v1alpha`) and `grpc.health.v1` to
/// `routes`. Reflection advertises `served` (full names such as
/// `auth.v1.AuthService`) and health, not the other services of the API.
/// Returns the health reporter: the caller marks its services serving when
/// ready and not serving when draining.
pub fn add_standard_services(routes: &mut RoutesBuilder, served: &[&str]) -> HealthReporter {
    let (reporter, health) = tonic_health::server::health_reporter();
    routes.add_service(health);
    let names = served.iter().copied().chain([HEALTH]);
    let v1 = names
        .clone()
        .fold(reflection(), |builder, name| {
            builder.with_service_name(name)
        })
        .build_v1()
        .expect("the API descriptor set is valid");
    let v1alpha = names
        .fold(reflection(), |builder, name| {
            builder.with_service_name(name)
        })
        .build_v1alpha()
        .expect("the API descriptor set is valid");
    routes.add_service(v1);
    routes.add_service(v1alpha);
    reporter
}

fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}
