import type { Server } from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import type { BatonConfig } from '@baton/contracts';

/**
 * gRPC server reflection (v1 and v1alpha), so `grpcurl list` and `describe`
 * work without the .proto files. It is built from the package definition the
 * API itself serves, so it describes exactly the methods that answer. It is a
 * plain grpc-js service beside Nest's handlers, so no key is asked for: it
 * tells no more than the published proto files do, and BATON_GRPC_REFLECTION=false
 * removes it for those who would rather not advertise the surface.
 */
export function reflectionHook(
  config: BatonConfig,
): ((pkg: Record<string, unknown>, server: unknown) => void) | undefined {
  if (!config.grpcReflection) return undefined;
  return (pkg, server) => {
    new ReflectionService(pkg as PackageDefinition).addToServer(server as Pick<Server, 'addService'>);
  };
}
