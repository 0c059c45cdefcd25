import { Controller, Module } from '@nestjs/common';
import { EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { firstValueFrom } from 'rxjs';
import { InProcessBus, InProcessClient, InProcessServer, subjectMatches } from './in-process.transport';

describe('subjectMatches (NATS wildcard semantics)', () => {
  test.each([
    ['a.b', 'a.b', true],
    ['a.*', 'a.b', true],
    ['a.*', 'a.b.c', false],
    ['a.>', 'a.b.c', true],
    ['a.>', 'a', false],
    ['a.b', 'a.c', false],
    ['*.b', 'x.b', true],
  ])('%s matches %s: %s', (pattern, subject, expected) => {
    expect(subjectMatches(pattern, subject)).toBe(expected);
  });
});

const seen: unknown[] = [];

@Controller()
class EchoController {
  @MessagePattern('echo')
  echo(@Payload() data: { n: number }) {
    return { doubled: data.n * 2 };
  }

  @EventPattern<Record<string, { id: number }>>('events.>')
  onEvent(@Payload() data: { id: number }) {
    seen.push(data);
  }
}

@Module({ controllers: [EchoController] })
class EchoModule {}

describe('in-process transport', () => {
  test('requests reach the one handler and events reach every matching server, prefix applied', async () => {
    const bus = new InProcessBus();
    const apps = await Promise.all(
      [1, 2].map(async () => {
        const moduleRef = await Test.createTestingModule({ imports: [EchoModule] }).compile();
        const app = moduleRef.createNestMicroservice({ strategy: new InProcessServer(bus, 'pfx') });
        await app.listen();
        return app;
      }),
    );
    const client = new InProcessClient(bus, 'pfx');
    await expect(firstValueFrom(client.send('echo', { n: 21 }))).resolves.toEqual({ doubled: 42 });
    await firstValueFrom(client.emit('events.created', { id: 7 }), { defaultValue: undefined });
    // Broadcast: both servers saw the event; a client on another prefix reaches nobody.
    expect(seen).toEqual([{ id: 7 }, { id: 7 }]);
    await expect(firstValueFrom(new InProcessClient(bus, 'other').send('echo', { n: 1 }))).rejects.toBeDefined();
    await Promise.all(apps.map((app) => app.close()));
  });
});
