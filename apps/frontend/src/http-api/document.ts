import { STATUS_CODES } from 'node:http';
import { z } from 'zod';
import { COMPONENTS } from './components';
import type { HttpOperation } from './operation';

/*
 * The OpenAPI paths and components of the operations, generated from their
 * zod schemas (zod's own JSON Schema output, OpenAPI 3.0 dialect): the
 * components once under components.schemas, everything else inline with
 * $refs to them.
 */

type JsonSchema = Record<string, unknown> & { properties?: Record<string, JsonSchema>; required?: string[] };

const REF = '#/components/schemas/';
const PARTS = ['params', 'query', 'body', 'response'] as const;

export interface OpenApiParts {
  paths: Record<string, Record<string, unknown>>;
  schemas: Record<string, JsonSchema>;
}

/** `$id` is JSON Schema's, not OpenAPI 3.0's: zod writes it on every registered schema. */
function withoutId(schema: JsonSchema): JsonSchema {
  const { $id: _id, ...rest } = schema;
  return rest;
}

function parameters(schema: JsonSchema | undefined, where: 'path' | 'query') {
  return Object.entries(schema?.properties ?? {}).map(([name, property]) => {
    const { description, example, ...rest } = property;
    return {
      name,
      in: where,
      required: where === 'path' || (schema?.required ?? []).includes(name),
      ...(description === undefined ? {} : { description }),
      ...(example === undefined ? {} : { example }),
      schema: rest,
    };
  });
}

const errorResponse = (status: number) => ({
  description: STATUS_CODES[status] ?? String(status),
  content: { 'application/json': { schema: { $ref: `${REF}Error` } } },
});

/** Paths and components.schemas for `operations`. */
export function openApiParts(operations: readonly HttpOperation[]): OpenApiParts {
  // One id per schema object: an operation whose answer is a component refers to it, and
  // operations sharing a schema (the path parameters of a run, say) share its output.
  const ids = new Map<z.ZodType, string>();
  for (const [id, schema] of Object.entries(COMPONENTS)) ids.set(schema, id);
  for (const op of operations) {
    for (const part of PARTS) {
      const schema = op[part];
      if (schema && !ids.has(schema)) ids.set(schema, `${op.id}:${part}`);
    }
  }
  const registry = z.registry<{ id: string }>();
  for (const [schema, id] of ids) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    target: 'openapi-3.0',
    uri: (id) => `${REF}${id}`,
    // Request schemas are read as what a caller may send, responses as what the server sends: the same here.
    io: 'input',
  }) as { schemas: Record<string, JsonSchema> };
  const generated = (op: HttpOperation, part: (typeof PARTS)[number]): JsonSchema | undefined => {
    const schema = op[part];
    if (!schema) return undefined;
    const id = ids.get(schema)!;
    return id in COMPONENTS ? { $ref: `${REF}${id}` } : withoutId(schemas[id]!);
  };

  const paths: OpenApiParts['paths'] = {};
  for (const op of operations) {
    const body = generated(op, 'body');
    const response = generated(op, 'response');
    const responses: Record<string, unknown> = {
      [op.status]: {
        description: op.responseDescription,
        ...(response ? { content: { [op.responseType ?? 'application/json']: { schema: response } } } : {}),
      },
    };
    for (const status of op.errors) responses[status] = errorResponse(status);
    paths[op.path] ??= {};
    paths[op.path]![op.method] = {
      operationId: op.id,
      tags: [op.tag],
      summary: op.summary,
      ...(op.description ? { description: op.description } : {}),
      ...(op.public ? { security: [] } : {}),
      parameters: [...parameters(generated(op, 'params'), 'path'), ...parameters(generated(op, 'query'), 'query')],
      ...(body && Object.keys(body.properties ?? {}).length
        ? {
            requestBody: {
              required: (body.required ?? []).length > 0,
              content: { 'application/json': { schema: body, ...(op.example ? { example: op.example } : {}) } },
            },
          }
        : {}),
      responses,
    };
  }
  const components = Object.fromEntries(Object.keys(COMPONENTS).map((id) => [id, withoutId(schemas[id]!)]));
  return { paths, schemas: components };
}
