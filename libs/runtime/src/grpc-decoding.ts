import { isUtf8 } from 'node:buffer';
import { Injectable } from '@nestjs/common';
import type { CallHandler, ExecutionContext, NestInterceptor } from '@nestjs/common';
import { BatonError, FREE_TEXT_MESSAGES, memberField } from '@baton/contracts';
import type { Observable } from 'rxjs';

/*
 * gRPC requests are checked as bytes before protobuf decodes them. grpc-js
 * answers a deserializer that throws with INTERNAL and no detail, and the
 * protobuf decoder silently turns invalid UTF-8 into U+FFFD (a lone surrogate
 * sent by a JavaScript client arrives as three of them, so two distinct ids
 * can collide). So each method's deserializer is wrapped: malformed bytes, a
 * field of the wrong wire type or a string that is not UTF-8 become an
 * INVALID_ARGUMENT naming the field, handed to the controller as a marker
 * that `GrpcDecodeErrorInterceptor` turns into the error, through the one
 * exception filter, so it carries the same metadata as every other refusal.
 */

const DECODE_ERROR = Symbol('baton.grpcDecodeError');

/** Nested messages deeper than this are refused (Baton's messages nest at most three levels). */
const MAX_MESSAGE_DEPTH = 32;

/** proto-loader's view of a message (google.protobuf.DescriptorProto as a plain object). */
export interface FieldDescriptor {
  name: string;
  number: number;
  label: string;
  type: string;
  typeName: string;
}
export interface MessageDescriptor {
  name: string;
  field: FieldDescriptor[];
  nestedType: MessageDescriptor[];
  options?: { mapEntry?: boolean } | null;
}
interface MethodDefinition {
  requestDeserialize: (bytes: Buffer) => unknown;
  requestType?: { type?: MessageDescriptor };
}

/** How one declared field is checked, worked out once per message type. */
interface FieldPlan {
  field: FieldDescriptor;
  /** The wire type a singular value of this field has (2 for strings, bytes and messages). */
  wireType: number;
  /** A packed run of numbers is allowed (a repeated scalar number field). */
  packable: boolean;
  /** Repeated, not a map: its values are named `field[i]`. */
  indexed: boolean;
  /** For a message field: its type, resolved once (null: not known to this registry, not checked). */
  sub: { type: MessageDescriptor; fullName: string } | null;
}

interface Schema {
  fullName: string;
  byNumber: Map<number, FieldPlan>;
  mapEntry: boolean;
  freeText: boolean;
}

const VARINT_TYPES = new Set([
  'TYPE_INT32',
  'TYPE_INT64',
  'TYPE_UINT32',
  'TYPE_UINT64',
  'TYPE_SINT32',
  'TYPE_SINT64',
  'TYPE_BOOL',
  'TYPE_ENUM',
]);
const FIXED64_TYPES = new Set(['TYPE_DOUBLE', 'TYPE_FIXED64', 'TYPE_SFIXED64']);
const FIXED32_TYPES = new Set(['TYPE_FLOAT', 'TYPE_FIXED32', 'TYPE_SFIXED32']);

function wireTypeOf(type: string): number {
  if (VARINT_TYPES.has(type)) return 0;
  if (FIXED64_TYPES.has(type)) return 1;
  if (FIXED32_TYPES.has(type)) return 5;
  return 2;
}

class Malformed extends Error {}

/** Resolves message names the way protobuf scopes them: nested types first, then outwards. */
class Registry {
  private readonly schemas = new Map<MessageDescriptor, Schema>();
  private readonly byName = new Map<string, MessageDescriptor>();

  add(fullName: string, type: MessageDescriptor): void {
    if (this.byName.has(fullName)) return;
    this.byName.set(fullName, type);
    for (const nested of type.nestedType ?? []) this.add(`${fullName}.${nested.name}`, nested);
  }

  schema(type: MessageDescriptor, fullName: string): Schema {
    let schema = this.schemas.get(type);
    if (!schema) {
      schema = {
        fullName,
        byNumber: new Map(type.field.map((f) => [f.number, this.plan(fullName, f)])),
        mapEntry: !!type.options?.mapEntry,
        freeText: FREE_TEXT_MESSAGES.includes(fullName),
      };
      this.schemas.set(type, schema);
    }
    return schema;
  }

  private plan(scope: string, field: FieldDescriptor): FieldPlan {
    const repeated = field.label === 'LABEL_REPEATED';
    const sub = field.type === 'TYPE_MESSAGE' ? this.resolve(scope, field.typeName) : null;
    const wireType = wireTypeOf(field.type);
    return {
      field,
      wireType,
      packable: repeated && wireType !== 2,
      indexed: repeated && !sub?.type.options?.mapEntry,
      sub,
    };
  }

  resolve(scope: string, typeName: string): { type: MessageDescriptor; fullName: string } | null {
    if (typeName.startsWith('.')) {
      const type = this.byName.get(typeName.slice(1));
      return type ? { type, fullName: typeName.slice(1) } : null;
    }
    for (let s = scope; ; s = s.slice(0, Math.max(0, s.lastIndexOf('.')))) {
      const fullName = s ? `${s}.${typeName}` : typeName;
      const type = this.byName.get(fullName);
      if (type) return { type, fullName };
      if (!s) return null;
    }
  }
}

class Reader {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    readonly end: number,
  ) {}

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** A varint as a number (exact below 2^53, enough for tags and lengths). */
  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Malformed('the message ends inside a number');
      const byte = this.buf[this.pos++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
    throw new Malformed('a number is longer than 10 bytes');
  }

  skip(bytes: number): void {
    if (this.end - this.pos < bytes) throw new Malformed('the message ends inside a field');
    this.pos += bytes;
  }
}

class FieldProblem extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

const topLevel = () => '';

function join(path: string, name: string): string {
  return path ? `${path}.${name}` : name;
}

/**
 * Walks one message's wire format. Known fields must have the wire type of
 * their declared type and strings must be UTF-8; unknown field numbers are
 * skipped (protobuf's compatibility rule) but must still be well formed.
 * Field names (`pathOf`: this message's) are built only for an error: this
 * runs on every request.
 */
function walk(registry: Registry, reader: Reader, schema: Schema, pathOf: () => string, depth: number): void {
  if (depth > MAX_MESSAGE_DEPTH) {
    const path = pathOf();
    throw new FieldProblem(path || 'body', `${path || 'the request'} nests too deeply`);
  }
  // How many values of each repeated field came before, for the `field[i]` of an error.
  let counts: Map<number, number> | null = null;
  let mapKey: string | null = null;
  while (!reader.done) {
    const key = reader.varint();
    const number = Math.floor(key / 8);
    const wireType = key % 8;
    if (number === 0) throw new Malformed('field number 0');
    const plan = schema.byNumber.get(number);
    let index = 0;
    if (plan?.indexed) {
      counts ??= new Map();
      index = counts.get(number) ?? 0;
      counts.set(number, index + 1);
    }
    const name = () => {
      const path = pathOf();
      if (!plan) return path || 'body';
      if (schema.mapEntry) return plan.field.number === 2 && mapKey !== null ? memberField(path, mapKey) : path;
      return plan.indexed ? `${join(path, plan.field.name)}[${index}]` : join(path, plan.field.name);
    };
    const wrongType = () => {
      const field = name();
      return new FieldProblem(
        field,
        `${field} has the wrong protobuf wire type for a ${plan!.field.type.slice(5).toLowerCase()}`,
      );
    };
    switch (wireType) {
      case 0:
      case 1:
      case 5:
        if (plan && plan.wireType !== wireType) throw wrongType();
        if (wireType === 0) reader.varint();
        else reader.skip(wireType === 1 ? 8 : 4);
        break;
      case 2: {
        const length = reader.varint();
        const start = reader.pos;
        reader.skip(length);
        if (!plan) break;
        const type = plan.field.type;
        if (type === 'TYPE_STRING') {
          const text = reader.buf.subarray(start, start + length);
          if (!schema.freeText && !isUtf8(text)) {
            const field = name();
            throw new FieldProblem(field, `${field} must be well-formed UTF-8 text (a lone surrogate or a stray byte)`);
          }
          if (schema.mapEntry && plan.field.number === 1) mapKey = text.toString('utf8');
        } else if (type === 'TYPE_MESSAGE') {
          const sub = plan.sub;
          if (!sub) break;
          const content = new Reader(reader.buf, start, start + length);
          try {
            walk(registry, content, registry.schema(sub.type, sub.fullName), name, depth + 1);
          } catch (err) {
            // Broken bytes inside a sub-message: name the field that holds them.
            if (err instanceof Malformed) {
              const field = name();
              throw new FieldProblem(field, `${field} is not a valid ${sub.type.name} message: ${err.message}`);
            }
            throw err;
          }
        } else if (type !== 'TYPE_BYTES') {
          // A packed repeated number: a run of values of the field's own encoding.
          if (!plan.packable) throw wrongType();
          const content = new Reader(reader.buf, start, start + length);
          while (!content.done) {
            if (plan.wireType === 0) content.varint();
            else content.skip(plan.wireType === 1 ? 8 : 4);
          }
        }
        break;
      }
      default:
        // 3 and 4 are proto2 groups, which proto3 never writes; 6 and 7 do not exist.
        throw new Malformed(`wire type ${wireType} (field ${number}) is not used by this protocol`);
    }
  }
}

/** Checks the bytes, then decodes; any problem is returned as a marker instead of thrown. */
function guarded(registry: Registry, method: MethodDefinition, type: MessageDescriptor, fullName: string) {
  const decode = method.requestDeserialize;
  return (bytes: Buffer): unknown => {
    try {
      walk(registry, new Reader(bytes, 0, bytes.length), registry.schema(type, fullName), topLevel, 0);
      return decode(bytes);
    } catch (err) {
      const error =
        err instanceof FieldProblem
          ? BatonError.invalid(err.field, err.message)
          : BatonError.invalid(
              'body',
              `the request is not a valid ${fullName} message${err instanceof Malformed ? `: ${err.message}` : ''}`,
            );
      return { [DECODE_ERROR]: error };
    }
  };
}

/**
 * Wraps every method's request deserializer in a proto-loader package
 * definition (pass as the gRPC server's `onLoadPackageDefinition`).
 */
export function guardRequestDecoding(packageDefinition: Record<string, unknown>): void {
  const registry = new Registry();
  for (const [name, value] of Object.entries(packageDefinition)) {
    const type = (value as { type?: MessageDescriptor }).type;
    if (type && Array.isArray(type.field)) registry.add(name, type);
  }
  for (const [serviceName, value] of Object.entries(packageDefinition)) {
    if ((value as { type?: unknown }).type) continue;
    for (const method of Object.values(value as Record<string, MethodDefinition>)) {
      if (typeof method?.requestDeserialize !== 'function' || !method.requestType?.type) continue;
      const type = method.requestType.type;
      const pkg = serviceName.slice(0, serviceName.lastIndexOf('.'));
      const fullName = pkg ? `${pkg}.${type.name}` : type.name;
      registry.add(fullName, type);
      method.requestDeserialize = guarded(registry, method, type, fullName);
    }
  }
}

/** Turns the decoder's marker into the INVALID_ARGUMENT it stands for, before any handler runs. */
@Injectable()
export class GrpcDecodeErrorInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() === 'rpc') {
      const data = context.switchToRpc().getData() as Record<symbol, unknown> | null | undefined;
      const error = data?.[DECODE_ERROR];
      if (error instanceof BatonError) throw error;
    }
    return next.handle();
  }
}
