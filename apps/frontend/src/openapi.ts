import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

/** OpenAPI for the HTTP/JSON API, served at /docs (JSON at /docs-json). */
export function mountOpenApi(app: INestApplication): void {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Baton')
      .setDescription(
        'Durable workflows on PostgreSQL. Errors: {"error":{"code","message","field"}} with 400/404/409/413/501/503. ' +
          'Payloads: a JSON value under `input`/`output`, or base64 bytes under `inputBase64`/`outputBase64`.',
      )
      .setVersion('0.1.0')
      .build(),
  );
  SwaggerModule.setup('docs', app, document);
}
