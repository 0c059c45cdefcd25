import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { OpenAPIObject } from '@nestjs/swagger';
import { HTTP_OPERATIONS, openApiParts } from './http-api';

/** The OpenAPI document of the HTTP/JSON API. */
export function openApiDocument(app: INestApplication): OpenAPIObject {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Baton')
      .setDescription(
        'Durable workflows on PostgreSQL. Every error is `{"error":{"code","message","field"}}`: the field at fault ' +
          'and the limit it broke, the same over gRPC. ' +
          'Every route takes an API key: `Authorization: Bearer <key>` (see docs/security.md). ' +
          'Payloads: a JSON value under `input`/`output`, or base64 bytes under `inputBase64`/`outputBase64`.',
      )
      .setVersion('0.1.0')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An API key (baton_...)' })
      .addSecurityRequirements('bearer')
      .build(),
  );
  // Nest's scan finds the routes; each operation's own schemas (http-api/) say what they take and answer.
  const { paths, schemas } = openApiParts(HTTP_OPERATIONS);
  for (const [path, item] of Object.entries(paths)) document.paths[path] = { ...document.paths[path], ...item };
  document.components = { ...document.components, schemas: { ...document.components?.schemas, ...schemas } };
  return document;
}

/** OpenAPI for the HTTP/JSON API, served at /docs (JSON at /docs-json). */
export function mountOpenApi(app: INestApplication): void {
  SwaggerModule.setup('docs', app, openApiDocument(app), {
    swaggerOptions: { persistAuthorization: true },
  });
}
