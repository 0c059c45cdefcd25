import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { credentials, loadPackageDefinition, status as GrpcStatus } from '@grpc/grpc-js';
import type { ClientDuplexStream, GrpcObject, ServiceClientConstructor, ServiceError } from '@grpc/grpc-js';
import { PROTO_PACKAGE, SERVICES } from '@baton/proto';
import { TestHarness } from '../index';

/*
 * gRPC server reflection, as grpcurl uses it: a ServerReflectionInfo stream
 * with list_services, then file_containing_symbol, answered by the real
 * frontend with keys required and none sent.
 */

// The reflection package and the loader are dependencies of the frontend, not of the tests: reach them through it.
const frontendRequire = createRequire(join(__dirname, '..', '..', '..', 'apps', 'frontend', 'package.json'));
const loaderPath = frontendRequire.resolve('@grpc/proto-loader');
const { loadSync } = frontendRequire('@grpc/proto-loader') as {
  loadSync: (files: string, options: object) => Parameters<typeof loadPackageDefinition>[0];
};
// protobufjs's own google.protobuf.FileDescriptorProto, to read the descriptors the server returns.
const { FileDescriptorProto } = createRequire(loaderPath)('protobufjs/ext/descriptor') as {
  FileDescriptorProto: { decode(bytes: Uint8Array): unknown };
};
const REFLECTION_PROTO = join(
  dirname(frontendRequire.resolve('@grpc/reflection/package.json')),
  'build/proto/grpc/reflection/v1/reflection.proto',
);

interface ReflectionResponse {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}
interface FileDescriptor {
  package: string;
  service: { name: string; method: { name: string; inputType: string; outputType: string }[] }[];
}

const reflectionPackage = loadPackageDefinition(loadSync(REFLECTION_PROTO, { keepCase: true, oneofs: true }));
const ServerReflection = ((reflectionPackage.grpc as GrpcObject).reflection as GrpcObject).v1 as GrpcObject;
const ReflectionClient = ServerReflection.ServerReflection as ServiceClientConstructor;

/** Sends each request on one ServerReflectionInfo stream and collects one answer per request. */
function reflect(address: string, requests: object[]): Promise<ReflectionResponse[]> {
  const client = new ReflectionClient(address, credentials.createInsecure());
  return new Promise<ReflectionResponse[]>((resolve, reject) => {
    const call = (client.ServerReflectionInfo as (options: object) => ClientDuplexStream<object, ReflectionResponse>)({
      deadline: Date.now() + 10_000,
    });
    const answers: ReflectionResponse[] = [];
    call.on('data', (answer: ReflectionResponse) => {
      answers.push(answer);
      if (answers.length === requests.length) call.end();
    });
    call.on('error', (err: ServiceError) => reject(err));
    call.on('end', () => resolve(answers));
    for (const request of requests) call.write(request);
  }).finally(() => client.close());
}

function descriptors(answer: ReflectionResponse): FileDescriptor[] {
  const files = answer.file_descriptor_response?.file_descriptor_proto;
  if (!files) throw new Error(`no file descriptors in ${JSON.stringify(answer)}`);
  return files.map((bytes) => FileDescriptorProto.decode(bytes) as FileDescriptor);
}

const BATON_SERVICES = Object.values(SERVICES).map((name) => `${PROTO_PACKAGE}.${name}`);

describe('gRPC server reflection', () => {
  let h: TestHarness;

  beforeAll(async () => {
    // Keys required, so that the test shows reflection asks for none (it tells only what the proto files tell).
    h = await TestHarness.start({ apps: ['frontend'], overrides: { auth: 'required' } });
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('list_services names every Baton service, without a key', async () => {
    const [answer] = await reflect(h.grpcAddress, [{ list_services: '' }]);
    const names = answer.list_services_response?.service.map((s) => s.name) ?? [];
    expect(names).toEqual(
      expect.arrayContaining([
        'baton.v1.WorkflowService',
        'baton.v1.WorkerService',
        'baton.v1.ScheduleService',
        'baton.v1.AdminService',
      ]),
    );
    expect(names).toEqual(expect.arrayContaining(BATON_SERVICES));
  });

  test('file_containing_symbol returns the descriptor that defines WorkflowService.Start', async () => {
    const [answer] = await reflect(h.grpcAddress, [{ file_containing_symbol: 'baton.v1.WorkflowService' }]);
    const files = descriptors(answer);
    const service = files.flatMap((f) => f.service).find((s) => s.name === 'WorkflowService');
    expect(service).toBeDefined();
    expect(service?.method.find((m) => m.name === 'Start')).toMatchObject({
      inputType: '.baton.v1.StartRequest',
      outputType: '.baton.v1.StartResponse',
    });
  });

  test('an unknown symbol is answered NOT_FOUND on the stream, which stays usable', async () => {
    const answers = await reflect(h.grpcAddress, [
      { file_containing_symbol: 'baton.v1.NoSuchService' },
      { list_services: '' },
    ]);
    expect(answers[0].error_response?.error_code).toBe(GrpcStatus.NOT_FOUND);
    expect(answers[1].list_services_response?.service.length).toBeGreaterThanOrEqual(BATON_SERVICES.length);
  });
});

describe('gRPC server reflection turned off (BATON_GRPC_REFLECTION=false)', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start({ apps: ['frontend'], overrides: { grpcReflection: false } });
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('the reflection service is not served', async () => {
    await expect(reflect(h.grpcAddress, [{ list_services: '' }])).rejects.toMatchObject({
      code: GrpcStatus.UNIMPLEMENTED,
    });
  });
});
