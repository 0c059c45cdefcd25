import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

/** OpenAPI for the HTTP/JSON API, served at /docs (JSON at /docs-json). */
export function mountOpenApi(app: INestApplication): void {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Baton')
      .setDescription(
        'Durable workflows on PostgreSQL. Errors: {"error":{"code","message","field"}} with 400/401/403/404/409/413/429/501/503. ' +
          'Every route but the probes takes an API key: `Authorization: Bearer <key>` (see docs/security.md). ' +
          'Payloads: a JSON value under `input`/`output`, or base64 bytes under `inputBase64`/`outputBase64`.',
      )
      .setVersion('0.1.0')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An API key (baton_...)' })
      .addSecurityRequirements('bearer')
      .build(),
  );
  SwaggerModule.setup('docs', app, document);
}
